"""Readiness of one object, as a pure function of its JSON and its pods (modelled on kstatus).

`assess` answers "is this object where its spec wants it, still getting there, or stuck?" in the order
kstatus uses: deletion, observed generation, the generic Reconciling/Stalled conditions, a rule per kind,
the generic Ready condition, and otherwise Current.  On top of kstatus it fails fast: a workload is
Failed as soon as one pod of its *current* revision has a failure that will not heal by waiting
(`pod_failure`), with an operator-actionable hint.

No I/O happens here; the polling loop fetches the object, its pods and (for Deployments) its
ReplicaSets, and calls `assess` on every poll.  Messages never contain a Secret value: they quote only
names, counts, reasons and the kubelet's own messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Callable

Obj = dict[str, Any]


class Status(str, Enum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class PodFailure:
    """A container failure that waiting will not fix. `container` is None for pod-level failures."""

    pod: str
    container: str | None
    reason: str
    message: str
    hint: str

    def __str__(self) -> str:
        where = f"pod {self.pod}" + (f" container {self.container}" if self.container else "")
        detail = f": {self.message}" if self.message else ""
        return f"{where}: {self.reason}{detail}"


@dataclass(frozen=True)
class Health:
    status: Status
    message: str
    failure: PodFailure | None = None


# How long ImagePullBackOff may persist (since the pod started) before it counts as terminal even when
# the registry's message does not say the image is missing (network blips and rate limits heal).
IMAGE_PULL_GRACE = timedelta(seconds=120)

_IMAGE_GONE = re.compile(
    r"not found|manifest unknown|unauthorized|access denied|authentication required|"
    r"repository does not exist|insufficient_scope|denied: ",
    re.IGNORECASE,
)
_CACHE_SYNC = re.compile(r"failed to sync .*cache", re.IGNORECASE)
_MISSING_KEY = re.compile(r"couldn't find key (?P<key>\S+) in (?P<kind>Secret|ConfigMap) (?P<ref>\S+)")
_MISSING_OBJ = re.compile(r"(?P<kind>secret|configmap) \"(?P<name>[^\"]+)\" not found", re.IGNORECASE)

_POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"})


# --------------------------------------------------------------------------------------------- assess


def assess(
    obj: Obj,
    *,
    pods: Sequence[Obj] = (),
    replicasets: Sequence[Obj] = (),
    now: datetime | None = None,
) -> Health:
    """Status of `obj` (as the API returns it), failing fast on terminal failures of its current pods.

    `pods` may be every pod the caller listed with the workload's selector: only those of the current
    revision are judged.  `replicasets` is needed for Deployments (to find the new ReplicaSet).
    `now` (aware UTC) enables the age-based ImagePullBackOff rule; without it that rule is off.
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Health(Status.TERMINATING, "being deleted" + _finalizers(meta))

    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return Health(Status.IN_PROGRESS, f"waiting for the controller to observe generation {generation}")

    conditions = _conditions(obj)
    if (c := conditions.get("Reconciling")) and c.get("status") == "True":
        return Health(Status.IN_PROGRESS, _condition_text(c, "reconciling"))
    if (c := conditions.get("Stalled")) and c.get("status") == "True":
        return Health(Status.FAILED, _condition_text(c, "stalled"))

    rule = _KIND_RULES.get(obj.get("kind", ""))
    health = rule(obj, conditions) if rule else _ready_condition(obj, conditions)
    if health.status not in (Status.IN_PROGRESS, Status.FAILED) or obj.get("kind") not in _POD_TEMPLATE_KINDS:
        return health
    current = current_pods(obj, pods, replicasets)
    for pod in current:
        if failure := pod_failure(pod, now=now):
            return Health(Status.FAILED, f"{health.message}; {failure}", failure)
    if health.status is Status.FAILED:
        for pod in current:
            if failure := exit_failure(pod):
                return Health(Status.FAILED, f"{health.message}; {failure}", failure)
    return health


def _deployment(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    name = _name(obj)
    progressing = conditions.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(Status.FAILED, f"deployment {name} exceeded its progress deadline")
    if (c := conditions.get("ReplicaFailure")) and c.get("status") == "True":
        return Health(Status.FAILED, _condition_text(c, "replica failure"))
    if spec.get("paused"):
        return Health(Status.CURRENT, f"deployment {name} is paused: not waited on")
    want = _int(spec.get("replicas"), 1)
    updated, total, available = (_int(st.get(k)) for k in ("updatedReplicas", "replicas", "availableReplicas"))
    if updated < want:
        return Health(Status.IN_PROGRESS, f"{updated} of {want} new replicas updated")
    if total > updated:
        return Health(Status.IN_PROGRESS, f"{total - updated} old replicas pending termination")
    if available < updated:
        return Health(Status.IN_PROGRESS, f"{available} of {updated} updated replicas available")
    return Health(Status.CURRENT, f"deployment {name} rolled out ({available} available)")


def _statefulset(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    want = _int(spec.get("replicas"), 1)
    ready, total, updated = (_int(st.get(k)) for k in ("readyReplicas", "replicas", "updatedReplicas"))
    strategy = spec.get("updateStrategy") or {}
    if ready < want:
        return Health(Status.IN_PROGRESS, f"{ready} of {want} pods ready")
    if strategy.get("type") == "OnDelete":
        return Health(Status.CURRENT, f"{ready} pods ready (OnDelete: pods are not replaced automatically)")
    if total > want:
        return Health(Status.IN_PROGRESS, f"{total - want} extra pods pending termination")
    partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
    if updated < want - partition:
        return Health(Status.IN_PROGRESS, f"{updated} of {want - partition} pods updated to the new revision")
    if partition == 0 and st.get("currentRevision") != st.get("updateRevision"):
        return Health(Status.IN_PROGRESS, f"waiting for revision {st.get('updateRevision')} to become current")
    return Health(Status.CURRENT, f"{ready} pods ready at revision {st.get('updateRevision')}")


def _daemonset(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    if "desiredNumberScheduled" not in st:
        return Health(Status.IN_PROGRESS, "waiting for the controller to count the nodes to run on")
    desired, updated, available = (
        _int(st.get(k)) for k in ("desiredNumberScheduled", "updatedNumberScheduled", "numberAvailable")
    )
    on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    if not on_delete and updated < desired:
        return Health(Status.IN_PROGRESS, f"{updated} of {desired} pods updated")
    if available < desired:
        return Health(Status.IN_PROGRESS, f"{available} of {desired} pods available")
    return Health(Status.CURRENT, f"{available} of {desired} pods available")


def _replicaset(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    if (c := conditions.get("ReplicaFailure")) and c.get("status") == "True":
        return Health(Status.FAILED, _condition_text(c, "replica failure"))
    want = _int(spec.get("replicas"), 1)
    available, total = _int(st.get("availableReplicas")), _int(st.get("replicas"))
    if available < want:
        return Health(Status.IN_PROGRESS, f"{available} of {want} replicas available")
    if total > want:
        return Health(Status.IN_PROGRESS, f"{total - want} extra pods pending termination")
    return Health(Status.CURRENT, f"{available} replicas available")


def _job(obj: Obj, conditions: dict[str, Obj]) -> Health:
    st = obj.get("status") or {}
    for kind in ("Failed", "FailureTarget"):
        if (c := conditions.get(kind)) and c.get("status") == "True":
            return Health(Status.FAILED, _condition_text(c, "job failed"))
    if (c := conditions.get("Complete")) and c.get("status") == "True":
        return Health(Status.CURRENT, f"job completed ({_int(st.get('succeeded'))} succeeded)")
    if (obj.get("spec") or {}).get("suspend"):
        return Health(Status.CURRENT, "job is suspended: not waited on")
    counts = ", ".join(f"{_int(st.get(k))} {k}" for k in ("active", "succeeded", "failed"))
    return Health(Status.IN_PROGRESS, f"waiting for the job to complete ({counts})")


def _pod(obj: Obj, conditions: dict[str, Obj]) -> Health:
    st = obj.get("status") or {}
    phase = st.get("phase", "Pending")
    if phase == "Succeeded":
        return Health(Status.CURRENT, "pod succeeded")
    if phase == "Failed":
        failure = _failed_pod(obj)
        return Health(Status.FAILED, str(failure), failure)
    if failure := pod_failure(obj):
        return Health(Status.FAILED, str(failure), failure)
    if phase == "Running" and (conditions.get("Ready") or {}).get("status") == "True":
        return Health(Status.CURRENT, "pod running and ready")
    return Health(Status.IN_PROGRESS, _pod_waiting_text(obj, phase))


def _pvc(obj: Obj, conditions: dict[str, Obj]) -> Health:
    phase = (obj.get("status") or {}).get("phase", "Pending")
    if phase == "Bound":
        return Health(Status.CURRENT, "claim bound")
    if phase == "Lost":
        return Health(Status.FAILED, "claim lost its volume")
    return Health(Status.IN_PROGRESS, f"claim {phase.lower()} (a WaitForFirstConsumer class binds when a pod uses it)")


def _service(obj: Obj, conditions: dict[str, Obj]) -> Health:
    spec = obj.get("spec") or {}
    if spec.get("type") != "LoadBalancer" or spec.get("externalIPs"):
        return Health(Status.CURRENT, "service ready")
    if ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
        return Health(Status.CURRENT, "load balancer ingress assigned")
    return Health(Status.IN_PROGRESS, "waiting for a load balancer ingress")


def _crd(obj: Obj, conditions: dict[str, Obj]) -> Health:
    names, established = conditions.get("NamesAccepted") or {}, conditions.get("Established") or {}
    if names.get("status") == "False":
        return Health(Status.FAILED, _condition_text(names, "names not accepted"))
    if (c := conditions.get("NonStructuralSchema")) and c.get("status") == "True":
        return Health(Status.FAILED, _condition_text(c, "non-structural schema"))
    if names.get("status") == "True" and established.get("status") == "True":
        return Health(Status.CURRENT, "established")
    return Health(Status.IN_PROGRESS, "waiting for Established and NamesAccepted")


def _namespace(obj: Obj, conditions: dict[str, Obj]) -> Health:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Active":
        return Health(Status.CURRENT, "active")
    if phase == "Terminating":
        return Health(Status.TERMINATING, "namespace is terminating")
    return Health(Status.IN_PROGRESS, "waiting for the namespace to become Active")


def _ready_condition(obj: Obj, conditions: dict[str, Obj]) -> Health:
    ready = conditions.get("Ready")
    if ready is None:
        return Health(Status.CURRENT, "resource is current")
    generation = (obj.get("metadata") or {}).get("generation")
    seen = ready.get("observedGeneration")
    if generation is not None and seen is not None and seen < generation:
        return Health(Status.IN_PROGRESS, f"waiting for Ready to reflect generation {generation}")
    if ready.get("status") == "True":
        return Health(Status.CURRENT, _condition_text(ready, "ready"))
    return Health(Status.IN_PROGRESS, _condition_text(ready, "not ready"))


_KIND_RULES: dict[str, Callable[[Obj, dict[str, Obj]], Health]] = {
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "ReplicaSet": _replicaset,
    "ReplicationController": _replicaset,
    "Job": _job,
    "Pod": _pod,
    "PersistentVolumeClaim": _pvc,
    "Service": _service,
    "CustomResourceDefinition": _crd,
    "Namespace": _namespace,
}


# ------------------------------------------------------------------------------------ current pods


def current_pods(obj: Obj, pods: Sequence[Obj], replicasets: Sequence[Obj] = ()) -> list[Obj]:
    """The pods of `obj`'s current revision: those whose failure should fail the workload.

    Deployment: pods of the new ReplicaSet (the owned one whose revision annotation matches the
    Deployment's), matched by owner or pod-template-hash; none when that ReplicaSet is not among
    `replicasets`. StatefulSet: owned pods labelled with `status.updateRevision`. DaemonSet,
    ReplicaSet, ReplicationController: owned pods. Job: pods labelled with its name, or owned.
    """
    kind = obj.get("kind")
    if kind == "Deployment":
        new_rs = new_replicaset(obj, replicasets)
        if new_rs is None:
            return []
        rs_hash = _labels(new_rs).get("pod-template-hash")
        return [
            p
            for p in pods
            if (rs_hash and _labels(p).get("pod-template-hash") == rs_hash and _same_namespace(p, obj)) or _owned_by(p, new_rs)
        ]
    if kind == "StatefulSet":
        revision = (obj.get("status") or {}).get("updateRevision")
        return [p for p in pods if _owned_by(p, obj) and _labels(p).get("controller-revision-hash") == revision]
    if kind == "Job":
        name = _name(obj)
        return [p for p in pods if _owned_by(p, obj) or (_same_namespace(p, obj) and name in _job_names(p))]
    if kind in ("DaemonSet", "ReplicaSet", "ReplicationController"):
        return [p for p in pods if _owned_by(p, obj)]
    return []


def new_replicaset(deployment: Obj, replicasets: Sequence[Obj]) -> Obj | None:
    """The Deployment's new ReplicaSet: owned by it and carrying its `deployment.kubernetes.io/revision`."""
    key = "deployment.kubernetes.io/revision"
    revision = _annotations(deployment).get(key)
    owned = [rs for rs in replicasets if _owned_by(rs, deployment)]
    if revision is None:
        return owned[0] if len(owned) == 1 else None
    return next((rs for rs in owned if _annotations(rs).get(key) == revision), None)


def _owned_by(child: Obj, owner: Obj) -> bool:
    if not _same_namespace(child, owner):
        return False
    owner_meta = owner.get("metadata") or {}
    for ref in (child.get("metadata") or {}).get("ownerReferences") or ():
        if owner_meta.get("uid") and ref.get("uid"):
            if ref["uid"] == owner_meta["uid"]:
                return True
        elif ref.get("kind") == owner.get("kind") and ref.get("name") == owner_meta.get("name"):
            return True
    return False


def _job_names(pod: Obj) -> set[str | None]:
    labels = _labels(pod)
    return {labels.get("batch.kubernetes.io/job-name"), labels.get("job-name")}


def _same_namespace(a: Obj, b: Obj) -> bool:
    return (a.get("metadata") or {}).get("namespace") == (b.get("metadata") or {}).get("namespace")


# ------------------------------------------------------------------------------------ pod failures


def pod_failure(pod: Obj, *, now: datetime | None = None) -> PodFailure | None:
    """The first terminal container failure of `pod` (init containers first), or None.

    Terminal: CrashLoopBackOff; InvalidImageName; ErrImageNeverPull; RunContainerError;
    CreateContainerConfigError unless the kubelet only failed to sync its Secret/ConfigMap cache;
    ErrImagePull/ImagePullBackOff when the registry says the image or access is missing (not found,
    manifest unknown, unauthorized, access denied), or — given `now` — when ImagePullBackOff persists
    longer than IMAGE_PULL_GRACE after the pod started.  Other pull errors are left to heal.
    """
    name = _name(pod)
    st = pod.get("status") or {}
    for field, kind in (("initContainerStatuses", "init container"), ("containerStatuses", "container")):
        for cs in st.get(field) or ():
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason, message = waiting.get("reason", ""), waiting.get("message", "")
            if not reason:
                continue
            hint = _terminal_hint(pod, cs, reason, message, now)
            if hint is not None:
                container = cs.get("name")
                label = reason if kind == "container" else f"{reason} (init)"
                return PodFailure(name, container, label, _one_line(message), hint)
    return None


def exit_failure(pod: Obj) -> PodFailure | None:
    """Why a pod that ran to a failed end (a Job's) failed: its first non-zero container exit, or None.

    Not terminal by itself (the Job controller may retry); used to explain a workload already Failed.
    """
    st = pod.get("status") or {}
    if st.get("phase") != "Failed":
        return None
    for field in ("initContainerStatuses", "containerStatuses"):
        for cs in st.get(field) or ():
            term = (cs.get("state") or {}).get("terminated") or {}
            if term.get("exitCode"):
                name, container = _name(pod), cs.get("name")
                hint = f"check `kubectl logs -n {_namespace_of(pod)} {name} -c {container}`"
                return PodFailure(name, container, term.get("reason") or "Error", f"exited with code {term['exitCode']}", hint)
    return None


def _terminal_hint(pod: Obj, cs: Obj, reason: str, message: str, now: datetime | None) -> str | None:
    """The operator hint when this waiting reason is terminal, else None."""
    namespace, container = _namespace_of(pod), cs.get("name")
    if reason == "CrashLoopBackOff":
        last = (cs.get("lastState") or {}).get("terminated") or {}
        code, why = last.get("exitCode"), last.get("reason")
        exited = f"it last exited with code {code}" + (f" ({why})" if why else "") if code is not None else "it keeps exiting"
        extra = ": raise its memory limit or find the leak" if why == "OOMKilled" else ""
        return f"{exited}{extra}; check `kubectl logs --previous -n {namespace} {_name(pod)} -c {container}`"
    if reason in ("InvalidImageName", "ErrImageNeverPull"):
        return f"check the image reference of container {container} ({cs.get('image', '?')})"
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        if _IMAGE_GONE.search(message) or (reason == "ImagePullBackOff" and _pull_persisted(pod, now)):
            return f"check the image name ({cs.get('image', '?')}) and imagePullSecrets of {_name(pod)}"
        return None
    if reason == "CreateContainerConfigError":
        return None if _CACHE_SYNC.search(message) else _config_hint(namespace, message)
    if reason == "RunContainerError":
        return "the runtime could not start the container: check its command, mounts and securityContext"
    return None


def _config_hint(namespace: str, message: str) -> str:
    if m := _MISSING_KEY.search(message):
        ref, kind, key = m["ref"], m["kind"], m["key"]
        field = "secretKeyRef" if kind == "Secret" else "configMapKeyRef"
        return f"the {kind} {ref} has no key {key}: check the restored {kind}'s keys or the workload's {field}"
    if m := _MISSING_OBJ.search(message):
        kind = "Secret" if m["kind"].lower() == "secret" else "ConfigMap"
        return f"the {kind} {namespace}/{m['name']} does not exist: check that it is in the repo and was applied earlier"
    return "the container's configuration refers to something missing: check its Secret and ConfigMap references"


def _pull_persisted(pod: Obj, now: datetime | None) -> bool:
    started = (pod.get("status") or {}).get("startTime") or (pod.get("metadata") or {}).get("creationTimestamp")
    if now is None or not started:
        return False
    return now - _parse_time(started) > IMAGE_PULL_GRACE


def _failed_pod(pod: Obj) -> PodFailure:
    st = pod.get("status") or {}
    for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
        term = (cs.get("state") or {}).get("terminated") or {}
        if term and term.get("exitCode", 0) != 0:
            why = term.get("reason") or "Error"
            return PodFailure(
                _name(pod),
                cs.get("name"),
                why,
                f"exited with code {term.get('exitCode')}",
                f"check `kubectl logs -n {_namespace_of(pod)} {_name(pod)} -c {cs.get('name')}`",
            )
    reason = st.get("reason") or "Failed"
    return PodFailure(_name(pod), None, reason, _one_line(st.get("message", "")), "check `kubectl describe pod` for why it failed")


def _pod_waiting_text(pod: Obj, phase: str) -> str:
    st = pod.get("status") or {}
    for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return f"{phase}: container {cs.get('name')} {waiting['reason']}"
    scheduled = _conditions(pod).get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        return _condition_text(scheduled, "not scheduled")
    return f"pod {phase.lower()}, not ready"


# ------------------------------------------------------------------------------------ secret use


def pod_spec(workload: Obj) -> Obj | None:
    """The pod spec of a Pod or of a workload's template (CronJob included), or None."""
    kind, spec = workload.get("kind"), workload.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return (template or {}).get("spec") if isinstance(template, dict) else None


def consumed_secret_keys(workload: Obj) -> set[tuple[str, str | None]]:
    """(secret, key) pairs the workload's pods read; key None means the whole Secret (or unknown keys).

    Covers env valueFrom.secretKeyRef, envFrom.secretRef, secret volumes (with `items`, per key),
    projected secret sources, volume-plugin `secretRef`s, and imagePullSecrets, for containers,
    init containers and ephemeral containers.
    """
    spec = pod_spec(workload)
    if not spec:
        return set()
    return set(_secret_refs(spec))


def consumes_secret(workload: Obj, secret_name: str) -> bool:
    """Whether the workload's pods reference the Secret `secret_name` in any way."""
    return any(name == secret_name for name, _ in consumed_secret_keys(workload))


def _secret_refs(spec: Obj) -> Iterator[tuple[str, str | None]]:
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or ():
            for env in container.get("env") or ():
                ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
                if ref.get("name"):
                    yield ref["name"], ref.get("key")
            for source in container.get("envFrom") or ():
                if name := (source.get("secretRef") or {}).get("name"):
                    yield name, None
    for volume in spec.get("volumes") or ():
        if name := (volume.get("secret") or {}).get("secretName"):
            yield from _with_items(name, volume["secret"])
        for source in (volume.get("projected") or {}).get("sources") or ():
            if name := (source.get("secret") or {}).get("name"):
                yield from _with_items(name, source["secret"])
        for plugin in volume.values():  # csi, cephfs, rbd, iscsi, flexVolume, ...
            if isinstance(plugin, dict):
                for key in ("secretRef", "nodePublishSecretRef"):
                    if name := (plugin.get(key) or {}).get("name"):
                        yield name, None
    for ref in spec.get("imagePullSecrets") or ():
        if ref.get("name"):
            yield ref["name"], None


def _with_items(name: str, source: Obj) -> Iterator[tuple[str, str | None]]:
    items = source.get("items") or ()
    if not items:
        yield name, None
    for item in items:
        yield name, item.get("key")


# ------------------------------------------------------------------------------------ small helpers


def _conditions(obj: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or () if isinstance(c, dict) and "type" in c}


def _condition_text(condition: Obj, fallback: str) -> str:
    reason, message = condition.get("reason"), _one_line(condition.get("message") or "")
    text = ": ".join(part for part in (reason, message) if part)
    return text or fallback


def _finalizers(meta: Obj) -> str:
    finalizers = meta.get("finalizers") or []
    return f" (waiting on finalizers: {', '.join(finalizers)})" if finalizers else ""


def _name(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "?")


def _namespace_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def _labels(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _annotations(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
