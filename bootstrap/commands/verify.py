"""`verify`: rollout verification of the workloads already in a cluster (the verify stage on its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bootstrap.stages.verify import list_workloads, verify_rollouts

if TYPE_CHECKING:
    from bootstrap.report.model import RunReport
    from bootstrap.report.run import Run


def verify_only(kubeconfig: str | None, context: str | None, namespaces: list[str], timeout: float,
                run: Run) -> RunReport:
    """Every Deployment, StatefulSet, DaemonSet and Job in `namespaces` (all when none given) verified."""
    with run.make_cluster(kubeconfig, context, clock=run.report.clock) as cluster:
        run.report.server_version = cluster.server_version()
        with run.phase("verify"):
            refs = list_workloads(cluster, namespaces)
            run.progress.note(f"verifying {len(refs)} workload(s)")
            verify_rollouts(cluster, refs, timeout=timeout,
                            on_status=lambda ref, h: run.status("verify", ref, h))
    run.report.result = "succeeded"
    return run.report
