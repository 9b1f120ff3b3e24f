"""Real Git servers for tests, on 127.0.0.1: git's own smart-HTTP backend (`git http-backend`) behind a
small HTTP(S) front end that can demand a token, and OpenSSH's sshd with git-shell as the only command.

Both serve the bare repositories under one root directory; `publish` (drb_localcluster.gitserve's) puts a
working repository there.
They run for the length of a `with` block; nothing is mocked: the clients (git, ssh, Flux's go-git) speak
the real protocols to the real server programs.
"""

from __future__ import annotations

import base64
import getpass
import hmac
import os
import shlex
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from drb_localcluster import pki as pki_mod
from drb_localcluster.gitserve import GitServer, publish, serve_git_http_backend
from drb_localcluster.procs import free_port

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class Tls:
    """A CA made at test time and a server certificate it signed for 127.0.0.1 and localhost."""

    ca_cert: Path
    cert: Path
    key: Path

    @classmethod
    def make(cls, directory: Path) -> Tls:
        pki = pki_mod.generate(directory)  # the local cluster's generator: a CA and a 127.0.0.1 serving cert
        return cls(pki.ca_cert, pki.cert, pki.key)


# ------------------------------------------------------------------------------------------ HTTP(S)


class GitHttpServer(GitServer):
    """`git http-backend` over HTTP, or HTTPS with `tls`, serving the bare repositories under `root`
    (drb_localcluster.gitserve's server, which the drill uses too, plus authorization and a record).

    With `token`, every request must carry HTTP Basic credentials whose password is the token (any user
    name, as GitHub and GitLab accept); others get 401. `requests` lists (method, path, authorized)."""

    def __init__(self, root: Path, token: str | None = None, tls: Tls | None = None) -> None:
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls.cert), str(tls.key))
        super().__init__(root, ssl_context=context)
        self.token = token
        self.tls = tls
        self.requests: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()

    def authorized(self, header: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), self.token.encode())

    def record(self, method: str, path: str, authorized: bool) -> None:
        with self._lock:
            self.requests.append((method, path, authorized))

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Authorize the request, record it, then hand it to `git http-backend` (pushes allowed with a token)."""
        authorized = self.authorized(handler.headers.get("Authorization"))
        self.record(handler.command, handler.path, authorized)
        if not authorized:
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="git"')
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        serve_git_http_backend(handler, self.root, remote_user="token" if self.token is not None else None)


def commit_files(work: Path, files: Mapping[str, str], message: str = "cluster state") -> str:
    """`files` (path -> text) written and committed on `main` of a new repository at `work`; its HEAD commit."""
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*identity, "commit", "-q", "-m", message]):
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True,
                          text=True).stdout.strip()


@contextmanager
def served_files(directory: Path, files: Mapping[str, str], name: str = "fleet.git") -> Iterator[tuple[str, str]]:
    """(URL, HEAD commit) of a repository of `files` (`commit_files` in `directory`/work, published under
    `directory`/srv as `name`), served over HTTP by a GitHttpServer for the length of the `with` block."""
    head = commit_files(directory / "work", files)
    publish(directory / "work", directory / "srv", name)
    with GitHttpServer(directory / "srv") as server:
        yield server.url(name), head


# ------------------------------------------------------------------------------------------ SSH


@dataclass(frozen=True)
class SshKey:
    private: Path
    public: str  # the authorized_keys line


def ssh_keygen(path: Path, kind: str = "ed25519", comment: str = "dr-bootstrap-test") -> SshKey:
    """A new key pair without passphrase (private key mode 0600) at `path` and `path`.pub."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True)
    return SshKey(path, path.with_suffix(".pub").read_text().strip())


@dataclass
class SshGitServer:
    """OpenSSH's sshd (not daemonized, a child of the test) on a loopback port, serving the bare
    repositories under `root` to the holders of `authorized` keys, as the current user, whose only
    command is git-shell (so only git-upload-pack and friends run). Own config, host key and log in
    `state_dir`; the URL names a repository by its absolute path."""

    root: Path
    state_dir: Path
    authorized: list[SshKey]
    user: str = field(default_factory=getpass.getuser)
    port: int = 0
    host_key: SshKey | None = field(default=None, init=False)
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def url(self, name: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{(self.root / name).resolve()}"

    def known_hosts(self, path: Path, key: SshKey | None = None) -> Path:
        """A known_hosts file at `path` trusting `key` (default: this server's host key) for the server."""
        key = key or self.host_key
        assert key is not None, "server not started"
        kind, blob = key.public.split()[:2]
        path.write_text(f"[127.0.0.1]:{self.port} {kind} {blob}\n")
        return path

    @property
    def log(self) -> Path:
        return self.state_dir / "sshd.log"

    def __enter__(self) -> SshGitServer:
        if not SSHD.is_file():
            raise AssertionError(f"{SSHD} not found: install openssh-server (`make sshd`)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.host_key = ssh_keygen(self.state_dir / "host_ed25519", comment="test-host")
        (self.state_dir / "authorized_keys").write_text("".join(f"{k.public}\n" for k in self.authorized))
        if os.geteuid() == 0:  # sshd started by root insists on its privilege-separation directory
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            self._start()
            if self._wait_listening():
                return self
            self.__exit__()
            if attempt == 2 or "Address already in use" not in self.log.read_text(errors="replace"):
                raise AssertionError(f"sshd did not start: {self.log.read_text(errors='replace')[-1500:]}")
        raise AssertionError("unreachable")

    def _start(self) -> None:
        s = self.state_dir
        command = f"cd {shlex.quote(str(self.root))} && exec git-shell -c \"$SSH_ORIGINAL_COMMAND\""
        config = s / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress 127.0.0.1:{self.port}", f"HostKey {self.host_key.private}", "PidFile none",
            f"AuthorizedKeysFile {s / 'authorized_keys'}", f"AllowUsers {self.user}", "StrictModes no",
            "UsePAM no", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "AllowTcpForwarding no",
            "X11Forwarding no", "PermitTTY no", "LogLevel VERBOSE", f"ForceCommand {command}", "",
        ]))
        log = open(self.log, "ab")
        try:
            self._proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

    def _wait_listening(self, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    if conn.recv(4).startswith(b"SSH-"):
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def git_env_for_tls(tls: Tls, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which git trusts `tls`'s CA (GIT_SSL_CAINFO; git reads it from the environment)."""
    env = dict(os.environ if base is None else base)
    env["GIT_SSL_CAINFO"] = str(tls.ca_cert)
    return env

