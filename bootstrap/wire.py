"""A lean HTTP/1.1 client for talking straight to one API server: pooled keep-alive connections, TLS.

A restore sends thousands of small requests. Through urllib3 and http.client each one costs about 1 ms of
client CPU (header objects, the email parser for response headers), three times the cost of the request on
the wire; on a 2-core machine that CPU is taken from the API server doing the real work. This client does
only what the API server needs: one buffer per request, a status line, headers, a body by Content-Length,
chunks, or up to the close. It never follows redirects and never retries, except once on a fresh
connection when a reused keep-alive connection turns out to have been closed by the server (nothing of the
answer arrived). `bootstrap.kube` uses it for direct connections; proxies and credential plugins go through
urllib3.

Two ways to send: `Pool.request`, blocking, one request per calling thread; and `Pool.request_many`, which
keeps many requests in flight from one thread over non-blocking connections (an apply wave). The second
costs less than half the client CPU of a thread per connection, CPU a co-located API server gets back.

Errors are OSError (ssl.SSLError, TimeoutError, ConnectionError included), for the caller to word.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
_READ = 64 * 1024  # under the allocator's mmap threshold: a bigger buffer per recv costs a map and unmap


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.x as we understand it, or it ended early."""


# what sending on a connection the server has closed raises
_CLOSED_BY_SERVER = (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError)


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # the path with its query string
    headers: Mapping[str, str]
    body: bytes | None = None

    def message(self, host_header: str) -> bytes:
        """The request as sent: request line, Host, the headers, Content-Length, the body."""
        lines = [f"{self.method} {self.target} HTTP/1.1", f"Host: {host_header}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.body is not None or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body or b'')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (self.body or b"")


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes


class _Conn:
    __slots__ = ("sock", "buf", "timeout")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""  # received, not yet consumed
        self.timeout: float | None = sock.gettimeout()

    def set_timeout(self, timeout: float) -> None:
        if timeout != self.timeout:  # each settimeout is a system call
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self) -> bool:
        """Receive more into the buffer; False at the end of the stream."""
        data = self.sock.recv(_READ)
        if not data:
            return False
        self.buf += data
        return True

    def _read_until(self, mark: bytes, what: str) -> bytes:
        """The bytes up to `mark` (consumed, not returned); `what` names them in errors."""
        while True:
            end = self.buf.find(mark)
            if end >= 0:
                found, self.buf = self.buf[:end], self.buf[end + len(mark):]
                return found
            if len(self.buf) > MAX_HEAD_BYTES:
                raise ProtocolError(f"{what} larger than {MAX_HEAD_BYTES} bytes")
            if not self._fill():
                cut = f" in the middle of the {what}" if self.buf else ""
                raise ProtocolError(f"the server closed the connection{cut}")

    def read_head(self) -> bytes:
        return self._read_until(b"\r\n\r\n", "response headers")

    def read_exactly(self, n: int) -> bytes:
        if len(self.buf) >= n:
            data, self.buf = self.buf[:n], self.buf[n:]
            return data
        parts, have = [self.buf], len(self.buf)
        self.buf = b""
        while have < n:
            data = self.sock.recv(max(_READ, n - have))
            if not data:
                raise ProtocolError("the server closed the connection mid-body")
            parts.append(data)
            have += len(data)
        whole = b"".join(parts)
        self.buf = whole[n:]
        return whole[:n]

    def read_line(self) -> bytes:
        return self._read_until(b"\r\n", "chunk line")

    def read_chunked(self) -> bytes:
        parts = []
        while True:
            size_line = self.read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise ProtocolError("malformed chunk size") from None
            if size == 0:
                while self.read_line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self.read_exactly(size))
            if self.read_exactly(2) != b"\r\n":
                raise ProtocolError("malformed chunked body")

    def read_to_close(self) -> bytes:
        parts = [self.buf]
        self.buf = b""
        while data := self.sock.recv(_READ):
            parts.append(data)
        return b"".join(parts)


def _parse_head(head: bytes) -> tuple[int, str, str, dict[str, str]]:
    """(status, reason, HTTP version, headers) of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit() or len(code) != 3:
        raise ProtocolError("not an HTTP/1.x response")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError("malformed response header")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(code), reason, version, headers


class Pool:
    """Keep-alive connections to one server (`https://host:port` or `http://…`), shared by threads.

    Each request takes an idle connection (the most recently used) or opens one; at most `maxsize` idle
    connections are kept. `server_hostname` overrides the name checked against the certificate (SNI).
    """

    def __init__(self, server: str, *, ssl_context: ssl.SSLContext | None, server_hostname: str | None = None,
                 maxsize: int = 16, connect_timeout: float = 5.0):
        url = urlsplit(server)
        self.https = url.scheme == "https"
        if self.https and ssl_context is None:
            raise ValueError("https needs an SSL context")
        self.address = (url.hostname or "localhost", url.port or (443 if self.https else 80))
        self.host_header = url.netloc.rpartition("@")[2]
        self._ssl = ssl_context
        self._sni = server_hostname or self.address[0]
        self._maxsize = maxsize
        self._connect_timeout = connect_timeout
        self._idle: list[_Conn] = []
        self._lock = threading.Lock()

    def _open(self) -> _Conn:
        sock = socket.create_connection(self.address, timeout=self._connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self._sni)
        except BaseException:
            sock.close()
            raise
        return _Conn(sock)

    def _take(self) -> tuple[_Conn, bool]:
        conn = self._take_idle()
        return (conn, True) if conn is not None else (self._open(), False)

    def _take_idle(self) -> _Conn | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _give_back(self, conn: _Conn) -> None:
        with self._lock:
            if len(self._idle) < self._maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def request(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None, *,
                timeout: float) -> Reply:
        """Send one request and read its whole answer. `target` is the path with its query string."""
        message = Request(method, target, headers, body).message(self.host_header)
        conn, reused = self._take()
        while True:
            try:
                reply, keep = self._exchange(conn, method, message, timeout)
            except _StaleConnection:
                conn.close()
                if not reused:
                    raise ProtocolError("the server closed the connection") from None
                conn, reused = self._open(), False  # the server had closed an idle keep-alive connection
                continue
            except BaseException:
                conn.close()
                raise
            if keep:
                self._give_back(conn)
            else:
                conn.close()
            return reply

    def request_many(self, requests: Iterable[Request], *, width: int, timeout: float
                     ) -> Iterator[tuple[int, Reply | OSError]]:
        """Send `requests` with up to `width` of them in flight at once, all from the calling thread; yield
        (position in `requests`, its reply or the OSError that ended it) as each answer completes.

        One thread waiting on many non-blocking connections costs less than half the CPU of a thread per
        connection (no lock hand-offs, no thread wake-ups; several answers are read per wake-up), and on a
        machine shared with the API server that CPU is the server's. `requests` is read lazily, one
        request whenever a connection is free: stop it early to start no more, and the ones in flight
        still finish. Each request has its own `timeout`. A reused connection the server had closed is
        replaced once, as in `request`; nothing else is retried. Closing the generator early closes the
        connections of answers not read yet.
        """
        return _Multiplexer(self, iter(requests), max(1, width), timeout).run()

    @staticmethod
    def _exchange(conn: _Conn, method: str, message: bytes, timeout: float) -> tuple[Reply, bool]:
        conn.set_timeout(timeout)
        try:
            conn.sock.sendall(message)
            if not conn.buf and not conn._fill():
                raise _StaleConnection()
        except _CLOSED_BY_SERVER as exc:
            raise _StaleConnection() from exc
        return _read_reply(conn, method)


def _read_reply(conn: _Conn, method: str) -> tuple[Reply, bool]:
    """The answer to a request of `method`, read from `conn`; and whether the connection may be kept."""
    while True:
        status, reason, version, headers = _parse_head(conn.read_head())
        if not 100 <= status < 200:
            break  # 1xx interim answers (100 Continue) precede the real one
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    if method == "HEAD" or status in (204, 304):
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = conn.read_chunked()
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise ProtocolError("malformed Content-Length") from None
        body = conn.read_exactly(length)
    else:
        body, keep = conn.read_to_close(), False
    return Reply(status, reason, headers, body), keep


class _StaleConnection(Exception):
    """Nothing of the answer arrived: the connection was closed (by the server, or it went away)."""


# -------------------------------------------------------------------------------- many requests, one thread


class _Incomplete(Exception):
    """The rest of the answer has not arrived yet."""


class _Arrived:
    """Stands in for the socket while a partly arrived answer is parsed: it hands over what has arrived,
    then says "not yet" (or, once the server has closed the connection, what a closed socket says)."""

    __slots__ = ("data", "eof")

    def __init__(self, data: bytes, eof: bool):
        self.data = data
        self.eof = eof

    def gettimeout(self) -> float | None:
        return None

    def recv(self, _size: int) -> bytes:
        if self.data:
            data, self.data = self.data, b""
            return data
        if self.eof:
            return b""
        raise _Incomplete()


_NOT_YET = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
# what a keep-alive connection the server has closed looks like, when nothing of the answer has arrived
_STALE = (*_CLOSED_BY_SERVER, ProtocolError)
_READ_EV, _WRITE_EV = selectors.EVENT_READ, selectors.EVENT_WRITE
_CONNECTING, _HANDSHAKE, _EXCHANGE, _FREE = "connecting", "handshake", "exchange", "free"


@dataclass(eq=False)
class _Line:
    """One connection of a `request_many` and the request it carries, if any."""

    conn: _Conn
    stage: str  # _CONNECTING -> _HANDSHAKE (TLS) -> _EXCHANGE -> _FREE (kept alive) -> _EXCHANGE ...
    reused: bool  # it carried an answer before, so the server may have closed it since
    fd: int
    events: int = 0  # what the selector watches for
    want: int = _READ_EV  # what the TLS handshake waits on
    index: int = -1
    method: str = ""
    message: bytes = b""
    deadline: float = 0.0
    sent: int = 0
    got: bytearray = field(default_factory=bytearray)
    eof: bool = False


class _Multiplexer:
    """`Pool.request_many`: non-blocking connections (the pool's idle ones, then new ones connected and
    TLS-handshaken without blocking), one selector, answers handed out as they complete."""

    def __init__(self, pool: Pool, requests: Iterator[Request], width: int, timeout: float):
        self.pool = pool
        self.requests = requests
        self.width = width
        self.timeout = timeout
        self.selector = selectors.DefaultSelector()
        self.lines: dict[int, _Line] = {}  # every connection in use, by file descriptor
        self.free: list[_Line] = []  # kept alive between two requests
        self.busy = 0  # lines carrying a request
        self.taken = 0  # requests read so far
        self.more = True
        self.results: deque[tuple[int, Reply | OSError]] = deque()

    def run(self) -> Iterator[tuple[int, Reply | OSError]]:
        try:
            while True:
                while self.more and self.busy < self.width:
                    self._start()
                    yield from self._handed_out()  # the caller sees each failure before the next start
                if not self.busy:
                    return
                wait = min(line.deadline for line in self.lines.values() if line.stage != _FREE) - time.monotonic()
                for key, _events in self.selector.select(max(0.0, wait)):
                    self._advance(key.data)
                self._expire()
                yield from self._handed_out()
        finally:
            for line in list(self.lines.values()):
                self._close(line, keep=line.stage == _FREE)
            self.selector.close()

    def _handed_out(self) -> Iterator[tuple[int, Reply | OSError]]:
        while self.results:
            yield self.results.popleft()

    # -- starting requests

    def _start(self) -> None:
        request = next(self.requests, None)
        if request is None:
            self.more = False
            return
        index, self.taken = self.taken, self.taken + 1
        message = request.message(self.pool.host_header)
        deadline = time.monotonic() + self.timeout
        if self.free:
            line = self.free.pop()
        else:
            try:
                conn = self.pool._take_idle()
                line = self._add(conn, _EXCHANGE, reused=True) if conn is not None else self._dial()
            except OSError as exc:
                self.results.append((index, exc))
                return
        self._load(line, index, request.method, message, deadline)

    def _dial(self) -> _Line:
        """A new connection, its TCP connect under way (TLS follows once it is connected)."""
        family, kind, proto, _, address = socket.getaddrinfo(*self.pool.address, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(address)
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))
        except BaseException:
            sock.close()
            raise
        return self._add(_Conn(sock), _CONNECTING, reused=False)

    def _add(self, conn: _Conn, stage: str, *, reused: bool) -> _Line:
        conn.set_timeout(0.0)  # non-blocking
        line = _Line(conn, stage, reused, conn.sock.fileno())
        self.lines[line.fd] = line
        line.events = _WRITE_EV if stage == _CONNECTING else _READ_EV
        # watched by descriptor, not socket object: the TLS socket takes over the descriptor of the plain one
        # (even when wrapping it then fails), so the registration holds from the dial to the close
        self.selector.register(line.fd, line.events, line)
        return line

    def _load(self, line: _Line, index: int, method: str, message: bytes, deadline: float) -> None:
        line.index, line.method, line.message, line.deadline = index, method, message, deadline
        line.sent, line.got, line.eof = 0, bytearray(), False
        if line.stage == _FREE:
            line.stage = _EXCHANGE
        self.busy += 1
        if line.stage == _EXCHANGE:  # connected: most requests fit the socket's buffer, so send before any wait
            try:
                self._send(line)
            except OSError as exc:
                self._failed(line, exc)
                return
        self._watch(line)

    # -- progress

    def _advance(self, line: _Line) -> None:
        """The selector says the line can go on."""
        if line.stage == _FREE:  # an idle keep-alive connection woke up: the server closed it
            self._close(line, keep=False)
            return
        try:
            if line.stage == _CONNECTING:
                self._connected(line)
            if line.stage == _HANDSHAKE:
                self._handshake(line)
            if line.sent < len(line.message):
                self._send(line)
            reply, keep = self._answer(line)
        except _Incomplete:
            self._watch(line)
            return
        except OSError as exc:
            self._failed(line, exc)
            return
        self.busy -= 1
        self.results.append((line.index, reply))
        if keep:
            line.stage, line.reused, line.index = _FREE, True, -1
            self.free.append(line)
            self._watch(line)
        else:
            self._close(line, keep=False)

    @staticmethod
    def _answer(line: _Line) -> tuple[Reply, bool]:
        """The whole answer and whether the connection may be kept, reading what the socket has; raises
        _Incomplete while some of it has still to arrive."""
        while True:
            if line.got or line.eof:
                answer = _Conn(_Arrived(bytes(line.got), line.eof))
                try:
                    reply, keep = _read_reply(answer, line.method)
                    return reply, keep and not answer.buf  # bytes beyond the answer: not a connection to reuse
                except _Incomplete:
                    pass
            try:
                data = line.conn.sock.recv(_READ)
            except _NOT_YET:
                raise _Incomplete() from None
            if data:
                line.got += data
            else:
                line.eof = True

    def _connected(self, line: _Line) -> None:
        sock = line.conn.sock
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        line.stage = _EXCHANGE
        if self.pool._ssl is None:
            return
        line.conn.sock = self.pool._ssl.wrap_socket(sock, server_hostname=self.pool._sni, do_handshake_on_connect=False)
        line.stage = _HANDSHAKE

    @staticmethod
    def _handshake(line: _Line) -> None:
        try:
            line.conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            line.want = _READ_EV
            raise _Incomplete() from None
        except ssl.SSLWantWriteError:
            line.want = _WRITE_EV
            raise _Incomplete() from None
        line.stage = _EXCHANGE

    @staticmethod
    def _send(line: _Line) -> None:
        try:
            line.sent += line.conn.sock.send(memoryview(line.message)[line.sent:])
        except _NOT_YET:
            pass

    def _watch(self, line: _Line) -> None:
        """Have the selector wake us for what the line waits on."""
        if line.stage == _CONNECTING:
            events = _WRITE_EV
        elif line.stage == _HANDSHAKE:
            events = line.want
        elif line.stage == _EXCHANGE and line.sent < len(line.message):
            events = _READ_EV | _WRITE_EV
        else:
            events = _READ_EV
        if events != line.events:
            self.selector.modify(line.fd, events, line)
            line.events = events

    # -- endings

    def _failed(self, line: _Line, exc: OSError) -> None:
        self.busy -= 1
        self._close(line, keep=False)
        if not (line.reused and not line.got and isinstance(exc, _STALE)):
            self.results.append((line.index, exc))
            return
        try:  # the server had closed an idle keep-alive connection: once more, on a fresh one
            fresh = self._dial()
        except OSError as again:
            self.results.append((line.index, again))
            return
        self._load(fresh, line.index, line.method, line.message, line.deadline)

    def _expire(self) -> None:
        now = time.monotonic()
        for line in [line for line in self.lines.values() if line.stage != _FREE and line.deadline <= now]:
            self.busy -= 1
            self._close(line, keep=False)
            self.results.append((line.index, TimeoutError(f"no answer within {self.timeout:g}s")))

    def _close(self, line: _Line, *, keep: bool) -> None:
        """Stop watching the line; back to the pool when `keep`, else closed."""
        self.selector.unregister(line.fd)
        del self.lines[line.fd]
        if line.stage == _FREE:
            self.free.remove(line)
        if keep:
            self.pool._give_back(line.conn)
        else:
            line.conn.close()
