"""Argo CD's own verdict on its objects, as a `Health` for the one wait engine (pure).

An Application is done when Argo CD says it is: `status.sync.status` Synced, `status.health.status` Healthy
and the last sync operation (`status.operationState.phase`) Succeeded. It has failed, and waiting will not
mend it, when one of its conditions is an error (a type ending in Error, Argo CD's own rule: ComparisonError,
which is also how an unreachable repository or a path that is not in it shows, InvalidSpecError, SyncError,
UnknownError), when its sync operation ended Failed or Error, or when its health is Degraded. Every other
state (no status yet, OutOfSync, Progressing, Missing, a Running operation) is in progress; so is a
ComparisonError about the live state ("Failed to load live state": the controller's cache of the cluster, e.g.
an API server too slow to answer, which its next refresh retries), not about the source.

Argo CD v3 keeps each resource's health in its resource tree (redis) unless the controller runs with
`--persist-resource-health`, so for a Degraded Application the resource to blame is taken from
`status.resources` when it carries health, and otherwise from the live resources listed there, judged by
our status engine (`degraded_resource`).

An ApplicationSet has failed when its ErrorOccurred condition is True, or ResourcesUpToDate is False with a
message; it is done once ResourcesUpToDate is True (the controller generated and wrote its Applications).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bootstrap.model import ObjectRef
from bootstrap.status import Health, Status
from bootstrap.status.health import Obj, one_line

GROUP = "argoproj.io"
#: Application conditions are errors when their type ends so (as Argo CD's ApplicationCondition.IsError says):
#: ComparisonError, InvalidSpecError, SyncError, UnknownError, DeletionError; the *Warning ones are not
ERROR_SUFFIX = "Error"
FAILED_PHASES = frozenset({"Failed", "Error"})
#: a ComparisonError about the controller's cluster cache, not the source: Argo CD retries it on its next refresh
LIVE_STATE = "Failed to load live state"
REFRESH = "argocd.argoproj.io/refresh"  # a refresh requested; the controller removes it once it has compared again


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def application_health(obj: Obj) -> Health:
    """Argo CD's verdict on an Application: Current, InProgress, or Failed with Argo CD's message. While a
    refresh request is pending its status is not judged: it predates the request."""
    if REFRESH in ((obj.get("metadata") or {}).get("annotations") or {}):
        return Health(Status.IN_PROGRESS, "refresh requested: Argo CD has not compared it again yet")
    status = _status(obj)
    for condition in status.get("conditions") or []:
        if str(condition.get("type") or "").endswith(ERROR_SUFFIX):
            message = str(condition.get("message") or "")
            if condition["type"] == "ComparisonError" and message.startswith(LIVE_STATE):
                return Health(Status.IN_PROGRESS, f"ComparisonError (retried by Argo CD): {one_line(message)}")
            where = _sources(obj) if condition["type"] == "ComparisonError" else ""
            return Health(Status.FAILED, f"{condition['type']}: {one_line(condition.get('message') or '')}{where}")
    operation = status.get("operationState") or {}
    phase = operation.get("phase") or ""
    if phase in FAILED_PHASES:
        return Health(Status.FAILED, f"SyncError: sync {phase}: {one_line(operation.get('message') or '')}")
    sync = (status.get("sync") or {}).get("status") or "Unknown"
    health = (status.get("health") or {}).get("status") or "Unknown"
    if health == "Degraded":
        message = one_line((status.get("health") or {}).get("message") or "")
        return Health(Status.FAILED, "Degraded" + (f": {message}" if message else ""))
    if sync == "Synced" and health == "Healthy" and phase == "Succeeded":
        return Health(Status.CURRENT, "Synced, Healthy, sync Succeeded")
    return Health(Status.IN_PROGRESS, f"sync {sync}, health {health}, operation {phase or 'not started'}")


def compared_before(obj: Obj, moment: datetime | None) -> bool:
    """Argo CD last compared the Application (`status.reconciledAt`) before `moment` (a new one: never)."""
    stamp = _status(obj).get("reconciledAt")
    if moment is None or not isinstance(stamp, str):
        return False
    try:
        reconciled = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    return reconciled < moment


def _sources(obj: Obj) -> str:
    """Where the Application renders from, as Argo CD's messages often leave it out (" [repoURL path ...]")."""
    spec = obj.get("spec") or {}
    sources = spec.get("sources") or ([spec["source"]] if isinstance(spec.get("source"), dict) else [])
    parts = [" ".join(str(s[k]) for k in ("repoURL", "path", "chart", "targetRevision") if s.get(k))
             for s in sources if isinstance(s, dict)]
    return f" [source {'; '.join(parts)}]" if parts else ""


def applicationset_health(obj: Obj) -> Health:
    conditions = {c.get("type"): c for c in _status(obj).get("conditions") or []}
    error = conditions.get("ErrorOccurred") or {}
    if error.get("status") == "True":
        return Health(Status.FAILED, f"ErrorOccurred: {one_line(error.get('message') or '')}")
    up_to_date = conditions.get("ResourcesUpToDate") or {}
    if up_to_date.get("status") == "False" and up_to_date.get("message"):
        return Health(Status.FAILED, f"ResourcesUpToDate False: {one_line(up_to_date['message'])}")
    if up_to_date.get("status") == "True":
        return Health(Status.CURRENT, "resources up to date")
    return Health(Status.IN_PROGRESS, "not generated yet")


def listed_resources(obj: Obj) -> list[tuple[ObjectRef, Mapping[str, Any]]]:
    """The resources an Application manages (`status.resources`), each with what Argo CD recorded of it."""
    out = []
    for entry in _status(obj).get("resources") or []:
        group, version = entry.get("group") or "", entry.get("version") or "v1"
        api_version = f"{group}/{version}" if group else version
        out.append((ObjectRef(api_version, entry.get("kind") or "", entry.get("namespace") or None,
                              entry.get("name") or ""), entry))
    return out


def degraded_resource(obj: Obj, live: Iterable[tuple[ObjectRef, Health | None]] = ()) -> str | None:
    """The first Degraded resource of an Application and its message: from `status.resources` when Argo CD
    persisted the resources' health there, else the first live resource (`live`: each listed resource and our
    status engine's verdict, None when it is gone) that has Failed."""
    for ref, entry in listed_resources(obj):
        health = entry.get("health") or {}
        if health.get("status") == "Degraded":
            return f"{ref.kind}/{ref.namespace or ''}/{ref.name}: {one_line(health.get('message') or 'Degraded')}"
    for ref, judged in live:
        if judged is not None and judged.status is Status.FAILED:
            return f"{ref.kind}/{ref.namespace or ''}/{ref.name}: {judged.message}"
    return None


TRACKING_ID = "argocd.argoproj.io/tracking-id"  # Argo CD v3's default tracking: "<app>:<group>/<kind>:<ns>/<name>"
INSTANCE_LABEL = "app.kubernetes.io/instance"  # the label tracking method


def _owners(obj: Obj) -> set[str]:
    """The Applications or ApplicationSets (by name, `ns_name` or `name`) that made `obj`."""
    meta = obj.get("metadata") or {}
    names = {str(o.get("name")) for o in meta.get("ownerReferences") or [] if o.get("kind") == "ApplicationSet"}
    tracking = (meta.get("annotations") or {}).get(TRACKING_ID) or ""
    if ":" in tracking:
        names.add(tracking.split(":", 1)[0])
    if instance := (meta.get("labels") or {}).get(INSTANCE_LABEL):
        names.add(str(instance))
    return names


def in_tree(objects: Iterable[Obj], roots: Iterable[ObjectRef]) -> list[Obj]:
    """The objects of the restored tree: the roots (the Applications and ApplicationSets the restore applied)
    and, level by level, every Application or ApplicationSet one of them made (Argo CD's tracking annotation or
    label, an ApplicationSet's ownerReference). Without roots, every object."""
    objects = list(objects)
    wanted = {(r.kind, r.namespace, r.name) for r in roots}
    if not wanted:
        return objects

    def key(obj: Obj) -> tuple[str, str | None, str]:
        meta = obj.get("metadata") or {}
        return (str(obj.get("kind")), meta.get("namespace"), str(meta.get("name")))

    names: set[str] = set()
    chosen: list[Obj] = []
    grown = True
    while grown:
        grown = False
        for obj in objects:
            if obj in chosen or not (key(obj) in wanted or _owners(obj) & names):
                continue
            chosen.append(obj)
            kind, namespace, name = key(obj)
            names |= {name, f"{namespace}_{name}"}
            grown = True
    return [obj for obj in objects if obj in chosen]
