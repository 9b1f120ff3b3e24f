"""Live output and the closing summary, rendered to in-memory consoles."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from bootstrap.errors import RolloutError
from bootstrap.report.console import HumanProgress, make_console, render_summary
from bootstrap.report.progress import Progress, QuietProgress
from bootstrap.report.model import ObjectRecord, PhaseRecord, RunReport, Scrubber
from tests.support.fakes import RunTime

SECRET = "s3cr3t-db-password"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def console(*, tty: bool = False, **kw) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=tty, width=100, highlight=False, soft_wrap=True, **kw), out


def drive(progress: Progress, clock: FakeClock) -> None:
    progress.phase_started("apps")
    clock.now += 0.5
    progress.object_applied(ObjectRecord("apps", "Deployment", "shop", "api", "created", "", 0.2, ""))
    clock.now += 2.0
    progress.object_status(ObjectRecord("apps", "Deployment", "shop", "api", "created", "Failed", 2.5,
                                        f"CrashLoopBackOff: bad password {SECRET}\nsecond line"))
    progress.note(f"restarted 1 consumer (token {SECRET})")
    progress.phase_finished(PhaseRecord("apps", T0, T0 + timedelta(seconds=3), 3.04, "failed", cluster_wait_seconds=2.75))


def test_human_progress_prints_one_plain_line_per_event():
    con, out = console()
    clock = FakeClock()
    drive(HumanProgress(con, scrubber=Scrubber([SECRET]), clock=clock), clock)
    lines = out.getvalue().splitlines()
    assert lines == [
        "    0.0s ==> phase apps",
        "    0.5s [apps] created     Deployment/shop/api (0.2s)",
        "    2.5s [apps] Failed      Deployment/shop/api (2.5s)  CrashLoopBackOff: bad password <redacted> second line",
        "    2.5s restarted 1 consumer (token <redacted>)",
        "    2.5s <== phase apps failed in 3.0s",
    ]
    assert "\x1b[" not in out.getvalue()  # not a terminal: no colour codes


def test_human_progress_colours_only_on_a_terminal_and_respects_no_color():
    con, out = console(tty=True)
    clock = FakeClock()
    drive(HumanProgress(con, clock=clock), clock)
    assert "\x1b[" in out.getvalue()

    out = io.StringIO()
    plain = make_console(out, environ={"NO_COLOR": "1"})
    plain.force_terminal = True  # even on a terminal
    drive(HumanProgress(plain, clock=clock), clock)
    text = out.getvalue()
    assert "phase apps" in text
    assert "\x1b[3" not in text and "\x1b[9" not in text  # no foreground colours


def test_make_console_keeps_long_lines_whole_for_ci_logs():
    out = io.StringIO()
    con = make_console(out, environ={})
    HumanProgress(con, clock=FakeClock()).note("x" * 300)
    assert len(out.getvalue().splitlines()) == 1


def test_markup_in_names_is_printed_literally():
    con, out = console()
    HumanProgress(con, clock=FakeClock()).object_applied(ObjectRecord("[bold]p", "Kind", "ns", "[red]name[/red]", "created"))
    assert "[bold]p" in out.getvalue() and "[red]name[/red]" in out.getvalue()


def test_quiet_progress_prints_nothing(capsys):
    drive(QuietProgress(), FakeClock())
    assert capsys.readouterr() == ("", "")


# ------------------------------------------------------------------------------------ summary


def failed_report() -> RunReport:
    report = RunReport("restore", started=T0, scrubber=Scrubber([SECRET]))
    time = RunTime(T0)
    run = time.run(report)
    with run.phase("crds"):
        run.record(ObjectRecord("crds", "CustomResourceDefinition", None, "widgets.acme.io", "created", "Current", 0.3))
        time.advance(1.2)
    error = RolloutError("rollout failed: Deployment/shop/api", hint=f"value {SECRET}")
    try:
        with run.phase("apps"):
            run.record(ObjectRecord("apps", "Deployment", "shop", "api", "created", "Failed", 9.0, f"CrashLoopBackOff {SECRET}"))
            run.record(ObjectRecord("apps", "Secret", "shop", "db", "created", "Current", 0.1))
            time.advance(41.05)
            raise error
    except RolloutError:
        pass
    report.finish(error=error, now=T0 + timedelta(seconds=42.25))
    return report


def test_summary_shows_phases_failed_objects_and_the_total():
    con, out = console()
    render_summary(failed_report(), con)
    text = out.getvalue()
    assert SECRET not in text
    phase_rows = [line.split() for line in text.splitlines() if line.strip().startswith(("crds", "apps"))]
    assert ["crds", "1.2", "1", "succeeded"] in phase_rows
    assert ["apps", "41.0", "2", "failed"] in phase_rows
    failed_rows = [line for line in text.splitlines() if line.strip().startswith("Deployment/shop/api")]
    assert len(failed_rows) == 1 and "Failed" in failed_rows[0] and "CrashLoopBackOff <redacted>" in failed_rows[0]
    assert "Secret/shop/db" not in text  # only failed objects are listed
    assert "total 42.2s (RTO)  result: failed" in text or "total 42.3s (RTO)  result: failed" in text
    assert "error (exit 6): rollout failed: Deployment/shop/api (hint: value <redacted>)" in text


def test_summary_of_a_clean_run_lists_no_failures():
    report = RunReport("restore", started=T0)
    time = RunTime(T0)
    run = time.run(report)
    with run.phase("apps"):
        run.record(ObjectRecord("apps", "Deployment", "shop", "api", "created", "Current", 3.0, "rolled out"))
        time.advance(3)
    report.finish(now=T0 + timedelta(seconds=3))
    con, out = console()
    render_summary(report, con)
    text = out.getvalue()
    assert "failed objects" not in text and "error" not in text
    assert "total 3.0s (RTO)  result: succeeded" in text


# ------------------------------------------------------------------------------------ warnings


def test_human_warnings_go_to_stderr_plain_and_said_once():
    con, out = console(tty=True)
    errors = io.StringIO()
    progress = HumanProgress(con, errors=errors, scrubber=Scrubber([SECRET]), clock=FakeClock())
    progress.note("warning: WARNING: UNPROTECTED KEY FILE: k is accessible by group/others")
    progress.warning(f"token {SECRET}\nin the log")
    assert out.getvalue() == ""  # nothing on the progress stream
    assert errors.getvalue() == ("warning: UNPROTECTED KEY FILE: k is accessible by group/others\n"
                                 "warning: token <redacted> in the log\n")


def test_quiet_progress_keeps_warnings_on_stderr():
    errors = io.StringIO()
    progress = QuietProgress(errors=errors)
    progress.note("loaded 3 objects")
    progress.note("warning: --ignore-mac: SOPS MACs are NOT verified")
    progress.scrubber.learn([SECRET])
    progress.warning(f"value {SECRET}")
    assert errors.getvalue() == "warning: --ignore-mac: SOPS MACs are NOT verified\nwarning: value <redacted>\n"


def test_plan_json_keeps_the_key_warning_on_stderr(tmp_path):
    import os
    import subprocess
    import sys

    from tests.support.sops import new_age_key, write_key_file

    key_file = write_key_file(tmp_path / "open.agekey", new_age_key(), mode=0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    r = subprocess.run([sys.executable, "-m", "bootstrap", "plan", str(tmp_path / "no-repo"), "--age-key-file",
                        str(key_file), "-o", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3
    assert json.loads(r.stdout)["error"]["exitCode"] == 3  # stdout: the report, nothing else
    warning, error = r.stderr.splitlines()
    assert warning.startswith(f"warning: UNPROTECTED KEY FILE: {key_file} is accessible") and "(mode 0644)" in warning
    assert error.startswith("error: cannot clone ")


def test_summary_lines_stay_whole_in_a_narrow_non_terminal():
    name = "x" * 150
    report = RunReport("restore", started=T0)
    time = RunTime(T0)
    run = time.run(report)
    cause = "CrashLoopBackOff: " + "back-off restarting failed container app in pod " + "p" * 100
    with pytest.raises(RuntimeError), run.phase("apps"):
        run.record(ObjectRecord("apps", "Deployment", "shop", name, "created", "Failed", 9.0, cause))
        time.advance(9)
        raise RuntimeError("rollout failed")
    report.finish(now=T0 + timedelta(seconds=9))
    out = io.StringIO()
    con = Console(file=out, force_terminal=False, width=80, highlight=False, soft_wrap=True)
    render_summary(report, con)
    [row] = [line for line in out.getvalue().splitlines() if name in line]
    assert f"Deployment/shop/{name}" in row and row.endswith(cause) and "Failed" in row
