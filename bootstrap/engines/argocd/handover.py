"""The `gitops` phase for Argo CD: after the bootstrap, wait until Argo CD has synced the repository.

Every Application in the cluster must become Synced and Healthy with its last sync Succeeded, and every
ApplicationSet must have generated its Applications without an error (`readiness`). The set grows while Argo
CD works (an app-of-apps syncs its children before it is Healthy), so the polling is the one wait engine's
set that grows (`kube.wait.wait_for_all`). Only the restored tree is waited for: the Applications and
ApplicationSets the restore applied and those they made, level by level (`readiness.in_tree`). An Application
of the tree that Argo CD last compared before this run is first asked to refresh (`request_refresh`), so that its
verdict is one on what this run restored (a re-run). A failure Argo CD will not mend for this revision fails the
phase at once with the Application and Argo CD's message: a ComparisonError (a path not in the repository,
a repository that cannot be reached), a failed sync, a Degraded resource (named, with its message, read from
the live resources when Argo CD keeps resource health only in its redis). On timeout it lists what is not
done and why (exit 6 either way)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from bootstrap.engines.argocd import readiness
from bootstrap.errors import BootstrapError, RolloutError
from bootstrap.kube.reads import get, list_objects
from bootstrap.kube.wait import Pace, Stalled, TimedOut, wait_for_all
from bootstrap.model import Manifest, ObjectRef
from bootstrap.status import Health, Status
from bootstrap.status.engine import assess

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run

API = "argoproj.io/v1alpha1"
WAITED = ((API, "Application"), (API, "ApplicationSet"))
#: two LISTs a tick (Applications, ApplicationSets: cheap); a watch (`kubectl wait`) sees a change at once, so the
#: tick stays short: at most 0.2 s between Argo CD's last sync and the restore returning (bench/argocd.py; at 0.5 s
#: the phase took 0.9 s or 1.4 s, at 0.2 s 0.9 s each time)
PACE = Pace(first=0.1, factor=1.5, cap=0.2)

List = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
Get = Callable[[ObjectRef], Awaitable[dict[str, Any] | None]]


class ArgoCDSyncError(RolloutError):
    """Argo CD could not sync what the restore handed over (exit 6, as a failed rollout)."""


def _ref(obj: dict[str, Any]) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta.get("name", ""))


def _name(ref: ObjectRef) -> str:
    return f"{ref.kind}/{ref.namespace}/{ref.name}"


HINTS = {
    "ComparisonError": "Argo CD could not render this source: check the Application's repoURL, targetRevision and "
                       "path at this revision, and that the repo-server can reach the repository",
    "SyncError": "Argo CD could not apply the rendered objects: the Application's operationState says which",
    "Degraded": "a resource the Application synced is unhealthy: kubectl describe it",
}


async def wait_synced(list_kind: List, get_object: Get, *, timeout: float, now: Callable[[], float],
                      sleep: Callable[[float], Awaitable[None]], pace: Pace = PACE,
                      on_status: Callable[[ObjectRef, Health], None] | None = None,
                      roots: Sequence[ObjectRef] = ()) -> dict[ObjectRef, Health]:
    """Poll until every Application and ApplicationSet of the tree under `roots` (every one in the cluster
    without roots) is done (ArgoCDSyncError on a failure or timeout)."""

    async def observe() -> dict[ObjectRef, Health]:
        listed = await asyncio.gather(*(list_kind(av, kind) for av, kind in WAITED))
        tree = readiness.in_tree([obj for objects in listed for obj in objects], roots)
        apps = [obj for obj in tree if obj.get("kind") == "Application"]
        sets = [obj for obj in tree if obj.get("kind") == "ApplicationSet"]
        healths: dict[ObjectRef, Health] = {}
        for obj in apps:
            health = readiness.application_health(obj)
            if health.status is Status.FAILED and health.message.startswith("Degraded"):
                health = await _blame(obj, health, get_object)
            healths[_ref(obj)] = health
        for obj in sets:
            healths[_ref(obj)] = readiness.applicationset_health(obj)
        return healths

    try:
        return await wait_for_all(observe, timeout=timeout, now=now, sleep=sleep, pace=pace, on_change=on_status)
    except Stalled as stalled:
        kind = stalled.health.message.split(":", 1)[0].split(" ", 1)[0]
        raise ArgoCDSyncError(f"{_name(stalled.key)}: {stalled.health.message}", hint=HINTS.get(kind)) from None
    except TimedOut as late:
        if not late.waiting:
            raise ArgoCDSyncError(f"Argo CD did not start within {timeout:g}s: no Application in the cluster") from None
        parts = "; ".join(f"{_name(ref)} ({health.message})" for ref, health in late.waiting)
        raise ArgoCDSyncError(f"Argo CD did not sync within {timeout:g}s; not done: {parts}") from None


async def _blame(app: dict[str, Any], health: Health, get_object: Get) -> Health:
    """The Degraded verdict naming the resource to blame and its message."""
    listed = readiness.listed_resources(app)
    lives = await asyncio.gather(*(get_object(ref) for ref, _ in listed))
    judged = [(ref, assess(live) if live is not None else None) for (ref, _), live in zip(listed, lives)]
    culprit = readiness.degraded_resource(app, judged)
    return Health(Status.FAILED, f"Degraded: {culprit}") if culprit else health


def request_refresh(cluster: Cluster, run: Run, roots: Sequence[ObjectRef]) -> None:
    """Ask Argo CD to compare again every Application of the restored tree it last compared before this run
    (`readiness.compared_before`: its verdict may predate what the run restored, or a fix pushed since), as
    `argocd app get --refresh` does: the annotation `argocd.argoproj.io/refresh: normal` (a merge patch), which
    the controller removes once it has; until then the wait does not judge it (`readiness.application_health`).
    Applications new to the cluster are compared at once anyway. A request that fails is said, not fatal."""
    client = cluster.client

    async def listed_kinds() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(*(list_objects(client, cluster.discovery, av, kind) for av, kind in WAITED))

    listed = client.run(listed_kinds())
    tree = readiness.in_tree([obj for objects in listed for obj in objects], roots)
    refs = [_ref(obj) for obj in tree if obj.get("kind") == "Application"
            and readiness.compared_before(obj, run.report.started)]
    failed = []
    for ref in refs:
        try:
            cluster.merge_patch(ref, {"metadata": {"annotations": {readiness.REFRESH: "normal"}}})
        except BootstrapError as err:
            failed.append(f"{_name(ref)}: {err}")
    asked = len(refs) - len(failed)
    if asked:
        run.progress.note(f"asked Argo CD to refresh {asked} Application(s) it last compared before this restore")
    for line in failed:
        run.progress.note(f"a refresh request failed (Argo CD compares again on its own schedule): {line}")


def hand_over(cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
    """The `gitops` phase: Argo CD syncs the rest of the repository; each object's changes are recorded."""
    client = cluster.client
    with run.phase("gitops"):
        if cluster.resource(*WAITED[0]) is None:
            raise ArgoCDSyncError("--wait-gitops: the cluster has no Argo CD (no Application API), and the "
                                  "restored set does not install it", hint="restore the path that installs Argo CD "
                                  "first, or leave out --wait-gitops")
        roots = [m.ref for m in manifests if m.ref.group == readiness.GROUP and m.ref.kind in ("Application",
                                                                                              "ApplicationSet")]
        request_refresh(cluster, run, roots)
        run.progress.note("hand-over: waiting for Argo CD to sync every Application and ApplicationSet "
                          + (f"under the {len(roots)} restored" if roots else "in the cluster"))
        done = client.run(wait_synced(
            lambda api_version, kind: list_objects(client, cluster.discovery, api_version, kind),
            lambda ref: get(client, cluster.discovery, ref),
            timeout=timeout, now=client.now, sleep=client.sleep,
            on_status=lambda ref, health: run.status("gitops", ref, health), roots=roots,
        ))
        apps = sum(1 for ref in done if ref.kind == "Application")
        run.progress.note(f"Argo CD synced: {apps} Application(s) Synced and Healthy, "
                          f"{len(done) - apps} ApplicationSet(s) without error")
