"""A validating admission webhook (failurePolicy Fail) guarding the ConfigMaps of one namespace, whose server is
not answering when the restore starts: its objects are retried until the server answers (within --timeout);
if it never answers, the restore exits 5 and the error names the webhook."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from drb_localcluster.cluster import free_port
from drb_localcluster.pki import Pki, generate
from bootstrap.model import ObjectRef
from tests.faults.conftest import (
    CONFIGMAPS_PER_NS,
    assert_converged,
    finish,
    namespaces,
    read_until,
    reap,
    run_restore,
    start_restore,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

WEBHOOK = "configmaps.faults.dr-bootstrap.test"


class AllowAll:
    """An HTTPS AdmissionReview v1 server that allows everything, in a thread; counts the reviews it answered."""

    def __init__(self, port: int, pki: Pki):
        self.reviews = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                outer.reviews += 1
                body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                   "response": {"uid": review["request"]["uid"], "allowed": True}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki.cert), str(pki.key))
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook_configuration(name: str, namespace: str, port: int, ca: Path) -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": WEBHOOK, "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5,
            "clientConfig": {"url": f"https://127.0.0.1:{port}/validate",
                             "caBundle": base64.b64encode(ca.read_bytes()).decode()},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["configmaps"]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        }],
    }


@pytest.fixture
def late_webhook(fault_cluster, tmp_path):
    """(port, pki) of a registered webhook that nobody serves yet; unregistered afterwards."""
    pki = generate(tmp_path / "webhook-pki")
    port = free_port()
    registered: list[ObjectRef] = []

    def register(name: str, namespace: str) -> None:
        body = webhook_configuration(name, namespace, port, pki.ca_cert)
        with Cluster(str(fault_cluster.kubeconfig)) as kube:
            kube.apply(body)
        registered.append(ObjectRef(body["apiVersion"], body["kind"], None, name))

    yield port, pki, register
    with Cluster(str(fault_cluster.kubeconfig)) as kube:
        for ref in registered:
            kube.delete(ref, wait=False)


def test_objects_behind_a_late_webhook_are_retried_until_it_answers(
        fault_cluster, fault_repo, clean_run, trials, late_webhook):
    port, pki, register = late_webhook
    tag = trials.take()
    guarded = namespaces(tag)[1]
    register(f"faults-{tag}", guarded)
    time.sleep(1.0)  # the API server picks up webhook configurations asynchronously
    server: list[AllowAll] = []
    timer = threading.Timer(6.0, lambda: server.append(AllowAll(port, pki)))
    timer.start()
    try:
        started = time.monotonic()
        result = run_restore(fault_repo, tag, fault_cluster.kubeconfig, timeout=90)
        seconds = time.monotonic() - started
    finally:
        timer.cancel()
        timer.join()
        for s in server:
            s.close()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-1000:]
    assert server and server[0].reviews >= CONFIGMAPS_PER_NS, "the webhook reviewed every guarded ConfigMap"
    assert_converged(clean_run, fault_cluster.kubeconfig, tag, "behind a late webhook")
    print(f"\nlate webhook: served from 6s, {server[0].reviews} reviews, restore took {seconds:.1f}s")


def test_webhook_that_never_answers_fails_the_restore_naming_it(fault_cluster, fault_repo, trials, late_webhook):
    port, pki, register = late_webhook
    tag = trials.take()
    register(f"faults-{tag}", namespaces(tag)[1])
    time.sleep(1.0)
    timeout = 8.0
    proc = start_restore(fault_repo, tag, fault_cluster.kubeconfig, timeout=timeout)
    server: list[AllowAll] = []
    gave_up_unanswered = False
    try:
        lines = read_until(proc, lambda seen: "==> phase " in seen[-1] and seen[-1].rstrip().endswith(": apply"), wall=120)
        try:  # the webhook answers from --timeout + 10 s on: a tool still retrying then would exit 0
            lines = finish(proc, lines, wall=timeout + 10)
            gave_up_unanswered = True
        except subprocess.TimeoutExpired:
            server.append(AllowAll(port, pki))
            lines = finish(proc, lines, wall=120)
    finally:
        reap(proc)
        for s in server:
            s.close()
    errors = [line for line in lines if line.startswith("error: ")]  # main()'s one line on stderr
    assert proc.returncode == 5, "".join(lines)[-2000:]
    assert len(errors) == 1 and WEBHOOK in errors[0] and f"ConfigMap/{namespaces(tag)[1]}/" in errors[0], errors
    assert gave_up_unanswered, f"still retrying {timeout:.0f}s + 10s into the apply with --timeout {timeout:.0f}"
