"""The `gitops` phase: after the bootstrap, Flux reconciles the rest of the repository (the wait itself is
`bootstrap.engines.flux.converge.wait_converged`, pure), then the objects the bootstrap applied that a Flux Kustomization
manages are handed to Flux's field manager (`gitops.taken_over`).

Flux is not left to its own pace: the artifact sources the bootstrap applied are asked to fetch at once, and
during the wait each Kustomization or HelmRelease whose dependencies have become Ready is asked to reconcile
(`bootstrap.engines.flux.requests`), each by a merge patch of the `reconcile.fluxcd.io/requestedAt`
annotation, as `flux reconcile` does, by field manager dr-bootstrap. A request that fails is said and
skipped: Flux still gets there on its own schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING

from bootstrap.engines.flux import converge as gitops
from bootstrap.engines.flux.operatorwait import hand_over_instances
from bootstrap.engines.flux.requests import ARTIFACT_SOURCES, request_patch, stamp
from bootstrap.errors import BootstrapError
from bootstrap.kube.objects import FIELD_MANAGER
from bootstrap.kube.reads import list_objects
from bootstrap.model import Manifest, ObjectRef

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run


def hand_over(cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
    """The `gitops` phase: Flux reconciles the rest of the repository; each object's time to Ready is recorded.
    Then the objects the bootstrap applied that a Flux Kustomization manages are handed to Flux's manager."""
    client = cluster.client
    with run.phase("gitops"):
        timeout = max(1.0, timeout - hand_over_instances(cluster, run, manifests, timeout=timeout))  # the operator first
        if cluster.resource(*gitops.WAITED[0]) is None:
            raise gitops.GitOpsError("--wait-gitops: the cluster has no Flux (no Kustomization API), and the "
                                     "restored set does not install it", hint="restore the path that holds "
                                     "gotk-components.yaml first, or leave out --wait-gitops")
        failures: list[str] = []
        run.report.reconcile_requests = 0

        async def request(ref: ObjectRef, value: str) -> None:
            try:
                await cluster.resources.send_merge_patch(ref, request_patch(value))
            except BootstrapError as exc:
                failures.append(f"{ref}: {exc}")
            else:
                run.report.reconcile_requests = (run.report.reconcile_requests or 0) + 1

        sources = [m.ref for m in manifests if m.ref.kind in ARTIFACT_SOURCES and m.ref.group == gitops.SOURCE_GROUP
                   and ((m.body.get("spec") or {}).get("suspend") is not True)]
        client.run(_all(request(ref, stamp()) for ref in sources))
        run.progress.note("hand-over: waiting for Flux to reconcile every Kustomization and HelmRelease"
                          + (f" (asked {', '.join(map(str, sources))} to fetch now)" if sources else ""))
        done = client.run(gitops.wait_converged(
            lambda api_version, kind: list_objects(client, cluster.discovery, api_version, kind),
            timeout=timeout, now=client.now, sleep=client.sleep,
            on_status=lambda ref, health: run.status("gitops", ref, health), request=request,
        ))
        for ref in done.suspended:
            run.progress.note(f"{ref.kind}/{ref.namespace}/{ref.name} is suspended: Flux leaves it alone")
        asked = sum(len(values) for values in done.requested.values())
        run.progress.note(f"Flux converged: {len(done.ready_at)} object(s) Ready; {len(done.requested)} asked to "
                          f"reconcile as soon as their dependencies were Ready ({asked} request(s))")
        for line in failures:
            run.progress.note(f"a reconcile request failed (Flux retries on its own schedule): {line}")
        handed = sum(_hand_over_one(cluster, m.ref, FIELD_MANAGER) for m in manifests
                     if gitops.OWNER_LABEL in ((m.body.get("metadata") or {}).get("labels") or {}))
        run.progress.note(f"hand-over: {handed} object(s) the bootstrap applied now belong to Flux's "
                          f"{gitops.FLUX_MANAGER} field manager")


async def _all(jobs: Iterable[Awaitable[None]]) -> None:
    await asyncio.gather(*jobs)


def _hand_over_one(cluster: Cluster, ref: ObjectRef, ours: str, attempts: int = 3) -> bool:
    """Our Apply entry on `ref` handed to Flux's manager (True), or nothing of ours there (False). The patch
    carries the resourceVersion it was computed from; when Flux writes the object in between (409), it is
    read again and recomputed."""
    for attempt in range(attempts):
        live = cluster.get(ref)
        entries = gitops.taken_over((live or {}).get("metadata", {}).get("managedFields") or [], ours)
        if entries is None:
            return False
        try:
            cluster.merge_patch(ref, {"metadata": {"managedFields": entries,
                                                   "resourceVersion": live["metadata"]["resourceVersion"]}})
            return True
        except BootstrapError:
            if attempt == attempts - 1:
                raise
    return False
