"""One command line, one meaning: the fast path parses as the typer app does, and plan and drill take restore's flags.

`bootstrap.cli.entry` parses `check`, `decrypt` and `version` itself (no typer at start-up), with the options
`python -m bootstrap.cli.helpcache` reads from the typer commands (test_help_cache.py fails when that file is
stale).  Here both ways run on the same command lines, with the function each calls replaced by a recorder:
whatever the fast path accepts, it must call that function exactly as the typer command does, and it must
accept every option, spelling and choice the typer command has.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
from dataclasses import replace
from typing import Optional
from unittest import mock

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap.cli import app as cli, entry
from bootstrap.errors import ExitCode
from bootstrap.cli.helpcache import parser_spec


def command(name: str):
    return typer.main.get_command(cli.app).commands[name]


def options(name: str) -> list:
    return [p for p in command(name).params if p.param_type_name == "option"]


@contextlib.contextmanager
def recording(module: str, function: str):
    """`module.function` replaced by a recorder of its arguments, bound to the real signature (defaults filled)."""
    mod = importlib.import_module(module)
    signature = inspect.signature(getattr(mod, function))
    calls: list[dict] = []

    def record(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))
        return 0

    with mock.patch.object(mod, function, record):
        yield calls


def quietly(run, argv: list[str]) -> int | None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return run(argv)


# ---------------------------------------------------------------------------------------------- fast path


def through_typer(argv: list[str]) -> dict | None:
    """What the typer command passes to its function for `argv`; None when typer refuses `argv` (exit 2)."""
    with recording(*entry.FAST[argv[0]]) as calls:
        code = quietly(cli.run_app, argv)
    if code == ExitCode.USAGE:
        assert calls == []
        return None
    assert (code, len(calls)) == (0, 1), argv
    return calls[0]


def through_fast_path(argv: list[str]) -> dict | None:
    """What bootstrap.cli.entry passes to the same function; None when it leaves `argv` to typer."""
    with recording(*entry.FAST[argv[0]]) as calls:
        code = quietly(entry.fast, argv)
    if code is None:
        assert calls == []
        return None
    assert (code, len(calls)) == (0, 1), argv
    return calls[0]


ACCEPTED = [
    ["check", "."],
    ["check", "a", "b", "--age-key-file", "k", "-o", "json"],
    ["check", "-ojson", "a", "--output=yaml", "b"],  # the last -o counts
    ["check", "--age-key-file", "-", "a"],  # '-' is stdin, not an option
    ["check", "--age-key-file=", "a"],
    ["check", "-", "a", "--", "-b", "--output"],  # after --, words only
    ["check", "a", "--age-key-file", "-k"],  # click takes the next word as the value, whatever it looks like
    ["decrypt", "f.yaml"],
    ["decrypt", "f", "--input-type", "--"],
    ["decrypt", "--ignore-mac", "f", "--input-type", "json", "--output-type", "yaml", "-o", "json", "--age-key-file", "k"],
    ["decrypt", "--", "-f"],
    ["decrypt", "-"],
    ["version"],
    ["version", "--client"],
    ["version", "-o", "yaml", "--kubeconfig", "kc", "--context", "c"],
    ["version", "--context=c", "--output=json"],
    ["version", "--context", "-x"],
]
REFUSED = [  # typer says what is wrong (exit 2)
    ["check"],
    ["check", "a", "-o", "table"],
    ["check", "a", "--output", "JSON"],
    ["check", "a", "-o=json"],  # click reads the value '=json'
    ["check", "a", "--no-such-flag"],
    ["check", "a", "--age"],  # no abbreviations
    ["check", "a", "--age-key-file"],
    ["decrypt"],
    ["decrypt", "a", "b"],
    ["decrypt", "a", "--ignore-mac=yes"],
    ["decrypt", "a", "-x"],
    ["version", "extra"],
    ["version", "--client=1"],
]


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_the_fast_path_calls_what_typer_calls(argv):
    fast = through_fast_path(argv)
    assert fast is not None, "the fast path refused a plain command line"
    assert fast == through_typer(argv)


@pytest.mark.parametrize("argv", REFUSED, ids=" ".join)
def test_what_typer_refuses_the_fast_path_refuses(argv):
    assert through_typer(argv) is None
    assert through_fast_path(argv) is None


def words(name: str) -> list[str]:
    """The positional words `name` needs."""
    return [w for p in command(name).params if p.param_type_name == "argument" for w in ["w1", "w2"][:abs(p.nargs)]]


def uses(name: str) -> list[list[str]]:
    """Every option of the typer command, in every spelling, with every choice (or a plain word), before and after
    the positional words, with the value attached and apart."""
    found = []
    for p in options(name):
        for spelling in [*p.opts, *p.secondary_opts]:
            if p.is_flag:
                found += [[name, *words(name), spelling], [name, spelling, *words(name)]]
                continue
            for value in getattr(p.type, "choices", None) or ["v", "-"]:
                attached = f"{spelling}={value}" if spelling.startswith("--") else spelling + value
                found += [[name, *words(name), spelling, value], [name, attached, *words(name)]]
    return found


@pytest.mark.parametrize("name", sorted(entry.FAST))
def test_the_fast_path_takes_every_option_typer_has(name):
    """The generated spec follows the typer command: a new option, spelling or choice there is taken here."""
    checked = uses(name)
    assert len(checked) >= 2 * len(options(name))
    for argv in checked:
        fast = through_fast_path(argv)
        assert fast is not None, f"the fast path refuses {argv}: regenerate with `python -m bootstrap.cli.helpcache`"
        assert fast == through_typer(argv), argv


@pytest.mark.parametrize("name", sorted(entry.FAST))
def test_arity_and_choices_are_refused_alike(name):
    for p in options(name):
        if p.is_flag:
            bad = [[name, *words(name), f"{s}=1"] for s in p.opts if s.startswith("--")]
        else:
            bad = [[name, *words(name), p.opts[0]]]  # no value
            if getattr(p.type, "choices", None):
                bad.append([name, *words(name), p.opts[0], "no-such-choice"])
        for argv in bad:
            assert (through_typer(argv), through_fast_path(argv)) == (None, None), argv


WORDS = ["a", "b", "-", "", "JSON", "--"]


def pieces(name: str) -> list[list[str]]:
    """The options of `name` with fitting values, and near misses."""
    made = []
    for p in options(name):
        for spelling in [*p.opts, *p.secondary_opts]:
            if p.is_flag:
                made += [[spelling], [f"{spelling}=1"]]
                continue
            for value in [*(getattr(p.type, "choices", None) or ["v"]), "-", "", "-x", "--"]:
                made += [[spelling, value], [f"{spelling}={value}" if spelling.startswith("--") else spelling + value]]
            made.append([spelling])
    return made + [["-x"], ["--nope"], ["="], ["-o=json"], ["--age"]]


@pytest.mark.parametrize("name", sorted(entry.FAST))
def test_any_command_line_the_fast_path_takes_means_the_same_to_typer(name):
    seen = {"taken here": 0, "left to typer": 0}
    some_options = st.lists(st.sampled_from(pieces(name)), max_size=3)

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(some_options, st.lists(st.sampled_from(WORDS), max_size=3), some_options)
    def check(before, words, after):
        argv = [name, *(w for part in before for w in part), *words, *(w for part in after for w in part)]
        fast = through_fast_path(argv)
        if fast is not None:
            assert fast == through_typer(argv), argv
        seen["taken here" if fast is not None else "left to typer"] += 1

    check()
    assert seen["taken here"] >= 15, seen  # the property is not vacuous


def test_the_fast_path_is_the_typer_commands_of_the_same_names():
    assert set(entry.FAST) <= set(typer.main.get_command(cli.app).commands)


@pytest.mark.parametrize(("declaration", "annotation"), [
    (typer.Option([], "--tag"), list[str]),  # repeatable
    (typer.Option(3, "--count"), int),  # the fast path passes words, not numbers
    (typer.Option(None, "--token", envvar="TOKEN"), Optional[str]),
    (typer.Option(None, "-tok"), Optional[str]),  # one dash, several letters: click reads it as a long option
    (typer.Argument(None), Optional[str]),  # an optional argument
], ids=["repeatable", "int", "envvar", "odd-spelling", "optional-argument"])
def test_the_generator_refuses_what_the_fast_path_cannot_parse_as_click_does(declaration, annotation):
    def probe(value=declaration) -> None: ...

    probe.__annotations__ = {"value": annotation, "return": None}
    app = typer.Typer()
    app.command("probe")(probe)
    app.command("other")(lambda: None)
    with pytest.raises(ValueError, match="bootstrap.cli.entry.parse cannot read it as click does"):
        parser_spec(typer.main.get_command(app).commands["probe"])


# ---------------------------------------------------------------------------------------------- restore flags

# Restore flags a command does not take, and why.  Every other restore flag must be taken, spelled and parsed
# exactly as restore does; plan accepts the write-side ones (--dry-run, --restart-consumers, --yes,
# --wait-gitops) and ignores them, so that a restore command line runs as a plan.
NOT_TAKEN = {
    "plan": {},
    "drill": {
        # A drill's restore is a real one: a dry run would prove nothing, and with --cluster current an
        # accepted-but-ignored --dry-run would write where the user asked for no writes.
        "dry_run": "a drill's restore is a real one",
    },
}
# Restore flags a command takes with a default of its own, on purpose.
OWN_DEFAULTS = {
    ("drill", "wait_gitops"): None,  # drill waits for Flux when the restored set installs it
}


def shape(p) -> tuple:
    """How click reads a parameter: spellings, arity, type (the same parser function for durations), choices."""
    return (p.param_type_name, p.opts, p.secondary_opts, p.nargs, p.multiple, getattr(p, "is_flag", None),
            type(p.type).__name__, getattr(p.type, "func", None), getattr(p.type, "choices", None), p.required)


@pytest.mark.parametrize("other", sorted(NOT_TAKEN))
def test_every_restore_flag_parses_the_same_in(other):
    theirs = {p.name: p for p in command(other).params}
    for p in command("restore").params:
        if p.name in NOT_TAKEN[other]:
            assert p.name not in theirs, f"{other} takes {p.name} now: drop it from NOT_TAKEN"
            continue
        assert p.name in theirs, f"{other} does not take restore's {p.opts}"
        assert shape(theirs[p.name]) == shape(p), p.name
        assert theirs[p.name].default == OWN_DEFAULTS.get((other, p.name), p.default), p.name


def every_restore_flag() -> list[str]:
    """A restore command line giving every restore option a value other than its default."""
    argv = ["https://example.invalid/fleet.git"]
    for p in options("restore"):
        if p.is_flag:
            argv.append(p.secondary_opts[0] if p.default else p.opts[0])
        elif getattr(p.type, "choices", None):
            argv += [p.opts[0], next(c for c in p.type.choices if c != p.default)]
        elif getattr(p.type, "func", None):
            argv += [p.opts[0], "90s"]
        elif type(p.type).__name__ == "IntParamType":
            argv += [p.opts[0], "7"]
        elif p.multiple:
            argv += [p.opts[0], f"{p.name}-1", p.opts[0], f"{p.name}-2"]
        else:
            argv += [p.opts[0], f"{p.name}-value"]
    return argv


def runs(name: str, argv: list[str]) -> dict:
    """The arguments `dr-bootstrap NAME ARGV` passes to its bootstrap.cli.runner function."""
    with recording("bootstrap.cli.runner", f"run_{name}") as calls:
        code = quietly(cli.run_app, [name, *argv])
    assert (code, len(calls)) == (0, 1), (name, argv)
    return calls[0]


def test_the_same_flags_give_plan_and_drill_the_options_restore_gets():
    argv = every_restore_flag()
    restore = runs("restore", argv)
    assert restore["opts"].timeout == 90.0 and restore["opts"].dry_run and restore["opts"].concurrency == 7
    plan = runs("plan", argv)
    assert plan["opts"] == restore["opts"]
    assert (plan["report_path"], plan["junit_path"], plan["output"]) == \
        (restore["report_path"], restore["junit_path"], restore["output"])
    drill = runs("drill", [a for a in argv if a != "--dry-run"])
    assert drill["opts"] == replace(restore["opts"], dry_run=False)
    assert (drill["report_path"], drill["drill_opts"].junit, drill["drill_opts"].yes, drill["output"]) == \
        (restore["report_path"], restore["junit_path"], True, restore["output"])


def test_plan_takes_the_timeout_the_readme_runbook_gives_restore():
    plan = runs("plan", ["git@github.com:acme/fleet.git", "--path", "clusters/prod", "--timeout", "10m", "--yes"])
    assert plan["opts"].timeout == 600.0 and plan["opts"].paths == ("clusters/prod",)


def test_drill_refuses_dry_run_naming_the_flag(capsys):
    assert cli.run_app(["drill", "repo", "--dry-run"]) == ExitCode.USAGE
    assert "--dry-run" in capsys.readouterr().err


def test_plan_hides_only_the_write_side_flags_it_ignores():
    hidden = {p.name for p in options("plan") if p.hidden}
    assert hidden == {"dry_run", "restart_consumers", "yes", "wait_gitops", "helm_bin"}
    text = command("plan").help
    assert all(f"--{name.replace('_', '-')}" in text for name in hidden)
