"""The API client without a cluster: retries by request count and fake time, 401s, errors, connections."""

from __future__ import annotations

import socket

import pytest

from bootstrap.clock import WaitClock
from bootstrap.errors import ApplyError, ExitCode
from bootstrap.kube import Cluster
from bootstrap.kube.errors import KubeApiError, TransportError
from tests.support.fakes import FakeTime, reply, scripted_client, sequence, status

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}
users:
- name: u
  user: {{token: not-a-real-token}}
contexts:
- name: ctx
  context: {{cluster: c, user: u}}
current-context: ctx
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_call_retries_throttling_and_etcd_errors_honouring_retry_after():
    answer = sequence(reply(429, {"kind": "Status", "reason": "TooManyRequests", "message": "slow down"}, retry_after="3"),
                      status(500, "InternalError", "etcdserver: leader changed"), reply(200, {"ok": True}))
    client, transport, time = scripted_client(answer)
    with client:
        assert client.run(client.call("GET", "/x")).data == {"ok": True}
    assert len(transport.sent) == 3
    assert time.slept[0] == 3.0  # the Retry-After, before the very next attempt
    assert 0 <= time.slept[1] <= 0.2  # then jittered exponential backoff from 0.1 s


def test_call_does_not_retry_validation_errors():
    client, transport, time = scripted_client(sequence(status(422, "Invalid", "spec.replicas: Invalid value: -1")))
    with client, pytest.raises(KubeApiError):
        client.run(client.call("PATCH", "/x"))
    assert len(transport.sent) == 1 and time.slept == []


def test_call_gives_up_at_the_retry_deadline_measured_on_its_clock():
    client, transport, time = scripted_client(sequence(TransportError("connection reset by peer")), retry_deadline=6.0)
    started = time.t
    with client, pytest.raises(TransportError):
        client.run(client.call("PATCH", "/x"))
    assert time.t - started <= 6.0  # never sleeps past the deadline
    assert len(transport.sent) > 3 and sum(time.slept) == pytest.approx(time.t - started)
    assert all(s <= 4.0 for s in time.slept)  # the backoff cap


def test_waiting_for_answers_and_backoffs_is_counted_by_the_clock():
    client, _, time = scripted_client(sequence(status(503, "ServiceUnavailable", "try later"), reply(200, {})),
                                      latency=0.5)
    with client:
        client.run(client.call("GET", "/x"))
    assert client.clock.seconds() == pytest.approx(1.0)  # two answers of 0.5 s; the fake backoff sleep is not the clock's


def test_a_401_fetches_fresh_credentials_and_sends_once_more():
    class Rotating:
        tokens = ["old", "new"]
        expired = 0

        async def headers(self):
            return {"Authorization": f"Bearer {self.tokens[0]}"}

        def expire(self):
            self.expired += 1
            self.tokens.pop(0)

    creds = Rotating()

    def answer(method, target, headers, body):
        return reply(200, {}) if headers["Authorization"] == "Bearer new" else status(401, "Unauthorized", "Unauthorized")

    client, transport, _ = scripted_client(answer, credentials=creds)
    with client:
        client.run(client.call("GET", "/x"))
    assert [h["Authorization"] for _, _, h, _ in transport.sent] == ["Bearer old", "Bearer new"]
    assert creds.expired == 1


def test_a_second_401_is_the_answer():
    client, transport, _ = scripted_client(sequence(status(401, "Unauthorized", "Unauthorized")))
    with client, pytest.raises(KubeApiError) as err:
        client.run(client.call("GET", "/x"))
    assert err.value.status == 401 and len(transport.sent) == 2


def test_unreachable_server_is_one_clear_apply_error(tmp_path):
    port = _closed_port()
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(port=port))
    with Cluster(str(path), retry_deadline=0.3) as cluster:
        with pytest.raises(ApplyError) as err:
            cluster.server_version()
        assert err.value.exit_code == ExitCode.APPLY
        assert str(err.value) == (f"reading the server version: cannot reach the API server at "
                                  f"https://127.0.0.1:{port}: connection refused")
        with pytest.raises(ApplyError, match=r"API discovery: cannot reach the API server"):
            cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}})


def test_bad_kubeconfig_and_unknown_context_are_apply_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ApplyError, match=r"kubeconfig .*/missing: file not found"):
        Cluster(str(tmp_path / "missing"))
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(port=1))
    with pytest.raises(ApplyError, match=r"context 'prod' not found \(available: ctx\)"):
        Cluster(str(path), context="prod")
    monkeypatch.setenv("KUBECONFIG", str(path))
    with Cluster(clock=WaitClock()) as cluster:
        assert cluster.host == "https://127.0.0.1:1"
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [unterminated")
    with pytest.raises(ApplyError, match=r"^kubeconfig .*/garbage: "):
        Cluster(str(garbage))
