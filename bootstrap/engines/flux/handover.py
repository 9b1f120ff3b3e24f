"""The `gitops` phase: after the bootstrap, Flux reconciles the rest of the repository (the wait itself is
`bootstrap.engines.flux.converge.wait_converged`, pure), then the objects the bootstrap applied that a Flux Kustomization
manages are handed to Flux's field manager (`gitops.taken_over`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bootstrap.engines.flux import converge as gitops
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
        if cluster.resource(*gitops.WAITED[0]) is None:
            raise gitops.GitOpsError("--wait-gitops: the cluster has no Flux (no Kustomization API), and the "
                                     "restored set does not install it", hint="restore the path that holds "
                                     "gotk-components.yaml first, or leave out --wait-gitops")
        run.progress.note("hand-over: waiting for Flux to reconcile every Kustomization and HelmRelease")
        done = client.run(gitops.wait_converged(
            lambda api_version, kind: list_objects(client, cluster.discovery, api_version, kind),
            timeout=timeout, now=client.now, sleep=client.sleep,
            on_status=lambda ref, health: run.status("gitops", ref, health),
        ))
        for ref in done.suspended:
            run.progress.note(f"{ref.kind}/{ref.namespace}/{ref.name} is suspended: Flux leaves it alone")
        run.progress.note(f"Flux converged: {len(done.ready_at)} object(s) Ready")
        handed = sum(_hand_over_one(cluster, m.ref, FIELD_MANAGER) for m in manifests
                     if gitops.OWNER_LABEL in ((m.body.get("metadata") or {}).get("labels") or {}))
        run.progress.note(f"hand-over: {handed} object(s) the bootstrap applied now belong to Flux's "
                          f"{gitops.FLUX_MANAGER} field manager")


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
