"""The secret-zero repository (issue 29: "Secret zero for External Secrets, with an ApplicationSet over
directories") end to end with the real Argo CD (application-controller, applicationset-controller and
repo-server as host processes of the local cluster, tests/integration/test_argocd_handover.py's way).

`restore --engine argocd --path bootstrap --wait-gitops` restores the SOPS secret zero (the External Secrets
store credential and an Argo CD repository Secret for a private Git repository) and the root Application;
Argo CD syncs the rest: the ApplicationSet's generated Applications (one of them a chart, which Argo CD's
repo-server renders with helm) and an Application whose source is the private repository. That one can sync only with the restored repository Secret (its server demands the
token), which is the proof that what Argo CD creates carries the restored Secrets. A re-run converges.
Negatives: a wrong age key, a `--path` not in the repository, a chart version the registry does not have;
each exits with README's code, says so in one line naming the file, path or chart, and writes nothing.

Skipped when the Argo CD build (`make argocd`) or redis-server (`make redis`) is absent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from drb_localcluster import LocalCluster
from drb_localcluster.argocd import NAMESPACE
from tests.integration.conftest import run_cli, snapshot
from tests.support.argocd_zero import APP, REPO_USER, STORE_TOKEN, WORKLOADS, ZeroRepo, demo_chart, serve_zero_repo
from tests.support.gitserver import GitHttpServer
from tests.support.registry import oci_registry
from tests.support.sops import new_age_key, write_key_file

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
TOKEN = "pr1vate-repo-t0ken-zero"


@pytest.fixture(scope="module")
def servers(argocd_git_server, tmp_path_factory) -> Iterator[tuple[tuple[GitHttpServer, Path],
                                                                  tuple[GitHttpServer, Path]]]:
    """The public server of the secret-zero repositories and the private one (it demands TOKEN)."""
    private_root = tmp_path_factory.mktemp("zero-private-srv")
    with GitHttpServer(private_root, token=TOKEN) as private:
        yield argocd_git_server, (private, private_root)


@pytest.fixture(scope="module")
def fleet(servers, argocd_key, tmp_path_factory) -> ZeroRepo:
    return serve_zero_repo(*servers, argocd_key[0], argocd_key[1], tmp_path_factory.mktemp("zero-work"), "zero")


def restore(url: str, key_file: Path, kubeconfig: Path, *extra: str, path: str = "bootstrap"):
    return run_cli("restore", url, "--yes", "--engine", "argocd", "--path", path, "--age-key-file", str(key_file),
                   "--kubeconfig", str(kubeconfig), "--wait-gitops", "--timeout", "300", "-o", "json", *extra,
                   timeout=900)


def report_of(done) -> dict:
    return json.loads(done.stdout)


def assert_all_synced(kube: Cluster, repo: ZeroRepo) -> None:
    listed = {a["metadata"]["name"]: a for a in kube.list(APP, "Application", NAMESPACE)}
    for name in repo.applications:
        assert name in listed, (name, sorted(listed))
        status = listed[name].get("status") or {}
        assert status["sync"]["status"] == "Synced" and status["health"]["status"] == "Healthy", (name, status)
        assert status["operationState"]["phase"] == "Succeeded", (name, status)
    generated = sorted(a["metadata"]["name"] for a in listed.values()
                       if any(o.get("kind") == "ApplicationSet" and o.get("name") == repo.application_set
                              for o in a["metadata"].get("ownerReferences") or []))
    assert generated == [f"{repo.name}-{w}" for w in WORKLOADS], generated
    appset = kube.get(ObjectRef(APP, "ApplicationSet", NAMESPACE, repo.application_set))
    assert appset is not None
    errors = [c for c in (appset.get("status") or {}).get("conditions") or []
              if c.get("type") == "ErrorOccurred" and c.get("status") == "True"]
    assert not errors, errors


def secret_value(kube: Cluster, where: tuple[str, str], key: str) -> str:
    body = kube.get(ObjectRef("v1", "Secret", *where))
    assert body is not None, where
    return base64.b64decode(body["data"][key]).decode()


def test_restore_hands_the_secret_zero_repo_to_argo_cd_and_a_rerun_converges(argocd_cluster, servers, argocd_key,
                                                                             fleet):
    private_server = servers[1][0]
    done = restore(fleet.url, argocd_key[1], argocd_cluster.kubeconfig)
    assert done.code == 0, done.stdout[-1500:] + done.stderr[-3000:]
    report = report_of(done)
    assert report["result"] == "succeeded", report
    with Cluster(str(argocd_cluster.kubeconfig)) as kube:
        assert_all_synced(kube, fleet)
        # the private repository's object exists: Argo CD fetched it with the restored repository Secret
        configmap = kube.get(ObjectRef("v1", "ConfigMap", *fleet.private_configmap))
        assert configmap is not None and configmap["data"] == {"from": "the private repository"}
        for workload in WORKLOADS:  # cache is a chart: its ConfigMap is named after the release (the Application)
            name = f"{fleet.name}-cache-settings" if workload == "cache" else f"{workload}-settings"
            cm = kube.get(ObjectRef("v1", "ConfigMap", f"{fleet.name}-{workload}", name))
            assert cm is not None and cm["data"] == {"synced-by": "argocd", "workload": workload}, (workload, cm)
        api = kube.get(ObjectRef("v1", "ConfigMap", f"{fleet.name}-api", "api-settings"))
        assert api["metadata"]["labels"]["rendered-by"] == "kustomize", api  # the repo-server ran kustomize
        assert secret_value(kube, fleet.store_secret, "token") == STORE_TOKEN
        assert secret_value(kube, fleet.repo_secret, "password") == TOKEN
        assert secret_value(kube, fleet.repo_secret, "username") == REPO_USER
        assert secret_value(kube, fleet.repo_secret, "url") == fleet.private_url
    private_path = f"/{fleet.name}-private.git/"
    asked = [r for r in private_server.requests if r[1].startswith(private_path)]
    assert any(authorized for _, _, authorized in asked), asked  # Argo CD's fetches carried the token
    for text in (STORE_TOKEN, TOKEN, REPO_USER):
        assert text not in done.stdout + done.stderr

    again = restore(fleet.url, argocd_key[1], argocd_cluster.kubeconfig)
    assert again.code == 0, again.stdout[-1500:] + again.stderr[-3000:]
    rerun = report_of(again)
    assert rerun["result"] == "succeeded", rerun
    applied = [o for o in rerun["objects"] if o["status"] == "applied"]
    assert applied and {o["action"] for o in applied} == {"unchanged"}, applied  # nothing to change
    with Cluster(str(argocd_cluster.kubeconfig)) as kube:
        assert_all_synced(kube, fleet)
    for text in (STORE_TOKEN, TOKEN):
        assert text not in again.stdout + again.stderr


# -- negatives: README's exit code, one line naming the file / path / chart, nothing written ----------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The real OCI registry on loopback holding chart `demo` 1.0.0 (and no other version)."""
    directory = tmp_path_factory.mktemp("zero-registry")
    with oci_registry(directory / "registry") as served:
        served.push(demo_chart(directory / "charts").package)
        yield served


def error_line(done) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def assert_writes_nothing(cluster: LocalCluster, run):
    before = snapshot(cluster.kubeconfig)
    done = run()
    assert snapshot(cluster.kubeconfig) == before, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    for text in (STORE_TOKEN, TOKEN):
        assert text not in done.stdout + done.stderr
    return done


def test_a_wrong_age_key_exits_4_naming_the_file_and_writes_nothing(argocd_cluster, servers, argocd_key, tmp_path):
    repo = serve_zero_repo(*servers, argocd_key[0], argocd_key[1], tmp_path, "wrongkey")
    other = write_key_file(tmp_path / "other.agekey", new_age_key())
    done = assert_writes_nothing(argocd_cluster, lambda: restore(repo.url, other, argocd_cluster.kubeconfig))
    assert done.code == 4, done.stdout[-2000:] + done.stderr[-2000:]
    line = error_line(done)
    assert "bootstrap/" in line and ".sops.yaml" in line, line
    assert report_of(done)["error"]["exitCode"] == 4


def test_a_path_not_in_the_repository_exits_3_naming_it_and_writes_nothing(argocd_cluster, servers, argocd_key,
                                                                           tmp_path):
    repo = serve_zero_repo(*servers, argocd_key[0], argocd_key[1], tmp_path, "nopath")
    done = assert_writes_nothing(argocd_cluster, lambda: restore(repo.url, argocd_key[1], argocd_cluster.kubeconfig,
                                                                 path="bootstrap/no-such-dir"))
    assert done.code == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--path 'bootstrap/no-such-dir' not found in " in error_line(done)


def test_a_chart_version_the_registry_lacks_exits_3_naming_chart_version_and_repository(
        argocd_cluster, servers, argocd_key, tmp_path, registry):
    """`-k all` renders every Application of the repository before the first write, the chart one by the real
    helm pulling it from the registry: version 9.9.9 is not there."""
    repo = serve_zero_repo(*servers, argocd_key[0], argocd_key[1], tmp_path, "nochart",
                           chart=(registry.host, "demo", "9.9.9"))
    done = assert_writes_nothing(argocd_cluster, lambda: restore(repo.url, argocd_key[1], argocd_cluster.kubeconfig,
                                                                 "-k", "all"))
    assert done.code == 3, done.stdout[-2000:] + done.stderr[-2000:]
    line = error_line(done)
    assert f"Application argocd/nochart-chart: cannot pull chart demo version 9.9.9 from {registry.host}/charts" \
        in line, line
