"""The real Argo CD controllers reconcile a local cluster (infrastructure proof for issue 29's hand-over
tests): start_argocd() runs redis, argocd-repo-server, argocd-application-controller and
argocd-applicationset-controller as host processes
(drb_localcluster/data/argocd.sh's build). An Application whose directory source is a real Git server over
HTTP syncs automatically to Synced and Healthy (its Deployment's pods simulated by kwok), an ApplicationSet with a
Git directories generator makes one such Application per directory, and the two failures
a hand-over must report show in the Application's status: a ComparisonError with Argo CD's message (the path
is not in the repo), and a Degraded Deployment (its pods crash-loop past the progress deadline), whose message
Argo CD v3 keeps in redis unless the controller runs with --persist-resource-health.

Skipped when the Argo CD build (`make argocd`) or redis-server (`make redis`) is absent: neither is part of
`make test`'s prerequisites (a cold build took about 26 minutes on the busy 2-core machine)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from drb_localcluster.argocd import COMPONENTS, NAMESPACE
from tests.support.cluster import started_argocd_cluster
from tests.support.gitserver import served_files

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

APP = "argoproj.io/v1alpha1"
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  progressDeadlineSeconds: {deadline}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {annotations}
    spec:
      containers:
      - name: main
        image: registry.example/{name}:1.0
"""
FILES = {
    "apps/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\ndata:\n  source: argocd\n",
    "apps/deployment.yaml": DEPLOYMENT.format(name="web", deadline=600, annotations="{}"),
    "sets/one/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: set-member\ndata:\n  set: one\n",
    "sets/two/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: set-member\ndata:\n  set: two\n",
    "broken/deployment.yaml": DEPLOYMENT.format(name="crasher", deadline=2,
                                                annotations="{dr-bootstrap.io/simulate: crashloop}"),
}


@pytest.fixture(scope="module")
def kube(argocd_cluster) -> Iterator[Cluster]:
    with Cluster(str(argocd_cluster.kubeconfig)) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def git(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(repoURL, HEAD commit) of a repo with FILES, served by `git http-backend` over HTTP."""
    with served_files(tmp_path_factory.mktemp("git"), FILES) as served:
        yield served


def application(name: str, repo_url: str, path: str, namespace: str) -> dict:
    return {
        "apiVersion": APP, "kind": "Application", "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "main", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    }


def wait_for(kube: Cluster, name: str, done: Callable[[Mapping], bool], timeout: float, what: str) -> Mapping:
    """Poll the Application until `done(status)`; on timeout, AssertionError with the last status seen."""
    ref = ObjectRef(APP, "Application", NAMESPACE, name)
    deadline = time.monotonic() + timeout
    status: Mapping = {}
    while True:
        status = (kube.get(ref) or {}).get("status") or {}
        if done(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"Application {name}: not {what} after {timeout:.0f}s; status: {status}")
        time.sleep(1)


def synced_and_healthy(status: Mapping) -> bool:
    return ((status.get("sync") or {}).get("status") == "Synced"
            and (status.get("health") or {}).get("status") == "Healthy"
            and (status.get("operationState") or {}).get("phase") == "Succeeded")


def test_every_component_runs_as_a_cluster_process(argocd_cluster):
    pids = argocd_cluster.dir / "pids"
    for name in COMPONENTS:
        assert (pids / f"{name}.pid").is_file(), name
        log = (argocd_cluster.dir / "logs" / f"{name}.log").read_text()
        assert "level=fatal" not in log and '"level":"fatal"' not in log, log[-800:]


def test_directory_application_syncs_to_synced_and_healthy(kube, git):
    repo_url, head = git
    kube.apply(application("apps", repo_url, "apps", "demo"))
    status = wait_for(kube, "apps", synced_and_healthy, 300, "Synced, Healthy and Succeeded")
    assert status["sync"]["revision"] == head
    assert {(r["kind"], r["name"]) for r in status["resources"]} == {("ConfigMap", "from-git"), ("Deployment", "web")}
    configmap = kube.get(ObjectRef("v1", "ConfigMap", "demo", "from-git"))
    assert configmap is not None and configmap["data"] == {"source": "argocd"}
    deployment = kube.get(ObjectRef("apps/v1", "Deployment", "demo", "web"))
    assert deployment is not None and (deployment["status"].get("readyReplicas") or 0) == 1


def test_a_path_missing_from_the_repo_is_a_comparison_error_with_argocds_message(kube, git):
    repo_url, _ = git
    kube.apply(application("missing-path", repo_url, "no/such/dir", "missing"))

    def comparison_error(status: Mapping) -> bool:
        return any(c.get("type") == "ComparisonError" for c in status.get("conditions") or [])

    status = wait_for(kube, "missing-path", comparison_error, 180, "in ComparisonError")
    message = next(c["message"] for c in status["conditions"] if c["type"] == "ComparisonError")
    assert "no/such/dir" in message and "does not exist" in message, message
    assert status["sync"]["status"] == "Unknown"


def degraded(status: Mapping) -> bool:
    return (status.get("health") or {}).get("status") == "Degraded"


def test_a_crash_looping_deployment_makes_the_application_degraded(kube, git):
    """Argo CD v3's default: the Application says Degraded, but the resources' health (and so Argo CD's
    message) lives only in the controller's resource tree in redis (resourceHealthSource: appTree)."""
    repo_url, _ = git
    kube.apply(application("broken", repo_url, "broken", "broken"))
    status = wait_for(kube, "broken", degraded, 300, "Degraded")
    assert status["sync"]["status"] == "Synced"
    assert status.get("resourceHealthSource") == "appTree", status
    crasher = next(r for r in status["resources"] if r["kind"] == "Deployment" and r["name"] == "crasher")
    assert "health" not in crasher, crasher


def test_with_persisted_resource_health_the_degraded_resource_carries_argocds_message(
        tmp_path, control_plane_bin, argocd_bin, git):
    """`--persist-resource-health` (Argo CD v2's behaviour) writes each resource's health and message into
    the Application's status.resources."""
    repo_url, _ = git
    options = {"argocd-application-controller": ["--persist-resource-health"]}
    with started_argocd_cluster(tmp_path / "cluster", control_plane_bin, argocd_bin, extra_args=options) as cluster, \
            Cluster(str(cluster.kubeconfig)) as kube:
        kube.apply(application("broken", repo_url, "broken", "broken"))
        status = wait_for(kube, "broken", degraded, 300, "Degraded")
        crasher = next(r for r in status["resources"] if r["kind"] == "Deployment" and r["name"] == "crasher")
    assert crasher["health"]["status"] == "Degraded", status
    message = crasher["health"]["message"]
    assert "crasher" in message and "progress deadline" in message, message


def test_an_applicationset_over_git_directories_makes_synced_applications(kube, git):
    repo_url, head = git
    template = application("set-{{.path.basename}}", repo_url, "{{.path.path}}", "set-{{.path.basename}}")
    kube.apply({
        "apiVersion": APP, "kind": "ApplicationSet", "metadata": {"name": "sets", "namespace": NAMESPACE},
        "spec": {"goTemplate": True, "goTemplateOptions": ["missingkey=error"],
                 "generators": [{"git": {"repoURL": repo_url, "revision": "main", "directories": [{"path": "sets/*"}]}}],
                 "template": {"metadata": {"name": template["metadata"]["name"]}, "spec": template["spec"]}},
    })
    for member in ("one", "two"):
        status = wait_for(kube, f"set-{member}", synced_and_healthy, 300, "Synced, Healthy and Succeeded")
        assert status["sync"]["revision"] == head
        configmap = kube.get(ObjectRef("v1", "ConfigMap", f"set-{member}", "set-member"))
        assert configmap is not None and configmap["data"] == {"set": member}
    appset = kube.get(ObjectRef(APP, "ApplicationSet", NAMESPACE, "sets")) or {}
    conditions = {c["type"]: c for c in (appset.get("status") or {}).get("conditions") or []}
    assert conditions.get("ErrorOccurred", {}).get("status") != "True", conditions
