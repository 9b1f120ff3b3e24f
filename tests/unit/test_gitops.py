"""gitops.wait_converged: the hand-over wait, driven by a fake clock and a scripted cluster (pure: no I/O)."""

from __future__ import annotations

import asyncio

import pytest

from bootstrap.errors import ExitCode
from bootstrap.engines.flux.converge import GitOpsError, wait_converged
from bootstrap.model import ObjectRef

KS = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
HR = ("helm.toolkit.fluxcd.io/v2", "HelmRelease")
GIT = ("source.toolkit.fluxcd.io/v1", "GitRepository")


def flux(kind: tuple[str, str], name: str, ready: str | None, reason: str = "", message: str = "", *,
         ns: str = "flux-system", suspend: bool = False, stalled: bool = False) -> dict:
    conditions = []
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": reason, "message": message,
                           "observedGeneration": 1})
    if stalled:
        conditions.append({"type": "Stalled", "status": "True", "reason": reason, "message": message})
    return {"apiVersion": kind[0], "kind": kind[1], "metadata": {"name": name, "namespace": ns, "generation": 1},
            "spec": {"suspend": suspend}, "status": {"observedGeneration": 1, "conditions": conditions}}


class Cluster:
    """Each poll returns the next scripted state (the last one repeats); time advances only by sleeps."""

    def __init__(self, *states: list[dict]):
        self.states = list(states)
        self.t = 100.0
        self.polls = 0
        self.sleeps: list[float] = []

    async def list_kind(self, api_version: str, kind: str) -> list[dict]:
        if kind == "Kustomization":
            self.polls += 1
        state = self.states[min(self.polls, len(self.states)) - 1]
        return [o for o in state if (o["apiVersion"], o["kind"]) == (api_version, kind)]

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def wait(self, timeout: float = 60.0, **kw):
        return asyncio.run(wait_converged(self.list_kind, timeout=timeout, now=self.now, sleep=self.sleep, **kw))


def test_waits_for_children_that_appear_while_flux_works_and_records_when_each_became_ready():
    root_ready = flux(KS, "flux-system", "True", "ReconciliationSucceeded")
    cluster = Cluster(
        [flux(KS, "flux-system", "Unknown", "Progressing")],
        [root_ready, flux(KS, "apps", "False", "DependencyNotReady", "dependency 'flux-system/infra' is not ready"),
         flux(KS, "infra", "Unknown", "Progressing")],
        [root_ready, flux(KS, "apps", "Unknown", "Progressing"), flux(KS, "infra", "True"),
         flux(HR, "podinfo", "Unknown", "Progressing", ns="apps")],
        [root_ready, flux(KS, "apps", "True"), flux(KS, "infra", "True"), flux(HR, "podinfo", "True", ns="apps")],
    )
    seen: list[tuple[str, str]] = []
    done = cluster.wait(on_status=lambda ref, h: seen.append((ref.name, h.status.value)))
    assert cluster.polls == 4
    assert [r.name for r in done.ready_at] == ["flux-system", "infra", "apps", "podinfo"]
    assert done.ready_at[ObjectRef(*KS, "flux-system", "flux-system")] == pytest.approx(cluster.sleeps[0])
    assert ("apps", "InProgress") in seen and seen[-1] == ("podinfo", "Current")


def test_a_decryption_failure_fails_at_once_with_flux_s_message_and_a_hint():
    cluster = Cluster([flux(KS, "flux-system", "True"),
                       flux(KS, "apps", "False", "ReconciliationFailed",
                            "decryption failed for 'Secret/db': no key could decrypt the data key")])
    with pytest.raises(GitOpsError) as exc:
        cluster.wait()
    assert cluster.polls == 1 and cluster.sleeps == []  # fast: the first observation ends it
    assert str(exc.value).startswith("Kustomization/flux-system/apps: ReconciliationFailed: decryption failed")
    assert ".agekey" in exc.value.hint and exc.value.exit_code == ExitCode.ROLLOUT


def test_a_source_that_is_still_fetching_is_no_failure_but_a_stalled_one_is():
    waiting = [flux(KS, "flux-system", "False", "ArtifactFailed", "Source artifact not found, retrying in 30s"),
               flux(GIT, "flux-system", "False", "GitOperationFailed", "connection refused")]
    cluster = Cluster(waiting, [flux(KS, "flux-system", "True"), flux(GIT, "flux-system", "True")])
    assert cluster.wait().polls == 2
    stalled = Cluster([flux(KS, "flux-system", "False", "ArtifactFailed", "x"),
                       flux(GIT, "flux-system", "False", "InvalidURL", "bad url", stalled=True)])
    with pytest.raises(GitOpsError, match="GitRepository/flux-system/flux-system: InvalidURL: bad url"):
        stalled.wait()
    assert stalled.polls == 1


def test_timeout_lists_what_is_not_ready_and_why():
    cluster = Cluster([flux(KS, "flux-system", "True"),
                       flux(KS, "apps", "False", "DependencyNotReady", "dependency 'flux-system/infra' is not ready")])
    with pytest.raises(GitOpsError) as exc:
        cluster.wait(timeout=10)
    assert "not Ready: Kustomization/flux-system/apps (DependencyNotReady: dependency" in str(exc.value)
    assert sum(cluster.sleeps) == pytest.approx(10)


def test_nothing_to_wait_for_is_a_timeout_that_says_so_and_suspended_objects_are_left_out():
    with pytest.raises(GitOpsError, match="no Kustomization or HelmRelease in the cluster"):
        Cluster([]).wait(timeout=2)
    done = Cluster([flux(KS, "flux-system", "True"), flux(KS, "paused", None, suspend=True)]).wait()
    assert [r.name for r in done.suspended] == ["paused"]


def test_our_apply_entry_is_handed_to_kustomize_controller():
    from bootstrap.engines.flux.converge import taken_over

    ours = {"manager": "dr-bootstrap", "operation": "Apply", "fieldsV1": {"f:data": {}}}
    status = {"manager": "gotk-kustomize-controller", "operation": "Update", "subresource": "status"}
    assert taken_over([ours, status], "dr-bootstrap") == [{**ours, "manager": "kustomize-controller"}, status]
    flux = {"manager": "kustomize-controller", "operation": "Apply", "fieldsV1": {"f:data": {}}}
    assert taken_over([ours, flux, status], "dr-bootstrap") == [flux, status]  # Flux applied already: ours goes
    assert taken_over([flux, status], "dr-bootstrap") is None  # nothing of ours: nothing to do
    update = {"manager": "dr-bootstrap", "operation": "Update"}  # a restart annotation: not the apply
    assert taken_over([update], "dr-bootstrap") is None


def test_a_cluster_where_everything_is_suspended_says_so_at_the_timeout():
    with pytest.raises(GitOpsError, match="all suspended"):
        Cluster([flux(KS, "flux-system", None, suspend=True)]).wait(timeout=2)


def test_an_object_that_falls_back_from_ready_keeps_the_wait_going_and_keeps_its_first_ready_time():
    ready = flux(KS, "flux-system", "True")
    cluster = Cluster([ready, flux(KS, "apps", "Unknown", "Progressing")],
                      [flux(KS, "flux-system", "Unknown", "Progressing"), flux(KS, "apps", "True")],
                      [ready, flux(KS, "apps", "True")])
    done = cluster.wait()
    assert cluster.polls == 3
    assert done.ready_at == {ObjectRef(*KS, "flux-system", "flux-system"): 0.0,
                             ObjectRef(*KS, "flux-system", "apps"): pytest.approx(cluster.sleeps[0])}


def test_a_terminal_kustomization_is_named_before_a_stalled_source_which_gets_no_status_line():
    seen = []
    both = Cluster([flux(GIT, "flux-system", "False", "InvalidURL", "bad url", stalled=True),
                    flux(KS, "apps", "False", "BuildFailed", "kustomize build failed")])
    with pytest.raises(GitOpsError, match="^Kustomization/flux-system/apps: BuildFailed"):
        both.wait(on_status=lambda ref, h: seen.append(ref.kind))
    source_only = Cluster([flux(KS, "flux-system", "Unknown", "Progressing"),
                           flux(GIT, "flux-system", "False", "InvalidURL", "bad url", stalled=True)])
    with pytest.raises(GitOpsError, match="^GitRepository/flux-system/flux-system: InvalidURL"):
        source_only.wait(on_status=lambda ref, h: seen.append(ref.kind))
    assert seen == ["Kustomization", "Kustomization"]
