"""The real Flux controllers reconcile a local cluster (infrastructure proof for the hand-over tests):
LocalCluster(flux=True) runs source-, kustomize- and helm-controller as host processes; once the output of
`flux install --export` is applied they start, clone a real Git server over HTTP, HTTPS with a token and a
test CA, and SSH with a deploy key, apply a Kustomization's objects, and install a HelmRelease from a chart
repository served by the test."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from drb_localcluster import LocalCluster
from bootstrap.model import ObjectRef
from tests.support.charts import ChartRepo, serve_chart_repo
from tests.support.cluster import started_cluster
from tests.support.flux import apply_install, install_manifests, wait_ready
from tests.support.gitserver import GitHttpServer, SshGitServer, SshKey, Tls, publish, ssh_keygen

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

NS = "flux-system"
TOKEN = "tok-" + secrets.token_hex(12)
SOURCE = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE = "kustomize.toolkit.fluxcd.io/v1"
HELM = "helm.toolkit.fluxcd.io/v2"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\ndata:\n  source: git\n"
CHART_TEMPLATE = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
                  "data:\n  greeting: {{ .Values.greeting | quote }}\n")


@dataclass(frozen=True)
class Servers:
    http: GitHttpServer
    https: GitHttpServer
    ssh: SshGitServer
    tls: Tls
    deploy_key: SshKey
    charts: ChartRepo


@pytest.fixture(scope="module")
def flux_cluster(tmp_path_factory, control_plane_bin, flux_bin_dir) -> Iterator[LocalCluster]:
    with started_cluster(tmp_path_factory.mktemp("flux") / "cluster", control_plane_bin,
                         flux=True, flux_bin_dir=flux_bin_dir) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def kube(flux_cluster) -> Iterator[Cluster]:
    with Cluster(str(flux_cluster.kubeconfig)) as cluster:
        apply_install(cluster, install_manifests())
        flux_cluster.wait_flux(timeout=180)
        yield cluster


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    work = tmp_path_factory.mktemp("servers")
    repo = work / "work"
    (repo / "apps").mkdir(parents=True)
    (repo / "apps" / "configmap.yaml").write_text(CONFIGMAP)
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*identity, "commit", "-q", "-m", "apps"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    root = work / "srv"
    publish(repo, root, "fleet.git")
    tls, key = Tls.make(work / "tls"), ssh_keygen(work / "deploy")
    charts = {"hello": {"0.1.0": {"configmap.yaml": CHART_TEMPLATE}}}
    with GitHttpServer(root) as http, GitHttpServer(root, token=TOKEN, tls=tls) as https, \
            SshGitServer(root, work / "sshd", [key]) as ssh, serve_chart_repo(work / "charts", charts) as chart_repo:
        yield Servers(http, https, ssh, tls, key, chart_repo)


def b64(text: str | bytes) -> str:
    return base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()


def git_source(kube: Cluster, servers: Servers, transport: str, name: str, tmp_path: Path) -> None:
    """A GitRepository `name` reaching the repo over `transport`, with the credentials Secret it needs."""
    spec = {"interval": "10m", "ref": {"branch": "main"}, "timeout": "60s"}
    if transport == "http":
        spec["url"] = servers.http.url("fleet.git")
    elif transport == "https-token":
        spec["url"] = servers.https.url("fleet.git")
        secret = {"username": b64("git"), "password": b64(TOKEN), "ca.crt": b64(servers.tls.ca_cert.read_bytes())}
    else:
        spec["url"] = servers.ssh.url("fleet.git")
        known_hosts = servers.ssh.known_hosts(tmp_path / "known_hosts").read_text()
        secret = {"identity": b64(servers.deploy_key.private.read_bytes()), "known_hosts": b64(known_hosts)}
    if transport != "http":
        kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-auth", "namespace": NS},
                    "data": secret})
        spec["secretRef"] = {"name": f"{name}-auth"}
    kube.apply({"apiVersion": SOURCE, "kind": "GitRepository", "metadata": {"name": name, "namespace": NS}, "spec": spec})


def children(pid: int) -> list[int]:
    return [int(p) for t in Path(f"/proc/{pid}/task").iterdir() for p in (t / "children").read_text().split()]


def supervisors(cluster: LocalCluster) -> dict[str, int]:
    return {n: int((cluster.dir / "pids" / f"{n}.pid").read_text()) for n in ("source-controller", "kustomize-controller",
                                                                             "helm-controller")}


def test_controllers_wait_for_their_crds(flux_cluster):
    """Before Flux's CRDs exist, each supervisor runs and waits; no controller process has started."""
    for name, pid in supervisors(flux_cluster).items():
        log = flux_cluster.dir / "logs" / f"{name}.log"
        deadline = time.monotonic() + 120
        while f"{name}: waiting for CRDs" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert f"{name}: waiting for CRDs" in log.read_text() and "starting" not in log.read_text(), log.read_text()
        assert children(pid) == [], name


@pytest.mark.parametrize("transport", ["http", "https-token", "ssh"])
def test_kustomization_from_git_becomes_ready_and_applies_its_objects(transport, kube, servers, tmp_path):
    name = f"{transport}-{uuid.uuid4().hex[:6]}"
    target = f"t-{name}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}})
    git_source(kube, servers, transport, name, tmp_path)
    kube.apply({
        "apiVersion": KUSTOMIZE, "kind": "Kustomization", "metadata": {"name": name, "namespace": NS},
        "spec": {"interval": "10m", "path": "./apps", "prune": True, "targetNamespace": target, "timeout": "2m",
                 "sourceRef": {"kind": "GitRepository", "name": name}},
    })
    repo = wait_ready(lambda: kube.get(ObjectRef(SOURCE, "GitRepository", NS, name)), 180, f"GitRepository {name}")
    assert repo["status"]["artifact"]["url"].startswith("http://127.0.0.1:")
    ks = wait_ready(lambda: kube.get(ObjectRef(KUSTOMIZE, "Kustomization", NS, name)), 180, f"Kustomization {name}")
    assert ks["status"]["lastAppliedRevision"] == repo["status"]["artifact"]["revision"]
    cm = kube.get(ObjectRef("v1", "ConfigMap", target, "from-git"))
    assert cm is not None and cm["data"] == {"source": "git"}
    assert cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == name


def test_helmrelease_from_a_chart_repository_becomes_ready(kube, servers):
    name = f"hello-{uuid.uuid4().hex[:6]}"
    kube.apply({"apiVersion": SOURCE, "kind": "HelmRepository", "metadata": {"name": name, "namespace": NS},
                "spec": {"interval": "10m", "url": servers.charts.url}})
    kube.apply({
        "apiVersion": HELM, "kind": "HelmRelease", "metadata": {"name": name, "namespace": NS},
        "spec": {"interval": "10m", "timeout": "2m", "values": {"greeting": "hi from helm"},
                 "chart": {"spec": {"chart": "hello", "version": "0.1.0",
                                    "sourceRef": {"kind": "HelmRepository", "name": name}}}},
    })
    wait_ready(lambda: kube.get(ObjectRef(SOURCE, "HelmRepository", NS, name)), 180, f"HelmRepository {name}")
    release = wait_ready(lambda: kube.get(ObjectRef(HELM, "HelmRelease", NS, name)), 240, f"HelmRelease {name}")
    assert release["status"]["history"][0]["chartVersion"] == "0.1.0"
    cm = kube.get(ObjectRef("v1", "ConfigMap", NS, f"{name}-cm"))
    assert cm is not None and cm["data"] == {"greeting": "hi from helm"}


def test_a_controller_that_dies_is_restarted(flux_cluster, kube):
    pid = supervisors(flux_cluster)["kustomize-controller"]
    [first] = children(pid)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and children(pid) in ([], [first]):
        time.sleep(0.2)
    assert len(children(pid)) == 1 and children(pid) != [first], "kustomize-controller was not restarted"
    flux_cluster.wait_flux(timeout=120)
    log = (flux_cluster.dir / "logs" / "kustomize-controller.log").read_text()
    assert f"kustomize-controller exited with code -{int(signal.SIGKILL)}" in log


def test_stop_ends_every_controller(tmp_path, control_plane_bin, flux_bin_dir):
    cluster = LocalCluster(tmp_path / "c", control_plane_bin, flux=True, flux_bin_dir=flux_bin_dir)
    cluster.start(timeout=120)
    try:
        with Cluster(str(cluster.kubeconfig)) as kube:
            apply_install(kube, install_manifests())
        cluster.wait_flux(timeout=180)
        pids = [c for p in supervisors(cluster).values() for c in children(p)] + list(supervisors(cluster).values())
        assert len(pids) == 6
    finally:
        cluster.stop()
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    assert not cluster.dir.exists()
