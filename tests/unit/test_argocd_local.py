"""How drb_localcluster.argocd sets up the Argo CD components (no cluster, no build): the settings objects
the controllers find, the environment that points "in-cluster" at the cluster's kubeconfig, and the command
lines that keep every component on loopback and tied to its cluster dir."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from drb_localcluster import argocd

PORTS = argocd.ArgoCDPorts(*range(7001, 7008))


def test_settings_carry_the_label_argo_cds_informers_select():
    objects = {(o["kind"], o["metadata"]["name"]): o for o in argocd.settings_objects()}
    assert set(objects) == {("Namespace", "argocd"), ("ConfigMap", "argocd-cm"), ("ConfigMap", "argocd-rbac-cm"),
                            ("Secret", "argocd-secret"), ("AppProject", "default")}
    for key in (("ConfigMap", "argocd-cm"), ("ConfigMap", "argocd-rbac-cm"), ("Secret", "argocd-secret")):
        assert objects[key]["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}
    assert objects[("AppProject", "default")]["spec"]["destinations"] == [{"server": "*", "namespace": "*"}]


def test_object_paths_and_an_unknown_kind():
    assert argocd.object_path({"kind": "AppProject", "metadata": {"name": "default", "namespace": "argocd"}}) == \
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/default"
    with pytest.raises(argocd.ArgoCDError, match="cannot apply Deployment/x"):
        argocd.object_path({"kind": "Deployment", "metadata": {"name": "x", "namespace": "y"}})


def test_environment_fakes_in_cluster_with_the_clusters_kubeconfig(tmp_path):
    base = {"PATH": "/usr/bin", "KUBECONFIG": "/elsewhere", "ARGOCD_FAKE_IN_CLUSTER": "false", "GIT_DIR": "/x"}
    env = argocd.component_env("argocd-application-controller", tmp_path / "kubeconfig", tmp_path / "argocd",
                               tmp_path / "argocd" / "askpass.sock", base)
    assert env["KUBECONFIG"] == str(tmp_path / "kubeconfig") and env["ARGOCD_FAKE_IN_CLUSTER"] == "true"
    assert "GIT_DIR" not in env and env["PATH"] == "/usr/bin" and env["ARGOCD_GPG_ENABLED"] == "false"
    assert all(env[k].startswith(str(tmp_path)) for k in ("TMPDIR", "HOME", "ARGOCD_ASK_PASS_SOCK", "ARGOCD_SSH_DATA_PATH"))


def test_the_bin_dir_goes_first_on_path_so_git_finds_argocds_ask_pass(tmp_path):
    """The repo-server sets GIT_ASKPASS=argocd: git finds it on PATH (a private repository's credentials); and it
    runs helm for Helm sources."""
    env = argocd.component_env("argocd-repo-server", tmp_path / "kubeconfig", tmp_path / "argocd",
                               tmp_path / "argocd" / "askpass.sock", {"PATH": "/usr/bin"},
                               bin_dirs=[tmp_path / "bin", tmp_path / "helm"])
    assert env["PATH"] == f"{tmp_path / 'bin'}:{tmp_path / 'helm'}:/usr/bin"


def test_command_lines_stay_on_loopback_and_name_the_cluster_dir(tmp_path):
    links = tmp_path / "argocd" / "bin"
    controller = argocd.controller_argv(links / "argocd-application-controller", tmp_path / "kubeconfig", PORTS)
    assert "--repo-server=127.0.0.1:7002" in controller and "--redis=127.0.0.1:7001" in controller
    assert "--repo-server-plaintext" in controller and "--namespace=argocd" in controller
    repo = argocd.repo_server_argv(links / "argocd-repo-server", PORTS)
    assert {"--address=127.0.0.1", "--disable-tls", "--metrics-address=127.0.0.1"} <= set(repo)
    appset = argocd.appset_controller_argv(links / "argocd-applicationset-controller", tmp_path / "kubeconfig", PORTS)
    assert {"--metrics-addr=127.0.0.1:7005", "--probe-addr=127.0.0.1:7006", "--webhook-addr=127.0.0.1:7007"} <= set(appset)
    redis = argocd.redis_argv(tmp_path / "argocd", PORTS)
    assert redis[redis.index("--bind") + 1] == "127.0.0.1"
    for argv in (controller, repo, appset, redis):
        assert any(str(tmp_path) in arg for arg in argv)  # what procs.owned() checks before a signal


def test_crds_must_be_the_three_argo_cd_kinds(tmp_path: Path):
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / "x.yaml").write_text("kind: CustomResourceDefinition\nmetadata:\n  name: other.example.com\n")
    with pytest.raises(argocd.ArgoCDError, match="does not hold exactly applications.argoproj.io"):
        argocd.crd_objects(tmp_path)


def test_a_missing_build_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("DRB_ARGOCD_BIN", str(tmp_path / "nothing"))
    with pytest.raises(argocd.ArgoCDError, match="make argocd"):
        argocd.find_argocd_bin_dir()


def test_the_ask_pass_socket_of_a_deep_cluster_dir_stays_short_even_when_tmpdir_is_deep(tmp_path, monkeypatch):
    """A unix socket path must stay under 108 bytes: a deep cluster dir under a deep $TMPDIR (the wheel test's)
    puts the socket in a short directory of /tmp instead of failing."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(deep))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches the temp dir it found
    sock = argocd._askpass_socket(deep / "cluster" / "argocd")
    assert len(str(sock)) < 100 and sock.parent.is_dir() and str(sock).startswith("/tmp/drb-argocd-"), sock
