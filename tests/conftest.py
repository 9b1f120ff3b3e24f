"""Shared fixtures. Cluster fixtures start a real local control plane lazily, only for tests that ask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from drb_localcluster import LocalCluster, LocalClusterError, find_bin_dir, fluxoperator
from tests.support.cluster import started_argocd_cluster, started_cluster
from tests.support.gitserver import GitHttpServer
from tests.support.sops import AgeKey, new_age_key, write_key_file


@pytest.fixture(scope="session")
def control_plane_bin() -> Path:
    """The built control-plane binaries (`make control-plane`); fails, never skips, when missing."""
    try:
        return find_bin_dir()
    except LocalClusterError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory, control_plane_bin) -> Iterator[LocalCluster]:
    """One cluster for the whole session; tests use `.kubeconfig` and must not rely on a pristine state
    (use unique namespaces)."""
    with started_cluster(tmp_path_factory.mktemp("cluster"), control_plane_bin) as cluster:
        yield cluster


@pytest.fixture
def fresh_cluster(tmp_path, control_plane_bin) -> Iterator[LocalCluster]:
    """A cluster of its own for one test (about a warm start's cost, see docs/local-cluster.md)."""
    with started_cluster(tmp_path / "cluster", control_plane_bin) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def flux_bin_dir() -> Path:
    """The flux CLI, kustomize and the Flux controllers (`make flux`; built here when missing); a failed
    build fails the test, never skips it."""
    from tests.support.flux import flux_bin_dir as built

    return built()


@pytest.fixture(scope="session")
def argocd_bin() -> Path:
    """The Argo CD build (`make argocd`) with redis (`make debs`). `make test` builds both and sets
    DRB_REQUIRE_ARGOCD=1, so there a missing one fails the test; elsewhere the test skips, naming it."""
    from drb_localcluster import ArgoCDError, find_argocd_bin_dir  # deferred: optional (Argo CD tests only)
    from drb_localcluster.argocd import REDIS_SERVER  # deferred: optional (Argo CD tests only)

    missing = pytest.fail if os.environ.get("DRB_REQUIRE_ARGOCD") == "1" else pytest.skip
    try:
        bin_dir = find_argocd_bin_dir()
    except ArgoCDError as exc:
        missing(f"Argo CD not built: {exc}")
    if not REDIS_SERVER.is_file():
        missing(f"{REDIS_SERVER} is not installed (`make debs`)")
    return bin_dir


@pytest.fixture
def fresh_flux_cluster(tmp_path, control_plane_bin, flux_bin_dir) -> Iterator[LocalCluster]:
    """A cluster of its own for one test that also runs source-, kustomize- and helm-controller as host
    processes; each starts once its CRDs are Established (apply Flux's manifests, then `.wait_flux()`)."""
    with started_cluster(tmp_path / "cluster", control_plane_bin, flux=True, flux_bin_dir=flux_bin_dir) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def operator_dir() -> Path:
    """flux-operator's build (`make flux-operator`: the binary, data/, crd/); fails, never skips, when missing."""
    try:
        return fluxoperator.find_operator_dir()
    except fluxoperator.FluxOperatorBuildError as exc:
        pytest.fail(f"{exc} (make flux-operator)", pytrace=False)


@pytest.fixture
def operator_cluster(tmp_path, control_plane_bin, flux_bin_dir, operator_dir) -> Iterator[LocalCluster]:
    """A cluster of its own for one test with the Flux controllers and flux-operator as host processes;
    kustomize-controller gets `--sops-age-secret=sops-age`, the flag a FluxInstance patch gives the operator's
    Deployment (tests.support.operatorrepos.PATCHES)."""
    with started_cluster(tmp_path / "cluster", control_plane_bin, flux=True, flux_bin_dir=flux_bin_dir,
                         flux_operator=True,
                         flux_args={"kustomize-controller": ["--sops-age-secret=sops-age"]}) as cluster:
        yield cluster


# ------------------------------------------------------------------- the Argo CD tests' (module scope: each
# test module that asks gets its own, which its tests share; xdist's --dist loadfile keeps a module together)


@pytest.fixture(scope="module")
def argocd_cluster(tmp_path_factory, control_plane_bin, argocd_bin) -> Iterator[LocalCluster]:
    """A cluster running the real Argo CD's controllers (tests.support.cluster.started_argocd_cluster)."""
    with started_argocd_cluster(tmp_path_factory.mktemp("argocd") / "cluster", control_plane_bin,
                                argocd_bin) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def argocd_key(tmp_path_factory) -> tuple[AgeKey, Path]:
    """An age key and its key file."""
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("argocd-key") / "age.agekey", age)


@pytest.fixture(scope="module")
def argocd_git_server(tmp_path_factory) -> Iterator[tuple[GitHttpServer, Path]]:
    """A Git HTTP server and the root its bare repositories are published under (tests.support.gitserver)."""
    root = tmp_path_factory.mktemp("argocd-srv")
    with GitHttpServer(root) as served:
        yield served, root
