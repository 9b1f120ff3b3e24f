"""plan.build_plan: wave classes, annotations, depends-on, fix-ups, created namespaces, determinism."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap.errors import ValidationError
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.stages.order import CREATED, build_plan, crd_kinds, plan_records, render_plan
from bootstrap.stages.playbook import parse_playbook, rendered_playbook
from bootstrap.report.model import ObjectRecord

CLUSTER = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
           "StorageClass", "IngressClass", "RuntimeClass", "APIService", "PersistentVolume",
           "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
API = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
       "Job": "batch/v1", "CronJob": "batch/v1", "Ingress": "networking.k8s.io/v1",
       "IngressClass": "networking.k8s.io/v1", "CustomResourceDefinition": "apiextensions.k8s.io/v1",
       "ClusterRole": "rbac.authorization.k8s.io/v1", "Role": "rbac.authorization.k8s.io/v1",
       "RoleBinding": "rbac.authorization.k8s.io/v1", "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
       "PriorityClass": "scheduling.k8s.io/v1", "StorageClass": "storage.k8s.io/v1",
       "RuntimeClass": "node.k8s.io/v1", "APIService": "apiregistration.k8s.io/v1",
       "MutatingWebhookConfiguration": "admissionregistration.k8s.io/v1",
       "ValidatingWebhookConfiguration": "admissionregistration.k8s.io/v1", "Widget": "example.com/v1"}


def scope(api_version: str, kind: str) -> bool | None:
    if kind == "Widget":
        return None  # unknown to the cluster: only the CRD in the set can say
    return kind not in CLUSTER


def obj(kind, name, namespace=None, source=None, annotations=None, labels=None, **extra) -> Manifest:
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    if labels:
        meta["labels"] = labels
    body = {"apiVersion": API.get(kind, "v1"), "kind": kind, "metadata": meta, **extra}
    return Manifest(ref=ref_of(body), body=body, source=source or f"{kind.lower()}-{name}.yaml")


def crd(kind="Widget", group="example.com", scope_="Namespaced", source=None) -> Manifest:
    return obj("CustomResourceDefinition", f"{kind.lower()}s.{group}", source=source,
               spec={"group": group, "scope": scope_, "names": {"kind": kind}, "versions": [{"name": "v1"}]})


def flat(plan) -> list[str]:
    return [str(m.ref) for m in plan.manifests]


def position(plan) -> dict[str, int]:
    """ref -> (phase, wave) rank, for ordering assertions."""
    out, rank = {}, 0
    for phase in plan.phases:
        for wave in phase.waves:
            rank += 1
            out.update({str(m.ref): rank for m in wave.manifests})
    return out


def test_every_kind_class_in_order():
    kinds = ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService", "Ingress", "Job",
             "CronJob", "DaemonSet", "StatefulSet", "Deployment", "Service", "RoleBinding", "Role",
             "PersistentVolumeClaim", "LimitRange", "ResourceQuota", "ConfigMap", "Secret", "ServiceAccount",
             "RuntimeClass", "IngressClass", "StorageClass", "ClusterRole", "PriorityClass",
             "CustomResourceDefinition", "Namespace"]
    objects = [obj(k, "x", None if k in CLUSTER else "ns") for k in kinds]
    plan = build_plan(objects, None, is_namespaced=scope)
    labels = [w.label for w in plan.phases[0].waves]
    assert labels == ["namespaces+crds", "cluster", "config", "workloads", "jobs", "ingress+webhooks"]
    order = [m.ref.kind for m in plan.manifests]
    assert order[:3] == ["Namespace", "Namespace", "CustomResourceDefinition"]  # "x" and the created "ns"
    order = order[1:]
    assert order[2:7] == ["PriorityClass", "ClusterRole", "StorageClass", "IngressClass", "RuntimeClass"]
    assert order[7] == "ServiceAccount" and order.index("Secret") < order.index("RoleBinding")
    assert order.index("Service") < order.index("Deployment") < order.index("Job")
    assert order[-4:] == ["Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
    assert plan.created_namespaces == ["ns"]


def test_namespace_defined_after_its_members_still_comes_first():
    plan = build_plan([obj("ConfigMap", "c", "demo"), obj("Namespace", "demo")], None, is_namespaced=scope)
    assert flat(plan) == ["Namespace/demo", "ConfigMap/demo/c"]
    assert plan.created_namespaces == []


def test_custom_resources_follow_their_crd_even_against_sync_waves():
    widget = obj("Widget", "w1", "demo", annotations={"argocd.argoproj.io/sync-wave": "-5"})
    plan = build_plan([widget, obj("Namespace", "demo"), crd()], None, is_namespaced=scope)
    pos = position(plan)
    assert pos["CustomResourceDefinition/widgets.example.com"] < pos["Widget/demo/w1"]
    assert pos["Namespace/demo"] < pos["Widget/demo/w1"]


def test_cr_is_after_workloads_by_default_and_cluster_scoped_crs_get_no_namespace():
    plan = build_plan([obj("Widget", "w"), crd(scope_="Cluster"), obj("Deployment", "d", "demo")],
                      None, is_namespaced=scope)
    labels = {str(m.ref): w.label for p in plan.phases for w in p.waves for m in w.manifests}
    assert labels["Widget/w"] == "custom resources"
    assert plan.created_namespaces == ["demo"]


def test_unknown_namespaced_kind_without_namespace_goes_to_default():
    plan = build_plan([obj("Widget", "w"), crd(), obj("ClusterRole", "r")], None, is_namespaced=scope)
    assert "Widget/default/w" in flat(plan) and "ClusterRole/r" in flat(plan)
    assert plan.created_namespaces == ["default"]
    created = [m for m in plan.manifests if m.source == CREATED]
    assert [m.ref.name for m in created] == ["default"]


def test_sync_wave_beats_kind_classes():
    early = obj("Deployment", "early", "demo", annotations={"argocd.argoproj.io/sync-wave": "-1"})
    plan = build_plan([obj("Secret", "s", "demo"), early, obj("Namespace", "demo")], None, is_namespaced=scope)
    assert flat(plan) == ["Namespace/demo", "Deployment/demo/early", "Secret/demo/s"]
    # pushed just after its Namespace (sync-wave 0): a sub-wave of that wave
    assert [w.label for w in plan.phases[0].waves] == ["namespaces+crds", "namespaces+crds +1", "config"]
    late = obj("ClusterRole", "late", annotations={"argocd.argoproj.io/sync-wave": "2"})
    plan = build_plan([late, obj("ClusterRole", "r")], None, is_namespaced=scope)
    assert [w.label for w in plan.phases[0].waves] == ["cluster", "cluster (sync-wave 2)"]


def test_bad_sync_wave_is_refused():
    with pytest.raises(ValidationError, match="sync-wave 'soon' is not an integer"):
        build_plan([obj("Secret", "s", "d", annotations={"argocd.argoproj.io/sync-wave": "soon"})], None,
                   is_namespaced=scope)


def test_depends_on_orders_within_a_class():
    a = obj("Deployment", "a", "demo", annotations={"dr-bootstrap.io/depends-on": "Deployment/b, StatefulSet/demo/db"})
    b = obj("Deployment", "b", "demo")
    db = obj("StatefulSet", "db", "demo")
    plan = build_plan([a, b, db, obj("Namespace", "demo")], None, is_namespaced=scope)
    pos = position(plan)
    assert pos["Deployment/demo/b"] < pos["Deployment/demo/a"] and pos["StatefulSet/demo/db"] < pos["Deployment/demo/a"]
    assert [w.label for w in plan.phases[0].waves] == ["namespaces+crds", "workloads", "workloads +1"]


@pytest.mark.parametrize("target", ["Deployment/nope", "Secret/other/b", "garbage", "a/b/c/d"])
def test_depends_on_unknown_target_or_bad_syntax(target):
    a = obj("Deployment", "a", "demo", annotations={"dr-bootstrap.io/depends-on": target})
    with pytest.raises(ValidationError, match=r"Deployment/demo/a: dr-bootstrap.io/depends-on"):
        build_plan([a, obj("Deployment", "b", "demo")], None, is_namespaced=scope)


def test_depends_on_cycle_names_the_objects():
    a = obj("ConfigMap", "a", "d", annotations={"dr-bootstrap.io/depends-on": "ConfigMap/b"})
    b = obj("ConfigMap", "b", "d", annotations={"dr-bootstrap.io/depends-on": "ConfigMap/c"})
    c = obj("ConfigMap", "c", "d", annotations={"dr-bootstrap.io/depends-on": "ConfigMap/a"})
    with pytest.raises(ValidationError, match=r"dependency cycle: ConfigMap/d/\w -> ConfigMap/d/\w -> ConfigMap/d/\w -> ConfigMap/d/\w"):
        build_plan([a, b, c], None, is_namespaced=scope)


PLAYBOOK = {
    "apiVersion": "dr-bootstrap.io/v1alpha1", "kind": "Playbook", "metadata": {"name": "t"},
    "spec": {"phases": [
        {"name": "apps", "paths": ["apps/**"], "dependsOn": ["platform"], "timeout": "2m"},
        {"name": "platform", "paths": ["infra/**", "ns/*.yaml"], "verify": {"rollouts": False}},
    ]},
}


def test_phases_from_playbook_with_hoisting_and_skips():
    objects = [
        obj("Deployment", "web", "shop", source="apps/web.yaml"),
        obj("Namespace", "shop", source="apps/ns.yaml"),  # needed by platform too: hoisted there
        obj("ConfigMap", "cfg", "shop", source="infra/cfg.yaml"),
        obj("Secret", "stray", "shop", source="misc/stray.yaml"),
    ]
    plan = build_plan(objects, parse_playbook(PLAYBOOK, "pb.yaml"), is_namespaced=scope)
    assert [p.name for p in plan.phases] == ["platform", "apps"]
    assert [str(m.ref) for m in plan.phases[0].manifests] == ["Namespace/shop", "ConfigMap/shop/cfg"]
    assert [str(m.ref) for m in plan.phases[1].manifests] == ["Deployment/shop/web"]
    assert plan.phases[1].timeout == 120 and plan.phases[1].depends_on == ["platform"]
    assert plan.phases[0].verify.rollouts is False
    assert [(s.path, s.reason) for s in plan.skipped] == [
        ("misc/stray.yaml: Secret/shop/stray", "not selected by any playbook phase")]


def test_depends_on_a_later_phase_is_refused():
    web = obj("Deployment", "web", "shop", source="infra/web.yaml",
              annotations={"dr-bootstrap.io/depends-on": "ConfigMap/late"})
    late = obj("ConfigMap", "late", "shop", source="apps/late.yaml")
    with pytest.raises(ValidationError, match="restored later"):
        build_plan([web, late], parse_playbook(PLAYBOOK, "pb.yaml"), is_namespaced=scope)


def test_deterministic_whatever_the_input_order():
    objects = [obj(k, f"n{i}", None if k in CLUSTER else f"ns{i % 3}")
               for i, k in enumerate(["Secret", "Deployment", "ConfigMap", "ClusterRole", "Service", "Job"] * 4)]
    expected = render_plan(build_plan(objects, None, is_namespaced=scope))
    for seed in range(5):
        shuffled = objects[:]
        random.Random(seed).shuffle(shuffled)
        assert render_plan(build_plan(shuffled, None, is_namespaced=scope)) == expected


def test_render_plan_lines():
    lines = render_plan(build_plan([obj("ConfigMap", "c", "demo", source="a.yaml")], None, is_namespaced=scope))
    assert lines == [
        "phase all",
        "  wave 1 [namespaces+crds] 1 object(s)",
        "    Namespace/demo  <- (created)",
        "  wave 2 [config] 1 object(s)",
        "    ConfigMap/demo/c  <- a.yaml",
        "namespaces created: demo",
    ]


KINDS = ["Namespace", "CustomResourceDefinition", "Secret", "ConfigMap", "Deployment", "Job", "Widget",
         "Ingress", "ClusterRole", "Service"]


@st.composite
def object_sets(draw):
    count = draw(st.integers(1, 14))
    objects = []
    for i in range(count):
        kind = draw(st.sampled_from(KINDS))
        if kind == "CustomResourceDefinition" and any(o.ref.kind == kind for o in objects):
            kind = "ConfigMap"  # one CRD for Widget at most
        ns = None if kind in CLUSTER else draw(st.sampled_from(["a", "b", "c"]))
        ann = {}
        if draw(st.booleans()):
            ann["argocd.argoproj.io/sync-wave"] = str(draw(st.integers(-2, 2)))
        # depend only on earlier objects (acyclic by construction); a Namespace or CRD depending on
        # something would close a real cycle with the implicit namespace/CRD edges
        if i and kind not in ("Namespace", "CustomResourceDefinition") and draw(st.booleans()):
            target = objects[draw(st.integers(0, i - 1))]
            ann["dr-bootstrap.io/depends-on"] = "/".join(
                p for p in (target.ref.kind, target.ref.namespace, target.ref.name) if p)
        objects.append(obj(kind, f"o{i}" if kind != "CustomResourceDefinition" else f"widgets{i}.example.com",
                           ns, annotations=ann or None,
                           **({"spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget"}}}
                              if kind == "CustomResourceDefinition" else {})))
    if draw(st.booleans()):
        objects.append(obj("Namespace", draw(st.sampled_from(["a", "b", "c"])), annotations={
            "argocd.argoproj.io/sync-wave": str(draw(st.integers(-2, 2)))}))
    return objects


@settings(max_examples=150, deadline=None)
@given(object_sets())
def test_order_respects_every_dependency(objects):
    crd_names = [o for o in objects if o.ref.kind == "CustomResourceDefinition"]
    plan = build_plan(objects, None, is_namespaced=scope)
    pos = position(plan)
    assert sorted(pos) == sorted({str(m.ref) for m in plan.manifests})
    for m in plan.manifests:
        if m.ref.namespace:
            assert pos[f"Namespace/{m.ref.namespace}"] < pos[str(m.ref)]
        if m.ref.kind == "Widget" and crd_names:
            assert pos[str(crd_names[0].ref)] < pos[str(m.ref)]
        for target in (m.annotations.get("dr-bootstrap.io/depends-on") or "").split(","):
            if target:
                parts = target.split("/")
                ref = target if len(parts) == 3 or parts[0] in CLUSTER else f"{parts[0]}/{m.ref.namespace}/{parts[1]}"
                assert pos[ref] < pos[str(m.ref)], (ref, str(m.ref))


# --- what the mutation run over plan.py found untested (docs/mutation.md) ----------------------------------


def test_scope_from_the_cluster_by_api_version_then_the_known_kinds():
    cluster = {("example.com/v1", "Gadget"): False, ("other.io/v1", "Gadget"): True}
    objects = [obj("Gadget", "g1", apiVersion="example.com/v1"), obj("Gadget", "g2", apiVersion="other.io/v1")]
    plan = build_plan(objects, None, is_namespaced=lambda api, kind: cluster.get((api, kind)))
    assert {"Gadget/g1", "Gadget/default/g2"} <= set(flat(plan))
    # no discovery at all: the built-in list of cluster-scoped kinds decides, everything else is namespaced
    plan = build_plan([obj("ClusterRole", "r"), obj("ConfigMap", "c")], None, is_namespaced=lambda api, kind: None)
    assert {"ClusterRole/r", "ConfigMap/default/c"} <= set(flat(plan))


def test_defaulted_namespace_is_written_into_the_body_and_the_rest_is_kept():
    secret = obj("Secret", "s", annotations={"a": "b"}, type="Opaque")
    secret.encrypted = True
    [planned] = [m for m in build_plan([secret], None, is_namespaced=scope).manifests if m.ref.kind == "Secret"]
    assert str(planned.ref) == "Secret/default/s"
    assert planned.body == {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                            "metadata": {"name": "s", "annotations": {"a": "b"}, "namespace": "default"}}
    assert planned.encrypted is True and planned.source == secret.source
    assert "namespace" not in secret.body["metadata"]  # the input is not modified


def test_created_namespace_is_a_plain_v1_namespace():
    [created] = [m for m in build_plan([obj("ConfigMap", "c", "demo")], None, is_namespaced=scope).manifests
                 if m.source == CREATED]
    assert str(created.ref) == "Namespace/demo" and created.ref.api_version == "v1"
    assert created.body == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}


def test_defaulted_namespace_keeps_the_rendered_phase():
    # No playbook: one phase per Flux Kustomization, chosen by Manifest.origin. A namespaced object written
    # without a namespace must stay in its Kustomization's phase, not be skipped as "not selected".
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    cm = Manifest(ref=ref_of(body), body=body, source="apps/c.yaml", origin="flux-system/apps")
    plan = build_plan([cm], rendered_playbook([("apps", "flux-system/apps")]), is_namespaced=scope)
    assert plan.skipped == [] and "ConfigMap/default/c" in flat(plan)


def test_same_name_in_two_namespaces_from_one_file_orders_by_namespace():
    b, a = obj("ConfigMap", "c", "b", source="cms.yaml"), obj("ConfigMap", "c", "a", source="cms.yaml")
    for objects in ([a, b], [b, a]):
        assert flat(build_plan(objects, None, is_namespaced=scope))[2:] == ["ConfigMap/a/c", "ConfigMap/b/c"]


def test_annotations_that_are_not_a_mapping_count_as_none():
    odd = obj("ConfigMap", "c", "demo", annotations=["argocd.argoproj.io/sync-wave", "dr-bootstrap.io/depends-on"])
    plan = build_plan([odd], None, is_namespaced=scope)
    assert [w.label for w in plan.phases[0].waves] == ["namespaces+crds", "config"]


def test_kinds_outside_the_table():
    snapshots = obj("VolumeSnapshotClass", "fast", apiVersion="snapshot.storage.k8s.io/v1")  # CRD in the cluster
    certificate = obj("Certificate", "tls", "demo", apiVersion="cert-manager.io/v1")  # CRD in the cluster
    widget_class = obj("WidgetClass", "big", apiVersion="example.com/v1")
    objects = [snapshots, certificate, widget_class, crd("WidgetClass", scope_="Cluster"), obj("Namespace", "demo")]
    plan = build_plan(objects, None, is_namespaced=lambda api, kind: None)
    labels = {str(m.ref): w.label for w in plan.phases[0].waves for m in w.manifests}
    assert labels["VolumeSnapshotClass/fast"] == "cluster"  # a *Class kind is cluster configuration (Flux)
    assert labels["Certificate/demo/tls"] == "custom resources"
    assert labels["WidgetClass/big"] == "custom resources"  # unless the set defines it: a custom resource


def test_an_object_named_like_a_namespace_is_not_that_namespace():
    objects = [obj("Namespace", "demo"), obj("Secret", "s", "demo"), obj("ConfigMap", "demo", "other")]
    plan = build_plan(objects, None, is_namespaced=scope)
    assert [w.label for w in plan.phases[0].waves] == ["namespaces+crds", "config"]


def test_unknown_target_message_names_the_target():
    a = obj("Deployment", "a", "demo", annotations={"dr-bootstrap.io/depends-on": "Secret/other/b"})
    with pytest.raises(ValidationError, match="target Secret/other/b is not in the restore set"):
        build_plan([a], None, is_namespaced=scope)


def test_cycle_message_names_the_cycle_once_and_not_what_waits_on_it():
    a = obj("ConfigMap", "a", "d", annotations={"dr-bootstrap.io/depends-on": "ConfigMap/b"})  # outside the cycle
    b = obj("ConfigMap", "b", "d", annotations={"dr-bootstrap.io/depends-on": "ConfigMap/c"})
    c = obj("ConfigMap", "c", "d", annotations={"dr-bootstrap.io/depends-on": "ConfigMap/b"})
    with pytest.raises(ValidationError, match=r"^dependency cycle: ConfigMap/d/b -> ConfigMap/d/c -> ConfigMap/d/b$"):
        build_plan([a, b, c], None, is_namespaced=scope)


def test_object_in_two_phases_can_be_a_dependency():
    dependent = obj("ConfigMap", "app", "shop", source="apps/app.yaml",
                    annotations={"dr-bootstrap.io/depends-on": "ConfigMap/cfg"})
    objects = [obj("ConfigMap", "cfg", "shop", source="infra/cfg.yaml"),
               obj("ConfigMap", "cfg", "shop", source="apps/cfg.yaml"), dependent]
    plan = build_plan(objects, parse_playbook(PLAYBOOK, "pb.yaml"), is_namespaced=scope)
    assert [[m.source for m in p.manifests] for p in plan.phases] == [
        [CREATED, "infra/cfg.yaml"], ["apps/cfg.yaml", "apps/app.yaml"]]


def test_crd_moves_to_the_earliest_phase_with_one_of_its_resources():
    objects = [obj("Widget", "w", "demo", source="infra/w.yaml"), obj("ConfigMap", "c", "demo", source="infra/c.yaml"),
               obj("Gadget", "g", "demo", source="apps/g.yaml", apiVersion="example.com/v1"),
               obj("Namespace", "demo", source="ns/demo.yaml"), crd(source="apps/widget-crd.yaml"),
               crd("Gadget", source="apps/gadget-crd.yaml")]
    plan = build_plan(objects, parse_playbook(PLAYBOOK, "pb.yaml"), is_namespaced=scope)
    platform, apps = ([str(m.ref) for m in p.manifests] for p in plan.phases)
    assert platform == ["Namespace/demo", "CustomResourceDefinition/widgets.example.com", "ConfigMap/demo/c",
                        "Widget/demo/w"]
    assert apps == ["CustomResourceDefinition/gadgets.example.com", "Gadget/demo/g"]  # no Gadget earlier


def test_namespaces_are_created_for_every_phase():
    objects = [obj("ConfigMap", "c", "a", source="infra/c.yaml"), obj("ConfigMap", "d", "a", source="apps/d.yaml"),
               obj("Deployment", "web", "b", source="apps/web.yaml")]
    plan = build_plan(objects, parse_playbook(PLAYBOOK, "pb.yaml"), is_namespaced=scope)
    assert plan.created_namespaces == ["a", "b"]
    assert [m.ref.name for m in plan.manifests if m.source == CREATED] == ["a", "b"]


def test_render_and_records_of_a_playbook_plan():
    objects = [obj("ConfigMap", "cfg", "shop", source="infra/cfg.yaml"), obj("Widget", "w", "web", source="apps/w.yaml"),
               obj("Secret", "stray", "shop", source="misc/stray.yaml")]
    plan = build_plan(objects, parse_playbook(PLAYBOOK, "pb.yaml"), is_namespaced=scope)
    needs_crd = lambda ref: ref.kind == "Widget"  # noqa: E731
    assert render_plan(plan, needs_crd) == [
        "phase platform (no rollout check)",
        "  wave 1 [namespaces+crds] 1 object(s)",
        "    Namespace/shop  <- (created)",
        "  wave 2 [config] 1 object(s)",
        "    ConfigMap/shop/cfg  <- infra/cfg.yaml",
        "phase apps (after platform; timeout 120s)",
        "  wave 1 [namespaces+crds] 1 object(s)",
        "    Namespace/web  <- (created)",
        "  wave 2 [custom resources] 1 object(s)",
        "    Widget/web/w  <- apps/w.yaml  (needs its CRD in the cluster)",
        "namespaces created: shop, web",
        "skipped misc/stray.yaml: Secret/shop/stray: not selected by any playbook phase",
    ]
    record = lambda phase, kind, ns, name, wave, source, message="": ObjectRecord(  # noqa: E731
        phase=phase, kind=kind, namespace=ns, name=name, action="planned", wave=wave, source=source, message=message)
    assert plan_records(plan, needs_crd) == [
        record("platform", "Namespace", "", "shop", 1, CREATED),
        record("platform", "ConfigMap", "shop", "cfg", 2, "infra/cfg.yaml"),
        record("apps", "Namespace", "", "web", 1, CREATED),
        record("apps", "Widget", "web", "w", 2, "apps/w.yaml", "needs its CRD in the cluster"),
    ]
    assert [r.message for r in plan_records(plan)] == ["", "", "", ""]


def test_render_names_every_phase_a_phase_waits_for():
    phases = [{"name": "a", "paths": ["a/**"]}, {"name": "b", "paths": ["b/**"]},
              {"name": "c", "paths": ["**"], "dependsOn": ["a", "b"]}]
    playbook = parse_playbook({**PLAYBOOK, "spec": {"phases": phases}}, "pb.yaml")
    assert render_plan(build_plan([], playbook, is_namespaced=scope))[-1] == "phase c (after a, b)"


def test_crd_kinds_are_group_and_kind():
    objects = [crd(), crd("Gadget", "other.io"), obj("ConfigMap", "c", "d")]
    assert crd_kinds(objects) == {("example.com", "Widget"), ("other.io", "Gadget")}
