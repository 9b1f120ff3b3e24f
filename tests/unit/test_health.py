"""Readiness rules: table-driven, on object JSON shaped as the API server returns it."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from bootstrap.status.engine import Status, assess
from bootstrap.status.pods import IMAGE_PULL_GRACE, current_pods, new_replicaset, pod_failure
from bootstrap.status.secrets import consumed_secret_keys, consumes_secret

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)


def cond(type_, status, reason=None, message=None, **extra):
    c = {"type": type_, "status": status, "lastTransitionTime": "2026-11-27T11:59:00Z", **extra}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def with_(obj, **changes):
    """Deep copy of obj with dotted-path changes, e.g. with_(d, **{"status.replicas": 2})."""
    out = copy.deepcopy(obj)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return out


# ----------------------------------------------------------------------------- realistic objects

DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "api",
        "namespace": "shop",
        "uid": "d-uid",
        "generation": 2,
        "annotations": {"deployment.kubernetes.io/revision": "2"},
    },
    "spec": {
        "replicas": 2,
        "progressDeadlineSeconds": 600,
        "selector": {"matchLabels": {"app": "api"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "ghcr.io/acme/api:1.2"}]}},
    },
    "status": {
        "observedGeneration": 2,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "conditions": [
            cond("Available", "True", "MinimumReplicasAvailable"),
            cond("Progressing", "True", "NewReplicaSetAvailable", 'ReplicaSet "api-7d9f" has successfully progressed.'),
        ],
    },
}


def rs(name, hash_, revision, owner_uid="d-uid"):
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"{name}-uid",
            "labels": {"app": "api", "pod-template-hash": hash_},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": owner_uid, "controller": True}],
        },
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "availableReplicas": 0, "readyReplicas": 0, "observedGeneration": 1},
    }


OLD_RS, NEW_RS = rs("api-5c4b", "5c4b", "1"), rs("api-7d9f", "7d9f", "2")


def pod(name, *, ns="shop", owner=None, labels=None, phase="Running", ready=False, containers=(), init=(), **status):
    meta = {"name": name, "namespace": ns, "uid": f"{name}-uid", "labels": labels or {}, "creationTimestamp": "2026-11-27T11:50:00Z"}
    if owner:
        kind, oname, uid = owner
        api = "batch/v1" if kind == "Job" else "apps/v1"
        meta["ownerReferences"] = [{"apiVersion": api, "kind": kind, "name": oname, "uid": uid, "controller": True, "blockOwnerDeletion": True}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": c.get("name", "app"), "image": c.get("image", "x")} for c in containers] or [{"name": "app", "image": "x"}]},
        "status": {
            "phase": phase,
            "startTime": "2026-11-27T11:50:00Z",
            "conditions": [cond("PodScheduled", "True"), cond("Ready", "True" if ready else "False")],
            "containerStatuses": list(containers),
            "initContainerStatuses": list(init),
            **status,
        },
    }


def waiting(reason, message="", name="app", image="ghcr.io/acme/api:1.2", **extra):
    return {"name": name, "image": image, "ready": False, "restartCount": 3, "state": {"waiting": {"reason": reason, "message": message}}, **extra}


CRASH = waiting(
    "CrashLoopBackOff",
    "back-off 40s restarting failed container=app pod=api-7d9f-x_shop(uid)",
    lastState={"terminated": {"exitCode": 3, "reason": "Error", "finishedAt": "2026-11-27T11:59:30Z"}},
)


def new_pod(*containers):
    return pod("api-7d9f-x", owner=("ReplicaSet", "api-7d9f", "api-7d9f-uid"), labels={"app": "api", "pod-template-hash": "7d9f"}, containers=containers)


def old_pod(*containers):
    return pod("api-5c4b-y", owner=("ReplicaSet", "api-5c4b", "api-5c4b-uid"), labels={"app": "api", "pod-template-hash": "5c4b"}, containers=containers)


STS = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "db", "namespace": "shop", "uid": "s-uid", "generation": 1},
    "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}, "template": {"spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}},
    "status": {
        "observedGeneration": 1,
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": 3,
        "currentRevision": "db-6f7c",
        "updateRevision": "db-6f7c",
    },
}

DS = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-uid", "generation": 1},
    "spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}, "template": {"spec": {"containers": [{"name": "agent", "image": "a"}]}}},
    "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "updatedNumberScheduled": 3, "numberReady": 3, "numberAvailable": 3, "numberMisscheduled": 0},
}

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "migrate", "namespace": "shop", "uid": "j-uid", "generation": 1, "labels": {"batch.kubernetes.io/job-name": "migrate"}},
    "spec": {"backoffLimit": 2, "completions": 1, "suspend": False, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "m"}]}}},
    "status": {"startTime": "2026-11-27T11:58:00Z", "active": 1, "ready": 0},
}

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.acme.io", "generation": 1},
    "spec": {"group": "acme.io", "names": {"kind": "Widget", "plural": "widgets"}},
    "status": {"conditions": [cond("NamesAccepted", "True", "NoConflicts"), cond("Established", "True", "InitialNamesAccepted")]},
}

SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.12"}, "status": {"loadBalancer": {}}}
PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "shop"}, "spec": {"storageClassName": "local"}, "status": {"phase": "Bound"}}
NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
KS = {
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
    "kind": "Kustomization",
    "metadata": {"name": "apps", "namespace": "flux-system", "generation": 3},
    "spec": {"interval": "10m"},
    "status": {"observedGeneration": 3, "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc", observedGeneration=3)]},
}


# ------------------------------------------------------------------------------------- the table

CASES = [
    # generic ordering
    ("deleting wins over everything", with_(DEPLOY, **{"metadata.deletionTimestamp": "2026-11-27T11:00:00Z", "metadata.finalizers": ["x/y"]}), Status.TERMINATING, "x/y"),
    ("generation not observed", with_(DEPLOY, **{"metadata.generation": 3}), Status.IN_PROGRESS, "observe generation 3"),
    ("observedGeneration absent skips the check", with_(CRD, **{"metadata.generation": 9}), Status.CURRENT, "established"),
    ("Reconciling=True", with_(KS, **{"status.conditions": [cond("Reconciling", "True", "Progressing", "Building")]}), Status.IN_PROGRESS, "Building"),
    ("Stalled=True", with_(KS, **{"status.conditions": [cond("Stalled", "True", "BuildFailed", "kustomize build failed")]}), Status.FAILED, "BuildFailed"),
    # Deployment
    ("deployment rolled out", DEPLOY, Status.CURRENT, "rolled out"),
    ("deployment updating", with_(DEPLOY, **{"status.updatedReplicas": 1}), Status.IN_PROGRESS, "1 of 2 new replicas"),
    ("deployment old pods terminating", with_(DEPLOY, **{"status.replicas": 3}), Status.IN_PROGRESS, "1 extra replicas pending termination"),
    ("deployment not available", with_(DEPLOY, **{"status.availableReplicas": 1}), Status.IN_PROGRESS, "1 of 2 updated replicas available"),
    ("deployment replicas default to 1", with_(DEPLOY, **{"spec.replicas": None, "status.replicas": 0, "status.updatedReplicas": 0, "status.availableReplicas": 0}), Status.IN_PROGRESS, "0 of 1"),
    ("deployment scaled to zero", with_(DEPLOY, **{"spec.replicas": 0, "status.replicas": 0, "status.updatedReplicas": 0, "status.availableReplicas": 0}), Status.CURRENT, ""),
    (
        "ProgressDeadlineExceeded",
        with_(DEPLOY, **{"status.availableReplicas": 0, "status.conditions": [cond("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "api-7d9f" has timed out progressing.')]}),
        Status.FAILED,
        "exceeded its progress deadline",
    ),
    (
        "deployment ReplicaFailure",
        with_(DEPLOY, **{"status.availableReplicas": 0, "status.conditions": [cond("ReplicaFailure", "True", "FailedCreate", 'pods "api-7d9f-" is forbidden: exceeded quota: q')]}),
        Status.FAILED,
        "exceeded quota",
    ),
    ("paused deployment is not waited on", with_(DEPLOY, **{"spec.paused": True, "status.updatedReplicas": 0}), Status.CURRENT, "paused"),
    # StatefulSet
    ("statefulset ready", STS, Status.CURRENT, "revision db-6f7c"),
    ("statefulset pods not ready", with_(STS, **{"status.readyReplicas": 1}), Status.IN_PROGRESS, "1 of 3 pods ready"),
    ("statefulset rolling update", with_(STS, **{"status.updatedReplicas": 1, "status.updateRevision": "db-88aa"}), Status.IN_PROGRESS, "1 of 3 pods updated"),
    ("statefulset partition reached", with_(STS, **{"spec.updateStrategy.rollingUpdate.partition": 2, "status.updatedReplicas": 1, "status.updateRevision": "db-88aa"}), Status.CURRENT, ""),
    ("statefulset partition not reached", with_(STS, **{"spec.updateStrategy.rollingUpdate.partition": 1, "status.updatedReplicas": 1, "status.updateRevision": "db-88aa"}), Status.IN_PROGRESS, "1 of 2"),
    ("statefulset revision not current yet", with_(STS, **{"status.updateRevision": "db-88aa"}), Status.IN_PROGRESS, "db-88aa"),
    ("statefulset OnDelete done when ready", with_(STS, **{"spec.updateStrategy": {"type": "OnDelete"}, "status.updatedReplicas": 0, "status.updateRevision": "db-88aa"}), Status.CURRENT, "OnDelete"),
    ("statefulset OnDelete not ready", with_(STS, **{"spec.updateStrategy": {"type": "OnDelete"}, "status.readyReplicas": 2}), Status.IN_PROGRESS, "2 of 3"),
    ("statefulset extra pods", with_(STS, **{"status.replicas": 4}), Status.IN_PROGRESS, "extra"),
    # DaemonSet
    ("daemonset rolled out", DS, Status.CURRENT, "3 of 3"),
    ("daemonset no desired count yet", with_(DS, **{"status": {"observedGeneration": 1}}), Status.IN_PROGRESS, "count the nodes"),
    ("daemonset updating", with_(DS, **{"status.updatedNumberScheduled": 1}), Status.IN_PROGRESS, "1 of 3 pods updated"),
    ("daemonset unavailable", with_(DS, **{"status.numberAvailable": 2}), Status.IN_PROGRESS, "2 of 3 pods available"),
    ("daemonset OnDelete ignores updated", with_(DS, **{"spec.updateStrategy": {"type": "OnDelete"}, "status.updatedNumberScheduled": 0}), Status.CURRENT, ""),
    ("daemonset zero nodes", with_(DS, **{"status.desiredNumberScheduled": 0, "status.updatedNumberScheduled": 0, "status.numberAvailable": 0}), Status.CURRENT, "0 of 0"),
    # ReplicaSet
    ("replicaset available", with_(NEW_RS, **{"status.readyReplicas": 2, "status.availableReplicas": 2}), Status.CURRENT, ""),
    ("replicaset waiting", NEW_RS, Status.IN_PROGRESS, "0 of 2"),
    ("replicaset ReplicaFailure", with_(NEW_RS, **{"status.conditions": [cond("ReplicaFailure", "True", "FailedCreate", "forbidden")]}), Status.FAILED, "FailedCreate"),
    # Job
    ("job running", JOB, Status.IN_PROGRESS, "1 active"),
    ("job complete", with_(JOB, **{"status.succeeded": 1, "status.active": None, "status.conditions": [cond("SuccessCriteriaMet", "True"), cond("Complete", "True")]}), Status.CURRENT, "completed"),
    ("job failed", with_(JOB, **{"status.failed": 3, "status.conditions": [cond("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]}), Status.FAILED, "BackoffLimitExceeded: Job has reached"),
    ("job failure target", with_(JOB, **{"status.conditions": [cond("FailureTarget", "True", "DeadlineExceeded", "Job was active longer than specified deadline")]}), Status.FAILED, "DeadlineExceeded"),
    ("job suspended", with_(JOB, **{"spec.suspend": True, "status": {"conditions": [cond("Suspended", "True", "JobSuspended")]}}), Status.CURRENT, "suspended"),
    # Pod
    ("pod running ready", pod("p", ready=True), Status.CURRENT, "ready"),
    ("pod running not ready", pod("p"), Status.IN_PROGRESS, "not ready"),
    ("pod succeeded", pod("p", phase="Succeeded"), Status.CURRENT, "succeeded"),
    (
        "pod failed",
        pod("p", phase="Failed", containers=[{"name": "app", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]),
        Status.FAILED,
        "OOMKilled",
    ),
    ("pod evicted", pod("p", phase="Failed", reason="Evicted", message="The node was low on resource: memory."), Status.FAILED, "Evicted"),
    ("pod pending pulls", pod("p", phase="Pending", containers=[waiting("ContainerCreating")]), Status.IN_PROGRESS, "ContainerCreating"),
    ("pod crash looping", pod("p", containers=[CRASH]), Status.FAILED, "CrashLoopBackOff"),
    # PVC
    ("pvc bound", PVC, Status.CURRENT, "bound"),
    ("pvc pending", with_(PVC, **{"status.phase": "Pending"}), Status.IN_PROGRESS, "WaitForFirstConsumer"),
    ("pvc lost", with_(PVC, **{"status.phase": "Lost"}), Status.FAILED, "lost"),
    # Service
    ("clusterIP service", SVC, Status.CURRENT, ""),
    ("load balancer pending", with_(SVC, **{"spec.type": "LoadBalancer"}), Status.IN_PROGRESS, "ingress"),
    ("load balancer ready", with_(SVC, **{"spec.type": "LoadBalancer", "status.loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}), Status.CURRENT, ""),
    ("load balancer with externalIPs", with_(SVC, **{"spec.type": "LoadBalancer", "spec.externalIPs": ["198.51.100.1"]}), Status.CURRENT, ""),
    ("externalName service", with_(SVC, **{"spec": {"type": "ExternalName", "externalName": "db.example.com"}}), Status.CURRENT, ""),
    # CRD
    ("crd established", CRD, Status.CURRENT, "established"),
    ("crd installing", with_(CRD, **{"status.conditions": [cond("NamesAccepted", "True"), cond("Established", "False", "Installing")]}), Status.IN_PROGRESS, "Established"),
    ("crd no status yet", with_(CRD, **{"status": None}), Status.IN_PROGRESS, ""),
    ("crd name conflict", with_(CRD, **{"status.conditions": [cond("NamesAccepted", "False", "MultipleNames", '"widgets" is already in use')]}), Status.FAILED, "MultipleNames"),
    ("crd non-structural", with_(CRD, **{"status.conditions": [cond("NonStructuralSchema", "True", "Violations", "spec.x: Required value")]}), Status.FAILED, "Violations"),
    # Namespace
    ("namespace active", NS, Status.CURRENT, "active"),
    ("namespace terminating", with_(NS, **{"status.phase": "Terminating"}), Status.TERMINATING, "terminating"),
    # Generic Ready
    ("ready condition true", KS, Status.CURRENT, "ReconciliationSucceeded"),
    ("ready condition false", with_(KS, **{"status.conditions": [cond("Ready", "False", "DependencyNotReady", "dependency 'infra' is not ready")]}), Status.IN_PROGRESS, "DependencyNotReady"),
    ("ready condition unknown", with_(KS, **{"status.conditions": [cond("Ready", "Unknown", "Progressing")]}), Status.IN_PROGRESS, "Progressing"),
    ("ready condition stale", with_(KS, **{"metadata.generation": 4, "status.observedGeneration": None}), Status.IN_PROGRESS, "generation 4"),
    ("no status is current", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}, Status.CURRENT, ""),
]


@pytest.mark.parametrize("obj,status,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_assess(obj, status, needle):
    health = assess(obj)
    assert health.status is status, health.message
    assert needle in health.message


# ------------------------------------------------------ kstatus' checks (pkg/kstatus/status/core.go)
# Each object below is InProgress by kstatus' rule and was Current here before the rules followed it check by
# check. Statuses marked "inconsistent" are ones kube-controller-manager does not write (it counts an
# available pod as ready, and computes counts and conditions in one update); they pin the check itself.

NOT_CURRENT_BEFORE = [
    # Deployment: readyReplicas (kstatus "LessReady"), inconsistent: available pods are ready pods
    ("deployment without readyReplicas", with_(DEPLOY, **{"status.readyReplicas": None}), "0 of 2 replicas ready"),
    ("deployment with fewer ready", with_(DEPLOY, **{"status.readyReplicas": 1}), "1 of 2 replicas ready"),
    # Deployment: Progressing=True NewReplicaSetAvailable (kstatus "ReplicaSetNotAvailable")
    (
        "deployment still progressing",  # a scale event mid-rollout leaves the reason until the next rollout sync
        with_(DEPLOY, **{"status.conditions": [cond("Available", "True", "MinimumReplicasAvailable"),
                                               cond("Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "api-7d9f" is progressing.')]}),
        "Progressing: True, ReplicaSetUpdated",
    ),
    (
        "deployment scaled to zero, before the controller writes status",
        with_(DEPLOY, **{"spec.replicas": 0, "status": {}}),
        "Progressing: not reported yet",
    ),
    # Deployment: Available=True (kstatus "DeploymentNotAvailable")
    (
        "deployment not Available",  # inconsistent: the controller sets Available from the same counts
        with_(DEPLOY, **{"status.conditions": [cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                                               cond("Progressing", "True", "NewReplicaSetAvailable")]}),
        "Available (False, MinimumReplicasUnavailable",
    ),
    (
        "deployment without an Available condition",
        with_(DEPLOY, **{"status.conditions": [cond("Progressing", "True", "NewReplicaSetAvailable")]}),
        "Available (not reported yet)",
    ),
    # Deployment: status.replicas > spec.replicas, not > updatedReplicas (kstatus "ExtraPods"): scaled 3 -> 2
    (
        "deployment scaled down, pod not yet terminating",
        with_(DEPLOY, **{"status.replicas": 3, "status.updatedReplicas": 3, "status.readyReplicas": 3, "status.availableReplicas": 3}),
        "1 extra replicas pending termination",
    ),
    # Deployment: spec.replicas > status.replicas (kstatus "LessReplicas"), inconsistent: updated pods are counted in replicas
    ("deployment with fewer replicas than updated", with_(DEPLOY, **{"status.replicas": 1}), "1 of 2 replicas created"),
    # ReplicaSet: fullyLabeledReplicas and readyReplicas (kstatus "LessLabelled", "LessReady")
    ("replicaset pods not fully labelled", with_(NEW_RS, **{"status.fullyLabeledReplicas": 1, "status.readyReplicas": 2, "status.availableReplicas": 2}), "1 of 2 replicas carry"),
    ("replicaset without readyReplicas", with_(NEW_RS, **{"status.readyReplicas": None, "status.availableReplicas": 2}), "0 of 2 replicas ready"),
    # StatefulSet: status.replicas (kstatus "LessReplicas"), inconsistent
    ("statefulset with fewer replicas", with_(STS, **{"status.replicas": 2}), "2 of 3 pods created"),
    # StatefulSet without rollingUpdate.partition: currentReplicas (kstatus "LessCurrent"), inconsistent
    (
        "statefulset without a partition, pods not current",
        with_(STS, **{"spec.updateStrategy": {"type": "RollingUpdate"}, "status.currentReplicas": 1}),
        "1 of 3 pods at the current revision",
    ),
    # DaemonSet: observedGeneration required, currentNumberScheduled and numberReady (kstatus)
    ("daemonset never observed", with_(DS, **{"status.observedGeneration": None}), "observe the daemon set"),
    ("daemonset without a generation", with_(DS, **{"metadata.generation": None}), "metadata.generation"),
    ("daemonset pods not scheduled", with_(DS, **{"status.currentNumberScheduled": 2}), "2 of 3 pods scheduled"),
    ("daemonset pods not ready", with_(DS, **{"status.numberReady": 2}), "2 of 3 pods ready"),
]


@pytest.mark.parametrize("obj,needle", [c[1:] for c in NOT_CURRENT_BEFORE], ids=[c[0] for c in NOT_CURRENT_BEFORE])
def test_kstatus_checks_hold_what_is_not_current(obj, needle):
    health = assess(obj)
    assert health.status is Status.IN_PROGRESS, health.message
    assert needle in health.message


@pytest.mark.parametrize("obj", [
    DEPLOY,
    with_(DEPLOY, **{"spec.replicas": 0, "status.replicas": 0, "status.updatedReplicas": 0, "status.readyReplicas": None,
                     "status.availableReplicas": None}),
    # no progress deadline: the controller sets no Progressing condition, and kstatus does not wait for it
    with_(DEPLOY, **{"spec.progressDeadlineSeconds": None, "status.conditions": [cond("Available", "True")]}),
    with_(DEPLOY, **{"spec.progressDeadlineSeconds": 2147483647, "status.conditions": [cond("Available", "True")]}),
    # the status kstatus' "ExtraPods" lets through: old replica sets scaled away
    with_(DEPLOY, **{"status.replicas": 2, "status.updatedReplicas": 2}),
    with_(NEW_RS, **{"status.readyReplicas": 2, "status.availableReplicas": 2}),
    STS,
    with_(STS, **{"spec.updateStrategy": {"type": "RollingUpdate"}}),
    DS,
], ids=["deployment", "deployment at zero", "deployment without a deadline", "deployment with MaxInt32 deadline",
        "deployment old replicas gone", "replicaset", "statefulset", "statefulset without a partition", "daemonset"])
def test_kstatus_current(obj):
    health = assess(obj)
    assert health.status is Status.CURRENT, health.message


def test_deployment_conditions_are_read_after_the_counts_in_kstatus_order():
    # counts first: a rollout in flight reports its counts, not the conditions it has yet to earn
    rolling = with_(ROLLING, **{"status.conditions": [cond("Available", "False"), cond("Progressing", "True", "ReplicaSetUpdated")]})
    assert "1 of 2 new replicas" in assess(rolling).message
    # Progressing before Available, and the deadline still fails fast
    both = with_(DEPLOY, **{"status.conditions": [cond("Available", "False"), cond("Progressing", "True", "ReplicaSetUpdated")]})
    assert "Progressing" in assess(both).message
    late = with_(DEPLOY, **{"status.conditions": [cond("Available", "True"), cond("Progressing", "False", "ProgressDeadlineExceeded")]})
    assert assess(late).status is Status.FAILED


# ------------------------------------------------------------------------------- pod fast-fail


def config_error(message):
    return waiting("CreateContainerConfigError", message)


POD_FAILURES = [
    ("crash loop", CRASH, "CrashLoopBackOff", "last exited with code 3 (Error)"),
    ("crash loop hint has the logs command", CRASH, "CrashLoopBackOff", "kubectl logs --previous -n shop api-7d9f-x -c app"),
    ("oom", {**CRASH, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}, "CrashLoopBackOff", "memory limit"),
    ("image not found", waiting("ErrImagePull", 'rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/acme/api:1.2": not found'), "ErrImagePull", "check the image name"),
    ("manifest unknown", waiting("ImagePullBackOff", "Back-off pulling image: manifest unknown"), "ImagePullBackOff", "imagePullSecrets"),
    ("unauthorized", waiting("ErrImagePull", "failed to authorize: 401 Unauthorized"), "ErrImagePull", "imagePullSecrets"),
    ("access denied", waiting("ErrImagePull", "pull access denied for acme/api, repository does not exist or may require 'docker login'"), "ErrImagePull", ""),
    ("invalid image", waiting("InvalidImageName", 'Failed to apply default image tag "Acme/API": couldn\'t parse image name'), "InvalidImageName", "image reference"),
    ("never pull", waiting("ErrImageNeverPull", 'Container image "x" is not present with pull policy of Never'), "ErrImageNeverPull", "image reference"),
    ("missing key", config_error("couldn't find key password in Secret shop/db-creds"), "CreateContainerConfigError", "the Secret shop/db-creds has no key password: check the restored Secret's keys or the workload's secretKeyRef"),
    ("missing configmap key", config_error("couldn't find key url in ConfigMap shop/settings"), "CreateContainerConfigError", "configMapKeyRef"),
    ("missing secret", config_error('secret "db-creds" not found'), "CreateContainerConfigError", "the Secret shop/db-creds does not exist"),
    ("missing configmap", config_error('configmap "settings" not found'), "CreateContainerConfigError", "the ConfigMap shop/settings does not exist"),
    ("run container error", waiting("RunContainerError", "failed to create containerd task: exec: no such file"), "RunContainerError", "command"),
]


@pytest.mark.parametrize("status,reason,hint", [c[1:] for c in POD_FAILURES], ids=[c[0] for c in POD_FAILURES])
def test_pod_failure_is_terminal(status, reason, hint):
    failure = pod_failure(new_pod(status))
    assert failure is not None
    assert (failure.pod, failure.container, failure.reason) == ("api-7d9f-x", "app", reason)
    assert hint in failure.hint


TRANSIENT = [
    ("cache sync", config_error("failed to sync secret cache: timed out waiting for the condition")),
    ("registry timeout", waiting("ErrImagePull", "dial tcp 10.0.0.1:443: i/o timeout")),
    ("back-off on a blip", waiting("ImagePullBackOff", 'Back-off pulling image "ghcr.io/acme/api:1.2"')),
    ("creating", waiting("ContainerCreating")),
    ("init running", waiting("PodInitializing")),
]


@pytest.mark.parametrize("status", [c[1] for c in TRANSIENT], ids=[c[0] for c in TRANSIENT])
def test_pod_failure_leaves_transient_states_alone(status):
    assert pod_failure(new_pod(status)) is None


def test_image_pull_back_off_turns_terminal_once_it_persists():
    p = new_pod(waiting("ImagePullBackOff", 'Back-off pulling image "ghcr.io/acme/api:1.2"'))
    started = datetime(2026, 11, 27, 11, 50, tzinfo=timezone.utc)
    assert pod_failure(p, now=started + IMAGE_PULL_GRACE - timedelta(seconds=1)) is None
    assert pod_failure(p, now=started + IMAGE_PULL_GRACE + timedelta(seconds=1)).reason == "ImagePullBackOff"
    # ErrImagePull alone is a single attempt: never terminal by age
    assert pod_failure(new_pod(waiting("ErrImagePull", "i/o timeout")), now=NOW) is None


def test_init_container_failures_count_and_are_labelled():
    p = new_pod()
    p["status"]["initContainerStatuses"] = [waiting("CreateContainerConfigError", "couldn't find key token in Secret shop/api", name="wait-db")]
    failure = pod_failure(p)
    assert failure.container == "wait-db"
    assert failure.reason == "CreateContainerConfigError (init)"
    assert "the Secret shop/api has no key token" in failure.hint


def test_failure_message_is_one_line():
    failure = pod_failure(new_pod(waiting("ErrImagePull", "line one\nnot found\n  more")))
    assert failure.message == "line one not found more"
    assert "\n" not in str(failure)


# ------------------------------------------------------------------- workloads fail from pods

ROLLING = with_(DEPLOY, **{"status.updatedReplicas": 1, "status.replicas": 3, "status.availableReplicas": 2})


def test_deployment_fails_on_a_crashing_pod_of_the_new_replicaset():
    health = assess(ROLLING, pods=[old_pod(), new_pod(CRASH)], replicasets=[OLD_RS, NEW_RS])
    assert health.status is Status.FAILED
    assert health.failure.pod == "api-7d9f-x"
    assert "1 of 2 new replicas" in health.message and "CrashLoopBackOff" in health.message


def test_deployment_ignores_failing_pods_of_old_replicasets():
    health = assess(ROLLING, pods=[old_pod(CRASH), new_pod()], replicasets=[OLD_RS, NEW_RS])
    assert health.status is Status.IN_PROGRESS


def test_deployment_without_its_new_replicaset_does_not_judge_pods():
    assert assess(ROLLING, pods=[new_pod(CRASH)], replicasets=[OLD_RS]).status is Status.IN_PROGRESS
    assert assess(ROLLING, pods=[new_pod(CRASH)]).status is Status.IN_PROGRESS


def test_deployment_deadline_failure_carries_the_pod_cause():
    failed = with_(ROLLING, **{"status.conditions": [cond("Progressing", "False", "ProgressDeadlineExceeded")]})
    health = assess(failed, pods=[new_pod(config_error('secret "db" not found'))], replicasets=[OLD_RS, NEW_RS])
    assert health.status is Status.FAILED
    assert "Secret shop/db does not exist" in health.failure.hint


def test_rolled_out_deployment_stays_current_whatever_its_pods_say():
    assert assess(DEPLOY, pods=[new_pod(CRASH)], replicasets=[NEW_RS]).status is Status.CURRENT


def test_new_replicaset_is_matched_by_owner_and_revision():
    foreign = rs("api-0000", "0000", "2", owner_uid="someone-else")
    assert new_replicaset(DEPLOY, [OLD_RS, foreign, NEW_RS]) is NEW_RS
    assert new_replicaset(DEPLOY, [OLD_RS, foreign]) is None
    unannotated = with_(DEPLOY, **{"metadata.annotations": {}})
    assert new_replicaset(unannotated, [NEW_RS]) is NEW_RS
    assert new_replicaset(unannotated, [OLD_RS, NEW_RS]) is None


def test_pods_match_new_replicaset_by_template_hash_without_owner():
    orphan = pod("api-7d9f-z", labels={"pod-template-hash": "7d9f"}, containers=[CRASH])
    assert current_pods(ROLLING, [orphan], [NEW_RS]) == [orphan]
    elsewhere = with_(orphan, **{"metadata.namespace": "other"})
    assert current_pods(ROLLING, [elsewhere], [NEW_RS]) == []


def sts_pod(name, revision, *containers):
    return pod(name, owner=("StatefulSet", "db", "s-uid"), labels={"controller-revision-hash": revision}, containers=containers)


def test_statefulset_judges_only_pods_at_the_update_revision():
    rolling = with_(STS, **{"status.updatedReplicas": 1, "status.updateRevision": "db-88aa"})
    assert assess(rolling, pods=[sts_pod("db-2", "db-6f7c", CRASH)]).status is Status.IN_PROGRESS
    health = assess(rolling, pods=[sts_pod("db-2", "db-88aa", CRASH)])
    assert health.status is Status.FAILED and health.failure.pod == "db-2"


def test_daemonset_judges_its_own_pods():
    rolling = with_(DS, **{"status.numberAvailable": 2})
    mine = pod("agent-x", ns="kube-system", owner=("DaemonSet", "agent", "ds-uid"), containers=[CRASH])
    other = pod("other-x", ns="kube-system", owner=("DaemonSet", "other", "other-uid"), containers=[CRASH])
    assert assess(rolling, pods=[other]).status is Status.IN_PROGRESS
    assert assess(rolling, pods=[other, mine]).failure.pod == "agent-x"


@pytest.mark.parametrize("label", ["batch.kubernetes.io/job-name", "job-name"])
def test_job_judges_pods_by_job_name_label(label):
    bad = pod("migrate-abc", labels={label: "migrate"}, containers=[waiting("ErrImagePull", "manifest unknown")])
    assert assess(JOB, pods=[bad]).status is Status.FAILED
    other = pod("other-abc", labels={label: "other"}, containers=[CRASH])
    assert assess(JOB, pods=[other]).status is Status.IN_PROGRESS


def test_job_judges_owned_pods():
    owned = pod("migrate-abc", owner=("Job", "migrate", "j-uid"), containers=[CRASH])
    assert assess(JOB, pods=[owned]).failure.pod == "migrate-abc"


def test_age_rule_reaches_workloads_through_assess():
    backoff = new_pod(waiting("ImagePullBackOff", "Back-off pulling image"))
    assert assess(ROLLING, pods=[backoff], replicasets=[NEW_RS]).status is Status.IN_PROGRESS
    assert assess(ROLLING, pods=[backoff], replicasets=[NEW_RS], now=NOW).status is Status.FAILED


# ------------------------------------------------------------------------------- secret use


def deployment_using(pod_spec):
    return with_(DEPLOY, **{"spec.template.spec": pod_spec})


SECRET_REFS = [
    ("env secretKeyRef", {"containers": [{"name": "a", "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}]}]}, {("s", "pw")}),
    ("envFrom", {"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "s"}}, {"configMapRef": {"name": "c"}}]}]}, {("s", None)}),
    ("init container", {"containers": [{"name": "a"}], "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "s"}}]}]}, {("s", None)}),
    ("ephemeral container", {"containers": [], "ephemeralContainers": [{"name": "e", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}, {("s", "k")}),
    ("secret volume", {"containers": [], "volumes": [{"name": "v", "secret": {"secretName": "s"}}]}, {("s", None)}),
    ("secret volume items", {"containers": [], "volumes": [{"name": "v", "secret": {"secretName": "s", "items": [{"key": "tls.crt", "path": "c"}, {"key": "tls.key", "path": "k"}]}}]}, {("s", "tls.crt"), ("s", "tls.key")}),
    ("projected", {"containers": [], "volumes": [{"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}, {"secret": {"name": "s", "items": [{"key": "ca", "path": "ca"}]}}]}}]}, {("s", "ca")}),
    ("csi secret ref", {"containers": [], "volumes": [{"name": "v", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "s"}}}]}, {("s", None)}),
    ("imagePullSecrets", {"containers": [], "imagePullSecrets": [{"name": "regcred"}]}, {("regcred", None)}),
    ("configmap only", {"containers": [{"name": "a", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "s", "key": "k"}}}]}], "volumes": [{"name": "v", "configMap": {"name": "s"}}]}, set()),
]


@pytest.mark.parametrize("spec,expected", [c[1:] for c in SECRET_REFS], ids=[c[0] for c in SECRET_REFS])
def test_consumed_secret_keys(spec, expected):
    workload = deployment_using(spec)
    assert consumed_secret_keys(workload) == expected
    for name in {n for n, _ in expected}:
        assert consumes_secret(workload, name)
    assert not consumes_secret(workload, "unrelated")


def test_secret_use_is_found_in_every_pod_carrying_kind():
    spec = {"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "s"}}]}]}
    pod_ = {"kind": "Pod", "spec": spec}
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        assert consumes_secret({"kind": kind, "spec": {"template": {"spec": spec}}}, "s"), kind
    assert consumes_secret(pod_, "s") and consumes_secret(cron, "s")
    assert consumed_secret_keys({"kind": "ConfigMap", "data": {"s": "x"}}) == set()


def test_failed_job_names_the_pod_and_exit_code():
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "m", "namespace": "d", "generation": 1, "uid": "u1"}, "spec": {},
           "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                                   "message": "Job has reached the specified backoff limit"}]}}
    pod = {"metadata": {"name": "m-abc", "namespace": "d", "labels": {"batch.kubernetes.io/job-name": "m"},
                        "ownerReferences": [{"kind": "Job", "name": "m", "uid": "u1", "controller": True}]},
           "status": {"phase": "Failed",
                      "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}}
    health = assess(job, pods=[pod])
    assert health.status is Status.FAILED
    assert health.failure is not None
    assert (health.failure.pod, health.failure.container) == ("m-abc", "main")
    assert "exited with code 3" in health.message


def test_a_failed_job_pod_is_not_terminal_while_the_job_may_retry():
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "m", "namespace": "d", "generation": 1, "uid": "u1"}, "spec": {"backoffLimit": 3},
           "status": {"failed": 1, "active": 1}}
    pod = {"metadata": {"name": "m-abc", "namespace": "d", "labels": {"batch.kubernetes.io/job-name": "m"},
                        "ownerReferences": [{"kind": "Job", "name": "m", "uid": "u1", "controller": True}]},
           "status": {"phase": "Failed",
                      "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": 3}}}]}}
    assert assess(job, pods=[pod]).status is Status.IN_PROGRESS
