"""operatorwait.wait_instances: the hand-over waits for flux-operator's FluxInstance Ready before Flux's own
objects, driven by a fake clock and a scripted cluster (pure: no I/O)."""

from __future__ import annotations

import asyncio

import pytest

from bootstrap.engines.flux.converge import GitOpsError
from bootstrap.engines.flux.operatorwait import API_VERSION, KIND, expected, wait_instances
from bootstrap.errors import ExitCode
from tests.unit.test_gitops import Cluster, flux

FI = (API_VERSION, KIND)


class Instances(Cluster):
    async def list_kind(self, api_version: str, kind: str) -> list[dict]:
        self.polls += 1
        state = self.states[min(self.polls, len(self.states)) - 1]
        return [o for o in state if (o["apiVersion"], o["kind"]) == (api_version, kind)]

    def wait_for(self, wanted, timeout: float = 60.0, **kw):
        return asyncio.run(wait_instances(self.list_kind, wanted, timeout=timeout, now=self.now, sleep=self.sleep,
                                          **kw))


def test_a_flux_instance_the_set_holds_is_waited_for_until_created_and_ready():
    cluster = Instances([], [], [flux(FI, "flux", "Unknown", "Progressing", "Reconciliation in progress")],
                        [flux(FI, "flux", "True", "ReconciliationSucceeded", "Reconciliation finished")])
    seen: list[tuple[str, str]] = []
    done = cluster.wait_for(expected(["flux-system/flux"]),
                            on_status=lambda ref, h: seen.append((ref.name, h.status.value)))
    assert [ref.name for ref in done] == ["flux"] and cluster.polls >= 3
    assert seen[0] == ("flux", "NotFound") and seen[-1] == ("flux", "Current")


def test_a_flux_instance_without_conditions_is_not_ready_yet():
    """The operator has not looked at it yet: no status at all is no Ready (kstatus alone would say Current)."""
    fresh = flux(FI, "flux", None)
    del fresh["status"]
    cluster = Instances([fresh], [fresh], [flux(FI, "flux", "True", "ReconciliationSucceeded")])
    seen: list[str] = []
    cluster.wait_for(expected(["flux-system/flux"]), on_status=lambda ref, h: seen.append(h.status.value))
    assert seen == ["InProgress", "Current"]


def test_no_flux_instance_anywhere_is_no_wait():
    cluster = Instances([])
    assert cluster.wait_for([]) == {} and cluster.sleeps == []


def test_a_build_failure_fails_fast_naming_the_instance():
    cluster = Instances([flux(FI, "flux", "False", "BuildFailed", "build failed: no matches for version 9.x")])
    with pytest.raises(GitOpsError) as err:
        cluster.wait_for(expected(["flux-system/flux"]))
    assert err.value.exit_code == ExitCode.ROLLOUT
    assert str(err.value).startswith("FluxInstance flux-system/flux: BuildFailed: build failed: no matches for version 9.x")


def test_timeout_says_what_the_operator_reports():
    cluster = Instances([flux(FI, "flux", "Unknown", "Progressing", "Upgrading to 2.9.5")])
    with pytest.raises(GitOpsError, match=r"flux-operator did not make the FluxInstance Ready within 10s: "
                                          r"flux-system/flux \(Progressing: Upgrading to 2.9.5\)"):
        cluster.wait_for([], timeout=10)
    missing = Instances([])
    with pytest.raises(GitOpsError, match=r"flux-system/flux \(not created yet\).*is flux-operator running"):
        missing.wait_for(expected(["flux-system/flux"]), timeout=10)
