"""The console script `dr-bootstrap`: the commands people run most start without loading typer.

Building the typer app (imports, then every option of every command) costs several times what `--help`,
`version` or a `check` of a whole repository needs, and a user pays start-up at every run.  So this module
answers exactly these forms itself:

    --version | version [-o F] [--client] [--kubeconfig F] [--context C]
    --help, -h, no arguments, COMMAND --help   (the text typer renders, from the help cache)
    check PATH... [--age-key-file F] [-o F]  |  decrypt FILE [...]

and hands everything else (help on a narrow terminal, a typo, an unknown flag, shell completion requests)
to the typer app in `bootstrap.cli.app`, which reports it as usual.  Both ways run the same functions.  The
commands' options are not declared here: `python -m bootstrap.cli.helpcache` reads them from the typer app into
`bootstrap/cli/_helptext.py`, next to the help texts, and `parse` reads that.  Errors end as one line and a
documented exit code (`bootstrap.cli.guard.guarded`, shared with the typer app).
"""

from __future__ import annotations

import os
import sys

from bootstrap import __version__
from bootstrap.cli.guard import COMPLETE_VAR, guarded

HELP_FLAGS = ("-h", "--help")

# The commands parsed here, each with the function its typer command calls: it gets the options as keyword
# arguments.  Their options come from the typer app, written into bootstrap/cli/_helptext.py by
# `python -m bootstrap.cli.helpcache`; tests/unit/test_cli_parity.py runs each both ways and compares the calls.
FAST = {
    "version": ("bootstrap.commands.version", "run_version"),
    "check": ("bootstrap.commands.check_output", "run_check"),
    "decrypt": ("bootstrap.sops.command", "run_decrypt"),
}


def main() -> None:
    argv = sys.argv[1:]
    sys.exit(guarded(lambda: dispatch(argv)))


def dispatch(argv: list[str]) -> int:
    code = None if os.environ.get(COMPLETE_VAR) else fast(argv)
    if code is not None:
        return code
    from bootstrap.cli.app import run_app  # deferred: start-up (typer only for what `fast` does not answer)

    return run_app(argv)


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
    target = FAST.get(command)
    if target is None or any(a in HELP_FLAGS for a in argv[1:]):
        return None
    try:
        from bootstrap.cli._helptext import PARSERS  # deferred: start-up (--version reads no help cache)
    except ImportError:  # a tree without the generated file still works, only slower
        return None
    options = parse(argv[1:], PARSERS[command])
    if options is None:
        return None
    module, function = target
    return getattr(__import__(module, fromlist=[function]), function)(**options) or 0


# ---------------------------------------------------------------------------------------------- help


def cached_help(argv: list[str]) -> str | None:
    """The help text typer prints for `argv`, from `bootstrap/cli/_helptext.py`, or None to ask typer.

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
        from bootstrap.cli._helptext import HELP  # deferred: start-up (--version reads no help cache)
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


def parse(argv: list[str], spec: tuple) -> dict | None:
    """The keyword arguments typer would give the command for `argv`, or None when this parser does not accept
    `argv` (typer then parses it and says what is wrong).

    `spec` is the command's entry in `bootstrap.cli._helptext.PARSERS`, generated from the typer app: its positional
    arguments `(name, nargs)` (nargs -1: one or more, always last), its option spellings `{"--name": (name,
    kind, x)}` (kind "flag" stores x; kind "value" takes a word, one of the choices x unless x is None) and its
    defaults.  The forms accepted are read as click reads them: options anywhere, `--name=VALUE`, `-oVALUE`,
    `--name VALUE` whatever VALUE looks like, `--` ends the options, `-` is a word, the last of a repeated option
    counts.  Anything else is refused: an unknown or bundled option (`-yo`), a flag given a value, a word not
    among the choices, a missing or an extra argument.  tests/unit/test_cli_parity.py runs both parsers on the
    same command lines.
    """
    arguments, options, defaults = spec
    values, words, i = dict(defaults), [], 0
    while i < len(argv):
        token, i = argv[i], i + 1
        if token == "--":
            words += argv[i:]
            break
        if token[:1] != "-" or token == "-":
            words.append(token)
            continue
        if token[:2] == "--":
            name, equals, value = token.partition("=")
            attached = bool(equals)
        else:
            name, value = token[:2], token[2:]
            attached = bool(value)
        if name not in options:
            return None
        dest, kind, x = options[name]
        if kind == "flag":
            if attached:
                return None
            values[dest] = x
            continue
        if not attached:  # the next word, whatever it looks like (`--age-key-file -`, `--context -x`)
            if i == len(argv):
                return None
            value, i = argv[i], i + 1
        if x is not None and value not in x:
            return None
        values[dest] = value
    for dest, nargs in arguments:
        if not words:
            return None
        if nargs == -1:
            values[dest], words = words, []
        else:
            values[dest] = words.pop(0)
    return None if words else values
