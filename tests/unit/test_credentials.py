"""Credentials: exec plugins (run for real, as subprocesses) and token files that rotate; fake time only."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bootstrap.errors import ApplyError, ExitCode
from bootstrap.kube.client import connect
from bootstrap.kube.credentials import TokenFileCredentials
from bootstrap.kube.exec_credential import ExecConfig, ExecCredentials, parse_output
from bootstrap.clock import WaitClock

V1 = "client.authentication.k8s.io/v1"
T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)

PLUGIN = """
import json, os, sys
log, token, expires, code = sys.argv[1:5]
with open(log, "a") as fh:
    fh.write(os.environ["KUBERNETES_EXEC_INFO"] + "\\n")
if code != "0":
    print("first line", file=sys.stderr)
    print("plugin: credentials for profile prod have expired", file=sys.stderr)
    sys.exit(int(code))
status = {"token": token}
if expires:
    status["expirationTimestamp"] = expires
print(json.dumps({"apiVersion": os.environ.get("ANSWER_VERSION", "client.authentication.k8s.io/v1"),
                  "kind": "ExecCredential", "status": status}))
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def plugin(tmp_path: Path, *, token: str = "tok-1", expires: str = "", code: int = 0, mode: str = "Never",
           env: tuple[tuple[str, str], ...] = (), cluster: dict | None = None) -> tuple[ExecConfig, Path]:
    script = tmp_path / "plugin.py"
    script.write_text(PLUGIN)
    log = tmp_path / "runs.log"
    config = ExecConfig(where="kubeconfig K: user 'u'", command=sys.executable, api_version=V1,
                        args=(str(script), str(log), token, expires, str(code)), env=env, interactive_mode=mode,
                        install_hint="install it with `pip install plugin`", cluster_info=cluster)
    return config, log


def headers(creds) -> dict[str, str]:
    return dict(asyncio.run(creds.headers()))


def test_a_token_is_cached_until_it_expires_then_fetched_again(tmp_path):
    config, log = plugin(tmp_path, expires="2026-12-01T12:10:00Z")
    clock = Clock()
    creds = ExecCredentials(config, now=clock)
    assert headers(creds) == {"Authorization": "Bearer tok-1"}
    clock.now = T0 + timedelta(minutes=9)
    assert headers(creds) == {"Authorization": "Bearer tok-1"} and creds.runs == 1
    clock.now = T0 + timedelta(minutes=10)
    headers(creds)
    assert creds.runs == 2 and len(log.read_text().splitlines()) == 2


def test_without_an_expiry_it_runs_once_and_again_only_after_a_401(tmp_path):
    config, _ = plugin(tmp_path)
    creds = ExecCredentials(config, now=Clock())
    headers(creds)
    headers(creds)
    assert creds.runs == 1
    creds.expire()
    headers(creds)
    assert creds.runs == 2


def test_the_plugin_gets_the_exec_info_and_its_env(tmp_path):
    config, log = plugin(tmp_path, env=(("REGION", "eu"),), cluster={"server": "https://x"})
    ExecCredentials(config, now=Clock(), environ={"PATH": "/usr/bin"}).current()
    info = json.loads(log.read_text())
    assert info == {"apiVersion": V1, "kind": "ExecCredential", "spec": {"interactive": False,
                                                                        "cluster": {"server": "https://x"}}}


def test_interactive_modes(tmp_path):
    never, _ = plugin(tmp_path, mode="Never")
    assert ExecCredentials(never, stdin_is_terminal=lambda: True)._interactive() is False
    available, _ = plugin(tmp_path, mode="IfAvailable")
    assert ExecCredentials(available, stdin_is_terminal=lambda: True)._interactive() is True
    assert ExecCredentials(available, stdin_is_terminal=lambda: False)._interactive() is False
    always, _ = plugin(tmp_path, mode="Always")
    with pytest.raises(ApplyError, match="interactiveMode is Always but standard input is not a terminal"):
        ExecCredentials(always, stdin_is_terminal=lambda: False).current()


def test_a_failing_plugin_is_one_error_line_with_its_last_words(tmp_path):
    config, _ = plugin(tmp_path, code=3)
    with pytest.raises(ApplyError) as err:
        ExecCredentials(config).current()
    assert err.value.exit_code == ExitCode.APPLY
    assert err.value.message == (f"kubeconfig K: user 'u': exec plugin {sys.executable} failed (exit 3): "
                                 "plugin: credentials for profile prod have expired")


def test_a_missing_plugin_names_it_with_the_install_hint(tmp_path):
    config = ExecConfig(where="kubeconfig K: user 'u'", command=str(tmp_path / "no-such-plugin"), api_version=V1,
                        interactive_mode="Never", install_hint="install the cloud CLI")
    with pytest.raises(ApplyError) as err:
        ExecCredentials(config).current()
    assert str(err.value) == f"kubeconfig K: user 'u': exec plugin {tmp_path / 'no-such-plugin'}: not found (hint: install the cloud CLI)"


@pytest.mark.parametrize("answer,cause", [
    ({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": "t"}},
     "returned apiVersion 'client.authentication.k8s.io/v1beta1', client.authentication.k8s.io/v1 was asked for"),
    ({"apiVersion": V1, "kind": "ExecCredential"}, "returned no status"),
    ({"apiVersion": V1, "kind": "ExecCredential", "status": {}}, "neither a token nor a client certificate"),
    ({"apiVersion": V1, "kind": "ExecCredential", "status": {"clientCertificateData": "c"}}, "only one of"),
    ({"apiVersion": V1, "kind": "ExecCredential", "status": {"token": "t", "expirationTimestamp": "soon"}},
     "not an RFC 3339 time"),
    ("not json", "not JSON"),
])
def test_bad_answers_are_refused(answer, cause):
    config = ExecConfig(where="W", command="p", api_version=V1, interactive_mode="Never")
    raw = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    with pytest.raises(ApplyError) as err:
        parse_output(config, raw)
    assert cause in str(err.value) and "\n" not in str(err.value)


def test_a_certificate_answer_is_kept_sensitive():
    config = ExecConfig(where="W", command="p", api_version=V1, interactive_mode="Never")
    result = parse_output(config, json.dumps({"apiVersion": V1, "kind": "ExecCredential", "status": {
        "clientCertificateData": "CERT", "clientKeyData": "KEY-SECRET"}}).encode())
    assert result.client_pair.reveal() == (b"CERT", b"KEY-SECRET") and "KEY-SECRET" not in repr(result)


def test_connect_fails_on_a_failing_plugin_before_sending_anything(tmp_path):
    script = tmp_path / "plugin.py"
    script.write_text(PLUGIN)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"exec": {"apiVersion": V1, "command": sys.executable, "interactiveMode": "Never",
                                                  "args": [str(script), str(tmp_path / "log"), "t", "", "1"]}}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    sent = []
    with pytest.raises(ApplyError, match=r"exec plugin .* failed \(exit 1\): plugin: credentials .* expired"):
        connect(str(kubeconfig), None, clock=WaitClock(), transport=lambda *args: sent.append(args))
    assert sent == []  # no transport was even built


# -- token files


def test_a_token_file_is_read_again_once_a_minute_as_client_go_does(tmp_path):
    path = tmp_path / "token"
    path.write_text("first\n")
    now = [0.0]
    creds = TokenFileCredentials(str(path), "W", now=lambda: now[0])
    path.write_text("rotated")
    now[0] = 49.0
    assert headers(creds) == {"Authorization": "Bearer first"}
    now[0] = 50.0  # a minute, less client-go's ten seconds of leeway
    assert headers(creds) == {"Authorization": "Bearer rotated"}
    assert creds.reads == 2


def test_a_token_file_that_cannot_be_read_again_keeps_the_last_token(tmp_path):
    path = tmp_path / "token"
    path.write_text("first")
    now = [0.0]
    creds = TokenFileCredentials(str(path), "W", now=lambda: now[0])
    path.unlink()
    now[0] = 100.0
    assert headers(creds) == {"Authorization": "Bearer first"}


def test_a_401_makes_the_token_file_be_read_at_once(tmp_path):
    path = tmp_path / "token"
    path.write_text("first")
    creds = TokenFileCredentials(str(path), "W", now=lambda: 0.0)
    path.write_text("second")
    creds.expire()
    assert headers(creds) == {"Authorization": "Bearer second"}


def test_a_token_file_must_be_readable_at_the_start(tmp_path):
    with pytest.raises(ApplyError, match="W: file not found"):
        TokenFileCredentials(str(tmp_path / "none"), "W")
