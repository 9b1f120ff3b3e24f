"""End-to-end `dr-bootstrap restore` of a repo with 500 SOPS-encrypted Secrets and 50 workloads onto a
fresh local cluster: wall time per phase (from the JSON report), and the tool's own overhead
(process start-up before the first phase, and the process's CPU time).

Sizes via BENCH_E2E_SECRETS (default 500) and BENCH_E2E_WORKLOADS (default 50).  No target: this
benchmark shows where a restore's time goes.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from bench import common, record


def _secret(i: int) -> bytes:
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{i:04d}\n  namespace: apps-{i % 5}\ntype: Opaque\n"
            f"stringData:\n  username: user-{i}\n  password: pw-{i}-{os.urandom(8).hex()}\n").encode()


def _workload(i: int) -> dict:
    name = f"web-{i:03d}"
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": f"apps-{i % 5}"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": "registry.example/web:1.0",
                                                           "envFrom": [{"secretRef": {"name": f"app-{i:04d}"}}]}]}}}}


def make_repo(root: Path, secrets: int, workloads: int, recipient: str) -> Path:
    """A git repo: namespaces, encrypted Secrets (real sops), plaintext Deployments; one commit."""
    from tests.support.sops import encrypt_bytes

    (root / "secrets").mkdir(parents=True)
    (root / "apps").mkdir()
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"apps-{n}"}} for n in range(5)]
    (root / "namespaces.yaml").write_text(yaml.safe_dump_all(namespaces))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        encrypted = list(pool.map(lambda i: encrypt_bytes(_secret(i), "yaml", [recipient]), range(secrets)))
    for i, data in enumerate(encrypted):
        (root / "secrets" / f"app-{i:04d}.enc.yaml").write_bytes(data)
    for i in range(workloads):
        (root / "apps" / f"web-{i:03d}.yaml").write_text(yaml.safe_dump(_workload(i)))
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench repo"], check=True)
    return root


def main() -> bool:
    from tests.support.sops import new_age_key, write_key_file

    secrets = int(os.environ.get("BENCH_E2E_SECRETS", "500"))
    workloads = int(os.environ.get("BENCH_E2E_WORKLOADS", "50"))
    key = new_age_key()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        root = Path(tmp)
        key_file = write_key_file(root / "age.agekey", key)
        repo = make_repo(root / "repo", secrets, workloads, key.recipient)
        report_path = root / "report.json"
        with common.fresh_cluster("e2e") as cluster:
            cmd = [sys.executable, "-m", "bootstrap", "restore", str(repo), "--age-key-file", str(key_file),
                   "--kubeconfig", str(cluster.kubeconfig), "--report", str(report_path), "--timeout", "300",
                   "--output", "json"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=900)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = json.loads(report_path.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    phases = {p["name"]: p["seconds"] for p in report["phases"]}
    startup = wall - report["seconds"]  # interpreter start-up, imports, writing the report
    between = report["seconds"] - sum(phases.values())  # e.g. connecting to the cluster, between clone and decrypt
    print(f"restore of {secrets} encrypted Secrets + {workloads} Deployments: {wall:.2f}s wall, "
          f"{cpu:.2f}s CPU in the dr-bootstrap process; outside the report's clock (start-up, exit) {startup:.2f}s, "
          f"inside it but between phases {between:.2f}s")
    for name, seconds in phases.items():
        print(f"  {name:28s} {seconds:7.2f}s")
    record([{"bench": "e2e.restore", **common.machine(), "secrets": secrets, "workloads": workloads,
             "wall_s": round(wall, 3), "process_cpu_s": round(cpu, 3), "startup_s": round(startup, 3), "between_phases_s": round(between, 3),
             "phases_s": phases, "result": report["result"], "pass": report["result"] == "succeeded"}])
    return report["result"] == "succeeded"


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
