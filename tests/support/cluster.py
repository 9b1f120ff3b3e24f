"""A local cluster for the length of a fixture: started in a directory, always stopped."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bootstrap.localcluster import LocalCluster


@contextmanager
def started_cluster(directory: Path, bin_dir: Path, *, timeout: float = 120) -> Iterator[LocalCluster]:
    """A cluster in `directory` ready within `timeout` seconds, stopped on the way out whatever happens."""
    cluster = LocalCluster(directory, bin_dir)
    cluster.start(timeout=timeout)
    try:
        yield cluster
    finally:
        cluster.stop()


EXEC_PLUGIN = """
import json, sys
cert, key = (open(p).read() for p in sys.argv[1:3])
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"clientCertificateData": cert, "clientKeyData": key}}))
"""


def exec_plugin_kubeconfig(kubeconfig: str | Path, directory: Path) -> Path:
    """A copy of a local cluster's kubeconfig, written in `directory`, whose user gets the same client
    certificate from an exec credential plugin (so a connection goes through the `kubernetes` package)."""
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
