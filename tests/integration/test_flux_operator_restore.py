"""A restore whose Flux comes from flux-operator, end to end on the local cluster (the real operator built by
data/flux-operator.sh, the real Flux controllers as host processes, a real Git server).

The repository: `bootstrap/` holds the operator's CRDs (what its chart installs), the flux-system namespace
and a FluxInstance whose `spec.sync` points at the Git server (`path: kubernetes/flux/cluster`) and whose
patches give kustomize-controller `--sops-age-secret=sops-age`; `kubernetes/flux/cluster/ks.yaml` holds
`cluster-apps` (decryption provider sops, no secretRef) over an app with a SOPS Secret. `restore --path
bootstrap --wait-gitops`: the plan finds the root in the FluxInstance (left to the operator), the key goes to
flux-system/sops-age, the hand-over waits for the FluxInstance to be Ready (the operator installs Flux and
creates the root), then Flux reconciles cluster-apps from Git and decrypts the app's Secret with the default
age Secret. (`--path kubernetes/flux/cluster` in the same run would need Flux's CRDs before the operator has
installed them: refused before any write, "no CRD defines Kustomization"; the Helm stage's flux-instance
release is what installs them first.) (The host-process kustomize-controller gets the flag the patch
gives the operator's Deployment: LocalCluster(flux_args=…).)
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from drb_localcluster import fluxoperator
from tests.integration.conftest import read_json, run_cli
from tests.support.fluxrepos import dump, flux_ks, write_repo
from tests.support.gitserver import GitHttpServer, publish
from tests.support.operatorrepos import PATCHES
from tests.support.sops import new_age_key, write_key_file

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
NS = "flux-system"
APP_SECRET = "app-secret-" + "4b1d7e"


def repo_files(url: str, operator_dir: Path) -> dict[str, str]:
    files = {f"bootstrap/crds/{p.name}": p.read_text()
             for p in sorted(fluxoperator.crd_dir(operator_dir).glob("*.yaml"))}
    files["bootstrap/namespace.yaml"] = dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    files["bootstrap/flux-instance.yaml"] = dump({
        "apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance", "metadata": {"name": "flux", "namespace": NS},
        "spec": {"distribution": {"version": "2.9.x", "registry": "ghcr.io/fluxcd"},
                 "components": ["source-controller", "kustomize-controller", "helm-controller"],
                 "cluster": {"networkPolicy": False},
                 "kustomize": {"patches": PATCHES},
                 "sync": {"kind": "GitRepository", "url": url, "ref": "refs/heads/main",
                          "path": "kubernetes/flux/cluster", "interval": "1m"}}})
    files["kubernetes/flux/cluster/ks.yaml"] = dump(flux_ks("cluster-apps", "./kubernetes/apps",
                                                            decryption={"provider": "sops"}, timeout="2m"))
    files["kubernetes/apps/namespace.yaml"] = dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    files["kubernetes/apps/secret.sops.yaml"] = dump({"apiVersion": "v1", "kind": "Secret",
                                                      "metadata": {"name": "app", "namespace": "apps"},
                                                      "stringData": {"token": APP_SECRET}})
    return files


def test_restore_hands_over_to_flux_operator_which_installs_flux(tmp_path, operator_cluster, operator_dir):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    with GitHttpServer(tmp_path / "srv") as git:
        url = git.url("fleet.git")
        repo = write_repo(tmp_path / "work", repo_files(url, operator_dir), lambda rel: [key.recipient])
        publish(repo.path, tmp_path / "srv", "fleet.git")
        report = tmp_path / "report.json"
        done = run_cli("restore", url, "--yes", "--path", "bootstrap",
                       "--age-key-file", str(key_file), "--kubeconfig", str(operator_cluster.kubeconfig),
                       "--wait-gitops", "--timeout", "420", "--report", str(report), timeout=900)
        if done.code != 0:
            print((operator_cluster.dir / "logs" / "flux-operator.log").read_text()[-5000:])
        assert done.code == 0, done
        out = done.stdout + done.stderr
        assert "flux-operator makes GitRepository flux-system/flux-system" in out
        assert "FluxInstance flux-system/flux Ready after" in out
        data = read_json(report)
        phases = list(dict.fromkeys(o["phase"] for o in data["objects"]))
        assert [p for p in phases if p.endswith(": apply")] == ["bootstrap: apply"]
        gitops = {(o["kind"], o["name"]) for o in data["objects"] if o["phase"] == "gitops" and o["status"] == "Current"}
        assert {("FluxInstance", "flux"), ("Kustomization", "flux-system"), ("Kustomization", "cluster-apps")} <= gitops
        with Cluster(str(operator_cluster.kubeconfig)) as kube:
            secret = kube.get(ObjectRef("v1", "Secret", "apps", "app"))
            assert secret is not None and base64.b64decode(secret["data"]["token"]).decode() == APP_SECRET
            root = kube.get(ObjectRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", NS, "flux-system"))
            assert root["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flux-operator"
