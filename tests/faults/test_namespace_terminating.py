"""A namespace of the restore stuck Terminating (an object in it holds a finalizer) when the restore starts: the
restore says it is waiting for that namespace, waits it out, recreates it and completes."""

from __future__ import annotations

import threading

import pytest

from bootstrap.kube import Cluster
from tests.support.waiting import poll_until
from bootstrap.model import ObjectRef
from tests.faults.conftest import assert_converged, finish, namespaces, read_until, reap, start_restore

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

FINALIZER = "faults.dr-bootstrap.test/hold"
HOLD_FOR = 4.0


def test_restore_waits_out_a_terminating_namespace(fault_cluster, fault_repo, clean_run, trials):
    tag = trials.take()
    stuck = namespaces(tag)[0]
    ns_ref = ObjectRef("v1", "Namespace", None, stuck)
    holder = ObjectRef("v1", "ConfigMap", stuck, "holder")
    with Cluster(str(fault_cluster.kubeconfig)) as kube:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": stuck}})
        kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "holder", "namespace": stuck, "finalizers": [FINALIZER]}})
        kube.delete(ns_ref, propagation="Background", wait=False)
        assert poll_until(lambda: (kube.get(holder) or {}).get("metadata", {}).get("deletionTimestamp"), 30), \
            "the namespace controller started deleting the namespace's content"

        released = threading.Event()

        def release_it() -> None:
            kube.merge_patch(holder, {"metadata": {"finalizers": None}})
            released.set()

        release = threading.Timer(HOLD_FOR, release_it)
        proc = start_restore(fault_repo, tag, fault_cluster.kubeconfig, timeout=90)
        try:
            announced = f"Namespace/{stuck} is terminating"
            lines = read_until(proc, lambda seen: announced in seen[-1], wall=60)
            assert announced in lines[-1], "".join(lines[-10:])
            assert kube.get(ns_ref)["metadata"].get("deletionTimestamp"), "still terminating when announced"
            release.start()
            lines = finish(proc, lines)
            finished_after_release = released.is_set()
        finally:
            release.cancel()
            reap(proc)
    output = "".join(lines)
    assert proc.returncode == 0, output[-2000:]
    assert finished_after_release, "the restore finished only after the namespace was released"
    assert_converged(clean_run, fault_cluster.kubeconfig, tag, "after a terminating namespace")
    print(f"\nterminating namespace: announced, released after {HOLD_FOR}s, the restore finished after the release")
