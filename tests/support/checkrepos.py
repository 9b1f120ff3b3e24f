"""Repositories for `check`, in the shapes of real public ones, beyond `fluxrepos`' two.

- `cluster_template_operator`: onedr0p/cluster-template as it is today: no GitRepository in the repository
  (flux-operator's FluxInstance syncs `kubernetes/flux/cluster`), `kubernetes/flux/cluster/ks.yaml` with
  `cluster-meta` and `cluster-apps` (which patches `decryption` into its children), namespaces under
  `kubernetes/apps/<ns>` whose kustomization sets the namespace and takes the `common` component, and each
  app a `ks.yaml` beside its `app/` directory.
- `clusters`: one repository for several clusters (`clusters/<name>`, each from `flux bootstrap`), every
  cluster with a Kustomization `flux-system/cluster-apps` of the same name, which gives its children
  `decryption` by a patch.
"""

from __future__ import annotations

from tests.support.fluxrepos import (CLUSTER_SETTINGS, KS_API, configmap, deployment, dump, flux_ks, git_repository,
                                     kustomization, namespace, secret)

DECRYPTION = {"provider": "sops", "secretRef": {"name": "sops-age"}}


def _child_patch(**spec) -> list[dict]:
    body = dump({"apiVersion": KS_API, "kind": "Kustomization", "metadata": {"name": "not-used"},
                 "spec": {"decryption": DECRYPTION, **spec}})
    return [{"patch": body, "target": {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization"}}]


def _app(files: dict[str, str], base: str, ns: str, app: str, secret_value: str) -> None:
    """`<base>/<ns>/<app>/ks.yaml` (no decryption of its own, no namespace) and its `app/` with a SOPS Secret."""
    ks = flux_ks(app, f"./{base}/{ns}/{app}/app", namespace=ns, source_namespace="flux-system", targetNamespace=ns)
    del ks["metadata"]["namespace"]
    files[f"{base}/{ns}/{app}/ks.yaml"] = dump(ks)
    files[f"{base}/{ns}/{app}/app/kustomization.yaml"] = kustomization(resources=["./deployment.yaml",
                                                                                  "./secret.sops.yaml"])
    files[f"{base}/{ns}/{app}/app/deployment.yaml"] = dump(deployment(app))
    files[f"{base}/{ns}/{app}/app/secret.sops.yaml"] = dump(secret(f"{app}-secret", {"TOKEN": secret_value}))


def cluster_template_operator(secret_domain: str) -> dict[str, str]:
    post = {"substituteFrom": [{"kind": "Secret", "name": "cluster-secrets"},
                               {"kind": "ConfigMap", "name": "cluster-settings", "optional": True}]}
    files: dict[str, str] = {}
    files["kubernetes/flux/cluster/ks.yaml"] = dump(
        flux_ks("cluster-meta", "./kubernetes/flux/meta", source_namespace="flux-system", decryption=DECRYPTION,
                targetNamespace="flux-system"),
        flux_ks("cluster-apps", "./kubernetes/apps", source_namespace="flux-system", decryption=DECRYPTION,
                dependsOn=[{"name": "cluster-meta", "namespace": "flux-system"}], postBuild=post,
                patches=_child_patch(postBuild=post)))
    files["kubernetes/flux/meta/kustomization.yaml"] = kustomization(resources=["./settings"])
    files["kubernetes/flux/meta/settings/kustomization.yaml"] = kustomization(
        resources=["./cluster-settings.yaml", "./cluster-secrets.sops.yaml"])
    files["kubernetes/flux/meta/settings/cluster-settings.yaml"] = dump(configmap("cluster-settings", CLUSTER_SETTINGS))
    files["kubernetes/flux/meta/settings/cluster-secrets.sops.yaml"] = dump(secret(
        "cluster-secrets", {"SECRET_DOMAIN": secret_domain}))
    files["kubernetes/components/common/kustomization.yaml"] = dump({
        "apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", "resources": ["./sops"]})
    files["kubernetes/components/common/sops/kustomization.yaml"] = kustomization(
        resources=["./cluster-secrets.sops.yaml"])
    files["kubernetes/components/common/sops/cluster-secrets.sops.yaml"] = dump(secret(
        "cluster-secrets", {"SECRET_DOMAIN": secret_domain}))
    for ns, app in (("default", "echo"), ("network", "cloudflared")):
        files[f"kubernetes/apps/{ns}/kustomization.yaml"] = kustomization(
            namespace=ns, components=["../../components/common"], resources=["./namespace.yaml", f"./{app}/ks.yaml"])
        files[f"kubernetes/apps/{ns}/namespace.yaml"] = dump(namespace("_"))
        _app(files, "kubernetes/apps", ns, app, f"{app}-t0ken-1")
    files["README.md"] = "# home-ops\n"
    return files


def clusters(names: tuple[str, ...] = ("dev", "staging", "prod")) -> dict[str, str]:
    files: dict[str, str] = {}
    for name in names:
        base = f"clusters/{name}"
        files[f"{base}/flux-system/gotk-sync.yaml"] = dump(git_repository(), flux_ks("flux-system", f"./{base}"))
        files[f"{base}/flux-system/kustomization.yaml"] = kustomization(resources=["gotk-sync.yaml"])
        files[f"{base}/cluster-apps.yaml"] = dump(flux_ks(
            "cluster-apps", f"./apps/{name}", decryption=DECRYPTION, patches=_child_patch()))
        files[f"apps/{name}/kustomization.yaml"] = kustomization(resources=[f"./{ns}" for ns in ("shop",)])
        files[f"apps/{name}/shop/kustomization.yaml"] = kustomization(namespace="shop",
                                                                      resources=["./namespace.yaml", "./web/ks.yaml"])
        files[f"apps/{name}/shop/namespace.yaml"] = dump(namespace("shop"))
        _app(files, f"apps/{name}", "shop", "web", f"{name}-web-t0ken")
    return files
