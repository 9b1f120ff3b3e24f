"""Where Argo CD reads the age key, from the repository's own install (pure)."""

from __future__ import annotations

from bootstrap.engines.argocd.keys import key_targets
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest


def workload(container: dict, volumes: list, kind="Deployment", name="argocd-repo-server") -> Manifest:
    body = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "gitops"},
            "spec": {"template": {"spec": {"containers": [container], "volumes": volumes}}}}
    return Manifest(ref=ref_of(body), body=body, source="install.yaml")


def test_xdg_config_home_and_items():
    m = workload({"name": "cmp-sops", "env": [{"name": "XDG_CONFIG_HOME", "value": "/home/argocd/.config"}],
                  "volumeMounts": [{"name": "age", "mountPath": "/home/argocd/.config/sops/age"}]},
                 [{"name": "age", "secret": {"secretName": "sops-age", "items": [{"key": "age.agekey",
                                                                                   "path": "keys.txt"}]}}])
    (t,) = key_targets([m])
    assert (t.namespace, t.name, t.key) == ("gitops", "sops-age", "age.agekey")
    assert "XDG_CONFIG_HOME" in t.why and "cmp-sops" in t.why


def test_sub_path_mount_and_a_key_file_outside_any_secret():
    m = workload({"name": "repo-server", "env": [{"name": "SOPS_AGE_KEY_FILE", "value": "/keys/age.agekey"}],
                  "volumeMounts": [{"name": "k", "mountPath": "/keys/age.agekey", "subPath": "age.agekey"}]},
                 [{"name": "k", "secret": {"secretName": "argocd-age"}}])
    assert [(t.name, t.key) for t in key_targets([m])] == [("argocd-age", "age.agekey")]
    none = workload({"name": "repo-server", "env": [{"name": "SOPS_AGE_KEY_FILE", "value": "/tmp/key"}]}, [])
    assert key_targets([none]) == []


def test_helm_secrets_age_import_kubernetes():
    body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a", "namespace": "argocd"},
            "spec": {"source": {"helm": {"valueFiles": [
                "secrets+age-import-kubernetes://argocd/helm-secrets-private-keys#key.txt?secrets.yaml"]}}}}
    (t,) = key_targets([Manifest(ref=ref_of(body), body=body, source="apps.yaml")])
    assert (t.namespace, t.name, t.key) == ("argocd", "helm-secrets-private-keys", "key.txt")
