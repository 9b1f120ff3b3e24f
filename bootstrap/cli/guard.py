"""What both ways into the command line share, `bootstrap.cli.entry` (the fast path) and the typer app
`bootstrap.cli.app`: how a run ends (`guarded`) and the variable the shell completion scripts set."""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False  # typing costs start-up; annotations are strings (from __future__)
if TYPE_CHECKING:
    from collections.abc import Callable

COMPLETE_VAR = "_DR_BOOTSTRAP_COMPLETE"  # set by the shell completion scripts: typer answers those


def guarded(body: Callable[[], int | None]) -> int:
    """Run `body`; every known failure becomes one line on stderr and its exit code (no traceback). An error
    summing up many problems adds the first few of them, one per line (`errors.error_lines`).

    Anything unforeseen prints only its type: the message of an unexpected exception could carry data.
    """
    # SIGTERM (a cancelled CI job, `kill`) unwinds like Ctrl-C: reports are written, scratch trees holding
    # decrypted generator inputs are removed, git and kustomize children are reaped.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return body() or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dr-bootstrap ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as err:
        from bootstrap.errors import BootstrapError, ExitCode, error_lines  # deferred: start-up (--help never fails)

        if isinstance(err, BootstrapError):  # the summary on one line, then the first few of its problems
            print("\n".join(error_lines(str(err), err.details)), file=sys.stderr)
            return int(err.exit_code)
        if os.environ.get("DR_BOOTSTRAP_DEBUG"):
            raise
        print(f"internal error: {type(err).__name__} (set DR_BOOTSTRAP_DEBUG=1 for a traceback)", file=sys.stderr)
        return int(ExitCode.FAILED)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt
