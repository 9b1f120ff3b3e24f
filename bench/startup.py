"""Start-up of the user-facing commands, as whole processes through the installed entry point.

Timed, interleaved so that load spikes hit every contender alike (REPEATS rounds, median and min):

    dr-bootstrap --help | --version | version | check EMPTY_DIR | check DIR_OF_200_SOPS_FILES
    kubectl --help | kubectl version --client
    sops decrypt FILE, once per file of the 200 (what a shell loop over the files costs), a slice of the
    files in each round, so that the loop is interleaved too; its cost is the median per file x 200

The environment has no kubeconfig (HOME is an empty temp dir, KUBECONFIG unset), so `version` reports the
client only, as `kubectl version --client` does.  Targets: `--help` and `version` no slower than
`kubectl --help` (median ratio <= 1.0); a whole `check` process over 200 files at least 40x faster than
one `sops decrypt` process per file.  Sizes via BENCH_STARTUP_FILES (default 200) and
BENCH_STARTUP_REPEATS (default 15).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import common, record

HELP_TARGET = 1.0  # ours / kubectl --help, medians
CHECK_TARGET = 40.0  # sops per file / our whole check process


def _secret(i: int) -> bytes:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{i}\n  namespace: apps\ntype: Opaque\n"
        f"stringData:\n  username: user-{i}\n  password: pw-{i}-{os.urandom(8).hex()}\n"
    ).encode()


def entry_point() -> str:
    """The console script pip generated, exactly what a user runs."""
    script = Path(sys.executable).with_name("dr-bootstrap")
    if not script.exists():
        raise SystemExit(f"{script}: not installed (pip install -e .)")
    return str(script)


def clean_env(home: Path) -> dict[str, str]:
    """The caller's environment without kubeconfig, sops keys or Python switches that change start-up."""
    drop = ("KUBECONFIG", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONDEVMODE")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SOPS_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    return env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, timeout=120)
    return time.perf_counter() - started


def main() -> bool:
    from tests.support.sops import encrypt_bytes, new_age_key, sops_binary, write_key_file

    files = int(os.environ.get("BENCH_STARTUP_FILES", "200"))
    repeats = int(os.environ.get("BENCH_STARTUP_REPEATS", "15"))
    common.byte_compile_tool()
    ours, kubectl, sops = entry_point(), common.kubectl(), sops_binary()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        root = Path(tmp)
        home, empty, tree = root / "home", root / "empty", root / "tree"
        for directory in (home, empty, tree):
            directory.mkdir()
        key = new_age_key()
        key_file = write_key_file(root / "age.agekey", key)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            encrypted = list(pool.map(lambda i: encrypt_bytes(_secret(i), "yaml", [key.recipient]), range(files)))
        paths = []
        for i, data in enumerate(encrypted):
            path = tree / f"secret-{i:03d}.enc.yaml"
            path.write_bytes(data)
            paths.append(path)
        env = clean_env(home)
        sops_env = {**env, "SOPS_AGE_KEY_FILE": str(key_file)}

        contenders: dict[str, tuple[list[str], dict[str, str]]] = {
            "dr-bootstrap --help": ([ours, "--help"], env),
            "dr-bootstrap --version": ([ours, "--version"], env),
            "dr-bootstrap version": ([ours, "version"], env),
            "dr-bootstrap check EMPTY": ([ours, "check", str(empty), "--age-key-file", str(key_file)], env),
            f"dr-bootstrap check {files} files": ([ours, "check", str(tree), "--age-key-file", str(key_file)], env),
            "kubectl --help": ([kubectl, "--help"], env),
            "kubectl version --client": ([kubectl, "version", "--client"], env),
            "sops decrypt (1 file)": ([sops, "decrypt", str(paths[0])], sops_env),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for cmd, cenv in contenders.values():  # warm the page cache and write any missing bytecode
            timed(cmd, cenv)
        per_file: list[float] = []
        share = -(-files // repeats)
        for n in range(repeats):
            for name, (cmd, cenv) in contenders.items():
                times[name].append(timed(cmd, cenv))
            per_file += [timed([sops, "decrypt", str(p)], sops_env) for p in paths[n * share:(n + 1) * share]]

    med = {name: statistics.median(ts) for name, ts in times.items()}
    low = {name: min(ts) for name, ts in times.items()}
    width = max(map(len, med))
    print(f"{'command':<{width}}  median     min   ({repeats} rounds, interleaved)")
    for name in med:
        print(f"{name:<{width}}  {med[name]:6.3f}s {low[name]:6.3f}s")
    sops_loop = statistics.median(per_file) * files
    print(f"{'sops decrypt, one process per file':<{width}}  {sops_loop:6.3f}s total for {files} files "
          f"({sops_loop / files * 1000:.0f} ms each)")

    kubectl_help = med["kubectl --help"]
    rows = []
    for name, bench in (("dr-bootstrap --help", "startup.help"), ("dr-bootstrap version", "startup.version")):
        ratio = med[name] / kubectl_help
        print(f"{name}: {ratio:.2f}x kubectl --help (target <= {HELP_TARGET})")
        rows.append({"bench": bench, "ours_median_s": round(med[name], 4), "ours_min_s": round(low[name], 4),
                     "kubectl_help_median_s": round(kubectl_help, 4), "kubectl_help_min_s": round(low["kubectl --help"], 4),
                     "ratio": round(ratio, 3), "target": f"<= {HELP_TARGET}", "pass": ratio <= HELP_TARGET})
    check_name = f"dr-bootstrap check {files} files"
    speedup = sops_loop / med[check_name]
    print(f"{check_name}: {speedup:.1f}x faster than sops decrypt per file (target >= {CHECK_TARGET:g})")
    rows.append({"bench": "startup.check_files", "files": files, "ours_median_s": round(med[check_name], 4),
                 "ours_min_s": round(low[check_name], 4), "sops_per_file_total_s": round(sops_loop, 4),
                 "speedup": round(speedup, 1), "target": f">= {CHECK_TARGET:g}", "pass": speedup >= CHECK_TARGET})
    rows.append({"bench": "startup.all", "median_s": {n: round(v, 4) for n, v in med.items()},
                 "min_s": {n: round(v, 4) for n, v in low.items()}, "repeats": repeats})
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    record([{**row, "commit": commit} for row in rows])
    return all(r.get("pass", True) for r in rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
