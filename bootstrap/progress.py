"""Live progress of a run: one line per event for people, one JSON object per event for machines.

`HumanProgress` prints plain lines (no full-screen app), so its output reads the same in a terminal, a
CI log or a pipe; colours appear only on a terminal and never with NO_COLOR.  `JsonProgress` writes JSON
lines for `--output json`.  `render_summary` prints the closing table: phases with their seconds, failed
objects with their causes, and the total, which is the measured RTO.

Every text passes through the `scrubber` attribute, which the pipeline replaces once it knows the
decrypted values; implementations are safe to call from several threads.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Protocol

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bootstrap.report import ObjectRecord, PhaseRecord, RunReport, Scrubber, error_fields

Clock = Callable[[], float]

_STATUS_STYLE = {"Current": "green", "InProgress": "yellow", "Failed": "bold red", "Terminating": "red", "NotFound": "red", "Unknown": "magenta"}
_ACTION_STYLE = {"created": "green", "configured": "cyan", "unchanged": "dim", "skipped": "dim", "failed": "bold red", "dry-run": "blue"}
_RESULT_STYLE = {"succeeded": "green", "failed": "bold red", "skipped": "dim"}


class Progress(Protocol):
    def phase_started(self, name: str) -> None: ...

    def object_applied(self, rec: ObjectRecord) -> None: ...

    def object_status(self, rec: ObjectRecord) -> None: ...

    def phase_finished(self, rec: PhaseRecord) -> None: ...

    def note(self, text: str) -> None: ...


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
        return _one_line(self.scrubber(text))


class JsonProgress:
    """One JSON object per event on `stream` (JSON lines), flushed as it happens."""

    def __init__(self, stream: IO[str], *, scrubber: Scrubber | None = None, clock: Clock = time.monotonic):
        self.stream = stream
        self.scrubber = scrubber or Scrubber()
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()

    def phase_started(self, name: str) -> None:
        self._emit("phaseStarted", phase=name)

    def object_applied(self, rec: ObjectRecord) -> None:
        self._emit("objectApplied", **_object_fields(rec))

    def object_status(self, rec: ObjectRecord) -> None:
        self._emit("objectStatus", **_object_fields(rec))

    def phase_finished(self, rec: PhaseRecord) -> None:
        self._emit("phaseFinished", phase=rec.name, seconds=round(rec.seconds, 3),
                   clusterWaitSeconds=round(rec.cluster_wait_seconds, 3), result=rec.result)

    def note(self, text: str) -> None:
        self._emit("note", message=text)

    def _emit(self, event: str, **fields: object) -> None:
        doc = {"event": event, "elapsed": round(self._clock() - self._t0, 3)}
        doc.update({k: self.scrubber(v) if isinstance(v, str) else v for k, v in fields.items()})
        line = json.dumps(doc, ensure_ascii=False) + "\n"
        with self._lock:
            self.stream.write(line)
            self.stream.flush()


class QuietProgress:
    """Prints nothing; the report and the exit code tell the story."""

    scrubber: Scrubber | None = None

    def phase_started(self, name: str) -> None:
        pass

    def object_applied(self, rec: ObjectRecord) -> None:
        pass

    def object_status(self, rec: ObjectRecord) -> None:
        pass

    def phase_finished(self, rec: PhaseRecord) -> None:
        pass

    def note(self, text: str) -> None:
        pass


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
            table.add_row(Text(clean(rec.ref)), Text(clean(rec.phase)), Text(word, style=_STATUS_STYLE.get(word, "red")), Text(_one_line(clean(rec.message))))
        console.print(table)

    result = report.result or "unfinished"
    total = Text.assemble(("total ", "bold"), (f"{report.seconds:.1f}s", "bold"), " (RTO)  result: ", (result, _RESULT_STYLE.get(result, "bold")))
    console.print(total)
    if report.cluster_wait_seconds:
        own = max(report.seconds - report.cluster_wait_seconds, 0.0)
        console.print(f"  {report.cluster_wait_seconds:.1f}s waiting on the cluster (API server, controllers), "
                      f"{own:.1f}s dr-bootstrap's own work")
    if error := error_fields(report.error):
        console.print(Text(f"error (exit {error['exitCode']}): {_one_line(clean(error['message']))}", style="red"))


def _object_fields(rec: ObjectRecord) -> dict[str, object]:
    return {
        "phase": rec.phase,
        "kind": rec.kind,
        "namespace": rec.namespace,
        "name": rec.name,
        "action": rec.action,
        "status": rec.status,
        "seconds": round(rec.seconds, 3),
        "message": rec.message,
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())
