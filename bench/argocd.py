"""The Argo CD hand-over: `dr-bootstrap restore --engine argocd --wait-gitops` against the manual bootstrap its
README would give, on fresh local clusters running the real Argo CD (drb_localcluster.start_argocd), in the same
run.

The repository is `make drill ENGINE=argocd`'s secret-zero demo (bootstrap/data/demo-argocd: Argo CD's settings
and CRDs under bootstrap/argocd/, a SOPS Secret zero, a root Application over apps/, whose ApplicationSet makes
one Application per directory of workloads/), encrypted for a throwaway key and served by a loopback
`git http-backend` (drb_localcluster.gitserve). Restored two ways, each on its own fresh cluster:
- ours: `dr-bootstrap restore URL --engine argocd --path bootstrap -k all --key-secret argocd/sops-age
  --wait-gitops` (green): the whole tree (the Applications the root and the ApplicationSet make, and what they
  sync) applied by dr-bootstrap, so Argo CD finds every Application in place and only confirms it; or
  `--path bootstrap` alone (path, red), where Argo CD walks root -> ApplicationSet -> Applications itself (the
  red case so that the broken child is Argo CD's to find: with `-k all` dr-bootstrap refuses it before the
  first write, exit 4);
- manual: `kubectl apply --server-side -R -f bootstrap/argocd` (the install objects) and `kubectl wait` for its
  CRDs, the namespace, `kubectl create secret generic` of the age key, `sops -d bootstrap/secret-zero.sops.yaml |
  kubectl apply -f -` (the real sops: the newest of the cache and the venv's), `kubectl apply -f
  bootstrap/root.yaml`, then `kubectl get applications -w` until the Applications the README names exist and
  `kubectl wait` until every Application is Synced and Healthy (watches: no polling delay).
Both timed from the first command to the last. Cases (BENCH_ARGOCD_CASES, default green,red):
- green: target ours / manual <= 1.0; path: measured, no target (after the bootstrap, both wait on Argo CD
  walking the tree). BENCH_ARGOCD_ROUNDS rounds each (default 1), the contenders' order alternating round by
  round, each on a fresh cluster;
- red: one more child Application whose path is not in the repository: ours exits 6 with Argo CD's
  ComparisonError while the manual `kubectl wait` runs out its timeout (BENCH_ARGOCD_RED_TIMEOUT, default 120 s).
BENCH_ARGOCD_START_TIMEOUT (seconds) lengthens the cluster and Argo CD start timeouts on a loaded machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import record, restores

CASES = ("green", "path", "red")
DEFAULT_CASES = ("green", "red")
TARGET = 1.0  # green's
NAMESPACE = "argocd"


@contextmanager
def fresh_argocd_cluster(prefix: str) -> Iterator:
    """A fresh local cluster running Argo CD; a start that fails on a loaded machine is tried once more, on
    another fresh cluster."""
    from bench import common
    from drb_localcluster import start_argocd

    slow = float(os.environ.get("BENCH_ARGOCD_START_TIMEOUT", "0"))  # a loaded machine: longer starts
    if slow:
        common.CLUSTER_START_TIMEOUT = slow
    for attempt in (1, 2):
        with common.fresh_cluster(prefix) as cluster:
            try:
                start_argocd(cluster, timeout=slow or 180)
            except Exception as exc:  # ArgoCDError, or the API server's read timeout while applying the CRDs
                if attempt == 2:
                    raise
                print(f"  (Argo CD start failed, retrying once on a new cluster: {str(exc)[:120]})", flush=True)
                continue
            yield cluster
            return


def newest_sops() -> str:
    from tests.support.sops import sops_versions

    return list(sops_versions().values())[-1]


KUBECTL = restores.KUBECTL


def _ours(url: str, key_file: Path, kubeconfig: Path, timeout: int, whole_tree: bool) -> tuple[float, int, dict]:
    seconds, code, report = restores.restore(
        url, "--engine", "argocd", "--path", "bootstrap", *(["-k", "all"] if whole_tree else []),
        "--age-key-file", str(key_file), "--key-secret", "argocd/sops-age", "--kubeconfig", str(kubeconfig),
        "--wait-gitops", "--timeout", str(timeout))
    facts = {k: report.get(k) for k in ("bootstrapSeconds", "convergedSeconds")}
    facts["phases"] = ", ".join(f"{p['name']} {p['seconds']:.1f}s" for p in report.get("phases", []))
    facts["error"] = (report.get("error") or {}).get("message")
    return seconds, code, facts


def _manual(repo: Path, key_file: Path, kubeconfig: Path, apps: list[str], timeout: int, sops: str) -> tuple[float, int, str]:
    """The README's steps; (seconds, exit code, the step that failed or '')."""
    kc = str(kubeconfig)
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    steps = [
        [KUBECTL, "--kubeconfig", kc, "apply", "--server-side", "-R", "-f", str(repo / "bootstrap/argocd")],
        [KUBECTL, "--kubeconfig", kc, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s"],
        [KUBECTL, "--kubeconfig", kc, "apply", "-f", str(repo / "bootstrap/external-secrets.yaml")],
        [KUBECTL, "--kubeconfig", kc, "-n", NAMESPACE, "create", "secret", "generic", "sops-age",
         f"--from-file=age.agekey={key_file}"],
        ["bash", "-o", "pipefail", "-c", '"$SOPS" -d bootstrap/secret-zero.sops.yaml | "$KUBECTL" --kubeconfig '
                                         '"$KC" apply -f -'],
        [KUBECTL, "--kubeconfig", kc, "apply", "-f", str(repo / "bootstrap/root.yaml")],
    ]
    env = {**os.environ, "SOPS": sops, "KUBECTL": KUBECTL, "KC": kc, "SOPS_AGE_KEY_FILE": str(key_file)}
    for step in steps:
        done = subprocess.run(step, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            return time.perf_counter() - started, 1, f"{' '.join(step[:6])}: {done.stderr.strip()[-300:]}"
    print(f"  manual: root Application applied at {time.perf_counter() - started:.1f}s", flush=True)
    if not _watch_created(kubeconfig, apps, deadline):
        return time.perf_counter() - started, 1, "kubectl get applications -w: not every Application appeared"
    for condition in ("jsonpath={.status.sync.status}=Synced", "jsonpath={.status.health.status}=Healthy"):
        left = max(1, int(deadline - time.monotonic()))
        done = restores.kubectl(kubeconfig, "-n", NAMESPACE, "wait", f"--for={condition}", "applications", "--all",
                        f"--timeout={left}s")
        if done.returncode:
            return time.perf_counter() - started, 1, f"kubectl wait --for={condition}: {done.stderr.strip()[-300:]}"
    return time.perf_counter() - started, 0, ""


def _watch_created(kubeconfig: Path, apps: list[str], deadline: float) -> bool:
    """`kubectl get applications -w -o name` until every Application the README names exists (a watch: each
    appears at once; kubectl wait --for=create of names not yet there answers NotFound)."""
    wanted = {f"application.argoproj.io/{name}" for name in apps}
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, "get", "applications",
                             "-w", "-o", "name", f"--request-timeout={max(1, int(deadline - time.monotonic()))}s"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            wanted.discard(line.strip())
            if not wanted or time.monotonic() > deadline:
                break
    finally:
        proc.kill()
        proc.wait()
    return not wanted


def main() -> bool:
    from drb_localcluster.gitserve import GitServer
    from tests.support.argocd_demo import APPLICATIONS, BROKEN_APP, served_demo

    red_timeout = int(os.environ.get("BENCH_ARGOCD_RED_TIMEOUT", "120"))
    rounds = int(os.environ.get("BENCH_ARGOCD_ROUNDS", "1"))
    cases = restores.cases("BENCH_ARGOCD_CASES", CASES, default=DEFAULT_CASES)
    sops = newest_sops()
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="bench-argocd-") as tmp:
        for case in cases:
            base = Path(tmp) / case
            red = case == "red"
            with GitServer(base / "srv") as server:
                demo, url = served_demo(base, server, red=red)
                apps = [*APPLICATIONS, BROKEN_APP] if red else list(APPLICATIONS)
                timeout = red_timeout if red else 600
                for index in range(1 if red else rounds):
                    load = os.getloadavg()[0]
                    measured: dict[str, tuple] = {}
                    for contender in (("ours", "manual") if index % 2 == 0 else ("manual", "ours")):
                        with fresh_argocd_cluster(f"argocd-{contender}-{case}") as cluster:
                            if contender == "ours":
                                measured[contender] = _ours(url, demo.key_file, cluster.kubeconfig, timeout,
                                                            whole_tree=case == "green")
                            else:
                                measured[contender] = _manual(demo.repo, demo.key_file, cluster.kubeconfig, apps,
                                                              timeout, sops)
                    row = _row(case, measured["ours"], measured["manual"], load)
                    ok &= row["pass"]
                    rows.append(row)
    record(rows)
    return ok


def _row(case: str, ours: tuple[float, int, dict], manual: tuple[float, int, str], load: float) -> dict:
    (ours_s, ours_rc, facts), (manual_s, manual_rc, failed) = ours, manual
    ratio = ours_s / manual_s
    if case == "red":
        good = ours_rc == 6 and manual_rc == 1 and "app path does not exist" in (facts["error"] or "")
        target = "ours exit 6 with Argo CD's ComparisonError before the manual wait's timeout"
    elif case == "path":  # Argo CD's own walk of the tree is most of both times: measured, no target
        good = ours_rc == 0 and manual_rc == 0
        target = "none (both exit 0)"
    else:
        good = ours_rc == 0 and manual_rc == 0 and ratio <= TARGET
        target = f"<= {TARGET}"
    how = "-k all" if case == "green" else "--path bootstrap alone"
    print(f"{case}: dr-bootstrap restore --engine argocd {how} --wait-gitops {ours_s:.1f}s (exit {ours_rc}; "
          f"hand-over at {facts['bootstrapSeconds']}s, converged at {facts['convergedSeconds']}s; "
          f"{facts['phases']}), manual README bootstrap {manual_s:.1f}s (exit {manual_rc}"
          f"{'; ' + failed[:200] if failed else ''}): ratio {ratio:.2f} (target {target}); load {load:.1f}",
          flush=True)
    if facts["error"]:
        print(f"  dr-bootstrap: {facts['error'][:400]}", flush=True)
    return {"bench": f"argocd.{case}", "ours_s": round(ours_s, 2), "plain_s": round(manual_s, 2),
            "ours_exit": ours_rc, "plain_exit": manual_rc, "ratio": round(ratio, 3),
            "ours_bootstrap_s": facts["bootstrapSeconds"], "ours_converged_s": facts["convergedSeconds"],
            "cause": (facts["error"] or "")[:240] or None, "load": round(load, 1), "target": target, "pass": good}


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
