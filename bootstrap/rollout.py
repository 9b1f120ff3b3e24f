"""Rollout verification: poll the applied workloads until they are ready, failing fast on the first doomed one.

Each tick lists objects per (kind, namespace) — not one GET per object — and pods (and, for
Deployments, ReplicaSets) once per namespace, then judges every object with the pure
`bootstrap.health.assess`.  The loop only fetches, compares and reports.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

from bootstrap.errors import RolloutError
from bootstrap.health import Health, Status, assess, consumes_secret
from bootstrap.kube import Cluster, one_line
from bootstrap.model import ObjectRef

RESTARTED_AT = "dr-bootstrap.io/restartedAt"

#: built-in kinds with a readiness rule; other built-in kinds are done once applied
CHECKED_BUILTIN_KINDS = frozenset({
    "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "Pod",
    "PersistentVolumeClaim", "Service", "CustomResourceDefinition", "Namespace", "APIService",
})
POD_OWNER_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"})
RESTARTABLE_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"))

#: failures a controller retries by itself (see `settle`)
TRANSIENT_FAILURE = re.compile(r'serviceaccount "default" not found')

StatusCallback = Callable[[ObjectRef, Health], None]


def is_builtin_group(group: str) -> bool:
    """Groups served by Kubernetes itself: the core group, dotless groups (apps, batch), *.k8s.io."""
    return "." not in group or group.endswith(".k8s.io")


def needs_check(ref: ObjectRef) -> bool:
    """Whether an object has a readiness to wait for (custom resources always may)."""
    return ref.kind in CHECKED_BUILTIN_KINDS or not is_builtin_group(ref.group)


@dataclass(frozen=True)
class Snapshot:
    """What one tick fetched: the objects by ref, and pods/ReplicaSets by namespace."""

    objects: dict[ObjectRef, dict[str, Any]]
    pods: dict[str, list[dict[str, Any]]]
    replicasets: dict[str, list[dict[str, Any]]]


def fetch(cluster: Cluster, refs: Iterable[ObjectRef], pool: ThreadPoolExecutor) -> Snapshot:
    """One LIST per (apiVersion, kind, namespace) of `refs`, plus pods/ReplicaSets per namespace that needs them.

    A group of a single object is listed with a `metadata.name` field selector.
    """
    groups: dict[tuple[str, str, str | None], set[str]] = defaultdict(set)
    pod_namespaces: set[str] = set()
    rs_namespaces: set[str] = set()
    for ref in refs:
        groups[(ref.api_version, ref.kind, ref.namespace)].add(ref.name)
        if ref.kind in POD_OWNER_KINDS and ref.namespace:
            pod_namespaces.add(ref.namespace)
        if ref.kind == "Deployment" and ref.namespace:
            rs_namespaces.add(ref.namespace)

    def list_group(key: tuple[str, str, str | None]) -> list[dict[str, Any]]:
        api_version, kind, namespace = key
        names = groups[key]
        selector = f"metadata.name={next(iter(names))}" if len(names) == 1 else None
        return cluster.list(api_version, kind, namespace, field_selector=selector)

    keys = sorted(groups, key=lambda k: (k[0], k[1], k[2] or ""))
    listed = pool.map(list_group, keys)
    pods = pool.map(lambda ns: cluster.list("v1", "Pod", ns), sorted(pod_namespaces))
    rsets = pool.map(lambda ns: cluster.list("apps/v1", "ReplicaSet", ns), sorted(rs_namespaces))
    objects: dict[ObjectRef, dict[str, Any]] = {}
    for (api_version, kind, namespace), items in zip(keys, listed):
        for item in items:
            ref = ObjectRef(api_version, kind, namespace, (item.get("metadata") or {}).get("name", ""))
            objects[ref] = item
    return Snapshot(objects, dict(zip(sorted(pod_namespaces), pods)), dict(zip(sorted(rs_namespaces), rsets)))


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


def verify_rollouts(cluster: Cluster, refs: Sequence[ObjectRef], *, timeout: float, poll: float = 1.0,
                    on_status: StatusCallback | None = None, concurrency: int = 8) -> list[tuple[ObjectRef, Health]]:
    """Wait until every object is Current; return each with its final Health, in input order.

    Objects without a readiness rule (ConfigMaps, RBAC, ...) are Current without a request.  Polls start
    at 0.2 s and slow to `poll`.  The first Failed object raises RolloutError at once (one line, with the
    pod, container, reason, message and hint); at `timeout` RolloutError lists every object not ready.
    `on_status(ref, health)` is called whenever an object's status or message changes.
    """
    final: dict[ObjectRef, Health] = {}
    pending: list[ObjectRef] = []
    for ref in dict.fromkeys(refs):
        if needs_check(ref):
            pending.append(ref)
        else:
            final[ref] = Health(Status.CURRENT, "applied (no readiness to check)")
    deadline = time.monotonic() + timeout
    delay = 0.2
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="rollout") as pool:
        while pending:
            snapshot = fetch(cluster, pending, pool)
            now = datetime.now(timezone.utc)
            still: list[ObjectRef] = []
            for ref in pending:
                health = judge(ref, snapshot, now)
                if final.get(ref) != health:
                    final[ref] = health
                    if on_status is not None:
                        on_status(ref, health)
                if health.status is Status.FAILED:
                    hint = health.failure.hint if health.failure is not None else None
                    raise RolloutError(one_line(cluster.scrub(failure_message(ref, health)), 600),
                                       hint=cluster.scrub(hint) if hint else None)
                if health.status is not Status.CURRENT:
                    still.append(ref)
            pending = still
            if not pending:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = [(ref, final[ref]) for ref in pending]
                raise RolloutError(one_line(cluster.scrub(timeout_message(timeout, waiting)), 2000))
            cluster.clock.sleep(min(delay, remaining))
            delay = min(delay * 1.5, poll)
    return [(ref, final[ref]) for ref in dict.fromkeys(refs)]


def find_consumers(cluster: Cluster, secret_refs: Iterable[ObjectRef], *, concurrency: int = 8) -> list[ObjectRef]:
    """Deployments, StatefulSets and DaemonSets already in the cluster whose pods use one of the Secrets."""
    by_namespace: dict[str, set[str]] = defaultdict(set)
    for ref in secret_refs:
        by_namespace[ref.namespace or "default"].add(ref.name)
    lists = [(namespace, api_version, kind) for namespace in sorted(by_namespace) for api_version, kind in RESTARTABLE_KINDS]
    found: set[ObjectRef] = set()
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(lists))), thread_name_prefix="consumers") as pool:
        listed = pool.map(lambda key: cluster.list(key[1], key[2], key[0]), lists)
        for (namespace, api_version, kind), workloads in zip(lists, listed):
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
