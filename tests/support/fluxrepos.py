"""Flux repositories made at test time, in the shapes of real public ones (not repos written for us).

- `kustomize_helm_example`: fluxcd/flux2-kustomize-helm-example — `clusters/{staging,production}` from flux
  bootstrap, `infrastructure/{controllers,configs}`, an `apps/base` app with `staging`/`production` overlays that
  patch its HelmRelease from a patch file, dependsOn infra-controllers -> infra-configs -> apps.
- `cluster_template`: onedr0p/cluster-template — a GitRepository with `spec.ignore`, a vars directory
  (cluster-settings ConfigMap, SOPS cluster-secrets Secret), a `cluster` Kustomization with decryption and
  substituteFrom, a `cluster-apps` Kustomization that patches its children, per-app `ks.yaml` with
  targetNamespace and dependsOn, a component that copies cluster-secrets into every app namespace, `${VAR}` in
  names (`${SECRET_DOMAIN/./-}-production`).
- `multi_cluster`: `clusters/{staging,prod}` with a `.sops.yaml` per environment and a key per environment.
Each returns the files; `tests.integration.conftest.build_repo`-style encryption is done by `write_repo` with the
real sops binary (`*.sops.yaml` data/stringData, `*.sops.env` every value), for the recipients the files' paths
map to.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.sops import AgeKey, encrypt_file

MANIFEST_RULE = "^(data|stringData)$"
KS_API = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
HELM_API = "helm.toolkit.fluxcd.io/v2"


def dump(*docs: Mapping[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(dict(doc), sort_keys=False) for doc in docs)


def kustomization(**fields: Any) -> str:
    return dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **fields})


def flux_ks(name: str, path: str, *, source: str = "flux-system", namespace: str = "flux-system",
            source_namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    ref = {"kind": "GitRepository", "name": source, **({"namespace": source_namespace} if source_namespace else {})}
    return {"apiVersion": KS_API, "kind": "Kustomization", "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "10m", "path": path, "prune": True, "sourceRef": ref, **spec}}


def git_repository(name: str = "flux-system", url: str = "ssh://git@example.invalid/fleet", **spec: Any) -> dict:
    return {"apiVersion": SOURCE_API, "kind": "GitRepository", "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": url, "ref": {"branch": "main"}, **spec}}


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def crd(group: str, kind: str, plural: str, schema: Mapping[str, Any] | None = None) -> dict:
    """A namespaced CustomResourceDefinition of `kind` with one version, v1 (served, stored), whose
    openAPIV3Schema is `schema` (by default an object that keeps unknown fields)."""
    schema = dict(schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema}}]}}


def configmap(name: str, data: Mapping[str, str], ns: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(data)}


def secret(name: str, data: Mapping[str, str], ns: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "stringData": dict(data)}


def deployment(name: str, image: str = "ghcr.io/stefanprodan/podinfo:6.5.0", **pod: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image, **pod}]}}}}


def helm_repository(name: str, url: str, ns: str) -> dict:
    return {"apiVersion": SOURCE_API, "kind": "HelmRepository", "metadata": {"name": name, "namespace": ns},
            "spec": {"interval": "24h", "url": url}}


def helm_release(name: str, ns: str, chart: str, repo: str, values: Mapping[str, Any] | None = None) -> dict:
    return {"apiVersion": HELM_API, "kind": "HelmRelease", "metadata": {"name": name, "namespace": ns},
            "spec": {"interval": "30m", "chart": {"spec": {"chart": chart, "version": ">=1.0.0",
                                                           "sourceRef": {"kind": "HelmRepository", "name": repo}}},
                     "values": dict(values or {})}}


def gotk_stand_in() -> str:
    """A small stand-in for gotk-components.yaml (the namespace and one controller Deployment); tests that
    need the real components use `flux install --export` instead."""
    controller = deployment("kustomize-controller", "ghcr.io/fluxcd/kustomize-controller:v1.9.5")
    controller["metadata"]["namespace"] = "flux-system"
    return dump(namespace("flux-system"), controller)


# --- fluxcd/flux2-kustomize-helm-example -------------------------------------------------------------------


KMS_ONLY = dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "legacy"},
                 "data": {"token": "ENC[AES256_GCM,data:Zm9v,iv:MTIzNDU2Nzg5MDEy,tag:MTIzNDU2Nzg5MDEyMzQ1Ng==,type:str]"},
                 "sops": {"kms": [{"arn": "arn:aws:kms:eu-west-1:111122223333:key/0000", "enc": "AQICAH...",
                                   "created_at": "2024-01-01T00:00:00Z", "aws_profile": ""}],
                          "lastmodified": "2024-01-01T00:00:00Z",
                          "mac": "ENC[AES256_GCM,data:bWFj,iv:MTIzNDU2Nzg5MDEy,tag:MTIzNDU2Nzg5MDEyMzQ1Ng==,type:str]",
                          "encrypted_regex": "^(data|stringData)$", "version": "3.9.0"}})


def sops_age_secret(key_text: str) -> str:
    """The repository's own copy of flux-system/sops-age, as some repos keep it (encrypted, `sops.agekey`)."""
    return dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sops-age", "namespace": "flux-system"},
                 "type": "Opaque", "stringData": {"sops.agekey": key_text}})


def kustomize_helm_example(gotk_components: str | None = None, webhook_token: str = "t0ken",
                           repo_key_copy: str | None = None) -> dict[str, str]:
    """`gotk_components`: the flux-system components (`flux install --export`), else a small stand-in.
    `repo_key_copy`: an age key text the repo keeps as its own (encrypted) flux-system/sops-age."""
    files: dict[str, str] = {}
    decryption = {"provider": "sops", "secretRef": {"name": "sops-age"}}
    for env in ("staging", "production"):
        base = f"clusters/{env}"
        files[f"{base}/flux-system/gotk-components.yaml"] = gotk_components or gotk_stand_in()
        files[f"{base}/flux-system/gotk-sync.yaml"] = dump(git_repository(), flux_ks("flux-system", f"./{base}"))
        flux_resources = ["gotk-components.yaml", "gotk-sync.yaml"]
        if repo_key_copy is not None:
            files[f"{base}/flux-system/sops-age.sops.yaml"] = sops_age_secret(repo_key_copy)
            flux_resources.append("sops-age.sops.yaml")
        files[f"{base}/flux-system/kustomization.yaml"] = kustomization(resources=flux_resources)
        files[f"{base}/infrastructure.yaml"] = dump(
            flux_ks("infra-controllers", "./infrastructure/controllers", wait=True),
            flux_ks("infra-configs", "./infrastructure/configs", dependsOn=[{"name": "infra-controllers"}],
                    decryption=decryption),
        )
        files[f"{base}/apps.yaml"] = dump(flux_ks("apps", f"./apps/{env}", dependsOn=[{"name": "infra-configs"}],
                                                  wait=True))
        files[f"apps/{env}/kustomization.yaml"] = kustomization(
            resources=["../base/podinfo"], patches=[{"path": "podinfo-values.yaml",
                                                     "target": {"kind": "HelmRelease", "name": "podinfo"}}])
        files[f"apps/{env}/podinfo-values.yaml"] = dump({
            "apiVersion": HELM_API, "kind": "HelmRelease", "metadata": {"name": "podinfo", "namespace": "podinfo"},
            "spec": {"values": {"ingress": {"hosts": [{"host": f"podinfo.{env}"}]}, "replicaCount": 2}}})
    # a resource the kustomization deliberately comments out must not be restored
    files["apps/base/podinfo/kustomization.yaml"] = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: podinfo\nresources:\n"
        "  - namespace.yaml\n  - repository.yaml\n  - release.yaml\n  # - hpa.yaml  (disabled until v7)\n")
    files["apps/base/podinfo/hpa.yaml"] = dump({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "podinfo"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                 "minReplicas": 1, "maxReplicas": 3}})
    files["apps/base/podinfo/namespace.yaml"] = dump(namespace("podinfo"))
    files["apps/base/podinfo/repository.yaml"] = dump(helm_repository("podinfo", "https://stefanprodan.github.io/podinfo",
                                                                      "podinfo"))
    files["apps/base/podinfo/release.yaml"] = dump(helm_release("podinfo", "podinfo", "podinfo", "podinfo",
                                                                {"ingress": {"enabled": True}}))
    files["infrastructure/controllers/kustomization.yaml"] = kustomization(resources=["cert-manager.yaml",
                                                                                      "ingress-nginx.yaml"])
    files["infrastructure/controllers/cert-manager.yaml"] = dump(
        namespace("cert-manager"), helm_repository("cert-manager", "https://charts.jetstack.io", "cert-manager"),
        helm_release("cert-manager", "cert-manager", "cert-manager", "cert-manager", {"installCRDs": True}))
    files["infrastructure/controllers/ingress-nginx.yaml"] = dump(
        namespace("ingress-nginx"),
        helm_repository("ingress-nginx", "https://kubernetes.github.io/ingress-nginx", "ingress-nginx"),
        helm_release("ingress-nginx", "ingress-nginx", "ingress-nginx", "ingress-nginx"))
    files["infrastructure/configs/kustomization.yaml"] = kustomization(
        resources=["cluster-config.yaml"],
        secretGenerator=[{"name": "webhook-token", "namespace": "flux-system", "envs": ["webhook.sops.env"]}])
    files["infrastructure/configs/webhook.sops.env"] = f"TOKEN={webhook_token}\nURL=https://hooks.example.invalid/x\n"
    files["legacy/kms-only.enc.yaml"] = KMS_ONLY  # a KMS-only SOPS file nothing selected renders: never read
    files["infrastructure/configs/cluster-config.yaml"] = dump(configmap("cluster-config", {"env": "any"},
                                                                         "flux-system"))
    files["README.md"] = "# fleet\n"
    files[".github/workflows/test.yaml"] = "name: test\non: push\n"
    return files


# --- onedr0p/cluster-template ------------------------------------------------------------------------------


CLUSTER_SETTINGS = {"TIMEZONE": "Etc/UTC", "CLUSTER_NAME": "home", "CLUSTER_CIDR": "10.42.0.0/16"}


def cluster_template(secret_domain: str) -> dict[str, str]:
    """`secret_domain` goes into the SOPS cluster-secrets Secret (the repo's stand-in for its domain)."""
    source = "home-kubernetes"
    decryption = {"provider": "sops", "secretRef": {"name": "sops-age"}}
    post = {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-settings"},
                               {"kind": "Secret", "name": "cluster-secrets"}]}
    files: dict[str, str] = {}
    files["kubernetes/flux/config/kustomization.yaml"] = kustomization(resources=["./flux.yaml", "./cluster.yaml"])
    files["kubernetes/flux/config/flux.yaml"] = dump(git_repository(
        source, "https://example.invalid/home-ops", ignore="# exclude all\n/*\n# include kubernetes directory\n"
        "!/kubernetes\n"))
    files["kubernetes/flux/config/cluster.yaml"] = dump(flux_ks(
        "cluster", "./kubernetes/flux", source=source, decryption=decryption, postBuild=post))
    files["kubernetes/flux/vars/kustomization.yaml"] = kustomization(
        resources=["./cluster-settings.yaml", "./cluster-secrets.sops.yaml"])
    files["kubernetes/flux/vars/cluster-settings.yaml"] = dump(configmap("cluster-settings", CLUSTER_SETTINGS,
                                                                         "flux-system"))
    files["kubernetes/flux/vars/cluster-secrets.sops.yaml"] = dump(secret(
        "cluster-secrets", {"SECRET_DOMAIN": secret_domain}, "flux-system"))
    child_patch = dump({"apiVersion": KS_API, "kind": "Kustomization", "metadata": {"name": "not-used"},
                        "spec": {"decryption": decryption, "postBuild": post}})
    files["kubernetes/flux/apps.yaml"] = dump(flux_ks(
        "cluster-apps", "./kubernetes/apps", source=source, dependsOn=[{"name": "cluster"}], decryption=decryption,
        postBuild=post, patches=[{"patch": child_patch, "target": {"group": "kustomize.toolkit.fluxcd.io",
                                                                   "kind": "Kustomization"}}]))
    files["kubernetes/flux/repositories/kustomization.yaml"] = kustomization(resources=["./jetstack.yaml"])
    files["kubernetes/flux/repositories/jetstack.yaml"] = dump(helm_repository("jetstack", "https://charts.jetstack.io",
                                                                               "flux-system"))
    # the component every app namespace takes: copies of cluster-settings and cluster-secrets in that namespace
    # (Flux reads substituteFrom in the Kustomization's own namespace)
    files["kubernetes/components/common/kustomization.yaml"] = dump({
        "apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", "resources": ["./sops", "./vars"]})
    files["kubernetes/components/common/vars/kustomization.yaml"] = kustomization(resources=["./cluster-settings.yaml"])
    files["kubernetes/components/common/vars/cluster-settings.yaml"] = dump(configmap("cluster-settings",
                                                                                       CLUSTER_SETTINGS))
    files["kubernetes/components/common/sops/kustomization.yaml"] = kustomization(
        resources=["./cluster-secrets.sops.yaml"])
    files["kubernetes/components/common/sops/cluster-secrets.sops.yaml"] = dump(secret(
        "cluster-secrets", {"SECRET_DOMAIN": secret_domain}))
    for ns, app, extra in (("cert-manager", "cert-manager", {}),
                           ("network", "echo", {"dependsOn": [{"name": "cert-manager", "namespace": "cert-manager"}]})):
        files[f"kubernetes/apps/{ns}/kustomization.yaml"] = kustomization(
            namespace=ns, components=["../../components/common"], resources=["./namespace.yaml", f"./{app}/ks.yaml"])
        files[f"kubernetes/apps/{ns}/namespace.yaml"] = dump({**namespace("_"), "metadata": {
            "name": "_", "annotations": {"kustomize.toolkit.fluxcd.io/prune": "disabled"}}})
        # each app's Kustomization lives in the app's namespace: written in its ks.yaml (the template's older
        # form, cert-manager here), or, as the template has it today (echo here), with no metadata.namespace,
        # set by the namespace's kustomization (`namespace: network`)
        ks = flux_ks(app, f"./kubernetes/apps/{ns}/{app}/app", source=source, namespace=ns,
                     source_namespace="flux-system", targetNamespace=ns,
                     commonMetadata={"labels": {"app.kubernetes.io/name": app}}, **extra)
        if app == "echo":
            del ks["metadata"]["namespace"]
        files[f"kubernetes/apps/{ns}/{app}/ks.yaml"] = dump(ks)
    files["kubernetes/apps/cert-manager/cert-manager/app/kustomization.yaml"] = kustomization(
        resources=["./helmrelease.yaml", "./certificate.yaml"])
    files["kubernetes/apps/cert-manager/cert-manager/app/helmrelease.yaml"] = dump(helm_release(
        "cert-manager", "cert-manager", "cert-manager", "jetstack"))
    files["kubernetes/apps/cert-manager/cert-manager/app/certificate.yaml"] = dump(configmap(
        "${SECRET_DOMAIN/./-}-production", {"commonName": "${SECRET_DOMAIN}", "tz": "${TIMEZONE}"}))
    files["kubernetes/apps/network/echo/app/kustomization.yaml"] = kustomization(
        resources=["./deployment.yaml", "./ingress.yaml", "./secret.sops.yaml"],
        configMapGenerator=[{"name": "echo-config", "literals": ["MODE=${ECHO_MODE:=quiet}"]}])
    files["kubernetes/apps/network/echo/app/deployment.yaml"] = dump(deployment(
        "echo", envFrom=[{"configMapRef": {"name": "echo-config"}}]))
    # a SOPS Secret in an app whose Kustomization gets `decryption` only from cluster-apps' patch
    files["kubernetes/apps/network/echo/app/secret.sops.yaml"] = dump(secret("echo-token", {"TOKEN": "echo-t0ken-1"}))
    files["kubernetes/apps/network/echo/app/ingress.yaml"] = dump({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "echo"},
        "spec": {"rules": [{"host": "echo.${SECRET_DOMAIN}", "http": {"paths": [{
            "path": "/", "pathType": "Prefix", "backend": {"service": {"name": "echo", "port": {"number": 80}}}}]}}]}})
    files["ansible/inventory.yaml"] = "all: {hosts: {}}\n"  # left out of the artifact by spec.ignore
    files["README.md"] = "# home-ops\n"
    return files


# --- writing a repository -----------------------------------------------------------------------------------


@dataclass
class FluxRepo:
    path: Path
    commit: str
    keys: dict[str, AgeKey] = field(default_factory=dict)


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=dr-bootstrap tests", "-c", "user.email=tests@example.invalid"]
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def write_repo(dest: Path, files: Mapping[str, str], recipients: Callable[[str], list[str]], *,
               commit: bool = True) -> FluxRepo:
    """Write `files`, encrypt `*.sops.yaml` (data/stringData) and `*.sops.env` (all) for `recipients(rel)` with
    the real sops, and commit on `main`."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.endswith(".sops.yaml") and path.name != ".sops.yaml":
            encrypt_file(path, recipients(rel), encrypted_regex=MANIFEST_RULE)
        elif rel.endswith(".sops.env"):
            encrypt_file(path, recipients(rel), fmt="dotenv")
    if not commit:
        return FluxRepo(dest, "")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "fleet")
    return FluxRepo(dest, git(dest, "rev-parse", "HEAD"))
