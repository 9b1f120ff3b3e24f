"""The Argo CD hand-over, proved with the real Argo CD (issue 29): a secret-zero repository served by a real
Git server (`git http-backend`) holds, under `bootstrap/`, a SOPS Secret (the secret zero) and a root
Application pointing at `apps/` of the same repository, where a child Application points at `workloads/web`.
`restore --engine argocd --path bootstrap --wait-gitops` restores the entry path, then Argo CD's
application-controller and repo-server (host processes of the local cluster, `start_argocd`) sync the rest;
the restore returns once every Application is Synced, Healthy and its sync Succeeded. Red: a child Application
whose path is not in the repository fails the `gitops` phase (exit 6) with Argo CD's own ComparisonError.

Skipped when the Argo CD build (`make argocd`) or redis-server (`make redis`) is absent, as
tests/cluster/test_argocd_controllers.py."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from drb_localcluster.argocd import NAMESPACE
from tests.integration.conftest import build_repo, run_cli
from tests.support.gitserver import GitHttpServer, publish
from tests.support.sops import AgeKey

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
APP = "argoproj.io/v1alpha1"
TOKEN = "s3cr3t-zero-token"


def application(name: str, repo_url: str, path: str, namespace: str) -> str:
    return yaml.safe_dump({
        "apiVersion": APP, "kind": "Application", "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"project": "default", "source": {"repoURL": repo_url, "targetRevision": "main", "path": path},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                                "syncOptions": ["CreateNamespace=true"]}}})


def secret_zero(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE},
                           "stringData": {"token": TOKEN}})


CRASHER = yaml.safe_dump({
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "crasher"},
    "spec": {"replicas": 1, "progressDeadlineSeconds": 2, "selector": {"matchLabels": {"app": "crasher"}},
             "template": {"metadata": {"labels": {"app": "crasher"},
                                       "annotations": {"dr-bootstrap.io/simulate": "crashloop"}},  # kwok's pods
                          "spec": {"containers": [{"name": "main", "image": "registry.example/crasher:1.0"}]}}}})


def served_repo(server: tuple[GitHttpServer, Path], key: tuple[AgeKey, Path], tmp: Path, name: str,
                child_path: str, child_repo: str | None = None) -> str:
    """The URL of a served secret-zero repository whose child Application `{name}-web` points at `child_path`
    (of `child_repo`, by default the same repository)."""
    served, root = server
    url = served.url(f"{name}.git")
    files = {
        "bootstrap/root.yaml": application(f"{name}-root", url, "apps", NAMESPACE),
        "bootstrap/secret-zero.sops.yaml": secret_zero(f"{name}-store-credentials"),
        "apps/web.yaml": application(f"{name}-web", served.url(child_repo) if child_repo else url, child_path,
                                     f"{name}-web"),
        "workloads/crasher/deployment.yaml": CRASHER,
        "workloads/web/configmap.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                        "metadata": {"name": "web-settings"},
                                                        "data": {"synced-by": "argocd"}}),
    }
    repo = build_repo(tmp / name, files, key[0], key[1])
    publish(repo.path, root, f"{name}.git")
    return url


def restore(url: str, key_file: Path, kubeconfig: Path, timeout: str = "300"):
    return run_cli("restore", url, "--yes", "--engine", "argocd", "--path", "bootstrap", "--age-key-file",
                   str(key_file), "--kubeconfig", str(kubeconfig), "--wait-gitops", "--timeout", timeout, timeout=900)


def test_restore_waits_until_argo_cd_has_synced_every_application(argocd_cluster, argocd_git_server, argocd_key,
                                                                  tmp_path):
    url = served_repo(argocd_git_server, argocd_key, tmp_path, "fleet", "workloads/web")
    done = restore(url, argocd_key[1], argocd_cluster.kubeconfig)
    assert done.code == 0, done
    with Cluster(str(argocd_cluster.kubeconfig)) as kube:
        for name in ("fleet-root", "fleet-web"):
            status = (kube.get(ObjectRef(APP, "Application", NAMESPACE, name)) or {}).get("status") or {}
            assert status["sync"]["status"] == "Synced" and status["health"]["status"] == "Healthy", status
            assert status["operationState"]["phase"] == "Succeeded", status
        secret = kube.get(ObjectRef("v1", "Secret", NAMESPACE, "fleet-store-credentials"))
        configmap = kube.get(ObjectRef("v1", "ConfigMap", "fleet-web", "web-settings"))
    assert secret is not None and base64.b64decode(secret["data"]["token"]).decode() == TOKEN
    assert configmap is not None and configmap["data"] == {"synced-by": "argocd"}
    assert TOKEN not in done.stdout + done.stderr


@pytest.mark.parametrize(("name", "child_path", "child_repo", "expected"), [
    ("missing", "no/such/dir", None, ("ComparisonError", "no/such/dir", "app path does not exist")),
    ("unreachable", "workloads/web", "absent.git", ("ComparisonError", "repository not found", "absent.git")),
    ("degraded", "workloads/crasher", None, ("Degraded: Deployment/degraded-web/crasher:", "progress deadline")),
])
def test_a_child_application_argo_cd_cannot_sync_fails_with_argo_cds_message(
        argocd_cluster, argocd_git_server, argocd_key, tmp_path, name, child_path, child_repo, expected):
    """A path not in the repository, a repository that cannot be reached (ComparisonError), a resource that
    goes Degraded (named, with its message: Argo CD v3 keeps resource health in redis, so it is judged live)."""
    url = served_repo(argocd_git_server, argocd_key, tmp_path, name, child_path, child_repo)
    done = restore(url, argocd_key[1], argocd_cluster.kubeconfig)
    assert done.code == 6, done
    assert f"error: Application/{NAMESPACE}/{name}-web: " in done.stderr, done
    error = next(line for line in done.stdout.splitlines() if line.startswith("error (exit 6): "))  # in full
    for text in expected:
        assert text in error, done
