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


def _ours(repo: Path, key_file: Path, kubeconfig: Path, ns: str, helm: Path, env: dict) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bootstrap", "restore", str(repo), "--yes", "--path", "clusters/dr",
                           "--age-key-file", str(key_file), "--kubeconfig", str(kubeconfig), "--timeout", "300",
                           "--helm", f"{ns}/base", "--helm", f"{ns}/app", "--helm-bin", str(helm), "-o", "json"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    else:  # where the time went
        phases = json.loads(done.stdout)["phases"]
        print("  dr-bootstrap phases: " + ", ".join(f"{p['name']} {p['seconds']:.1f}s" for p in phases))
    return time.perf_counter() - started, done.returncode


def _recipe(repo: Path, key_file: Path, kubeconfig: Path, ns: str, reg, helm: Path, env: dict,
            work: Path) -> tuple[float, int]:
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
    record([{"bench": "helm.green", "ours_s": round(ours_s, 2), "plain_s": round(plain_s, 2), "ours_exit": ours_rc,
             "plain_exit": plain_rc, "ratio": round(ratio, 3), "rounds": ROUNDS,
             "load": round(os.getloadavg()[0], 1), "target": "<= 1.0", "pass": good}])
    return good


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
