"""Offline, a kind that is neither built in nor defined by a CRD in the set (a ClusterIssuer whose CRD a
HelmRelease installs) has an unknown scope: `plan` keeps it as written, without a namespace, as the real
`flux build kustomization --dry-run` (v2.9.5) and kustomize do, and says the scope is unknown until the CRD is
seen (plan lines, `-o json` messages, a warning on stderr)."""

from __future__ import annotations

import json

import yaml

from bootstrap.stages.order import SCOPE_UNKNOWN
from tests.integration.conftest import run_cli
from tests.support import fluxrepos
from tests.support.flux import run_flux
from tests.support.sops import new_age_key, write_key_file

ISSUER = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt"},
          "spec": {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory",
                            "privateKeySecretRef": {"name": "letsencrypt"}}}}


def repo_files() -> dict[str, str]:
    return {
        "clusters/main/kustomization.yaml": fluxrepos.kustomization(resources=["./sync.yaml"]),
        "clusters/main/sync.yaml": fluxrepos.dump(fluxrepos.git_repository(),
                                                  fluxrepos.flux_ks("issuers", "./infra/issuers")),
        "infra/issuers/kustomization.yaml": fluxrepos.kustomization(resources=["./issuer.yaml"]),
        "infra/issuers/issuer.yaml": fluxrepos.dump(ISSUER),
    }


def test_an_unknown_cluster_scoped_kind_keeps_no_namespace_offline(tmp_path):
    repo = fluxrepos.write_repo(tmp_path / "repo", repo_files(), lambda rel: [])
    key_file = write_key_file(tmp_path / "age.agekey", new_age_key())
    ks = tmp_path / "issuers.json"
    ks.write_text(json.dumps(fluxrepos.flux_ks("issuers", "./infra/issuers")))
    theirs = [doc for doc in yaml.safe_load_all(run_flux(
        "build", "kustomization", "issuers", "--namespace", "flux-system", "--path", str(repo.path / "infra/issuers"),
        "--kustomization-file", str(ks), "--dry-run").stdout) if doc]
    their_issuer = next(doc for doc in theirs if doc["kind"] == "ClusterIssuer")
    assert "namespace" not in their_issuer["metadata"]

    done = run_cli("plan", str(repo.path), "--path", "clusters/main", "-k", "all", "--age-key-file", str(key_file),
                   "--output", "json")
    assert done.code == 0, done
    objects = {(o["kind"], o["name"]): o for o in json.loads(done.stdout)["objects"]}
    issuer = objects[("ClusterIssuer", "letsencrypt")]
    assert issuer["namespace"] == "" and SCOPE_UNKNOWN in issuer["message"], issuer
    assert ("Namespace", "default") not in objects  # nothing planned into `default` for the issuer's sake
    assert "ClusterIssuer/letsencrypt" in done.stderr and "scope unknown" in done.stderr, done.stderr

    text = run_cli("plan", str(repo.path), "--path", "clusters/main", "-k", "all", "--age-key-file", str(key_file))
    assert text.code == 0, text
    line = next(line for line in text.stdout.splitlines() if "ClusterIssuer" in line)
    assert line.split()[0] == "ClusterIssuer/letsencrypt" and SCOPE_UNKNOWN in line, line
