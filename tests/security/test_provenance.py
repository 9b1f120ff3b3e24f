"""Git provenance: commits signed with SSH keys made at test time, checked against an allowed signers file.

Unit tests call `verify_commit` on real repos; the CLI tests check that a refusal comes before any
decryption (a wrong age key would fail later) and that the signer lands in the JSON report.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.errors import ExitCode, UsageError
from bootstrap.stages.provenance import ProvenanceError, Signer, verify_commit
from tests.security.conftest import clean_env, git, run_cli
from tests.support.sops import new_age_key, write_key_file


@dataclass(frozen=True)
class SshKey:
    private: Path
    public: str  # "ssh-ed25519 AAAA…"
    fingerprint: str  # "SHA256:…"


def ssh_key(directory: Path, name: str) -> SshKey:
    private = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)], check=True)
    public = " ".join(private.with_suffix(".pub").read_text().split()[:2])
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(private.with_suffix(".pub"))], check=True, capture_output=True, text=True)
    return SshKey(private, public, out.stdout.split()[1])


def commit(repo: Path, name: str, signer: SshKey | None = None) -> str:
    (repo / name).write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: signed}\n")
    git(repo, "add", name)
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={signer.private}", "commit", "-S"] if signer else ["commit"]
    git(repo, *sign, "-q", "-m", f"add {name}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def keys(tmp_path):
    (tmp_path / "keys").mkdir()
    alice, mallory = ssh_key(tmp_path / "keys", "alice"), ssh_key(tmp_path / "keys", "mallory")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"# who may sign restores\nalice@example.invalid {alice.public}\n")
    return alice, mallory, allowed


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def test_an_allowed_signer_is_returned_with_the_key_fingerprint(repo, keys):
    alice, _, allowed = keys
    sha = commit(repo, "a.yaml", alice)
    assert verify_commit(repo, sha, allowed) == Signer("alice@example.invalid", alice.fingerprint)
    assert str(Signer("p", "SHA256:x")) == "p (SHA256:x)"


def test_an_unsigned_commit_is_refused(repo, keys):
    sha = commit(repo, "a.yaml")
    with pytest.raises(ProvenanceError, match=rf"^commit {sha[:12]}: not signed") as info:
        verify_commit(repo, sha, keys[2])
    assert info.value.exit_code == ExitCode.INVALID


def test_a_key_missing_from_the_allowed_signers_is_refused_naming_it(repo, keys):
    _, mallory, allowed = keys
    sha = commit(repo, "a.yaml", mallory)
    with pytest.raises(ProvenanceError, match=re.escape(f"commit {sha[:12]}: signed by key {mallory.fingerprint}, which is not in")):
        verify_commit(repo, sha, allowed)


def test_a_commit_changed_after_signing_is_a_bad_signature(repo, keys):
    alice, _, allowed = keys
    sha = commit(repo, "a.yaml", alice)
    raw = subprocess.run(["git", "cat-file", "commit", sha], cwd=repo, capture_output=True, check=True).stdout
    forged = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo, check=True, capture_output=True,
                            input=raw.replace(b"add a.yaml", b"add b.yaml")).stdout.decode().strip()
    with pytest.raises(ProvenanceError, match=rf"commit {forged[:12]}: bad signature"):
        verify_commit(repo, forged, allowed)


def test_an_unusable_allowed_signers_file_is_a_usage_error(repo, keys, tmp_path):
    sha = commit(repo, "a.yaml", keys[0])
    with pytest.raises(UsageError, match="cannot read the allowed signers file"):
        verify_commit(repo, sha, tmp_path / "missing")
    (tmp_path / "empty").write_text("# nobody\n")
    with pytest.raises(UsageError, match="lists no signer"):
        verify_commit(repo, sha, tmp_path / "empty")


def test_refusal_comes_before_decryption_with_one_line_and_exit_4(repo, keys, tmp_path):
    """The age key here is wrong for nothing and unreadable anyway: provenance must fail first, on its own terms."""
    commit(repo, "a.yaml", keys[1])
    key_file = write_key_file(tmp_path / "age.agekey", new_age_key())
    result = run_cli("plan", f"file://{repo}", "--age-key-file", str(key_file), "--verify-signatures", str(keys[2]),
                     "--kubeconfig", str(tmp_path / "no-cluster"), env=clean_env(tmp_path / "home"))
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "which is not in the allowed signers file" in result.stderr and "Traceback" not in result.stderr
    assert "phase decrypt" not in result.stdout


@pytest.mark.cluster
def test_an_allowed_signer_is_in_the_report_and_the_progress(repo, keys, tmp_path, local_cluster):
    alice, _, allowed = keys
    sha = commit(repo, "a.yaml", alice)
    key_file = write_key_file(tmp_path / "age.agekey", new_age_key())
    report = tmp_path / "plan.json"
    result = run_cli("plan", f"file://{repo}", "--age-key-file", str(key_file), "--verify-signatures", str(allowed),
                     "--kubeconfig", str(local_cluster.kubeconfig), "--report", str(report), env=clean_env(tmp_path / "home"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"commit {sha[:12]} signed by alice@example.invalid ({alice.fingerprint})" in result.stdout
    doc = json.loads(report.read_text())
    assert doc["signer"] == {"principal": "alice@example.invalid", "fingerprint": alice.fingerprint}
    assert doc["commit"] == sha
    assert [p["name"] for p in doc["phases"]][:2] == ["clone", "verify-signature"]
