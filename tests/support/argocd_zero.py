"""The "secret zero for External Secrets" Argo CD repository (issue 29), built at test time in the shape real
repositories use, served by real Git servers (`git http-backend`, tests/support/gitserver.py).

    bootstrap/namespace.yaml                    the External Secrets namespace
    bootstrap/store-credentials.sops.yaml       the secret store's credential (SOPS, the real sops)
    bootstrap/private-repo.sops.yaml            an Argo CD repository Secret (secret-type: repository) holding
                                                url/username/password of a PRIVATE Git repository (SOPS)
    bootstrap/root.yaml                         the root Application, pointing at apps/
    apps/workloads.yaml                         an ApplicationSet: git directories generator over workloads/*
                                                (goTemplate), one Application per directory
    apps/private.yaml                           an Application whose source is the private repository
    workloads/{web,api}/configmap.yaml          what the generated Applications sync (api through its
                                                kustomization.yaml: Argo CD runs kustomize)
    workloads/cache/                            a chart (Chart.yaml, templates/): Argo CD renders it with helm

The private repository (`manifests/configmap.yaml`) is served by a GitHttpServer that demands a token: Argo CD
can fetch it only with the repository Secret the restore decrypted. With `chart=(registry_host, chart, version)`
the repository also holds `apps/chart.yaml`, an Application whose source is that chart of an OCI registry
(Argo CD's form: repoURL without scheme, a `type: helm`, `enableOCI` repository Secret in bootstrap/).
Every object name starts with the repository's `name`, so repositories restored into one cluster never share
an object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.integration.conftest import build_repo
from tests.support.charts import Chart, package_chart
from tests.support.gitserver import GitHttpServer, publish
from tests.support.sops import AgeKey

APP = "argoproj.io/v1alpha1"
ARGOCD_NS = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
WORKLOADS = ("api", "cache", "web")  # cache is a chart
STORE_TOKEN = "vault-t0ken-of-the-secret-store"  # what the External Secrets store credential holds
REPO_USER = "argocd-reader"
#: the template of chart `demo` (`demo_chart`): a ConfigMap named after the release, saying what rendered it
DEMO_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  chart: {{ .Chart.Name }}-{{ .Chart.Version }}
  greeting: {{ .Values.greeting }}
"""


@dataclass(frozen=True)
class ZeroRepo:
    name: str
    url: str  # the secret-zero repository (public)
    private_url: str  # the private repository the repository Secret opens
    path: Path  # the working copy (the restore clones `url`)
    token: str  # the private server's token, the repository Secret's password
    chart: tuple[str, str, str] | None = None  # (registry host, chart, version) of apps/chart.yaml

    @property
    def store_secret(self) -> tuple[str, str]:
        return f"{self.name}-external-secrets", f"{self.name}-store-credentials"

    @property
    def repo_secret(self) -> tuple[str, str]:
        return ARGOCD_NS, f"{self.name}-private-repo"

    @property
    def applications(self) -> list[str]:
        """The Applications Argo CD ends up with: root, one per workload directory, the private one."""
        return [f"{self.name}-root", *(f"{self.name}-{w}" for w in WORKLOADS), f"{self.name}-private",
                *([f"{self.name}-chart"] if self.chart else [])]

    @property
    def application_set(self) -> str:
        return f"{self.name}-workloads"

    @property
    def private_configmap(self) -> tuple[str, str]:
        return f"{self.name}-private", "private-settings"


def _dump(body: dict) -> str:
    return yaml.safe_dump(body, sort_keys=False)


def _sync_policy() -> dict:
    return {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]}


def application(name: str, source: dict, namespace: str) -> str:
    return _dump({"apiVersion": APP, "kind": "Application", "metadata": {"name": name, "namespace": ARGOCD_NS},
                  "spec": {"project": "default", "source": source,
                           "destination": {"server": IN_CLUSTER, "namespace": namespace},
                           "syncPolicy": _sync_policy()}})


def application_set(name: str, url: str) -> str:
    """A git directories generator over workloads/* in goTemplate mode, as real repositories write it."""
    return _dump({
        "apiVersion": APP, "kind": "ApplicationSet", "metadata": {"name": f"{name}-workloads", "namespace": ARGOCD_NS},
        "spec": {
            "goTemplate": True, "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {"repoURL": url, "revision": "main", "directories": [{"path": "workloads/*"}]}}],
            "template": {
                "metadata": {"name": f"{name}-{{{{.path.basename}}}}"},
                "spec": {"project": "default",
                         "source": {"repoURL": url, "targetRevision": "main", "path": "{{.path.path}}"},
                         "destination": {"server": IN_CLUSTER, "namespace": f"{name}-{{{{.path.basename}}}}"},
                         "syncPolicy": _sync_policy()}}}})


def secret(namespace: str, name: str, string_data: dict[str, str], labels: dict[str, str] | None = None) -> str:
    meta: dict = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return _dump({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
                  "stringData": string_data})


def configmap(name: str, data: dict[str, str]) -> str:
    return _dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def zero_files(name: str, url: str, private_url: str, token: str,
               chart: tuple[str, str, str] | None = None) -> dict[str, str]:
    """The files of the secret-zero repository `name` served at `url` (see the module docstring)."""
    store_ns = f"{name}-external-secrets"
    files = {
        "bootstrap/namespace.yaml": _dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": store_ns}}),
        "bootstrap/store-credentials.sops.yaml": secret(store_ns, f"{name}-store-credentials",
                                                        {"token": STORE_TOKEN}),
        "bootstrap/private-repo.sops.yaml": secret(
            ARGOCD_NS, f"{name}-private-repo",
            {"type": "git", "url": private_url, "username": REPO_USER, "password": token},
            labels={"argocd.argoproj.io/secret-type": "repository"}),
        "bootstrap/root.yaml": application(f"{name}-root", {"repoURL": url, "targetRevision": "main",
                                                            "path": "apps"}, ARGOCD_NS),
        "apps/workloads.yaml": application_set(name, url),
        "apps/private.yaml": application(f"{name}-private", {"repoURL": private_url, "targetRevision": "main",
                                                             "path": "manifests"}, f"{name}-private"),
    }
    for workload in ("api", "web"):
        files[f"workloads/{workload}/configmap.yaml"] = configmap(f"{workload}-settings",
                                                                  {"synced-by": "argocd", "workload": workload})
    # api is a kustomize directory: Argo CD's repo-server runs kustomize for it (its label says so)
    files["workloads/api/kustomization.yaml"] = _dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["configmap.yaml"],
        "labels": [{"pairs": {"rendered-by": "kustomize"}}]})
    files["workloads/cache/Chart.yaml"] = _dump({"apiVersion": "v2", "name": "cache", "version": "0.1.0"})
    files["workloads/cache/values.yaml"] = _dump({"workload": "cache"})
    files["workloads/cache/templates/configmap.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  synced-by: argocd\n  workload: {{ .Values.workload }}\n")
    if chart is not None:
        host, chart_name, version = chart
        files["bootstrap/chart-repo.sops.yaml"] = secret(
            ARGOCD_NS, f"{name}-chart-repo",
            {"type": "helm", "name": "charts", "url": f"{host}/charts", "enableOCI": "true",
             "insecureOCIForceHttp": "true"}, labels={"argocd.argoproj.io/secret-type": "repository"})
        files["apps/chart.yaml"] = application(
            f"{name}-chart", {"repoURL": f"{host}/charts", "chart": chart_name, "targetRevision": version,
                              "helm": {"releaseName": chart_name}}, f"{name}-chart")
    return files


def private_files() -> dict[str, str]:
    return {"manifests/configmap.yaml": configmap("private-settings", {"from": "the private repository"})}


def serve_zero_repo(public: tuple[GitHttpServer, Path], private: tuple[GitHttpServer, Path], key: AgeKey,
                    key_file: Path, work: Path, name: str, *,
                    chart: tuple[str, str, str] | None = None) -> ZeroRepo:
    """Build, commit and publish the secret-zero repository `name` on `public` and its private repository on
    `private` (a GitHttpServer with a token); SOPS files encrypted for `key` by the real sops."""
    (server, root), (private_server, private_root) = public, private
    assert private_server.token, "the private repository's server must demand a token"
    url, private_url = server.url(f"{name}.git"), private_server.url(f"{name}-private.git")
    repo = build_repo(work / name, zero_files(name, url, private_url, private_server.token, chart), key, key_file)
    publish(repo.path, root, f"{name}.git")
    private_repo = build_repo(work / f"{name}-private", private_files(), key, key_file)
    publish(private_repo.path, private_root, f"{name}-private.git")
    return ZeroRepo(name, url, private_url, repo.path, private_server.token, chart)


def demo_chart(directory: Path, version: str = "1.0.0") -> Chart:
    """Chart `demo` at `version` (DEMO_TEMPLATE, greeting "hello"), packaged in `directory` to push to a registry."""
    return package_chart(directory, "demo", version, {"configmap.yaml": DEMO_TEMPLATE}, values={"greeting": "hello"})
