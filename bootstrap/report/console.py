"""Progress and summary for people: plain lines as things happen, then the closing summary.

`HumanProgress` prints plain lines (no full-screen app).  In a CI log or a pipe (no terminal), and with
`-v`, that is one line per event, per object included, so a log keeps the whole story.  On a terminal a
2,000-object restore would scroll 2,000 lines past: there each wave, and each verify phase, is one live line
(rich's live display) that counts the objects applied of the wave's total, or ready, and says what the run
waits on and for how long; it leaves one summary line when the wave ends.  Failed objects, notes and phases
are still lines of their own.  Colours appear only on a terminal and never with NO_COLOR.  Warnings go to
stderr as plain lines (not dimmed).  `render_summary` prints the closing summary as aligned columns that are
never wrapped (a long object name or cause stays on its line): phases with their seconds, failed objects with
their causes, and the total, which is the measured RTO.  This is the only module that loads `rich`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from bootstrap.errors import error_lines
from bootstrap.report.liveline import Tally
from bootstrap.report.output import pad, warn
from bootstrap.report.progress import Clock, is_warning, single_line
from bootstrap.report.model import ObjectRecord, PhaseRecord, RunReport, Scrubber, error_fields

_STATUS_STYLE = {"Current": "green", "InProgress": "yellow", "Failed": "bold red", "Terminating": "red", "NotFound": "red", "Unknown": "magenta"}
_ACTION_STYLE = {"created": "green", "configured": "cyan", "unchanged": "dim", "skipped": "dim", "failed": "bold red", "dry-run": "blue"}
_RESULT_STYLE = {"succeeded": "green", "failed": "bold red"}
REFRESHES_PER_SECOND = 4  # the live line's clock ticks even while no object changes


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
    """Readable lines: elapsed time, phase, action or status, object, message; on a terminal (unless
    `verbose`) a live line per wave or verify phase instead of the per-object lines.

    `live` forces the choice (None: a terminal that is not dumb, and not `verbose`); `auto_refresh` redraws
    the live line on its own, for the ticking clock (tests draw it at each event instead)."""

    def __init__(self, console: Console, *, errors: IO[str] | None = None, scrubber: Scrubber | None = None,
                 clock: Clock = time.monotonic, verbose: bool = False, live: bool | None = None,
                 auto_refresh: bool = True):
        self.console = console
        self.errors = errors  # warnings: stderr unless given
        self.scrubber = scrubber or Scrubber()
        self._clock = clock
        self._t0 = clock()
        self.live = (console.is_terminal and not console.is_dumb_terminal and not verbose) if live is None else live
        self._auto_refresh = auto_refresh
        self._tally: Tally | None = None  # the stretch the live line follows
        self._state = threading.Lock()  # guards _tally; never held while the console writes
        self._display = threading.RLock()  # guards starting and stopping _shown
        self._shown: Live | None = None

    def phase_started(self, name: str) -> None:
        self._settle()
        self._line(Text.assemble(("==> ", "bold"), ("phase ", "bold"), (self._clean(name), "bold")))

    def wave_started(self, phase: str, index: int, label: str, objects: int) -> None:
        self._settle()
        if self.live:
            with self._state:
                self._tally = Tally(phase, self._clock(), f"wave {index} ({label})", objects)
            self._draw()
        else:
            self._line(Text(self._clean(f"wave {index} ({label}): {objects} object(s)"), style="dim"))

    def object_applied(self, rec: ObjectRecord) -> None:
        if self._follow(rec, Tally.applied) and rec.action != "failed":
            return
        self._line(self._object_line(rec, rec.action, _ACTION_STYLE.get(rec.action, "")))

    def object_status(self, rec: ObjectRecord) -> None:
        if self._follow(rec, Tally.status) and rec.status != "Failed":
            return
        self._line(self._object_line(rec, rec.status, _STATUS_STYLE.get(rec.status, "")))

    def waiting(self, what: str | None) -> None:
        """The run now waits for `what` (None: no longer); the live line says it, with the time it takes."""
        if not self.live:
            return
        with self._state:
            if self._tally is None:
                return
            self._tally.waiting(what, self._clock())
        self._draw()

    def phase_finished(self, rec: PhaseRecord) -> None:
        self._settle()
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
        with self._display:  # stderr shares the terminal: the live line steps aside while the warning is written
            paused = self._shown is not None
            self._hide()
            warn(self._clean(text), self.errors or sys.stderr)
            if paused:
                self._draw()

    # -- the live line ------------------------------------------------------------------------------------

    def _follow(self, rec: ObjectRecord, count) -> bool:
        """Count `rec` on the live line (opening one for its phase when none follows it); False when not live."""
        if not self.live:
            return False
        with self._state:
            fresh = self._tally is None or self._tally.phase != rec.phase
        if fresh:
            self._settle()
            with self._state:
                self._tally = Tally(rec.phase, self._clock())
        with self._state:
            count(self._tally, rec)
        self._draw()
        return True

    def _render(self) -> Text:
        with self._state:
            text = self._tally.line(self._clock()) if self._tally is not None else ""
        elapsed = f"{self._clock() - self._t0:7.1f}s "
        # wraps on a narrow terminal: nothing it says is cut
        return Text.assemble((elapsed, "dim"), self._clean(text), no_wrap=False, overflow="fold")

    def _draw(self) -> None:
        with self._display:
            if self._shown is None:
                self._shown = Live(console=self.console, get_renderable=self._render, auto_refresh=self._auto_refresh,
                                   refresh_per_second=REFRESHES_PER_SECOND, transient=True,
                                   redirect_stdout=False, redirect_stderr=False)
                self._shown.start(refresh=True)
            elif not self._auto_refresh:
                self._shown.refresh()

    def _hide(self) -> None:
        with self._display:
            if self._shown is not None:
                self._shown.stop()
                self._shown = None

    def _settle(self) -> None:
        """End the stretch the live line follows: the line goes, its summary stays."""
        self._hide()
        with self._state:
            tally, self._tally = self._tally, None
        if tally is not None and not tally.empty:
            self._line(Text(self._clean(tally.summary(self._clock()))))

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


def render_summary(report: RunReport, console: Console, *, show_error: bool = True) -> None:
    """The closing summary: phases with seconds and result, failed objects with causes, total (RTO), and the
    run's error (its first few problems under it) unless `show_error` is False: the caller prints it where
    the same reader sees it already (stderr on the same terminal)."""
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
        console.print(f"  bootstrap {bootstrap:.1f}s, then the GitOps engine "
                      + (f"converged at {converged:.1f}s" if converged is not None else "did not converge"))
    if report.cluster_wait_seconds:
        console.print(f"  {report.cluster_wait_seconds:.1f}s waiting on the cluster (API server, controllers), "
                      f"{report.own_seconds():.1f}s dr-bootstrap's own work")
    if report.operator_wait_seconds:
        console.print(Text(f"  not in the RTO: {report.operator_wait_seconds:.1f}s waiting for your answer "
                           "(Continue? [y/N])"))
    if show_error and (error := error_fields(report.error)):
        head, *rest = error_lines(clean(error["message"]), [clean(d) for d in error["details"]],
                                  prefix=f"error (exit {error['exitCode']}): ")
        console.print(Text(head, style="red"))
        for line in rest:
            console.print(Text(line), soft_wrap=True)


def _columns(console: Console, rows: list[tuple[str, ...]], styles: dict[int, dict[str, str]]) -> None:
    """Aligned rows, indented, never wrapped; `styles[i]` colours column i's words (not the header)."""
    for n, cells in enumerate(pad(rows)):
        line = Text("  ", style="bold" if n == 0 else "")
        for i, cell in enumerate(cells):
            style = "bold" if n == 0 else styles.get(i, {}).get(cell.strip(), "")
            line.append(("  " if i else "") + cell, style=style)
        console.print(line, soft_wrap=True)
