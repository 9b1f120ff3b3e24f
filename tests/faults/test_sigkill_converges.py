"""The tool itself killed with SIGKILL at seeded random moments of a restore: a re-run converges to exactly the
state a clean run leaves (every object's content, a hash of every Secret's data, the key Secret)."""

from __future__ import annotations

import random
import signal
import time

import pytest

from tests.faults.conftest import applied_count, assert_converged, read_until, reap, run_restore, start_restore

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

TRIALS = 10
SEED = 9


def test_rerun_after_sigkill_converges_to_a_clean_run(fault_cluster, fault_repo, clean_run, trials):
    """Each kill point: a seeded random number of applied objects (0 = before the first write, all of them =
    during rollout verification), plus a seeded random delay of up to 20 ms, so kills also land between the
    printed lines (objects are reported a few ms apart). The delay stays that short because the whole rollout
    verification of this repo can finish in well under half a second: a longer one let restores end unkilled."""
    rng = random.Random(SEED)
    observed = []
    for trial in range(TRIALS):
        tag = trials.take()
        target, delay = rng.randint(0, fault_repo.objects + 1), rng.uniform(0.0, 0.02)
        proc = start_restore(fault_repo, tag, fault_cluster.kubeconfig)
        try:
            lines = read_until(proc, lambda seen: applied_count(seen) >= target or ("==> phase " in seen[-1] and seen[-1].rstrip().endswith(": verify")))
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
        finally:
            reap(proc)
        lines += out.splitlines(keepends=True)
        point = f"trial {trial} (killed after {applied_count(lines)} objects)"
        rerun = run_restore(fault_repo, tag, fault_cluster.kubeconfig)
        assert rerun.returncode == 0, f"{point}: {rerun.stdout[-1500:]}{rerun.stderr[-500:]}"
        assert_converged(clean_run, fault_cluster.kubeconfig, tag, point)
        observed.append((applied_count(lines), proc.returncode))
    killed = sum(1 for _, code in observed if code == -signal.SIGKILL)
    assert killed == TRIALS, f"every restore was killed, not finished: {observed}"
    assert len({applied for applied, _ in observed}) >= TRIALS // 2, f"kill points spread over the restore: {observed}"
    print(f"\nSIGKILL trials (objects applied before the kill, exit): {observed}")
