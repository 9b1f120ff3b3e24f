"""`make drill ENGINE=argocd` and `dr-bootstrap drill --engine argocd --cluster local` end to end (issue 29): the
secret-zero demo repository (bootstrap/data/demo-argocd) served by a loopback `git http-backend`
(drb_localcluster.gitserve), restored onto a throwaway local cluster running the real Argo CD
(start_argocd), which syncs the rest; evidence with the RTO, and the cluster always torn down.

Green: `hack/drill-demo.sh` with ENGINE=argocd (bootstrap.commands.demo_argocd builds, serves and drills).
Red: the same repository with a child Application whose path is not in it: the drill fails (exit 6) in the
`gitops` phase with Argo CD's ComparisonError, naming the Application.

Skipped (failed under `make test`) when the Argo CD build or redis is missing, as every Argo CD test."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest

from drb_localcluster.gitserve import GitServer
from tests.integration.conftest import clean_env, read_json, run_cli
from tests.integration.test_drill import Drill
from tests.support.argocd_demo import BROKEN_APP, MISSING_PATH, SECRET_ZERO, served_demo
from tests.support.sops import new_age_key, write_key_file

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def argocd_drills(tmp_path_factory, control_plane_bin, argocd_bin) -> dict[str, Drill]:
    base = tmp_path_factory.mktemp("argocd-drills")
    green_out, red_out = base / "green" / "out", base / "red" / "out"
    green_out.mkdir(parents=True)
    red_out.mkdir(parents=True)
    green = Drill("green", ["bash", "hack/drill-demo.sh", "--timeout", "300"], base / "green" / "tmp", green_out,
                  env=clean_env(PY=sys.executable, OUT=str(green_out), ENGINE="argocd"))
    with GitServer(base / "red" / "srv") as server:
        demo, url = served_demo(base / "red" / "repo", server, red=True)
        red = Drill("red", [sys.executable, "-m", "bootstrap", "drill", url, "--engine", "argocd", "--cluster", "local",
                            "--path", "bootstrap", "--age-key-file", str(demo.key_file), "--key-secret",
                            "argocd/sops-age", "--wait-gitops", "--timeout", "300",
                            "--evidence", str(red_out / "evidence.json")], base / "red" / "tmp", red_out)
        with ThreadPoolExecutor(2) as pool:
            return {d.name: d for d in pool.map(Drill.run, [green, red])}


def test_make_drill_argocd_passes_once_argo_cd_synced_the_repository(argocd_drills):
    drill = argocd_drills["green"]
    assert drill.result.code == 0, drill.result
    assert "drill PASS" in drill.result.stdout and "RTO" in drill.result.stdout
    evidence = drill.evidence
    assert evidence["verdict"] == "pass" and evidence["error"] is None and evidence["failures"] == []
    assert evidence["cluster"]["kind"] == "local" and evidence["cluster"]["setupSeconds"] > 0
    phases = {p["name"]: p for p in evidence["phases"]}
    assert {"install-key", "bootstrap: apply", "bootstrap: verify", "gitops"} <= set(phases)
    assert all(p["result"] == "succeeded" for p in evidence["phases"])
    assert evidence["bootstrapSeconds"] < evidence["convergedSeconds"] <= evidence["rtoSeconds"]
    assert "Argo CD synced: 3 Application(s) Synced and Healthy, 1 ApplicationSet(s)" in drill.result.stdout
    assert ET.parse(drill.out / "junit.xml").getroot().get("failures") == "0"
    assert [r["verdict"] for r in read_json(drill.out / "history.json")["runs"]] == ["pass"]
    assert SECRET_ZERO not in drill.result.stdout + drill.result.stderr


def test_an_argocd_drill_fails_fast_with_argo_cds_message(argocd_drills):
    drill = argocd_drills["red"]
    assert drill.result.code == 6, drill.result
    evidence = drill.evidence
    assert evidence["verdict"] == "fail" and evidence["restoreResult"] == "failed"
    assert evidence["error"]["exitCode"] == 6
    message = evidence["error"]["message"]
    assert f"Application/argocd/{BROKEN_APP}: ComparisonError" in message, message
    assert MISSING_PATH in message and "app path does not exist" in message, message
    assert evidence["phases"][-1]["name"] == "gitops" and evidence["phases"][-1]["result"] == "failed"


def test_argocd_drills_tear_their_cluster_down(argocd_drills):
    for name, drill in argocd_drills.items():
        assert {"kube-apiserver", "etcd", "kwok"} <= drill.seen, f"{name}: the watcher never saw the cluster"
        assert drill.left_behind == [], f"{name} left processes behind (Argo CD's among them?): {drill.left_behind}"
        assert not any(drill.tmpdir.iterdir()), f"{name} left files in its temp dir: {list(drill.tmpdir.iterdir())}"


def test_an_argocd_drill_without_the_argo_cd_build_says_how_to_build_it(control_plane_bin, tmp_path):
    """Before any cluster starts: exit 2, naming the missing build and `make argocd`."""
    key_file = write_key_file(tmp_path / "age.agekey", new_age_key())
    done = run_cli("drill", str(tmp_path / "repo"), "--engine", "argocd", "--cluster", "local", "--age-key-file",
                   str(key_file), env=clean_env(DRB_ARGOCD_BIN=str(tmp_path / "none")))
    assert done.code == 2, done
    assert f"--cluster local --engine argocd: Argo CD is not built in {tmp_path / 'none'}" in done.stdout, done
    assert "make argocd" in done.stdout
