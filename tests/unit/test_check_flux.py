"""`check` on Flux trees shaped like real public repos (files encrypted by the real sops at test time): exit 0
on a clean repo, each encrypted file named with the Kustomization that renders it and whether that one
decrypts; an encrypted file applied by a Kustomization without `decryption` is the finding."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import fluxrepos
from tests.support.sops import new_age_key, write_key_file


def check(repo, key_file) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "bootstrap", "check", str(repo), "--age-key-file", str(key_file),
                           "-o", "json"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("check-key") / "age.agekey", age)


def test_a_clean_cluster_template_repo_passes_and_each_file_names_its_kustomization(tmp_path, key):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", fluxrepos.cluster_template("home.example.org"),
                                lambda rel: [age.recipient])
    code, doc = check(repo.path, key_file)
    assert code == 0 and doc["ok"] and doc["findings"] == [], doc
    assert doc["fluxSource"] == "flux-system/home-kubernetes"
    by_file = {f["path"].split("/repo/", 1)[1]: f for f in doc["files"]}
    assert by_file["kubernetes/flux/vars/cluster-secrets.sops.yaml"]["kustomizations"] == ["flux-system/cluster"]
    # echo's ks.yaml has no metadata.namespace (its namespace's kustomization sets it) and gets `decryption`
    # only from cluster-apps' patch: the Kustomization Flux applies is network/echo, with decryption, and
    # no `default/echo` (the file as written) is invented
    assert by_file["kubernetes/apps/network/echo/app/secret.sops.yaml"]["kustomizations"] == ["network/echo"]
    assert not [k for f in doc["files"] for k in f["kustomizations"] if k.startswith("default/")], doc["files"]
    assert all(f["decryption"] is True and f["macOk"] for f in doc["files"])


def test_check_without_any_kustomize_warns_and_still_checks_every_file(tmp_path, key, monkeypatch):
    # Flux Kustomizations in the tree, no kustomize to render them: a warning, not a crash (a frozen report
    # was once patched here, FrozenInstanceError); every SOPS file is still opened and verified.
    from bootstrap.commands import check as checking
    from bootstrap.errors import UsageError
    from bootstrap.kustomize import kustomizer
    from bootstrap.stages.keys import load_keyring

    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", fluxrepos.cluster_template("home.example.org"),
                                lambda rel: [age.recipient])

    def none(explicit=None):
        raise UsageError("no kustomize found")

    monkeypatch.setattr(kustomizer, "find_kustomizer", none)
    report = checking.check_paths([str(repo.path)], load_keyring(str(key_file)))
    assert report.warnings == ("no kustomize found: not checked which Flux Kustomization renders each file",)
    assert report.ok and len(report.files) == 3 and all(f.mac_ok for f in report.files)


def test_a_clean_kustomize_helm_example_passes(tmp_path, key):
    # substituteFrom and ExternalSecret-like references to Secrets are no "looks like a secret"
    age, key_file = key
    files = fluxrepos.kustomize_helm_example()
    files.pop("legacy/kms-only.enc.yaml")  # the KMS-only stand-in: no key here opens it (a real finding)
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    code, doc = check(repo.path, key_file)
    assert code == 0, doc


def test_an_encrypted_file_under_a_kustomization_without_decryption_is_the_finding(tmp_path, key):
    age, key_file = key
    files = {
        "clusters/prod/flux-system/gotk-sync.yaml": fluxrepos.dump(
            fluxrepos.git_repository(), fluxrepos.flux_ks("flux-system", "./clusters/prod"),
            fluxrepos.flux_ks("apps", "./apps")),
        "apps/db.sops.yaml": fluxrepos.dump(fluxrepos.secret("db", {"password": "pw-1234567"}, "shop")),
    }
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    code, doc = check(repo.path, key_file)
    assert code == 1
    (entry,) = doc["files"]
    assert entry["kustomizations"] == ["flux-system/apps"] and entry["decryption"] is False
    assert any("decryption" in str(f) for f in doc["findings"] + [entry["problem"]]), doc
