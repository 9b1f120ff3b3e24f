"""The fast start-up paths: the help cache is typer's own text, and the fast commands never load typer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.cli._helptext import HELP
from bootstrap.cli.helpcache import TARGET, commands, render, source
from tests.support.sops import new_age_key, write_key_file

HEAVY = ("typer", "click", "rich", "kubernetes", "bootstrap.cli.app", "bootstrap.kube")

# Run the entry point and report, at exit, which of the heavy packages were imported.
PROBE = (
    "import atexit, sys\n"
    f"heavy = {HEAVY!r}\n"
    "atexit.register(lambda: sys.stderr.write('loaded: %s\\n' % sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    "from bootstrap.cli.entry import main\n"
    "sys.argv = ['dr-bootstrap', *sys.argv[1:]]\n"
    "main()\n"
)


def run(*args: str, home: Path, columns: str | None = None, probe: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_") and k not in ("KUBECONFIG", "COLUMNS")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    if columns:
        env["COLUMNS"] = columns
    cmd = [sys.executable, "-c", PROBE, *args] if probe else [sys.executable, "-m", "bootstrap", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def loaded(result: subprocess.CompletedProcess) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("loaded: "))


def test_the_help_cache_is_what_typer_renders_now():
    live = {name: render(name) for name in commands()}
    stale = sorted(name or "(root)" for name in set(live) | set(HELP) if live.get(name) != HELP.get(name))
    assert not stale, f"help cache stale for {stale}: run `python -m bootstrap.cli.helpcache`"


def test_regenerating_gives_the_committed_file():
    """Help texts and the fast path's options alike: a typer change without `python -m bootstrap.cli.helpcache` fails."""
    assert TARGET.read_text() == source(), "bootstrap/cli/_helptext.py is stale: run `python -m bootstrap.cli.helpcache`"


@pytest.mark.parametrize("args", [["--help"], ["-h"], [], ["restore", "--help"], ["check", "-h"]])
def test_help_comes_from_the_cache_without_typer(args, tmp_path):
    r = run(*args, home=tmp_path, probe=True)
    command = args[0] if args and not args[0].startswith("-") else ""
    assert (r.returncode, r.stdout) == (0, HELP[command])
    assert loaded(r) == "loaded: []"


def test_a_narrow_terminal_gets_typer_rendering_at_its_width(tmp_path):
    r = run("restore", "--help", home=tmp_path, columns="60", probe=True)
    assert r.returncode == 0 and r.stdout != HELP["restore"]
    assert "  Restore a cluster from its GitOps repository and age\n  key.\n" in r.stdout  # wrapped at 58
    assert "typer" in loaded(r)


def test_wide_terminals_and_pipes_get_the_cache(tmp_path):
    assert run("--help", home=tmp_path, columns="200").stdout == HELP[""]


@pytest.mark.parametrize("args", [["--version"], ["version"], ["version", "-o", "json", "--client"]])
def test_version_starts_without_typer(args, tmp_path):
    r = run(*args, home=tmp_path, probe=True)
    assert r.returncode == 0 and loaded(r) == "loaded: []"


def test_check_starts_without_typer(tmp_path):
    key_file = write_key_file(tmp_path / "age.agekey", new_age_key())
    (tmp_path / "repo").mkdir()
    r = run("check", str(tmp_path / "repo"), "--age-key-file", str(key_file), "-o", "json", home=tmp_path, probe=True)
    assert r.returncode == 0 and loaded(r) == "loaded: []"


def test_what_the_fast_paths_do_not_know_goes_to_typer(tmp_path):
    r = run("check", "--age-key-file", home=tmp_path, probe=True)
    assert r.returncode == 2 and "typer" in loaded(r)
    assert "error: Option '--age-key-file' requires an argument." in r.stderr
