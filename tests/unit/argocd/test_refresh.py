"""A refresh request at the hand-over (issue 29): Applications Argo CD last compared before this run are asked to
compare again, and their status is not judged while the request is pending (pure rules)."""

from __future__ import annotations

from datetime import datetime, timezone

from bootstrap.engines.argocd import readiness
from bootstrap.status import Status

RUN_STARTED = datetime(2026, 12, 6, 17, 0, 0, tzinfo=timezone.utc)


def app(reconciled_at: str | None = None, annotations: dict | None = None, conditions: list | None = None) -> dict:
    status: dict = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"},
                    "operationState": {"phase": "Succeeded"}}
    if reconciled_at:
        status["reconciledAt"] = reconciled_at
    if conditions:
        status["conditions"] = conditions
    meta: dict = {"name": "web", "namespace": "argocd"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta, "status": status}


def test_compared_before_the_run_only_when_argo_cd_reconciled_it_earlier():
    assert readiness.compared_before(app("2026-12-06T16:59:59Z"), RUN_STARTED)
    assert not readiness.compared_before(app("2026-12-06T17:00:01Z"), RUN_STARTED)
    assert not readiness.compared_before(app(), RUN_STARTED)  # never compared: new, Argo CD compares it at once
    assert not readiness.compared_before(app("not a time"), RUN_STARTED)
    assert not readiness.compared_before(app("2026-12-06T16:59:59Z"), None)


def test_a_pending_refresh_hides_a_stale_verdict():
    stale_error = [{"type": "ComparisonError", "message": "workloads/missing: app path does not exist"}]
    assert readiness.application_health(app(conditions=stale_error)).status is Status.FAILED
    pending = app(annotations={readiness.REFRESH: "normal"}, conditions=stale_error)
    health = readiness.application_health(pending)
    assert health.status is Status.IN_PROGRESS and "refresh requested" in health.message
    done = app(annotations={"other": "x"})  # the controller removed the request once it compared again
    assert readiness.application_health(done).status is Status.CURRENT
