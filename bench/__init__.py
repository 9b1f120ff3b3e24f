"""Benchmarks: every `bench/<name>.py` with a `main()` is run by `python -m bench` (or `make bench`).

Each appends rows to `bench/results.json` via `record()`.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def record(rows: list[dict]) -> None:
    """Append result rows (with timestamp and host facts) to bench/results.json."""
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    stamp = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    existing.extend({**stamp, **row} for row in rows)
    RESULTS.write_text(json.dumps(existing, indent=2) + "\n")
