"""Argo CD's verdict on Applications and ApplicationSets (`engines.argocd.readiness`) and the hand-over's wait
on them (`engines.argocd.handover.wait_synced`), driven with a fake clock over scripted LISTs; the real
controllers are in tests/integration/test_argocd_handover.py."""

from __future__ import annotations

import asyncio

import pytest

from bootstrap.engines.argocd.handover import ArgoCDSyncError, wait_synced
from bootstrap.engines.argocd.readiness import application_health, applicationset_health, degraded_resource
from bootstrap.errors import ExitCode
from bootstrap.model import ObjectRef
from bootstrap.status import Health, Status

API = "argoproj.io/v1alpha1"


def app(name: str, sync="Synced", health="Healthy", phase="Succeeded", conditions=(), resources=(), **extra) -> dict:
    status = {"sync": {"status": sync}, "health": {"status": health, **extra},
              "conditions": list(conditions), "resources": list(resources)}
    if phase:
        status["operationState"] = {"phase": phase, "message": extra.pop("op_message", "")}
    return {"apiVersion": API, "kind": "Application", "metadata": {"name": name, "namespace": "argocd"},
            "status": status}


def appset(name: str, **conditions: tuple[str, str]) -> dict:
    return {"apiVersion": API, "kind": "ApplicationSet", "metadata": {"name": name, "namespace": "argocd"},
            "status": {"conditions": [{"type": t, "status": s, "message": m} for t, (s, m) in conditions.items()]}}


def test_synced_healthy_and_succeeded_is_done_and_anything_less_is_in_progress():
    assert application_health(app("a")).status is Status.CURRENT
    for partial in (app("a", sync="OutOfSync"), app("a", health="Progressing"), app("a", phase="Running"),
                     app("a", phase=None), app("a", health="Missing"),
                     {"apiVersion": API, "kind": "Application", "metadata": {"name": "new"}}):
        assert application_health(partial).status is Status.IN_PROGRESS, partial


@pytest.mark.parametrize("condition", ["ComparisonError", "InvalidSpecError", "SyncError", "UnknownError"])
def test_an_error_condition_fails_with_argo_cds_message(condition):
    obj = app("a", sync="Unknown", conditions=[{"type": condition, "message": "repo\nunreachable"}])
    obj["spec"] = {"source": {"repoURL": "http://git.example/fleet.git", "path": "apps", "targetRevision": "main"}}
    where = " [source http://git.example/fleet.git apps main]" if condition == "ComparisonError" else ""
    assert application_health(obj) == Health(Status.FAILED, f"{condition}: repo unreachable{where}")


def test_a_comparison_error_about_the_live_state_is_waited_out():
    """The controller's cluster cache timing out (a loaded API server) is retried by Argo CD: not a failure of
    the source, so the wait goes on (its timeout still ends it)."""
    message = ('Failed to load live state: failed to get cluster info for "https://kubernetes.default.svc": '
               "error synchronizing cache state : failed to load open api schema")
    health = application_health(app("a", sync="Unknown", conditions=[{"type": "ComparisonError", "message": message}]))
    assert health.status is Status.IN_PROGRESS and "Failed to load live state" in health.message
    target = app("a", sync="Unknown", conditions=[{"type": "ComparisonError",
                                                   "message": "Failed to load target state: app path does not exist"}])
    assert application_health(target).status is Status.FAILED


def test_a_warning_condition_is_not_a_failure():
    assert application_health(app("a", conditions=[{"type": "OrphanedResourceWarning", "message": "x"}])).status \
        is Status.CURRENT


@pytest.mark.parametrize("phase", ["Failed", "Error"])
def test_a_failed_sync_operation_fails(phase):
    obj = app("a", sync="OutOfSync", phase=phase)
    obj["status"]["operationState"]["message"] = "one or more objects failed to apply"
    health = application_health(obj)
    assert health.status is Status.FAILED and "one or more objects failed to apply" in health.message


def test_a_degraded_resource_is_named_from_persisted_health_or_from_the_live_verdict():
    persisted = app("a", health="Degraded", resources=[
        {"version": "v1", "kind": "ConfigMap", "namespace": "n", "name": "fine", "health": {"status": "Healthy"}},
        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "n", "name": "web",
         "health": {"status": "Degraded", "message": "progress deadline exceeded"}}])
    assert application_health(persisted).status is Status.FAILED
    assert degraded_resource(persisted) == "Deployment/n/web: progress deadline exceeded"
    in_redis = app("a", health="Degraded", resources=[
        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "n", "name": "web"}])
    web = ObjectRef("apps/v1", "Deployment", "n", "web")
    assert degraded_resource(in_redis, [(web, Health(Status.FAILED, "ProgressDeadlineExceeded"))]) == \
        "Deployment/n/web: ProgressDeadlineExceeded"
    assert degraded_resource(in_redis, [(web, Health(Status.CURRENT, "ok")), (web, None)]) is None


def test_applicationset_conditions():
    assert applicationset_health(appset("s", ResourcesUpToDate=("True", "ok"))).status is Status.CURRENT
    assert applicationset_health(appset("s")).status is Status.IN_PROGRESS
    failed = applicationset_health(appset("s", ErrorOccurred=("True", "bad generator"), ResourcesUpToDate=("False", "x")))
    assert failed == Health(Status.FAILED, "ErrorOccurred: bad generator")
    assert applicationset_health(appset("s", ResourcesUpToDate=("False", "template error"))).status is Status.FAILED


class Scripted:
    """Each poll lists the next scripted state (the last repeats); time advances only by sleeps."""

    def __init__(self, *states: list[dict], live: dict[ObjectRef, dict] | None = None):
        self.states, self.polls, self.clock, self.live = list(states), 0, 0.0, live or {}

    async def list_kind(self, api_version: str, kind: str) -> list[dict]:
        state = self.states[min(self.polls // 2, len(self.states) - 1)]
        self.polls += 1
        return [o for o in state if o["kind"] == kind]

    async def get(self, ref: ObjectRef) -> dict | None:
        return self.live.get(ref)

    async def sleep(self, seconds: float) -> None:
        self.clock += seconds

    def run(self, timeout: float = 60.0):
        return asyncio.run(wait_synced(self.list_kind, self.get, timeout=timeout, now=lambda: self.clock,
                                       sleep=self.sleep))


def test_the_wait_ends_once_the_grown_set_is_all_done():
    root = app("root")
    done = Scripted([app("root", health="Progressing")], [root, app("child", sync="OutOfSync")],
                    [root, app("child"), appset("s", ResourcesUpToDate=("True", ""))]).run()
    assert {ref.name for ref in done} == {"root", "child", "s"}


def test_the_wait_fails_fast_with_the_application_and_argo_cds_message():
    broken = app("child", sync="Unknown", phase=None,
                 conditions=[{"type": "ComparisonError", "message": "no/such/dir: app path does not exist"}])
    with pytest.raises(ArgoCDSyncError) as caught:
        Scripted([app("root"), broken]).run()
    assert str(caught.value).startswith("Application/argocd/child: ComparisonError: no/such/dir: app path does not exist")
    assert "(hint: Argo CD could not render this source" in str(caught.value)
    assert caught.value.exit_code == ExitCode.ROLLOUT


def test_a_degraded_application_names_the_live_resource_that_failed():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "n",
                                                                               "generation": 1},
                  "spec": {"replicas": 1},
                  "status": {"observedGeneration": 1, "conditions": [
                      {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                       "message": 'ReplicaSet "web-1" has timed out progressing.'}]}}
    degraded = app("child", health="Degraded", resources=[
        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "n", "name": "web"}])
    live = {ObjectRef("apps/v1", "Deployment", "n", "web"): deployment}
    with pytest.raises(ArgoCDSyncError) as caught:
        Scripted([degraded], live=live).run()
    assert "Application/argocd/child: Degraded: Deployment/n/web:" in str(caught.value)
    assert "progress deadline" in str(caught.value)


def test_on_timeout_every_application_not_done_is_listed():
    with pytest.raises(ArgoCDSyncError) as caught:
        Scripted([app("root"), app("slow", health="Progressing")]).run(timeout=5)
    assert "did not sync within 5s" in str(caught.value) and "Application/argocd/slow" in str(caught.value)


def test_only_the_restored_tree_is_waited_for():
    child = app("child")
    child["metadata"]["annotations"] = {"argocd.argoproj.io/tracking-id": "root:argoproj.io/Application:argocd/child"}
    generated = app("gen")
    generated["metadata"]["ownerReferences"] = [{"kind": "ApplicationSet", "name": "s"}]
    grandchild = app("grand")
    grandchild["metadata"]["labels"] = {"app.kubernetes.io/instance": "child"}
    elsewhere = app("other", sync="Unknown", conditions=[{"type": "ComparisonError", "message": "not ours"}])
    roots = [ObjectRef(API, "Application", "argocd", "root"), ObjectRef(API, "ApplicationSet", "argocd", "s")]
    tree = [app("root"), child, grandchild, generated, appset("s", ResourcesUpToDate=("True", "")), elsewhere]
    done = asyncio.run(wait_synced(Scripted(tree).list_kind, Scripted().get, timeout=5, now=lambda: 0.0,
                                   sleep=Scripted().sleep, roots=roots))
    assert {ref.name for ref in done} == {"root", "child", "grand", "gen", "s"}
