"""Shared pieces of the benchmarks that race a whole `dr-bootstrap restore` against a runbook of kubectl steps
on fresh clusters (`… gitops`, `… argocd`): the cases asked for, the restore as a process with its JSON report,
and kubectl against one cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def cases(variable: str, known: Sequence[str], *, default: Sequence[str] | None = None) -> list[str]:
    """The cases named in `$variable` (comma-separated; `default`, else all of `known`, when unset); SystemExit
    naming any unknown one."""
    asked = [c for c in os.environ.get(variable, ",".join(known if default is None else default)).split(",") if c]
    unknown = sorted(set(asked) - set(known))
    if unknown:
        raise SystemExit(f"{variable}: unknown case(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return asked


def restore(*args: str) -> tuple[float, int, dict[str, Any]]:
    """`dr-bootstrap restore ARGS --yes -o json` as a process: its seconds, exit code and report ({} when it
    printed none)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bootstrap", "restore", *args, "--yes", "-o", "json"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = {}
    return seconds, done.returncode, report if isinstance(report, dict) else {}


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)
