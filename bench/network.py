"""Apply over a network: bench/apply's race again, with a round trip between the clients and the API server.

In bench/apply the clients and the cluster share one 2-core machine, so the API server's CPU is the only
limit and every round trip is free: the case least favourable to a concurrent client.  A restore usually
runs from a laptop or a CI runner a network away from the cluster.  Here both contenders reach a fresh
cluster through `netdelay` (bench/netdelay, built here with `go build`): a TCP relay that holds every byte
for RTT/2 in each direction.  This machine has no netem to do it in the kernel.

Round trips from BENCH_NET_RTT_MS (default "2,10"; the relay's own hops and Go's millisecond timers add a
little, so the round trip actually added is measured and recorded too), objects from BENCH_NET_OBJECTS
(default 2000), medians over BENCH_NET_ROUNDS (default 2), contenders alternating.  No target: the issue's
target is bench/apply's; this shows how the ratio moves with distance.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bench import common, record

SOURCE = Path(__file__).with_name("netdelay")


def netdelay_binary() -> Path:
    """The relay, built once per source version into the user's cache (Go from PATH, standard library only)."""
    digest = hashlib.sha256(b"".join((SOURCE / name).read_bytes() for name in ("go.mod", "main.go"))).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    binary = cache / "dr-bootstrap" / "netdelay" / digest / "netdelay"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(".partial")
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOPROXY": "off", "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
        subprocess.run(["go", "build", "-trimpath", "-o", str(partial), "."], cwd=SOURCE, env=env, check=True)
        partial.rename(binary)
    return binary


@contextmanager
def delayed(kubeconfig: Path, rtt_ms: float) -> Iterator[Path]:
    """A copy of `kubeconfig` whose server is reached through a relay adding `rtt_ms` to each round trip."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    upstream = cluster["server"].removeprefix("https://")
    relay = subprocess.Popen([str(netdelay_binary()), "-upstream", upstream, "-delay", f"{rtt_ms / 2}ms"],
                             stdout=subprocess.PIPE, text=True)
    try:
        address = (relay.stdout.readline() if relay.stdout else "").strip()
        if not address:
            raise SystemExit(f"netdelay did not start (exit code {relay.wait()})")
        cluster["server"] = f"https://{address}"  # the serving certificate names 127.0.0.1: any port verifies
        path = kubeconfig.with_name(f"kubeconfig-rtt-{rtt_ms:g}ms")
        path.write_text(yaml.safe_dump(config))
        yield path
    finally:
        relay.kill()
        relay.wait()


def round_trip_ms(kubeconfig: Path, requests: int = 50) -> float:
    """Median milliseconds of a GET /version on a warm keep-alive connection."""
    from bootstrap.kube import Cluster

    with Cluster(str(kubeconfig)) as cluster:
        cluster.server_version()
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            cluster.server_version()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> bool:
    if shutil.which("go") is None:
        print("skipped: no `go` on PATH to build bench/netdelay")
        return True
    count = int(os.environ.get("BENCH_NET_OBJECTS", "2000"))
    rounds = int(os.environ.get("BENCH_NET_ROUNDS", "2"))
    rtts = [float(ms) for ms in os.environ.get("BENCH_NET_RTT_MS", "2,10").split(",")]
    concurrency = common.default_concurrency()
    objects = common.make_objects(count)
    kubectl_version = common.kubectl_version()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-network-") as tmp:
        tree = common.write_tree(objects, Path(tmp) / "tree")
        for rtt in rtts:
            ours: list[float] = []
            theirs: list[float] = []
            added: list[float] = []
            for r in range(rounds):
                with common.fresh_cluster("net-ours") as cluster, delayed(cluster.kubeconfig, rtt) as kubeconfig:
                    # the relay's own hops add to the nominal delay (Go's timers sleep in whole milliseconds)
                    added.append(round_trip_ms(kubeconfig) - round_trip_ms(cluster.kubeconfig))
                    ours.append(common.apply_phase(kubeconfig, objects, concurrency=concurrency).seconds)
                    common.expect_objects(cluster.kubeconfig, count, "ours")
                with common.fresh_cluster("net-kubectl") as cluster, delayed(cluster.kubeconfig, rtt) as kubeconfig:
                    theirs.append(common.kubectl_apply(kubeconfig, tree))
                    common.expect_objects(cluster.kubeconfig, count, "kubectl")
                print(f"  rtt {rtt:g} ms (measured: {added[-1]:.1f} ms added), round {r + 1}: ours {ours[-1]:.2f}s, "
                      f"kubectl {theirs[-1]:.2f}s", flush=True)
            ours_s, kubectl_s, measured = statistics.median(ours), statistics.median(theirs), statistics.median(added)
            print(f"{count} objects, {measured:.1f} ms added to each round trip, median of {rounds}: ours {ours_s:.2f}s "
                  f"(concurrency {concurrency}), kubectl {kubectl_version} {kubectl_s:.2f}s: ratio {ours_s / kubectl_s:.2f}")
            rows.append({"bench": "apply_network.vs_kubectl", "objects": count, "rounds": rounds, "rtt_ms": rtt,
                         "rtt_added_measured_ms": round(measured, 2),
                         **common.machine(), "concurrency": concurrency,
                         "ours_s": round(ours_s, 3), "ours_runs_s": [round(t, 3) for t in ours],
                         "kubectl": kubectl_version, "kubectl_s": round(kubectl_s, 3),
                         "kubectl_runs_s": [round(t, 3) for t in theirs], "ratio": round(ours_s / kubectl_s, 3),
                         "target": None, "pass": True})
    record(rows)
    return True


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
