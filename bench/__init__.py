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
ROOT = Path(__file__).resolve().parents[1]


def compile_like_a_wheel() -> None:
    """Byte-compile the tool's packages, as `pip install` of the wheel does. The editable install of `make venv`
    has no .pyc files, and where PYTHONDONTWRITEBYTECODE is set none are ever written: every measured run would
    compile the sources again, which no installed copy does."""
    import compileall

    for package in ("bootstrap", "drb_localcluster"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


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
