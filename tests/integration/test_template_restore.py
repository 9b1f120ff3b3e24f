"""Today's cluster-template, end to end in one command on the local cluster: Helm releases of cilium, coredns,
flux-operator and flux-instance installed first (the helmfile's `needs` chain, which the HelmReleases' dependsOn
encode), then the bootstrap Secrets and Flux's own objects, then the hand-over.

    restore REPO --path bootstrap --path kubernetes/flux/cluster -k all
            --helm kube-system/cilium --helm kube-system/coredns
            --helm flux-system/flux-operator --helm flux-system/flux-instance --wait-gitops

The charts are made here from what the flux-operator build carries (its CRDs in crds/, a Deployment standing
in for the operator's, which kwok runs; the real operator runs as a host process once its CRDs are
Established) and a flux-instance chart whose template renders a FluxInstance from `.Values.instance`, as the
upstream chart does. They are pushed to a real OCI registry on loopback; the OCIRepositories say `insecure`.
Flux's CRDs are in no chart and not in Git: flux-operator installs them from the FluxInstance's
distribution. So validation takes Flux's kinds as promised by the flux-instance release, and the phases that
hold them are applied once the FluxInstance is Ready (the `flux-instance` gate). The repository's shape is the
template's: `bootstrap/` with the SOPS age key copy and cluster-secrets, `kubernetes/flux/cluster/ks.yaml`
with `cluster-apps` (provider sops, no secretRef), the apps' ks.yaml, helmrelease.yaml and ocirepository.yaml.
cilium (a DaemonSet) and coredns (a Deployment and a Service) are small charts of our own in kube-system.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from tests.integration.conftest import clean_env, read_json, run_cli, snapshot
from tests.support.fluxrepos import write_repo
from tests.support.gitserver import GitHttpServer, publish
from tests.support.registry import helm_bin, helm_env, oci_registry
from tests.support.sops import new_age_key, write_key_file
from tests.support.templaterepo import APP_SECRET, KS, NS, RELEASES, push_charts, template_files

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def registry(tmp_path_factory, operator_dir):
    base = tmp_path_factory.mktemp("template-registry")
    with oci_registry(base / "registry") as reg:
        push_charts(reg, base / "charts", operator_dir)
        yield reg


def restore(url: str, key_file: Path, cluster, reg, *args: str, kustomizations: str = "all"):
    env = clean_env(**helm_env(reg.helm_home / "operator", {}))
    helm = [arg for release in reversed(RELEASES) for arg in ("--helm", release)]  # dependsOn orders them, not argv
    return run_cli("restore", url, "--yes", "--age-key-file", str(key_file), "--kubeconfig", str(cluster.kubeconfig),
                   "--path", "bootstrap", "--path", "kubernetes/flux/cluster", "-k", kustomizations,
                   *helm, "--helm-bin", str(helm_bin()),
                   "--timeout", "600", *args, env=env, timeout=1100)


def test_one_command_restores_a_cluster_template_repository(tmp_path, registry, operator_cluster):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    with GitHttpServer(tmp_path / "srv") as git:
        url = git.url("home-ops.git")
        repo = write_repo(tmp_path / "work", template_files(registry, url, key.identity),
                          lambda rel: [key.recipient])
        publish(repo.path, tmp_path / "srv", "home-ops.git")
        report = tmp_path / "report.json"
        done = restore(url, key_file, operator_cluster, registry, "--wait-gitops", "--report", str(report))
        if done.code != 0:
            print((operator_cluster.dir / "logs" / "flux-operator.log").read_text()[-5000:])
        assert done.code == 0, done
        out = done.stdout + done.stderr
        installs = [line.split("helm: installed ")[1].split()[0] for line in done.stdout.splitlines()
                    if "helm: installed " in line]
        assert installs == RELEASES, out
        assert "validated against it, applied once it is Ready" in out, out
        data = read_json(report)
        phases = [p["name"] for p in data["phases"]]
        assert phases.index("helm: crds") < phases.index("helm: install") < phases.index("bootstrap: apply") \
            < phases.index("flux-instance") < phases.index("flux-system/flux-system: apply") < phases.index("gitops"), phases
        crds = {o["name"] for o in data["objects"] if o["phase"] == "helm: crds"}
        assert "fluxinstances.fluxcd.controlplane.io" in crds
        gate = {(o["kind"], o["name"]) for o in data["objects"] if o["phase"] == "flux-instance" and o["status"] == "Current"}
        assert ("FluxInstance", "flux") in gate
        gitops = {(o["kind"], o["name"]) for o in data["objects"] if o["phase"] == "gitops" and o["status"] == "Current"}
        assert {("Kustomization", k) for k in ("flux-system", "cluster-apps", "cilium", "coredns", "flux-operator",
                                                "flux-instance", "demo")} <= gitops, gitops
        assert {("HelmRelease", r.split("/")[1]) for r in RELEASES} <= gitops, gitops
        assert [(f"{h['namespace']}/{h['name']}", h["status"]) for h in data["helmReleases"]] == [
            (r, "installed") for r in RELEASES]
        assert [h["dependsOn"] for h in data["helmReleases"]] == [[], [RELEASES[0]], [RELEASES[1]], [RELEASES[2]]]
        with Cluster(str(operator_cluster.kubeconfig)) as kube:
            key_secret = kube.get(ObjectRef("v1", "Secret", NS, "sops-age"))
            assert key_secret is not None
            restored = kube.get(ObjectRef("v1", "Secret", NS, "cluster-secrets"))
            assert base64.b64decode(restored["data"]["SECRET_DOMAIN"]).decode() == "example.org"
            demo = kube.get(ObjectRef("v1", "Secret", NS, "demo"))
            assert demo is not None and base64.b64decode(demo["data"]["token"]).decode() == APP_SECRET
            assert kube.get(ObjectRef("apps/v1", "DaemonSet", KS, "cilium")) is not None
            coredns = kube.get(ObjectRef("apps/v1", "Deployment", KS, "coredns"))
            assert coredns is not None and coredns["spec"]["replicas"] == 2  # the HelmRelease's values
            assert kube.get(ObjectRef("v1", "Service", KS, "coredns")) is not None
        for ns_release in RELEASES:  # helm-controller adopted them: never reinstalled
            ns, release = ns_release.split("/")
            history = json.loads(subprocess.run(
                [str(helm_bin()), "history", release, "--namespace", ns, "-o", "json", "--kubeconfig",
                 str(operator_cluster.kubeconfig)], capture_output=True, text=True, env=helm_env(registry.helm_home),
                check=True, timeout=120).stdout)
            print(release, [h["description"] for h in history])
            assert history[0]["description"] == "Install complete", history
            assert not any("uninstall" in h["description"].lower() for h in history), history
            assert any(h["description"] == "Upgrade complete" for h in history[1:]), history


def test_a_flux_instance_chart_that_does_not_exist_exits_3_and_writes_nothing(tmp_path, registry, pristine_cluster):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    files = template_files(registry, "http://127.0.0.1:9/none.git", key.identity, instance_tag="9.9.9")
    repo = write_repo(tmp_path / "work", files, lambda rel: [key.recipient])
    before = snapshot(pristine_cluster.kubeconfig)
    done = restore(str(repo.path), key_file, pristine_cluster, registry)
    assert done.code == 3, done
    assert "cannot pull chart flux-instance version 9.9.9" in done.stderr, done
    assert snapshot(pristine_cluster.kubeconfig) == before


def test_a_flux_instance_the_operator_cannot_build_fails_fast_before_flux_s_objects(tmp_path, registry,
                                                                                     operator_cluster):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    with GitHttpServer(tmp_path / "srv") as git:
        url = git.url("home-ops.git")
        files = template_files(registry, url, key.identity, flux_version="1.0.x")  # no such Flux distribution
        repo = write_repo(tmp_path / "work", files, lambda rel: [key.recipient])
        publish(repo.path, tmp_path / "srv", "home-ops.git")
        done = restore(url, key_file, operator_cluster, registry, "--wait-gitops")
    assert done.code == 6, done
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    # the operator's own message: from helm's wait when it sees the FluxInstance fail first, else from the gate
    assert "no match found for semver: 1.0.x" in line, line
    assert "FluxInstance flux-system/flux" in line or "FluxInstance/flux-system/flux" in line, line
    with Cluster(str(operator_cluster.kubeconfig)) as kube:  # Flux's objects never went in
        assert kube.resource("kustomize.toolkit.fluxcd.io/v1", "Kustomization") is None


def test_an_app_secret_for_another_key_fails_with_flux_s_decryption_error(tmp_path, registry, operator_cluster):
    # The platform (the four releases' Kustomizations) opens with the operator's key; the `demo` app's Secret was
    # encrypted for another key. dr-bootstrap restores the platform, Flux takes over, and kustomize-controller
    # cannot decrypt `demo`: the run names it with Flux's own message (exit 6).
    key, other = new_age_key(), new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    with GitHttpServer(tmp_path / "srv") as git:
        url = git.url("home-ops.git")
        repo = write_repo(tmp_path / "work", template_files(registry, url, key.identity),
                          lambda rel: [other.recipient] if "/demo/" in rel else [key.recipient])
        publish(repo.path, tmp_path / "srv", "home-ops.git")
        report = tmp_path / "report.json"
        done = restore(url, key_file, operator_cluster, registry, "--wait-gitops", "--report", str(report),
                       kustomizations="cilium,coredns,flux-operator,flux-instance")
    assert done.code == 6, done
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "Kustomization/flux-system/demo" in line and "decrypt" in line.lower(), line
    data = read_json(report)
    assert data["phases"][-1]["name"] == "gitops" and data["phases"][-1]["result"] == "failed", data["phases"]
    assert [(f"{h['namespace']}/{h['name']}", h["status"]) for h in data["helmReleases"]] == [
        (r, "installed") for r in RELEASES]
    with Cluster(str(operator_cluster.kubeconfig)) as kube:
        assert kube.get(ObjectRef("v1", "Secret", NS, "demo")) is None


def test_an_app_secret_for_another_key_named_in_k_exits_4_and_writes_nothing(tmp_path, registry, pristine_cluster):
    key, other = new_age_key(), new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    files = template_files(registry, "http://127.0.0.1:9/none.git", key.identity)
    repo = write_repo(tmp_path / "work", files, lambda rel: [other.recipient] if "/demo/" in rel else [key.recipient])
    before = snapshot(pristine_cluster.kubeconfig)
    done = restore(str(repo.path), key_file, pristine_cluster, registry)  # -k all: dr-bootstrap decrypts `demo`
    assert done.code == 4, done
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "kubernetes/apps/flux-system/demo/app/secret.sops.yaml" in line, line
    assert snapshot(pristine_cluster.kubeconfig) == before
