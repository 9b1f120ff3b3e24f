"""bootstrap.report.run: phases timed into the report, object records, and the one scrubber shared from construction."""

from __future__ import annotations

import io
import json

import pytest

from bootstrap.model import ObjectRef
from bootstrap.report.console import HumanProgress, make_console
from bootstrap.report.progress import QuietProgress
from bootstrap.report.model import ObjectRecord, RunReport, Scrubber, to_dict
from bootstrap.report.run import Run

SECRET = "s3cr3t-value-42"


class Ticks:
    def __init__(self, *values: float):
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


def test_learned_secrets_are_scrubbed_in_progress_and_report_built_before_decryption():
    shared = Scrubber()
    out = io.StringIO()
    report = RunReport("restore", scrubber=shared)
    run = Run(report, HumanProgress(make_console(out, environ={}), scrubber=shared, clock=lambda: 0.0))
    run.progress.note(f"before {SECRET}")  # not known yet: nothing to hide
    run.learn_secrets([SECRET])
    run.progress.note(f"after {SECRET}")
    report.objects.append(ObjectRecord("p", "Secret", "ns", "s", "failed", "", 0, f"bad {SECRET}"))
    assert out.getvalue().splitlines() == [f"    0.0s before {SECRET}", "    0.0s after <redacted>"]
    assert SECRET not in json.dumps(to_dict(report))


def test_separate_scrubbers_both_learn():
    errors = io.StringIO()
    report = RunReport("restore")
    run = Run(report, QuietProgress(errors=errors))
    run.learn_secrets([SECRET])
    run.progress.warning(f"warning: {SECRET}")
    assert SECRET not in errors.getvalue()
    assert report.scrubber(SECRET) == "<redacted>"


def test_a_phase_is_timed_by_the_injected_clock_and_marked_failed_on_error():
    report = RunReport("restore")
    run = Run(report, QuietProgress(errors=io.StringIO()), clock=Ticks(0.0, 10.0, 12.5))
    with pytest.raises(RuntimeError), run.phase("apps: apply"):
        raise RuntimeError("boom")
    assert [(p.name, p.result, p.seconds) for p in report.phases] == [("apps: apply", "failed", 2.5)]


def test_status_updates_the_applied_record_with_time_since_the_phase_began():
    report = RunReport("restore")
    run = Run(report, QuietProgress(errors=io.StringIO()), clock=Ticks(0.0, 100.0, 103.0, 104.0))

    class Health:
        class status:  # noqa: N801
            value = "Current"
        message = "ready"

    with run.phase("apps: verify"):
        run.status("apps: verify", ObjectRef("apps/v1", "Deployment", "shop", "api"), Health)
    assert [(o.kind, o.status, o.seconds) for o in report.objects] == [("Deployment", "Current", 3.0)]
