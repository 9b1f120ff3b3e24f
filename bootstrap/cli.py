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


# -- decrypt / check (SOPS): imports stay inside the commands so `decrypt` starts fast ----------------


@app.command("decrypt")
def decrypt_command(
    file: str = typer.Argument(..., help="SOPS-encrypted file."),
    age_key_file: Optional[str] = typer.Option(
        None, "--age-key-file", help="age identities file ('-' = stdin); default: sops' SOPS_AGE_* sources."
    ),
    input_type: Optional[str] = typer.Option(None, "--input-type", help="yaml|json|dotenv|ini|binary (default: by suffix)."),
    output_type: Optional[str] = typer.Option(None, "--output-type", help="yaml|json|dotenv|ini|binary (default: input type)."),
    ignore_mac: bool = typer.Option(False, "--ignore-mac", help="Do not verify the file MAC (prints a warning)."),
) -> None:
    """Print the plaintext of a SOPS file, as `sops decrypt` does (nothing else on stdout)."""
    from bootstrap.sops.command import run_decrypt

    run_decrypt(file, age_key_file, input_type, output_type, ignore_mac)


def _decrypt_fast_path(argv: list[str]) -> bool:
    """Run a plain `decrypt …` without building the typer app (its start-up dominates); False = not handled."""
    if argv[:1] != ["decrypt"]:
        return False
    from bootstrap.sops.command import parse_decrypt_args, run_decrypt

    options = parse_decrypt_args(argv[1:])
    if options is None:
        return False
    run_decrypt(**options)
    return True


@app.command("check")
def check_command(
    paths: list[str] = typer.Argument(..., help="Files or directories (a GitOps checkout)."),
    age_key_file: Optional[str] = typer.Option(
        None, "--age-key-file", help="age identities file ('-' = stdin); default: sops' SOPS_AGE_* sources."
    ),
    output: str = typer.Option("table", "--output", help="table (humans) or json (machines)."),
) -> None:
    """Offline preflight: does every SOPS file open with the key and verify; are secrets or keys committed?"""
    import json

    from bootstrap.check import check_paths, render_table
    from bootstrap.errors import UsageError
    from bootstrap.keys import load_keyring

    if output not in ("table", "json"):
        raise UsageError(f"--output must be table or json, not {output!r}")
    report = check_paths(paths, load_keyring(age_key_file))
    if output == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        render_table(report)
    raise typer.Exit(0 if report.ok else 1)


def main() -> None:
    """Console entry point: run the app, turn every known failure into one line and an exit code.

    Usage errors are click's own (exit 2). Anything else unforeseen prints only its type: the message
    of an unexpected exception could carry data.
    """
    try:
        if not _decrypt_fast_path(sys.argv[1:]):
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
