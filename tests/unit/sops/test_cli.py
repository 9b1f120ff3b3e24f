"""`dr-bootstrap decrypt` and `check` as a user runs them: exit codes, one-line errors, clean stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sops import encrypt_bytes, write_key_file

DOTENV = b"# comment\nPASSWORD=hunter2\nUSER=admin\n"


def run(*args: str, home: Path, env: dict | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    clean.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "200"})
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, env=clean,
                          input=stdin, timeout=60)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def repo(tmp_path_factory, keys):
    root = tmp_path_factory.mktemp("cli")
    (root / "app.env").write_bytes(encrypt_bytes(DOTENV, "dotenv", [keys.one.recipient]))
    (root / "secret.yaml").write_bytes(encrypt_bytes(b"stringData:\n  password: hunter2\n", "yaml",
                                                     [keys.one.recipient]))
    return root


def test_decrypt_prints_only_the_plaintext(repo, keys, tmp_path):
    key_file = keys.file(keys.one)
    result = run("decrypt", str(repo / "app.env"), "--age-key-file", str(key_file), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == DOTENV and result.stderr == b""


def test_decrypt_with_key_from_environment_and_output_type(repo, keys, tmp_path):
    result = run("decrypt", str(repo / "secret.yaml"), "--output-type", "json", home=tmp_path,
                 env={"SOPS_AGE_KEY_FILE": str(keys.file(keys.one))})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"stringData": {"password": "hunter2"}}


def test_decrypt_key_from_stdin(repo, keys, tmp_path):
    result = run("decrypt", str(repo / "app.env"), "--age-key-file", "-", home=tmp_path,
                 stdin=keys.file(keys.one).read_bytes())
    assert result.returncode == 0 and result.stdout == DOTENV


def test_wrong_key_exits_4_with_one_line(repo, keys, tmp_path):
    result = run("decrypt", str(repo / "app.env"), "--age-key-file", str(keys.file(keys.stranger)), home=tmp_path)
    assert result.returncode == 4 and result.stdout == b""
    line = one_line_error(result)
    assert "app.env: no identity matches" in line and keys.stranger.recipient in line
    assert "hunter2" not in result.stderr.decode()


def test_mac_mismatch_exits_4_and_ignore_mac_warns(repo, keys, tmp_path):
    tampered = tmp_path / "tampered.env"
    tampered.write_bytes((repo / "app.env").read_bytes() + b"EXTRA_unencrypted=added\n")
    key = str(keys.file(keys.one))
    result = run("decrypt", str(tampered), "--age-key-file", key, home=tmp_path)
    assert result.returncode == 4 and "MAC mismatch" in one_line_error(result)
    result = run("decrypt", str(tampered), "--age-key-file", key, "--ignore-mac", home=tmp_path)
    assert result.returncode == 0 and b"EXTRA_unencrypted=added" in result.stdout
    assert b"--ignore-mac: the MAC of" in result.stderr


@pytest.mark.parametrize(("args", "code"), [
    (["decrypt", "/nonexistent/file.yaml", "--age-key-file", "{key}"], 2),
    (["decrypt", "{repo}/app.env", "--age-key-file", "{key}", "--output-type", "toml"], 2),
    (["decrypt", "{repo}/app.env", "--age-key-file", "/nonexistent/key.txt"], 4),
    (["decrypt", "{repo}/app.env", "--no-such-flag"], 2),
    (["check", "{repo}", "--age-key-file", "{key}", "--output", "xml"], 2),
])
def test_error_exit_codes(repo, keys, tmp_path, args, code):
    filled = [a.format(repo=repo, key=keys.file(keys.one)) for a in args]
    result = run(*filled, home=tmp_path)
    assert result.returncode == code, result.stderr
    assert b"Traceback" not in result.stderr and result.stdout == b""


def test_decrypt_help_goes_through_typer(tmp_path):
    result = run("decrypt", "--help", home=tmp_path)
    assert result.returncode == 0 and b"--ignore-mac" in result.stdout


def test_check_passes_on_a_clean_tree(repo, keys, tmp_path):
    result = run("check", str(repo), "--age-key-file", str(keys.file(keys.one)), "--output", "json", home=tmp_path)
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["ok"] and report["key"]["recipients"] == [keys.one.recipient]
    assert {Path(f["path"]).name: (f["recipientMatch"], f["decrypts"], f["macOk"]) for f in report["files"]} == {
        "app.env": (True, True, True), "secret.yaml": (True, True, True)}


def test_check_finds_every_problem_and_never_prints_the_key(repo, keys, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("app.env", "secret.yaml"):
        (tree / name).write_bytes((repo / name).read_bytes())
    (tree / "other.yaml").write_bytes(encrypt_bytes(b"data:\n  x: y\n", "yaml", [keys.two.recipient]))
    (tree / "tampered.env").write_bytes((repo / "app.env").read_bytes() + b"NEW_unencrypted=1\n")
    (tree / "plain-secret.yaml").write_text("apiVersion: v1\nkind: Secret\nstringData:\n  a: b\n")
    (tree / "deploy.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\n")
    write_key_file(tree / "leaked.agekey", keys.three)
    (tree / ".sops.yaml").write_text("creation_rules:\n  - path_regex: \\.(env|yaml)$\n    age: x\n")
    result = run("check", str(tree), "--age-key-file", str(keys.file(keys.one)), "--output", "json", home=tmp_path)
    assert result.returncode == 1
    assert keys.three.identity not in result.stdout.decode() and "AGE-SECRET-KEY-1" not in result.stdout.decode()
    report = json.loads(result.stdout)
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert (files["other.yaml"]["recipientMatch"], files["other.yaml"]["decrypts"]) == (False, False)
    assert (files["tampered.env"]["decrypts"], files["tampered.env"]["macOk"]) == (True, False)
    assert files["app.env"]["problem"] is None
    findings = {(Path(f["path"]).name, f["kind"]) for f in report["findings"]}
    assert findings == {("plain-secret.yaml", "plaintext-secret"), ("leaked.agekey", "committed-age-key")}
    table = run("check", str(tree), "--age-key-file", str(keys.file(keys.one)), home=tmp_path)
    assert table.returncode == 1 and keys.one.recipient.encode() in table.stdout
    assert b"AGE-SECRET-KEY-1" not in table.stdout + table.stderr
