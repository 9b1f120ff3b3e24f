"""The command line's conventions, as a user meets them: version, -o everywhere, durations, help, completion.

Processes are run as a user runs them (`python -m bootstrap` goes through the same entry point as the
console script); option parsing is also checked on the typer commands themselves.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from bootstrap import __version__
from bootstrap.cli import app as cli, support as cli_support
from bootstrap.errors import ExitCode
from bootstrap.cli.helpcache import commands, render

# the positional arguments each command needs before its options parse
REQUIRED = {"decrypt": ["f.yaml"], "check": ["."], "restore": ["repo"], "plan": ["repo"], "drill": ["repo"],
            "verify": [], "version": [], "completion": ["bash"]}
WITHOUT_OUTPUT = {"completion"}  # prints a shell script: there is nothing to format


def run(*args: str, home: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_") and k not in ("KUBECONFIG", "COLUMNS")}
    clean.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}, **(env or {}))
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True, env=clean,
                          timeout=120)


def group():
    return typer.main.get_command(cli.app)


def params(command: str, *args: str) -> dict:
    """The values typer's parser gives `dr-bootstrap COMMAND ARGS` (nothing runs)."""
    cmd = group().commands[command]
    with cmd.make_context(command, [*REQUIRED[command], *args]) as ctx:
        return ctx.params


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_every_command_is_covered_here():
    assert set(group().commands) == set(REQUIRED)


# ---------------------------------------------------------------------------------------------- version


def test_version_flag(tmp_path):
    r = run("--version", home=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"dr-bootstrap {__version__}\n", "")


def test_version_json_without_a_cluster_has_a_null_server_and_says_why_on_stderr(tmp_path):
    r = run("version", "-o", "json", home=tmp_path)
    assert r.returncode == 0
    assert json.loads(r.stdout) == {"clientVersion": __version__, "serverVersion": None}
    [line] = r.stderr.splitlines()
    assert line.startswith("warning: server version unknown: kubeconfig ") and "file not found" in line


def test_version_names_the_kubeconfig_it_could_not_use(tmp_path):
    missing = tmp_path / "nope.kubeconfig"
    r = run("version", "-o", "yaml", "--kubeconfig", str(missing), home=tmp_path)
    assert r.returncode == 0 and yaml.safe_load(r.stdout) == {"clientVersion": __version__, "serverVersion": None}
    assert str(missing) in r.stderr


def test_version_client_only_asks_nobody(tmp_path):
    r = run("version", "--client", "-o", "yaml", home=tmp_path)
    assert (r.returncode, yaml.safe_load(r.stdout), r.stderr) == (0, {"clientVersion": __version__}, "")
    r = run("version", "--client", home=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"Client Version: {__version__}\n", "")


@pytest.mark.cluster
def test_version_asks_a_reachable_server(local_cluster, tmp_path):
    r = run("version", "-o", "json", "--kubeconfig", str(local_cluster.kubeconfig), home=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    doc = json.loads(r.stdout)
    assert doc["clientVersion"] == __version__ and doc["serverVersion"].startswith("v1.")
    human = run("version", home=tmp_path, env={"KUBECONFIG": str(local_cluster.kubeconfig)})
    assert human.stdout == f"Client Version: {__version__}\nServer Version: {doc['serverVersion']}\n"


def test_version_through_typer_prints_what_the_fast_path_prints(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cli.run_app(["version", "-o", "json"]) == 0
    typer_out = capsys.readouterr()
    fast = run("version", "-o", "json", home=tmp_path)
    assert (typer_out.out, typer_out.err) == (fast.stdout, fast.stderr)


# ---------------------------------------------------------------------------------------------- -o


@pytest.mark.parametrize("command", sorted(set(REQUIRED) - WITHOUT_OUTPUT))
@pytest.mark.parametrize("fmt", ["human", "json", "yaml"])
def test_every_command_takes_the_same_output_words(command, fmt):
    assert params(command, "-o", fmt)["output"] == fmt
    assert params(command, f"--output={fmt}")["output"] == fmt
    assert params(command)["output"] == "human"


@pytest.mark.parametrize("command", sorted(set(REQUIRED) - WITHOUT_OUTPUT))
def test_a_wrong_output_is_one_line_naming_the_flag_and_exit_2(command, tmp_path):
    r = run(command, *REQUIRED[command], "-o", "table", home=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    line = one_error_line(r)
    assert "--output" in line and "'table'" in line and "human" in line and "yaml" in line


# ---------------------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("text", "seconds"), [
    ("10m", 600.0), ("90s", 90.0), ("1h30m", 5400.0), ("500ms", 0.5), ("600", 600.0), ("2.5", 2.5), (" 5m ", 300.0),
])
def test_durations_and_plain_seconds(text, seconds):
    assert cli_support.duration(text) == seconds


@pytest.mark.parametrize("text", ["10x", "-1", "0", "0s", "", "m", "1e3", "inf", "nan", "5 m", "١٠"])
def test_what_is_not_a_duration(text):
    with pytest.raises(typer.BadParameter, match="is not a duration"):
        cli_support.duration(text)


def test_every_timeout_option_takes_a_duration_and_defaults_to_ten_minutes():
    timed = [name for name, cmd in group().commands.items() if any(p.name == "timeout" for p in cmd.params)]
    assert set(timed) >= {"restore", "verify", "drill"}
    for command in timed:
        assert params(command, "--timeout", "2m")["timeout"] == 120.0
        assert params(command, "--timeout", "45")["timeout"] == 45.0
        assert params(command)["timeout"] == 600.0


def test_a_bad_duration_is_one_line_naming_the_flag_and_exit_2(tmp_path):
    r = run("verify", "--timeout", "10x", home=tmp_path)
    assert r.returncode == 2
    assert "'--timeout': '10x' is not a duration" in one_error_line(r)


# ---------------------------------------------------------------------------------------------- help


def all_help() -> dict[str, str]:
    return {name: render(name) for name in commands()}


def test_help_shows_metavars_not_types():
    for name, text in all_help().items():
        assert not re.search(r"<(str|int|float|bool|path)>|\{[A-Za-z_]+\}|\b(TEXT|INTEGER|FLOAT)\b", text), name
    restore = render("restore")
    assert restore.startswith("Usage: dr-bootstrap restore [OPTIONS] REPO_URL\n")
    for shown in ("--age-key-file FILE", "--timeout DURATION", "-o, --output FORMAT", "--key-secret NAMESPACE/NAME"):
        assert shown in restore
    assert render("check").startswith("Usage: dr-bootstrap check [OPTIONS] PATH...\n")


def test_every_option_that_takes_a_value_has_an_uppercase_metavar():
    for name, cmd in group().commands.items():
        for param in cmd.params:
            if getattr(param, "is_flag", False) or param.name == "help":
                continue
            assert param.metavar and param.metavar.upper() == param.metavar, f"{name} {param.name}"


def test_help_fits_80_columns():
    for name, text in all_help().items():
        long = [line for line in text.splitlines() if len(line) > 80]
        assert not long, (name, long)


def examples(text: str) -> list[list[str]]:
    """The `dr-bootstrap …` command lines in a help text, continuation lines joined, shell redirections cut."""
    found, lines = [], iter(text.splitlines())
    for line in lines:
        line = line.strip()
        if not line.startswith("dr-bootstrap "):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines).strip()
        words = shlex.split(line)
        cut = next((i for i, w in enumerate(words) if w in ("<", ">", "|")), len(words))
        found.append(words[1:cut])
    return found


def test_help_examples_are_commands_that_parse():
    seen = 0
    for text in all_help().values():
        for words in examples(text):
            command, args = words[0], words[1:]
            with group().commands[command].make_context(command, args):
                seen += 1
    assert seen >= 7  # restore, plan, verify, drill, check and two completion lines


def test_root_help_lists_every_exit_code():
    text = render("")
    codes = [code for code, _ in cli_support.EXIT_CODES]
    assert codes == [int(c) for c in ExitCode] + [130]
    for code, meaning in cli_support.EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", text, re.M), code


def test_no_arguments_prints_the_help_and_succeeds(tmp_path):
    r = run(home=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, render(""), "")


def test_unknown_command_is_one_line_and_a_usage_error(tmp_path):
    r = run("no-such-command", home=tmp_path)
    assert r.returncode == 2 and "No such command 'no-such-command'" in one_error_line(r)


# ---------------------------------------------------------------------------------------------- completion


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell, tmp_path):
    r = run("completion", shell, home=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    assert "dr-bootstrap" in r.stdout and "_DR_BOOTSTRAP_COMPLETE" in r.stdout


def test_completion_of_an_unknown_shell_is_a_usage_error(tmp_path):
    r = run("completion", "tcsh", home=tmp_path)
    assert r.returncode == 2 and "'tcsh'" in one_error_line(r)


def test_the_bash_script_really_completes_commands_and_output_words(tmp_path):
    complete = {"_DR_BOOTSTRAP_COMPLETE": "complete_bash"}
    r = run(home=tmp_path, env={**complete, "COMP_WORDS": "dr-bootstrap re", "COMP_CWORD": "1"})
    assert r.returncode == 0 and r.stdout.split() == ["restore"]
    r = run(home=tmp_path, env={**complete, "COMP_WORDS": "dr-bootstrap check -o ", "COMP_CWORD": "3"})
    assert r.returncode == 0 and r.stdout.split() == ["human", "json", "yaml"]


def test_sigterm_unwinds_like_ctrl_c_so_cleanups_run():
    """A cancelled CI job sends SIGTERM: the run must unwind (reports, scratch trees on tmpfs), not vanish."""
    import os
    import signal

    from bootstrap.cli.entry import guarded

    cleaned = []

    def body():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0) if hasattr(signal, "sigtimedwait") else None
            return 0
        finally:
            cleaned.append(True)

    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert guarded(body) == 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert cleaned == [True]
