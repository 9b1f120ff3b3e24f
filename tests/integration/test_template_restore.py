"""Today's cluster-template, end to end in one command on the local cluster: Helm releases of flux-operator and
flux-instance installed first, then the bootstrap Secrets and Flux's own objects, then the hand-over.

    restore REPO --path bootstrap --path kubernetes/flux/cluster -k all
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
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from drb_localcluster import fluxoperator
from tests.integration.conftest import clean_env, read_json, run_cli, snapshot
from tests.support.charts import package_chart
from tests.support.cluster import started_cluster
from tests.support.fluxrepos import dump, flux_ks, kustomization, namespace, secret, write_repo
from tests.support.gitserver import GitHttpServer, publish
from tests.support.helmchain import helm_release, oci_repository
from tests.support.operatorrepos import PATCHES
from tests.support.registry import helm_bin, helm_env, oci_registry
from tests.support.sops import new_age_key, write_key_file

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]
NS = "flux-system"
APP_SECRET = "template-secret-" + "7c2e91"
OPERATOR_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: flux-operator
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: flux-operator}}
  template:
    metadata: {labels: {app.kubernetes.io/name: flux-operator}}
    spec:
      containers: [{name: manager, image: "ghcr.io/controlplaneio-fluxcd/flux-operator:{{ .Chart.AppVersion }}"}]
"""
INSTANCE_TEMPLATE = """apiVersion: fluxcd.controlplane.io/v1
kind: FluxInstance
metadata:
  name: flux
  namespace: {{ .Release.Namespace }}
spec:
{{ toYaml .Values.instance | indent 2 }}
"""


@pytest.fixture(scope="module")
def operator_dir() -> Path:
    try:
        return fluxoperator.find_operator_dir()
    except fluxoperator.FluxOperatorBuildError as exc:
        pytest.fail(f"{exc} (make flux-operator)", pytrace=False)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, operator_dir):
    base = tmp_path_factory.mktemp("template-registry")
    crds = {f"crds/{p.name}": p.read_text() for p in sorted(fluxoperator.crd_dir(operator_dir).glob("*.yaml"))}
    with oci_registry(base / "registry") as reg:
        for chart in (package_chart(base / "charts", "flux-operator", "0.59.0", {"deployment.yaml": OPERATOR_DEPLOYMENT},
                                    app_version="v0.59.0", files=crds),
                      package_chart(base / "charts", "flux-instance", "0.59.0", {"instance.yaml": INSTANCE_TEMPLATE},
                                    values={"instance": {}})):
            reg.push(chart.package)
        yield reg


@pytest.fixture
def operator_cluster(tmp_path, control_plane_bin, flux_bin_dir, operator_dir):
    with started_cluster(tmp_path / "cluster", control_plane_bin, flux=True, flux_bin_dir=flux_bin_dir,
                         flux_operator=True,
                         flux_args={"kustomize-controller": ["--sops-age-secret=sops-age"]}) as cluster:
        yield cluster


def app(files: dict[str, str], name: str, objects: list[dict], **ks_spec) -> None:
    base = f"kubernetes/apps/{NS}/{name}"
    ks = flux_ks(name, f"./{base}/app", targetNamespace=NS, **ks_spec)
    del ks["metadata"]["namespace"]  # the namespace's kustomization sets it, as the template has it
    files[f"{base}/ks.yaml"] = dump(ks)
    names = [f"{o['kind'].lower()}.yaml" for o in objects]
    for file, obj in zip(names, objects):
        del obj["metadata"]["namespace"]
        files[f"{base}/app/{file}"] = dump(obj)
    files[f"{base}/app/kustomization.yaml"] = kustomization(resources=[f"./{n}" for n in names])


def template_files(reg, git_url: str, key_text: str, *, instance_tag: str = "0.59.0",
                   flux_version: str = "2.9.x") -> dict[str, str]:
    charts = reg.oci("charts")
    instance = {"distribution": {"version": flux_version, "registry": "ghcr.io/fluxcd"},
                "components": ["source-controller", "kustomize-controller", "helm-controller"],
                "cluster": {"networkPolicy": False}, "kustomize": {"patches": PATCHES},
                "sync": {"kind": "GitRepository", "url": git_url, "ref": "refs/heads/main",
                         "path": "kubernetes/flux/cluster", "interval": "1m"}}
    files = {
        "bootstrap/sops-age.sops.yaml": dump(secret("sops-age", {"age.agekey": key_text}, NS)),
        "bootstrap/cluster-secrets.sops.yaml": dump(secret("cluster-secrets", {"SECRET_DOMAIN": "example.org"}, NS)),
        "kubernetes/flux/cluster/ks.yaml": dump(flux_ks("cluster-apps", "./kubernetes/apps",
                                                        decryption={"provider": "sops"}, timeout="3m")),
        f"kubernetes/apps/{NS}/namespace.yaml": dump(namespace(NS)),
        f"kubernetes/apps/{NS}/kustomization.yaml": kustomization(namespace=NS, resources=[
            "./namespace.yaml", "./flux-operator/ks.yaml", "./flux-instance/ks.yaml", "./demo/ks.yaml"]),
    }
    app(files, "flux-operator", [oci_repository("flux-operator", NS, f"{charts}/flux-operator", "0.59.0"),
                                 helm_release("flux-operator", NS, "flux-operator", timeout="5m")])
    app(files, "flux-instance", [oci_repository("flux-instance", NS, f"{charts}/flux-instance", instance_tag),
                                 helm_release("flux-instance", NS, "flux-instance", timeout="8m",
                                              dependsOn=[{"name": "flux-operator"}], values={"instance": instance})],
        dependsOn=[{"name": "flux-operator", "namespace": NS}])
    app(files, "demo", [secret("demo", {"token": APP_SECRET}, NS)], decryption={"provider": "sops"})
    files[f"kubernetes/apps/{NS}/demo/app/secret.sops.yaml"] = files.pop(f"kubernetes/apps/{NS}/demo/app/secret.yaml")
    files[f"kubernetes/apps/{NS}/demo/app/kustomization.yaml"] = kustomization(resources=["./secret.sops.yaml"])
    return files


def restore(url: str, key_file: Path, cluster, reg, *args: str):
    env = clean_env(**helm_env(reg.helm_home / "operator", {}))
    return run_cli("restore", url, "--yes", "--age-key-file", str(key_file), "--kubeconfig", str(cluster.kubeconfig),
                   "--path", "bootstrap", "--path", "kubernetes/flux/cluster", "-k", "all",
                   "--helm", f"{NS}/flux-operator", "--helm", f"{NS}/flux-instance", "--helm-bin", str(helm_bin()),
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
        assert installs == [f"{NS}/flux-operator", f"{NS}/flux-instance"], out
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
        assert {("Kustomization", k) for k in ("flux-system", "cluster-apps", "flux-operator", "flux-instance",
                                                "demo")} <= gitops, gitops
        assert {("HelmRelease", "flux-operator"), ("HelmRelease", "flux-instance")} <= gitops, gitops
        assert [(h["name"], h["status"]) for h in data["helmReleases"]] == [
            ("flux-operator", "installed"), ("flux-instance", "installed")]
        with Cluster(str(operator_cluster.kubeconfig)) as kube:
            key_secret = kube.get(ObjectRef("v1", "Secret", NS, "sops-age"))
            assert key_secret is not None
            restored = kube.get(ObjectRef("v1", "Secret", NS, "cluster-secrets"))
            assert base64.b64decode(restored["data"]["SECRET_DOMAIN"]).decode() == "example.org"
            demo = kube.get(ObjectRef("v1", "Secret", NS, "demo"))
            assert demo is not None and base64.b64decode(demo["data"]["token"]).decode() == APP_SECRET
        for release in ("flux-operator", "flux-instance"):  # helm-controller adopted them: never reinstalled
            history = json.loads(subprocess.run(
                [str(helm_bin()), "history", release, "--namespace", NS, "-o", "json", "--kubeconfig",
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
