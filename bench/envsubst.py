"""postBuild substitution speed: bootstrap.engines.flux.envsubst vs the Go fluxcd/pkg/envsubst (the oracle).

A rendered repository's objects as YAML text: half without any expression (the fast path), the rest with a
handful of `${...}` of the usual kinds.  Go's time is measured inside the oracle (`-repeat`: Eval only, no
JSON), ours in-process; both per object, best of several rounds.  Evidence only, no target.
Size via BENCH_ENVSUBST_OBJECTS (default 2000).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from bench import record

ROUNDS = 5
GO_REPEAT = 20

PLAIN = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{i}
  namespace: apps
data:
  log_level: info
  retries: "3"
  note: "a plain object, nothing to substitute in it"
"""
WITH_VARS = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{i}
  namespace: ${{NAMESPACE:=apps}}
  labels:
    app.kubernetes.io/part-of: ${{PLATFORM,,}}
    cluster: ${{CLUSTER_NAME}}
spec:
  replicas: ${{REPLICAS:-2}}
  template:
    spec:
      containers:
        - name: web
          image: "registry.example.com/web:${{IMAGE_TAG:-latest}}"
          env:
            - name: DOMAIN
              value: "${{CLUSTER_DOMAIN%%.*}}.example.com"
            - name: PRICE
              value: "$$5"
"""
VARS = {"PLATFORM": "Shop", "CLUSTER_NAME": "prod-eu-1", "REPLICAS": "3", "CLUSTER_DOMAIN": "eu1.k8s.internal"}


def _objects(n: int) -> list[str]:
    return [(PLAIN if i % 2 == 0 else WITH_VARS).format(i=i) for i in range(n)]


def main() -> bool:
    from bootstrap.engines.flux.envsubst import substitute
    from tests.support.envsubst_oracle import Case, build_oracle

    n = int(os.environ.get("BENCH_ENVSUBST_OBJECTS", "2000"))
    texts = _objects(n)

    def lookup(name: str) -> tuple[str, bool]:
        return VARS.get(name, ""), True

    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for text in texts:
            substitute(text, lookup)
        rounds.append(time.perf_counter() - start)
    ours_us = min(rounds) / n * 1e6

    payload = "".join(Case(text, VARS).request() + "\n" for text in texts).encode()
    go_rounds = []
    for _ in range(ROUNDS):
        done = subprocess.run([str(build_oracle()), "-repeat", str(GO_REPEAT)], input=payload,
                              capture_output=True, check=True, timeout=600)
        go_rounds.append(sum(json.loads(line)["ns"] for line in done.stdout.split(b"\n")[:-1]))
    go_us = min(go_rounds) / n / 1e3
    ratio = ours_us / go_us
    print(f"{n} objects (half with 6 expressions): ours {ours_us:.1f} µs/object, Go envsubst {go_us:.1f} µs/object:"
          f" ours/go {ratio:.2f} (rounds: ours {[round(r / n * 1e6, 1) for r in rounds]})")
    record([{"bench": "envsubst.objects", "objects": n, "ours_us_per_object": round(ours_us, 2),
             "go_us_per_object": round(go_us, 2), "ratio": round(ratio, 2)}])
    return True
