"""flux-operator's FluxInstance as the root (`engines.flux.instance`), pure.

The expected objects are what flux-operator v0.59's builder makes from `spec.sync` (internal/builder
templates.go `syncTmpl`, the controller's `syncName` default; its golden test data for the sync objects),
written out here by hand: source and Kustomization named `sync.name`, else the FluxInstance's namespace; the
source's interval as the API server returns a metav1.Duration; GitRepository `ref.name`, OCIRepository
`ref.tag`, Bucket `bucketName` + `endpoint`; pullSecret as `secretRef`; the Kustomization's fixed interval
10m0s and prune true; the operator's labels and annotations. The flux-instance chart's mapping of
`values.instance` (FluxInstance `flux` in the release namespace, sync rendered only with a url, kind and
interval defaults) and kustomize-controller's `--sops-age-secret` as the patches set it.
"""

from __future__ import annotations

import pytest

from bootstrap.engines.flux import instance
from bootstrap.errors import ValidationError

OPERATOR_LABELS = {"app.kubernetes.io/managed-by": "flux-operator", "app.kubernetes.io/instance": "flux-system",
                   "app.kubernetes.io/part-of": "flux"}
OPERATOR_ANNOTATIONS = {"kustomize.toolkit.fluxcd.io/ssa": "Ignore", "kustomize.toolkit.fluxcd.io/prune": "Disabled"}


def flux_instance(sync: dict | None, patches: list | None = None, ns: str = "flux-system") -> dict:
    spec: dict = {"distribution": {"version": "2.x", "registry": "ghcr.io/fluxcd"}}
    if sync is not None:
        spec["sync"] = sync
    if patches is not None:
        spec["kustomize"] = {"patches": patches}
    return {"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
            "metadata": {"name": "flux", "namespace": ns}, "spec": spec}


def meta(name: str, ns: str = "flux-system") -> dict:
    return {"name": name, "namespace": ns, "labels": {**OPERATOR_LABELS, "app.kubernetes.io/instance": ns},
            "annotations": OPERATOR_ANNOTATIONS}


def test_git_sync_makes_the_operators_gitrepository_and_kustomization():
    found = instance.from_object(flux_instance({
        "kind": "GitRepository", "url": "ssh://git@github.com/acme/fleet", "ref": "refs/heads/main",
        "path": "clusters/prod", "pullSecret": "flux-system", "interval": "1m"}), "fi.yaml")
    source, ks = found.root()
    assert source == {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": meta("flux-system"),
                      "spec": {"interval": "1m0s", "ref": {"name": "refs/heads/main"}, "secretRef": {"name": "flux-system"},
                               "url": "ssh://git@github.com/acme/fleet"}}
    assert ks == {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": meta("flux-system"),
                  "spec": {"interval": "10m0s", "path": "clusters/prod", "prune": True,
                           "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}


def test_sync_name_oci_and_bucket_sources():
    oci = instance.from_object(flux_instance({
        "kind": "OCIRepository", "url": "oci://ghcr.io/acme/fleet", "ref": "latest", "path": "./", "name": "fleet",
        "provider": "aws", "interval": "5m"}, ns="ops"), "fi.yaml")
    source, ks = oci.root()
    assert source["metadata"]["name"] == ks["metadata"]["name"] == "fleet"
    assert source["metadata"]["namespace"] == "ops" and source["metadata"]["labels"]["app.kubernetes.io/instance"] == "ops"
    assert source["spec"] == {"interval": "5m0s", "ref": {"tag": "latest"}, "provider": "aws",
                              "url": "oci://ghcr.io/acme/fleet"}
    assert ks["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": "fleet"}
    bucket = instance.from_object(flux_instance({
        "kind": "Bucket", "url": "minio.example:9000", "ref": "flux", "path": "prod", "pullSecret": "s3",
        "interval": "1h"}), "fi.yaml")
    source, _ = bucket.root()
    assert source["spec"] == {"interval": "1h0m0s", "bucketName": "flux", "secretRef": {"name": "s3"},
                              "endpoint": "minio.example:9000"}


def test_root_kustomization_for_the_discovery():
    body = flux_instance({"kind": "GitRepository", "url": "https://example.invalid/fleet", "ref": "refs/heads/main",
                          "path": "./kubernetes/flux/cluster", "interval": "1m"})
    k = instance.root_kustomization(body, "kubernetes/flux-instance.yaml")
    assert str(k.key) == "flux-system/flux-system" and k.path == "kubernetes/flux/cluster"
    assert str(k.source) == "GitRepository/flux-system/flux-system" and k.parent is None
    assert instance.is_root(k) and "FluxInstance flux-system/flux" in k.found_in
    assert instance.root_kustomization(flux_instance(None), "x.yaml") is None  # no sync: the operator makes none
    assert instance.root_kustomization({"apiVersion": "v1", "kind": "ConfigMap"}, "x.yaml") is None


def test_flux_instance_chart_values():
    """The flux-instance chart: FluxInstance `flux` (fullnameOverride) in the release's namespace, sync only
    when instance.sync.url is set, kind GitRepository and interval 1m by default."""
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "flux-instance", "namespace": "flux-system"},
               "spec": {"values": {"instance": {"sync": {"url": "ssh://git@github.com/acme/home",
                                                         "ref": "refs/heads/main", "path": "kubernetes/flux/cluster",
                                                         "pullSecret": "github-deploy-key"},
                                                "kustomize": {"patches": []}}}}}
    found = instance.from_object(release, "helmrelease.yaml")
    assert (found.namespace, found.name, found.pull_secret) == ("flux-system", "flux", "github-deploy-key")
    source, _ = found.root()
    assert source["kind"] == "GitRepository" and source["spec"]["interval"] == "1m0s"
    release["spec"]["targetNamespace"] = "flux-ops"
    assert instance.from_object(release, "helmrelease.yaml").namespace == "flux-ops"
    release["spec"]["values"]["instance"]["sync"]["url"] = ""
    assert instance.from_object(release, "helmrelease.yaml") is None


@pytest.mark.parametrize("sync, cause", [
    ({"kind": "GitRepository", "url": "https://x", "ref": "main"}, "spec.sync.path is required"),
    ({"kind": "HelmRepository", "url": "https://x", "ref": "main", "path": "."}, "is not one of"),
    ({"kind": "GitRepository", "url": "https://x", "ref": "main", "path": ".", "interval": "soon"}, "not a duration"),
])
def test_a_malformed_sync_is_refused_naming_the_instance(sync, cause):
    with pytest.raises(ValidationError, match=cause) as err:
        found = instance.from_object(flux_instance(sync), "fi.yaml")
        found.root()
    assert "fi.yaml" in str(err.value)


JSON6902 = "- op: add\n  path: /spec/template/spec/containers/0/args/-\n  value: {}\n"


@pytest.mark.parametrize("patches, expected", [
    ([{"patch": JSON6902.format("--sops-age-secret=sops-age"),
       "target": {"kind": "Deployment", "name": "kustomize-controller"}}], "sops-age"),
    ([{"patch": JSON6902.format("--sops-age-secret=sops-age"),
       "target": {"kind": "Deployment", "name": "(kustomize-controller|helm-controller)"}}], "sops-age"),
    ([{"patch": JSON6902.format("--sops-age-secret=sops-age"), "target": {"kind": "Deployment"}}], "sops-age"),
    ([{"patch": JSON6902.format("--sops-age-secret=sops-age"),
       "target": {"kind": "Deployment", "name": "helm-controller"}}], None),
    ([{"patch": JSON6902.format("--sops-age-secret=first"), "target": {"name": "kustomize-controller"}},
      {"patch": JSON6902.format("--sops-age-secret=last"), "target": {"name": "kustomize-controller"}}], "last"),
    ([{"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kustomize-controller\nspec:\n"
                "  template:\n    spec:\n      containers:\n      - name: manager\n"
                "        args: [--sops-age-secret, age-key]\n"}], "age-key"),
    ([{"patch": JSON6902.format("--concurrent=10"), "target": {"name": "kustomize-controller"}}], None),
    ([], None),
])
def test_sops_age_secret_as_the_patches_set_it(patches, expected):
    assert instance.age_secret_flag(patches) == expected


@pytest.mark.parametrize("text, go", [("1m", "1m0s"), ("1h", "1h0m0s"), ("90s", "1m30s"), ("500ms", "500ms"),
                                      ("1.5h", "1h30m0s"), ("10m0s", "10m0s"), ("2m3.5s", "2m3.5s")])
def test_durations_as_go_prints_them(text, go):
    assert instance.go_duration(text, "x") == go


def test_ssh_urls():
    assert instance.is_ssh("ssh://git@github.com/acme/fleet")
    assert instance.is_ssh("git@github.com:acme/fleet.git")
    assert not instance.is_ssh("https://github.com/acme/fleet")
