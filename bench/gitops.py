"""Time to full convergence: dr-bootstrap against the plain path, on fresh clusters with the real Flux controllers.

The repository of the hand-over tests (tests/support/handover.py: gotk-components, gotk-sync to a local Git
server, children with SOPS Secrets and dependsOn, a postBuild substitution, a HelmRelease from a local chart
repository), restored two ways, each on its own fresh local cluster running source-, kustomize- and
helm-controller with their default flags (kustomize-controller's `--requeue-dependency` is Flux's 30 s):
- ours: `dr-bootstrap restore --path clusters/local --wait-gitops`;
- plain (Flux alone): what a runbook does with kubectl alone: `kubectl apply --server-side` gotk-components, wait
  for the CRDs, create the key Secret with `kubectl create secret`, apply gotk-sync, then `kubectl wait` until
  every Kustomization and HelmRelease is Ready (repeated while Flux creates more).
Both are timed from the command's start to full convergence. Cases (BENCH_GITOPS_CASES, default all):
- green: the repository as it is (infra <- apps). Target: ours / plain <= 1.0;
- chain: plus a 4-level dependsOn chain (infra <- chain-1 <- … <- chain-4), where Flux alone re-checks each
  level only every 30 s and dr-bootstrap asks for a reconcile as soon as a level is Ready. Target <= 0.5;
- red: the children encrypted for another key, where ours fails fast on Flux's decryption error and the plain
  path waits for its timeout (BENCH_GITOPS_RED_TIMEOUT, default 120 s).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import record, restores

WAITED = ("kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io")


def _ours(url: str, key_file: Path, kubeconfig: Path, timeout: int) -> tuple[float, int, dict]:
    """Seconds, exit code, and the report's timings and reconcile requests."""
    seconds, code, report = restores.restore(url, "--path", "clusters/local", "--age-key-file", str(key_file),
                                             "--kubeconfig", str(kubeconfig), "--wait-gitops", "--timeout", str(timeout))
    return seconds, code, {k: report.get(k) for k in ("bootstrapSeconds", "convergedSeconds", "reconcileRequests")}


def _plain(work: Path, key_file: Path, kubeconfig: Path, timeout: int) -> tuple[float, int]:
    flux_dir = work / "clusters/local/flux-system"
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    steps = [
        ("apply", "--server-side", "-f", str(flux_dir / "gotk-components.yaml")),
        ("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s"),
        ("-n", "flux-system", "create", "secret", "generic", "sops-age",
         f"--from-file=age.agekey={key_file}"),
        ("apply", "--server-side", "-f", str(flux_dir / "gotk-sync.yaml")),
    ]
    for step in steps:
        if restores.kubectl(kubeconfig, *step).returncode != 0:
            return time.perf_counter() - started, 1
    seen = -1
    while time.monotonic() < deadline:
        listed = restores.kubectl(kubeconfig, "get", ",".join(WAITED), "-A", "-o", "json")
        items = json.loads(listed.stdout).get("items", []) if listed.returncode == 0 else []
        left = max(1, int(deadline - time.monotonic()))
        waited = restores.kubectl(kubeconfig, "wait", "--for=condition=Ready", ",".join(WAITED), "--all", "-A",
                          f"--timeout={left}s")
        if waited.returncode == 0 and len(items) == seen:
            return time.perf_counter() - started, 0
        seen = len(items)
    return time.perf_counter() - started, 1


CASES = ("green", "chain", "red")
TARGETS = {"green": 1.0, "chain": 0.5}
CHAIN_LEVELS = 4


def main() -> bool:
    from bench.common import fresh_flux_cluster
    from tests.support.flux import install_manifests
    from tests.support.handover import published, reencrypt_bootstrap, serving
    from tests.support.sops import new_age_key, write_key_file

    red_timeout = int(os.environ.get("BENCH_GITOPS_RED_TIMEOUT", "120"))
    cases = restores.cases("BENCH_GITOPS_CASES", CASES)
    gotk = install_manifests()
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="bench-gitops-") as tmp, serving(Path(tmp) / "servers") as served:
        key = new_age_key()
        key_file = write_key_file(Path(tmp) / "age.agekey", key)
        for case in cases:
            base = Path(tmp) / case
            base.mkdir()
            if case == "green":
                url = published(base, served, (key, key_file), gotk)
            elif case == "chain":
                url = published(base, served, (key, key_file), gotk, chain=CHAIN_LEVELS)
            else:  # children for another key, the bootstrap file for ours: Flux cannot decrypt the children
                url = published(base, served, (new_age_key(), key_file), gotk)
                reencrypt_bootstrap(base, served, url, (key, key_file))
            timeout = red_timeout if case == "red" else 600
            with fresh_flux_cluster(f"gitops-ours-{case}") as cluster:
                ours_s, ours_rc, facts = _ours(url, key_file, cluster.kubeconfig, timeout)
            with fresh_flux_cluster(f"gitops-plain-{case}") as cluster:
                plain_s, plain_rc = _plain(base / "work", key_file, cluster.kubeconfig, timeout)
            ratio = ours_s / plain_s
            expected = (6, 1) if case == "red" else (0, 0)
            good = (ours_rc, plain_rc) == expected and (case == "red" or ratio <= TARGETS[case])
            ok &= good
            target = f"<= {TARGETS[case]}" if case in TARGETS else "exit 6 before the plain path's timeout"
            converged = "" if facts["convergedSeconds"] is None else f", converged at {facts['convergedSeconds']}s"
            print(f"{case}: dr-bootstrap --wait-gitops {ours_s:.1f}s (exit {ours_rc}; hand-over at "
                  f"{facts['bootstrapSeconds']}s{converged}, {facts['reconcileRequests']} reconcile request(s)), "
                  f"Flux alone (plain kubectl path) "
                  f"{plain_s:.1f}s (exit {plain_rc}): ratio {ratio:.2f} (target {target})", flush=True)
            rows.append({"bench": f"gitops.{case}", "ours_s": round(ours_s, 2), "plain_s": round(plain_s, 2),
                         "ours_exit": ours_rc, "plain_exit": plain_rc, "ratio": round(ratio, 3),
                         "ours_bootstrap_s": facts["bootstrapSeconds"], "ours_converged_s": facts["convergedSeconds"],
                         "reconcile_requests": facts["reconcileRequests"],
                         "load": round(os.getloadavg()[0], 1), "target": target, "pass": good})
    record(rows)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
