"""Argo CD's own verdict on its objects, as a `Health` for the one wait engine (pure).

An Application is done when Argo CD says it is: `status.sync.status` Synced, `status.health.status` Healthy
and the last sync operation (`status.operationState.phase`) Succeeded. It has failed, and waiting will not
mend it, when one of its conditions is an error Argo CD raises for this revision (ComparisonError, which is
also how an unreachable repository or a path that is not in it shows, InvalidSpecError, SyncError,
UnknownError), when its sync operation ended Failed or Error, or when its health is Degraded. Every other
state (no status yet, OutOfSync, Progressing, Missing, a Running operation) is in progress.

Argo CD v3 keeps each resource's health in its resource tree (redis) unless the controller runs with
`--persist-resource-health`, so for a Degraded Application the resource to blame is taken from
`status.resources` when it carries health, and otherwise from the live resources listed there, judged by
our status engine (`degraded_resource`).

An ApplicationSet has failed when its ErrorOccurred condition is True, or ResourcesUpToDate is False with a
message; it is done once ResourcesUpToDate is True (the controller generated and wrote its Applications).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bootstrap.model import ObjectRef
from bootstrap.status import Health, Status
from bootstrap.status.health import Obj, one_line

GROUP = "argoproj.io"
#: Application conditions that stop it for this revision (Argo CD's error condition types)
ERROR_CONDITIONS = ("ComparisonError", "InvalidSpecError", "SyncError", "UnknownError")
FAILED_PHASES = frozenset({"Failed", "Error"})


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def application_health(obj: Obj) -> Health:
    """Argo CD's verdict on an Application: Current, InProgress, or Failed with Argo CD's message."""
    status = _status(obj)
    for condition in status.get("conditions") or []:
        if condition.get("type") in ERROR_CONDITIONS:
            return Health(Status.FAILED, f"{condition['type']}: {one_line(condition.get('message') or '')}")
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
