"""source.checkout against real git repositories made at test time (file://, plain paths, dumb HTTP)."""

from __future__ import annotations

import base64
import functools
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bootstrap.errors import ExitCode, SourceError
from bootstrap.stages.source import checkout, git_environment, redact_url, remove_tree

GIT_ID = ["-c", "user.email=t@example.invalid", "-c", "user.name=test", "-c", "commit.gpgsign=false"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> dict:
    """main: c1 (tag v1, clusters/prod/a.yaml) -> c2 (adds b.yaml); branch 'feature' -> c3 (feature.yaml)."""
    root = tmp_path_factory.mktemp("origin") / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "clusters" / "prod").mkdir(parents=True)
    (root / "clusters" / "prod" / "a.yaml").write_text("a: 1\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "c1")
    _git(root, "tag", "v1")
    c1 = _git(root, "rev-parse", "HEAD")
    (root / "b.yaml").write_text("b: 1\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "c2")
    c2 = _git(root, "rev-parse", "HEAD")
    _git(root, "checkout", "-qb", "feature")
    (root / "feature.yaml").write_text("f: 1\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "c3")
    c3 = _git(root, "rev-parse", "HEAD")
    _git(root, "checkout", "-q", "main")
    return {"path": root, "c1": c1, "c2": c2, "c3": c3}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}


def test_default_branch_from_plain_path(repo):
    with checkout(str(repo["path"])) as co:
        assert co.commit == repo["c2"]
        assert co.ref is None
        assert _files(co.root) == {"clusters/prod/a.yaml", "b.yaml"}
        assert co.resolve("clusters/prod") == (co.root / "clusters/prod").resolve()


@pytest.mark.parametrize(
    "ref, expect, files",
    [
        ("main", "c2", {"clusters/prod/a.yaml", "b.yaml"}),
        ("feature", "c3", {"clusters/prod/a.yaml", "b.yaml", "feature.yaml"}),
        ("v1", "c1", {"clusters/prod/a.yaml"}),
    ],
)
def test_branch_and_tag_over_file_url_are_shallow(repo, ref, expect, files):
    with checkout(f"file://{repo['path']}", ref) as co:
        assert co.commit == repo[expect]
        assert _files(co.root) == files
        assert _git(co.root, "rev-parse", "--is-shallow-repository") == "true"


def test_full_sha_is_fetched_shallow(repo):
    with checkout(f"file://{repo['path']}", repo["c1"]) as co:
        assert co.commit == repo["c1"]
        assert _files(co.root) == {"clusters/prod/a.yaml"}
        assert _git(co.root, "rev-parse", "--is-shallow-repository") == "true"


def test_short_sha_falls_back_to_full_clone(repo):
    with checkout(str(repo["path"]), repo["c3"][:9]) as co:
        assert co.commit == repo["c3"]
        assert "feature.yaml" in _files(co.root)


def test_workdir_is_private_and_removed(repo):
    with checkout(str(repo["path"])) as co:
        workdir = co.root.parent
        assert workdir.stat().st_mode & 0o777 == 0o700
    assert not workdir.exists()


def test_removal_is_handed_to_the_caller_when_asked(repo):
    handed: list[Path] = []
    with checkout(str(repo["path"]), remove=handed.append) as co:
        workdir = co.root.parent
    assert handed == [workdir] and (workdir / "repo").is_dir()  # the caller removes it, e.g. in the background
    remove_tree(workdir)
    assert not workdir.exists()


def test_workdir_removed_when_body_raises(repo):
    with pytest.raises(RuntimeError):
        with checkout(str(repo["path"])) as co:
            workdir = co.root.parent
            raise RuntimeError("boom")
    assert not workdir.exists()


@pytest.mark.parametrize("ref", ["no-such-branch", "deadbeef", "0" * 40])
def test_unknown_ref(repo, ref):
    with pytest.raises(SourceError, match=f"at ref '{ref}': unknown ref") as exc:
        with checkout(f"file://{repo['path']}", ref):
            pass
    assert exc.value.exit_code == ExitCode.SOURCE


def test_missing_path_and_escape(repo):
    with checkout(str(repo["path"])) as co:
        with pytest.raises(SourceError, match=r"--path 'clusters/staging' not found in .* at [0-9a-f]{12}"):
            co.resolve("clusters/staging")
        with pytest.raises(SourceError, match="outside the repository"):
            co.resolve("../..")
        with pytest.raises(SourceError, match="not found"):
            co.resolve("b.yaml")  # a file is not a directory


def test_not_found_and_not_a_repo(tmp_path):
    with pytest.raises(SourceError, match="repository not found"):
        with checkout(str(tmp_path / "missing")):
            pass
    with pytest.raises(SourceError, match="repository not found"):
        with checkout(f"file://{tmp_path}/missing"):
            pass
    with pytest.raises(SourceError, match="not a git repository"):
        with checkout(str(tmp_path)):
            pass


def test_unreachable_fails_fast_without_prompt(unused_tcp_port):
    with pytest.raises(SourceError, match=r"^cannot clone https://127\.0\.0\.1:\d+/x\.git: repository unreachable$"):
        with checkout(f"https://127.0.0.1:{unused_tcp_port}/x.git"):
            pass


def test_password_in_url_is_refused_and_never_shown():
    with pytest.raises(SourceError) as exc:
        with checkout("https://bob:hunter2@example.invalid/repo.git"):
            pass
    assert "hunter2" not in str(exc.value) and "embeds a password" in str(exc.value)


def test_missing_ssh_key_file_is_named(tmp_path):
    with pytest.raises(SourceError, match="--ssh-key file .*/nokey not found"):
        with checkout("git@example.invalid:org/repo.git", ssh_key_file=str(tmp_path / "nokey")):
            pass


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://user:tok@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://ghp_secret@github.com/o/r.git", "https://github.com/o/r.git"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("/srv/repo", "/srv/repo"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_git_environment_is_strict_and_carries_no_secret(tmp_path):
    env = git_environment(
        askpass=tmp_path / "askpass.sh",
        token_env="MY_TOKEN",
        ssh_key_file="/keys/deploy key",
        known_hosts_file="/keys/known_hosts",
        base={"MY_TOKEN": "s3cr3t", "PATH": "/bin"},
    )
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    ssh = env["GIT_SSH_COMMAND"]
    assert "StrictHostKeyChecking=yes" in ssh and "IdentitiesOnly=yes" in ssh and "BatchMode=yes" in ssh
    assert "-i '/keys/deploy key'" in ssh and "UserKnownHostsFile=/keys/known_hosts" in ssh
    assert "StrictHostKeyChecking=no" not in ssh
    # the token stays only where the caller put it: no other variable carries it
    assert [k for k, v in env.items() if "s3cr3t" in v] == ["MY_TOKEN"]


# --- HTTPS-style token auth, end to end, against a dumb-HTTP git server with Basic auth ---------------


class _AuthHandler(SimpleHTTPRequestHandler):
    expected = ""
    seen_paths: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server naming)
        self.seen_paths.append(self.path)
        if self.headers.get("Authorization") != f"Basic {self.expected}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def http_repo(repo, tmp_path):
    bare = tmp_path / "srv" / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo["path"]), str(bare)], check=True)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)
    handler = type("H", (_AuthHandler,), {"seen_paths": []})
    handler.expected = base64.b64encode(b"x-access-token:tok-123").decode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path / "srv")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/repo.git", repo
    server.shutdown()
    server.server_close()


def test_token_from_env_var_authenticates(http_repo, monkeypatch):
    url, repo = http_repo
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-123")
    with checkout(url, "main", token_env="DEPLOY_TOKEN") as co:
        assert co.commit == repo["c2"]


def test_wrong_or_missing_token_is_an_auth_failure(http_repo, monkeypatch):
    url, _ = http_repo
    monkeypatch.setenv("DEPLOY_TOKEN", "wrong")
    with pytest.raises(SourceError, match="authentication failed") as exc:
        with checkout(url, "main", token_env="DEPLOY_TOKEN"):
            pass
    assert "wrong" not in str(exc.value)
    monkeypatch.delenv("GIT_TOKEN", raising=False)
    with pytest.raises(SourceError, match="authentication failed"):
        with checkout(url):
            pass


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

