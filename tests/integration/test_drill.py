"""`dr-bootstrap drill` end to end (issue 7): green drills, negative controls, evidence, history, teardown.

Drills on their own throwaway local clusters run a few at a time in one module fixture (each in its own
TMPDIR, so the cluster processes it spawns can be told apart); drills into `--cluster current` use the
shared session cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bootstrap import __version__
from bootstrap.commands.demo import DemoRepo, build
from bootstrap.commands.drill import INJECTIONS as ALL_INJECTIONS

# key-format breaks what Flux reads: it needs a repo that installs Flux and the real controllers, so it runs
# in tests/integration/test_handover.py; the demo repo here has no Flux
INJECTIONS = {name: i for name, i in ALL_INJECTIONS.items() if name != "key-format"}
from tests.integration.conftest import REPO_ROOT, CliResult, clean_env, git, read_json, run_cli

pytestmark = pytest.mark.cluster

CLUSTER_BINARIES = ("kube-apiserver", "etcd", "kwok", "kube-controller-manager", "kube-scheduler")
PARALLEL_DRILLS = 2  # throwaway clusters at once: enough overlap to save minutes, few enough for 2 cores
EVIDENCE_FIELDS = {
    "schemaVersion", "kind", "verdict", "inject", "expected", "commit", "repo", "ref", "toolVersion", "cluster",
    "started", "finished", "rtoSeconds", "bootstrapSeconds", "convergedSeconds", "phases", "objectsRestored", "failures", "checks", "restoreResult",
    "error", "rtoRegression", "secondsSinceLastGreen",
}
DEMO_OBJECTS = 16  # 15 objects in bootstrap/data/demo (with the generated app-env Secret) + the key Secret


def cluster_processes(marker: Path) -> list[str]:
    """Command lines of live processes naming `marker` (a drill's TMPDIR), as `pgrep -af` shows them."""
    done = subprocess.run(["pgrep", "-af", str(marker)], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if line.strip()]


@dataclass
class Drill:
    """One drill subprocess on a throwaway local cluster, watched for the processes it spawns."""

    name: str
    argv: list[str]
    tmpdir: Path
    out: Path
    env: dict[str, str] = field(default_factory=clean_env)
    seen: set[str] = field(default_factory=set)  # cluster binaries observed while it ran
    result: CliResult | None = None
    left_behind: list[str] = field(default_factory=list)

    def run(self) -> "Drill":
        self.tmpdir.mkdir(parents=True)
        started = time.monotonic()
        stdout, stderr = self.out / "stdout.txt", self.out / "stderr.txt"
        with stdout.open("w") as out, stderr.open("w") as err:
            proc = subprocess.Popen(self.argv, cwd=REPO_ROOT, env={**self.env, "TMPDIR": str(self.tmpdir)},
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            while proc.poll() is None:
                for line in cluster_processes(self.tmpdir):
                    self.seen |= {b for b in CLUSTER_BINARIES if f"/{b} " in line}
                time.sleep(0.3)
        self.result = CliResult(proc.returncode, stdout.read_text(), stderr.read_text(), time.monotonic() - started)
        self.left_behind = cluster_processes(self.tmpdir)
        return self

    @property
    def evidence(self) -> dict:
        return read_json(self.out / "evidence.json")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoRepo:
    return build(tmp_path_factory.mktemp("demo"))


def drill_argv(repo: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bootstrap", "drill", str(repo), "--evidence", str(out / "evidence.json"),
            "--junit", str(out / "junit.xml"), "--timeout", "120", *extra]


@pytest.fixture(scope="module")
def local_drills(demo, tmp_path_factory) -> dict[str, Drill]:
    """The green drill, every negative control and `make drill`'s script, each on its own local cluster."""
    base = tmp_path_factory.mktemp("drills")
    drills = []
    for name in ["green", *INJECTIONS, "make-drill"]:
        out = base / name / "out"
        out.mkdir(parents=True)
        if name == "make-drill":
            argv = ["bash", "hack/drill-demo.sh", "--timeout", "120"]
            drills.append(Drill(name, argv, base / name / "tmp", out,
                                env=clean_env(PY=sys.executable, OUT=str(out))))
            continue
        extra = ["--history", str(out / "history.json")] if name == "green" else ["--inject", name]
        argv = drill_argv(demo.repo, out, "--age-key-file", str(demo.key_file), *extra)
        drills.append(Drill(name, argv, base / name / "tmp", out))
    with ThreadPoolExecutor(PARALLEL_DRILLS) as pool:
        return {d.name: d for d in pool.map(Drill.run, drills)}


# ------------------------------------------------------------------------------------------ the green drill


def test_green_drill_passes_with_complete_evidence(local_drills, demo):
    drill = local_drills["green"]
    assert drill.result.code == 0, drill.result
    assert "drill PASS" in drill.result.stdout
    evidence = drill.evidence
    assert set(evidence) == EVIDENCE_FIELDS
    assert evidence["kind"] == "RestoreDrillEvidence" and evidence["verdict"] == "pass"
    assert evidence["inject"] is None and evidence["error"] is None and evidence["failures"] == []
    assert evidence["commit"] == git(demo.repo, "rev-parse", "HEAD")
    assert evidence["toolVersion"] == __version__
    assert evidence["cluster"]["kind"] == "local"
    assert evidence["cluster"]["kubernetesVersion"].startswith("v1.")
    assert evidence["cluster"]["setupSeconds"] > 0
    assert evidence["objectsRestored"] == DEMO_OBJECTS
    assert evidence["checks"] and all(isinstance(c, str) for c in evidence["checks"])
    names = [p["name"] for p in evidence["phases"]]
    assert names[:4] == ["clone", "render", "validate", "install-key"]
    assert {"platform: apply", "platform: verify", "apps: apply", "apps: verify"} <= set(names)
    assert all(p["result"] == "succeeded" for p in evidence["phases"])
    # the RTO is the restore, not the throwaway cluster around it
    assert sum(p["seconds"] for p in evidence["phases"]) <= evidence["rtoSeconds"]
    assert evidence["cluster"]["setupSeconds"] > 0  # measured apart from the RTO
    assert datetime.fromisoformat(evidence["started"].replace("Z", "+00:00")) < datetime.fromisoformat(
        evidence["finished"].replace("Z", "+00:00"))


def test_green_drill_writes_junit_and_history(local_drills):
    drill = local_drills["green"]
    root = ET.parse(drill.out / "junit.xml").getroot()
    assert root.get("failures") == "0"
    suites = [s.get("name") for s in root.findall("testsuite")]
    assert suites == [p["name"] for p in drill.evidence["phases"]] + ["run"]
    assert len(root.findall("testsuite[@name='apps: apply']/testcase")) == 11
    history = read_json(drill.out / "history.json")
    assert [(r["verdict"], r["inject"], r["cluster"]) for r in history["runs"]] == [("pass", None, "local")]
    assert history["runs"][0]["rtoSeconds"] == drill.evidence["rtoSeconds"]


def test_drills_tear_their_cluster_down(local_drills):
    for name, drill in local_drills.items():
        assert {"kube-apiserver", "etcd", "kwok"} <= drill.seen, f"{name}: the watcher never saw the cluster"
        assert drill.left_behind == [], f"{name} left processes behind: {drill.left_behind}"
        assert not any(drill.tmpdir.iterdir()), f"{name} left files in its temp dir: {list(drill.tmpdir.iterdir())}"


def test_make_drill_script_leaves_passing_evidence(local_drills):
    drill = local_drills["make-drill"]
    assert drill.result.code == 0, drill.result
    evidence = drill.evidence
    assert evidence["verdict"] == "pass" and evidence["cluster"]["kind"] == "local"
    assert evidence["objectsRestored"] == DEMO_OBJECTS
    assert ET.parse(drill.out / "junit.xml").getroot().get("failures") == "0"
    assert len(read_json(drill.out / "history.json")["runs"]) == 1


# ------------------------------------------------------------------------------------------ negative controls


@pytest.mark.parametrize("name", list(INJECTIONS))
def test_negative_control_passes_because_the_restore_failed_as_expected(local_drills, name):
    drill, injection = local_drills[name], INJECTIONS[name]
    assert drill.result.code == 0, drill.result
    assert "drill PASS" in drill.result.stdout and f"negative control {name}" in drill.result.stdout
    evidence = drill.evidence
    assert evidence["verdict"] == "pass" and evidence["inject"] == name
    assert evidence["expected"] == {"exitCode": int(injection.exit_code), "cause": injection.cause}
    assert evidence["restoreResult"] == "failed"
    assert evidence["error"]["exitCode"] == int(injection.exit_code)
    assert injection.cause in evidence["error"]["message"].lower()
    assert evidence["cluster"]["kind"] == "local"


def test_negative_controls_fail_where_they_should(local_drills):
    """Where each control breaks the restore: nothing applied for bad input, a named workload for rollouts."""
    for name in ("wrong-key", "tampered-file", "missing-crd"):
        evidence = local_drills[name].evidence
        assert evidence["objectsRestored"] == 0, name
        assert evidence["phases"][-1]["result"] == "failed"
        assert evidence["phases"][-1]["name"] in ("render", "validate"), name
    for name in ("crashloop", "missing-secret-key"):
        evidence = local_drills[name].evidence
        assert evidence["objectsRestored"] == DEMO_OBJECTS, name
        assert (evidence["phases"][-1]["name"], evidence["phases"][-1]["result"]) == ("apps: verify", "failed")
        causes = [f["object"] for f in evidence["failures"] if f["object"]]
        assert causes == ["Deployment/demo/web"], (name, evidence["failures"])


# ------------------------------------------------------------------------------------------ current cluster


def current_drill(demo: DemoRepo, local_cluster, out: Path, *extra: str, env: dict | None = None,
                  stdin: str | None = None) -> CliResult:
    out.mkdir(parents=True, exist_ok=True)
    argv = drill_argv(demo.repo, out, "--cluster", "current", "--kubeconfig", str(local_cluster.kubeconfig), *extra)
    return run_cli(*argv[3:], env=env, stdin=stdin)


def key_text(demo: DemoRepo) -> str:
    return demo.key_file.read_text()


def test_current_cluster_needs_yes_when_nobody_answers(demo, local_cluster, tmp_path):
    result = current_drill(demo, local_cluster, tmp_path, "--age-key-file", str(demo.key_file))
    assert result.code == 2, result
    assert "--cluster current: not confirmed" in result.stderr
    assert not (tmp_path / "evidence.json").exists()


def test_key_from_sops_age_key_and_seconds_since_last_green(demo, local_cluster, local_drills, tmp_path):
    history = local_drills["green"].out / "history.json"
    result = current_drill(demo, local_cluster, tmp_path, "--yes", "--history", str(history),
                           env=clean_env(SOPS_AGE_KEY=key_text(demo)))
    assert result.code == 0, result
    evidence = read_json(tmp_path / "evidence.json")
    assert evidence["verdict"] == "pass" and evidence["cluster"]["kind"] == "current"
    green_finished = datetime.fromisoformat(local_drills["green"].evidence["finished"].replace("Z", "+00:00"))
    since = (datetime.fromisoformat(evidence["finished"].replace("Z", "+00:00")) - green_finished).total_seconds()
    assert 0 < evidence["secondsSinceLastGreen"] <= since + 1
    assert [r["cluster"] for r in read_json(history)["runs"]] == ["local", "current"]


def test_key_from_stdin_and_rto_regression_against_a_fast_history(demo, local_cluster, tmp_path):
    history = tmp_path / "history.json"
    long_ago = datetime.now(timezone.utc) - timedelta(days=1)
    history.write_text(json.dumps({"schemaVersion": 1, "runs": [
        {"finished": (long_ago + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"), "verdict": "pass",
         "inject": None, "rtoSeconds": 0.01, "commit": "0" * 40, "toolVersion": __version__, "cluster": "local"}
        for i in range(5)]}))
    result = current_drill(demo, local_cluster, tmp_path / "out", "--yes", "--age-key-file", "-",
                           "--history", str(history), stdin=key_text(demo))
    assert result.code == 0, result  # a regression is reported, not a failed drill
    evidence = read_json(tmp_path / "out" / "evidence.json")
    regression = evidence["rtoRegression"]
    assert regression["medianSeconds"] == 0.01 and regression["rtoSeconds"] == evidence["rtoSeconds"]
    assert regression["factor"] > 1.3
    assert "REGRESSION" in result.stdout
    assert 86_000 < evidence["secondsSinceLastGreen"] < 87_000  # the last forged run, a day ago minus 4 minutes
    assert len(read_json(history)["runs"]) == 6


def test_failed_drill_still_writes_evidence(demo, local_cluster, tmp_path):
    from tests.support.sops import new_age_key, write_key_file

    wrong = write_key_file(tmp_path / "wrong.agekey", new_age_key())
    result = current_drill(demo, local_cluster, tmp_path / "out", "--yes", "--age-key-file", str(wrong))
    assert result.code == 4, result  # a real failure: the restore's exit code
    evidence = read_json(tmp_path / "out" / "evidence.json")
    assert evidence["verdict"] == "fail" and evidence["restoreResult"] == "failed"
    assert evidence["error"]["exitCode"] == 4 and evidence["failures"]
    assert ET.parse(tmp_path / "out" / "junit.xml").getroot().get("failures") != "0"


# ------------------------------------------------------------------------------------------ the CI example

WORKFLOW = REPO_ROOT / "examples" / "github-actions" / "restore-drill.yml"


def workflow_step(workflow: dict, name: str) -> dict:
    return next(step for step in workflow["jobs"]["drill"]["steps"] if step.get("name") == name)


def test_example_workflow_runs_its_drill_step_as_written(demo, local_cluster, tmp_path):
    """The example's Drill step, GitHub expressions replaced by a local repo and commit, against a cluster."""
    import yaml

    workflow = yaml.safe_load(WORKFLOW.read_text())
    drill_step = workflow_step(workflow, "Drill")
    assert drill_step["env"]["SOPS_AGE_KEY"] == "${{ secrets.SOPS_AGE_KEY }}"  # the key: from a secret, via env
    assert "SOPS_AGE_KEY" not in drill_step["run"] and "--age-key-file" not in drill_step["run"]
    for required in ("--cluster current --yes", "--evidence", "--junit"):
        assert required in " ".join(drill_step["run"].split()), required
    kind_step = next(s for s in workflow["jobs"]["drill"]["steps"] if s.get("uses", "").startswith("helm/kind-action"))
    assert kind_step["with"]["cluster_name"]
    upload = workflow_step(workflow, "Upload the evidence and JUnit report")
    assert upload["if"] == "always()" and upload["uses"].startswith("actions/upload-artifact@")
    assert "evidence.json" in upload["with"]["path"] and "junit.xml" in upload["with"]["path"]

    script = (drill_step["run"]
              .replace("${{ github.server_url }}/${{ github.repository }}.git", str(demo.repo))
              .replace("${{ github.sha }}", git(demo.repo, "rev-parse", "HEAD")))
    assert "${{" not in script
    env = clean_env(SOPS_AGE_KEY=key_text(demo), GIT_TOKEN="unused-for-a-local-repo", OUT=str(tmp_path / "out"),
                    GITOPS_PATH=".", KUBECONFIG=str(local_cluster.kubeconfig),
                    PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    evidence = read_json(tmp_path / "out" / "evidence.json")
    assert evidence["verdict"] == "pass" and evidence["ref"] == git(demo.repo, "rev-parse", "HEAD")
    assert (tmp_path / "out" / "junit.xml").exists() and (tmp_path / "drill-history.json").exists()
    assert "AGE-SECRET-KEY" not in done.stdout + done.stderr
