"""bootstrap.wire: HTTP/1.1 framing, keep-alive reuse, stale connections, timeouts — against a scripted TCP
server that answers with exact bytes (TLS itself is covered against the real API server in tests/cluster)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from bootstrap.wire import Pool, ProtocolError, _parse_head

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

# answer(connection number, request number on that connection, the request's bytes) -> bytes to send;
# None closes the connection without answering.
Answer = Callable[[int, int, bytes], "bytes | None"]


class Scripted:
    """A TCP server on 127.0.0.1 answering each request with `answer`'s bytes; records what it got."""

    def __init__(self, answer: Answer, *, close_after: int | None = None):
        self.answer = answer
        self.close_after = close_after  # requests served per connection before the server closes it
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock, self.connections), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, number: int) -> None:
        with sock:
            buf, served = b"", 0
            while self.close_after is None or served < self.close_after:
                while b"\r\n\r\n" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buf) < length:
                    buf += sock.recv(65536)
                request, buf = head + b"\r\n\r\n" + buf[:length], buf[length:]
                self.requests.append(request)
                served += 1
                reply = self.answer(number, served, request)
                if reply is None:
                    return
                sock.sendall(reply)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve():
    servers: list[Scripted] = []

    def start(answer: Answer, **kwargs) -> Scripted:
        servers.append(Scripted(answer, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def pool(server: Scripted, **kwargs) -> Pool:
    return Pool(server.url, ssl_context=None, **kwargs)


def test_parse_head_reads_status_reason_and_joins_repeated_headers_under_lower_case_names():
    status, reason, version, headers = _parse_head(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nWarning: a\r\nwarning: b")
    assert (status, reason, version) == (429, "Too Many Requests", "HTTP/1.1")
    assert headers == {"retry-after": "3", "warning": "a, b"}


@pytest.mark.parametrize("head", [b"SSH-2.0-OpenSSH_9.6", b"HTTP/2 200", b"HTTP/1.1 2000 OK", b"HTTP/1.1 200 OK\r\nno colon"])
def test_parse_head_refuses_what_is_not_http_1(head):
    with pytest.raises(ProtocolError):
        _parse_head(head)


def test_a_request_is_one_message_with_host_length_and_body_and_the_answer_is_read_by_length(serve):
    server = serve(lambda conn, n, req: OK)
    reply = pool(server).request("PATCH", "/api/v1/x?force=true", {"Accept": "application/json"}, b'{"a":1}',
                                 timeout=5)
    assert (reply.status, reply.reason, reply.body) == (200, "OK", b"{}")
    assert reply.headers["content-type"] == "application/json"
    request = server.requests[0]
    assert request.startswith(b"PATCH /api/v1/x?force=true HTTP/1.1\r\n")
    host = server.url.removeprefix("http://").encode()
    assert b"\r\nHost: " + host + b"\r\n" in request
    assert b"\r\nContent-Length: 7\r\n" in request and request.endswith(b'\r\n\r\n{"a":1}')


def test_keep_alive_connections_are_reused(serve):
    server = serve(lambda conn, n, req: OK)
    client = pool(server)
    for _ in range(5):
        assert client.request("GET", "/version", {}, None, timeout=5).status == 200
    assert server.connections == 1 and len(server.requests) == 5


def test_chunked_answers_are_joined_and_trailers_skipped(serve):
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
    server = serve(lambda conn, n, req: chunked)
    client = pool(server)
    assert client.request("GET", "/big", {}, None, timeout=5).body == b"hello, world"
    assert client.request("GET", "/big", {}, None, timeout=5).body == b"hello, world"  # framing left nothing behind
    assert server.connections == 1


def test_interim_100_continue_is_skipped(serve):
    server = serve(lambda conn, n, req: b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    assert pool(server).request("POST", "/x", {}, b"{}", timeout=5).body == b"{}"


def test_connection_close_and_bodies_without_length_end_the_connection(serve):
    answers = {1: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na",
               2: b"HTTP/1.0 200 OK\r\n\r\nuntil-the-close"}
    server = serve(lambda conn, n, req: answers.get(conn, OK), close_after=1)
    client = pool(server)
    assert client.request("GET", "/1", {}, None, timeout=5).body == b"a"
    assert client.request("GET", "/2", {}, None, timeout=5).body == b"until-the-close"
    assert client.request("GET", "/3", {}, None, timeout=5).body == b"{}"
    assert server.connections == 3


def test_an_idle_connection_the_server_closed_is_replaced_and_the_request_sent_once_more(serve):
    server = serve(lambda conn, n, req: OK, close_after=1)  # the server closes each connection after one answer
    client = pool(server)
    assert client.request("GET", "/1", {}, None, timeout=5).status == 200
    assert client.request("PATCH", "/2", {}, b"{}", timeout=5).status == 200
    assert server.connections == 2
    assert [r.split(b" ")[1] for r in server.requests] == [b"/1", b"/2"]


def test_a_fresh_connection_closed_without_an_answer_is_an_error_not_a_retry(serve):
    server = serve(lambda conn, n, req: None)
    with pytest.raises(ProtocolError, match="closed the connection"):
        pool(server).request("GET", "/x", {}, None, timeout=5)
    assert len(server.requests) == 1


def test_an_answer_cut_short_is_an_error(serve):
    server = serve(lambda conn, n, req: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", close_after=1)
    with pytest.raises(ProtocolError, match="mid-body"):
        pool(server).request("GET", "/x", {}, None, timeout=5)


@pytest.mark.parametrize("answer, error", [
    (b"HTTP/1.1 200 OK\r\nContent-Le", "closed the connection in the middle of the response headers"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1", "in the middle of the chunk line"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"y" * (70 * 1024), "response headers larger than 65536 bytes"),
])
def test_answers_cut_or_too_large_name_what_broke(serve, answer, error):
    server = serve(lambda conn, n, req: answer, close_after=1)
    with pytest.raises(ProtocolError, match=error):
        pool(server).request("GET", "/x", {}, None, timeout=5)


def test_no_answer_within_the_timeout_raises_timeout(serve):
    release = threading.Event()

    def slow(conn, n, req):
        release.wait(5)
        return OK

    server = serve(slow)
    try:
        with pytest.raises(TimeoutError):
            pool(server).request("GET", "/slow", {}, None, timeout=0.2)
    finally:
        release.set()


def test_each_request_on_a_reused_connection_gets_its_own_timeout(serve):
    release = threading.Event()

    def second_is_slow(conn, n, req):
        if n == 2:
            release.wait(5)
        return OK

    server = serve(second_is_slow)
    client = pool(server)
    try:
        assert client.request("GET", "/fast", {}, None, timeout=30).status == 200
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.request("GET", "/slow", {}, None, timeout=0.2)
        assert time.monotonic() - started < 2
        assert server.connections == 1
    finally:
        release.set()


def test_refused_connections_raise_oserror():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(ConnectionRefusedError):
            Pool(f"http://127.0.0.1:{port}", ssl_context=None).request("GET", "/", {}, None, timeout=1)


def test_concurrent_requests_open_connections_and_at_most_maxsize_stay_idle(serve):
    together = threading.Barrier(4)

    def answer(conn, n, req):
        together.wait(5)  # all four requests are in flight at once, so each has a connection of its own
        return OK

    server = serve(answer)
    client = pool(server, maxsize=2)
    threads = [threading.Thread(target=client.request, args=("GET", "/", {}, None), kwargs={"timeout": 5})
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.connections == 4 and len(server.requests) == 4
    assert len(client._idle) == 2
    client.close()
    assert client._idle == []


def test_https_needs_a_context():
    with pytest.raises(ValueError):
        Pool("https://127.0.0.1:6443", ssl_context=None)
