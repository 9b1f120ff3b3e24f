"""Progress and summary for people: one plain line per event, then the closing table.

`HumanProgress` prints plain lines (no full-screen app), so its output reads the same in a terminal, a CI
log or a pipe; colours appear only on a terminal and never with NO_COLOR.  `render_summary` prints the
closing table: phases with their seconds, failed objects with their causes, and the total, which is the
measured RTO.  This is the only module that loads `rich`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bootstrap.progress import Clock, single_line
from bootstrap.report import ObjectRecord, PhaseRecord, RunReport, Scrubber, error_fields

_STATUS_STYLE = {"Current": "green", "InProgress": "yellow", "Failed": "bold red", "Terminating": "red", "NotFound": "red", "Unknown": "magenta"}
_ACTION_STYLE = {"created": "green", "configured": "cyan", "unchanged": "dim", "skipped": "dim", "failed": "bold red", "dry-run": "blue"}
_RESULT_STYLE = {"succeeded": "green", "failed": "bold red", "skipped": "dim"}


def make_console(stream: IO[str] | None = None, *, environ: Mapping[str, str] = os.environ) -> Console:
    """A console for line output: colour only on a TTY and without NO_COLOR, no wrapping, no markup guessing."""
    return Console(
        file=stream or sys.stderr,
        no_color=bool(environ.get("NO_COLOR")),
        highlight=False,
        emoji=False,
        soft_wrap=True,
    )


class HumanProgress:
    """One readable line per event: elapsed time, phase, action or status, object, message."""

    def __init__(self, console: Console, *, scrubber: Scrubber | None = None, clock: Clock = time.monotonic):
        self.console = console
        self.scrubber = scrubber or Scrubber()
        self._clock = clock
        self._t0 = clock()

    def phase_started(self, name: str) -> None:
        self._line(Text.assemble(("==> ", "bold"), ("phase ", "bold"), (self._clean(name), "bold")))

    def object_applied(self, rec: ObjectRecord) -> None:
        self._line(self._object_line(rec, rec.action, _ACTION_STYLE.get(rec.action, "")))

    def object_status(self, rec: ObjectRecord) -> None:
        self._line(self._object_line(rec, rec.status, _STATUS_STYLE.get(rec.status, "")))

    def phase_finished(self, rec: PhaseRecord) -> None:
        result = rec.result or "finished"
        self._line(
            Text.assemble(
                ("<== ", "bold"),
                ("phase ", "bold"),
                (self._clean(rec.name), "bold"),
                " ",
                (result, _RESULT_STYLE.get(result, "")),
                f" in {rec.seconds:.1f}s",
            )
        )

    def note(self, text: str) -> None:
        self._line(Text(self._clean(text), style="dim"))

    def _object_line(self, rec: ObjectRecord, word: str, style: str) -> Text:
        line = Text.assemble(
            (f"[{self._clean(rec.phase)}] ", "dim"),
            (f"{self._clean(word):<11}", style),
            " ",
            self._clean(rec.ref),
        )
        if rec.seconds:
            line.append(f" ({rec.seconds:.1f}s)", style="dim")
        if rec.message:
            line.append(f"  {self._clean(rec.message)}", style="red" if rec.status == "Failed" else "dim")
        return line

    def _line(self, body: Text) -> None:
        elapsed = Text(f"{self._clock() - self._t0:7.1f}s ", style="dim")
        self.console.print(elapsed + body, soft_wrap=True)

    def _clean(self, text: str) -> str:
        return single_line(self.scrubber(text))


def render_summary(report: RunReport, console: Console) -> None:
    """The closing summary: phases with seconds and result, failed objects with causes, total (RTO)."""
    clean = report.scrubber
    phases = Table(title="phases", box=box.SIMPLE_HEAD, title_justify="left", show_edge=False)
    phases.add_column("phase")
    phases.add_column("seconds", justify="right")
    phases.add_column("objects", justify="right")
    phases.add_column("result")
    for phase in report.phases:
        count = sum(1 for o in report.objects if o.phase == phase.name)
        result = phase.result or "running"
        phases.add_row(Text(clean(phase.name)), f"{phase.seconds:.1f}", str(count), Text(result, style=_RESULT_STYLE.get(result, "")))
    console.print(phases)

    failed = report.failed_objects()
    if failed:
        table = Table(title="failed objects", box=box.SIMPLE_HEAD, title_justify="left", show_edge=False)
        table.add_column("object")
        table.add_column("phase")
        table.add_column("status")
        table.add_column("cause", overflow="fold")
        for rec in failed:
            word = rec.status or rec.action
            table.add_row(Text(clean(rec.ref)), Text(clean(rec.phase)), Text(word, style=_STATUS_STYLE.get(word, "red")), Text(single_line(clean(rec.message))))
        console.print(table)

    result = report.result or "unfinished"
    total = Text.assemble(("total ", "bold"), (f"{report.seconds:.1f}s", "bold"), " (RTO)  result: ", (result, _RESULT_STYLE.get(result, "bold")))
    console.print(total)
    if report.cluster_wait_seconds:
        own = max(report.seconds - report.cluster_wait_seconds, 0.0)
        console.print(f"  {report.cluster_wait_seconds:.1f}s waiting on the cluster (API server, controllers), "
                      f"{own:.1f}s dr-bootstrap's own work")
    if error := error_fields(report.error):
        console.print(Text(f"error (exit {error['exitCode']}): {single_line(clean(error['message']))}", style="red"))
