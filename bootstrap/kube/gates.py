"""The gates after a wave: its CRDs Established (and served by discovery), its Namespaces Active.

Both wait with the one wait engine (`bootstrap.kube.wait`) on statuses from the one status engine
(`bootstrap.status`): a CRD is Current once Established, Failed when its names are not accepted, its
schema is not structural or it cannot be established; a Namespace is Current unless it is Terminating.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bootstrap.errors import ApplyError
from bootstrap.kube.apply import ResourceManager
from bootstrap.kube.errors import one_line
from bootstrap.kube.reads import get
from bootstrap.kube.wait import Stalled, TimedOut, until, wait_for_set
from bootstrap.model import ObjectRef
from bootstrap.status import Health, Status, assess

CRD_API = "apiextensions.k8s.io/v1"


def crd_health(crd: Mapping[str, Any] | None) -> Health:
    """Where a CRD the gate waits for stands (pure): NotFound, or the status engine's verdict."""
    if crd is None:
        return Health(Status.NOT_FOUND, "not found")
    return assess(dict(crd))


def served_kinds(crd: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(apiVersion, kind) of every version a CRD serves, as discovery should list them once it is established."""
    spec = crd.get("spec") or {}
    group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
    return [(f"{group}/{v['name']}", kind) for v in spec.get("versions") or () if v.get("served")]


def namespace_health(ns: Mapping[str, Any] | None) -> Health:
    """Where a Namespace the gate waits for stands (pure): NotFound (apply it), Terminating (wait), or Current."""
    if ns is None:
        return Health(Status.NOT_FOUND, "not found: applying it")
    return assess(dict(ns))


def wait_established(manager: ResourceManager, crd_names: Iterable[str], timeout: float) -> None:
    """Wait until every CRD is Established, then refresh discovery until its served kinds appear (not read
    again when it serves them already: a kind's scope and plural cannot change).

    A CRD whose names are not accepted, whose schema is not structural, or that failed to be
    established fails at once with the API's message.
    """
    client, discovery = manager.client, manager.discovery
    names = sorted(set(crd_names))
    if not names:
        return
    deadline = client.now() + timeout
    served: dict[str, list[tuple[str, str]]] = {}

    async def observe(pending: Sequence[str]) -> dict[str, Health]:
        crds = await asyncio.gather(*(get(client, discovery, ObjectRef(CRD_API, "CustomResourceDefinition", None, name))
                                      for name in pending))
        out = {}
        for name, crd in zip(pending, crds):
            out[name] = crd_health(crd)
            if out[name].status is Status.CURRENT and crd is not None:
                served[name] = served_kinds(crd)
        return out

    async def discovered() -> bool:
        kinds = [kind for listed in served.values() for kind in listed]
        if all([await discovery.lookup(av, kind) is not None for av, kind in kinds]):
            return True  # served already (a CRD the cluster had, applied again): discovery is not read again
        discovery.refresh()
        return all([await discovery.lookup(av, kind) is not None for av, kind in kinds])

    async def gate() -> bool:
        await wait_for_set(names, observe, timeout=timeout, now=client.now, sleep=client.sleep)
        return await until(discovered, max(0.5, deadline - client.now()), now=client.now, sleep=client.sleep)

    try:
        in_discovery = client.run(gate())
    except Stalled as exc:
        raise ApplyError(f"CustomResourceDefinition/{exc.key}: {one_line(exc.health.message)}") from None
    except TimedOut as exc:
        waiting = "; ".join(f"{name} ({one_line(h.message, 120)})" for name, h in exc.waiting)
        raise ApplyError(f"CRDs not established within {timeout:.0f}s: {waiting}") from None
    if not in_discovery:
        missing = sorted(n for n, kinds in served.items() if any(discovery.resource(av, k) is None for av, k in kinds))
        raise ApplyError(f"CRDs established but not served by discovery within {timeout:.0f}s: {', '.join(missing)}")


def wait_namespaces_active(manager: ResourceManager, names: Iterable[str], timeout: float, *,
                           created: Iterable[str] = (), manifests: Mapping[str, Mapping[str, Any]] | None = None,
                           on_wait: Callable[[str], None] | None = None) -> None:
    """Make every namespace exist and be Active, within `timeout` for the whole gate.

    A missing namespace is applied (from `manifests[name]` if given, else a bare Namespace). A
    Terminating one is waited out — `on_wait(name)` is called once — and then applied again. Namespaces
    in `created` (this run's apply created them a moment ago) are Active and are not looked at.
    """
    client, discovery = manager.client, manager.discovery
    skip = set(created)
    pending = sorted(name for name in set(names) if name not in skip)
    if not pending:
        return
    announced: set[str] = set()

    def body(name: str) -> Mapping[str, Any]:
        return (manifests or {}).get(name) or {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}

    async def observe(waiting: Sequence[str]) -> dict[str, Health]:
        found = await asyncio.gather(*(get(client, discovery, ObjectRef("v1", "Namespace", None, name)) for name in waiting))
        out = {}
        for name, ns in zip(waiting, found):
            health = namespace_health(ns)
            if health.status is Status.NOT_FOUND:
                await manager.apply_one(body(name), None, False, False, False)
                out[name] = Health(Status.IN_PROGRESS, "applied")
                continue
            if health.status is Status.TERMINATING:
                if name not in announced:
                    announced.add(name)
                    if on_wait is not None:
                        on_wait(name)
                health = Health(Status.IN_PROGRESS, "terminating")
            out[name] = health
        return out

    try:
        client.run(wait_for_set(pending, observe, timeout=timeout, now=client.now, sleep=client.sleep))
    except TimedOut as exc:
        name = exc.waiting[0][0]
        state = "still terminating" if name in announced else "not active"
        raise ApplyError(f"Namespace/{name}: {state} after {timeout:.0f}s") from None
    except Stalled as exc:  # pragma: no cover - a Namespace has no Failed status
        raise ApplyError(f"Namespace/{exc.key}: {exc.health.message}") from None
