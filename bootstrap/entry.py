"""The console script `dr-bootstrap`: the commands people run most start without loading typer.

Building the typer app (imports, then every option of every command) costs several times what `--help`,
`version` or a `check` of a whole repository needs, and a user pays start-up at every run.  So this module
answers, with small parsers of its own, exactly these forms:

    --version | version [-o F] [--client] [--kubeconfig F] [--context C]
    --help, -h, no arguments, COMMAND --help   (the text typer renders, from the help cache)
    check PATH... [--age-key-file F] [-o F]  |  decrypt FILE [...]

and hands everything else (help on a narrow terminal, a typo, an unknown flag, shell completion requests)
to the typer app in `bootstrap.cli`, which reports it as usual.  Both ways run the same functions; only
the parsing differs.  Errors end as one line and a documented exit code (`guarded`).
"""

from __future__ import annotations

import os
import sys

from bootstrap import __version__

TYPE_CHECKING = False  # typing costs start-up; annotations are strings (from __future__)
if TYPE_CHECKING:
    from collections.abc import Callable

COMPLETE_VAR = "_DR_BOOTSTRAP_COMPLETE"  # set by the shell completion scripts: typer answers those
HELP_FLAGS = ("-h", "--help")


def main() -> None:
    argv = sys.argv[1:]
    sys.exit(guarded(lambda: dispatch(argv)))


def dispatch(argv: list[str]) -> int:
    code = None if os.environ.get(COMPLETE_VAR) else fast(argv)
    if code is not None:
        return code
    from bootstrap.cli import run_app

    return run_app(argv)


def guarded(body: Callable[[], int | None]) -> int:
    """Run `body`; every known failure becomes one line on stderr and its exit code (no traceback). An error
    summing up many problems adds the first few of them, one per line (`errors.error_lines`).

    Anything unforeseen prints only its type: the message of an unexpected exception could carry data.
    """
    import signal

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
        from bootstrap.errors import BootstrapError, ExitCode, error_lines

        if isinstance(err, BootstrapError):  # the summary on one line, then the first few of its problems
            print("\n".join(error_lines(str(err), err.details)), file=sys.stderr)
            return int(err.exit_code)
        if os.environ.get("DR_BOOTSTRAP_DEBUG"):
            raise
        print(f"internal error: {type(err).__name__} (set DR_BOOTSTRAP_DEBUG=1 for a traceback)", file=sys.stderr)
        return int(ExitCode.FAILED)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def fast(argv: list[str]) -> int | None:
    """Run `argv` here if it is one of the forms above; None when typer must parse it."""
    if argv == ["--version"]:
        sys.stdout.write(f"dr-bootstrap {__version__}\n")
        return 0
    text = cached_help(argv)
    if text is not None:
        sys.stdout.write(text)
        return 0
    command = argv[0] if argv else ""
    if any(a in HELP_FLAGS for a in argv[1:]):
        return None
    if command == "version":
        options = _parse(argv[1:], _version_args) if argv[1:] else {}  # argparse costs as much as the rest
        if options is not None:
            from bootstrap.version import run_version

            return run_version(**options)
    elif command == "check":
        options = _parse(argv[1:], _check_args)
        if options is not None:
            from bootstrap.check_output import run_check

            return run_check(**options)
    elif command == "decrypt":
        from bootstrap.sops.command import parse_decrypt_args, run_decrypt

        options = parse_decrypt_args(argv[1:])
        if options is not None:
            run_decrypt(**options)
            return 0
    return None


# ---------------------------------------------------------------------------------------------- help


def cached_help(argv: list[str]) -> str | None:
    """The help text typer prints for `argv`, from `bootstrap/_helptext.py`, or None to ask typer.

    Typer (click) renders help at the terminal's width, but never wider than 80 columns: for 80 or more
    (and for pipes and files, which count as 80) the text is always the same, and that is what the cache
    holds.  A narrower terminal gets typer's live rendering.
    """
    if not argv or argv in (["-h"], ["--help"]):
        command = ""
    elif len(argv) == 2 and argv[1] in HELP_FLAGS and not argv[0].startswith("-"):
        command = argv[0]
    else:
        return None
    if _columns() < 80:
        return None
    try:
        from bootstrap._helptext import HELP
    except ImportError:  # a tree without the generated file still works, only slower
        return None
    return HELP.get(command)


def _columns() -> int:
    """The terminal width as `shutil.get_terminal_size` (and so click) finds it: $COLUMNS, the terminal, 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


# ---------------------------------------------------------------------------------------------- parsing


def _parse(argv: list[str], declare: Callable) -> dict | None:
    """Options as keyword arguments, or None when the small parser does not accept `argv` (typer will say why).

    `declare(parser)` adds the arguments.  The help formatter gets a fixed width: sized by shutil, its import
    would cost more start-up than the parse.
    """
    import argparse

    class NotForUs(Exception):
        pass

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise NotForUs(message)

    parser = Parser(add_help=False, allow_abbrev=False,
                    formatter_class=lambda prog: argparse.HelpFormatter(prog, width=80))
    declare(parser)
    try:
        return vars(parser.parse_args(argv))
    except NotForUs:
        return None


_FORMATS = ("human", "json", "yaml")


def _version_args(parser) -> None:
    parser.add_argument("-o", "--output", choices=_FORMATS, default="human")
    parser.add_argument("--client", action="store_true")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--context")


def _check_args(parser) -> None:
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--age-key-file")
    parser.add_argument("-o", "--output", choices=_FORMATS, default="human")
