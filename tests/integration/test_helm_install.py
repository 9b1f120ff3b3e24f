"""`restore --helm`: Helm releases installed with the real helm (v4, `make helm`) before the phases, from charts
made here and pushed to a real OCI registry on loopback (CNCF Distribution, `make registry`), on the local cluster.

The repository (tests/support/helmchain.py): Flux's own components (their CRDs make HelmRelease and
OCIRepository known), a namespace, HelmReleases whose `chartRef`s name OCIRepositories (`insecure: true`: the
registry is plain HTTP), values inline, from a SOPS-encrypted Secret and from a ConfigMap key with a targetPath,
and one from a HelmRepository over HTTP (`spec.chart`, a semver range). `base` ships a CRD in its chart's crds/
and a custom resource of it in its templates: it installs only if the CRDs went in first (helm runs with
--skip-crds, as helm-controller does after applying them). `app` depends on `base`.
With the real source- and helm-controller running, helm-controller adopts each release with an upgrade.
Negative: a chart version the registry does not have (exit 3, nothing written), a chart whose install the API
server rejects (exit 6 with Helm's message), a chart whose pod crash-loops (exit 6 naming the pod and
CrashLoopBackOff, helm's 10-minute --wait stopped, the release recorded as failed).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from tests.integration.conftest import clean_env, read_json, run_cli, snapshot, unique
from tests.support.charts import serve_chart_repo
from tests.support.cluster import started_cluster
from tests.support.helmchain import GROUP, helm_repo, push_charts
from tests.support.registry import helm_bin, helm_env, oci_registry
from tests.support.sops import new_age_key, write_key_file

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    base = tmp_path_factory.mktemp("helm-registry")
    with oci_registry(base / "registry") as reg:
        push_charts(reg, base / "charts")
        yield reg


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("helm-key") / "age.agekey", age)


def restore(repo: Path, key_file: Path, cluster, reg, *args: str) -> object:
    env = clean_env(**{k: v for k, v in helm_env(reg.helm_home / "operator", {}).items()})
    return run_cli("restore", str(repo), "--yes", "--age-key-file", str(key_file), "--kubeconfig",
                   str(cluster.kubeconfig), "--timeout", "120", "--path", "clusters/dr",
                   "--helm-bin", str(helm_bin()), *args, env=env, timeout=600)


def helm(cluster, reg, *args: str) -> str:
    done = subprocess.run([str(helm_bin()), *args, "--kubeconfig", str(cluster.kubeconfig)], capture_output=True,
                          text=True, env=helm_env(reg.helm_home), check=True, timeout=120)
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory, registry, key, control_plane_bin):
    tmp = tmp_path_factory.mktemp("helm-install")
    ns, password = unique("helm"), "pw-" + secrets.token_hex(12)
    web = {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  x: {{ .Values.x | quote }}\n"}
    with serve_chart_repo(tmp / "chart-repo", {"drb-web": {"0.3.1": web, "0.4.0": web}}) as chart_repo, \
            started_cluster(tmp / "cluster", control_plane_bin) as cluster:
        repo = helm_repo(tmp, registry, key, ns, password, chart_repo=chart_repo.url)
        report = tmp / "report.json"
        done = restore(repo, key[1], cluster, registry, "--helm", f"{ns}/app", "--helm", f"{ns}/base",
                       "--helm", f"{ns}/web", "--report", str(report))
        yield cluster, ns, password, done, read_json(report) if report.exists() else {}


def test_releases_install_in_dependency_order_with_their_crds_first(installed, registry):
    cluster, ns, _, done, report = installed
    assert done.code == 0, done
    installs = [line.split("helm: installed ")[1].split()[0] for line in done.stdout.splitlines()
                if "helm: installed " in line]
    assert installs == [f"{ns}/base", f"{ns}/app", f"{ns}/web"], done  # app after base, which it depends on
    phases = [p["name"] for p in report["phases"]]
    assert phases.index("helm: pull") < phases.index("install-key") < phases.index("helm: crds") \
        < phases.index("helm: install") < min(i for i, p in enumerate(phases) if p.endswith(": apply"))
    crds = [o for o in report["objects"] if o["phase"] == "helm: crds" and o["kind"] == "CustomResourceDefinition"]
    assert [o["name"] for o in crds] == [f"widgets.{GROUP}"]
    with Cluster(str(cluster.kubeconfig)) as c:  # the Widget went in with base, through helm --skip-crds
        assert c.get(ObjectRef(f"{GROUP}/v1", "Widget", ns, "first")) is not None
    assert [(h["name"], h["status"]) for h in report["helmReleases"]] == [
        ("base", "installed"), ("app", "installed"), ("web", "installed")]
    assert report["helmVersion"] == "v4.3.2"
    assert f"helm v4.3.2 ({helm_bin()}) installs the Helm releases" in done.stdout


def test_releases_are_stored_where_helm_controller_looks_and_can_be_upgraded(installed, registry):
    cluster, ns, _, _, _ = installed
    listed = json.loads(helm(cluster, registry, "list", "--namespace", ns, "-o", "json"))
    assert sorted((r["name"], r["status"], r["chart"]) for r in listed) == [
        ("app", "deployed", "drb-app-0.2.0"), ("base", "deployed", "drb-base-0.1.0"),
        ("web", "deployed", "drb-web-0.3.1")]  # 0.3.x from the HelmRepository: not 0.4.0
    history = json.loads(helm(cluster, registry, "history", "app", "--namespace", ns, "-o", "json"))
    assert [h["description"] for h in history] == ["Install complete"]


def test_values_come_from_inline_sops_secret_and_target_path(installed):
    cluster, ns, password, done, report = installed
    with Cluster(str(cluster.kubeconfig)) as c:
        settings = c.get(ObjectRef("v1", "ConfigMap", ns, "app-settings"))
        info = c.get(ObjectRef("v1", "ConfigMap", ns, "base-info"))
        web = c.get(ObjectRef("v1", "ConfigMap", ns, "web"))
        deployment = c.get(ObjectRef("apps/v1", "Deployment", ns, "app"))
        release = c.get(ObjectRef("helm.toolkit.fluxcd.io/v2", "HelmRelease", ns, "app"))
    assert settings["data"] == {"password": password, "color": "teal", "replicas": "2"}
    assert info["data"] == {"greeting": "hello"}
    assert web["data"] == {"x": "from-http-repo"}
    assert deployment["spec"]["replicas"] == 2
    assert release is not None  # the phases applied the HelmRelease after it: helm-controller adopts it
    assert password not in done.stdout + done.stderr + json.dumps(report)


def test_a_chart_version_the_registry_does_not_have_exits_3_and_writes_nothing(registry, key, pristine_cluster,
                                                                                tmp_path):
    ns = unique("helm-missing")
    repo = helm_repo(tmp_path, registry, key, ns, "pw", app_tag="9.9.9")
    before = snapshot(pristine_cluster.kubeconfig)
    done = restore(repo, key[1], pristine_cluster, registry, "--helm", f"{ns}/base", "--helm", f"{ns}/app")
    assert done.code == 3, done
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert f"Helm release {ns}/app: cannot pull chart drb-app version 9.9.9 from {registry.oci('charts')}" in line
    assert snapshot(pristine_cluster.kubeconfig) == before


@pytest.mark.parametrize(("release", "names", "recorded"), [
    # the API server rejects a ConfigMap: Helm's own message, naming the object
    ("broken", ["Not_A_Valid_Name"], "Not_A_Valid_Name"),
    # a pod crash-loops: the workload and the reason, the pod by name, and helm's own 10-minute wait stopped
    # (not run out), which helm records as cancelled
    ("crash", ["Deployment/{ns}/crasher", "CrashLoopBackOff", "pod crasher-", "--timeout 10m"], "context canceled"),
])
def test_a_chart_that_fails_to_install_exits_6_with_the_cause_before_the_phases(release, names, recorded, registry, key,
                                                                                control_plane_bin, tmp_path):
    ns = unique(f"helm-{release}")
    repo = helm_repo(tmp_path, registry, key, ns, "pw", **{release: True})
    with started_cluster(tmp_path / "cluster", control_plane_bin) as cluster:
        done = restore(repo, key[1], cluster, registry, "--helm", f"{ns}/{release}", "--helm", f"{ns}/app",
                       "--helm", f"{ns}/base")
        assert done.code == 6, done
        [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert f"Helm release {ns}/{release} (drb-{release} 0.1.0) failed to install" in line, line
        for name in names:
            assert name.format(ns=ns) in line, line
        status = json.loads(helm(cluster, registry, "status", release, "--namespace", ns, "-o", "json"))
        assert status["info"]["status"] == "failed", status["info"]  # helm recorded the failure
        assert recorded in status["info"]["description"], status["info"]
        with Cluster(str(cluster.kubeconfig)) as c:  # failed fast: the phases never ran
            assert c.get(ObjectRef("helm.toolkit.fluxcd.io/v2", "HelmRelease", ns, "app")) is None
            assert c.get(ObjectRef("v1", "ConfigMap", ns, "app-settings")) is not None  # app went in before it


def test_a_dry_run_pulls_every_chart_and_installs_nothing(registry, key, pristine_cluster, tmp_path):
    ns = unique("helm-dry")
    repo = helm_repo(tmp_path, registry, key, ns, "pw")
    before = snapshot(pristine_cluster.kubeconfig)
    report = tmp_path / "report.json"
    done = restore(repo, key[1], pristine_cluster, registry, "--helm", f"{ns}/app", "--helm", f"{ns}/base",
                   "--dry-run", "--report", str(report))
    assert done.code == 0, done
    assert [(h["name"], h["status"]) for h in read_json(report)["helmReleases"]] == [
        ("base", "pulled"), ("app", "pulled")]
    assert f"dry run: would install {ns}/app as {ns}/app from drb-app-0.2.0.tgz" in done.stdout
    assert snapshot(pristine_cluster.kubeconfig) == before


def test_charts_are_pulled_with_the_operator_s_registry_login(key, pristine_cluster, tmp_path):
    login = ("dr", "pw-" + secrets.token_hex(8))
    with oci_registry(tmp_path / "private", login=login) as private:
        push_charts(private, tmp_path / "charts")
        ns = unique("helm-login")
        repo = helm_repo(tmp_path, private, key, ns, "pw")
        before = snapshot(pristine_cluster.kubeconfig)
        anonymous = restore(repo, key[1], pristine_cluster, private, "--helm", f"{ns}/base", "--dry-run")
        assert anonymous.code == 3, anonymous  # the operator's helm home has no login yet
        assert f"cannot pull chart drb-base version 0.1.0 from {private.oci('charts')}" in anonymous.stderr
        private.login(private.helm_home / "operator", *login)  # `helm registry login`, as the operator would
        logged_in = restore(repo, key[1], pristine_cluster, private, "--helm", f"{ns}/base", "--dry-run")
        assert logged_in.code == 0, logged_in
        assert "helm: pulled drb-base-0.1.0.tgz" in logged_in.stdout
        assert snapshot(pristine_cluster.kubeconfig) == before


def test_helm_controller_adopts_the_releases_with_an_upgrade(registry, key, fresh_flux_cluster, tmp_path):
    """With the real source- and helm-controller running: after the restore hands over, each release installed
    before the phases is upgraded by helm-controller (revision 2), never uninstalled or installed again."""
    ns = unique("helm-adopt")
    repo = helm_repo(tmp_path, registry, key, ns, "pw-adopt")
    done = restore(repo, key[1], fresh_flux_cluster, registry, "--helm", f"{ns}/base", "--helm", f"{ns}/app",
                   "--wait-gitops")
    assert done.code == 0, done
    for name in ("base", "app"):
        history = json.loads(helm(fresh_flux_cluster, registry, "history", name, "--namespace", ns, "-o", "json"))
        assert [h["description"] for h in history] == ["Install complete", "Upgrade complete"], history
    with Cluster(str(fresh_flux_cluster.kubeconfig)) as c:
        release = c.get(ObjectRef("helm.toolkit.fluxcd.io/v2", "HelmRelease", ns, "app"))
    assert [h["version"] for h in release["status"]["history"]] == [2]
