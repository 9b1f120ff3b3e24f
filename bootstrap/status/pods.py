"""Pods: which belong to a workload's current revision, and which failures of theirs are terminal (pure).

kstatus fails a ReplicaSet or StatefulSet only on crash-looping pods and never a Deployment on its pods'
state. dr-bootstrap fails fast on any terminal container failure of a pod of the workload's *current*
revision (the new ReplicaSet of a Deployment, the update revision of a StatefulSet), the signals krane
and Argo CD act on: CrashLoopBackOff, InvalidImageName, ErrImageNeverPull, RunContainerError,
CreateContainerConfigError (unless the kubelet only failed to sync its cache) and image pulls the
registry refuses. Each comes with a hint the operator can act on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from bootstrap.status.health import (
    Obj,
    PodFailure,
    annotations_of,
    condition_text,
    conditions,
    labels_of,
    name_of,
    namespace_of,
    one_line,
)

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
        rs_hash = labels_of(new_rs).get("pod-template-hash")
        return [
            p
            for p in pods
            if (rs_hash and labels_of(p).get("pod-template-hash") == rs_hash and _same_namespace(p, obj)) or _owned_by(p, new_rs)
        ]
    if kind == "StatefulSet":
        revision = (obj.get("status") or {}).get("updateRevision")
        return [p for p in pods if _owned_by(p, obj) and labels_of(p).get("controller-revision-hash") == revision]
    if kind == "Job":
        name = name_of(obj)
        return [p for p in pods if _owned_by(p, obj) or (_same_namespace(p, obj) and name in _job_names(p))]
    if kind in ("DaemonSet", "ReplicaSet", "ReplicationController"):
        return [p for p in pods if _owned_by(p, obj)]
    return []


def new_replicaset(deployment: Obj, replicasets: Sequence[Obj]) -> Obj | None:
    """The Deployment's new ReplicaSet: owned by it and carrying its `deployment.kubernetes.io/revision`."""
    key = "deployment.kubernetes.io/revision"
    revision = annotations_of(deployment).get(key)
    owned = [rs for rs in replicasets if _owned_by(rs, deployment)]
    if revision is None:
        return owned[0] if len(owned) == 1 else None
    return next((rs for rs in owned if annotations_of(rs).get(key) == revision), None)








def pod_failure(pod: Obj, *, now: datetime | None = None) -> PodFailure | None:
    """The first terminal container failure of `pod` (init containers first), or None.

    Terminal: CrashLoopBackOff; InvalidImageName; ErrImageNeverPull; RunContainerError;
    CreateContainerConfigError unless the kubelet only failed to sync its Secret/ConfigMap cache;
    ErrImagePull/ImagePullBackOff when the registry says the image or access is missing (not found,
    manifest unknown, unauthorized, access denied), or — given `now` — when ImagePullBackOff persists
    longer than IMAGE_PULL_GRACE after the pod started.  Other pull errors are left to heal.
    """
    name = name_of(pod)
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
                return PodFailure(name, container, label, one_line(message), hint)
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
                name, container = name_of(pod), cs.get("name")
                hint = f"check `kubectl logs -n {namespace_of(pod)} {name} -c {container}`"
                return PodFailure(name, container, term.get("reason") or "Error", f"exited with code {term['exitCode']}", hint)
    return None


def _terminal_hint(pod: Obj, cs: Obj, reason: str, message: str, now: datetime | None) -> str | None:
    """The operator hint when this waiting reason is terminal, else None."""
    namespace, container = namespace_of(pod), cs.get("name")
    if reason == "CrashLoopBackOff":
        last = (cs.get("lastState") or {}).get("terminated") or {}
        code, why = last.get("exitCode"), last.get("reason")
        exited = f"it last exited with code {code}" + (f" ({why})" if why else "") if code is not None else "it keeps exiting"
        extra = ": raise its memory limit or find the leak" if why == "OOMKilled" else ""
        return f"{exited}{extra}; check `kubectl logs --previous -n {namespace} {name_of(pod)} -c {container}`"
    if reason in ("InvalidImageName", "ErrImageNeverPull"):
        return f"check the image reference of container {container} ({cs.get('image', '?')})"
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        if _IMAGE_GONE.search(message) or (reason == "ImagePullBackOff" and _pull_persisted(pod, now)):
            return f"check the image name ({cs.get('image', '?')}) and imagePullSecrets of {name_of(pod)}"
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


def failed_pod(pod: Obj) -> PodFailure:
    st = pod.get("status") or {}
    for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
        term = (cs.get("state") or {}).get("terminated") or {}
        if term and term.get("exitCode", 0) != 0:
            why = term.get("reason") or "Error"
            return PodFailure(
                name_of(pod),
                cs.get("name"),
                why,
                f"exited with code {term.get('exitCode')}",
                f"check `kubectl logs -n {namespace_of(pod)} {name_of(pod)} -c {cs.get('name')}`",
            )
    reason = st.get("reason") or "Failed"
    return PodFailure(name_of(pod), None, reason, one_line(st.get("message", "")), "check `kubectl describe pod` for why it failed")


def pod_waiting_text(pod: Obj, phase: str) -> str:
    st = pod.get("status") or {}
    for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return f"{phase}: container {cs.get('name')} {waiting['reason']}"
    scheduled = conditions(pod).get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        return condition_text(scheduled, "not scheduled")
    return f"pod {phase.lower()}, not ready"


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
    labels = labels_of(pod)
    return {labels.get("batch.kubernetes.io/job-name"), labels.get("job-name")}


def _same_namespace(a: Obj, b: Obj) -> bool:
    return (a.get("metadata") or {}).get("namespace") == (b.get("metadata") or {}).get("namespace")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
