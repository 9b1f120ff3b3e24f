"""Command line: wires options to the pipeline. No logic lives here.

Exit codes (stable): 0 ok, 1 check found problems, 2 usage, 3 source, 4 key/decryption/validation
(nothing written), 5 apply, 6 rollout failed or timed out, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from bootstrap import __version__
from bootstrap.errors import BootstrapError, ExitCode

app = typer.Typer(
    name="dr-bootstrap",
    help=(
        "Rebuild a GitOps-managed Kubernetes cluster from its Git repository and one age key.\n\n"
        "Exit codes: 0 ok, 1 check found problems, 2 usage, 3 source (git), "
        "4 key/decryption/validation (nothing written), 5 apply, 6 rollout failed or timed out."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dr-bootstrap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Rebuild a GitOps-managed Kubernetes cluster from its Git repository and one age key."""


def main() -> None:
    """Console entry point: run the app, turn every known failure into one line and an exit code.

    Usage errors are click's own (exit 2). Anything else unforeseen prints only its type: the message
    of an unexpected exception could carry data.
    """
    try:
        app()
    except BootstrapError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(int(err.exit_code))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as err:
        if os.environ.get("DR_BOOTSTRAP_DEBUG"):
            raise
        typer.echo(f"internal error: {type(err).__name__} (set DR_BOOTSTRAP_DEBUG=1 for a traceback)", err=True)
        sys.exit(int(ExitCode.FAILED))
