"""The kube-apiserver killed (SIGKILL) in the middle of a restore and started again seconds later.

Kill points are chosen from the CLI's own progress lines: the key install, the apply wave after N objects,
and the rollout verification. A restart within the restore's --timeout must be retried through (exit 0,
same state as a clean run); an outage longer than --timeout must end in exit 5 naming the API server, and
a re-run then completes.

Each kill point runs on a cluster of its own. The controller-manager, the scheduler and kwok watch the API
server through client-go informers; after an outage each informer retries with client-go's backoff and
re-lists once the restarted server answers "too old resource version". That backoff resets only every 2
minutes, so on one cluster shared by ten kill points about 30 s apart it grew to 30-60 s per wait, two waits
per outage: the Deployments of a later trial waited for the controller-manager's ReplicaSet informer for up
to 2 minutes, the restore's whole --timeout (the flake this layout fixes). A real cluster's API server
crashes minutes apart, so its controllers meet each outage with a fresh backoff: so do these trials'.
"""

from __future__ import annotations

import random
import subprocess
import time

import pytest

from tests.faults.conftest import (
    applied_count,
    assert_converged,
    finish,
    kill_apiserver,
    phase_seconds,
    read_until,
    reap,
    run_restore,
    start_apiserver,
    start_restore,
    wait_ready,
    watchers_that_lost_the_apiserver,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


def _phase(name: str):
    """The phase `name` has begun; a name starting with ':' matches any --path's phase of that step
    (phases are named after the path: `t10: verify`)."""
    def begun(line: str) -> bool:
        head, _, phase = line.rstrip().partition("==> phase ")
        return bool(_) and (phase.endswith(name) if name.startswith(":") else phase == name)

    return lambda lines: any(begun(line) for line in lines)


def _applied(n: int):
    return lambda lines: applied_count(lines) >= n


#: (label, when to kill): the key install, eight points through the apply wave, the rollout verification
KILL_POINTS = [("install-key", _phase("install-key"))] + [
    (f"apply after {n} objects", _applied(n)) for n in (1, 25, 50, 75, 100, 150, 175, 200)
] + [("verify", _phase(": verify"))]
_rng = random.Random(5)
#: seconds the API server stays down at each kill point (seeded: 3-5 s)
DOWN_FOR = {label: _rng.uniform(3.0, 5.0) for label, _ in KILL_POINTS}


def assert_watchers_never_lost_the_apiserver(cluster) -> None:
    lived_through = watchers_that_lost_the_apiserver(cluster)
    assert not lived_through, (
        f"{lived_through} already lived through an outage of this cluster's API server: their informers may still "
        "be in client-go's backoff (up to 60 s a wait, two waits an outage), so a restart trial here waits for "
        "them, not for the tool. Run each restart trial on a cluster of its own (fresh_cluster).")


@pytest.mark.parametrize(("label", "when"), KILL_POINTS, ids=[label.replace(" ", "-") for label, _ in KILL_POINTS])
def test_restore_survives_apiserver_restart(label, when, fresh_cluster, fault_repo, clean_run, trials):
    cluster = fresh_cluster
    assert_watchers_never_lost_the_apiserver(cluster)
    tag = trials.take()
    down_for = DOWN_FOR[label]
    proc = start_restore(fault_repo, tag, cluster.kubeconfig, timeout=120)
    try:
        lines = read_until(proc, when, wall=120)
        assert proc.poll() is None, f"{label}: the restore ended before the kill point: {''.join(lines[-5:])}"
        killed_at = applied_count(lines)
        argv = kill_apiserver(cluster)
        time.sleep(down_for)
        start_apiserver(cluster, argv)
        wait_ready(cluster)
        started = time.monotonic()
        lines = finish(proc, lines)
    finally:
        reap(proc)
    output = "".join(lines)
    assert proc.returncode == 0, f"{label}: exit {proc.returncode}: {output[-1500:]}"
    assert_converged(clean_run, cluster.kubeconfig, tag, label)
    verify = phase_seconds(lines, f"{tag}: verify")
    print(f"\napiserver restart at {label!r}: {killed_at} objects applied before, {down_for:.1f} s down, "
          f"{time.monotonic() - started:.1f} s from ready to exit, verify phase {verify} s")


def test_outage_past_the_timeout_exits_5_naming_the_api_server_and_a_rerun_completes(
        fresh_cluster, fault_repo, clean_run, trials):
    cluster = fresh_cluster
    assert_watchers_never_lost_the_apiserver(cluster)
    tag = trials.take()
    timeout = 6.0
    proc = start_restore(fault_repo, tag, cluster.kubeconfig, timeout=timeout)
    argv = None
    gave_up_while_down = False
    try:
        lines = read_until(proc, _applied(50), wall=120)
        assert proc.poll() is None, "the restore ended before the kill point"
        argv = kill_apiserver(cluster)
        try:  # the server comes back at --timeout + 10 s: a tool still retrying then would converge and exit 0
            lines = finish(proc, lines, wall=timeout + 10)
            gave_up_while_down = True
        except subprocess.TimeoutExpired:
            start_apiserver(cluster, argv)
            argv = None
            lines = finish(proc, lines, wall=120)
    finally:
        reap(proc)
        if argv is not None:
            start_apiserver(cluster, argv)
            wait_ready(cluster)
    output = "".join(lines)
    errors = [line for line in lines if line.startswith("error: ")]  # main()'s one line on stderr
    assert proc.returncode == 5, output[-1500:]
    assert len(errors) == 1 and f"cannot reach the API server at {cluster.server}" in errors[0], errors
    assert gave_up_while_down, f"still retrying when the server came back, {timeout:.0f}s + 10s after the kill"

    rerun = run_restore(fault_repo, tag, cluster.kubeconfig)
    assert rerun.returncode == 0, rerun.stdout[-1500:] + rerun.stderr[-1500:]
    assert_converged(clean_run, cluster.kubeconfig, tag, "re-run after the outage")
