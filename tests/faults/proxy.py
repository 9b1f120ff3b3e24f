"""A loopback HTTP/1.1 proxy that terminates TLS with a test CA's certificate, re-originates each request to the
real API server with the admin client certificate, and injects faults at a set rate.

    with FaultProxy(upstream, upstream_ca, client_cert, client_key, serving_pki, rate=0.2, seed=1) as proxy:
        proxy.kubeconfig(path)      # a kubeconfig pointing at the proxy (trusting the test CA)
        ...
        proxy.injected              # Counter of faults injected, by kind

Faults, each drawn with probability `rate` per request from a seeded RNG: `429` (Retry-After: 1), `503`, `reset`
(the connection is closed with a TCP RST, no answer) and `latency` (the request is delayed, then forwarded).
Listens on 127.0.0.1 only; forwards only to the given upstream.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from drb_localcluster.pki import Pki

FAULTS = ("429", "503", "reset", "latency")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
              "content-length"}


class FaultProxy:
    """A TLS-terminating fault-injecting proxy in a background thread. Stop it with `close()` (or `with`)."""

    def __init__(self, upstream: str, upstream_ca: Path, client_cert: Path, client_key: Path, serving: Pki, *,
                 rate: float = 0.2, seed: int = 0, latency: float = 0.3, faults: tuple[str, ...] = FAULTS):
        parts = urlsplit(upstream)
        assert parts.hostname in ("127.0.0.1", "localhost"), "the proxy forwards to loopback only"
        self.upstream = (parts.hostname, parts.port or 443)
        self.serving = serving
        self.rate = rate
        self.latency = latency
        self.faults = faults
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._client_ctx = ssl.create_default_context(cafile=str(upstream_ca))
        self._client_ctx.load_cert_chain(str(client_cert), str(client_key))
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(str(serving.cert), str(serving.key))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.socket = server_ctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, path: Path, client_cert: Path, client_key: Path) -> Path:
        """Write a kubeconfig that reaches the API server through this proxy."""
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: proxied\n  cluster:\n    server: {self.url}\n"
            f"    certificate-authority: {self.serving.ca_cert}\n"
            f"users:\n- name: admin\n  user:\n    client-certificate: {client_cert}\n    client-key: {client_key}\n"
            "contexts:\n- name: proxied\n  context:\n    cluster: proxied\n    user: admin\n"
            "current-context: proxied\n"
        )
        return path

    def draw(self) -> str | None:
        """The fault for the next request, or None (thread-safe, reproducible for a seed and request order)."""
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            fault = self._rng.choice(self.faults)
            self.injected[fault] += 1
            return fault

    def upstream_connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(*self.upstream, context=self._client_ctx, timeout=60)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                       "reason": reason, "code": code}).encode()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        upstream: http.client.HTTPSConnection | None = None

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (quiet: tests read counters)
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            fault = proxy.draw()
            if fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if fault == "429":
                return self._answer(429, {"Retry-After": "1"}, _status(429, "TooManyRequests", "injected: slow down"))
            if fault == "503":
                return self._answer(503, {}, _status(503, "ServiceUnavailable", "injected: unavailable"))
            if fault == "latency":
                time.sleep(proxy.latency)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            try:
                status, reply_headers, data = self._forward(body, headers)
            except (OSError, http.client.HTTPException):
                self.upstream = None
                return self._answer(502, {}, _status(502, "BadGateway", "proxy: upstream failed"))
            with proxy._lock:
                proxy.forwarded += 1
            self._answer(status, reply_headers, data)

        def _forward(self, body: bytes | None, headers: dict[str, str]):
            for attempt in (1, 2):  # a pooled upstream connection may have been closed meanwhile
                if self.upstream is None:
                    self.upstream = proxy.upstream_connection()
                try:
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = self.upstream.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException):
                    self.upstream.close()
                    self.upstream = None
                    if attempt == 2 or self.command not in ("GET", "HEAD"):
                        raise
                    continue
                # Content-Length is the proxy's own (`_answer`): a second copy is a malformed answer that strict
                # clients (aiohttp's parser) refuse
                kept = {k: v for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
                return resp.status, kept, data
            raise AssertionError("unreachable")

        def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Type" not in headers:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    return Handler
