"""Fetch the GitOps repository: a shallow, read-only clone into a private temporary directory.

Credentials never touch argv or disk: an HTTPS token is read from an environment variable by a tiny
GIT_ASKPASS helper (the helper holds the variable's *name*, not the token), and an SSH deploy key is
passed as a path in GIT_SSH_COMMAND with strict host key checking.  Git never prompts
(GIT_TERMINAL_PROMPT=0, ssh BatchMode).  Every failure becomes a one-line SourceError (exit 3).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import git

from bootstrap.errors import SourceError

_HEX_REF = re.compile(r"^[0-9a-fA-F]{7,40}$")
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")
_ASKPASS_VAR = "DR_BOOTSTRAP_TOKEN_VAR"
# Answers git's "Username for ..." with a neutral user (GitHub/Gitea accept any with a token) and
# "Password for ..." with the value of the variable named in $DR_BOOTSTRAP_TOKEN_VAR.
_ASKPASS_SCRIPT = f"""#!/bin/sh
case "$1" in
  Username*) echo "${{DR_BOOTSTRAP_GIT_USER:-x-access-token}}" ;;
  *) printenv "${_ASKPASS_VAR}" || true ;;
esac
"""

# (pattern in git's stderr, one-line cause); the first match wins.
_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), cause)
    for p, cause in (
        (r"remote branch .* not found|couldn't find remote ref|not our ref|unknown revision", "unknown ref"),
        (r"authentication failed|could not read (username|password)|permission denied \(publickey|"
         r"invalid username or password|terminal prompts disabled|HTTP (401|403)", "authentication failed"),
        (r"host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED", "SSH host key not trusted "
         "(add it to the known_hosts file)"),
        (r"server certificate verification failed|SSL certificate problem|certificate verify failed",
         "server certificate not trusted (set GIT_SSL_CAINFO to the CA bundle of the Git server)"),
        (r"does not appear to be a git repository|not a git repository", "not a git repository"),
        (r"repository .* (does not exist|not found)|HTTP 404|no such file or directory", "repository not found"),
        (r"could not resolve host|connection (refused|timed out)|network is unreachable|failed to connect|"
         r"could not read from remote repository|unable to access", "repository unreachable"),
    )
)


@dataclass(frozen=True)
class Checkout:
    """A cloned repository on local disk; valid only inside the `checkout()` context."""

    root: Path
    commit: str
    ref: str | None
    url: str  # credentials stripped

    def resolve(self, path: str = ".", *, files: bool = False) -> Path:
        """The directory `path` (relative to the repo root), or with `files` a directory or a single file (a
        secret-zero `*.sops.yaml`); SourceError if missing or outside the repo."""
        root = self.root.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise SourceError(f"--path {path!r} points outside the repository")
        if not (target.is_dir() or files and target.is_file()):
            raise SourceError(f"--path {path!r} not found in {self.url} at {self.commit[:12]}")
        return target


def redact_url(url: str) -> str:
    """`url` without user info secrets: `https://user:tok@host/x` -> `https://user@host/x`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme or parts.password is None and "@" not in parts.netloc:
        return url
    user = parts.username if parts.password is None else None
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}@{host}" if user and parts.scheme == "ssh" else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def git_environment(
    *,
    askpass: Path,
    token_env: str,
    ssh_key_file: str | None = None,
    known_hosts_file: str | None = None,
    base: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """Environment for every git call: no prompts, askpass for the token, strict SSH."""
    env = dict(base)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS=str(askpass),
        SSH_ASKPASS=str(askpass),
        **{_ASKPASS_VAR: token_env},
    )
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if ssh_key_file:
        ssh += ["-i", ssh_key_file, "-o", "IdentitiesOnly=yes"]
    if known_hosts_file:
        ssh += ["-o", f"UserKnownHostsFile={known_hosts_file}"]
    env["GIT_SSH_COMMAND"] = shlex.join(ssh)
    env.pop("GIT_SSH", None)
    return env


def _is_local_path(url: str) -> bool:
    return "://" not in url and not re.match(r"^[^/]+@[^/:]+:", url) and not re.match(r"^[a-zA-Z0-9.-]+:[^/]", url)


def _check_url(url: str, ssh_key_file: str | None, known_hosts_file: str | None) -> None:
    shown = redact_url(url)
    if "://" in url and urlsplit(url).password is not None:
        raise SourceError(
            f"repository URL {shown} embeds a password", hint="pass the token in an environment variable (--token-env)"
        )
    for flag, value in (("--ssh-key", ssh_key_file), ("--known-hosts", known_hosts_file)):
        if value and not Path(value).is_file():
            raise SourceError(f"{flag} file {value} not found")
    local_path = url[len("file://"):] if url.startswith("file://") else url if _is_local_path(url) else None
    if local_path is not None:
        local = Path(local_path)
        if not local.exists():
            raise SourceError(f"cannot clone {shown}: repository not found")
        if not (local / ".git").exists() and not (local / "HEAD").is_file():
            raise SourceError(f"cannot clone {shown}: not a git repository")


def _cause(err: git.GitCommandError) -> str:
    stderr = str(err.stderr or "")
    return next((cause for pattern, cause in _CAUSES if pattern.search(stderr)), "git failed")


def _failure(url: str, ref: str | None, err: git.GitCommandError) -> SourceError:
    stderr = str(err.stderr or "")
    cause = _cause(err)
    where = f"{redact_url(url)}" + (f" at ref {ref!r}" if ref and cause == "unknown ref" else "")
    detail = next((ln.strip() for ln in stderr.splitlines() if ln.strip().startswith(("fatal:", "error:"))), "")
    detail = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), detail)[:200]
    return SourceError(f"cannot clone {where}: {cause}" + (f" ({detail})" if detail and cause == "git failed" else ""))


def _shallow_clone(url: str, dest: Path, env: dict[str, str], **options: object) -> git.Repo:
    """`git clone --depth 1`, or a full clone from servers that cannot serve shallow (dumb HTTP)."""
    try:
        return git.Repo.clone_from(url, dest, env=env, depth=1, single_branch=True, **options)
    except git.GitCommandError as err:
        if "shallow" not in str(err.stderr or ""):
            raise
    shutil.rmtree(dest, ignore_errors=True)
    return git.Repo.clone_from(url, dest, env=env, single_branch=True, **options)


def _clone(url: str, ref: str | None, dest: Path, env: dict[str, str]) -> git.Repo:
    """Shallow clone of `ref` (default branch when None); by SHA via a shallow fetch, else a full clone."""
    try:
        if ref is None:
            return _shallow_clone(url, dest, env)
        try:
            return _shallow_clone(url, dest, env, branch=ref)
        except git.GitCommandError as err:
            if not _HEX_REF.match(ref) or _cause(err) != "unknown ref":
                raise
        shutil.rmtree(dest, ignore_errors=True)
        return _clone_commit(url, ref, dest, env)
    except git.GitCommandError as err:
        raise _failure(url, ref, err) from None


def _clone_commit(url: str, sha: str, dest: Path, env: dict[str, str]) -> git.Repo:
    if len(sha) == 40:
        repo = git.Repo.init(dest)
        try:
            repo.git.remote("add", "origin", url, env=env)
            repo.git.fetch("--depth", "1", "origin", sha, env=env)
            repo.git.checkout("--detach", "FETCH_HEAD", env=env)
            return repo
        except git.GitCommandError:
            repo.close()
            shutil.rmtree(dest, ignore_errors=True)
    repo = git.Repo.clone_from(url, dest, env=env, no_checkout=True)
    try:
        commit = repo.git.rev_parse("--verify", "--quiet", f"{sha}^{{commit}}", env=env)
    except git.GitCommandError:
        raise SourceError(f"cannot clone {redact_url(url)} at ref {sha!r}: unknown ref") from None
    repo.git.checkout("--detach", commit, env=env)
    return repo


def remove_tree(path: Path) -> None:
    """A checkout's directory, gone (what `checkout` does on exit unless given another `remove`)."""
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def checkout(
    url: str,
    ref: str | None = None,
    *,
    token_env: str = "GIT_TOKEN",
    ssh_key_file: str | None = None,
    known_hosts_file: str | None = None,
    remove: Callable[[Path], None] = remove_tree,
) -> Iterator[Checkout]:
    """Clone `url` at `ref` into a private (0700) temporary directory, removed on exit by `remove`.

    `ref` is a branch, tag or full/short commit SHA; None means the remote's default branch.
    """
    _check_url(url, ssh_key_file, known_hosts_file)
    workdir = Path(tempfile.mkdtemp(prefix="dr-bootstrap-"))  # mkdtemp makes it 0700
    try:
        askpass = workdir / "askpass.sh"
        askpass.write_text(_ASKPASS_SCRIPT)
        askpass.chmod(0o700)
        env = git_environment(
            askpass=askpass, token_env=token_env, ssh_key_file=ssh_key_file, known_hosts_file=known_hosts_file
        )
        repo = _clone(url, ref, workdir / "repo", env)
        with repo:
            commit = repo.head.commit.hexsha
        yield Checkout(root=workdir / "repo", commit=commit, ref=ref, url=redact_url(url))
    finally:
        remove(workdir)
