"""Fixtures for fault-injection tests: one dedicated local cluster, a ~300-object SOPS repo, and helpers
to run the real CLI, wipe what it restored, snapshot the restored state and restart the kube-apiserver.

The cluster is this package's own (webhooks and finalizers are left on it), shared by every test here but
the API server restarts: those kill the API server, and each runs on a cluster of its own (see
test_apiserver_restart.py). Each trial restores a tree of its own and is compared against one clean restore.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bootstrap.kube import Cluster
from tests.support.waiting import poll_until
from drb_localcluster import LocalCluster
from bootstrap.model import ObjectRef
from tests.support.sops import encrypt_file, new_age_key, write_key_file

REPO_ROOT = Path(__file__).resolve().parents[2]

SUFFIXES = ("apps", "config", "data")
KEY_SECRET = ("flux-system", "sops-age")
CONFIGMAPS_PER_NS = 50
SECRETS = 30
ACCOUNTS = 20
DEPLOYMENTS = 2
TRIALS = 28  # independent copies of the tree: one per restore trial, so no trial needs a wipe
SNAPSHOT_KINDS = (("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "ServiceAccount"), ("apps/v1", "Deployment"))
AUTO_CREATED = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


# -------------------------------------------------------------------------------------------- the repo


@dataclass(frozen=True)
class FaultRepo:
    """A Git repo with `TRIALS` identical trees `tNN/`, each restoring into its own namespaces `tNN-*`."""

    url: str
    key_file: Path
    objects: int  # objects in one tree (the key Secret not included)
    tags: tuple[str, ...]


def namespaces(tag: str) -> list[str]:
    return [f"{tag}-{suffix}" for suffix in SUFFIXES]


def _docs(*bodies: dict) -> str:
    return "---\n".join(yaml.safe_dump(b, sort_keys=False) for b in bodies)


def write_tree(root: Path, tag: str, recipient: str, salt: str) -> int:
    """One restore's worth of objects under root/tag; returns how many. Identical across tags but for names."""
    apps, config, data = namespaces(tag)
    base = root / tag
    for sub in ("config", "secrets", "apps"):
        (base / sub).mkdir(parents=True)
    (base / "namespaces.yaml").write_text(_docs(*({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                                                  for ns in namespaces(tag))))
    count = len(SUFFIXES)
    for ns in namespaces(tag):
        for chunk in range(0, CONFIGMAPS_PER_NS, 10):
            maps = [{"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"cfg-{i:03d}", "namespace": ns, "labels": {"fault-test": "yes"}},
                     "data": {"index": str(i), "payload": f"{i}-" + "x" * 200}}
                    for i in range(chunk, chunk + 10)]
            (base / "config" / f"{ns}-{chunk:03d}.yaml").write_text(_docs(*maps))
            count += len(maps)
    secrets = [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": f"sec-{i:02d}", "namespace": data},
                "stringData": {"password": f"pw-{i}-{salt}", "user": f"user{i}"}}
               for i in range(SECRETS)]
    path = base / "secrets" / "bundle.sops.yaml"
    path.write_text(_docs(*secrets))
    encrypt_file(path, [recipient], encrypted_regex="^(data|stringData)$")
    count += len(secrets)
    accounts = [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"sa-{i:02d}", "namespace": apps}}
                for i in range(ACCOUNTS)]
    (base / "apps" / "accounts.yaml").write_text(_docs(*accounts))
    deployments = [_deployment(f"web-{i}", data, f"sec-{i:02d}") for i in range(DEPLOYMENTS)]
    (base / "apps" / "deployments.yaml").write_text(_docs(*deployments))
    return count + len(accounts) + len(deployments)


def write_repo(dest: Path, trials: int = TRIALS) -> FaultRepo:
    """The fault tests' GitOps repo: `trials` trees of 205 objects (3 Namespaces, 150 ConfigMaps, 30 SOPS
    Secrets, 20 ServiceAccounts, 2 Deployments using the Secrets), committed to a fresh Git repo."""
    key = new_age_key()
    key_file = write_key_file(dest / "age.agekey", key)
    root = dest / "repo"
    root.mkdir(parents=True)
    salt = os.urandom(6).hex()
    tags = tuple(f"t{i:02d}" for i in range(trials))
    counts = {write_tree(root, tag, key.recipient, salt) for tag in tags}
    git = ["git", "-c", "user.name=faults", "-c", "user.email=faults@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fault test state"], cwd=root, check=True)
    assert len(counts) == 1
    return FaultRepo(url=f"file://{root}", key_file=key_file, objects=counts.pop(), tags=tags)


def _deployment(name: str, namespace: str, secret: str) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "registry.example/app:1",
                                                           "envFrom": [{"secretRef": {"name": secret}}]}]}}}}


# -------------------------------------------------------------------------------------------- the CLI


def restore_argv(repo: FaultRepo, tag: str, kubeconfig: Path | str, *extra: str, timeout: float = 120) -> list[str]:
    return [sys.executable, "-m", "bootstrap", "restore", repo.url, "--yes", "--path", tag, "--age-key-file",
            str(repo.key_file), "--kubeconfig", str(kubeconfig), "--timeout", str(timeout), *extra]


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT), "NO_COLOR": "1",
            "COLUMNS": "200", "TERM": "dumb"}


def run_restore(repo: FaultRepo, tag: str, kubeconfig: Path | str, *extra: str, timeout: float = 120,
                wall: float = 240) -> subprocess.CompletedProcess:
    """Run `dr-bootstrap restore` of tree `tag` to the end (bounded by `wall` seconds)."""
    return subprocess.run(restore_argv(repo, tag, kubeconfig, *extra, timeout=timeout), capture_output=True,
                          text=True, env=cli_env(), timeout=wall, cwd=REPO_ROOT)


def start_restore(repo: FaultRepo, tag: str, kubeconfig: Path | str, *extra: str,
                  timeout: float = 120) -> subprocess.Popen:
    """Start `dr-bootstrap restore` with its output (one line per event, stderr merged) on a pipe."""
    return subprocess.Popen(restore_argv(repo, tag, kubeconfig, *extra, timeout=timeout), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=cli_env(), cwd=REPO_ROOT, bufsize=1)


def read_until(proc: subprocess.Popen, predicate: Callable[[list[str]], bool], *, wall: float = 120) -> list[str]:
    """Read the CLI's lines until `predicate(lines)` is true or the process ends; returns the lines read."""
    lines: list[str] = []
    deadline = time.monotonic() + wall
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if predicate(lines) or time.monotonic() > deadline:
            break
    return lines


def phase_seconds(lines: list[str], name: str) -> float | None:
    """How long phase `name` took, from its closing line (`<== phase NAME succeeded in 1.2s`)."""
    for line in lines:
        match = re.search(rf"<== phase {re.escape(name)} \w+ in ([\d.]+)s", line)
        if match:
            return float(match.group(1))
    return None


def reap(proc: subprocess.Popen) -> None:
    """Kill a restore that is still running (a trial that failed midway) and wait for it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def finish(proc: subprocess.Popen, lines: list[str], wall: float = 180) -> list[str]:
    """Read the rest of the CLI's output and wait for it to exit (bounded)."""
    out, _ = proc.communicate(timeout=wall)
    return lines + out.splitlines(keepends=True)


def applied_count(lines: list[str]) -> int:
    """Objects the CLI reported applied so far (human output: `[phase] created  Kind/ns/name`)."""
    return sum(1 for line in lines if re.search(r"\] (created|configured|unchanged) ", line))


# -------------------------------------------------------------------------------------------- state


def secret_digest(data: dict | None) -> str:
    return hashlib.sha256(json.dumps(data or {}, sort_keys=True).encode()).hexdigest()


def snapshot(kubeconfig: Path | str, tag: str) -> dict[str, object]:
    """Every object restored from tree `tag`: ConfigMap data, a hash of each Secret's data, ServiceAccounts,
    Deployment specs, labels; plus a hash of the key Secret. Keyed by Kind/<suffix>/name, so trees compare."""
    state: dict[str, object] = {}
    with Cluster(str(kubeconfig)) as kube:
        for suffix, ns in zip(SUFFIXES, namespaces(tag)):
            live = kube.get(_ns_ref(ns))
            state[f"Namespace/{suffix}"] = bool(live) and not live["metadata"].get("deletionTimestamp")
            for api_version, kind in SNAPSHOT_KINDS:
                for obj in kube.list(api_version, kind, ns):
                    meta = obj["metadata"]
                    if (kind, meta["name"]) in AUTO_CREATED or meta.get("deletionTimestamp"):
                        continue
                    labels = meta.get("labels") or {}
                    if kind == "Secret":
                        content: object = {"type": obj.get("type"), "data": secret_digest(obj.get("data")),
                                           "labels": labels}
                    elif kind == "ConfigMap":
                        content = {"data": obj.get("data"), "labels": labels}
                    elif kind == "Deployment":
                        content = {"spec": obj.get("spec"), "labels": labels,
                                   "available": (obj.get("status") or {}).get("availableReplicas")}
                    else:
                        content = {"labels": labels}
                    state[f"{kind}/{suffix}/{meta['name']}"] = content
        key = kube.get(ObjectRef("v1", "Secret", *KEY_SECRET))
        state["Secret/key"] = secret_digest(key.get("data")) if key else None
    return state


def diff(expected: dict, actual: dict) -> list[str]:
    """Human-readable differences (names only, never values)."""
    out = [f"missing {k}" for k in sorted(expected.keys() - actual.keys())]
    out += [f"unexpected {k}" for k in sorted(actual.keys() - expected.keys())]
    out += [f"differs {k}" for k in sorted(expected.keys() & actual.keys()) if expected[k] != actual[k]]
    return out


def _ns_ref(name: str) -> ObjectRef:
    return ObjectRef("v1", "Namespace", None, name)


# -------------------------------------------------------------------------------------------- API server


def apiserver_pid(cluster: LocalCluster) -> int:
    return int((cluster.dir / "pids" / "kube-apiserver.pid").read_text().strip())


def kill_apiserver(cluster: LocalCluster) -> list[str]:
    """SIGKILL the cluster's kube-apiserver; returns its argv for `start_apiserver`."""
    pid = apiserver_pid(cluster)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    assert str(cluster.dir) in " ".join(argv), "pid file does not name this cluster's API server"
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # started by another process: wait for it to vanish
        poll_until(lambda: not Path(f"/proc/{pid}").exists(), 10)
    return argv


def start_apiserver(cluster: LocalCluster, argv: list[str]) -> subprocess.Popen:
    """Start the API server again with the same flags, log and pid file (as LocalCluster does)."""
    with open(cluster.dir / "logs" / "kube-apiserver.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=cluster.dir, start_new_session=True)
    (cluster.dir / "pids" / "kube-apiserver.pid").write_text(f"{proc.pid}\n")
    return proc


#: the API server's clients that keep watches open (client-go informers). When their API server goes away each
#: informer retries with client-go's backoff (0.8 s doubling to 30 s, times up to 2 for jitter, reset only every
#: 2 minutes) and re-lists after the restarted server answers "too old resource version"; outages less than two
#: minutes apart stack that backoff to 30-60 s per wait, two waits per outage.
WATCHERS = ("kube-controller-manager", "kube-scheduler", "kwok")


def _start_ticks(pid: int) -> int:
    """When process `pid` started, in clock ticks since boot (/proc/PID/stat field 22)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def watchers_that_lost_the_apiserver(cluster: LocalCluster) -> list[str]:
    """The WATCHERS that were already running when the cluster's current API server started: they lived
    through an earlier outage, so their watches may still be in client-go's backoff."""
    pids = cluster.dir / "pids"
    apiserver = _start_ticks(apiserver_pid(cluster))
    return [name for name in WATCHERS
            if _start_ticks(int((pids / f"{name}.pid").read_text().strip())) < apiserver]


def wait_ready(cluster: LocalCluster, timeout: float = 60) -> None:
    pki = cluster.dir / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{cluster.server}/readyz", context=ctx, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    if not poll_until(ready, timeout, cap=0.25):
        raise AssertionError(f"kube-apiserver not ready {timeout}s after restart")


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def fault_cluster(tmp_path_factory, control_plane_bin) -> Iterator[LocalCluster]:
    """A cluster of the fault tests' own: they leave webhooks and finalizers behind on failure. Its API server
    is never killed (the restart tests use clusters of their own), so its controllers never carry client-go's
    backoff from an earlier outage into another test."""
    cluster = LocalCluster(tmp_path_factory.mktemp("faults") / "cluster", control_plane_bin)
    cluster.start(timeout=120)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def fault_repo(tmp_path_factory) -> FaultRepo:
    return write_repo(tmp_path_factory.mktemp("fault-repo"))


class Trials:
    """Hands out the repo's trees, one per restore trial (each lands in namespaces of its own)."""

    def __init__(self, tags: tuple[str, ...]):
        self._left = list(tags)

    def take(self) -> str:
        assert self._left, f"the fault repo has only {TRIALS} trees: raise TRIALS"
        return self._left.pop(0)


@pytest.fixture(scope="session")
def trials(fault_repo) -> Trials:
    return Trials(fault_repo.tags)


@dataclass(frozen=True)
class CleanRun:
    """What one undisturbed restore leaves: the reference every faulted run must equal, and its wall time."""

    state: dict[str, object]
    seconds: float


@pytest.fixture(scope="session")
def clean_run(fault_cluster, fault_repo, trials) -> CleanRun:
    tag = trials.take()
    started = time.monotonic()
    result = run_restore(fault_repo, tag, fault_cluster.kubeconfig)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    state = snapshot(fault_cluster.kubeconfig, tag)
    assert len(state) == fault_repo.objects + 1, "the snapshot holds every restored object and the key"
    assert all(state[f"Namespace/{s}"] for s in SUFFIXES)
    assert all(v["available"] == 1 for k, v in state.items() if k.startswith("Deployment/"))
    return CleanRun(state, seconds)


def assert_converged(clean: CleanRun, kubeconfig: Path | str, tag: str, context: str = "") -> None:
    problems = diff(clean.state, snapshot(kubeconfig, tag))
    assert not problems, f"{context}: {len(problems)} difference(s) from a clean run: {problems[:10]}"
