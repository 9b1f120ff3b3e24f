"""The help cache: every `--help` text typer renders, and the options of the commands `bootstrap.cli.entry` parses
itself, stored in `bootstrap/cli/_helptext.py` for a fast start.

`bootstrap.cli.entry` prints the stored text for `dr-bootstrap [COMMAND] --help` instead of building the
typer app.  The texts are typer's own, rendered here at 80 columns (what click uses for any terminal of
80 columns or more, and for pipes).  For `check`, `decrypt` and `version` (`bootstrap.cli.entry.FAST`) it also
parses the command line itself, with the options written here from the typer command: their spellings,
whether they take a value, the choices and the defaults (`parser_spec`).  tests/unit/test_help_cache.py
fails as soon as the file differs from what this module writes now.  After changing a command, an option or
a help string, regenerate it:

    python -m bootstrap.cli.helpcache
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from enum import Enum
from pathlib import Path

import typer

from bootstrap.cli.app import app, run_app
from bootstrap.cli.entry import FAST

TARGET = Path(__file__).with_name("_helptext.py")


def commands() -> list[str]:
    """"" (the root) and every command name, in the order `--help` lists them."""
    return ["", *typer.main.get_command(app).commands]


def render(command: str) -> str:
    """What `dr-bootstrap [COMMAND] --help` prints through typer at 80 columns (stdout, exit 0)."""
    out, before = io.StringIO(), os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        with contextlib.redirect_stdout(out):
            code = run_app([command, "--help"] if command else ["--help"])
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    if code != 0:
        raise RuntimeError(f"dr-bootstrap {command} --help exited {code}")
    return out.getvalue()


def fast_commands() -> dict:
    """The click commands of the typer app that `bootstrap.cli.entry` parses itself, by name."""
    group = typer.main.get_command(app)
    return {name: group.commands[name] for name in FAST}


def parser_spec(cmd) -> tuple:
    """The parameters of the click command `cmd` as `bootstrap.cli.entry.parse` takes them: ((name, nargs) of each
    positional argument, {option spelling: (name, "flag", value stored) or (name, "value", choices or None)},
    {name: default}).

    Raises for a parameter that parser cannot read exactly as click does (an option taking several values or
    repeatable, a type other than text, a choice or a boolean flag, an environment variable, a prompt, ...):
    teach `bootstrap.cli.entry.parse` first, or take the command out of `bootstrap.cli.entry.FAST`.
    """
    def unsupported(what: str) -> ValueError:
        return ValueError(f"{cmd.name} {what}: bootstrap.cli.entry.parse cannot read it as click does; teach it, or "
                          f"drop {cmd.name!r} from bootstrap.cli.entry.FAST")

    if not cmd.allow_interspersed_args or cmd.ignore_unknown_options or cmd.allow_extra_args:
        raise unsupported("parsing settings")
    arguments: list[tuple[str, int]] = []
    options: dict[str, tuple] = {}
    defaults: dict[str, object] = {}
    for p in cmd.params:
        plain_type = type(p.type).__name__ == "StringParamType"
        if p.envvar or p.callback or p.is_eager or not p.expose_value or getattr(p, "prompt", None):
            raise unsupported(f"{p.name}: envvar, callback, eager or prompt")
        if p.param_type_name == "argument":
            if not p.required or p.nargs not in (1, -1) or not plain_type or (arguments and arguments[-1][1] == -1):
                raise unsupported(f"{p.name}: an optional, multi-word or non-text argument, or one after PATH...")
            arguments.append((p.name, p.nargs))
            continue
        spellings = [*p.opts, *p.secondary_opts]
        if p.multiple or p.count or p.required or p.nargs != 1 or any(
            not (o.startswith("--") or (o.startswith("-") and len(o) == 2)) for o in spellings
        ):
            raise unsupported(f"{p.name}: a repeatable, counted, required or multi-word option, or an odd spelling")
        if p.is_flag:
            if not p.is_bool_flag or p.default not in (None, False, True):
                raise unsupported(f"{p.name}: a flag that is not a plain on/off one")
            options.update({o: (p.name, "flag", True) for o in p.opts})
            options.update({o: (p.name, "flag", False) for o in p.secondary_opts})
        elif type(p.type).__name__ in ("Choice", "TyperChoice") and p.type.case_sensitive:
            options.update({o: (p.name, "value", tuple(p.type.choices)) for o in spellings})
        elif plain_type:
            options.update({o: (p.name, "value", None) for o in spellings})
        else:
            raise unsupported(f"{p.name}: of type {type(p.type).__name__}")
        default = p.default.value if isinstance(p.default, Enum) else p.default
        if not isinstance(default, (str, bool, type(None))):
            raise unsupported(f"{p.name}: default {default!r}")
        defaults[p.name] = default
    return tuple(arguments), options, defaults


def source() -> str:
    """The text of `_helptext.py` for the current app."""
    lines = [
        '"""Generated by `python -m bootstrap.cli.helpcache` from the typer app in bootstrap/cli/app.py: do not edit.',
        "",
        "Each command's `--help` text as typer prints it at 80 columns or more, and the options of the commands",
        "bootstrap.cli.entry parses itself; bootstrap.cli.entry uses both without loading typer.",
        "tests/unit/test_help_cache.py fails when this file is stale.",
        '"""',
        "",
        "HELP = {",
    ]
    lines += [f"    {name!r}: {render(name)!r}," for name in commands()]
    lines += [
        "}",
        "",
        "# The commands bootstrap.cli.entry parses itself (bootstrap.cli.entry.FAST), with their typer command's parameters:",
        "# (positional arguments as (name, nargs), nargs -1: one or more; options as {spelling: (name, 'flag',",
        "# the value stored) or (name, 'value', the choices or None)}; defaults).",
        "PARSERS = {",
    ]
    lines += [f"    {name!r}: {parser_spec(cmd)!r}," for name, cmd in fast_commands().items()]
    lines += ["}", ""]
    return "\n".join(lines)


def main() -> None:
    TARGET.write_text(source())
    print(f"wrote {TARGET}", file=sys.stderr)


if __name__ == "__main__":
    main()
