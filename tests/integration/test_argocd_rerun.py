"""A restore run again after a fix is judged on Argo CD's fresh verdict (issue 29): the hand-over asks Argo CD to
refresh every Application of the restored tree it last compared before the run (`argocd.argoproj.io/refresh`, as
`argocd app get --refresh`), and does not judge one while that request is pending.

The demo repository of `make drill ENGINE=argocd` with a child Application whose path is missing: the first
restore fails (exit 6, Argo CD's ComparisonError). The path is pushed, and the restore run again: without the
refresh, Argo CD shows the old ComparisonError until its next resync (an hour here: `--app-resync=3600`) and the
re-run fails on it (checked: with `request_refresh` left out, the re-run exits 6 with the stale error)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from drb_localcluster import LocalCluster
from drb_localcluster.gitserve import GitServer
from tests.integration.conftest import run_cli
from tests.support.argocd_demo import BROKEN_APP, push_fix, served_demo
from tests.support.cluster import started_argocd_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def argocd_cluster(tmp_path_factory, control_plane_bin, argocd_bin) -> Iterator[LocalCluster]:
    """tests/conftest.py's, but with no resync while the test runs: a verdict stays as it is until something asks
    Argo CD to compare again."""
    with started_argocd_cluster(tmp_path_factory.mktemp("argocd-rerun") / "cluster", control_plane_bin, argocd_bin,
                                extra_args={"argocd-application-controller": ["--app-resync=3600"]}) as cluster:
        yield cluster


def restore(url: str, key_file: Path, kubeconfig: Path):
    return run_cli("restore", url, "--yes", "--engine", "argocd", "--path", "bootstrap", "--age-key-file",
                   str(key_file), "--key-secret", "argocd/sops-age", "--kubeconfig", str(kubeconfig),
                   "--wait-gitops", "--timeout", "300", timeout=900)


def test_a_rerun_after_the_fix_is_judged_on_a_fresh_comparison(argocd_cluster, tmp_path):
    with GitServer(tmp_path / "srv") as server:
        demo, url = served_demo(tmp_path / "demo", server, red=True)
        first = restore(url, demo.key_file, argocd_cluster.kubeconfig)
        assert first.code == 6 and "app path does not exist" in first.stdout, first
        push_fix(demo, server)
        again = restore(url, demo.key_file, argocd_cluster.kubeconfig)
    assert again.code == 0, again
    assert "asked Argo CD to refresh " in again.stdout and "it last compared before this restore" in again.stdout
    with Cluster(str(argocd_cluster.kubeconfig)) as kube:
        app = kube.get(ObjectRef("argoproj.io/v1alpha1", "Application", "argocd", BROKEN_APP))
        found = kube.get(ObjectRef("v1", "ConfigMap", "demo-broken", "found"))
    assert app["status"]["sync"]["status"] == "Synced" and "argocd.argoproj.io/refresh" not in (
        app["metadata"].get("annotations") or {}), app["status"]
    assert found is not None and found["data"] == {"at": "last"}
