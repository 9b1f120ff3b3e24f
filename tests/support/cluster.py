"""A local cluster for the length of a fixture: started in a directory, always stopped."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml

from drb_localcluster import LocalCluster, start_argocd


@contextmanager
def started_cluster(directory: Path, bin_dir: Path, *, timeout: float = 120, **options) -> Iterator[LocalCluster]:
    """A cluster in `directory` ready within `timeout` seconds, stopped on the way out whatever happens;
    `options` go to LocalCluster (e.g. flux=True, flux_bin_dir=...)."""
    cluster = LocalCluster(directory, bin_dir, **options)
    cluster.start(timeout=timeout)
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def started_argocd_cluster(directory: Path, bin_dir: Path, argocd_bin: Path,
                           extra_args: Mapping[str, Sequence[str]] | None = None) -> Iterator[LocalCluster]:
    """A cluster (`started_cluster`) running the real Argo CD's controllers (`start_argocd`, `extra_args` per
    component), stopped on the way out. Generous start-up timeouts: the machine the tests run on is shared and
    often loaded."""
    with started_cluster(directory, bin_dir, timeout=300) as cluster:
        start_argocd(cluster, argocd_bin, timeout=300, extra_args=extra_args)
        yield cluster


EXEC_PLUGIN = """
import json, sys
cert, key = (open(p).read() for p in sys.argv[1:3])
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"clientCertificateData": cert, "clientKeyData": key}}))
"""


def exec_plugin_kubeconfig(kubeconfig: str | Path, directory: Path) -> Path:
    """A copy of a local cluster's kubeconfig, written in `directory`, whose user gets the same client
    certificate from an exec credential plugin (run by our exec credential support)."""
    doc = yaml.safe_load(Path(kubeconfig).read_text())
    user = doc["users"][0]["user"]
    plugin = directory / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)
    doc["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                                        "args": [str(plugin), user["client-certificate"], user["client-key"]],
                                        "interactiveMode": "Never"}}
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


class RecordingTransport:
    """The real transport, noting each request's method and path (query dropped) and how many were in flight."""

    def __init__(self, inner):
        self.inner = inner
        self.server = inner.server
        self.sent: list[tuple[str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def exchange(self, method, target, headers, body, timeout):
        self.sent.append((method, target.split("?", 1)[0]))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self.inner.exchange(method, target, headers, body, timeout)
        finally:
            self.in_flight -= 1

    async def aclose(self):
        await self.inner.aclose()


def recording_cluster(kubeconfig, **kwargs):
    """A real Cluster whose transport is a RecordingTransport (as `cluster.client.transport`)."""
    from bootstrap.kube import Cluster
    from bootstrap.kube.client import aiohttp_transport

    return Cluster(str(kubeconfig), transport=lambda *args: RecordingTransport(aiohttp_transport(*args)), **kwargs)
