"""What a run hides, end to end (`dr-bootstrap plan` of a Flux repository, offline, at the most verbose output,
with --report and --junit): what came out of SOPS decryption and what substitution built from it; never text
anyone can read in the repository (bootstrap.scrub's rule).

The repository is the issue's: an app named `immich` (a Kustomization `default/immich`, a HelmRelease, files
under apps/immich/) beside a plaintext Secret holding `immich`, and a decrypted `cluster-secrets` whose values
are substituted into the app, one of them into a name (`${SECRET_DOMAIN/./-}-tls`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


from tests.support.fluxrepos import configmap, dump, flux_ks, git_repository, kustomization, write_repo
from tests.support.sops import new_age_key, write_key_file

DOMAIN = "hush-7c1e0d.example"
DOMAIN_NAME = "hush-7c1e0d-example-tls"  # what ${SECRET_DOMAIN/./-}-tls makes of it
PASSWORD = "Dec-4f1c9e2a-Quokka"
SECRETS = (DOMAIN, DOMAIN_NAME, PASSWORD)
SOPS = {"provider": "sops", "secretRef": {"name": "sops-age"}}


def helm_release(values: dict) -> dict:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "immich", "namespace": "default"},
            "spec": {"interval": "30m", "chart": {"spec": {"chart": "immich", "sourceRef": {
                "kind": "HelmRepository", "name": "immich", "namespace": "flux-system"}}}, "values": values}}


def secret(name: str, namespace: str = "default", **fields) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, **fields}


def files(*, broken: bool = False) -> dict[str, str]:
    tls = secret("${SECRET_DOMAIN/./-}-tls", type="Opaque",
                 data={"tls.crt": "not base64!!" if broken else "Y2VydA=="})
    return {
        "clusters/prod/flux.yaml": dump(
            git_repository(),
            flux_ks("cluster-vars", "./cluster/vars", decryption=SOPS),
            flux_ks("immich", "./apps/immich", namespace="default", source_namespace="flux-system",
                    decryption=SOPS,
                    dependsOn=[{"name": "cluster-vars", "namespace": "flux-system"}],
                    postBuild={"substituteFrom": [{"kind": "Secret", "name": "cluster-secrets"}]})),
        "cluster/vars/kustomization.yaml": kustomization(resources=["cluster-secrets.sops.yaml"]),
        "cluster/vars/cluster-secrets.sops.yaml": dump(secret("cluster-secrets", stringData={
            "SECRET_DOMAIN": DOMAIN, "SECRET_DB_PASSWORD": PASSWORD, "SECRET_DB_USER": "immich"})),
        "apps/immich/kustomization.yaml": kustomization(resources=["helmrelease.yaml", "db.yaml", "tls.yaml",
                                                                    "settings.yaml"]),
        "apps/immich/helmrelease.yaml": dump(helm_release({
            "ingress": {"host": "immich.${SECRET_DOMAIN}"}, "db": {"password": "${SECRET_DB_PASSWORD}"}})),
        "apps/immich/db.yaml": dump(secret("immich-db", stringData={"username": "immich", "database": "immich"})),
        "apps/immich/tls.yaml": dump(tls),
        "apps/immich/settings.yaml": dump(configmap("immich-settings", {"user": "${SECRET_DB_USER}"}, "default")),
    }


def plan(tmp_path: Path, *, broken: bool = False) -> tuple[subprocess.CompletedProcess, dict, str]:
    key = new_age_key()
    repo = write_repo(tmp_path / "repo", files(broken=broken), lambda rel: [key.recipient]).path
    key_file = write_key_file(tmp_path / "age.agekey", key)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "KUBECONFIG", "DR_BOOTSTRAP_"))}
    env.update(DR_BOOTSTRAP_DEBUG="1", NO_COLOR="1", COLUMNS="200", HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-m", "bootstrap", "plan", str(repo), "--path", "clusters/prod", "-k", "all",
         "--age-key-file", str(key_file), "-v", "--report", str(tmp_path / "report.json"),
         "--junit", str(tmp_path / "report.xml")],
        capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
    return done, json.loads((tmp_path / "report.json").read_text()), (tmp_path / "report.xml").read_text()


def test_public_names_stay_readable_decrypted_values_and_names_built_from_them_do_not(tmp_path):
    done, report, junit = plan(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for text in (done.stdout, done.stderr, json.dumps(report), junit):
        for value in SECRETS:
            assert value not in text
    out = done.stdout
    # the app's phase, kinds, names and paths, which anyone reads in the repository, are not masked
    assert "default/immich" in out and "apps/immich" in out
    assert "HelmRelease/default/immich" in out and "Secret/default/immich-db" in out
    records = {(o["phase"], o["kind"], o["namespace"], o["name"]) for o in report["objects"]}
    assert ("default/immich", "HelmRelease", "default", "immich") in records
    assert ("default/immich", "Secret", "default", "immich-db") in records
    assert ("default/immich", "ConfigMap", "default", "immich-settings") in records
    # the name substitution built from the decrypted domain is
    assert ("default/immich", "Secret", "default", "<redacted>") in records
    assert "Secret/default/<redacted>" in out
    assert "<redacted>" not in json.dumps([o for o in report["objects"] if o["name"] != "<redacted>"])
    assert {o["source"] for o in report["objects"] if o["phase"] == "default/immich"} == {
        "apps/immich/helmrelease.yaml", "apps/immich/db.yaml", "apps/immich/tls.yaml", "apps/immich/settings.yaml"}
    assert len(records) == len(report["objects"])  # no two objects collide under one masked name


def test_an_error_naming_a_secret_name_masks_it(tmp_path):
    done, report, junit = plan(tmp_path, broken=True)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "Secret/default/<redacted>" in done.stderr and "not valid base64" in done.stderr
    for text in (done.stdout, done.stderr, json.dumps(report), junit):
        for value in SECRETS:
            assert value not in text
    assert "default/immich" in done.stdout
