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

from collections.abc import Sequence
from datetime import datetime

from bootstrap.status import pods as podrules
from bootstrap.status.health import Health, Obj, Status, condition_text, conditions, group_kind
from bootstrap.status.rules import POD_OWNERS, RULES


def assess(obj: Obj, *, pods: Sequence[Obj] = (), replicasets: Sequence[Obj] = (),
           now: datetime | None = None) -> Health:
    """Status of `obj` (as the API returns it), failing fast on terminal failures of its current pods.

    `pods` may be every pod the caller listed with the workload's selector: only those of the current
    revision are judged. `replicasets` is needed for Deployments (to find the new ReplicaSet). `now`
    (aware UTC) enables the age-based ImagePullBackOff rule; without it that rule is off.
    """
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


def _finalizers(meta: Obj) -> str:
    finalizers = meta.get("finalizers") or []
    return f" (waiting on finalizers: {', '.join(finalizers)})" if finalizers else ""
