"""Shared fixtures. Cluster fixtures start a real local control plane lazily, only for tests that ask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.localcluster import LocalCluster, LocalClusterError, find_bin_dir


@pytest.fixture(scope="session")
def control_plane_bin() -> Path:
    """The built control-plane binaries (`make control-plane`); fails, never skips, when missing."""
    try:
        return find_bin_dir()
    except LocalClusterError as exc:
        pytest.fail(str(exc), pytrace=False)


def _start(directory: Path, bin_dir: Path) -> LocalCluster:
    cluster = LocalCluster(directory, bin_dir)
    cluster.start(timeout=120)
    return cluster


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory, control_plane_bin) -> Iterator[LocalCluster]:
    """One cluster for the whole session; tests use `.kubeconfig` and must not rely on a pristine state
    (use unique namespaces)."""
    cluster = _start(tmp_path_factory.mktemp("cluster"), control_plane_bin)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_cluster(tmp_path, control_plane_bin) -> Iterator[LocalCluster]:
    """A cluster of its own for one test (about a warm start's cost, see README)."""
    cluster = _start(tmp_path / "cluster", control_plane_bin)
    try:
        yield cluster
    finally:
        cluster.stop()
