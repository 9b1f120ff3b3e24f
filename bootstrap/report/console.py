"""Progress and summary for people: one plain line per event, then the closing summary.

`HumanProgress` prints plain lines (no full-screen app), so its output reads the same in a terminal, a CI
log or a pipe; colours appear only on a terminal and never with NO_COLOR.  Warnings go to stderr as plain
lines (not dimmed).  `render_summary` prints the closing summary as aligned columns that are never wrapped
(a long object name or cause stays on its line): phases with their seconds, failed objects with their
causes, and the total, which is the measured RTO.  This is the only module that loads `rich`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import IO

from rich.console import Console
from rich.text import Text

from bootstrap.cli.output import pad, warn
from bootstrap.report.progress import Clock, is_warning, single_line
from bootstrap.report.model import ObjectRecord, PhaseRecord, RunReport, Scrubber, error_fields

_STATUS_STYLE = {"Current": "green", "InProgress": "yellow", "Failed": "bold red", "Terminating": "red", "NotFound": "red", "Unknown": "magenta"}
_ACTION_STYLE = {"created": "green", "configured": "cyan", "unchanged": "dim", "skipped": "dim", "failed": "bold red", "dry-run": "blue"}
_RESULT_STYLE = {"succeeded": "green", "failed": "bold red"}


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

    def __init__(self, console: Console, *, errors: IO[str] | None = None, scrubber: Scrubber | None = None,
                 clock: Clock = time.monotonic):
        self.console = console
        self.errors = errors  # warnings: stderr unless given
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
        if is_warning(text):
            self.warning(text)
        else:
            self._line(Text(self._clean(text), style="dim"))

    def warning(self, text: str) -> None:
        warn(self._clean(text), self.errors or sys.stderr)

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
    rows = [("PHASE", "SECONDS", "OBJECTS", "RESULT")]
    for phase in report.phases:
        count = sum(1 for o in report.objects if o.phase == phase.name)
        rows.append((single_line(clean(phase.name)), f"{phase.seconds:.1f}", str(count), phase.result or "running"))
    if report.phases:
        console.print(Text("phases", style="bold"))
        _columns(console, rows, {3: _RESULT_STYLE})

    failed = report.failed_objects()
    if failed:
        rows = [("OBJECT", "PHASE", "STATUS", "CAUSE")]
        for rec in failed:
            rows.append((single_line(clean(rec.ref)), single_line(clean(rec.phase)), rec.status or rec.action,
                         single_line(clean(rec.message))))
        console.print(Text("failed objects", style="bold"))
        _columns(console, rows, {2: {**_STATUS_STYLE, "failed": "bold red"}})

    result = report.result or "unfinished"
    total = Text.assemble(("total ", "bold"), (f"{report.seconds:.1f}s", "bold"), " (RTO)  result: ", (result, _RESULT_STYLE.get(result, "bold")))
    console.print(total)
    if (bootstrap := report.bootstrap_seconds()) is not None:
        converged = report.converged_seconds()
        console.print(f"  bootstrap {bootstrap:.1f}s, then Flux "
                      + (f"converged at {converged:.1f}s" if converged is not None else "did not converge"))
    if report.cluster_wait_seconds:
        own = max(report.seconds - report.cluster_wait_seconds, 0.0)
        console.print(f"  {report.cluster_wait_seconds:.1f}s waiting on the cluster (API server, controllers), "
                      f"{own:.1f}s dr-bootstrap's own work")
    if error := error_fields(report.error):
        console.print(Text(f"error (exit {error['exitCode']}): {single_line(clean(error['message']))}", style="red"))


def _columns(console: Console, rows: list[tuple[str, ...]], styles: dict[int, dict[str, str]]) -> None:
    """Aligned rows, indented, never wrapped; `styles[i]` colours column i's words (not the header)."""
    for n, cells in enumerate(pad(rows)):
        line = Text("  ", style="bold" if n == 0 else "")
        for i, cell in enumerate(cells):
            style = "bold" if n == 0 else styles.get(i, {}).get(cell.strip(), "")
            line.append(("  " if i else "") + cell, style=style)
        console.print(line, soft_wrap=True)
