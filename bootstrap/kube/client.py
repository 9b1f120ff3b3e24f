"""The API client: requests to one API server, retried on transient failures, answers decoded.

`connect(kubeconfig, context, clock=…)` reads the kubeconfig (`bootstrap.kube.kubeconfig`), builds its
credentials and TLS context, and returns a `Client` on an aiohttp transport. The client holds no run
state: only the transport, the credentials and the collaborators it was built with (the clock that
measures waiting on the cluster, the sleep retries use).

`send` is one attempt; `call` retries what `is_retryable` allows with jittered exponential backoff
(tenacity), honouring a 429's Retry-After, bounded by the retry deadline (the run's `--timeout`). A 401
makes the credentials fetch a fresh token (a rotated token file, an expired plugin credential) and the
request go once more. Both are coroutines on the client's event loop; `run` waits for one from any
thread, and `gather` runs many with bounded concurrency.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode, urlsplit

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from bootstrap.clock import WaitClock
from bootstrap.kube import credentials as creds
from bootstrap.kube.errors import KubeApiError, TransportError, describe, is_retryable, retry_after_seconds
from bootstrap.kube.objects import http_date
from bootstrap.kube.transport import AiohttpTransport, EventLoop, Reply, Transport, bounded
from bootstrap.redact import Sensitive

if TYPE_CHECKING:
    from bootstrap.kube.credentials import Credentials
    from bootstrap.kube.kubeconfig import Connection

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Response:
    status: int
    data: dict[str, Any]
    date_header: str | None = None  # the server's Date header, as sent

    @property
    def date(self) -> float | None:
        """The server's Date header, seconds since the epoch (parsed only when asked for)."""
        return http_date(self.date_header)


def decode(reply: Reply) -> Response:
    """The Response of a 2xx answer; a KubeApiError carrying the Status of any other."""
    try:
        data = json.loads(reply.body) if reply.body else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if reply.status >= 300:
        details = data.get("details") or {}
        raise KubeApiError(reply.status, str(data.get("reason") or reply.reason or ""),
                           str(data.get("message") or reply.reason or ""), causes=details.get("causes") or (),
                           retry_after=retry_after_seconds(reply.retry_after))
    return Response(reply.status, data, reply.date)


def _backoff(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    if hinted is not None:
        return min(float(hinted), 10.0)
    return _JITTER(state)


_JITTER = wait_random_exponential(multiplier=0.1, max=4.0)  # immutable strategy object, not state


class Client:
    """Requests to one API server. `loop` runs them; `clock` counts the time spent waiting on the server.

    `sleep` (a coroutine function) is what retries wait with; by default `asyncio.sleep`, counted by the
    clock. `now` is the monotonic time the retry deadline is measured in.
    """

    def __init__(self, transport: Transport, loop: EventLoop, credentials: Credentials, *, clock: WaitClock,
                 retry_deadline: float = 30.0, request_timeout: float = 30.0, sleep: Sleep | None = None,
                 now: Callable[[], float] = time.monotonic, context: str | None = None):
        self.transport = transport
        self.context = context  # the kubeconfig context it was made for (None in-cluster), for messages
        self.loop = loop
        self.credentials = credentials
        self.clock = clock
        self.retry_deadline = retry_deadline
        self.request_timeout = request_timeout
        self._sleep = sleep or self._counted_sleep
        self._now = now
        self._base_path = urlsplit(transport.server).path

    @property
    def host(self) -> str:
        return self.transport.server

    def now(self) -> float:
        """Monotonic seconds, the time deadlines are measured in."""
        return self._now()

    async def sleep(self, seconds: float) -> None:
        """A wait for the cluster to change (counted by the clock unless another sleep was given)."""
        await self._sleep(seconds)

    async def _counted_sleep(self, seconds: float) -> None:
        with self.clock:
            await asyncio.sleep(seconds)

    # -- requests

    async def send(self, method: str, path: str, *, query: Mapping[str, str] | str | None = None,
                   body: bytes | None = None, content_type: str = "application/json", accept: str = "application/json",
                   timeout: float | None = None) -> Response:
        """One request (and once more after a 401 with fresh credentials). KubeApiError / TransportError.

        `query` is a mapping, or a query string already encoded (the same one for a whole wave).
        """
        if query and not isinstance(query, str):
            query = urlencode(query)
        target = self._base_path + path + ("?" + query if query else "")
        headers = {"Accept": accept, "User-Agent": "dr-bootstrap"}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            headers.update(await self.credentials.headers())
            with self.clock:
                reply = await self.transport.exchange(method, target, headers, body, timeout or self.request_timeout)
            if reply.status != 401 or attempt == 2:
                return decode(reply)
            self.credentials.expire()
        raise AssertionError("unreachable")  # pragma: no cover

    async def call(self, method: str, path: str, *, deadline: float | None = None, **kwargs: Any) -> Response:
        """`send` retried on transient failures with jittered exponential backoff, bounded by a deadline.

        A 429's Retry-After is honoured before the very next attempt (at most 10 s).
        """
        limit = self.retry_deadline if deadline is None else deadline
        started = self._now()
        try:  # the common case, a first attempt that succeeds, builds no retry machinery
            return await self.send(method, path, **kwargs)
        except (KubeApiError, TransportError) as exc:
            if not is_retryable(exc):
                raise
            failed: list[BaseException] = [exc]

        def stop(state: RetryCallState) -> bool:  # tenacity's stop_before_delay, on our clock
            return self._now() - started + (state.upcoming_sleep or 0.0) >= limit

        retrying = AsyncRetrying(stop=stop, wait=_backoff, retry=retry_if_exception(is_retryable), reraise=True,
                                 sleep=self._sleep)
        async for attempt in retrying:
            with attempt:
                if failed:  # the first attempt, made above: its failure drives the first backoff
                    raise failed.pop()
                return await self.send(method, path, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- running

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Wait in this thread for a coroutine run on the client's loop."""
        return self.loop.run(coro)

    def gather(self, jobs: list[Awaitable[T]], width: int = 8) -> list[T | BaseException]:
        """Run `jobs` on the loop, at most `width` at once; each one's result or exception, in order."""
        return self.run(bounded(jobs, width))

    def fail(self, where: Any, exc: KubeApiError | TransportError, **kwargs: Any) -> Exception:
        """The operator's ApplyError for a failed request (see `errors.describe`)."""
        return describe(where, exc, host=self.host, **kwargs)

    def close(self) -> None:
        if not self.loop.loop.is_closed():
            self.run(self.transport.aclose())
        self.loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


TransportFactory = Callable[["Connection", EventLoop, int, "tuple[bytes, bytes] | None"], Transport]


def connect(kubeconfig: str | None = None, context: str | None = None, *, clock: WaitClock,
            retry_deadline: float = 30.0, request_timeout: float = 30.0, max_connections: int = 16,
            transport: TransportFactory | None = None) -> Client:
    """A Client for the kubeconfig's context (kubectl's rules; in-cluster without a kubeconfig).

    `transport(connection, loop, max_connections, client_pair)` builds the transport (default: aiohttp);
    benchmarks pass others. ApplyError for a bad kubeconfig or a failing credential plugin: an exec plugin
    runs here, before anything is sent, so a run never goes on unauthenticated because a plugin failed.
    """
    # deferred: clone (the kubeconfig loader and credential plugins, ours: no `kubernetes` on this path; a
    # restore connects while git clones, a plan never does)
    from bootstrap.kube import kubeconfig as kubecfg
    from bootstrap.kube.exec_credential import ExecCredentials

    conn = kubecfg.load(kubeconfig, context)
    plugin = ExecCredentials(conn.exec) if conn.exec is not None else None
    pair = conn.client_pair
    if plugin is not None:
        issued = plugin.current().client_pair
        pair = pair or (issued.reveal() if issued is not None else None)
    loop = EventLoop()
    try:
        made = (transport or aiohttp_transport)(conn, loop, max_connections, pair)
        credentials = plugin if plugin is not None else credentials_for(conn)
    except BaseException:
        loop.close()
        raise
    if plugin is not None and isinstance(made, AiohttpTransport):
        plugin.on_client_pair = lambda cert, key: made.use_tls(_tls(conn, (cert, key)))
    return Client(made, loop, credentials, clock=clock, retry_deadline=retry_deadline, request_timeout=request_timeout,
                  context=conn.context)


def aiohttp_transport(conn: Connection, loop: EventLoop, max_connections: int,
                      client_pair: tuple[bytes, bytes] | None) -> AiohttpTransport:
    """The transport for `conn`: its TLS context (client key through memfd), proxy and SNI name."""
    from bootstrap.kube.proxy import env_proxy  # deferred: clone (see connect)

    tls = _tls(conn, client_pair) if conn.server.startswith("https://") else None
    return AiohttpTransport(conn.server, loop, ssl_context=tls, server_hostname=conn.tls_server_name,
                            proxy=conn.proxy_url or env_proxy(conn.server), max_connections=max_connections)


def _tls(conn: Connection, client_pair: tuple[bytes, bytes] | None) -> Any:
    from bootstrap.kube.tls import client_context  # deferred: clone (see connect)

    return client_context(source=conn.source, ca_data=conn.ca_data, insecure=conn.insecure, client_pair=client_pair)


def credentials_for(conn: Connection) -> Credentials:
    """The credentials of `conn`'s user other than an exec plugin (which `connect` runs itself)."""
    if conn.auth_provider is not None:
        return creds.AuthProviderCredentials(conn.kubeconfig or "", conn.context or "", conn.source)
    if conn.token_file is not None:
        return creds.TokenFileCredentials(conn.token_file, f"{conn.source}: tokenFile {conn.token_file}")
    if conn.token is not None:
        return creds.StaticCredentials(Sensitive(f"Bearer {conn.token.reveal()}"))
    return creds.StaticCredentials(conn.basic)
