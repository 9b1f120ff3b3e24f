"""What `dr-bootstrap check` prints: exact camelCase keys, counts in the summary, whole lines in CI logs,
warnings on stderr in every format."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bootstrap.commands.check_output import run_check
from tests.support.sops import encrypt_bytes, new_age_key, write_key_file

DEEP = "/".join(["a-rather-long-directory-name-for-a-cluster-overlay"] * 5)  # ~260 characters of path


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A checkout with one file of each kind of problem, and one good file far down a long path."""
    root = tmp_path_factory.mktemp("check-output")
    key, other = new_age_key(), new_age_key()
    repo = root / "repo"
    (repo / DEEP).mkdir(parents=True)
    (repo / DEEP / "db.enc.yaml").write_bytes(encrypt_bytes(b"stringData:\n  password: hunter2\n", "yaml", [key.recipient]))
    (repo / "other.enc.yaml").write_bytes(encrypt_bytes(b"data:\n  x: y\n", "yaml", [other.recipient]))
    tampered = encrypt_bytes(b"A=1\n", "dotenv", [key.recipient]) + b"B_unencrypted=2\n"
    (repo / "tampered.env").write_bytes(tampered)
    (repo / "plain-secret.yaml").write_text("apiVersion: v1\nkind: Secret\nstringData:\n  a: b\n")
    # the repo's own rule says the plaintext Secret must be encrypted: an error, not a warning
    (repo / ".sops.yaml").write_text("creation_rules:\n  - path_regex: (secret|\\.enc)\\.yaml$\n    age: x\n")
    write_key_file(repo / "leaked.agekey", new_age_key())
    return {"repo": repo, "key": key, "other": other,
            "key_file": write_key_file(root / "age.agekey", key),
            "open_key_file": write_key_file(root / "open.agekey", key, mode=0o640)}


def check(tree, output: str, key: str = "key_file") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_check([str(tree["repo"])], str(tree[key]), output, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_") and k != "COLUMNS"}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True, env=env, timeout=120)


def test_json_keys_are_camel_case_and_exactly_these(tree):
    code, out, err = check(tree, "json")
    doc = json.loads(out)
    assert code == 1 and err == ""
    assert list(doc) == ["ok", "summary", "key", "files", "findings", "warnings", "fluxSource"]
    assert list(doc["key"]) == ["recipients", "source"]
    assert {tuple(f) for f in doc["files"]} == {
        ("path", "format", "recipients", "recipientMatch", "decrypts", "macOk", "kustomizations", "decryption",
         "problem", "note")}
    assert {tuple(f) for f in doc["findings"]} == {("path", "kind", "severity", "detail")}
    files = {Path(f["path"]).name: f for f in doc["files"]}
    assert (files["other.enc.yaml"]["recipientMatch"], files["other.enc.yaml"]["decrypts"]) == (False, False)
    assert (files["tampered.env"]["decrypts"], files["tampered.env"]["macOk"]) == (True, False)


def test_yaml_is_the_same_document(tree):
    assert yaml.safe_load(check(tree, "yaml")[1]) == json.loads(check(tree, "json")[1])


def test_the_summary_counts_files_and_problems(tree):
    summary = "3 SOPS files, 4 problems: 1 not encrypted for this key, 1 MAC mismatch, 1 committed age key, 1 plaintext secret"
    code, out, _ = check(tree, "human")
    assert code == 1 and out.splitlines()[-1] == summary
    assert json.loads(check(tree, "json")[1])["summary"] == summary


def test_a_clean_tree_says_so_in_one_line(tree, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "db.enc.yaml").write_bytes((tree["repo"] / DEEP / "db.enc.yaml").read_bytes())
    out = io.StringIO()
    assert run_check([str(good)], str(tree["key_file"]), "human", stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().splitlines()[-1] == "1 SOPS file, no problems"


def test_a_problem_does_not_repeat_the_file_name(tree):
    doc = json.loads(check(tree, "json")[1])
    problems = [(f["path"], f["problem"]) for f in doc["files"] if f["problem"]]
    assert len(problems) == 2
    for path, problem in problems:
        assert Path(path).name not in problem, problem
    _, out, _ = check(tree, "human")
    for path, problem in problems:
        [row] = [line for line in out.splitlines() if path in line]
        assert row.count(Path(path).name) == 1 and row.endswith(problem)


def test_non_tty_output_keeps_long_paths_and_recipients_on_one_line(tree, tmp_path):
    r = run("check", str(tree["repo"]), "--age-key-file", str(tree["key_file"]), home=tmp_path)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert any(str(tree["repo"] / DEEP / "db.enc.yaml") in line for line in lines)  # ~300 characters, whole
    assert f"  recipient: {tree['key'].recipient}" in lines
    [row] = [line for line in lines if "other.enc.yaml" in line]
    assert tree["other"].recipient in row and tree["key"].recipient in row  # the cause names both, unbroken


@pytest.mark.parametrize("output", ["json", "yaml", "human"])
def test_an_unprotected_key_warns_on_stderr_whatever_the_output(tree, tmp_path, output):
    r = run("check", str(tree["repo"]), "--age-key-file", str(tree["open_key_file"]), "-o", output, home=tmp_path)
    assert r.returncode == 1
    [warning] = r.stderr.splitlines()
    assert warning == (f"warning: UNPROTECTED KEY FILE: {tree['open_key_file']} is accessible by group/others "
                       f"(mode 0640); run: chmod 600 {tree['open_key_file']}")
    assert "\x1b[" not in r.stderr  # plain, not dimmed
    assert not any(line.lower().startswith("warning:") for line in r.stdout.splitlines())
    if output != "human":  # stdout stays one document a machine reads; it lists the warning as data
        doc = json.loads(r.stdout) if output == "json" else yaml.safe_load(r.stdout)
        assert len(doc["warnings"]) == 1 and "UNPROTECTED KEY FILE" in doc["warnings"][0]
