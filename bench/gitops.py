"""Time to full convergence: dr-bootstrap against the plain path, on fresh clusters with the real Flux controllers.

The repository of the hand-over tests (tests/support/handover.py: gotk-components, gotk-sync to a local Git
server, children with SOPS Secrets and dependsOn, a postBuild substitution, a HelmRelease from a local chart
repository), restored two ways, each on its own fresh local cluster running source-, kustomize- and
helm-controller:
- ours: `dr-bootstrap restore --path clusters/local --wait-gitops`;
- plain: what a runbook does with kubectl alone: `kubectl apply --server-side` gotk-components, wait for the
  CRDs, create the key Secret with `kubectl create secret`, apply gotk-sync, then `kubectl wait` until every
  Kustomization and HelmRelease is Ready (repeated while Flux creates more).
Both are timed from the command's start to full convergence. Target: ours / plain <= 1.0 (the bootstrap must
not slow Flux down). A red run too: the children encrypted for another key, where ours fails fast on Flux's
decryption error and the plain path waits for its timeout (BENCH_GITOPS_RED_TIMEOUT, default 120 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import record

KUBECTL = str(Path(sys.executable).parent / "kubectl")
WAITED = ("kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io")


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def _ours(url: str, key_file: Path, kubeconfig: Path, timeout: int) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bootstrap", "restore", url, "--yes", "--path", "clusters/local",
                           "--age-key-file", str(key_file), "--kubeconfig", str(kubeconfig), "--wait-gitops",
                           "--timeout", str(timeout), "-o", "json"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    return time.perf_counter() - started, done.returncode


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
        if _kubectl(kubeconfig, *step).returncode != 0:
            return time.perf_counter() - started, 1
    seen = -1
    while time.monotonic() < deadline:
        listed = _kubectl(kubeconfig, "get", ",".join(WAITED), "-A", "-o", "json")
        items = json.loads(listed.stdout).get("items", []) if listed.returncode == 0 else []
        left = max(1, int(deadline - time.monotonic()))
        waited = _kubectl(kubeconfig, "wait", "--for=condition=Ready", ",".join(WAITED), "--all", "-A",
                          f"--timeout={left}s")
        if waited.returncode == 0 and len(items) == seen:
            return time.perf_counter() - started, 0
        seen = len(items)
    return time.perf_counter() - started, 1


def main() -> bool:
    from bench.common import fresh_flux_cluster
    from tests.support.flux import install_manifests
    from tests.support.handover import published, reencrypt_bootstrap, serving
    from tests.support.sops import new_age_key, write_key_file

    red_timeout = int(os.environ.get("BENCH_GITOPS_RED_TIMEOUT", "120"))
    gotk = install_manifests()
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="bench-gitops-") as tmp, serving(Path(tmp) / "servers") as served:
        key = new_age_key()
        key_file = write_key_file(Path(tmp) / "age.agekey", key)
        for colour in ("green", "red"):
            base = Path(tmp) / colour
            base.mkdir()
            if colour == "green":
                url = published(base, served, (key, key_file), gotk)
            else:  # children for another key, the bootstrap file for ours: Flux cannot decrypt the children
                url = published(base, served, (new_age_key(), key_file), gotk)
                reencrypt_bootstrap(base, served, url, (key, key_file))
            timeout = 600 if colour == "green" else red_timeout
            with fresh_flux_cluster(f"gitops-ours-{colour}") as cluster:
                ours_s, ours_rc = _ours(url, key_file, cluster.kubeconfig, timeout)
            with fresh_flux_cluster(f"gitops-plain-{colour}") as cluster:
                plain_s, plain_rc = _plain(base / "work", key_file, cluster.kubeconfig, timeout)
            ratio = ours_s / plain_s
            expected = (0, 0) if colour == "green" else (6, 1)
            good = (ours_rc, plain_rc) == expected and (colour == "red" or ratio <= 1.0)
            ok &= good
            print(f"{colour}: dr-bootstrap --wait-gitops {ours_s:.1f}s (exit {ours_rc}), plain kubectl path "
                  f"{plain_s:.1f}s (exit {plain_rc}): ratio {ratio:.2f}"
                  + (" (target <= 1.0)" if colour == "green" else " (fails fast vs waits for its timeout)"))
            rows.append({"bench": f"gitops.{colour}", "ours_s": round(ours_s, 2), "plain_s": round(plain_s, 2),
                         "ours_exit": ours_rc, "plain_exit": plain_rc, "ratio": round(ratio, 3),
                         "load": round(os.getloadavg()[0], 1),
                         "target": "<= 1.0" if colour == "green" else "exit 6 before the plain path's timeout",
                         "pass": good})
    record(rows)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
