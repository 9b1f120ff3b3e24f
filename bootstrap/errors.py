"""Errors the tool reports to an operator, each with a stable exit code.

Every failure a user can cause or meet ends as one of these: `cli.main` prints its message on one line
(no traceback) and exits with its code.  Messages name the culprit (file, object, flag) and the cause,
and never contain a secret value.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # generic: a check found problems (e.g. `check` reporting a file that would fail)
    USAGE = 2  # bad flags or arguments, bad playbook
    SOURCE = 3  # git clone/checkout, unknown ref, path missing
    INVALID = 4  # key, decryption, MAC or validation: nothing was written
    APPLY = 5  # a write to the cluster failed (or the API server stayed unreachable)
    ROLLOUT = 6  # rollout verification failed or timed out


class BootstrapError(Exception):
    """Base class: a one-line, secret-free message and an exit code."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


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
