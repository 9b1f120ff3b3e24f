"""The Flux controller supervisor of the local cluster (drb_localcluster/flux.py): its pure rules, and
its loop around real child processes (a shell stands in for the controller; the CRD list is a function)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from drb_localcluster import flux
from drb_localcluster.cluster import free_port


def crd(name: str, established: str | None = "True") -> dict:
    conditions = [] if established is None else [{"type": "Established", "status": established}]
    return {"metadata": {"name": name}, "status": {"conditions": conditions}}


def test_missing_crds_counts_only_established_ones():
    wanted = ["a.x", "b.x", "c.x"]
    assert flux.missing_crds(wanted, [crd("a.x"), crd("b.x", "False"), crd("d.x")]) == ["b.x", "c.x"]
    assert flux.missing_crds(wanted, [crd("a.x"), crd("b.x"), crd("c.x")]) == []
    assert flux.missing_crds(["a.x"], [crd("a.x", None), {"metadata": {"name": "a.x"}}]) == ["a.x"]


def test_backoff_doubles_to_a_ceiling_and_starts_over_after_a_healthy_run():
    assert flux.next_backoff(0, ran_for=0.1) == 1.0
    assert flux.next_backoff(1.0, ran_for=0.1) == 2.0
    assert flux.next_backoff(16.0, ran_for=0.1) == 30.0
    assert flux.next_backoff(30.0, ran_for=0.1) == 30.0
    assert flux.next_backoff(30.0, ran_for=61) == 1.0


def test_every_controller_waits_for_the_source_crds_it_reads_artifacts_from():
    source = set(flux.CONTROLLER_CRDS["source-controller"])
    assert "gitrepositories.source.toolkit.fluxcd.io" in source
    assert set(flux.CONTROLLER_CRDS["kustomize-controller"]) == source | {"kustomizations.kustomize.toolkit.fluxcd.io"}
    assert set(flux.CONTROLLER_CRDS["helm-controller"]) == source | {"helmreleases.helm.toolkit.fluxcd.io"}


def test_controller_command_line_and_environment(tmp_path):
    ports = flux.FluxPorts.pick(free_port)
    assert len({ports.storage, *ports.health.values()}) == 4
    argv = flux.controller_argv("source-controller", Path("/bin"), tmp_path, ports, ["--concurrent=1"])
    addr = f"127.0.0.1:{ports.storage}"
    assert argv[0] == "/bin/source-controller" and argv[-1] == "--concurrent=1"
    assert {"--enable-leader-election=false", "--metrics-addr=0", "--events-addr=", f"--storage-addr={addr}",
            f"--storage-adv-addr={addr}", f"--health-addr=127.0.0.1:{ports.health['source-controller']}",
            f"--storage-path={tmp_path / 'source-controller' / 'storage'}"} <= set(argv)
    assert not any(a.startswith("--storage") for a in flux.controller_argv("helm-controller", Path("/b"), tmp_path, ports))
    env = flux.controller_env("helm-controller", tmp_path / "kubeconfig", tmp_path,
                              {"PATH": "/usr/bin", "KUBECONFIG": "/elsewhere", "HELM_CACHE_HOME": "/elsewhere"})
    assert env["KUBECONFIG"] == str(tmp_path / "kubeconfig") and env["RUNTIME_NAMESPACE"] == "flux-system"
    assert all(env[k].startswith(str(tmp_path / "helm-controller")) for k in ("TMPDIR", "HOME", "HELM_CACHE_HOME"))
    assert env["PATH"] == "/usr/bin"


def supervisor(tmp_path: Path, script: str, listing) -> flux.Supervisor:
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path / "tmp"), "HOME": str(tmp_path / "home")}
    return flux.Supervisor("test-controller", ["sh", "-c", script], ["a.x"], listing, env, poll=0.01,
                           initial_backoff=0.01)


@pytest.mark.timeout(60)
def test_supervisor_starts_the_controller_once_its_crds_exist_and_restarts_it_when_it_exits(tmp_path):
    starts = tmp_path / "starts"
    calls: list[int] = []  # how many controller starts each CRD listing saw before it

    def listing():
        seen = len(starts.read_text().splitlines()) if starts.exists() else 0
        calls.append(seen)
        if seen >= 2:
            sup.stop()
        return [crd("a.x")] if len(calls) > 3 else [crd("a.x", "False")]

    sup = supervisor(tmp_path, f"echo started >> {starts}; exit 7", listing)
    assert sup.run() == 0
    assert calls[:4] == [0, 0, 0, 0]  # three listings without the CRD: no start
    assert starts.read_text().splitlines() == ["started", "started"]  # started, exited 7, started again
    assert (tmp_path / "tmp").is_dir() and (tmp_path / "home").is_dir()


@pytest.mark.timeout(60)
def test_supervisor_stop_terminates_the_running_controller(tmp_path):
    ready = tmp_path / "ready"
    sup = supervisor(tmp_path, f"trap 'echo term > {tmp_path}/got; exit 0' TERM; touch {ready}; "
                               "while :; do sleep 0.05; done", lambda: [crd("a.x")])
    runner = threading.Thread(target=sup.run)
    runner.start()
    try:
        while not ready.exists():
            assert runner.is_alive()
            threading.Event().wait(0.02)
        sup.stop()
        runner.join(30)
        assert not runner.is_alive()
    finally:
        sup.stop()
        runner.join(30)
    assert (tmp_path / "got").read_text().strip() == "term"
    assert sup.child is not None and sup.child.returncode == 0
