"""Process bookkeeping of a local cluster's components: their environment, liveness (zombies count as gone),
pid-reuse guards, signals, a log's last lines for error messages, and the one runner of the data/*.sh build
scripts."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

IMPORT_ROOT = Path(__file__).resolve().parents[1]


def child_env() -> dict[str, str]:
    """The environment of a component: the sidecars (`python -m drb_localcluster ...`) import this very
    package, wherever it was imported from (a checkout, a wheel), before anything on PYTHONPATH."""
    path = [str(IMPORT_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (we reap our own children)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child (e.g. started by `up` in another process)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGKILL when the parent dies (Linux prctl)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def owned(pid: int, directory: Path) -> bool:
    """Guard against pid reuse: the process's command line names the cluster directory."""
    try:
        return str(directory) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])[-600:]
    except OSError:
        return "(no log)"


def build_script_path(script: Path, args: Sequence[str], error: type[Exception], *, quiet: bool = True) -> Path:
    """Run `bash script args` (one of data/*.sh) and return the path its last stdout line names: where the build
    is (`--print-bin-dir`, `--print-path`) or where a build put it. Raises `error`, naming the script, its exit
    code and its stderr's tail, when it fails or prints nothing. `quiet=False` lets its stderr (progress) through."""
    result = subprocess.run(["bash", str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE if quiet else None, text=True, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        tail = (result.stderr or "").strip()[-600:]
        raise error(f"{' '.join([script.name, *args])} failed (exit {result.returncode})" + (f": {tail}" if tail else ""))
    return Path(lines[-1])


PORT_FLOOR = 20000  # free ports are taken from here up to the kernel's ephemeral range


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (ip_local_port_range; Linux's default 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now. It is taken at random below the kernel's ephemeral
    range: a port `bind(0)` hands out is one the kernel also gives any process's outgoing connections, which
    can take it before the component told to listen there binds it (an Argo CD controller then fails to start,
    seen with two clusters starting at once); at random, so that clusters starting side by side seldom pick
    the same one."""
    low = ephemeral_low()
    for _ in range(200 if low > PORT_FLOOR + 1000 else 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", random.randrange(PORT_FLOOR, low)))
            except OSError:
                continue
            return s.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # no room below the range: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
