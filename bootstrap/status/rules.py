"""The rules for built-in kinds, keyed by (group, kind) as kstatus' table is (pure).

Each rule follows kstatus' rule for its kind (sigs.k8s.io/cli-utils pkg/kstatus/status/core.go) check by
check, in kstatus' order and with kstatus' comparisons, so that nothing is Current here that kstatus holds
InProgress, except where listed below. A Deployment, for one, is Current only once it has all its replicas,
updated, none extra, available and *ready*, its `Progressing` condition is True with reason
`NewReplicaSetAvailable` (unless `spec.progressDeadlineSeconds` is absent or 2147483647, when the controller
sets no such condition) and its `Available` condition is True.

On top of kstatus, dr-bootstrap fails fast and is stricter in places:

- a Deployment or ReplicaSet (or ReplicationController) with `ReplicaFailure=True` is Failed (kstatus: a
  Deployment ignores it, a ReplicaSet is InProgress);
- a Job with `Failed` or `FailureTarget` is Failed, and it is Current only once `Complete` (Flux's and Helm's
  Job readers; kstatus calls a started Job Current);
- a Pod in phase Failed is Failed (kstatus: Current), a PVC that lost its volume is Failed;
- a LoadBalancer Service waits for its ingress (Helm, kapp and Argo CD do; kstatus waits for a clusterIP);
- a CRD follows kstatus (NamesAccepted=False, or Established=False for a reason other than Installing, is
  Failed) and also fails on NonStructuralSchema=True;
- a StatefulSet with `updateStrategy: OnDelete` is Current only once its pods exist and are ready (kstatus:
  Current at once); with `rollingUpdate.partition: 0` it also waits for `currentRevision` to equal
  `updateRevision` (Helm's legacy rule; kstatus checks only the updated count when a partition is set).

Where it is more lenient, on purpose:

- a paused Deployment is Current, not waited on (Helm skips paused Deployments; kstatus would wait for
  `NewReplicaSetAvailable`, which a paused Deployment does not get);
- a DaemonSet with `updateStrategy: OnDelete` does not wait for its pods to be updated to the current
  template, which needs someone to delete them (kstatus waits, so such a DaemonSet would never be Current);
- a Job with `spec.suspend` is Current at once, not waited on (kstatus also wants its `Suspended=True`
  condition, which the Job controller sets moments later).

kstatus has no rule for ReplicationController (the ReplicaSet rule is used here) nor for Namespace (a
Namespace in phase Terminating is Terminating here).
"""

from __future__ import annotations

from bootstrap.status.health import GroupKind, Health, Obj, Rule, Status, as_int, condition_text, name_of
from bootstrap.status.pods import failed_pod, pod_failure, pod_waiting_text


#: `spec.progressDeadlineSeconds` that means "no deadline" (math.MaxInt32, the extensions/v1beta1 default):
#: the controller then sets no `Progressing` condition, and kstatus does not wait for one
NO_PROGRESS_DEADLINE = 2**31 - 1


def deployment(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    name = name_of(obj)
    progressing = conditions.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(Status.FAILED, f"deployment {name} exceeded its progress deadline")
    if (c := conditions.get("ReplicaFailure")) and c.get("status") == "True":
        return Health(Status.FAILED, condition_text(c, "replica failure"))
    if spec.get("paused"):
        return Health(Status.CURRENT, f"deployment {name} is paused: not waited on")
    want = as_int(spec.get("replicas"), 1)
    total, updated, ready, available = (
        as_int(st.get(k)) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    )
    if total < want:
        return Health(Status.IN_PROGRESS, f"{total} of {want} replicas created")
    if updated < want:
        return Health(Status.IN_PROGRESS, f"{updated} of {want} new replicas updated")
    if total > want:
        return Health(Status.IN_PROGRESS, f"{total - want} extra replicas pending termination")
    if available < updated:
        return Health(Status.IN_PROGRESS, f"{available} of {updated} updated replicas available")
    if ready < want:
        return Health(Status.IN_PROGRESS, f"{ready} of {want} replicas ready")
    deadline = as_int(spec.get("progressDeadlineSeconds"), NO_PROGRESS_DEADLINE)
    if deadline != NO_PROGRESS_DEADLINE and not (
        progressing.get("status") == "True" and progressing.get("reason") == "NewReplicaSetAvailable"
    ):
        return Health(Status.IN_PROGRESS, "waiting for the new ReplicaSet to be available"
                                          f" (Progressing: {_said(progressing)})")
    if (available_condition := conditions.get("Available") or {}).get("status") != "True":
        return Health(Status.IN_PROGRESS, f"waiting for the deployment to be Available ({_said(available_condition)})")
    return Health(Status.CURRENT, f"deployment {name} rolled out ({available} available)")


def _said(condition: Obj) -> str:
    """What a condition says: status, reason and message, or that the controller has not set it."""
    if not condition:
        return "not reported yet"
    return f"{condition.get('status', 'Unknown')}, " + condition_text(condition, "no reason given")


def statefulset(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    want = as_int(spec.get("replicas"), 1)
    total, ready, current, updated = (
        as_int(st.get(k)) for k in ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas")
    )
    strategy = spec.get("updateStrategy") or {}
    if total < want:
        return Health(Status.IN_PROGRESS, f"{total} of {want} pods created")
    if ready < want:
        return Health(Status.IN_PROGRESS, f"{ready} of {want} pods ready")
    if strategy.get("type") == "OnDelete":
        return Health(Status.CURRENT, f"{ready} pods ready (OnDelete: pods are not replaced automatically)")
    if total > want:
        return Health(Status.IN_PROGRESS, f"{total - want} extra pods pending termination")
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    if isinstance(partition, int) and not isinstance(partition, bool):
        if updated < want - partition:
            return Health(Status.IN_PROGRESS, f"{updated} of {want - partition} pods updated to the new revision")
        if partition != 0:
            return Health(Status.CURRENT, f"partitioned rollout complete: {updated} pods updated")
    elif current < want:
        return Health(Status.IN_PROGRESS, f"{current} of {want} pods at the current revision")
    if st.get("currentRevision") != st.get("updateRevision"):
        return Health(Status.IN_PROGRESS, f"waiting for revision {st.get('updateRevision')} to become current")
    return Health(Status.CURRENT, f"{ready} pods ready at revision {st.get('updateRevision')}")


def daemonset(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    # kstatus' generic check skips an absent observedGeneration; for a DaemonSet it insists on both fields
    if not isinstance((obj.get("metadata") or {}).get("generation"), int):
        return Health(Status.IN_PROGRESS, "waiting for metadata.generation")
    if not isinstance(st.get("observedGeneration"), int):
        return Health(Status.IN_PROGRESS, "waiting for the controller to observe the daemon set")
    if "desiredNumberScheduled" not in st:
        return Health(Status.IN_PROGRESS, "waiting for the controller to count the nodes to run on")
    desired, scheduled, updated, available, ready = (
        as_int(st.get(k)) for k in ("desiredNumberScheduled", "currentNumberScheduled", "updatedNumberScheduled",
                                    "numberAvailable", "numberReady")
    )
    if scheduled < desired:
        return Health(Status.IN_PROGRESS, f"{scheduled} of {desired} pods scheduled")
    on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    if not on_delete and updated < desired:
        return Health(Status.IN_PROGRESS, f"{updated} of {desired} pods updated")
    if available < desired:
        return Health(Status.IN_PROGRESS, f"{available} of {desired} pods available")
    if ready < desired:
        return Health(Status.IN_PROGRESS, f"{ready} of {desired} pods ready")
    return Health(Status.CURRENT, f"{available} of {desired} pods available")


def replicaset(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    if (c := conditions.get("ReplicaFailure")) and c.get("status") == "True":
        return Health(Status.FAILED, condition_text(c, "replica failure"))
    want = as_int(spec.get("replicas"), 1)
    total, labelled, available, ready = (
        as_int(st.get(k)) for k in ("replicas", "fullyLabeledReplicas", "availableReplicas", "readyReplicas")
    )
    if labelled < want:
        return Health(Status.IN_PROGRESS, f"{labelled} of {want} replicas carry the template's labels")
    if available < want:
        return Health(Status.IN_PROGRESS, f"{available} of {want} replicas available")
    if ready < want:
        return Health(Status.IN_PROGRESS, f"{ready} of {want} replicas ready")
    if total > want:
        return Health(Status.IN_PROGRESS, f"{total - want} extra pods pending termination")
    return Health(Status.CURRENT, f"{available} replicas available")


def job(obj: Obj, conditions: dict[str, Obj]) -> Health:
    st = obj.get("status") or {}
    for kind in ("Failed", "FailureTarget"):
        if (c := conditions.get(kind)) and c.get("status") == "True":
            return Health(Status.FAILED, condition_text(c, "job failed"))
    if (c := conditions.get("Complete")) and c.get("status") == "True":
        return Health(Status.CURRENT, f"job completed ({as_int(st.get('succeeded'))} succeeded)")
    if (obj.get("spec") or {}).get("suspend"):
        return Health(Status.CURRENT, "job is suspended: not waited on")
    counts = ", ".join(f"{as_int(st.get(k))} {k}" for k in ("active", "succeeded", "failed"))
    return Health(Status.IN_PROGRESS, f"waiting for the job to complete ({counts})")


def pod(obj: Obj, conditions: dict[str, Obj]) -> Health:
    st = obj.get("status") or {}
    phase = st.get("phase", "Pending")
    if phase == "Succeeded":
        return Health(Status.CURRENT, "pod succeeded")
    if phase == "Failed":
        failure = failed_pod(obj)
        return Health(Status.FAILED, str(failure), failure)
    if failure := pod_failure(obj):
        return Health(Status.FAILED, str(failure), failure)
    if phase == "Running" and (conditions.get("Ready") or {}).get("status") == "True":
        return Health(Status.CURRENT, "pod running and ready")
    return Health(Status.IN_PROGRESS, pod_waiting_text(obj, phase))


def pvc(obj: Obj, conditions: dict[str, Obj]) -> Health:
    phase = (obj.get("status") or {}).get("phase", "Pending")
    if phase == "Bound":
        return Health(Status.CURRENT, "claim bound")
    if phase == "Lost":
        return Health(Status.FAILED, "claim lost its volume")
    return Health(Status.IN_PROGRESS, f"claim {phase.lower()} (a WaitForFirstConsumer class binds when a pod uses it)")


def service(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec = obj.get("spec") or {}
    if spec.get("type") != "LoadBalancer" or spec.get("externalIPs"):
        return Health(Status.CURRENT, "service ready")
    if ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
        return Health(Status.CURRENT, "load balancer ingress assigned")
    return Health(Status.IN_PROGRESS, "waiting for a load balancer ingress")


def crd(obj: Obj, conditions: dict[str, Obj]) -> Health:
    if (c := conditions.get("NonStructuralSchema")) and c.get("status") == "True":
        return Health(Status.FAILED, "schema is not structural: " + condition_text(c, "NonStructuralSchema"))
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if not isinstance(cond, dict):
            continue
        if cond.get("type") == "NamesAccepted" and cond.get("status") == "False":
            return Health(Status.FAILED, "names not accepted: " + condition_text(cond, "NamesAccepted=False"))
        if cond.get("type") == "Established":
            if cond.get("status") == "False" and cond.get("reason") != "Installing":
                return Health(Status.FAILED, "not established: " + condition_text(cond, "Established=False"))
            if cond.get("status") == "True":
                return Health(Status.CURRENT, "established")
    return Health(Status.IN_PROGRESS, "waiting for Established")


def namespace(obj: Obj, conditions: dict[str, Obj]) -> Health:
    if (obj.get("status") or {}).get("phase") == "Terminating":
        return Health(Status.TERMINATING, "namespace is terminating")
    return Health(Status.CURRENT, "active")


def always_current(obj: Obj, conditions: dict[str, Obj]) -> Health:
    return Health(Status.CURRENT, "resource is current")


RULES: dict[GroupKind, Rule] = {
    ("apps", "Deployment"): deployment,
    ("extensions", "Deployment"): deployment,
    ("apps", "StatefulSet"): statefulset,
    ("apps", "DaemonSet"): daemonset,
    ("extensions", "DaemonSet"): daemonset,
    ("apps", "ReplicaSet"): replicaset,
    ("extensions", "ReplicaSet"): replicaset,
    ("", "ReplicationController"): replicaset,
    ("batch", "Job"): job,
    ("", "Pod"): pod,
    ("", "PersistentVolumeClaim"): pvc,
    ("", "Service"): service,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crd,
    ("", "Namespace"): namespace,
    ("", "Secret"): always_current,
    ("", "ConfigMap"): always_current,
    ("batch", "CronJob"): always_current,
    ("policy", "PodDisruptionBudget"): always_current,
}

#: kinds whose pods are judged for fast-fail (`bootstrap.status.pods.current_pods`)
POD_OWNERS: frozenset[GroupKind] = frozenset({
    ("apps", "Deployment"), ("extensions", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
    ("extensions", "DaemonSet"), ("apps", "ReplicaSet"), ("extensions", "ReplicaSet"), ("", "ReplicationController"),
    ("batch", "Job"),
})


def is_builtin_group(group: str) -> bool:
    """Groups served by Kubernetes itself: the core group, dotless groups (apps, batch), *.k8s.io."""
    return "." not in group or group.endswith(".k8s.io")


def has_readiness(group: str, kind: str) -> bool:
    """Whether an object of this kind has a readiness to wait for: a rule that is not always Current, or
    any kind outside the built-in groups (a custom resource may carry conditions)."""
    rule = RULES.get((group, kind))
    if rule is not None:
        return rule is not always_current
    return not is_builtin_group(group)
