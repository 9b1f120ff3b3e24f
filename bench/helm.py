"""Helm releases before the GitOps engine: `dr-bootstrap restore --helm` against the recipe it replaces, on fresh
local clusters in the same run.

The chain of tests/support/helmchain.py (charts made here, pushed to a real OCI registry on loopback; `base`
with a CRD, `app` with values from a SOPS Secret and a Deployment, depending on `base`), restored two ways:
- ours: `dr-bootstrap restore --path clusters/dr --helm NS/base --helm NS/app` (every chart pulled, CRDs
  applied, each release installed with helm v4, then the repository's objects applied and verified);
- recipe: what cluster-template's bootstrap does by hand: the chart CRDs (`helm template --include-crds`,
  CRDs only, `kubectl apply --server-side`), `helm upgrade --install --wait` once per release in dependsOn
  order (values on stdin), then `kubectl apply --server-side` of the same directory (Flux's components first,
  their CRDs Established, then the rest with the Secret decrypted by `sops decrypt`) and `kubectl rollout
  status` of its Deployments, as ours verifies them.
Both timed from the first command to the last, BENCH_HELM_ROUNDS (3) rounds alternating, medians compared.
Target: ours / recipe <= 1.0.

Red (`helm.red`, one round): a third release `crash` (after `app`) whose Deployment's pod crash-loops, its
HelmRelease timeout BENCH_HELM_RED_TIMEOUT (10m). Ours must exit 6 naming the pod and CrashLoopBackOff while
helm still waits; the recipe's `helm upgrade --install --wait --timeout` of it runs out that timeout. Target:
ours exits 6 with the reason, in under a tenth of the recipe's time. BENCH_HELM_RED=0 runs the green rounds only.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import record

KUBECTL = str(Path(sys.executable).parent / "kubectl")
ROUNDS = int(os.environ.get("BENCH_HELM_ROUNDS", "3"))
RED_TIMEOUT = os.environ.get("BENCH_HELM_RED_TIMEOUT", "10m")


def _ours(repo: Path, key_file: Path, kubeconfig: Path, ns: str, helm: Path, env: dict,
          releases: tuple[str, ...] = ("base", "app"), errors: list[str] | None = None) -> tuple[float, int]:
    started = time.perf_counter()
    chosen = [arg for name in releases for arg in ("--helm", f"{ns}/{name}")]
    done = subprocess.run([sys.executable, "-m", "bootstrap", "restore", str(repo), "--yes", "--path", "clusters/dr",
                           "--age-key-file", str(key_file), "--kubeconfig", str(kubeconfig), "--timeout", "300",
                           *chosen, "--helm-bin", str(helm), "-o", "json"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    if errors is not None:
        errors.extend(line for line in done.stderr.splitlines() if line.startswith("error:"))
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    else:  # where the time went
        phases = json.loads(done.stdout)["phases"]
        print("  dr-bootstrap phases: " + ", ".join(f"{p['name']} {p['seconds']:.1f}s" for p in phases))
    return time.perf_counter() - started, done.returncode


def _recipe(repo: Path, key_file: Path, kubeconfig: Path, ns: str, reg, helm: Path, env: dict,
            work: Path, crash_timeout: str | None = None) -> tuple[float, int]:
    from tests.support.sops import sops_decrypt

    def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, env=env, timeout=600)

    kube = ["--kubeconfig", str(kubeconfig)]
    charts = [("base", f"{reg.oci('charts')}/drb-base", "0.1.0", {"greeting": "hello"}),
              ("app", f"{reg.oci('charts')}/drb-app", "0.2.0", None)]
    started = time.perf_counter()
    steps: list[subprocess.CompletedProcess] = []
    steps.append(run(KUBECTL, *kube, "create", "namespace", ns))
    secret_values = sops_decrypt((repo / "clusters/dr/values.sops.yaml").read_bytes(), "yaml",
                                 key_file).stdout.decode()
    for name, chart, version, _ in charts:
        out = run(str(helm), "template", name, chart, "--version", version, "--plain-http", "--include-crds",
                  "--namespace", ns)
        crds = [d for d in out.stdout.split("\n---") if "kind: CustomResourceDefinition" in d]
        if crds:
            steps.append(run(KUBECTL, *kube, "apply", "--server-side", "-f", "-", stdin="\n---".join(crds)))
            steps.append(run(KUBECTL, *kube, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s"))
    for name, chart, version, values in charts:
        vals = values if values is not None else {**_secret_values(secret_values), "color": "teal", "replicas": 2}
        steps.append(run(str(helm), "upgrade", "--install", name, chart, "--version", version, "--plain-http",
                         "--namespace", ns, "--wait", "--timeout", "5m", "-f", "-", *kube, stdin=json.dumps(vals)))
    if crash_timeout:  # helmfile stops at the first release that fails: here when its --wait runs out
        steps.append(run(str(helm), "upgrade", "--install", "crash", f"{reg.oci('charts')}/drb-crash", "--version",
                         "0.1.0", "--plain-http", "--namespace", ns, "--wait", "--timeout", crash_timeout, *kube))
        if steps[-1].returncode:
            print("  recipe: " + steps[-1].stderr.strip().splitlines()[-1][:300], file=sys.stderr)
            return time.perf_counter() - started, 1
    plain = work / "plain"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-r", str(repo / "clusters/dr"), str(plain)], check=True)
    (plain / "values.sops.yaml").write_text(secret_values)
    steps.append(run(KUBECTL, *kube, "apply", "--server-side", "-f", str(plain / "gotk-components.yaml")))
    steps.append(run(KUBECTL, *kube, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s"))
    steps.append(run(KUBECTL, *kube, "apply", "--server-side", "-k", str(plain)))
    steps.append(run(KUBECTL, *kube, "-n", "flux-system", "rollout", "status", "deployment", "--timeout=300s"))
    failed = [s for s in steps if s.returncode]
    if failed:
        print(failed[0].stderr[-2000:], file=sys.stderr)
    return time.perf_counter() - started, 1 if failed else 0


def _secret_values(secret_yaml: str) -> dict:
    import base64

    import yaml

    doc = yaml.safe_load(secret_yaml)
    raw = (doc.get("stringData") or {}).get("values.yaml")
    if raw is None:
        raw = base64.b64decode(doc["data"]["values.yaml"]).decode()
    return yaml.safe_load(raw)


def red(reg, work: Path, age, key_file: Path, helm: Path, env: dict) -> dict:
    """One round of the red case on fresh clusters: ours must fail fast (exit 6, the pod's reason), the recipe
    waits out its --timeout."""
    from bench.common import fresh_cluster
    from tests.support.helmchain import helm_repo

    ns = "bench-helm-red"
    (work / "red").mkdir(parents=True, exist_ok=True)
    repo = helm_repo(work / "red", reg, (age, key_file), ns, "pw-bench", crash=True, crash_timeout=RED_TIMEOUT)
    errors: list[str] = []
    with fresh_cluster("helm-red-ours") as cluster:
        ours_s, ours_rc = _ours(repo, key_file, cluster.kubeconfig, ns, helm, env, ("base", "app", "crash"), errors)
    with fresh_cluster("helm-red-recipe") as cluster:
        plain_s, plain_rc = _recipe(repo, key_file, cluster.kubeconfig, ns, reg, helm, env, work / "red-recipe",
                                    crash_timeout=RED_TIMEOUT)
    cause = errors[0] if errors else ""
    good = ours_rc == 6 and "CrashLoopBackOff" in cause and plain_rc != 0 and ours_s < plain_s / 10
    print(f"red: dr-bootstrap exit {ours_rc} after {ours_s:.1f}s ({cause[:240]}); recipe exit {plain_rc} after "
          f"{plain_s:.1f}s (helm --wait --timeout {RED_TIMEOUT})")
    return {"bench": "helm.red", "ours_s": round(ours_s, 2), "plain_s": round(plain_s, 2), "ours_exit": ours_rc,
            "plain_exit": plain_rc, "ratio": round(ours_s / plain_s, 3), "helm_timeout": RED_TIMEOUT,
            "cause": cause[:300], "load": round(os.getloadavg()[0], 1),
            "target": "ours exit 6 with CrashLoopBackOff, < 0.1x the recipe's", "pass": good}


def main() -> bool:
    from bench.common import fresh_cluster
    from tests.support.helmchain import helm_repo, push_charts
    from tests.support.registry import helm_bin, helm_env, oci_registry
    from tests.support.sops import new_age_key, write_key_file

    helm = helm_bin()
    with tempfile.TemporaryDirectory(prefix="bench-helm-") as tmp:
        work = Path(tmp)
        age = new_age_key()
        key_file = write_key_file(work / "age.agekey", age)
        with oci_registry(work / "registry") as reg:
            push_charts(reg, work / "charts")
            ns = "bench-helm"
            repo = helm_repo(work, reg, (age, key_file), ns, "pw-bench")
            env = helm_env(work / "helm-home")
            rows = [red(reg, work, age, key_file, helm, env)] if os.environ.get("BENCH_HELM_RED", "1") == "1" else []
            ours, plain = [], []
            for round_ in range(ROUNDS):  # alternating, each on a fresh cluster: the load moves both alike
                with fresh_cluster("helm-ours") as cluster:
                    ours.append(_ours(repo, key_file, cluster.kubeconfig, ns, helm, env))
                with fresh_cluster("helm-recipe") as cluster:
                    plain.append(_recipe(repo, key_file, cluster.kubeconfig, ns, reg, helm, env, work / str(round_)))
    ours_s, plain_s = statistics.median(s for s, _ in ours), statistics.median(s for s, _ in plain)
    ours_rc, plain_rc = max(rc for _, rc in ours), max(rc for _, rc in plain)
    ratio = ours_s / plain_s
    good = (ours_rc, plain_rc) == (0, 0) and ratio <= 1.0
    print(f"dr-bootstrap restore --helm {ours_s:.1f}s (exit {ours_rc}), recipe (helm upgrade --install --wait per "
          f"release, CRDs and kubectl apply around it) {plain_s:.1f}s (exit {plain_rc}): ratio {ratio:.2f} "
          f"(target <= 1.0; medians of {ROUNDS} rounds: ours {[round(s, 1) for s, _ in ours]}, "
          f"recipe {[round(s, 1) for s, _ in plain]})")
    record([*rows, {"bench": "helm.green", "ours_s": round(ours_s, 2), "plain_s": round(plain_s, 2), "ours_exit": ours_rc,
             "plain_exit": plain_rc, "ratio": round(ratio, 3), "rounds": ROUNDS,
             "load": round(os.getloadavg()[0], 1), "target": "<= 1.0", "pass": good}])
    return good and all(row["pass"] for row in rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
