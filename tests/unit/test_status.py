"""The status engine's kstatus order, group-and-kind keying, gates' verdicts and Flux readiness (pure)."""

from __future__ import annotations

import pytest

from bootstrap.kube.gates import crd_health, namespace_health, served_kinds
from bootstrap.engines.flux import ENGINE as FLUX
from bootstrap.engines.flux.readiness import flux_readiness
from bootstrap.manifests import ref_of
from bootstrap.status import Status, assess, has_readiness


def cond(type_, status, reason=None, message=None, **extra):
    out = {"type": type_, "status": status, **extra}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def obj(api_version, kind, *conditions, generation=None, observed=None, **status):
    meta = {"name": "x", "namespace": "n"}
    if generation is not None:
        meta["generation"] = generation
    st = dict(status)
    if conditions:
        st["conditions"] = list(conditions)
    if observed is not None:
        st["observedGeneration"] = observed
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "status": st}


def test_rules_are_keyed_by_group_and_kind():
    knative = obj("serving.knative.dev/v1", "Service", cond("Ready", "False", "RevisionFailed", "image missing"))
    assert assess(knative).status is Status.IN_PROGRESS and "RevisionFailed" in assess(knative).message
    core = obj("v1", "Service")
    assert assess(core).status is Status.CURRENT and assess(core).message == "service ready"
    not_apps = obj("example.com/v1", "Deployment", cond("Ready", "False", "Waiting"))
    assert assess(not_apps).status is Status.IN_PROGRESS  # no Deployment rule for another group's kind
    assert has_readiness("apps", "Deployment") and has_readiness("serving.knative.dev", "Service")
    assert not has_readiness("", "ConfigMap") and not has_readiness("rbac.authorization.k8s.io", "ClusterRole")


def test_generic_checks_come_first_in_kstatus_order():
    terminating = obj("apps/v1", "Deployment")
    terminating["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    assert assess(terminating).status is Status.TERMINATING
    ahead = obj("example.com/v1", "Widget", cond("Ready", "True"), generation=2, observed=3)
    assert assess(ahead).status is Status.IN_PROGRESS  # kstatus compares with !=, not <
    first_wins = obj("example.com/v1", "Widget", cond("Stalled", "True", "Broken"), cond("Reconciling", "True"))
    assert assess(first_wins).status is Status.FAILED
    reconciling_first = obj("example.com/v1", "Widget", cond("Reconciling", "True", "Working"), cond("Stalled", "True"))
    assert assess(reconciling_first).status is Status.IN_PROGRESS
    assert assess(obj("example.com/v1", "Widget")).status is Status.CURRENT  # no conditions: Current


@pytest.mark.parametrize("conditions,status,needle", [
    ((), Status.IN_PROGRESS, "waiting for Established"),
    ((cond("Established", "False", "Installing"),), Status.IN_PROGRESS, "waiting"),
    ((cond("Established", "False", "NotAccepted", "no"),), Status.FAILED, "not established: NotAccepted"),
    ((cond("NamesAccepted", "False", "MultipleNamesNotAllowed", "Widget is taken"),), Status.FAILED,
     "names not accepted: MultipleNamesNotAllowed: Widget is taken"),
    ((cond("NamesAccepted", "True"), cond("Established", "True")), Status.CURRENT, "established"),
    ((cond("NonStructuralSchema", "True", message="spec.x: type missing"), cond("Established", "True")),
     Status.FAILED, "schema is not structural"),
])
def test_the_crd_gate_waits_for_established(conditions, status, needle):
    crd = obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", *conditions)
    health = crd_health(crd)
    assert health.status is status and needle in health.message
    assert crd_health(None).status is Status.NOT_FOUND


def test_served_kinds_of_an_established_crd():
    crd = {"spec": {"group": "ex.com", "names": {"kind": "Widget"},
                    "versions": [{"name": "v1", "served": True}, {"name": "v0", "served": False}]}}
    assert served_kinds(crd) == [("ex.com/v1", "Widget")]


def test_the_namespace_gate_verdicts():
    assert namespace_health(None).status is Status.NOT_FOUND
    active = obj("v1", "Namespace", phase="Active")
    assert namespace_health(active).status is Status.CURRENT
    fresh = obj("v1", "Namespace")
    assert namespace_health(fresh).status is Status.CURRENT  # kstatus: no rule, so Current
    going = obj("v1", "Namespace", phase="Terminating")
    going["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    assert namespace_health(going).status is Status.TERMINATING
    assert namespace_health(obj("v1", "Namespace", phase="Terminating")).status is Status.TERMINATING


KS = "kustomize.toolkit.fluxcd.io/v1"


@pytest.mark.parametrize("api_version,kind,conditions,status,terminal", [
    (KS, "Kustomization", [cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc")],
     Status.CURRENT, False),
    (KS, "Kustomization", [cond("Ready", "False", "DependencyNotReady", "dependency 'flux-system/infra' is not ready")],
     Status.IN_PROGRESS, False),
    (KS, "Kustomization", [cond("Ready", "False", "BuildFailed", "kustomize build failed: accumulating resources")],
     Status.FAILED, True),
    (KS, "Kustomization", [cond("Ready", "False", "ReconciliationFailed",
                                "decryption failed for 'Secret/db': failed to get the data key")], Status.FAILED, True),
    (KS, "Kustomization", [cond("Reconciling", "True", "Progressing", "Running health checks"),
                           cond("Ready", "Unknown", "Progressing")], Status.IN_PROGRESS, False),
    (KS, "Kustomization", [cond("Stalled", "True", "InvalidCELExpression", "bad"), cond("Ready", "False")],
     Status.FAILED, True),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease", [cond("Ready", "False", "InstallFailed", "timed out")],
     Status.FAILED, True),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease", [cond("Ready", "False", "UpgradeFailed", "x")], Status.FAILED, True),
    # kustomize-controller says this while source-controller has not fetched yet: it mends itself
    (KS, "Kustomization", [cond("Ready", "False", "ArtifactFailed", "Source artifact not found, retrying in 30s")],
     Status.IN_PROGRESS, False),
    ("source.toolkit.fluxcd.io/v1", "GitRepository", [cond("Ready", "False", "GitOperationFailed", "dns")],
     Status.IN_PROGRESS, False),
    # a substituteFrom Secret that External Secrets has not made yet (--substitute-from): it mends itself
    (KS, "Kustomization", [cond("Ready", "False", "BuildFailed", "post build failed for 'web': substitute from "
                                "'Secret/cluster-secrets' error: secrets \"cluster-secrets\" not found")],
     Status.IN_PROGRESS, False),
    (KS, "Kustomization", [cond("Ready", "False", "BuildFailed", "post build failed for 'web': substitute from "
                                "'Secret/cluster-secrets' error: secrets is forbidden")], Status.FAILED, True),
])
def test_flux_readiness(api_version, kind, conditions, status, terminal):
    flux = obj(api_version, kind, *conditions, generation=3, observed=3)
    assert FLUX.owns(ref_of(flux))
    readiness = flux_readiness(flux)
    assert readiness.health.status is status and readiness.terminal is terminal
    ready = next((c for c in conditions if c["type"] == "Ready"), {})
    assert readiness.reason == ready.get("reason", "") and readiness.message == ready.get("message", "")


def test_flux_objects_follow_the_generic_rules():
    stale = obj(KS, "Kustomization", cond("Ready", "True"), generation=4, observed=3)
    assert flux_readiness(stale).health.status is Status.IN_PROGRESS and not flux_readiness(stale).terminal
    lagging = obj(KS, "Kustomization", cond("Ready", "True", observedGeneration=3), generation=4)
    assert assess(lagging).status is Status.IN_PROGRESS
    assert not FLUX.owns(ref_of(obj("apps/v1", "Deployment")))
    # a failure reported for an older generation is about a spec that is gone: not terminal
    old_failure = obj(KS, "Kustomization", cond("Ready", "False", "BuildFailed", "x", observedGeneration=3),
                      generation=4)
    assert not flux_readiness(old_failure).terminal


# -- rules the mutation run found untested (docs/mutation.md)


def rs(want=2, *conditions, **status):
    out = obj("apps/v1", "ReplicaSet", *conditions, **status)
    out["spec"] = {} if want is None else {"replicas": want}
    return out


@pytest.mark.parametrize("replicaset,status,message", [
    (rs(2, cond("ReplicaFailure", "True")), Status.FAILED, "replica failure"),
    (rs(2, cond("ReplicaFailure", "True", "FailedCreate", "quota")), Status.FAILED, "FailedCreate: quota"),
    (rs(2, cond("ReplicaFailure", "False"), availableReplicas=1, readyReplicas=1, fullyLabeledReplicas=2, replicas=2),
     Status.IN_PROGRESS, "1 of 2 replicas available"),
    (rs(2, availableReplicas=3, readyReplicas=3, fullyLabeledReplicas=3, replicas=3), Status.IN_PROGRESS,
     "1 extra pods pending termination"),
    (rs(2, availableReplicas=2, readyReplicas=2, fullyLabeledReplicas=2, replicas=2), Status.CURRENT,
     "2 replicas available"),
    (rs(None, availableReplicas=1, readyReplicas=1, fullyLabeledReplicas=1, replicas=1), Status.CURRENT,
     "1 replicas available"),  # spec.replicas defaults to 1
])
def test_replicaset_rule(replicaset, status, message):
    health = assess(replicaset)
    assert (health.status, health.message) == (status, message)


def test_rule_messages_for_namespaces_and_plain_kinds():
    going = obj("v1", "Namespace", phase="Terminating")
    assert assess(going).message == "namespace is terminating"
    assert assess(obj("v1", "Namespace", phase="Active")).message == "active"
    assert assess(obj("v1", "ConfigMap")).message == "resource is current"
    assert assess(obj("batch/v1", "CronJob")).status is Status.CURRENT


def failed_job_pod(field="containerStatuses", reason="Error", code=3):
    terminated = {"exitCode": code}
    if reason is not None:
        terminated["reason"] = reason
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "m-abc", "namespace": "n", "labels": {"job-name": "m"}},
            "status": {"phase": "Failed", field: [{"name": "main", "state": {"terminated": terminated}}]}}


def test_exit_failure_of_init_containers_and_unnamed_reasons():
    from bootstrap.status.pods import exit_failure

    init = exit_failure(failed_job_pod("initContainerStatuses", reason="OOMKilled"))
    assert (init.pod, init.container, init.reason, init.message) == ("m-abc", "main", "OOMKilled", "exited with code 3")
    assert init.hint == "check `kubectl logs -n n m-abc -c main`"
    assert exit_failure(failed_job_pod(reason=None)).reason == "Error"
    assert exit_failure(failed_job_pod(code=0)) is None
    running = failed_job_pod()
    running["status"]["phase"] = "Running"
    assert exit_failure(running) is None


def test_pod_waiting_texts():
    from bootstrap.status.pods import pod_waiting_text

    init_waiting = {"status": {"initContainerStatuses": [{"name": "setup", "state": {"waiting": {"reason": "PodInitializing"}}}],
                               "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]}}
    assert pod_waiting_text(init_waiting, "Pending") == "Pending: container setup PodInitializing"
    only_app = {"status": {"containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]}}
    assert pod_waiting_text(only_app, "Pending") == "Pending: container app ContainerCreating"
    unscheduled = {"status": {"conditions": [cond("PodScheduled", "False", "Unschedulable", "0/1 nodes")]}}
    assert pod_waiting_text(unscheduled, "Pending") == "Unschedulable: 0/1 nodes"
    assert pod_waiting_text({"status": {}}, "Running") == "pod running, not ready"
