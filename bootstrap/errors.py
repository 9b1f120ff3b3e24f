"""Errors the tool reports to an operator, each with a stable exit code.

Every failure a user can cause or meet ends as one of these: `cli.guard.guarded` prints its message on one line
(no traceback) and exits with its code.  Messages name the culprit (file, object, flag) and the cause,
and never contain a secret value.  An error made of many problems (a validation of 2,000 objects) keeps a
one-line summary as its message and every problem in `details`: the terminal shows the first few
(`error_lines`), the reports all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import IntEnum

SHOWN_DETAILS = 5  # problems printed under an error's summary line; the reports carry all of them


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # generic: a check found problems (e.g. `check` reporting a file that would fail)
    USAGE = 2  # bad flags or arguments, bad playbook
    SOURCE = 3  # git clone/checkout, unknown ref, path missing
    INVALID = 4  # key, decryption, MAC or validation: nothing was written
    APPLY = 5  # a write to the cluster failed (or the API server stayed unreachable)
    ROLLOUT = 6  # rollout verification failed or timed out


class BootstrapError(Exception):
    """Base class: a one-line, secret-free message, an exit code, and the problems it sums up (`details`,
    one line each, every one of them; empty when the message is the whole story)."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, details: Sequence[str] = ()):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = tuple(details)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"

    def scrub(self, clean: Callable[[str], str]) -> None:
        """Pass message, hint and details through `clean` (a run's Scrubber) before they are printed."""
        self.message = clean(self.message)
        self.hint = clean(self.hint) if self.hint else self.hint
        self.details = tuple(clean(line) for line in self.details)
        self.args = (self.message,)


def error_lines(summary: str, details: Sequence[str] = (), *, prefix: str = "error: ",
                shown: int = SHOWN_DETAILS) -> list[str]:
    """How a terminal shows an error (`str(err)`, `err.details`): the summary on one line (whitespace, newlines
    included, collapsed), then the first `shown` details, one per line and indented, then how many more the
    reports hold."""
    lines = [prefix + " ".join(summary.split())]
    total = len(details)
    if details and " ".join(details[0].split()) in lines[0]:  # the summary quotes the first already
        details = details[1:]
    lines += ["  " + " ".join(detail.split()) for detail in details[:shown]]
    if len(details) > shown:
        more = len(details) - shown
        lines.append(f"  … and {more} more (all {total} are in the --report file and in -o json)")
    return lines


class UsageError(BootstrapError):
    exit_code = ExitCode.USAGE


class SourceError(BootstrapError):
    exit_code = ExitCode.SOURCE


class InvalidInputError(BootstrapError):
    """Anything found before the first write: keys, decryption, MAC, manifests, plan."""

    exit_code = ExitCode.INVALID


class KeyError_(InvalidInputError):
    """The age key cannot be read or does not open a file."""


class DecryptError(InvalidInputError):
    """A SOPS file cannot be decrypted or its MAC does not verify."""


class ValidationError(InvalidInputError):
    """A manifest or playbook is not acceptable."""


class ApplyError(BootstrapError):
    exit_code = ExitCode.APPLY


class RolloutError(BootstrapError):
    exit_code = ExitCode.ROLLOUT
