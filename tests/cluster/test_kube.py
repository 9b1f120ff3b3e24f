"""Server-side apply, gates and the key Secret against the real local control plane (no API mocks)."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from typing import Any

import pytest

from bootstrap.errors import ApplyError, ExitCode, UsageError
from tests.support.waiting import poll_until
from bootstrap.kube import (
    FIELD_MANAGER,
    LAST_APPLIED,
    Cluster,
    apply_wave,
    install_key_secret,
    wait_established,
    wait_namespaces_active,
)
from bootstrap.model import Manifest, ObjectRef
from bootstrap.redact import Sensitive
from tests.support.cluster import exec_plugin_kubeconfig, recording_cluster

pytestmark = pytest.mark.cluster


def configmap(ns: str, name: str, data: dict[str, str] | None = None, **meta: Any) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, **meta},
            "data": data or {"a": "1"}}


def manifest(body: dict, source: str = "repo/x.yaml", encrypted: bool = False) -> Manifest:
    meta = body["metadata"]
    return Manifest(ObjectRef(body["apiVersion"], body["kind"], meta.get("namespace"), meta["name"]), body, source,
                    encrypted)


def crd(group: str, plural: str, kind: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": plural, "singular": plural[:-1], "kind": kind},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object",
                     "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]},
    }


# -- apply ------------------------------------------------------------------------------------------


def test_server_version_and_discovery(kube):
    assert kube.server_version().startswith("v1.")
    assert kube.is_namespaced("v1", "ConfigMap") is True
    assert kube.is_namespaced("v1", "Namespace") is False
    assert kube.is_namespaced("apps/v1", "Deployment") is True
    assert kube.is_namespaced("example.com/v1", "Nope") is None


def test_apply_reports_created_then_unchanged_then_configured(kube, ns):
    body = configmap(ns, "cfg")
    ref = ObjectRef("v1", "ConfigMap", ns, "cfg")
    assert kube.apply(body).action == "created"
    prior = kube.resources.read_versions([ref])
    assert kube.apply(body, prior_rv=prior[ref]).action == "unchanged"
    changed = kube.apply(configmap(ns, "cfg", {"a": "2"}), prior_rv=prior[ref])
    assert changed.action == "configured" and changed.ref == ref
    assert kube.get(changed.ref)["data"] == {"a": "2"}


def test_unchanged_is_detected_without_a_prior_read(kube, ns, local_cluster):
    body = configmap(ns, "stable")
    kube.apply(body)
    time.sleep(3.1)  # managedFields times have one-second resolution; see apply_action
    with Cluster(str(local_cluster.kubeconfig)) as other_run:
        assert other_run.apply(body).action == "unchanged"
        assert other_run.apply(configmap(ns, "stable", {"a": "changed"})).action == "configured"


def test_a_rerun_right_after_the_last_run_tells_unchanged_from_configured_exactly(kube, ns, local_cluster):
    """No waiting out the managedFields clock: a new run reads the versions before it applies."""
    items = [manifest(configmap(ns, f"again-{i}", {"i": str(i)})) for i in range(5)]
    alone = manifest({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "solo", "namespace": ns},
                      "stringData": {"k": "v-solo"}})  # the only Secret: looked up by field selector
    assert {o.action for o in apply_wave(kube.resources, [*items, alone]).outcomes} == {"created"}
    changed = manifest(configmap(ns, "again-3", {"i": "changed"}))
    with Cluster(str(local_cluster.kubeconfig), concurrency=4) as next_run:  # at once, within the same second
        outcomes = apply_wave(next_run.resources, [*items[:3], changed, items[4], alone]).outcomes
    assert [o.action for o in outcomes] == ["unchanged"] * 3 + ["configured", "unchanged", "unchanged"]


def test_versions_are_looked_up_only_where_objects_of_ours_may_already_be(local_cluster, ns):
    fresh = f"t-{uuid.uuid4().hex[:8]}"
    with recording_cluster(local_cluster.kubeconfig, concurrency=2) as run:
        sent = run.client.transport.sent
        changes = apply_wave(run.resources, [manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": fresh}})])
        assert changes.created_namespaces == {fresh}
        sent.clear()
        outcomes = apply_wave(run.resources, [manifest(configmap(fresh, "a")), manifest(configmap(ns, "b"))],
                              created=changes.created_namespaces).outcomes
    assert [o.action for o in outcomes] == ["created", "created"]
    lists = [path for method, path in sent if method == "GET"]
    assert lists == [f"/api/v1/namespaces/{ns}/configmaps"]  # the namespace this run created is not listed


def test_namespace_gate_looks_only_at_namespaces_this_run_did_not_create(local_cluster, ns):
    fresh, gone = (f"t-{uuid.uuid4().hex[:8]}" for _ in range(2))
    with recording_cluster(local_cluster.kubeconfig) as run:
        sent = run.client.transport.sent
        for name in (fresh, gone):
            assert run.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).action == "created"
        run.delete(ObjectRef("v1", "Namespace", None, gone), propagation="Background", wait=False)
        sent.clear()
        wait_namespaces_active(run.resources, [fresh, ns, gone], timeout=60, created={fresh})
        looked_at = [path for method, path in sent if method == "GET"]
    assert f"/api/v1/namespaces/{fresh}" not in looked_at  # created a moment ago: Active
    assert f"/api/v1/namespaces/{ns}" in looked_at  # there before this run
    assert f"/api/v1/namespaces/{gone}" in looked_at  # deleted since: waited out and applied again
    with Cluster(str(local_cluster.kubeconfig)) as kube:
        assert kube.get(ObjectRef("v1", "Namespace", None, gone))["status"]["phase"] == "Active"


def test_apply_is_server_side_with_our_field_manager_and_no_last_applied(kube, ns):
    body = configmap(ns, "owned", annotations={LAST_APPLIED: '{"old":"kubectl"}', "team": "infra"})
    kube.apply(body)
    live = kube.get(ObjectRef("v1", "ConfigMap", ns, "owned"))
    assert live["metadata"]["annotations"] == {"team": "infra"}
    managers = {(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]}
    assert managers == {(FIELD_MANAGER, "Apply")}
    assert body["metadata"]["annotations"][LAST_APPLIED]  # the caller's body is untouched


def test_dry_run_writes_nothing(kube, ns):
    outcome = kube.apply(configmap(ns, "ghost"), dry_run=True)
    assert outcome.action == "dry-run"
    assert kube.get(ObjectRef("v1", "ConfigMap", ns, "ghost")) is None


def test_secret_data_round_trips(kube, ns):
    value = base64.b64encode(b"\x00binary\xffpayload").decode()
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": ns},
                "type": "Opaque", "data": {"blob": value}, "stringData": {"plain": "text value"}})
    live = kube.get(ObjectRef("v1", "Secret", ns, "s"))
    assert live["data"]["blob"] == value
    assert base64.b64decode(live["data"]["plain"]) == b"text value"


def test_rejected_secret_names_the_object_and_leaks_no_value(local_cluster, ns):
    with Cluster(str(local_cluster.kubeconfig), scrub=lambda text: text.replace("topsecretkeyname", "<scrubbed>")) as kube:
        with pytest.raises(ApplyError) as err:
            kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad", "namespace": ns},
                        "stringData": {"topsecretkeyname!": "hunter2-value"}})
    text = str(err.value)
    assert err.value.exit_code == ExitCode.APPLY
    assert text.startswith(f"Secret/{ns}/bad: rejected by the API server (422 Invalid)")
    assert "hunter2" not in text and "topsecretkeyname" not in text and "\n" not in text


def test_unknown_kind_fails_clearly(kube, ns):
    with pytest.raises(ApplyError, match=r"Widget/.*/w: the server has no kind Widget in nope.example.com/v1"):
        kube.apply({"apiVersion": "nope.example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": ns}})


def test_a_field_the_schema_does_not_have_fails_at_once_naming_it(local_cluster, ns):
    # The API server answers 500 for an apply body that does not fit the schema; resending cannot help,
    # so the error must come at once, not after the retry deadline.
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typo", "namespace": ns},
            "data": {"a": "1"}, "dta": {"b": "2"}}
    with recording_cluster(local_cluster.kubeconfig, retry_deadline=60) as cluster:
        with pytest.raises(ApplyError) as err:
            cluster.apply(body)
        assert [m for m, _ in cluster.client.transport.sent].count("PATCH") == 1  # refused once, never sent again
        assert cluster.get(ObjectRef("v1", "ConfigMap", ns, "typo")) is None
    text = str(err.value)
    assert text.startswith(f"ConfigMap/{ns}/typo: rejected by the API server (500")
    assert ".dta: field not declared in schema" in text and "\n" not in text


def test_a_custom_resource_field_the_schema_does_not_have_fails_too(kube, ns):
    # Apply requests go with fieldValidation=Ignore (cheaper for the server); unknown fields are refused all the same.
    group = f"{ns}.example.com"
    kube.apply(crd(group, "gadgets", "Gadget"))
    wait_established(kube.resources, [f"gadgets.{group}"], timeout=30)
    with pytest.raises(ApplyError, match=rf"Gadget/{ns}/g: .*\.spec\.colour: field not declared in schema"):
        kube.apply({"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": ns},
                    "spec": {"size": 3, "colour": "red"}})
    assert kube.get(ObjectRef(f"{group}/v1", "Gadget", ns, "g")) is None


def test_immutable_field_conflict_names_field_then_recreate_replaces(kube, ns):
    def deployment(app: str) -> dict:
        labels = {"app": app}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": "app", "image": "registry.local/app:1"}]}}}}

    kube.apply(deployment("one"))
    with pytest.raises(ApplyError) as err:
        kube.apply(deployment("two"))
    assert str(err.value).startswith(f"Deployment/{ns}/web: field spec.selector is immutable")
    assert "--recreate" in str(err.value)
    with pytest.raises(ApplyError, match="spec.selector is immutable"):
        kube.apply(deployment("two"), dry_run=True)  # a dry run meets the same conflict
    assert kube.apply(deployment("two"), dry_run=True, recreate=True).message.startswith("would be recreated")
    outcome = kube.apply(deployment("two"), recreate=True)
    assert outcome.action == "created" and "spec.selector" in outcome.message
    live = kube.get(ObjectRef("apps/v1", "Deployment", ns, "web"))
    assert live["spec"]["selector"] == {"matchLabels": {"app": "two"}}


# -- waves ------------------------------------------------------------------------------------------


def test_apply_wave_concurrently_keeps_input_order(local_cluster, ns):
    items = [manifest(configmap(ns, f"cm-{i:03d}", {"i": str(i)})) for i in range(120)]
    seen: list[str] = []
    with recording_cluster(local_cluster.kubeconfig, concurrency=16) as kube:
        outcomes = apply_wave(kube.resources, items, on_result=lambda m, o: seen.append(m.ref.name)).outcomes
        assert 1 < kube.client.transport.most_in_flight <= 16  # requests overlapped, never more than asked
        assert len(kube.list("v1", "ConfigMap", ns, label_selector=None)) >= 120
    assert [o.ref.name for o in outcomes] == [m.ref.name for m in items]
    assert {o.action for o in outcomes} == {"created"}
    assert sorted(seen) == sorted(m.ref.name for m in items)


def test_apply_wave_stops_on_first_failure_and_names_it(kube, ns):
    good = [manifest(configmap(ns, f"ok-{i}")) for i in range(3)]
    bad = manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid", "namespace": ns}},
                   source="apps/broken.yaml#2")
    with pytest.raises(ApplyError) as err:
        apply_wave(kube.resources, [*good, bad])
    assert str(err.value).startswith(f"ConfigMap/{ns}/Not_Valid: rejected by the API server (422 Invalid)")
    assert str(err.value).endswith("[apps/broken.yaml#2]")


def test_apply_wave_starts_no_new_object_after_a_failure_that_retrying_cannot_mend(local_cluster, ns):
    bad = manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid", "namespace": ns}},
                   source="apps/broken.yaml#1")
    good = [manifest(configmap(ns, f"after-{i:02d}")) for i in range(60)]
    with recording_cluster(local_cluster.kubeconfig, concurrency=2) as kube:
        with pytest.raises(ApplyError, match=r"Not_Valid: rejected by the API server \(422 Invalid\)"):
            apply_wave(kube.resources, [bad, *good])
        patches = [path for method, path in kube.client.transport.sent if method == "PATCH"]
    assert len(patches) <= 3  # the bad one and those beside it in flight: nothing started after the 422


def test_apply_wave_through_an_exec_plugin_takes_the_same_path(local_cluster, ns, tmp_path):
    """A credential plugin changes only where the certificate comes from: the same transport, the same apply."""
    kubeconfig = exec_plugin_kubeconfig(local_cluster.kubeconfig, tmp_path)
    items = [manifest(configmap(ns, f"plugin-{i}")) for i in range(5)]
    with recording_cluster(kubeconfig, concurrency=3) as through_plugin:
        outcomes = apply_wave(through_plugin.resources, items).outcomes
        assert through_plugin.client.transport.most_in_flight > 1
    assert [(o.ref.name, o.action) for o in outcomes] == [(m.ref.name, "created") for m in items]


# -- gates ------------------------------------------------------------------------------------------


def test_crd_gate_then_custom_resource_applies(kube, ns):
    group = f"{ns}.example.com"
    kube.apply(crd(group, "widgets", "Widget"))
    wait_established(kube.resources, [f"widgets.{group}"], timeout=30)
    assert kube.is_namespaced(f"{group}/v1", "Widget") is True
    outcome = kube.apply({"apiVersion": f"{group}/v1", "kind": "Widget",
                          "metadata": {"name": "w", "namespace": ns}, "spec": {"size": 3}})
    assert outcome.action == "created"


def test_crd_gate_reads_discovery_again_only_for_kinds_it_does_not_serve_yet(kube, ns, monkeypatch):
    group = f"{ns}.example.com"
    kube.apply(crd(group, "sprockets", "Sprocket"))
    wait_established(kube.resources, [f"sprockets.{group}"], timeout=30)
    discovery = kube.resources.discovery
    reads: list[bool] = []
    real_refresh = discovery.refresh
    monkeypatch.setattr(discovery, "refresh", lambda: (reads.append(True), real_refresh())[1])
    kube.apply(crd(group, "sprockets", "Sprocket"))  # the same CRD again (a re-run): served already
    wait_established(kube.resources, [f"sprockets.{group}"], timeout=30)
    assert reads == []
    again = crd(group, "sprockets", "Sprocket")
    v2 = {**again["spec"]["versions"][0], "name": "v2", "storage": False}
    again["spec"]["versions"].append(v2)  # a new version: only a fresh read of discovery knows it
    kube.apply(again)
    wait_established(kube.resources, [f"sprockets.{group}"], timeout=30)
    assert reads and kube.is_namespaced(f"{group}/v2", "Sprocket") is True


def test_crd_gate_fails_fast_when_names_are_not_accepted(local_cluster, ns):
    group = f"{ns}.example.com"
    with recording_cluster(local_cluster.kubeconfig) as kube:
        kube.apply(crd(group, "widgets", "Widget"))
        wait_established(kube.resources, [f"widgets.{group}"], timeout=30)
        kube.apply(crd(group, "gadgets", "Widget"))  # the kind is already taken in this group
        sent = kube.client.transport.sent
        sent.clear()
        with pytest.raises(ApplyError, match=rf"CustomResourceDefinition/gadgets.{group}: names not accepted: .*Widget"):
            wait_established(kube.resources, [f"gadgets.{group}"], timeout=300)
        looks = [path for method, path in sent if path.endswith(f"/gadgets.{group}")]
    assert len(looks) <= 3  # failed as soon as the controller said so, not after polling to the timeout


def test_namespace_gate_creates_missing_namespaces(kube):
    name = f"k-{uuid.uuid4().hex[:8]}"
    wait_namespaces_active(kube.resources, [name], timeout=20)
    assert kube.get(ObjectRef("v1", "Namespace", None, name))["status"]["phase"] == "Active"


def test_namespace_gate_waits_out_a_terminating_namespace(kube):
    name = f"k-{uuid.uuid4().hex[:8]}"
    held = ObjectRef("v1", "ConfigMap", name, "held")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    kube.apply(configmap(name, "held", finalizers=["example.com/hold"]))
    old_uid = kube.get(ObjectRef("v1", "Namespace", None, name))["metadata"]["uid"]
    kube.delete(ObjectRef("v1", "Namespace", None, name), propagation="Background", wait=False)
    assert poll_until(lambda: kube.get(ObjectRef("v1", "Namespace", None, name))["status"]["phase"] == "Terminating", 10)

    waited = threading.Event()
    errors: list[BaseException] = []

    def gate() -> None:
        try:
            wait_namespaces_active(kube.resources, [name], timeout=60, on_wait=lambda n: waited.set())
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=gate)
    thread.start()
    assert waited.wait(10), "the gate did not report the terminating namespace"
    assert thread.is_alive()  # still waiting while the finalizer holds the namespace
    kube.merge_patch(held, {"metadata": {"finalizers": None}})
    thread.join(60)
    assert not thread.is_alive() and errors == []
    live = kube.get(ObjectRef("v1", "Namespace", None, name))
    assert live["status"]["phase"] == "Active" and live["metadata"]["uid"] != old_uid


def test_namespace_gate_times_out_naming_the_namespace(kube):
    name = f"k-{uuid.uuid4().hex[:8]}"
    held = ObjectRef("v1", "ConfigMap", name, "held")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    kube.apply(configmap(name, "held", finalizers=["example.com/hold"]))
    kube.delete(ObjectRef("v1", "Namespace", None, name), propagation="Background", wait=False)
    try:
        with pytest.raises(ApplyError, match=rf"Namespace/{name}: still terminating after 2s"):
            wait_namespaces_active(kube.resources, [name], timeout=2)
    finally:
        kube.merge_patch(held, {"metadata": {"finalizers": None}})


# -- key Secret -------------------------------------------------------------------------------------


def test_key_secret_is_installed_where_flux_reads_it(kube):
    namespace = f"flux-{uuid.uuid4().hex[:8]}"
    import pyrage

    key = f"{pyrage.x25519.Identity.generate()}\n"  # a fresh key: the repo never holds key text
    dry = install_key_secret(kube.resources, namespace, "sops-age", "age.agekey", Sensitive(key), dry_run=True)
    assert dry.action == "dry-run" and kube.get(ObjectRef("v1", "Namespace", None, namespace)) is None
    outcome = install_key_secret(kube.resources, namespace, "sops-age", "age.agekey", Sensitive(key))
    assert outcome.action == "created" and str(outcome.ref) == f"Secret/{namespace}/sops-age"
    live = kube.get(ObjectRef("v1", "Secret", namespace, "sops-age"))
    assert live["type"] == "Opaque"
    assert base64.b64decode(live["data"]["age.agekey"]).decode() == key
    assert install_key_secret(kube.resources, namespace, "sops-age", "age.agekey", Sensitive(key)).action == "unchanged"


def test_key_secret_refuses_keys_flux_would_ignore(kube):
    namespace = f"flux-{uuid.uuid4().hex[:8]}"
    with pytest.raises(UsageError, match=r"'age.key' does not end in '.agekey'") as err:
        install_key_secret(kube.resources, namespace, "sops-age", "age.key", Sensitive("k"))
    assert err.value.exit_code == ExitCode.USAGE
    assert kube.get(ObjectRef("v1", "Namespace", None, namespace)) is None
    outcome = install_key_secret(kube.resources, namespace, "sops-age", "identity", Sensitive(b"k"), allow_any_key=True)
    assert outcome.action == "created"
