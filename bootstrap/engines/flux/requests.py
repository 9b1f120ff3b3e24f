"""Reconcile requests during the hand-over: ask Flux to look again as soon as what an object waits on is Ready (pure).

kustomize-controller and helm-controller look again at a Kustomization or HelmRelease whose dependsOn are not
Ready only every `--requeue-dependency` (30 s by default), so after the hand-over each level of a dependsOn
chain costs up to 30 s. The hand-over's wait lists every Kustomization and HelmRelease anyway; when one still
says `DependencyNotReady` while every dependency is Ready by the controller's own test, it is asked to
reconcile the way `flux reconcile` asks: the annotation `reconcile.fluxcd.io/requestedAt` set to a new
timestamp. The controllers reconcile on a change of that annotation and copy its value to
`status.lastHandledReconcileAt` once they have. The same for a Kustomization whose source artifact was
missing (`ArtifactFailed`, retried on the same 30 s) once its source has one.

The controller's test of a dependency (kustomize-controller's and helm-controller's `checkDependencies`): it
exists, has conditions, its observedGeneration is its generation, Ready is True, and for a Kustomization
from the same source as the dependent, its lastAppliedRevision is the source's artifact revision. A
`readyExpr` (CEL) is not evaluated: such a dependency is judged by the built-in test, and a request made too
early only costs the controller one more look.

One request per object at a time: the next only once the controller has handled the last (its
lastHandledReconcileAt equals it) and the object still waits, at most `LIMIT` per object.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bootstrap.manifests import ref_of
from bootstrap.model import ObjectRef
from bootstrap.status.health import conditions

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"  # fluxcd/pkg apis/meta ReconcileRequestAnnotation
DEPENDENCY_NOT_READY = "DependencyNotReady"
ARTIFACT_FAILED = "ArtifactFailed"
#: what each kind waits on when its Ready condition says so with these reasons
WAITING = {"Kustomization": frozenset({DEPENDENCY_NOT_READY, ARTIFACT_FAILED}),
           "HelmRelease": frozenset({DEPENDENCY_NOT_READY})}
#: the source kinds a Kustomization reads artifacts from, whose artifact revision the wait lists
ARTIFACT_SOURCES = frozenset({"GitRepository", "OCIRepository", "Bucket"})
LIMIT = 5

Obj = Mapping[str, Any]
Key = tuple[str, str, str]  # kind, namespace, name


def stamp(now_ns: int | None = None) -> str:
    """A request value as `flux reconcile` writes it: RFC 3339 with nanoseconds, trailing zeros dropped (UTC)."""
    ns = time.time_ns() if now_ns is None else now_ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def request_patch(value: str) -> dict[str, Any]:
    """The merge patch that asks for a reconcile (it touches only this annotation)."""
    return {"metadata": {"annotations": {REQUESTED_AT: value}}}


def _key(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _spec(obj: Obj) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _status(obj: Obj) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def dependencies(obj: Obj) -> list[Key]:
    """The objects `spec.dependsOn` names: of the object's own kind, in its namespace unless one is given."""
    kind, namespace, _ = _key(obj)
    out = []
    for dep in _spec(obj).get("dependsOn") or []:
        if isinstance(dep, Mapping) and dep.get("name"):
            out.append((kind, str(dep.get("namespace") or namespace), str(dep["name"])))
    return out


def source_of(obj: Obj) -> Key | None:
    """A Kustomization's artifact source (`spec.sourceRef`, in its namespace unless one is given)."""
    ref = _spec(obj).get("sourceRef")
    if obj.get("kind") != "Kustomization" or not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    return str(ref.get("kind") or ""), str(ref.get("namespace") or _key(obj)[1]), str(ref["name"])


def artifact_revisions(sources: Iterable[Obj]) -> dict[Key, str]:
    """Each source's current artifact revision (`status.artifact.revision`); sources without one left out."""
    out = {}
    for obj in sources:
        artifact = _status(obj).get("artifact")
        if isinstance(artifact, Mapping) and artifact.get("revision"):
            out[_key(obj)] = str(artifact["revision"])
    return out


def dependency_ready(dep: Obj, dependent: Obj, revisions: Mapping[Key, str]) -> bool:
    """The controller's test of one dependency (see the module doc)."""
    meta, status = dep.get("metadata") or {}, _status(dep)
    ready = conditions(dep).get("Ready") or {}
    if not status.get("conditions") or meta.get("generation") != status.get("observedGeneration"):
        return False
    if ready.get("status") != "True":
        return False
    source = source_of(dependent)
    if source is not None and source_of(dep) == source and source in revisions:
        return status.get("lastAppliedRevision") == revisions[source]
    return True


def waiting_reason(obj: Obj) -> str | None:
    """The Ready=False reason by which a Kustomization or HelmRelease says it waits on something, or None."""
    ready = conditions(obj).get("Ready") or {}
    reason = str(ready.get("reason") or "")
    if ready.get("status") == "False" and reason in WAITING.get(str(obj.get("kind")), ()):
        return reason
    return None


def unblocked(obj: Obj, index: Mapping[Key, Obj], revisions: Mapping[Key, str]) -> bool:
    """Whatever `obj` says it waits on is there now: its source's artifact, and every dependency Ready."""
    reason = waiting_reason(obj)
    if reason is None or _spec(obj).get("suspend") is True:
        return False
    deps = dependencies(obj)
    if reason == DEPENDENCY_NOT_READY and not deps:
        return False
    if reason == ARTIFACT_FAILED:
        source = source_of(obj)
        if source is None or source not in revisions:
            return False
    return all(key in index and dependency_ready(index[key], obj, revisions) for key in deps)


@dataclass
class Requests:
    """The reconcile requests made during one hand-over: the values sent to each object, in order."""

    sent: dict[ObjectRef, list[str]] = field(default_factory=dict)
    limit: int = LIMIT

    def due(self, objects: Sequence[Obj], revisions: Mapping[Key, str]) -> list[ObjectRef]:
        """The objects to ask now, in the order listed: unblocked (`unblocked`), and either never asked or
        the last request handled (the object still waits after the controller looked), under the limit."""
        index = {_key(obj): obj for obj in objects}
        out = []
        for obj in objects:
            ref = ref_of(dict(obj))
            if self.may_ask(ref, obj) and unblocked(obj, index, revisions):
                out.append(ref)
        return out

    def may_ask(self, ref: ObjectRef, obj: Obj) -> bool:
        values = self.sent.get(ref)
        if not values:
            return True
        return len(values) < self.limit and _status(obj).get("lastHandledReconcileAt") == values[-1]

    def record(self, ref: ObjectRef, value: str) -> None:
        self.sent.setdefault(ref, []).append(value)

    @property
    def count(self) -> int:
        return sum(len(values) for values in self.sent.values())
