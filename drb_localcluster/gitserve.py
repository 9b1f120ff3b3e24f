"""A Git server on 127.0.0.1 for the local cluster's Argo CD: git's own smart-HTTP backend (`git http-backend`,
run as a CGI program per request) behind the standard library's `http.server`. Argo CD's repo-server fetches
over HTTP(S) or SSH, not from a local path, so `make drill ENGINE=argocd` serves its demo repository with it.

Read-only (`git http-backend` refuses pushes without REMOTE_USER), no authentication, loopback only:

    with GitServer(root) as server:
        url = server.url("demo.git")           # http://127.0.0.1:PORT/demo.git
        server.publish(work_repo, "demo.git")  # a bare clone of work_repo under root

`python -m drb_localcluster.gitserve ROOT` serves ROOT's bare repositories until interrupted.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


def serve_git_http_backend(handler: BaseHTTPRequestHandler, root: Path, *, remote_user: str | None = None) -> None:
    """Answer `handler`'s request by `git http-backend` (CGI) over the repositories under `root`: the one bridge
    every GitServer (this drill server, the tests' GitHttpServer) uses. `remote_user`: the CGI REMOTE_USER (push allowed)."""
    if handler.command == "POST" and "Content-Length" not in handler.headers:
        handler.send_error(411, "chunked request bodies are not supported")
        return
    body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    parts = urlsplit(handler.path)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1", "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": handler.command,
        "PATH_INFO": parts.path, "QUERY_STRING": parts.query, "REMOTE_ADDR": handler.client_address[0],
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
        "GIT_PROTOCOL": handler.headers.get("Git-Protocol", ""),
        "HTTP_CONTENT_ENCODING": handler.headers.get("Content-Encoding", ""),
    }
    if remote_user is not None:
        env["REMOTE_USER"] = remote_user
    done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
    head, sep, payload = done.stdout.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = done.stdout.partition(b"\n\n")
    headers = [line.split(":", 1) for line in head.decode("latin-1").splitlines() if ":" in line]
    status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
    code, _, reason = status.partition(" ")
    handler.send_response(int(code), reason or None)
    for key, value in headers:
        if key.lower() not in ("status", "content-length"):
            handler.send_header(key, value.strip())
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def publish(work: Path, root: Path, name: str) -> Path:
    """A bare clone of the repository `work` at `root/name` (e.g. "demo.git"), ready to serve."""
    dest = Path(root) / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(dest)], check=True, capture_output=True)
    return dest


class _Handler(BaseHTTPRequestHandler):
    server: _Httpd

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.server.owner.serve(self)

    def do_POST(self) -> None:  # noqa: N802
        self.server.owner.serve(self)

    def log_message(self, *args: object) -> None:  # quiet: a drill's output is the restore's
        pass


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    owner: GitServer


class GitServer:
    """Serves the bare repositories under `root` over HTTP (HTTPS with `ssl_context`) on a free loopback port
    while in its `with` block. A subclass may override `serve` (e.g. to authorize a request first)."""

    def __init__(self, root: Path, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.root = Path(root)
        self.ssl_context = ssl_context
        self._httpd: _Httpd | None = None

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request (a GET or POST of `handler`)."""
        serve_git_http_backend(handler, self.root)

    def url(self, name: str) -> str:
        if self._httpd is None:
            raise RuntimeError("the Git server is not started")
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_port}/{name}"

    def publish(self, work: Path, name: str) -> Path:
        """A bare clone of the repository `work` at `root/name` (e.g. "demo.git"), served from now on."""
        return publish(work, self.root, name)

    def __enter__(self) -> GitServer:
        self.root.mkdir(parents=True, exist_ok=True)
        httpd = _Httpd(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        if self.ssl_context is not None:
            httpd.socket = self.ssl_context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, name="git-http", daemon=True).start()
        self._httpd = httpd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m drb_localcluster.gitserve ROOT", file=sys.stderr)
        return 2
    with GitServer(Path(argv[0])) as server:
        print(f"serving the bare repositories under {argv[0]} at {server.url('')}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
