"""A restore through a loopback proxy that answers 20% of requests with 429 (Retry-After), 503, a TCP reset, or
delays them: the restore completes and leaves exactly the state of a clean run."""

from __future__ import annotations

import pytest

from bootstrap.status import Health, Status
from drb_localcluster.pki import generate
from bootstrap.stages.verify import settle
from tests.faults.conftest import assert_converged, run_restore
from tests.faults.proxy import FAULTS, FaultProxy


@pytest.mark.cluster
@pytest.mark.timeout(300)
def test_restore_through_a_faulty_proxy_converges(fault_cluster, fault_repo, clean_run, trials, tmp_path):
    pki = fault_cluster.dir / "pki"
    serving = generate(tmp_path / "proxy-pki")  # a test CA of its own: the tool must trust the proxy, not the server
    tag = trials.take()
    with FaultProxy(fault_cluster.server, pki / "ca.crt", pki / "admin.crt", pki / "admin.key", serving,
                    rate=0.2, seed=20) as proxy:
        kubeconfig = proxy.kubeconfig(tmp_path / "kubeconfig", pki / "admin.crt", pki / "admin.key")
        result = run_restore(fault_repo, tag, kubeconfig, timeout=120)
        injected, forwarded = dict(proxy.injected), proxy.forwarded
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-1000:]
    assert_converged(clean_run, fault_cluster.kubeconfig, tag, "through the faulty proxy")
    total = sum(injected.values())
    assert set(injected) == set(FAULTS), f"every kind of fault was injected: {injected}"
    assert forwarded >= fault_repo.objects, "every object went through the proxy"
    assert 0.1 < total / (total + forwarded - injected.get("latency", 0)) < 0.3, (injected, forwarded)
    print(f"proxy: {forwarded} requests forwarded, faults injected {injected}")


# The proxied run above first found this: under load, a new namespace's `default` ServiceAccount appeared after the
# Deployment's ReplicaSet tried to create pods, and the rollout check failed fast on a failure that heals itself.


def test_missing_default_service_account_is_waited_on_not_failed():
    transient = Health(Status.FAILED, 'FailedCreate: pods "web-0-d96cb455f-" is forbidden: error looking up '
                                      'service account ns/default: serviceaccount "default" not found')
    assert settle(transient).status is Status.IN_PROGRESS
    assert "serviceaccount" in settle(transient).message


def test_other_failures_still_fail_fast():
    missing_own_account = Health(Status.FAILED, 'FailedCreate: pods "w-1" is forbidden: error looking up service '
                                                'account ns/builder: serviceaccount "builder" not found')
    quota = Health(Status.FAILED, 'FailedCreate: pods "w-1" is forbidden: exceeded quota: compute')
    assert settle(missing_own_account) is missing_own_account
    assert settle(quota) is quota
