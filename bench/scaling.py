"""How our apply phase grows with the object count: 100, 1,000 and 5,000 objects (BENCH_SCALING_SIZES),
each applied by a fresh process onto a fresh local cluster.

Per size: wall time of the apply phase and the applying process's peak RSS (VmHWM: the interpreter,
its imports and the objects in memory included).  Targets: near-linear time (per-object cost at the
largest size ≤ 1.5× that at 1,000) and peak < 300 MB at 5,000.  Draws docs/scaling.png.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import common, record

PNG = Path(__file__).resolve().parents[1] / "docs" / "scaling.png"
RSS_LIMIT_MB = 300.0
LINEARITY_LIMIT = 1.5
CHILD_TIMEOUT = 900.0


def child(count: int, kubeconfig: str) -> None:
    """Run in the subprocess: build the objects, apply them, print one JSON line of facts."""
    import bootstrap.kube  # noqa: F401  (imports before the clock, as in bench.apply)
    import bootstrap.commands.restore  # noqa: F401

    objects = common.make_objects(count)
    before = common.peak_rss_mb()
    run = common.apply_phase(kubeconfig, objects)
    print(json.dumps({"objects": run.objects, "seconds": run.seconds, "peak_rss_mb": common.peak_rss_mb(),
                      "rss_before_apply_mb": before}))


def measure(count: int) -> dict:
    with common.fresh_cluster(f"scaling-{count}") as cluster:
        out = subprocess.run([sys.executable, "-m", "bench.scaling", "--child", str(count), str(cluster.kubeconfig)],
                             capture_output=True, text=True, check=True, timeout=CHILD_TIMEOUT,
                             cwd=Path(__file__).resolve().parents[1])
        facts = json.loads(out.stdout.strip().splitlines()[-1])
        found = common.count_objects(cluster.kubeconfig)
    if facts["objects"] != count or found != count:
        raise SystemExit(f"scaling {count}: applied {facts['objects']}, found {found}")
    return facts


def draw(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [p["objects"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(sizes, [p["seconds"] for p in points], "o-", label="dr-bootstrap apply phase")
    per_object = points[-1]["seconds"] / sizes[-1]
    left.plot([0, sizes[-1]], [0, per_object * sizes[-1]], ":", color="grey", label="linear through the largest")
    left.set(xlabel="objects", ylabel="seconds", title="Apply time (fresh cluster per size)")
    left.legend()
    right.plot(sizes, [p["peak_rss_mb"] for p in points], "o-", color="tab:green", label="peak RSS")
    right.axhline(RSS_LIMIT_MB, color="tab:red", linestyle="--", label=f"{RSS_LIMIT_MB:.0f} MB budget")
    right.set(xlabel="objects", ylabel="MB", title="Peak memory of the applying process", ylim=(0, RSS_LIMIT_MB * 1.1))
    right.legend()
    m = common.machine()
    fig.suptitle(f"{m['nproc']} CPUs, {m['mem_gb']} GB, {m['date']}; local control plane on the same machine",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> bool:
    sizes = [int(n) for n in os.environ.get("BENCH_SCALING_SIZES", "100,1000,5000").split(",")]
    points = []
    for count in sizes:
        load = os.getloadavg()[0]
        facts = measure(count)
        facts["load"] = round(load, 1)
        points.append(facts)
        print(f"  {count} objects: {facts['seconds']:.2f}s ({count / facts['seconds']:.0f}/s), "
              f"peak RSS {facts['peak_rss_mb']:.0f} MB, load {load:.1f}", flush=True)
    base = next((p for p in points if p["objects"] == 1000), points[0])
    top = points[-1]
    growth = (top["seconds"] / top["objects"]) / (base["seconds"] / base["objects"])
    draw(points, PNG)
    print(f"per-object time at {top['objects']} is {growth:.2f}x that at {base['objects']} "
          f"(target <= {LINEARITY_LIMIT}); peak RSS at {top['objects']} {top['peak_rss_mb']:.0f} MB "
          f"(target < {RSS_LIMIT_MB:.0f}); plot: {PNG.relative_to(PNG.parents[1])}")
    row = {"bench": "apply.scaling", **common.machine(), "concurrency": common.default_concurrency(),
           "points": [{k: round(v, 3) if isinstance(v, float) else v for k, v in p.items()} for p in points],
           "per_object_growth": round(growth, 3), "peak_rss_mb": round(top["peak_rss_mb"], 1),
           "target": f"growth <= {LINEARITY_LIMIT}, peak < {RSS_LIMIT_MB:.0f} MB",
           "pass": growth <= LINEARITY_LIMIT and top["peak_rss_mb"] < RSS_LIMIT_MB}
    record([row])
    return row["pass"]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(0 if main() else 1)
