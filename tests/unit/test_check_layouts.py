"""`check` on every common layout of a Flux repository exits 0 when the repository is clean (files encrypted by
the real sops at test time), and 1 on each finding that would break a restore or leak a secret."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import checkrepos, fluxrepos
from tests.support.sops import new_age_key, write_key_file


def check(repo, key_file, *args: str) -> tuple[int, dict, str]:
    done = subprocess.run([sys.executable, "-m", "bootstrap", "check", str(repo), "--age-key-file", str(key_file),
                           "-o", "json", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("check-key") / "age.agekey", age)


def by_file(doc: dict) -> dict[str, dict]:
    return {f["path"].split("/repo/", 1)[1]: f for f in doc["files"]}


def test_three_clusters_with_same_named_kustomizations_are_each_mapped(tmp_path, key):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", checkrepos.clusters(), lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["findings"] == [], (doc, err)
    files = by_file(doc)
    for name in ("dev", "staging", "prod"):
        entry = files[f"apps/{name}/shop/web/app/secret.sops.yaml"]
        assert entry["kustomizations"] == [f"shop/web (clusters/{name})"] and entry["decryption"] is True, entry
        assert entry["note"] is None, entry


def test_cluster_template_of_today_passes(tmp_path, key):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", checkrepos.cluster_template_operator("home.example.org"),
                                lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["findings"] == [], (doc, err)
    files = by_file(doc)
    assert files["kubernetes/apps/default/echo/app/secret.sops.yaml"]["kustomizations"] == ["default/echo"]
    assert all(f["decryption"] is True for f in doc["files"]), doc["files"]
