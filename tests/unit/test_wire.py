"""bootstrap.wire: HTTP/1.1 framing, keep-alive reuse, stale connections, timeouts — against a scripted TCP
server that answers with exact bytes (TLS itself is covered against the real API server in tests/cluster)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from bootstrap.wire import Pool, ProtocolError, Request, _parse_head

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
        self.piecewise = 0.0  # > 0: answers go out 7 bytes at a time, this many seconds apart
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
                if not self.piecewise:
                    sock.sendall(reply)
                for at in range(0, len(reply), 7) if self.piecewise else ():
                    sock.sendall(reply[at:at + 7])
                    time.sleep(self.piecewise)

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


# -- many requests from one thread ------------------------------------------------------------------


def echo_path(conn, n, req):
    path = req.split(b" ")[1]
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path)


def gets(*paths: str) -> list[Request]:
    return [Request("GET", path, {"Accept": "application/json"}) for path in paths]


def test_request_many_answers_each_request_by_its_position_over_at_most_width_connections(serve):
    server = serve(echo_path)
    client = pool(server)
    paths = [f"/{i}" for i in range(40)]
    answers = dict(client.request_many(gets(*paths), width=4, timeout=5))
    assert {i: a.body for i, a in answers.items()} == {i: p.encode() for i, p in enumerate(paths)}
    assert server.connections == 4 and len(server.requests) == 40
    assert len(client._idle) == 4  # back in the pool for the requests that follow
    assert client.request("GET", "/after", {}, None, timeout=5).body == b"/after"  # blocking again, still works
    assert server.connections == 4


def test_request_many_sends_the_same_bytes_as_request(serve):
    server = serve(lambda conn, n, req: OK)
    client = pool(server)
    client.request("PATCH", "/x?force=true", {"Accept": "application/json"}, b'{"a":1}', timeout=5)
    [(index, reply)] = client.request_many(
        [Request("PATCH", "/x?force=true", {"Accept": "application/json"}, b'{"a":1}')], width=8, timeout=5)
    assert (index, reply.body) == (0, b"{}")
    assert server.requests[0] == server.requests[1]


def test_request_many_reads_requests_lazily_so_the_caller_can_stop_starting_new_ones(serve):
    server = serve(lambda conn, n, req: b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n" if req.startswith(b"GET /bad ")
                   else OK)
    client = pool(server)
    stop = False

    def requests():
        for path in ["/bad", *(f"/{i}" for i in range(50))]:
            if stop:
                return
            yield Request("GET", path, {})

    seen = []
    for i, reply in client.request_many(requests(), width=1, timeout=5):
        seen.append(i)
        stop = stop or reply.status == 500
    assert seen == [0] and len(server.requests) == 1  # width 1: nothing else was in flight


def test_request_many_replaces_a_keep_alive_connection_the_server_closed_and_sends_once_more(serve):
    server = serve(echo_path, close_after=1)
    client = pool(server)
    client.request("GET", "/warm", {}, None, timeout=5)  # leaves an idle connection the server has closed
    time.sleep(0.1)
    answers = dict(client.request_many(gets("/1", "/2"), width=1, timeout=5))
    assert {i: a.body for i, a in answers.items()} == {0: b"/1", 1: b"/2"}
    assert [r.split(b" ")[1] for r in server.requests] == [b"/warm", b"/1", b"/2"]  # each sent once


def test_request_many_reports_a_fresh_connection_closed_without_an_answer_and_goes_on(serve):
    server = serve(lambda conn, n, req: None if req.startswith(b"GET /gone ") else echo_path(conn, n, req))
    answers = dict(pool(server).request_many(gets("/gone", "/here"), width=2, timeout=5))
    assert isinstance(answers[0], ProtocolError) and "closed the connection" in str(answers[0])
    assert answers[1].body == b"/here"
    assert len(server.requests) == 2


def test_request_many_times_out_each_request_on_its_own(serve):
    release = threading.Event()

    def slow_one(conn, n, req):
        if req.startswith(b"GET /slow "):
            release.wait(5)
        return echo_path(conn, n, req)

    server = serve(slow_one)
    try:
        started = time.monotonic()
        answers = dict(pool(server).request_many(gets("/slow", "/a", "/b"), width=2, timeout=0.3))
        assert time.monotonic() - started < 2
        assert isinstance(answers[0], TimeoutError)
        assert (answers[1].body, answers[2].body) == (b"/a", b"/b")
    finally:
        release.set()


def test_request_many_parses_answers_that_arrive_in_pieces_chunked_or_until_the_close(serve):
    answers = {b"/chunked": (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"),
               b"/close": b"HTTP/1.0 200 OK\r\n\r\nuntil-the-close"}

    def answer(conn, n, req):
        return answers.get(req.split(b" ")[1]) or echo_path(conn, n, req)

    server = serve(answer, close_after=1)
    server.piecewise = 0.02  # each answer goes out in small pieces with pauses
    replies = dict(pool(server).request_many(gets("/chunked", "/close", "/plain"), width=3, timeout=5))
    assert [replies[i].body for i in range(3)] == [b"hello, world", b"until-the-close", b"/plain"]


def test_request_many_sends_bodies_larger_than_the_socket_buffer(serve):
    server = serve(lambda conn, n, req: OK)
    body = b"x" * (8 * 1024 * 1024)
    [(index, reply)] = pool(server).request_many([Request("PUT", "/big", {}, body)], width=1, timeout=10)
    assert (index, reply.status) == (0, 200) and server.requests[0].endswith(body)


def test_request_many_reports_refused_connections_per_request():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        answers = dict(Pool(f"http://127.0.0.1:{port}", ssl_context=None).request_many(gets("/a", "/b"), width=2,
                                                                                        timeout=1))
    assert set(answers) == {0, 1} and all(isinstance(a, ConnectionRefusedError) for a in answers.values())


def test_request_many_closed_early_closes_the_connections_still_waiting(serve):
    release = threading.Event()

    def second_waits(conn, n, req):
        if not req.startswith(b"GET /0 "):
            release.wait(5)
        return echo_path(conn, n, req)

    server = serve(second_waits)
    client = pool(server)
    many = client.request_many(gets("/0", "/1"), width=2, timeout=5)
    try:
        assert next(many)[0] == 0
        many.close()  # /1 is still waiting for its answer
        assert len(client._idle) == 1  # /0's connection is kept; /1's was closed, never pooled
    finally:
        release.set()


class _WrapResetContext:
    """Stands in for an SSLContext whose TLS wrap fails after taking over the socket, as ssl does when the
    server resets a connection between its TCP accept and the TLS start (an API server being killed)."""

    def wrap_socket(self, sock, server_hostname=None, do_handshake_on_connect=True):
        sock.detach()
        raise ConnectionResetError(104, "Connection reset by peer")


def test_request_many_reports_a_connection_reset_while_tls_starts_and_goes_on(serve):
    server = serve(echo_path)
    client = Pool(server.url.replace("http://", "https://"), ssl_context=_WrapResetContext())
    answers = dict(client.request_many(gets("/a", "/b", "/c"), width=2, timeout=5))
    assert set(answers) == {0, 1, 2}
    assert all(isinstance(a, ConnectionResetError) for a in answers.values())
