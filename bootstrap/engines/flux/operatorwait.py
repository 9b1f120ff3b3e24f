"""The hand-over to flux-operator: every FluxInstance Ready before Flux's own objects are waited on.

flux-operator installs the Flux controllers (and their CRDs) of a FluxInstance and creates its root source and
Kustomization; until the FluxInstance is Ready there is no kustomize-controller to reconcile anything, so the
Kustomization/HelmRelease wait (`converge.wait_converged`) starts after it. The FluxInstances waited on are
those in the cluster and those the restored set holds (an object, or a flux-instance HelmRelease's values:
`instance`), which may not exist yet when the wait starts (helm-controller or the Helm stage makes them).
Readiness is kstatus' on the generic conditions plus the Ready condition (`readiness.flux_readiness`); a
Stalled FluxInstance, or Ready=False with a build failure, fails fast with the operator's message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bootstrap.engines.flux.converge import GitOpsError, List, ref_of, wait_ready
from bootstrap.engines.flux.instance import instances
from bootstrap.engines.flux.readiness import FluxReadiness, flux_readiness
from bootstrap.kube.wait import TimedOut
from bootstrap.kube.reads import list_objects
from bootstrap.model import Manifest, ObjectRef
from bootstrap.status import Health, Status

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run

API_VERSION, KIND = "fluxcd.controlplane.io/v1", "FluxInstance"
NOT_YET = "not created yet"


def expected(keys: Iterable[str]) -> list[ObjectRef]:
    """`namespace/name` of the FluxInstances the restored set holds, as references."""
    return [ObjectRef(API_VERSION, KIND, *key.split("/", 1)) for key in dict.fromkeys(keys)]


async def wait_instances(list_kind: List, wanted: Iterable[ObjectRef], *, timeout: float,
                         now: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                         on_status: Callable[[ObjectRef, Health], None] | None = None) -> dict[ObjectRef, float]:
    """Seconds to Ready of each FluxInstance (empty when there is none to wait for); GitOpsError (exit 6) on a
    terminal failure or on timeout, naming the FluxInstance and the operator's Ready message."""
    wanted = list(wanted)
    start = now()
    seen: dict[ObjectRef, FluxReadiness] = {}
    first = await list_kind(API_VERSION, KIND)
    if not first and not wanted:
        return {}

    async def observe() -> dict[ObjectRef, Health]:
        listed = {ref_of(obj): obj for obj in await list_kind(API_VERSION, KIND)}
        healths: dict[ObjectRef, Health] = {}
        for ref in [*wanted, *(r for r in listed if r not in wanted)]:
            obj: dict[str, Any] | None = listed.get(ref)
            if obj is None:
                seen.pop(ref, None)
                healths[ref] = Health(Status.NOT_FOUND, NOT_YET)
            else:  # Ready only on the operator's own word: Ready=True (kstatus alone calls no conditions Current)
                seen[ref] = flux_readiness(obj)
                health = seen[ref].health
                if health.status is Status.CURRENT and seen[ref].ready != "True":
                    health = Health(Status.IN_PROGRESS, seen[ref].message or "no Ready condition yet")
                healths[ref] = health
        return healths

    def stalled(ref: ObjectRef) -> GitOpsError:
        r = seen[ref]
        return GitOpsError(f"FluxInstance {ref.namespace}/{ref.name}: "
                           f"{': '.join(p for p in (r.reason, r.message) if p) or r.health.message}",
                           hint="flux-operator could not install Flux: kubectl describe fluxinstance, and the "
                                "operator's log, say why")

    def late(timed_out: TimedOut) -> GitOpsError:
        parts = [f"{ref.namespace}/{ref.name} ({_why(seen.get(ref))})" for ref, _ in timed_out.waiting]
        return GitOpsError(f"flux-operator did not make the FluxInstance Ready within {timeout:g}s: "
                           + "; ".join(parts), hint="is flux-operator running? (its Deployment, or the Helm "
                           "release that installs it)")

    return await wait_ready(observe, start=start, timeout=timeout, now=now, sleep=sleep, stalled=stalled,
                            late=late, on_status=on_status)


def _why(readiness: FluxReadiness | None) -> str:
    if readiness is None:
        return NOT_YET
    return ": ".join(p for p in (readiness.reason, readiness.message) if p) or readiness.health.status.value


def hand_over_instances(cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float,
                        phase: str = "gitops") -> float:
    """The FluxInstances Ready (those the restored set holds, and any in the cluster), first in the `gitops`
    phase; the seconds it took (0 when there is none, and no FluxInstance API). Discovery is read again while
    the kind is unknown (the operator's chart may install its CRD now) and after (the operator installs Flux's)."""
    wanted = expected(one.key for one in instances((m.body, m.source) for m in manifests))
    if not wanted and cluster.resource(API_VERSION, KIND) is None:
        return 0.0
    client, discovery = cluster.client, cluster.discovery

    async def list_kind(api_version: str, kind: str) -> list[dict[str, Any]]:
        if await discovery.lookup(api_version, kind) is None:
            discovery.refresh()
        return await list_objects(client, discovery, api_version, kind)

    start = client.now()
    run.progress.note(f"{'hand-over' if phase == 'gitops' else phase}: waiting for flux-operator to make {len(wanted) or 'every'} FluxInstance(s) Ready "
                      f"({', '.join(f'{r.namespace}/{r.name}' for r in wanted) or 'those in the cluster'})")
    done = client.run(wait_instances(list_kind, wanted, timeout=timeout, now=client.now, sleep=client.sleep,
                                     on_status=lambda ref, health: run.status(phase, ref, health)))
    discovery.refresh()
    for ref, seconds in done.items():
        run.progress.note(f"FluxInstance {ref.namespace}/{ref.name} Ready after {seconds:g}s: Flux is installed")
    return client.now() - start
