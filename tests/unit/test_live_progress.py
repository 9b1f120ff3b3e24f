"""Progress an operator can trust: on a terminal a live line per wave (applied of total, what is waited on and
for how long); per-object lines in logs (no terminal) and with -v. Fake terminals, fake clocks."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone

import pytest
import typer
from rich.console import Console

from bootstrap.cli import app as cli
from bootstrap import kube
from bootstrap.report.console import HumanProgress
from bootstrap.model import Manifest, ObjectRef
from bootstrap.report.model import ObjectRecord, PhaseRecord, Scrubber
from bootstrap.stages.apply import wait_gates

SECRET = "s3cr3t-in-a-status-message"
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def terminal(width: int = 200) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=width, highlight=False, soft_wrap=True,
                   _environ={"TERM": "xterm-256color"}), out


def shown(out: io.StringIO) -> str:
    """Everything written, escape sequences removed (live redraws included)."""
    return ANSI.sub("", out.getvalue())


def applied(name: str, action: str = "created", message: str = "") -> ObjectRecord:
    return ObjectRecord("apps: apply", "ConfigMap", "shop", name, action, message=message)


def status(name: str, state: str, message: str) -> ObjectRecord:
    return ObjectRecord("apps: verify", "Deployment", "shop", name, "verified", state, message=message)


def finished(name: str) -> PhaseRecord:
    return PhaseRecord(name, T0, T0, 1.0, "succeeded")


def test_a_wave_on_a_terminal_is_one_live_line_counting_applied_of_total():
    con, out = terminal()
    clock = FakeClock()
    progress = HumanProgress(con, clock=clock, auto_refresh=False)
    assert progress.live
    progress.phase_started("apps: apply")
    progress.wave_started("apps: apply", 1, "config", 6)
    for name in ("a", "b"):
        clock.now += 0.4
        progress.object_applied(applied(name))
    assert "[apps: apply] wave 1 (config): 2 of 6 applied, 0.8s" in shown(out)
    assert "created     ConfigMap/shop/a" not in shown(out)  # no line per object

    progress.waiting("2 CRD(s) to be Established (widgets.acme.io, gadgets.acme.io)")
    clock.now += 4.2
    progress.waiting("2 CRD(s) to be Established (widgets.acme.io, gadgets.acme.io)")  # redrawn: the timer moved
    assert "2 of 6 applied, 5.0s; waiting 4.2s for 2 CRD(s) to be Established (widgets.acme.io, gadgets.acme.io)" \
        in shown(out)
    progress.waiting(None)
    for name, action in (("c", "created"), ("d", "unchanged"), ("e", "configured"), ("f", "created")):
        progress.object_applied(applied(name, action))
    progress.phase_finished(finished("apps: apply"))
    text = shown(out)
    # the line the wave leaves behind, then the phase's own
    assert "[apps: apply] wave 1 (config): 6 of 6 applied (4 created, 1 configured, 1 unchanged) in 5.0s\n" in text
    assert text.rstrip().endswith("<== phase apps: apply succeeded in 1.0s")
    assert "ConfigMap/shop/" not in text


def test_a_failed_object_is_still_a_line_of_its_own_on_a_terminal():
    con, out = terminal()
    progress = HumanProgress(con, clock=FakeClock(), auto_refresh=False)
    progress.wave_started("apps: apply", 2, "workloads", 3)
    progress.object_applied(applied("ok"))
    progress.object_applied(applied("bad", "failed", "the API refused it"))
    text = shown(out)
    assert "[apps: apply] failed      ConfigMap/shop/bad  the API refused it\n" in text
    assert "2 of 3 applied, 1 failed" in text


def test_a_verify_phase_counts_ready_and_names_what_it_waits_on_and_for_how_long():
    con, out = terminal()
    clock = FakeClock()
    progress = HumanProgress(con, clock=clock, scrubber=Scrubber([SECRET]), auto_refresh=False)
    progress.phase_started("apps: verify")
    progress.object_status(status("web", "InProgress", f"0 of 2 new replicas updated ({SECRET})"))
    progress.object_status(status("db", "InProgress", "0 of 1 ready"))
    clock.now += 12.5
    progress.object_status(status("db", "Current", "rolled out"))
    text = shown(out)
    assert ("[apps: verify] 1 of 2 ready, 12.5s; waiting on Deployment/shop/web (InProgress: 0 of 2 new replicas "
            "updated (<redacted>))") in text
    assert SECRET not in text  # the live line is scrubbed like every other line
    progress.object_status(status("web", "Current", "rolled out"))
    progress.phase_finished(finished("apps: verify"))
    assert "[apps: verify] 2 of 2 ready in 12.5s\n" in shown(out)


def test_a_warning_steps_the_live_line_aside_and_goes_to_stderr():
    con, out = terminal()
    errors = io.StringIO()
    progress = HumanProgress(con, errors=errors, clock=FakeClock(), auto_refresh=False)
    progress.wave_started("apps: apply", 1, "config", 2)
    progress.object_applied(applied("a"))
    progress.warning("careful")
    progress.object_applied(applied("b"))
    assert errors.getvalue() == "warning: careful\n"
    assert "careful" not in out.getvalue() and "2 of 2 applied" in shown(out)


def test_on_a_shared_terminal_a_warning_gets_a_line_of_its_own():
    con, out = terminal()
    progress = HumanProgress(con, errors=out, clock=FakeClock(), auto_refresh=False)  # stderr: the same screen
    progress.wave_started("apps: apply", 1, "config", 2)
    progress.object_applied(applied("a"))
    progress.warning("careful")
    assert shown(out).endswith("warning: careful\n    0.0s [apps: apply] wave 1 (config): 1 of 2 applied, 0.0s")
    progress.object_applied(applied("b"))
    [line] = [part for part in re.split(r"[\r\n]", shown(out)) if "careful" in part]
    assert line == "warning: careful"  # the live line was erased first, and comes back after it
    assert shown(out).rstrip().endswith("2 of 2 applied, 0.0s")


def test_without_a_terminal_every_object_is_a_line():
    out = io.StringIO()
    con = Console(file=out, force_terminal=False, width=200, highlight=False, soft_wrap=True)
    clock = FakeClock()
    progress = HumanProgress(con, clock=clock)
    assert not progress.live
    progress.wave_started("apps: apply", 1, "config", 2)
    progress.object_applied(applied("a"))
    progress.waiting("1 CRD(s) to be Established (widgets.acme.io)")  # a log says what happened, not what waits
    progress.object_applied(applied("b", "unchanged"))
    assert out.getvalue().splitlines() == [
        "    0.0s wave 1 (config): 2 object(s)",
        "    0.0s [apps: apply] created     ConfigMap/shop/a",
        "    0.0s [apps: apply] unchanged   ConfigMap/shop/b",
    ]


def test_verbose_keeps_a_line_per_object_on_a_terminal():
    con, out = terminal()
    progress = HumanProgress(con, clock=FakeClock(), verbose=True, auto_refresh=False)
    assert not progress.live
    progress.wave_started("apps: apply", 1, "config", 2)
    progress.object_applied(applied("a"))
    text = shown(out)
    assert "[apps: apply] created     ConfigMap/shop/a\n" in text and "of 2 applied" not in text


def test_a_dumb_terminal_gets_plain_lines():
    out = io.StringIO()
    con = Console(file=out, force_terminal=True, _environ={"TERM": "dumb"})
    assert not HumanProgress(con, clock=FakeClock()).live


@pytest.mark.parametrize("command", ["restore", "plan", "verify", "drill"])
def test_verbose_is_a_flag_of_every_command_with_live_progress(command):
    cmd = typer.main.get_command(cli.app).commands[command]
    args = [] if command == "verify" else ["repo"]
    for flag in ("-v", "--verbose"):
        with cmd.make_context(command, [*args, flag]) as ctx:
            assert ctx.params["verbose"] is True
    with cmd.make_context(command, args) as ctx:
        assert ctx.params["verbose"] is False


def manifest(kind: str, name: str) -> Manifest:
    api = "apiextensions.k8s.io/v1" if kind == "CustomResourceDefinition" else "v1"
    body = {"apiVersion": api, "kind": kind, "metadata": {"name": name}}
    return Manifest(ref=ObjectRef(api, kind, None, name), body=body, source="f.yaml")


def test_the_gates_say_what_the_run_waits_for_and_when_it_is_done(monkeypatch):
    told: list[str | None] = []
    monkeypatch.setattr(kube, "wait_established", lambda resources, names, timeout: told.append("gate: crds"))
    monkeypatch.setattr(kube, "wait_namespaces_active", lambda *a, **kw: told.append("gate: namespaces"))
    cluster = type("FakeCluster", (), {"resources": None})()
    wave = [manifest("CustomResourceDefinition", "widgets.acme.io"), manifest("Namespace", "shop")]
    wait_gates(cluster, wave, timeout=60, on_wait=told.append, waiting=told.append)
    assert told == ["1 CRD(s) to be Established (widgets.acme.io)", "gate: crds",
                    "1 Namespace(s) to be Active (shop)", "gate: namespaces", None]

    def stuck(*a, **kw):
        raise TimeoutError

    told.clear()
    monkeypatch.setattr(kube, "wait_established", stuck)
    with pytest.raises(TimeoutError):
        wait_gates(cluster, wave, timeout=60, on_wait=told.append, waiting=told.append)
    assert told[-1] is None  # the live line stops saying it waits, also when the wait fails
