"""A repository in today's onedr0p/cluster-template shape, made at test time, for the Helm releases a restore
installs before the GitOps engine (`--helm`).

`kubernetes/flux/cluster/ks.yaml` holds `cluster-apps` (path ./kubernetes/apps, decryption without a
secretRef; its GitRepository flux-system is made by flux-operator, not in Git). Each namespace directory has a
kustomization with `namespace:` and the apps' `ks.yaml` (no metadata.namespace, targetNamespace set); each
app directory `app/` has `helmrelease.yaml` (a HelmRelease whose `chartRef` names an OCIRepository) and
`ocirepository.yaml` (`spec.url` oci://…, `spec.ref.tag`), as the template's helmfile reads them. The releases
chain as the template's helmfile does: cilium → coredns → spegel → cert-manager → flux-operator →
flux-instance (spegel's chart from an OCI HelmRepository, reloader's from an https one).
"""

from __future__ import annotations

from typing import Any

from tests.support.fluxrepos import HELM_API, SOURCE_API, dump, flux_ks, kustomization, namespace

# (namespace, app, chart url or HelmRepository, version, dependsOn of its HelmRelease)
APPS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("kube-system", "cilium", "oci://ghcr.io/home-operations/charts-mirror/cilium", "1.18.1", ()),
    ("kube-system", "coredns", "oci://ghcr.io/coredns/charts/coredns", "1.43.0", ("cilium",)),
    ("kube-system", "spegel", "helmrepository:oci://ghcr.io/spegel-org/helm-charts", "0.3.0", ("coredns",)),
    ("kube-system", "reloader", "helmrepository:https://stakater.github.io/stakater-charts", "2.1.0", ()),
    ("cert-manager", "cert-manager", "oci://quay.io/jetstack/charts/cert-manager", "v1.18.2",
     ("kube-system/spegel",)),
    ("flux-system", "flux-operator", "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator", "0.28.0",
     ("cert-manager/cert-manager",)),
    ("flux-system", "flux-instance", "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-instance", "0.28.0",
     ("flux-operator",)),
)


def oci_repository(name: str, url: str, tag: str) -> dict[str, Any]:
    return {"apiVersion": SOURCE_API, "kind": "OCIRepository", "metadata": {"name": name},
            "spec": {"interval": "5m", "layerSelector": {
                "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "operation": "copy"},
                "ref": {"tag": tag}, "url": url}}


def helm_repository(name: str, url: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"interval": "1h", "url": url}
    if url.startswith("oci://"):
        spec["type"] = "oci"
    return {"apiVersion": SOURCE_API, "kind": "HelmRepository", "metadata": {"name": name}, "spec": spec}


def helm_release(name: str, chart: dict[str, Any], depends_on: tuple[str, ...], **spec: Any) -> dict[str, Any]:
    deps = [{"name": d.rpartition("/")[2], **({"namespace": d.partition("/")[0]} if "/" in d else {})}
            for d in depends_on]
    return {"apiVersion": HELM_API, "kind": "HelmRelease", "metadata": {"name": name},
            "spec": {"interval": "1h", **chart, **({"dependsOn": deps} if deps else {}),
                     "values": {"replicas": 1, "app": name}, **spec}}


def cluster_template_helm(**overrides: dict[str, Any]) -> dict[str, str]:
    """The files; `overrides[app]` replaces fields of that app's HelmRelease spec (e.g. a chartRef kind)."""
    files: dict[str, str] = {}
    files["kubernetes/flux/cluster/ks.yaml"] = dump(flux_ks(
        "cluster-apps", "./kubernetes/apps", decryption={"provider": "sops"}))
    by_namespace: dict[str, list[str]] = {}
    for ns, app, where, version, deps in APPS:
        by_namespace.setdefault(ns, []).append(app)
        ks = flux_ks(app, f"./kubernetes/apps/{ns}/{app}/app", source_namespace="flux-system", targetNamespace=ns,
                     commonMetadata={"labels": {"app.kubernetes.io/name": app}}, wait=False)
        del ks["metadata"]["namespace"]  # set by the namespace's kustomization, as the template has it
        files[f"kubernetes/apps/{ns}/{app}/ks.yaml"] = dump(ks)
        base = f"kubernetes/apps/{ns}/{app}/app"
        if where.startswith("helmrepository:"):
            source = "helmrepository.yaml"
            files[f"{base}/{source}"] = dump(helm_repository(app, where.partition(":")[2]))
            chart = {"chart": {"spec": {"chart": app, "version": version,
                                        "sourceRef": {"kind": "HelmRepository", "name": app}}}}
        else:
            source = "ocirepository.yaml"
            files[f"{base}/{source}"] = dump(oci_repository(app, where, version))
            chart = {"chartRef": {"kind": "OCIRepository", "name": app}}
        release = helm_release(app, chart, deps)
        release["spec"].update(overrides.get(app, {}))
        files[f"{base}/helmrelease.yaml"] = dump(release)
        files[f"{base}/kustomization.yaml"] = kustomization(resources=["./helmrelease.yaml", f"./{source}"])
    for ns, apps in by_namespace.items():
        files[f"kubernetes/apps/{ns}/namespace.yaml"] = dump(namespace(ns))
        files[f"kubernetes/apps/{ns}/kustomization.yaml"] = kustomization(
            namespace=ns, resources=["./namespace.yaml", *(f"./{app}/ks.yaml" for app in apps)])
    files["README.md"] = "# home-ops\n"
    return files
