"""The status engine: is an object where its spec wants it, still getting there, or stuck? (pure)

`assess(obj)` follows kstatus' `Compute` (sigs.k8s.io/cli-utils pkg/kstatus/status), in its order:

1. `metadata.deletionTimestamp` set → Terminating;
2. `status.observedGeneration` present and not `metadata.generation` → InProgress;
3. the first condition, in list order, that is `Reconciling=True` (→ InProgress) or `Stalled=True`
   (→ Failed);
4. the rule for the object's group and kind, if there is one (`bootstrap.status.rules`) — keyed by
   group *and* kind, so a Knative `serving.knative.dev` Service is not judged as a core Service;
5. a `Ready` condition: True → Current, False or Unknown → InProgress (and, as Flux sets it, InProgress
   while the condition's own observedGeneration lags);
6. otherwise Current.

On top of kstatus it fails fast: a workload is Failed as soon as one pod of its *current* revision has a
failure that will not heal by waiting (`bootstrap.status.pods`), with an operator-actionable hint. No I/O
happens here; messages quote only names, counts, reasons and the controllers' own messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

Obj = dict[str, Any]
GroupKind = tuple[str, str]  # ("apps", "Deployment"); the core group is ""


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


Rule = Callable[[Obj, "dict[str, Obj]"], Health]


def group_kind(obj: Obj) -> GroupKind:
    api_version = str(obj.get("apiVersion") or "")
    return (api_version.rpartition("/")[0] if "/" in api_version else "", str(obj.get("kind") or ""))


def assess(obj: Obj, *, pods: Sequence[Obj] = (), replicasets: Sequence[Obj] = (),
           now: datetime | None = None) -> Health:
    """Status of `obj` (as the API returns it), failing fast on terminal failures of its current pods.

    `pods` may be every pod the caller listed with the workload's selector: only those of the current
    revision are judged. `replicasets` is needed for Deployments (to find the new ReplicaSet). `now`
    (aware UTC) enables the age-based ImagePullBackOff rule; without it that rule is off.
    """
    from bootstrap.status import pods as podrules
    from bootstrap.status.rules import POD_OWNERS, RULES

    generic = generic_status(obj)
    if generic is not None:
        return generic
    gk = group_kind(obj)
    rule = RULES.get(gk)
    health = rule(obj, conditions(obj)) if rule else ready_condition(obj)
    if health.status not in (Status.IN_PROGRESS, Status.FAILED) or gk not in POD_OWNERS:
        return health
    current = podrules.current_pods(obj, pods, replicasets)
    for pod in current:
        if failure := podrules.pod_failure(pod, now=now):
            return Health(Status.FAILED, f"{health.message}; {failure}", failure)
    if health.status is Status.FAILED:
        for pod in current:
            if failure := podrules.exit_failure(pod):
                return Health(Status.FAILED, f"{health.message}; {failure}", failure)
    return health


def generic_status(obj: Obj) -> Health | None:
    """kstatus' generic checks (steps 1–3 above), or None when they decide nothing."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Health(Status.TERMINATING, "being deleted" + _finalizers(meta))
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed != generation:
        return Health(Status.IN_PROGRESS, f"waiting for the controller to observe generation {generation}"
                                          f" (observed {observed})")
    for cond in status.get("conditions") or ():
        if not isinstance(cond, dict) or cond.get("status") != "True":
            continue
        if cond.get("type") == "Reconciling":
            return Health(Status.IN_PROGRESS, condition_text(cond, "reconciling"))
        if cond.get("type") == "Stalled":
            return Health(Status.FAILED, condition_text(cond, "stalled"))
    return None


def ready_condition(obj: Obj) -> Health:
    """kstatus' last rule: the Ready condition if there is one, else Current."""
    ready = conditions(obj).get("Ready")
    if ready is None:
        return Health(Status.CURRENT, "resource is current")
    generation = (obj.get("metadata") or {}).get("generation")
    seen = ready.get("observedGeneration")
    if isinstance(generation, int) and isinstance(seen, int) and seen < generation:
        return Health(Status.IN_PROGRESS, f"waiting for Ready to reflect generation {generation}")
    if ready.get("status") == "True":
        return Health(Status.CURRENT, condition_text(ready, "ready"))
    return Health(Status.IN_PROGRESS, condition_text(ready, "not ready"))


# ------------------------------------------------------------------------------------ small helpers


def conditions(obj: Obj) -> dict[str, Obj]:
    """The object's conditions by type (the first of each type, as kstatus reads them)."""
    out: dict[str, Obj] = {}
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and "type" in cond:
            out.setdefault(cond["type"], cond)
    return out


def condition_text(condition: Obj, fallback: str) -> str:
    reason, message = condition.get("reason"), one_line(condition.get("message") or "")
    text = ": ".join(part for part in (reason, message) if part)
    return text or fallback


def _finalizers(meta: Obj) -> str:
    finalizers = meta.get("finalizers") or []
    return f" (waiting on finalizers: {', '.join(finalizers)})" if finalizers else ""


def name_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "?")


def namespace_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def labels_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def annotations_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def as_int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def one_line(text: str) -> str:
    return " ".join(str(text).split())
