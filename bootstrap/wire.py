"""A lean HTTP/1.1 client for talking straight to one API server: pooled keep-alive connections, TLS.

A restore sends thousands of small requests. Through urllib3 and http.client each one costs about 1 ms of
client CPU (header objects, the email parser for response headers), three times the cost of the request on
the wire; on a 2-core machine that CPU is taken from the API server doing the real work. This client does
only what the API server needs: one buffer per request, a status line, headers, a body by Content-Length,
chunks, or up to the close. It never follows redirects and never retries, except once on a fresh
connection when a reused keep-alive connection turns out to have been closed by the server (nothing of the
answer arrived). `bootstrap.kube` uses it for direct connections; proxies and credential plugins go through
urllib3.

Errors are OSError (ssl.SSLError, TimeoutError, ConnectionError included), for the caller to word.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
_READ = 64 * 1024  # under the allocator's mmap threshold: a bigger buffer per recv costs a map and unmap


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.x as we understand it, or it ended early."""


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
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._open(), False

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

    def request(self, method: str, target: str, headers: dict[str, str], body: bytes | None, *,
                timeout: float) -> Reply:
        """Send one request and read its whole answer. `target` is the path with its query string."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
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

    @staticmethod
    def _exchange(conn: _Conn, method: str, message: bytes, timeout: float) -> tuple[Reply, bool]:
        conn.set_timeout(timeout)
        try:
            conn.sock.sendall(message)
            if not conn.buf and not conn._fill():
                raise _StaleConnection()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError) as exc:
            raise _StaleConnection() from exc
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
