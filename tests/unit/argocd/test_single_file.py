"""`--path` naming one file: the secret-zero files a repository's bootstrap applies with
`sops -d FILE | kubectl apply -f -` (issue 29), rendered offline by `plan` as sops -d would give them."""

from __future__ import annotations

import yaml

from tests.integration.conftest import build_repo, run_cli
from tests.support.argocdrepos import render, sops_plain
from tests.support.sops import new_age_key, write_key_file

SECRETS = """\
apiVersion: v1
kind: Secret
metadata:
  name: vault-token
  namespace: external-secrets
stringData:
  token: s3cr3t-zero-token-value
---
apiVersion: v1
kind: Secret
metadata:
  name: repo-creds
  namespace: argocd
  labels:
    argocd.argoproj.io/secret-type: repository
stringData:
  url: https://git.example.com/org/cluster.git
  password: repo-password-value
"""


def _repo(tmp_path):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    files = {"bootstrap/secrets.sops.yaml": SECRETS, "bootstrap/plain.yaml": "apiVersion: v1\nkind: Namespace\n"
             "metadata:\n  name: argocd\n", "apps/README.md": "x\n"}
    return build_repo(tmp_path / "repo", files, key, key_file)


def test_a_single_sops_file_is_planned_as_sops_decrypt_gives_it(tmp_path):
    repo = _repo(tmp_path)
    report = tmp_path / "report.json"
    result = run_cli("plan", str(repo.path), "--age-key-file", str(repo.key_file), "--path", "bootstrap/plain.yaml",
                     "--path", "bootstrap/secrets.sops.yaml", "--report", str(report))
    assert result.code == 0, result
    assert "Secret/argocd/repo-creds  <- bootstrap/secrets.sops.yaml" in result.stdout, result
    assert "Namespace/argocd  <- bootstrap/plain.yaml" in result.stdout, result
    assert "repo-password-value" not in result.stdout + result.stderr + report.read_text()


def test_the_objects_are_what_sops_decrypt_gives(tmp_path):
    repo = _repo(tmp_path)
    rendered = render(repo.path, repo.key_file, engine="flux", paths=("bootstrap/secrets.sops.yaml",))
    expected = [d for d in yaml.safe_load_all(sops_plain(repo.path / "bootstrap/secrets.sops.yaml", repo.key_file))]
    ours = [m.body for m in rendered.manifests]
    for body in ours:  # Flux's owner-free entry path: nothing added but what kustomize-controller normalises
        assert "sops" not in body
    assert ours == expected


def test_a_missing_single_file_is_exit_3(tmp_path):
    repo = _repo(tmp_path)
    result = run_cli("plan", str(repo.path), "--age-key-file", str(repo.key_file), "--path", "bootstrap/nope.sops.yaml")
    assert result.code == 3, result
    assert "bootstrap/nope.sops.yaml" in result.stderr


def test_a_single_file_that_is_not_a_manifest_is_refused(tmp_path):
    repo = _repo(tmp_path)
    result = run_cli("plan", str(repo.path), "--age-key-file", str(repo.key_file), "--path", "apps/README.md")
    assert result.code == 4, result
    assert "apps/README.md" in result.stderr and "not a manifest file" in result.stderr
    assert "Traceback" not in result.stderr
