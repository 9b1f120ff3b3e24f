"""Decryption speed against the real sops binary.

1. Many small Secret files: our in-process decrypt of all of them vs one `sops decrypt` process per
   file (what a restore would otherwise do). Target: ≥ 20× faster.
2. One YAML with 5,000 encrypted values: a `dr-bootstrap decrypt` process vs a `sops decrypt`
   process, start-up and imports included. Target: ratio ≤ 1.0.

Both run with the RE2 regex engine in the path: the small files carry Flux's usual
`encrypted_regex: ^(data|stringData)$`, the big one `((?i)(key|pass))` (valid in Go, not in Python's `re`),
searched once per distinct key: 5,000 RE2 searches.

Sizes via BENCH_DECRYPT_FILES (default 500) and BENCH_DECRYPT_VALUES (default 5000).
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

from bench import record

REPEATS = 7
SMALL_RULE = "^(data|stringData)$"
BIG_RULE = "((?i)(key|pass))"


def _secret(i: int) -> bytes:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{i}\n  namespace: apps\ntype: Opaque\n"
        f"stringData:\n  username: user-{i}\n  password: pw-{i}-{os.urandom(8).hex()}\n"
        f"  url: postgres://db-{i}.svc:5432/app\n"
    ).encode()


def _big(values: int) -> bytes:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", "  name: big", "stringData:"]
    lines += [f"  key{n}: value-{n}-{os.urandom(6).hex()}" for n in range(values)]
    return ("\n".join(lines) + "\n").encode()


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("dr-bootstrap")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bootstrap"]


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> bool:
    from bootstrap import sops
    from bootstrap.stages.keys import load_keyring
    from tests.support.sops import encrypt_bytes, new_age_key, sops_binary, write_key_file

    files = int(os.environ.get("BENCH_DECRYPT_FILES", "500"))
    values = int(os.environ.get("BENCH_DECRYPT_VALUES", "5000"))
    key = new_age_key()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-decrypt-") as tmp:
        root = Path(tmp)
        key_file = write_key_file(root / "age.agekey", key)
        env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key_file)}

        # 1. many small files
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            encrypted = list(pool.map(
                lambda i: encrypt_bytes(_secret(i), "yaml", [key.recipient], encrypted_regex=SMALL_RULE), range(files)))
        paths = []
        for i, data in enumerate(encrypted):
            path = root / f"secret-{i}.enc.yaml"
            path.write_bytes(data)
            paths.append(path)
        start = time.perf_counter()
        ring = load_keyring(str(key_file))
        for path in paths:
            sops.decrypt(path.read_bytes(), ring, fmt="yaml", name=path.name)
        ours = time.perf_counter() - start
        binary = sops_binary()
        start = time.perf_counter()
        for path in paths:
            subprocess.run([binary, "decrypt", str(path)], env=env, stdout=subprocess.DEVNULL, check=True)
        theirs = time.perf_counter() - start
        speedup = theirs / ours
        print(f"{files} small files: ours in-process {ours:.3f}s, sops per file {theirs:.3f}s: {speedup:.1f}x faster"
              f" (target >= 20x)")
        rows.append({"bench": "decrypt.small_files", "files": files, "encrypted_regex": SMALL_RULE, "ours_s": round(ours, 4),
                     "sops_s": round(theirs, 4), "speedup": round(speedup, 1), "target": ">= 20",
                     "pass": speedup >= 20})

        # 2. one big file, whole processes
        big = root / "big.enc.yaml"
        big.write_bytes(encrypt_bytes(_big(values), "yaml", [key.recipient], encrypted_regex=BIG_RULE))
        ours_cmd = [*_cli(), "decrypt", str(big)]
        sops_cmd = [binary, "decrypt", str(big)]
        _time(ours_cmd, env), _time(sops_cmd, env)  # warm the page cache
        ours_t, sops_t = [], []
        for _ in range(REPEATS):  # interleaved, so load spikes hit both
            ours_t.append(_time(ours_cmd, env))
            sops_t.append(_time(sops_cmd, env))
        ratio = statistics.median(ours_t) / statistics.median(sops_t)
        print(f"{values} values, one file: dr-bootstrap decrypt median {statistics.median(ours_t):.3f}s "
              f"(min {min(ours_t):.3f}), sops decrypt median {statistics.median(sops_t):.3f}s "
              f"(min {min(sops_t):.3f}): ratio {ratio:.2f} (target <= 1.0)")
        rows.append({"bench": "decrypt.big_file_process", "values": values, "encrypted_regex": BIG_RULE,
                     "ours_median_s": round(statistics.median(ours_t), 4), "ours_min_s": round(min(ours_t), 4),
                     "sops_median_s": round(statistics.median(sops_t), 4), "sops_min_s": round(min(sops_t), 4),
                     "ratio": round(ratio, 3), "target": "<= 1.0", "pass": ratio <= 1.0})
    record(rows)
    return all(r["pass"] for r in rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
