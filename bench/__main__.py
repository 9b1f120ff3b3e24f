"""Run benchmarks: `python -m bench` runs every bench/*.py module that has a main(); or name some."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_") and not m.ispkg
    )


def run(names: list[str]) -> int:
    from bench import compile_like_a_wheel

    compile_like_a_wheel()
    failures = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        entry = getattr(module, "main", None)
        if entry is None:
            continue
        print(f"== bench.{name}", flush=True)
        failures += 1 if entry() is False else 0
    return failures


if __name__ == "__main__":
    available = discover()
    wanted = sys.argv[1:] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
    sys.exit(1 if run(wanted) else 0)
