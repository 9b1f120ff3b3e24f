"""Object scope when the plan is made: known from the cluster (offline the built-in kinds) or a CRD in the set;
otherwise unknown, and offline the object is kept as written (no namespace added), as kustomize and Flux keep
it; with a cluster, its discovery decides when the object is applied."""

from __future__ import annotations

from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.stages.order import SCOPE_UNKNOWN, build_plan, plan_records, render_plan
from bootstrap.stages.validate import _offline_namespaced, warn_unknown_scope


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, **extra) -> Manifest:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, **({"namespace": namespace}
                                                                                    if namespace else {})}, **extra}
    return Manifest(ref=ref_of(body), body=body, source=f"infra/{name}.yaml")


def crd(kind: str, group: str, scope: str) -> Manifest:
    return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"{kind.lower()}s.{group}",
               spec={"group": group, "scope": scope, "names": {"kind": kind, "plural": f"{kind.lower()}s"}})


ISSUER = obj("cert-manager.io/v1", "ClusterIssuer", "letsencrypt")


def test_offline_an_unknown_kind_keeps_no_namespace_and_is_reported():
    plan = build_plan([ISSUER, obj("v1", "ConfigMap", "c")], None, is_namespaced=_offline_namespaced, offline=True)
    refs = {(m.ref.kind, m.ref.namespace) for m in plan.manifests}
    assert ("ClusterIssuer", None) in refs and ("ConfigMap", "default") in refs
    assert {str(ref) for ref in plan.unknown_scope} == {"ClusterIssuer/letsencrypt"}
    line = next(line for line in render_plan(plan) if "ClusterIssuer" in line)
    assert line.endswith(f"({SCOPE_UNKNOWN})")
    record = next(r for r in plan_records(plan, lambda ref: ref.kind == "ClusterIssuer") if r.kind == "ClusterIssuer")
    assert record.namespace == "" and record.message == f"needs its CRD in the cluster; {SCOPE_UNKNOWN}"
    notes: list[str] = []
    warn_unknown_scope(plan, notes.append)
    assert len(notes) == 1 and notes[0].startswith("warning: 1 object(s)") and "ClusterIssuer/letsencrypt" in notes[0]


def test_a_crd_in_the_set_or_the_cluster_s_discovery_decides():
    namespaced = build_plan([crd("ClusterIssuer", "cert-manager.io", "Namespaced"), ISSUER], None,
                            is_namespaced=_offline_namespaced, offline=True)
    assert ("ClusterIssuer", "default") in {(m.ref.kind, m.ref.namespace) for m in namespaced.manifests}
    cluster_scoped = build_plan([crd("ClusterIssuer", "cert-manager.io", "Cluster"), ISSUER], None,
                                is_namespaced=_offline_namespaced, offline=True)
    assert ("ClusterIssuer", None) in {(m.ref.kind, m.ref.namespace) for m in cluster_scoped.manifests}
    for plan in (namespaced, cluster_scoped):
        assert not plan.unknown_scope
    by_cluster = build_plan([ISSUER], None, is_namespaced=lambda av, kind: kind != "ClusterIssuer")
    assert [m.ref.namespace for m in by_cluster.manifests if m.ref.kind == "ClusterIssuer"] == [None]
    # with a cluster that does not know the kind yet, its discovery decides when the object is applied
    not_yet = build_plan([ISSUER], None, is_namespaced=lambda av, kind: None)
    assert [m.ref.namespace for m in not_yet.manifests if m.ref.kind == "ClusterIssuer"] == ["default"]
    assert not not_yet.unknown_scope


def test_an_unknown_kind_with_a_namespace_written_keeps_it_unmarked():
    plan = build_plan([obj("cert-manager.io/v1", "Issuer", "ca", "certs")], None, is_namespaced=_offline_namespaced,
                      offline=True)
    assert not plan.unknown_scope and all(r.message == "" for r in plan_records(plan))
    notes: list[str] = []
    warn_unknown_scope(plan, notes.append)
    assert notes == []
