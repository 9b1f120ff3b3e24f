"""The operator's answer at `Continue? [y/N]` is timed apart: not in the RTO, nor in dr-bootstrap's own work."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from rich.console import Console

from bootstrap.clock import WaitClock
from bootstrap.report.console import render_summary
from bootstrap.errors import UsageError
from bootstrap.model import ObjectRef
from bootstrap.report.progress import QuietProgress
from bootstrap.report.model import RunReport, to_dict, to_junit
from bootstrap.report.run import Run
from bootstrap.stages.target import confirm_target
from tests.support.fakes import RunTime

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
NS = ObjectRef("v1", "Namespace", None, "flux-system")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def not_fresh_cluster():
    """What confirm_target reads of a cluster: the objects that exist (all of them), context and host."""
    return SimpleNamespace(resources=SimpleNamespace(read_versions=lambda refs: {ref: "1" for ref in refs}),
                           client=SimpleNamespace(context="prod"), host="https://api.prod:6443")




def restore_that_asks(answer: bool, seconds_to_answer: float) -> tuple[RunReport, FakeClock]:
    """0.5 s on the cluster, 0.3 s of own work, the question, then 0.2 s more of own work."""
    clock = FakeClock()
    report = RunReport("restore", started=T0, clock=WaitClock(now=clock), operator_clock=WaitClock(now=clock))
    run = Run(report, QuietProgress(errors=io.StringIO()), clock=clock)
    with report.clock:
        clock.t += 0.5
    clock.t += 0.3
    asked = []

    def ask(question: str) -> bool:
        asked.append(question)
        clock.t += seconds_to_answer  # the operator reads the target line and thinks
        return answer

    try:
        confirm_target(not_fresh_cluster(), [NS], run, yes=False, ask=ask)
    except UsageError:
        pass
    clock.t += 0.2
    report.finish(now=T0 + timedelta(seconds=clock.t))
    assert asked == ["Continue?"]
    return report, clock


def test_the_answer_time_is_reported_apart_and_left_out_of_the_rto_and_own_work():
    report, clock = restore_that_asks(True, 7.0)
    assert clock.t == pytest.approx(8.0)  # the wall clock saw it all
    assert report.operator_wait_seconds == pytest.approx(7.0)
    assert report.seconds == pytest.approx(1.0)  # the RTO: 8.0 s less the 7.0 s answer
    assert report.cluster_wait_seconds == pytest.approx(0.5)
    assert report.own_seconds() == pytest.approx(0.5)  # 0.3 + 0.2: not 7.5

    doc = to_dict(report)
    assert (doc["seconds"], doc["operatorWaitSeconds"], doc["clusterWaitSeconds"]) == (1.0, 7.0, 0.5)
    assert to_junit(report).get("time") == "1.000"  # JUnit's time is the RTO too

    out = io.StringIO()
    render_summary(report, Console(file=out, force_terminal=False, width=200))
    text = out.getvalue()
    assert "total 1.0s (RTO)" in text
    assert "0.5s waiting on the cluster (API server, controllers), 0.5s dr-bootstrap's own work" in text
    assert "not in the RTO: 7.0s waiting for your answer (Continue? [y/N])" in text


def test_a_no_is_timed_apart_too():
    report, _ = restore_that_asks(False, 30.0)
    assert report.operator_wait_seconds == pytest.approx(30.0) and report.seconds == pytest.approx(1.0)


def test_without_a_question_nothing_is_operator_time():
    report = RunReport("restore", started=T0)
    report.finish(now=T0 + timedelta(seconds=3))
    assert report.operator_wait_seconds == 0.0 and report.seconds == 3.0
    out = io.StringIO()
    render_summary(report, Console(file=out, force_terminal=False, width=200))
    assert "your answer" not in out.getvalue()


def test_the_gitops_times_leave_the_answer_out():
    clock = FakeClock()
    report = RunReport("restore", started=T0, operator_clock=WaitClock(now=clock))
    with report.operator_clock:
        clock.t += 7.0
    time = RunTime(T0)
    run = time.run(report)
    time.advance(9)
    with run.phase("gitops"):
        time.advance(11)
    report.finish(now=time.now())
    assert (report.bootstrap_seconds(), report.converged_seconds(), report.seconds) == (2.0, 13.0, 13.0)
