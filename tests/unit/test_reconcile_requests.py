"""Reconcile requests during the hand-over (bootstrap.engines.flux.requests), and the wait that makes them
(`wait_converged(request=…)`): who is asked when, pure, on scripted cluster states."""

from __future__ import annotations

import asyncio

from bootstrap.engines.flux.converge import wait_converged
from bootstrap.engines.flux.requests import (
    REQUESTED_AT,
    Requests,
    artifact_revisions,
    dependency_ready,
    request_patch,
    stamp,
    unblocked,
)
from bootstrap.model import ObjectRef

KS = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
HR = ("helm.toolkit.fluxcd.io/v2", "HelmRelease")
GIT = ("source.toolkit.fluxcd.io/v1", "GitRepository")
REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"
OLD = "main@sha1:fedcba9876543210fedcba9876543210fedcba98"


def obj(kind, name, ready=None, reason="", *, ns="flux-system", deps=(), generation=1, observed=1,
        applied=REV, handled=None, source="flux-system", suspend=False) -> dict:
    status: dict = {"observedGeneration": observed}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "reason": reason, "message": ""}]
    if kind == KS and ready == "True":
        status["lastAppliedRevision"] = applied
    if handled is not None:
        status["lastHandledReconcileAt"] = handled
    spec: dict = {"suspend": suspend}
    if deps:
        spec["dependsOn"] = [d if isinstance(d, dict) else {"name": d} for d in deps]
    if kind == KS:
        spec["sourceRef"] = {"kind": "GitRepository", "name": source}
    return {"apiVersion": kind[0], "kind": kind[1], "status": status, "spec": spec,
            "metadata": {"name": name, "namespace": ns, "generation": generation}}


def git(name="flux-system", revision=REV, ns="flux-system") -> dict:
    status = {"artifact": {"revision": revision}} if revision else {}
    return {"apiVersion": GIT[0], "kind": GIT[1], "metadata": {"name": name, "namespace": ns}, "status": status}


def ref(kind, name, ns="flux-system") -> ObjectRef:
    return ObjectRef(*kind, ns, name)


REVS = artifact_revisions([git()])


def test_a_dependency_is_ready_only_by_the_controller_s_own_test():
    waiting = obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"])
    assert dependency_ready(obj(KS, "infra", "True"), waiting, REVS)
    assert not dependency_ready(obj(KS, "infra", "Unknown", "Progressing"), waiting, REVS)
    assert not dependency_ready(obj(KS, "infra", None), waiting, REVS)  # no conditions yet
    assert not dependency_ready(obj(KS, "infra", "True", generation=2), waiting, REVS)  # a spec not yet observed
    # same source: the dependency must have applied the source's current revision
    assert not dependency_ready(obj(KS, "infra", "True", applied=OLD), waiting, REVS)
    # another source: its revision is not compared
    assert dependency_ready(obj(KS, "infra", "True", applied=OLD, source="other"), waiting, REVS)
    # a HelmRelease has no source revision to compare
    hr = obj(HR, "app", "False", "DependencyNotReady", deps=["db"])
    assert dependency_ready(obj(HR, "db", "True"), hr, REVS)


def test_only_an_object_that_says_it_waits_and_whose_wait_is_over_is_unblocked():
    infra = obj(KS, "infra", "True")
    apps = obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"])
    index = {("Kustomization", "flux-system", "infra"): infra, ("Kustomization", "flux-system", "apps"): apps}
    assert unblocked(apps, index, REVS)
    progressing = obj(KS, "apps", "Unknown", "Progressing", deps=["infra"])
    assert not unblocked(progressing, index, REVS)  # the controller is on it already
    assert not unblocked(obj(KS, "apps", "False", "BuildFailed", deps=["infra"]), index, REVS)
    assert not unblocked(obj(KS, "apps", "False", "DependencyNotReady", deps=["infra", "db"]), index, REVS)  # db absent
    assert not unblocked(obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"], suspend=True), index, REVS)
    # a dependency in another namespace is looked up there
    other = obj(KS, "apps", "False", "DependencyNotReady", deps=[{"name": "infra", "namespace": "team"}])
    assert not unblocked(other, index, REVS)
    assert unblocked(other, {**index, ("Kustomization", "team", "infra"): obj(KS, "infra", "True", ns="team")}, REVS)
    # waiting for the source's artifact: unblocked once the source has one
    no_artifact = obj(KS, "root", "False", "ArtifactFailed")
    assert unblocked(no_artifact, index, REVS)
    assert not unblocked(no_artifact, index, artifact_revisions([git(revision="")]))


def test_requests_go_once_and_again_only_after_the_controller_handled_the_last():
    asks = Requests(limit=2)
    infra = obj(KS, "infra", "True")
    apps = obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"])
    assert asks.due([infra, apps], REVS) == [ref(KS, "apps")]
    asks.record(ref(KS, "apps"), "t1")
    assert asks.due([infra, apps], REVS) == []  # the controller has not handled it yet
    still = obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"], handled="t1")
    assert asks.due([infra, still], REVS) == [ref(KS, "apps")]  # it looked and still waits: once more
    asks.record(ref(KS, "apps"), "t2")
    again = obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"], handled="t2")
    assert asks.due([infra, again], REVS) == []  # the limit
    assert asks.count == 2 and asks.sent == {ref(KS, "apps"): ["t1", "t2"]}


def test_a_chain_is_asked_level_by_level_as_each_becomes_ready():
    asks = Requests()
    levels = [obj(KS, "chain-1", "True")] + [
        obj(KS, f"chain-{i}", "False", "DependencyNotReady", deps=[f"chain-{i - 1}"]) for i in (2, 3, 4)]
    assert asks.due(levels, REVS) == [ref(KS, "chain-2")]  # chain-3 waits on chain-2, which is not Ready
    levels[1] = obj(KS, "chain-2", "True")
    asks.record(ref(KS, "chain-2"), "t1")
    assert asks.due(levels, REVS) == [ref(KS, "chain-3")]


def test_the_request_is_flux_reconcile_s_annotation_with_an_rfc3339_nanosecond_stamp():
    assert request_patch("v") == {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "v"}}}
    assert REQUESTED_AT == "reconcile.fluxcd.io/requestedAt"
    assert stamp(1_765_000_000_123_456_789) == "2025-12-06T05:46:40.123456789Z"
    assert stamp(1_765_000_000_120_000_000) == "2025-12-06T05:46:40.12Z"  # Go drops trailing zeros
    assert stamp(1_765_000_000_000_000_000) == "2025-12-06T05:46:40Z"


class Scripted:
    """Each poll returns the next scripted state (the last one repeats); records the requests made."""

    def __init__(self, *states: list[dict]):
        self.states, self.polls, self.t = list(states), 0, 0.0
        self.requests: list[tuple[int, str, str]] = []

    async def list_kind(self, api_version: str, kind: str) -> list[dict]:
        if kind == "Kustomization":
            self.polls += 1
        state = self.states[min(self.polls, len(self.states)) - 1]
        return [o for o in state if (o["apiVersion"], o["kind"]) == (api_version, kind)]

    async def request(self, target: ObjectRef, value: str) -> None:
        self.requests.append((self.polls, target.name, value))

    async def sleep(self, seconds: float) -> None:
        self.t += seconds

    def wait(self, **kw):
        values = iter(f"t{i}" for i in range(1, 100))
        return asyncio.run(wait_converged(self.list_kind, timeout=60, now=lambda: self.t, sleep=self.sleep,
                                          request=self.request, stamp=lambda: next(values), **kw))


def test_the_wait_asks_each_dependent_in_the_poll_where_its_dependency_is_first_seen_ready():
    src = git()
    wait = Scripted(
        [src, obj(KS, "infra", "Unknown", "Progressing"), obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"]),
         obj(HR, "web", "False", "DependencyNotReady", ns="shop", deps=["db"]), obj(HR, "db", "Unknown", "Progressing",
                                                                                   ns="shop")],
        [src, obj(KS, "infra", "True"), obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"]),
         obj(HR, "web", "False", "DependencyNotReady", ns="shop", deps=["db"]), obj(HR, "db", "True", ns="shop")],
        [src, obj(KS, "infra", "True"), obj(KS, "apps", "Unknown", "Progressing", deps=["infra"], handled="t1"),
         obj(HR, "web", "Unknown", "Progressing", ns="shop", deps=["db"], handled="t2"), obj(HR, "db", "True", ns="shop")],
        [src, obj(KS, "infra", "True"), obj(KS, "apps", "True", deps=["infra"], handled="t1"),
         obj(HR, "web", "True", ns="shop", deps=["db"], handled="t2"), obj(HR, "db", "True", ns="shop")],
    )
    done = wait.wait()
    assert wait.requests == [(2, "apps", "t1"), (2, "web", "t2")]
    assert done.requested == {ref(KS, "apps"): ["t1"], ref(HR, "web", "shop"): ["t2"]}


def test_without_a_request_function_nothing_is_asked():
    wait = Scripted([git(), obj(KS, "infra", "True"), obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"])],
                    [git(), obj(KS, "infra", "True"), obj(KS, "apps", "True")])
    done = asyncio.run(wait_converged(wait.list_kind, timeout=60, now=lambda: wait.t, sleep=wait.sleep))
    assert done.requested == {} and wait.requests == []


def test_a_dependency_that_has_not_applied_the_current_revision_gets_its_dependent_no_request():
    wait = Scripted([git(), obj(KS, "infra", "True", applied=OLD),
                     obj(KS, "apps", "False", "DependencyNotReady", deps=["infra"])],
                    [git(), obj(KS, "infra", "True"), obj(KS, "apps", "True")])
    wait.wait()
    assert wait.requests == []
