"""Rollout verification: wait until the applied workloads are ready, failing fast on the first doomed one.

Each tick lists objects per (kind, namespace) — not one GET per object — and pods (and, for
Deployments, ReplicaSets) once per namespace, then judges every object with the status engine
(`bootstrap.status.assess`); the waiting is the one wait engine's (`bootstrap.kube.wait`). The loop
only fetches and reports.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bootstrap.errors import SHOWN_DETAILS, RolloutError
from bootstrap.kube import Cluster, one_line
from bootstrap.kube.reads import list_objects
from bootstrap.kube.wait import Pace, Stalled, TimedOut, wait_for_set
from bootstrap.model import ObjectRef
from bootstrap.status import Health, Status, assess, consumes_secret, has_readiness
from bootstrap.status.rules import POD_OWNERS

RESTARTED_AT = "dr-bootstrap.io/restartedAt"
RESTARTABLE_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"))
POLL = Pace(first=0.2, factor=1.5, cap=1.0)

#: failures a controller retries by itself (see `settle`)
TRANSIENT_FAILURE = re.compile(r'serviceaccount "default" not found')

StatusCallback = Callable[[ObjectRef, Health], None]


def needs_check(ref: ObjectRef) -> bool:
    """Whether an object has a readiness to wait for (custom resources always may)."""
    return has_readiness(ref.group, ref.kind)


@dataclass(frozen=True)
class Snapshot:
    """What one tick fetched: the objects by ref, and pods/ReplicaSets by namespace."""

    objects: dict[ObjectRef, dict[str, Any]]
    pods: dict[str, list[dict[str, Any]]]
    replicasets: dict[str, list[dict[str, Any]]]


async def fetch(cluster: Cluster, refs: Iterable[ObjectRef]) -> Snapshot:
    """One LIST per (apiVersion, kind, namespace) of `refs`, plus pods/ReplicaSets per namespace that needs them.

    A group of a single object is listed with a `metadata.name` field selector.
    """
    groups: dict[tuple[str, str, str | None], set[str]] = defaultdict(set)
    pod_namespaces: set[str] = set()
    rs_namespaces: set[str] = set()
    for ref in refs:
        groups[(ref.api_version, ref.kind, ref.namespace)].add(ref.name)
        if (ref.group, ref.kind) in POD_OWNERS and ref.namespace:
            pod_namespaces.add(ref.namespace)
        if ref.kind == "Deployment" and ref.namespace:
            rs_namespaces.add(ref.namespace)
    client, discovery = cluster.client, cluster.discovery

    def listing(api_version: str, kind: str, namespace: str | None, names: set[str] | None = None) -> Any:
        selector = f"metadata.name={next(iter(names))}" if names is not None and len(names) == 1 else None
        return list_objects(client, discovery, api_version, kind, namespace, field_selector=selector)

    keys = sorted(groups, key=lambda k: (k[0], k[1], k[2] or ""))
    pod_ns, rs_ns = sorted(pod_namespaces), sorted(rs_namespaces)
    listed = await asyncio.gather(*(listing(*key, groups[key]) for key in keys),
                                  *(listing("v1", "Pod", ns) for ns in pod_ns),
                                  *(listing("apps/v1", "ReplicaSet", ns) for ns in rs_ns))
    objects: dict[ObjectRef, dict[str, Any]] = {}
    for (api_version, kind, namespace), items in zip(keys, listed):
        for item in items:
            objects[ObjectRef(api_version, kind, namespace, (item.get("metadata") or {}).get("name", ""))] = item
    pods = dict(zip(pod_ns, listed[len(keys):len(keys) + len(pod_ns)]))
    rsets = dict(zip(rs_ns, listed[len(keys) + len(pod_ns):]))
    return Snapshot(objects, pods, rsets)


def judge(ref: ObjectRef, snapshot: Snapshot, now: datetime) -> Health:
    """Health of one object from a snapshot (pure)."""
    obj = snapshot.objects.get(ref)
    if obj is None:
        return Health(Status.NOT_FOUND, "not found")
    namespace = ref.namespace or ""
    return settle(assess(obj, pods=snapshot.pods.get(namespace, ()),
                         replicasets=snapshot.replicasets.get(namespace, ()), now=now))


def settle(health: Health) -> Health:
    """A Failed verdict that the controllers resolve by themselves is only InProgress (pure).

    A namespace created moments ago has no `default` ServiceAccount yet, so its ReplicaSets report
    FailedCreate until the ServiceAccount controller catches up: not a reason to fail fast.
    """
    if health.status is Status.FAILED and health.failure is None and TRANSIENT_FAILURE.search(health.message):
        return Health(Status.IN_PROGRESS, f"waiting for the controllers: {health.message}")
    return health


def failure_message(ref: ObjectRef, health: Health) -> str:
    """One line for a Failed object: the workload and its state, then pod, container, reason and message."""
    return f"{ref}: {health.message}"


def timeout_message(timeout: float, waiting: Sequence[tuple[ObjectRef, Health]]) -> str:
    parts = "; ".join(f"{ref} ({h.status.value}: {h.message})" for ref, h in waiting)
    return f"rollout not complete after {timeout:.0f}s; {len(waiting)} not ready: {parts}"


def timeout_error(timeout: float, waiting: Sequence[tuple[ObjectRef, Health]],
                  scrub: Callable[[str], str] = str) -> RolloutError:
    """Every object not ready at the timeout: in the one line when they are few, else the line counts them
    by status and each is a detail (the terminal shows the first few, the reports all)."""
    if len(waiting) <= SHOWN_DETAILS:
        return RolloutError(one_line(scrub(timeout_message(timeout, waiting)), 2000))
    statuses = Counter(h.status.value for _, h in waiting)
    counted = ", ".join(f"{status} ×{n}" for status, n in sorted(statuses.items(), key=lambda i: (-i[1], i[0])))
    return RolloutError(f"rollout not complete after {timeout:.0f}s; {len(waiting)} not ready ({counted})",
                        details=[one_line(scrub(f"{ref} ({h.status.value}: {h.message})"), 600) for ref, h in waiting])


def verify_rollouts(cluster: Cluster, refs: Sequence[ObjectRef], *, timeout: float,
                    on_status: StatusCallback | None = None,
                    utcnow: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                    stop: Callable[[], bool] | None = None) -> list[tuple[ObjectRef, Health]]:
    """Wait until every object is Current; return each with its final Health, in input order.

    Objects without a readiness rule (ConfigMaps, RBAC, ...) are Current without a request. Polls start
    at 0.2 s and slow to 1 s. The first Failed object raises RolloutError at once (one line, with the
    pod, container, reason, message and hint); at `timeout` RolloutError lists every object not ready.
    `on_status(ref, health)` is called whenever an object's status or message changes. Messages pass
    the cluster's scrubber. `stop()` true before a tick ends the wait early, each object with its Health so far
    (the Helm stage watches a release's workloads while helm runs, and stops once helm is done).
    """
    final: dict[ObjectRef, Health] = {}
    pending: list[ObjectRef] = []
    for ref in dict.fromkeys(refs):
        if needs_check(ref):
            pending.append(ref)
        else:
            final[ref] = Health(Status.CURRENT, "applied (no readiness to check)")

    async def observe(waiting: Sequence[ObjectRef]) -> dict[ObjectRef, Health]:
        if stop is not None and stop():
            raise _Stopped
        snapshot = await fetch(cluster, waiting)
        now = utcnow()
        return {ref: judge(ref, snapshot, now) for ref in waiting}

    client, scrub = cluster.client, cluster.scrub
    try:
        final.update(client.run(wait_for_set(pending, observe, timeout=timeout, now=client.now, sleep=client.sleep,
                                             pace=POLL, on_change=on_status)))
    except Stalled as exc:
        hint = exc.health.failure.hint if exc.health.failure is not None else None
        raise RolloutError(one_line(scrub(failure_message(exc.key, exc.health)), 600),
                           hint=scrub(hint) if hint else None) from None
    except TimedOut as exc:
        raise timeout_error(timeout, exc.waiting, scrub) from None
    except _Stopped:
        pass
    unknown = Health(Status.UNKNOWN, "not observed")
    return [(ref, final.get(ref, unknown)) for ref in dict.fromkeys(refs)]


class _Stopped(Exception):
    """`verify_rollouts`' stop() said so: the wait ends without a verdict."""


def find_consumers(cluster: Cluster, secret_refs: Iterable[ObjectRef]) -> list[ObjectRef]:
    """Deployments, StatefulSets and DaemonSets already in the cluster whose pods use one of the Secrets."""
    by_namespace: dict[str, set[str]] = defaultdict(set)
    for ref in secret_refs:
        by_namespace[ref.namespace or "default"].add(ref.name)
    lists = [(namespace, api_version, kind) for namespace in sorted(by_namespace) for api_version, kind in RESTARTABLE_KINDS]
    client, discovery = cluster.client, cluster.discovery

    async def listed() -> list[list[dict[str, Any]]]:
        return list(await asyncio.gather(*(list_objects(client, discovery, av, kind, ns) for ns, av, kind in lists)))

    found: set[ObjectRef] = set()
    for (namespace, api_version, kind), workloads in zip(lists, client.run(listed())):
        secrets = by_namespace[namespace]
        for workload in workloads:
            if any(consumes_secret(workload, name) for name in secrets):
                found.add(ObjectRef(api_version, kind, namespace, workload["metadata"]["name"]))
    return sorted(found)


def restart_consumers(cluster: Cluster, refs: Iterable[ObjectRef], *, now: datetime | None = None) -> list[ObjectRef]:
    """Roll the workloads' pods, as `kubectl rollout restart` does: stamp a pod-template annotation."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    restarted = []
    for ref in refs:
        cluster.merge_patch(ref, patch)
        restarted.append(ref)
    return restarted


VERIFIED_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("batch/v1", "Job"))


def list_workloads(cluster: Cluster, namespaces: list[str]) -> list[ObjectRef]:
    """Deployments, StatefulSets, DaemonSets and Jobs in the given namespaces (all when none given)."""
    refs = []
    for namespace in namespaces or [None]:
        for api_version, kind in VERIFIED_KINDS:
            for obj in cluster.list(api_version, kind, namespace):
                meta = obj["metadata"]
                refs.append(ObjectRef(api_version, kind, meta.get("namespace"), meta["name"]))
    return sorted(set(refs))


def verify_consumers(cluster: Cluster, run, restored: Sequence[ObjectRef], secrets: Sequence[ObjectRef], *,
                     restart: bool, timeout: float) -> None:
    """The `consumers` phase: workloads already in the cluster (not restored by this run) that read a
    restored Secret are verified, restarted first with --restart-consumers."""
    if not secrets:
        return
    planned = set(restored)
    outside = [c for c in find_consumers(cluster, secrets) if c not in planned]
    if not outside:
        return
    with run.phase("consumers"):
        run.progress.note(f"{len(outside)} workload(s) already in the cluster use restored Secrets")
        if restart:
            restart_consumers(cluster, outside)
            run.progress.note(f"restarted {len(outside)} consumer(s)")
        verify_rollouts(cluster, outside, timeout=timeout,
                        on_status=lambda ref, health: run.status("consumers", ref, health))
