"""A local cluster for the length of a fixture: started in a directory, always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
