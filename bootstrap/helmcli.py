"""The real helm CLI (v4), run as a subprocess: find it, pull a chart, read its CRDs, install a release.

We never render a chart ourselves: every template, pull and install is helm's. Values reach helm only on
its standard input (`-f -`, a pipe): they may hold decrypted secrets, so they never go to a file on disk or
to argv. Registry credentials are helm's own (its registry config, `helm registry login`), as the operator
has them; nothing here reads or passes them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootstrap.errors import RolloutError, SourceError, UsageError

if TYPE_CHECKING:
    from bootstrap.engines.base import HelmInstall

GET_HELM = ("install helm v4 (https://helm.sh/docs/intro/install/), or build it from Go modules in a checkout "
            "of dr-bootstrap with `make helm` (found in ${XDG_CACHE_HOME:-~/.cache}/dr-bootstrap), then pass "
            "--helm-bin FILE or put it on PATH")
MIN_MAJOR = 4  # --server-side, --take-ownership and the watcher wait strategy, as helm-controller installs
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Helm:
    """A helm binary, its version, and the kubeconfig flags of the run."""

    path: str
    version: str
    kube_args: tuple[str, ...] = field(default=())

    def run(self, args: Sequence[str], *, values: bytes | None = None, timeout: float | None = None,
            kube: bool = False) -> subprocess.CompletedProcess[bytes]:
        """helm ARGS; `values` (JSON text) on its stdin for `-f -`. Never raises for helm's own exit code."""
        argv = [self.path, *args, *(self.kube_args if kube else ())]
        try:
            return subprocess.run(argv, input=values if values is not None else b"", capture_output=True,
                                  timeout=timeout, check=False, env=_env())
        except subprocess.TimeoutExpired as err:
            return subprocess.CompletedProcess(argv, 124, err.stdout or b"",
                                               (err.stderr or b"") + f"\nError: helm ran for more than {timeout:.0f}s".encode())


    def run_watched(self, args: Sequence[str], *, values: bytes, timeout: float,
                    watch: Callable[[Callable[[], bool]], None]) -> subprocess.CompletedProcess[bytes]:
        """helm ARGS (with the kube flags) while `watch(helm_done)` runs beside it. When `watch` raises, helm is
        sent SIGTERM (it cancels its wait and records the release as failed), reaped, and the error re-raised."""
        argv = [self.path, *args, *self.kube_args]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=_env())
        io: dict[str, Any] = {}

        def talk() -> None:
            try:
                io["out"] = proc.communicate(values, timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                io["out"] = (out, err + f"\nError: helm ran for more than {timeout:.0f}s".encode())
                io["code"] = 124

        thread = threading.Thread(target=talk, name="helm-install", daemon=True)
        thread.start()
        try:
            watch(lambda: not thread.is_alive())
        except BaseException:
            if proc.poll() is None:
                proc.terminate()
            thread.join(CANCEL_GRACE)
            if thread.is_alive():
                proc.kill()
                thread.join()
            raise
        thread.join()
        out, err = io["out"]
        return subprocess.CompletedProcess(argv, io.get("code", proc.returncode), out, err)


CANCEL_GRACE = 60.0  # seconds helm has, after SIGTERM, to record its release as failed


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HELM_NO_PLUGINS", "1")  # no plugin of the operator's runs inside a restore
    return env


HELM_ENV = "DR_BOOTSTRAP_HELM"  # the environment's --helm-bin


def built_helms() -> list[Path]:
    """helm binaries `make helm` built (with its `.complete` stamp) under ${XDG_CACHE_HOME:-~/.cache}/dr-bootstrap,
    oldest version first."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dr-bootstrap"
    found = [p / "helm" for p in cache.glob("helm-v*") if (p / ".complete").exists() and (p / "helm").is_file()]

    def version(path: Path) -> tuple[int, ...]:
        match = _VERSION.match(path.parent.name.removeprefix("helm-"))
        return tuple(int(n) for n in match.groups()) if match else (0,)

    return sorted(found, key=version)


def locate(explicit: str | None, *, purpose: str = "to install the Helm releases with") -> tuple[str, str]:
    """(path, how it was found) of the helm to run: --helm-bin (`explicit`), else $DR_BOOTSTRAP_HELM, else `helm`
    on PATH, else the newest helm `make helm` built. UsageError (exit 2), saying how to get one, when there is
    none. The one finder of every helm dr-bootstrap runs (installs, and the Argo CD engine's templates)."""
    env = os.environ.get(HELM_ENV)
    if explicit or env:
        where = f"--helm-bin {explicit}" if explicit else f"${HELM_ENV} {env}"
        path = str(explicit or env)
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise UsageError(f"{where}: no helm binary {purpose}", hint=GET_HELM)
        return path, where
    found = shutil.which("helm")
    if found:
        return found, "helm on PATH"
    built = built_helms()
    if built:
        return str(built[-1]), "helm built by `make helm`"
    raise UsageError(f"helm on PATH: no helm binary {purpose}", hint=GET_HELM)


def find(explicit: str | None, *, kubeconfig: str | None = None, context: str | None = None) -> Helm:
    """The helm to install with (`locate`), checked to be helm 4 or newer: UsageError (exit 2), saying how to get
    one, when there is none or it is older."""
    path, where = locate(explicit)
    try:
        result = subprocess.run([path, "version", "--template", "{{.Version}}"], capture_output=True, text=True,
                                timeout=60, check=False, env=_env())
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"{where}: {path} does not run as helm ({type(err).__name__})", hint=GET_HELM) from None
    version = result.stdout.strip()
    match = _VERSION.match(version)
    if result.returncode != 0 or not match:
        raise UsageError(f"{where}: {path} does not report a helm version", hint=GET_HELM)
    if int(match.group(1)) < MIN_MAJOR:
        raise UsageError(f"{where}: {path} is helm {version}; installing the releases as helm-controller does "
                         f"needs helm v{MIN_MAJOR}", hint=GET_HELM)
    kube_args: list[str] = []
    if kubeconfig:
        kube_args += ["--kubeconfig", kubeconfig]
    if context:
        kube_args += ["--kube-context", context]
    return Helm(path, version, tuple(kube_args))


def chart_argv(release: HelmInstall) -> list[str]:
    """How helm names the release's chart: `oci://…/chart` (with `@digest`) or `chart --repo URL`, and its
    version constraint."""
    argv = ([f"{release.oci_ref}@{release.version}"] if release.version_kind == "digest" else [release.oci_ref]) \
        if release.oci else [release.chart, "--repo", release.repository]
    if release.version_kind != "digest" and release.version not in ("latest", "*"):
        argv += ["--version", release.version]
    return argv + (["--plain-http"] if release.insecure else [])


def pull(helm: Helm, release: HelmInstall, dest: Path, *, timeout: float) -> Path:
    """`helm pull` of the release's chart into `dest`; the package's path. SourceError (exit 3) naming chart,
    version and registry when helm cannot pull it."""
    dest.mkdir(parents=True, exist_ok=True)
    result = helm.run(["pull", *chart_argv(release), "--destination", str(dest)], timeout=timeout)
    packages = sorted(dest.glob("*.tgz"))
    if result.returncode != 0 or len(packages) != 1:
        raise SourceError(f"Helm release {release.key}: cannot pull chart {release.chart} version {release.version} "
                          f"from {release.repository}: {message(result)}",
                          hint="check the version exists and that `helm registry login` (or the repository's "
                          "credentials) lets helm pull it")
    return packages[0]


def chart_crds(helm: Helm, release: HelmInstall, package: Path, values: bytes, *, timeout: float) -> str:
    """The chart rendered client-side with the release's values (`helm template`), its crds/ files included
    unless the CRD policy is Skip: the caller keeps the CRDs, those of crds/ and those the templates make."""
    argv = ["template", release.release_name, str(package), "--namespace", release.target_namespace, "-f", "-",
            "--skip-tests"] + (["--include-crds"] if release.crds != "Skip" else [])
    rendered = helm.run(argv, values=values, timeout=timeout)
    if rendered.returncode != 0:
        raise RolloutError(f"Helm release {release.key}: its chart {release.chart} does not render: "
                           f"{message(rendered)}")
    return rendered.stdout.decode("utf-8", "replace")


def install_argv(release: HelmInstall, package: Path, *, create_namespace: bool, dry_run: bool) -> list[str]:
    """`helm upgrade --install` as helm-controller installs (internal/action/install.go): server-side apply
    forcing conflicts, taking ownership of objects already there, its wait strategy and timeout, CRDs applied
    beforehand (--skip-crds), values on stdin."""
    argv = ["upgrade", "--install", release.release_name, str(package), "--namespace", release.target_namespace,
            "-f", "-", "--server-side=true", "--force-conflicts", "--take-ownership", "--skip-crds",
            "--timeout", release.timeout, "--wait=" + ("watcher" if release.wait else "hookOnly")]
    if release.wait and release.wait_for_jobs:
        argv.append("--wait-for-jobs")
    if not release.hooks:
        argv.append("--no-hooks")
    if create_namespace:
        argv.append("--create-namespace")
    if dry_run:
        argv.append("--dry-run=server")
    return argv


def install(helm: Helm, release: HelmInstall, package: Path, values: bytes, *, create_namespace: bool,
            timeout: float, dry_run: bool = False, watch: Callable[[Callable[[], bool]], None] | None = None) -> str:
    """Install (or upgrade) the release; helm's summary. RolloutError (exit 6) with Helm's message when it fails.
    With `watch` (the release's workloads watched by the wait engine while helm waits), a workload that fails
    (a pod in CrashLoopBackOff, ...) stops helm at once: RolloutError with the pod and the reason."""
    argv = install_argv(release, package, create_namespace=create_namespace, dry_run=dry_run)
    failed = (f"Helm release {release.key} ({release.chart} {release.version}) failed to install "
              f"as {release.target_namespace}/{release.release_name}")
    if watch is None:
        result = helm.run(argv, values=values, timeout=timeout, kube=True)
    else:
        try:
            result = helm.run_watched(argv, values=values, timeout=timeout, watch=watch)
        except RolloutError as err:
            raise RolloutError(f"{failed}: {err.message}; helm's wait (--timeout {release.timeout}) was stopped",
                               hint=err.hint, details=err.details) from None
    if result.returncode != 0:
        raise RolloutError(f"{failed}: {message(result)}")
    return result.stdout.decode("utf-8", "replace")


def message(result: subprocess.CompletedProcess[bytes]) -> str:
    """Helm's own message: its `Error:` line(s), else the last lines of its output, on one line."""
    text = (result.stderr or b"").decode("utf-8", "replace").strip()
    errors = [line[len("Error:"):].strip() for line in text.splitlines() if line.startswith("Error:")]
    chosen = "; ".join(errors) if errors else " ".join(text.splitlines()[-3:])
    return " ".join(chosen.split())[:2000] or f"helm exited {result.returncode}"
