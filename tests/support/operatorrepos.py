"""A repository in today's onedr0p/cluster-template shape with flux-operator as the root, made at test time.

On top of `helmrepos.cluster_template_helm` (kubernetes/flux/cluster/ks.yaml with `cluster-apps`, decryption
provider sops and no secretRef; the apps' ks.yaml, HelmReleases and OCIRepositories):
- the flux-instance HelmRelease's `spec.values.instance`: distribution, components, `sync` (GitRepository over
  SSH, `ref: refs/heads/main`, `path: kubernetes/flux/cluster`, `pullSecret: github-deploy-key`) and
  `kustomize.patches` giving the controllers `--concurrent`/`--requeue-dependency` and kustomize-controller
  `--sops-age-secret=sops-age`, as the template's values have them;
- `bootstrap/`: `sops-age.sops.yaml` (the repo's own copy of the key Secret) and `github-deploy-key.sops.yaml`
  (identity, identity.pub, known_hosts), encrypted with the real sops;
- `cluster-apps` patches every child Kustomization with `decryption: {provider: sops}` (no secretRef either),
  as the template's does, and an app holds an encrypted Secret.
"""

from __future__ import annotations

from typing import Any

from tests.support.fluxrepos import dump, flux_ks
from tests.support.helmrepos import cluster_template_helm

REPO_URL = "ssh://git@github.com/home-ops/home-ops"
PATCHES = [
    {"patch": "- op: add\n  path: /spec/template/spec/containers/0/args/-\n  value: --concurrent=10\n"
              "- op: add\n  path: /spec/template/spec/containers/0/args/-\n  value: --requeue-dependency=5s\n",
     "target": {"kind": "Deployment", "name": "(kustomize-controller|helm-controller|source-controller)"}},
    {"patch": "- op: add\n  path: /spec/template/spec/containers/0/args/-\n  value: --sops-age-secret=sops-age\n",
     "target": {"kind": "Deployment", "name": "kustomize-controller"}},
]


def instance_values(*, url: str = REPO_URL, pull_secret: str | None = "github-deploy-key",
                    patches: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    sync = {"kind": "GitRepository", "url": url, "ref": "refs/heads/main", "path": "kubernetes/flux/cluster"}
    if pull_secret:
        sync["pullSecret"] = pull_secret
    return {"instance": {
        "distribution": {"version": "2.x", "registry": "ghcr.io/fluxcd"},
        "components": ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"],
        "cluster": {"networkPolicy": False},
        "sync": sync,
        "kustomize": {"patches": PATCHES if patches is None else patches},
    }}


def deploy_key(name: str = "github-deploy-key", *, known_hosts: bool = True) -> str:
    data = {"identity": "-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n",
            "identity.pub": "ssh-ed25519 AAAAstandin home-ops"}
    if known_hosts:
        data["known_hosts"] = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    return dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "flux-system"},
                 "type": "Opaque", "stringData": data})


def cluster_template_operator(key_text: str, *, values: dict[str, Any] | None = None, known_hosts: bool = True,
                              deploy_key_name: str = "github-deploy-key") -> dict[str, str]:
    files = cluster_template_helm(**{"flux-instance": {"values": values or instance_values()}})
    files["kubernetes/flux/cluster/ks.yaml"] = dump(flux_ks(
        "cluster-apps", "./kubernetes/apps", decryption={"provider": "sops"},
        patches=[{"patch": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
                           "  name: not-used\nspec:\n  decryption:\n    provider: sops\n",
                  "target": {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization"}}]))
    files["bootstrap/sops-age.sops.yaml"] = dump({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sops-age", "namespace": "flux-system"},
        "type": "Opaque", "stringData": {"age.agekey": key_text}})
    files["bootstrap/github-deploy-key.sops.yaml"] = deploy_key(deploy_key_name, known_hosts=known_hosts)
    base = "kubernetes/apps/kube-system/cilium/app"
    files[f"{base}/secret.sops.yaml"] = dump({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cilium-extra"}, "type": "Opaque",
        "stringData": {"token": "only-cluster-apps-decrypts-this"}})
    files[f"{base}/kustomization.yaml"] = files[f"{base}/kustomization.yaml"].replace(
        "- ./ocirepository.yaml", "- ./ocirepository.yaml\n- ./secret.sops.yaml")
    return files
