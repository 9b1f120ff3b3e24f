"""The HTTP libraries measured against aiohttp (the one `bootstrap.kube` uses) on `bench apply`.

Each is a `bootstrap.kube.transport.Transport` built from the kubeconfig's connection, so the apply path
around it is the same: `BENCH_TRANSPORT=httpx|httpx-h2|urllib3 … apply` puts it under our apply phase.
(The hand-written client these replaced, `bootstrap/wire.py`, was measured at its last commit; see
docs/performance.md.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bootstrap.kube.errors import TransportError, transport_cause
from bootstrap.kube.transport import EventLoop, Reply


class HttpxTransport:
    """httpx.AsyncClient (HTTP/1.1, or HTTP/2 with `http2`), on the client's loop."""

    def __init__(self, server: str, loop: EventLoop, ssl_context: Any, max_connections: int, http2: bool = False):
        import httpx

        self.server = server
        self._httpx = httpx
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)

        async def make() -> Any:
            return httpx.AsyncClient(verify=ssl_context if ssl_context is not None else False, limits=limits,
                                     http2=http2, trust_env=False)

        self._client = loop.run(make())

    async def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                       timeout: float) -> Reply:
        try:
            resp = await self._client.request(method, self.server + target, content=body, headers=dict(headers),
                                              timeout=timeout)
        except self._httpx.HTTPError as exc:
            raise TransportError(transport_cause(exc)) from None
        return Reply(resp.status_code, resp.reason_phrase, resp.content, resp.headers.get("date"),
                     resp.headers.get("retry-after"))

    async def aclose(self) -> None:
        await self._client.aclose()


class Urllib3Transport:
    """urllib3's blocking pool, one request per worker thread (as the `kubernetes` package sends them)."""

    def __init__(self, server: str, loop: EventLoop, ssl_context: Any, max_connections: int):
        import urllib3

        self.server = server
        self._urllib3 = urllib3
        kwargs: dict[str, Any] = {"maxsize": max_connections}
        if ssl_context is not None:
            kwargs["ssl_context"] = ssl_context
        self._pool = urllib3.PoolManager(**kwargs).connection_from_url(server)
        self._threads = ThreadPoolExecutor(max_workers=max_connections, thread_name_prefix="urllib3")

    async def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                       timeout: float) -> Reply:
        def send() -> Reply:
            try:
                resp = self._pool.urlopen(method, target, body=body, headers=dict(headers), retries=False,
                                          redirect=False, timeout=self._urllib3.Timeout(connect=5.0, read=timeout))
            except self._urllib3.exceptions.HTTPError as exc:
                raise TransportError(transport_cause(getattr(exc, "reason", None) or exc)) from None
            return Reply(resp.status, resp.reason or "", resp.data, resp.headers.get("date"),
                         resp.headers.get("retry-after"))

        return await asyncio.get_running_loop().run_in_executor(self._threads, send)

    async def aclose(self) -> None:
        self._threads.shutdown(wait=False)
        self._pool.close()


def factory(name: str) -> Any:
    """The `connect(transport=…)` factory for a candidate name (None: the default, aiohttp)."""
    if name in ("", "aiohttp"):
        return None

    def build(conn: Any, loop: EventLoop, max_connections: int, client_pair: Any) -> Any:
        from bootstrap.kube.client import _tls

        tls = _tls(conn, client_pair) if conn.server.startswith("https://") else None
        if name == "urllib3":
            return Urllib3Transport(conn.server, loop, tls, max_connections)
        if name in ("httpx", "httpx-h2"):
            return HttpxTransport(conn.server, loop, tls, max_connections, http2=name == "httpx-h2")
        raise SystemExit(f"BENCH_TRANSPORT={name!r}: expected aiohttp, httpx, httpx-h2 or urllib3")

    return build
