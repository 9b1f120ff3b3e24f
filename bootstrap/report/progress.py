"""Live progress of a run: the `Progress` interface the pipeline reports to, and its quiet form.

`QuietProgress` prints nothing but warnings (`-o json|yaml`, where the report itself goes to stdout).  The
form for people, `HumanProgress`, and the closing summary live in `bootstrap.report.console`, which alone
loads `rich`: runs without a terminal audience never import it.

Warnings (`warning()`) are never lost: the human and quiet forms print them as one plain line on stderr,
whatever goes to stdout.  A `note()` whose text starts with `warning:` is a warning too (the pipeline's
older way of saying so).

`wave_started` opens a wave of a phase (its objects follow as `object_applied`), and `waiting` says what
the run waits on now (None: nothing), so a live display can show a wave as counts and a timer.

Every text passes through the `scrubber` attribute, which the pipeline replaces once it knows the
decrypted values; implementations are safe to call from several threads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, Protocol

from bootstrap.report.output import warn
from bootstrap.report.model import ObjectRecord, PhaseRecord, Scrubber

Clock = Callable[[], float]


class Progress(Protocol):
    def phase_started(self, name: str) -> None: ...

    def wave_started(self, phase: str, index: int, label: str, objects: int) -> None: ...

    def waiting(self, what: str | None) -> None: ...

    def object_applied(self, rec: ObjectRecord) -> None: ...

    def object_status(self, rec: ObjectRecord) -> None: ...

    def phase_finished(self, rec: PhaseRecord) -> None: ...

    def note(self, text: str) -> None: ...

    def warning(self, text: str) -> None: ...


def is_warning(text: str) -> bool:
    """A note that is really a warning (`warning: …`)."""
    return text[:8].lower() == "warning:"


class QuietProgress:
    """Prints nothing but warnings (on `errors`, stderr by default); the report and the exit code tell the rest."""

    def __init__(self, errors: IO[str] | None = None, *, scrubber: Scrubber | None = None):
        self.errors = errors
        self.scrubber = scrubber or Scrubber()

    def phase_started(self, name: str) -> None:
        pass

    def wave_started(self, phase: str, index: int, label: str, objects: int) -> None:
        pass

    def waiting(self, what: str | None) -> None:
        pass

    def object_applied(self, rec: ObjectRecord) -> None:
        pass

    def object_status(self, rec: ObjectRecord) -> None:
        pass

    def phase_finished(self, rec: PhaseRecord) -> None:
        pass

    def note(self, text: str) -> None:
        if is_warning(text):
            self.warning(text)

    def warning(self, text: str) -> None:
        warn(self.scrubber(text), self.errors or sys.stderr)


def single_line(text: str) -> str:
    """Any run of whitespace, newlines included, as one space."""
    return " ".join(text.split())
