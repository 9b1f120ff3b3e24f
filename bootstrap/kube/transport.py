"""HTTP to one API server on aiohttp: keep-alive connections, TLS, proxies; and the event loop they run on.

One request path for every connection: direct, through an HTTP(S) proxy (CONNECT for `https://`
servers), with a static token, a token file or a credential plugin. aiohttp does the protocol; this
module only builds its session from the kubeconfig's `Connection` and turns its failures into
`TransportError` with the cause in a few words. Nothing here retries (the client does that) or reads a
body as JSON.

The event loop runs in a thread of its own (`EventLoop`), so the synchronous rest of the tool can call in
from any thread, and one apply wave keeps many requests in flight from one thread: on a machine shared
with the API server, client CPU is taken from the server.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bootstrap.kube.errors import TransportError, transport_cause

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, whatever its status: what the client needs of it."""

    status: int
    reason: str
    body: bytes
    date: str | None = None  # the Date header, as sent
    retry_after: str | None = None  # the Retry-After header, as sent


class Transport(Protocol):
    """Sends one request to the server and returns its answer; `TransportError` when none came."""

    server: str  # scheme://host[:port][/path]

    async def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                       timeout: float) -> Reply: ...

    async def aclose(self) -> None: ...


class EventLoop:
    """An asyncio loop in a daemon thread; `run` waits in the calling thread for a coroutine run there."""

    def __init__(self, name: str = "kube-io", *, new_loop: Callable[[], asyncio.AbstractEventLoop] | None = None):
        self.loop = (new_loop or asyncio.new_event_loop)()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result (or exception), run on the loop; cancelled there if this thread is interrupted."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("EventLoop.run called on the loop's own thread: await the coroutine instead")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class AiohttpTransport:
    """aiohttp's pooled keep-alive connections to `server`, created on `loop`.

    `ssl_context` is used for `https://` servers (its client certificate can be replaced later:
    `use_tls`); `server_hostname` overrides the name checked against the certificate (SNI); `proxy` is
    an `http://` or `https://` proxy URL. At most `max_connections` are open at once.
    """

    def __init__(self, server: str, loop: EventLoop, *, ssl_context: ssl.SSLContext | None,
                 server_hostname: str | None = None, proxy: str | None = None, max_connections: int = 16):
        self.server = server
        self._loop = loop
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else False
        self._server_hostname = server_hostname
        self._proxy = proxy
        self._session = loop.run(self._open(max_connections))
        self._timeouts: dict[float, Any] = {}  # one aiohttp.ClientTimeout per distinct timeout
        # A run that ends early (an error before the pipeline closes its client) still closes the session,
        # so that aiohttp never prints "Unclosed client session" after the run's one error line.
        weakref.finalize(self, _close_session, loop, self._session)

    async def _open(self, max_connections: int) -> Any:
        import aiohttp  # deferred: heavy (aiohttp, 0.25 s: a run that connects loads it while it clones, stages.session)

        connector = aiohttp.TCPConnector(limit=max_connections, ssl=self._ssl, keepalive_timeout=30.0,
                                         ttl_dns_cache=None)
        return aiohttp.ClientSession(connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",),
                                     timeout=aiohttp.ClientTimeout(total=None))

    def use_tls(self, ssl_context: ssl.SSLContext) -> None:
        """Send later requests with this context (a credential plugin rotated the client certificate)."""
        self._ssl = ssl_context

    async def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                       timeout: float) -> Reply:
        # deferred: heavy (aiohttp: see _open)
        import aiohttp
        from yarl import URL

        url = URL(self.server + target, encoded=True)  # our paths and queries are encoded already
        limits = self._timeouts.get(timeout)
        if limits is None:
            limits = self._timeouts[timeout] = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, allow_redirects=False, proxy=self._proxy,
                ssl=self._ssl, server_hostname=self._server_hostname, timeout=limits,
            ) as resp:
                data = await resp.read()
                return Reply(resp.status, resp.reason or "", data, resp.headers.get("Date"),
                             resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            raise TransportError(_cause(exc)) from None

    async def aclose(self) -> None:
        await self._session.close()


def _close_session(loop: EventLoop, session: Any) -> None:
    if session.closed or loop.loop.is_closed() or threading.current_thread() is loop._thread:
        return
    try:
        loop.run(session.close())
    except Exception:  # at interpreter exit: nothing more to do
        pass


def _cause(exc: BaseException) -> str:
    """The cause of an aiohttp failure in a few words, as `transport_cause` words an OSError."""
    import aiohttp  # deferred: heavy (aiohttp: see _open)

    if isinstance(exc, asyncio.TimeoutError) or isinstance(exc, aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "TLS error (" + str(exc.certificate_error) + ")"
    inner = getattr(exc, "os_error", None) or exc
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(inner, socket.gaierror):
        return str(inner.strerror or inner).lower()
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(inner, OSError) and inner.strerror and not isinstance(inner, ssl.SSLError):
        return inner.strerror.lower()
    return transport_cause(inner)


async def bounded(jobs: list[Awaitable[T]], width: int) -> list[T | BaseException]:
    """Await `jobs` with at most `width` at once; each one's result or exception, in order."""
    gate = asyncio.Semaphore(max(1, width))

    async def one(job: Awaitable[T]) -> T | BaseException:
        async with gate:
            try:
                return await job
            except Exception as exc:  # handed back in its place
                return exc

    return list(await asyncio.gather(*(one(job) for job in jobs)))
