"""Kinds a Helm release promises (`PromisedKinds`): Flux's, when a selected release renders a FluxInstance; the
validate stage takes them as known and namespaced where the cluster does not know them (`with_promised`), and
the apply gate picks the objects of them the cluster does not serve yet (`promised_refs`)."""

from __future__ import annotations

from bootstrap.engines.base import HelmInstall, PromisedKinds, Rendered, RenderedPhase
from bootstrap.engines.flux.engine import ENGINE
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.stages.validate import promised_refs, with_promised

FLUX = PromisedKinds(".toolkit.fluxcd.io", "FluxInstance flux-system/flux")


def manifest(body: dict) -> Manifest:
    return Manifest(ref_of(body), body, source="x.yaml")


def release(name: str, values: dict | None = None) -> Manifest:
    return manifest({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                     "metadata": {"name": name, "namespace": "flux-system"},
                     "spec": {"chartRef": {"kind": "OCIRepository", "name": name}, "values": values or {}}})


def install(name: str) -> HelmInstall:
    return HelmInstall("flux-system", name, name, "oci://r/charts", "1.0.0", "tag", name, "flux-system",
                       "flux-system", f"OCIRepository flux-system/{name}")


def rendered(*manifests: Manifest) -> Rendered:
    return Rendered("flux", [RenderedPhase("apps", "apps", "apps", list(manifests))], "flux-system/flux-system")


INSTANCE = {"instance": {"sync": {"kind": "GitRepository", "url": "https://git.example/r", "ref": "refs/heads/main",
                                  "path": "kubernetes/flux/cluster"}}}


def test_flux_kinds_are_promised_only_by_a_selected_release_that_renders_a_flux_instance():
    set_ = rendered(release("flux-operator"), release("flux-instance", INSTANCE))
    promised = ENGINE.promised_kinds(set_, [install("flux-operator"), install("flux-instance")])
    assert promised is not None and "flux-system/flux-instance" in promised.why
    assert promised.covers("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    assert promised.covers("helm.toolkit.fluxcd.io/v2", "HelmRelease")
    assert not promised.covers("v1", "Secret") and not promised.covers("cert-manager.io/v1", "ClusterIssuer")
    assert ENGINE.promised_kinds(set_, [install("flux-operator")]) is None  # flux-instance not installed first
    assert ENGINE.promised_kinds(rendered(release("flux-instance", {"instance": {}})), [install("flux-instance")]) is None


def test_promised_kinds_are_known_and_namespaced_where_the_cluster_does_not_know_them():
    known, namespaced = with_promised(FLUX, lambda av, kind: kind == "Secret" or None,
                                      lambda av, kind: True if kind == "Secret" else None)
    assert known("kustomize.toolkit.fluxcd.io/v1", "Kustomization") is True
    assert namespaced("kustomize.toolkit.fluxcd.io/v1", "Kustomization") is True
    assert known("cert-manager.io/v1", "ClusterIssuer") is None  # not promised: as the cluster says
    assert namespaced("cert-manager.io/v1", "ClusterIssuer") is None
    known_false, _ = with_promised(FLUX, lambda av, kind: False, lambda av, kind: None)
    assert known_false("source.toolkit.fluxcd.io/v1", "GitRepository") is True
    assert known_false("example.com/v1", "Widget") is False


def test_the_gate_picks_the_objects_of_promised_kinds_the_cluster_does_not_serve_yet():
    ks = manifest({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                   "metadata": {"name": "cluster-apps", "namespace": "flux-system"}})
    secret = manifest({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "flux-system"}})
    assert promised_refs([ks, secret], FLUX, lambda av, kind: None) == [ks.ref]
    assert promised_refs([ks, secret], FLUX, lambda av, kind: object()) == []  # served now: no wait
