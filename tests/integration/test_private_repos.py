"""Private repositories on real servers, cloned by `dr-bootstrap` itself (bootstrap/stages/source.py):

- HTTPS with a token: git's own smart-HTTP backend behind TLS with a CA made for the test, demanding HTTP
  Basic credentials whose password is the token. git trusts the CA through GIT_SSL_CAINFO in the
  environment (dr-bootstrap has no flag for a CA bundle; git reads the variable itself).
- SSH with a deploy key and a known_hosts file: OpenSSH's sshd on a loopback port, git-shell its only command.

Each transport restores once; each credential failure (wrong token, untrusted CA, unknown or changed host
key, a key the server does not accept) ends `restore` and `plan` with exit 3 and one `error:` line naming the
repository and the cause, and the credential appears in no output and no report.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from tests.integration.conftest import CliResult, GitOpsRepo, clean_env, run_cli, unique
from tests.support.gitserver import GitHttpServer, SshGitServer, SshKey, Tls, publish, ssh_keygen

pytestmark = pytest.mark.cluster

TOKEN = "tok-" + secrets.token_hex(12)
NAMESPACE = unique("private")


@dataclass(frozen=True)
class Served:
    repo: GitOpsRepo
    root: Path
    tls: Tls
    deploy_key: SshKey
    stranger_key: SshKey


@pytest.fixture(scope="module")
def served(tmp_path_factory, make_repo) -> Served:
    files = {
        "ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n",
        "app/settings.yaml": (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {NAMESPACE}\n"
                              "data:\n  mode: private\n"),
    }
    repo = make_repo(files)
    work = tmp_path_factory.mktemp("private")
    root = work / "srv"
    publish(repo.path, root, "fleet.git")
    return Served(repo, root, Tls.make(work / "tls"), ssh_keygen(work / "keys" / "deploy"),
                  ssh_keygen(work / "keys" / "stranger"))


@pytest.fixture(scope="module")
def https(served) -> Iterator[GitHttpServer]:
    with GitHttpServer(served.root, token=TOKEN, tls=served.tls) as server:
        yield server


@pytest.fixture(scope="module")
def sshd(served, tmp_path_factory) -> Iterator[SshGitServer]:
    with SshGitServer(served.root, tmp_path_factory.mktemp("sshd"), [served.deploy_key]) as server:
        yield server


def restore_or_plan(command: str, url: str, served: Served, kubeconfig: Path, out: Path, *extra: str,
                    **env: str) -> tuple[CliResult, Path]:
    report = out / f"{command}.json"
    args = [command, url, "--age-key-file", str(served.repo.key_file), "--kubeconfig", str(kubeconfig),
            "--report", str(report), *extra]
    if command == "restore":  # into the session's shared cluster: not fresh, so --yes
        args += ["--junit", str(out / "restore.xml"), "--timeout", "120", "--yes"]
    return run_cli(*args, env=clean_env(**env)), report


def assert_one_error_line(result: CliResult, expected: str) -> None:
    assert result.code == 3, result
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [expected], result
    assert "Traceback" not in result.stderr, result


def assert_not_shown(secret: str, result: CliResult, out: Path) -> None:
    """`secret` is in neither stream nor any file the run wrote (reports) in `out`."""
    assert secret not in result.stdout and secret not in result.stderr, result
    for written in out.iterdir():
        assert secret not in written.read_text(errors="replace"), written


def private_lines(key: SshKey) -> list[str]:
    """The base64 lines of a private key file: what leaking it would show."""
    return [ln for ln in key.private.read_text().splitlines() if ln and not ln.startswith("-----")]


# ------------------------------------------------------------------------------------------ HTTPS + token


def test_https_token_clone_restores(served, https, local_cluster, tmp_path):
    result, report = restore_or_plan("restore", https.url("fleet.git"), served, local_cluster.kubeconfig, tmp_path,
                                     GIT_TOKEN=TOKEN, GIT_SSL_CAINFO=str(served.tls.ca_cert))
    assert result.code == 0, result
    assert json.loads(report.read_text())["commit"] == served.repo.commit
    with Cluster(str(local_cluster.kubeconfig)) as kube:
        settings = kube.get(ObjectRef("v1", "ConfigMap", NAMESPACE, "settings"))
    assert settings is not None and settings["data"] == {"mode": "private"}
    # the server challenged, then saw the token: the clone really went through its Basic-auth check
    assert any(not ok for _, _, ok in https.requests) and any(ok for _, _, ok in https.requests)
    assert_not_shown(TOKEN, result, tmp_path)


@pytest.mark.parametrize("command", ["restore", "plan"])
def test_wrong_token_is_exit_3_authentication_failed(command, served, https, local_cluster, tmp_path):
    wrong = "tok-" + secrets.token_hex(12)
    result, _ = restore_or_plan(command, https.url("fleet.git"), served, local_cluster.kubeconfig, tmp_path,
                                GIT_TOKEN=wrong, GIT_SSL_CAINFO=str(served.tls.ca_cert))
    assert_one_error_line(result, f"error: cannot clone {https.url('fleet.git')}: authentication failed")
    assert_not_shown(wrong, result, tmp_path)
    assert_not_shown(TOKEN, result, tmp_path)


@pytest.mark.parametrize("command", ["restore", "plan"])
def test_untrusted_server_certificate_is_exit_3_naming_tls(command, served, https, local_cluster, tmp_path):
    result, _ = restore_or_plan(command, https.url("fleet.git"), served, local_cluster.kubeconfig, tmp_path,
                                GIT_TOKEN=TOKEN)
    assert_one_error_line(result, f"error: cannot clone {https.url('fleet.git')}: server certificate not trusted "
                                  "(set GIT_SSL_CAINFO to the CA bundle of the Git server)")
    assert_not_shown(TOKEN, result, tmp_path)


# ------------------------------------------------------------------------------------------ SSH + deploy key


def test_ssh_deploy_key_clone_restores(served, sshd, local_cluster, tmp_path):
    known_hosts = sshd.known_hosts(tmp_path.parent / f"{tmp_path.name}-known_hosts")
    result, report = restore_or_plan("restore", sshd.url("fleet.git"), served, local_cluster.kubeconfig, tmp_path,
                                     "--ssh-key-file", str(served.deploy_key.private),
                                     "--known-hosts-file", str(known_hosts))
    assert result.code == 0, result
    assert json.loads(report.read_text())["commit"] == served.repo.commit
    for line in private_lines(served.deploy_key):
        assert_not_shown(line, result, tmp_path)


@pytest.mark.parametrize("command", ["restore", "plan"])
@pytest.mark.parametrize("hosts", ["unknown-host", "changed-key"])
def test_untrusted_host_key_is_exit_3(command, hosts, served, sshd, local_cluster, tmp_path):
    known_hosts = tmp_path.parent / f"{tmp_path.name}-known_hosts"
    if hosts == "unknown-host":
        known_hosts.write_text("")
    else:  # the server's address with another key: what a man in the middle looks like
        sshd.known_hosts(known_hosts, ssh_keygen(tmp_path.parent / f"{tmp_path.name}-impostor"))
    result, _ = restore_or_plan(command, sshd.url("fleet.git"), served, local_cluster.kubeconfig, tmp_path,
                                "--ssh-key-file", str(served.deploy_key.private), "--known-hosts-file", str(known_hosts))
    assert_one_error_line(result, f"error: cannot clone {sshd.url('fleet.git')}: SSH host key not trusted "
                                  "(add it to the known_hosts file)")
    for line in private_lines(served.deploy_key):
        assert_not_shown(line, result, tmp_path)


@pytest.mark.parametrize("command", ["restore", "plan"])
def test_key_without_access_is_exit_3_authentication_failed(command, served, sshd, local_cluster, tmp_path):
    known_hosts = sshd.known_hosts(tmp_path.parent / f"{tmp_path.name}-known_hosts")
    result, _ = restore_or_plan(command, sshd.url("fleet.git"), served, local_cluster.kubeconfig, tmp_path,
                                "--ssh-key-file", str(served.stranger_key.private),
                                "--known-hosts-file", str(known_hosts))
    assert_one_error_line(result, f"error: cannot clone {sshd.url('fleet.git')}: authentication failed")
    for line in private_lines(served.stranger_key):
        assert_not_shown(line, result, tmp_path)
    assert "Failed publickey" in sshd.log.read_text()  # refused by the server, not before reaching it
