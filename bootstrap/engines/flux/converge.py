"""The hand-over: after the bootstrap, wait until Flux has reconciled the rest of the repository.

Every Flux Kustomization and HelmRelease in the cluster must become Ready (kstatus rules on their
conditions, `bootstrap.engines.flux.readiness`). The set grows while Flux works: a Kustomization applies its children
before it reports Ready, so the wait ends at the first observation in which every object listed is Ready.
Suspended objects are left out (Flux does not reconcile them) and said so.

While it waits, an object that Flux would look at again only after `--requeue-dependency` (30 s) because its
dependencies were not Ready is asked to reconcile as soon as they are (`bootstrap.engines.flux.requests`):
`request(ref, value)` sets the annotation; without `request` nothing is asked.

It fails fast on a terminal failure (`flux_readiness(...).terminal`: a build or decryption failure, a Helm
install or upgrade failure, a Stalled source), naming the object and Flux's own message with a hint. On
timeout it lists what is not Ready and why. The polling is the one wait engine's (`kube.wait.wait_for_all`,
a set that grows); time comes from the client (`now`, `sleep`), so tests drive it with a fake clock and
count the LIST requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from bootstrap.errors import RolloutError
from bootstrap.kube.wait import Pace, Stalled, TimedOut, wait_for_all
from bootstrap.model import ObjectRef
from bootstrap.status import Health, Status
from bootstrap.status.engine import assess
from bootstrap.engines.flux.readiness import FluxReadiness, flux_readiness
from bootstrap.engines.flux.requests import Requests, artifact_revisions
from bootstrap.engines.flux.requests import stamp as now_stamp

#: what must become Ready
WAITED = (("kustomize.toolkit.fluxcd.io/v1", "Kustomization"), ("helm.toolkit.fluxcd.io/v2", "HelmRelease"))
#: watched only for a terminal failure (a Kustomization or HelmRelease waiting on them says little)
SOURCES = (("source.toolkit.fluxcd.io/v1", "GitRepository"), ("source.toolkit.fluxcd.io/v1", "HelmRepository"),
           ("source.toolkit.fluxcd.io/v1", "HelmChart"), ("source.toolkit.fluxcd.io/v1", "OCIRepository"),
           ("source.toolkit.fluxcd.io/v1", "Bucket"))

List = Callable[[str, str], Awaitable[list[dict[str, Any]]]]  # (apiVersion, kind) -> every object of that kind
Request = Callable[[ObjectRef, str], Awaitable[None]]  # set reconcile.fluxcd.io/requestedAt on the object


class GitOpsError(RolloutError):
    """Flux could not reconcile what the restore handed over (exit 6, as a failed rollout)."""


PACE = Pace(first=0.5, factor=1.5, cap=3.0)


async def wait_ready(observe: Callable[[], Awaitable[dict[ObjectRef, Health]]], *, start: float, timeout: float,
                     now: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                     stalled: Callable[[ObjectRef], GitOpsError], late: Callable[[TimedOut], GitOpsError],
                     pace: Pace = PACE, on_status: Callable[[ObjectRef, Health], None] | None = None,
                     quiet: Container[ObjectRef] = ()) -> dict[ObjectRef, float]:
    """The wait engine's set that grows (`wait_for_all`) over Flux objects: the seconds after `start` at which
    each became Ready, in that order. Every change is passed to `on_status`, except those of the `quiet` keys
    (watched only for a failure; looked up at each change, so the container may grow). A Stalled key raises
    the GitOpsError `stalled(key)` makes, a timeout the one `late(timed_out)` makes."""
    ready_at: dict[ObjectRef, float] = {}

    def changed(ref: ObjectRef, health: Health) -> None:
        if ref in quiet:
            return
        if on_status is not None:
            on_status(ref, health)
        if health.status is Status.CURRENT:
            ready_at.setdefault(ref, round(now() - start, 3))

    try:
        await wait_for_all(observe, timeout=timeout, now=now, sleep=sleep, pace=pace, on_change=changed)
    except Stalled as stuck:
        raise stalled(stuck.key) from None
    except TimedOut as timed_out:
        raise late(timed_out) from None
    return ready_at


@dataclass
class Converged:
    ready_at: dict[ObjectRef, float]  # seconds after the wait began, in the order they became Ready
    suspended: list[ObjectRef]
    polls: int
    requested: dict[ObjectRef, list[str]] = field(default_factory=dict)  # reconcile requests, each object's values


SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZATION_CRD = "kustomizations.kustomize.toolkit.fluxcd.io"


def installs_flux(refs: Sequence[ObjectRef]) -> bool:
    """The restored set installs Flux and hands it something to reconcile: its Kustomization CRD and at
    least one Kustomization."""
    names = {(r.kind, r.name) for r in refs}
    return ("CustomResourceDefinition", KUSTOMIZATION_CRD) in names and any(
        r.kind == "Kustomization" and r.group == "kustomize.toolkit.fluxcd.io" for r in refs)


FLUX_MANAGER = "kustomize-controller"  # kustomize-controller's server-side apply field manager
OWNER_LABEL = "kustomize.toolkit.fluxcd.io/name"


def taken_over(managed_fields: Sequence[dict[str, Any]], ours: str) -> list[dict[str, Any]] | None:
    """The managedFields with our Apply entry handed to kustomize-controller, or None when there is none.

    kustomize-controller applies only on drift, and it clears only kubectl's and its own former managers, so
    an object the bootstrap applied stays co-owned by `ours` after Flux reconciled it: a field later removed
    from Git would then stay in the cluster. Handing the entry over makes Flux the sole owner, as if it had
    applied the object itself. When Flux has applied already (an Apply entry of its own), ours is dropped."""
    entries = [dict(e) for e in managed_fields]
    mine = [i for i, e in enumerate(entries) if e.get("manager") == ours and e.get("operation") == "Apply"
            and not e.get("subresource")]
    if not mine:
        return None
    flux_applied = any(e.get("manager") == FLUX_MANAGER and e.get("operation") == "Apply" and not e.get("subresource")
                       for e in entries)
    if flux_applied:
        return [e for i, e in enumerate(entries) if i not in mine]
    for i in mine:
        entries[i]["manager"] = FLUX_MANAGER
    return entries


def ref_of(obj: dict[str, Any]) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta.get("name", ""))


def hint(readiness: FluxReadiness) -> str | None:
    """What an operator checks first for this failure."""
    text = f"{readiness.reason} {readiness.message}".lower()
    if "decrypt" in text or "sops" in text:
        return ("Flux could not decrypt with the installed key: the key Secret must hold this repository's age "
                "key under a data key ending in .agekey, where the Kustomization's decryption.secretRef points")
    if readiness.reason == "BuildFailed" or "kustomize build failed" in text:
        return "the kustomize build fails in Flux: check spec.path and the kustomization files at this revision"
    if readiness.reason in ("InstallFailed", "UpgradeFailed", "RollbackFailed", "TestFailed"):
        return "kubectl describe helmrelease, and the controller's events, show the Helm failure"
    if "chart" in text:
        return "the chart, its version or its repository is not found: check spec.chart and the HelmRepository"
    return None


def failure_line(ref: ObjectRef, readiness: FluxReadiness, obj: dict[str, Any] | None = None) -> str:
    what = ": ".join(p for p in (readiness.reason, readiness.message) if p) or readiness.health.message
    spec = (obj or {}).get("spec") or {}
    if ref.kind == "HelmChart" and spec.get("chart"):  # helm-controller's chart for a HelmRelease: say which
        source = spec.get("sourceRef") or {}
        chart = f"chart {spec['chart']}" + (f" {spec['version']}" if spec.get("version") else "")
        what = f"{chart} from {source.get('kind', '?')}/{source.get('name', '?')}: {what}"
    return f"{ref.kind}/{ref.namespace}/{ref.name}: {what}"


def timeout_line(timeout: float, waiting: Sequence[tuple[ObjectRef, FluxReadiness]],
                 suspended: Sequence[ObjectRef] = ()) -> str:
    parts = [f"{ref.kind}/{ref.namespace}/{ref.name} ({r.reason or r.health.status.value}: "
             f"{r.message or r.health.message})" for ref, r in waiting]
    if not parts and suspended:
        return (f"Flux did not converge within {timeout:g}s: the {len(suspended)} Kustomization(s)/HelmRelease(s) "
                "in the cluster are all suspended, so Flux reconciles none of them")
    if not parts:
        return f"Flux did not start reconciling within {timeout:g}s: no Kustomization or HelmRelease in the cluster"
    return f"Flux did not converge within {timeout:g}s; not Ready: " + "; ".join(parts)


async def wait_converged(list_kind: List, *, timeout: float, now: Callable[[], float],
                         sleep: Callable[[float], Awaitable[None]], pace: Pace = PACE,
                         on_status: Callable[[ObjectRef, Health], None] | None = None,
                         request: Request | None = None, stamp: Callable[[], str] = now_stamp) -> Converged:
    """Poll until every Kustomization and HelmRelease is Ready (GitOpsError on a terminal failure or timeout).

    Each poll LISTs every kind (`WAITED + SOURCES`) and hands the wait engine every Kustomization and
    HelmRelease not suspended, with its Health (Failed when terminal), and any source kstatus calls Failed.
    With `request`, each poll first asks for a reconcile of every object `Requests.due` names (values from
    `stamp`), all at once."""
    start = now()
    seen: dict[ObjectRef, tuple[dict[str, Any], FluxReadiness]] = {}  # each object as last listed
    sources: set[ObjectRef] = set()
    suspended: list[ObjectRef] = []
    polls = 0
    asks = Requests()

    async def observe() -> dict[ObjectRef, Health]:
        nonlocal polls
        polls += 1
        listed = await asyncio.gather(*(list_kind(av, kind) for av, kind in WAITED + SOURCES))
        if request is not None:
            await ask(listed)
        suspended.clear()
        healths: dict[ObjectRef, Health] = {}
        failed: dict[ObjectRef, Health] = {}  # after the waited objects: a terminal one of those is named first
        for index, objects in enumerate(listed):
            for obj in objects:
                ref = ref_of(obj)
                if (obj.get("spec") or {}).get("suspend") is True:
                    suspended.append(ref)
                elif index < len(WAITED):
                    seen[ref] = (obj, flux_readiness(obj))
                    healths[ref] = seen[ref][1].health
                elif assess(obj).status is Status.FAILED:  # a source fails the wait only when Stalled
                    seen[ref] = (obj, flux_readiness(obj))
                    sources.add(ref)
                    failed[ref] = seen[ref][1].health
        return {**healths, **failed}

    async def ask(listed: list[list[dict[str, Any]]]) -> None:
        waited = [obj for objects in listed[:len(WAITED)] for obj in objects]
        due = asks.due(waited, artifact_revisions(obj for objects in listed[len(WAITED):] for obj in objects))
        values = [stamp() for _ in due]
        for ref, value in zip(due, values):
            asks.record(ref, value)
        await asyncio.gather(*(request(ref, value) for ref, value in zip(due, values)))

    def stalled(ref: ObjectRef) -> GitOpsError:
        obj, readiness = seen[ref]
        return GitOpsError(failure_line(ref, readiness, obj), hint=hint(readiness))

    def late(timed_out: TimedOut) -> GitOpsError:
        return GitOpsError(timeout_line(timeout, [(ref, seen[ref][1]) for ref, _ in timed_out.waiting], suspended))

    ready_at = await wait_ready(observe, start=start, timeout=timeout, now=now, sleep=sleep, stalled=stalled,
                                late=late, pace=pace, on_status=on_status, quiet=sources)
    return Converged(ready_at, list(suspended), polls, asks.sent)
