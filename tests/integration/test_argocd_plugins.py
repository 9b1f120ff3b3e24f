"""The three plugin-decrypted Argo CD repositories (tests/support/argocd_plugins.py: KSOPS overlays, an
install with config-management-plugin placeholders plus a SOPS secret zero, helm-secrets) restored onto the
local cluster running the real Argo CD (`start_argocd`), each served by a real Git server:
`restore URL --engine argocd --path ENTRY... -k all`. Then, read back from the cluster:
- the age key is in the Secret and data key the repository's repo-server (or its plugin sidecar) reads: the
  Secret and item the KSOPS patch mounts at SOPS_AGE_KEY_FILE, the replacer sidecar's subPath, the volume
  helm-secrets reads and its `age-import-kubernetes://argocd/helm-secrets-private-keys#key.txt`;
- the Secrets KSOPS / helm-secrets would make are there with the decrypted values, the secret zero too;
  the Secrets holding placeholders are not, nor the workload reading one (left to the plugin and Argo CD);
- the root and child Applications exist.

Not proved here: that Argo CD then syncs these Applications. Its repo-server here cannot run KSOPS,
helm-secrets or a config-management plugin (KSOPS and helm-secrets cannot be obtained: the Go module proxy
refuses them, and no sidecar runs beside a host-process repo-server), and it finds no kustomize or helm on
PATH, so what it reports for them says more about this machine than about the repository; so no
`--wait-gitops` (the default, given explicitly) and no assertion on Argo CD's conditions. The hand-over
itself is proved by tests/integration/test_argocd_handover.py on a repository Argo CD can sync.
Skipped without the Argo CD build (`make argocd`) or redis, as that test."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from drb_localcluster import LocalCluster
from drb_localcluster.argocd import NAMESPACE
from tests.integration.conftest import clean_env, run_cli
from tests.support.argocd_plugins import (CMP_SECRETS, HELM_SECRETS, KSOPS_SECRETS, PluginRepo, cmp_repo,
                                          helm_secrets_repo, ksops_repo)
from tests.support.cluster import started_argocd_cluster
from tests.support.gitserver import publish

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
APP = "argoproj.io/v1alpha1"


@pytest.fixture
def fresh_argocd_cluster(tmp_path, control_plane_bin, argocd_bin) -> Iterator[tuple[LocalCluster, Path]]:
    """A fresh cluster for each repository (each installs its own Argo CD: a DR restore's target)."""
    with started_argocd_cluster(tmp_path / "cluster", control_plane_bin, argocd_bin) as cluster:
        yield cluster, argocd_bin


def restored(build, name: str, argocd_cluster, server, key, tmp_path: Path, env=None, **options):
    cluster, bin_dir = argocd_cluster
    served, root = server
    url = served.url(f"{name}.git")
    repo: PluginRepo = build(tmp_path / name, key[0], key[1], url, **options)
    publish(repo.path, root, f"{name}.git")
    paths = [a for p in repo.paths for a in ("--path", p)]
    done = run_cli("restore", url, "--yes", "--engine", "argocd", *paths, "-k", "all", "--age-key-file",
                   str(key[1]), "--kubeconfig", str(cluster.kubeconfig), "--no-wait-gitops", "--timeout", "300",
                   env=env, timeout=900)
    assert done.code == 0, done
    for value in repo.secrets.values():
        assert value not in done.stdout + done.stderr
    return done, Cluster(str(cluster.kubeconfig))


def secret_data(kube: Cluster, namespace: str, name: str) -> dict[str, str]:
    found = kube.get(ObjectRef("v1", "Secret", namespace, name))
    assert found is not None, f"Secret {namespace}/{name} is not in the cluster"
    return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}


def applications(kube: Cluster, *names: str) -> None:
    for name in names:
        assert kube.get(ObjectRef(APP, "Application", NAMESPACE, name)) is not None, f"Application {name} missing"


def repo_server_volume(kube: Cluster, secret: str) -> dict:
    deployment = kube.get(ObjectRef("apps/v1", "Deployment", NAMESPACE, "argocd-repo-server"))
    assert deployment is not None
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    return next(v for v in volumes if (v.get("secret") or {}).get("secretName") == secret)


def test_ksops_repository(fresh_argocd_cluster, argocd_git_server, argocd_key, tmp_path):
    """Also: a `ksops` that writes a file, on PATH (the KRM exec form names `ksops`) and where kustomize looks
    for the legacy exec plugin, never runs: the generators are expanded in process."""
    tools = tmp_path / "tools"
    for program in (tools / "bin/ksops", tools / "plugins/viaduct.ai/v1/ksops/ksops"):
        program.parent.mkdir(parents=True)
        program.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ksops-ran'}\nexit 1\n")
        program.chmod(0o755)
    env = clean_env(PATH=f"{tools / 'bin'}:{os.environ['PATH']}", KUSTOMIZE_PLUGIN_HOME=str(tools / "plugins"))
    done, kube = restored(ksops_repo, "ksops", fresh_argocd_cluster, argocd_git_server, argocd_key, tmp_path,
                          env=env, crds=fresh_argocd_cluster[1] / "crds")
    assert not (tmp_path / "ksops-ran").exists()
    assert "the age key goes to Secret argocd/sops-age key age.agekey" in done.stdout, done
    with kube:
        # the patched repo-server mounts item age.agekey of sops-age as keys.txt, its SOPS_AGE_KEY_FILE
        assert repo_server_volume(kube, "sops-age")["secret"]["items"] == [{"key": "age.agekey", "path": "keys.txt"}]
        assert argocd_key[0].identity in secret_data(kube, NAMESPACE, "sops-age")["age.agekey"]
        s = KSOPS_SECRETS
        assert secret_data(kube, "web", "web-secrets") == {"DATABASE_URL": s["web-database-url"],
                                                           "API_KEY": s["web-api-key"]}
        db = secret_data(kube, "db", "prod-db-credentials")
        assert db == {"password": s["db-password"], "init.enc.sql": s["db-init"] + "\n", "POSTGRES_USER": "app",
                      "REPLICATION_PASSWORD": s["db-replica"], "ca.crt": s["db-ca"]}
        assert kube.get(ObjectRef("apps/v1", "Deployment", "db", "prod-db")) is not None
        cm = kube.get(ObjectRef("v1", "ConfigMap", NAMESPACE, "argocd-cm"))
        applications(kube, "root", "web", "db")
    assert cm["data"]["kustomize.buildOptions"] == "--enable-alpha-plugins --enable-exec"


def test_cmp_placeholder_repository(fresh_argocd_cluster, argocd_git_server, argocd_key, tmp_path):
    done, kube = restored(cmp_repo, "cmp", fresh_argocd_cluster, argocd_git_server, argocd_key, tmp_path)
    assert "the age key goes to Secret argocd/sops-age key age.agekey" in done.stdout, done
    assert "Application/argocd/grafana" in done.stdout and "argocd-vault-plugin" in done.stdout
    with kube:
        assert argocd_key[0].identity in secret_data(kube, NAMESPACE, "sops-age")["age.agekey"]
        s = CMP_SECRETS
        credentials = secret_data(kube, NAMESPACE, "argocd-vault-plugin-credentials")
        assert (credentials["AVP_ROLE_ID"], credentials["AVP_SECRET_ID"]) == (s["vault-role-id"], s["vault-secret-id"])
        assert secret_data(kube, "vault", "vault-unseal") == {"key1": s["unseal-key"]}
        assert secret_data(kube, NAMESPACE, "cluster-repo")["password"] == s["repo-password"]
        for namespace, name in ((NAMESPACE, "argocd-notifications-secret"), (NAMESPACE, "argocd-oidc"),
                                (NAMESPACE, "charts-repo"), ("whoami", "whoami")):  # the plugin's to fill
            assert kube.get(ObjectRef("v1", "Secret", namespace, name)) is None, name
        # its pods read the placeholder Secret: left to Argo CD, with the Service beside it restored
        assert kube.get(ObjectRef("apps/v1", "Deployment", "whoami", "whoami")) is None
        assert kube.get(ObjectRef("v1", "Service", "whoami", "whoami")) is not None
        assert kube.get(ObjectRef("v1", "ConfigMap", NAMESPACE, "cmp-plugins")) is not None
        applications(kube, "root", "whoami", "grafana")


def test_helm_secrets_repository(fresh_argocd_cluster, argocd_git_server, argocd_key, tmp_path):
    done, kube = restored(helm_secrets_repo, "helm", fresh_argocd_cluster, argocd_git_server, argocd_key, tmp_path,
                          crds=fresh_argocd_cluster[1] / "crds")
    assert "the age key goes to Secret argocd/helm-secrets-private-keys key key.txt" in done.stdout, done
    with kube:
        assert repo_server_volume(kube, "helm-secrets-private-keys")["name"] == "helm-secrets-private-keys"
        assert argocd_key[0].identity in secret_data(kube, NAMESPACE, "helm-secrets-private-keys")["key.txt"]
        s = HELM_SECRETS
        assert secret_data(kube, "web", "web-credentials") == {"SESSION_KEY": s["web-session"],
                                                               "SMTP_PASSWORD": s["web-smtp"]}
        assert secret_data(kube, "monitoring", "monitoring-credentials") == {
            "admin-user": "admin", "admin-password": s["grafana-admin"]}
        assert f"password: {s['api-db']}" in secret_data(kube, "api", "api-config")["config.yaml"]
        applications(kube, "platform", "web", "api", "monitoring")
