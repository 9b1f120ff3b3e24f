"""The real flux CLI, kustomize and Flux controllers (drb_localcluster/data/flux.sh) for tests: the CLI is the oracle for
how Flux renders a Kustomization; the controllers reconcile a local cluster (LocalCluster(flux=True)).

The binaries are built on first use when missing (`make test` builds them beforehand); a failed build fails
the test, never skips it.
"""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from drb_localcluster import FluxBuildError, find_flux_bin_dir

#: the controllers flux.sh builds, as `flux install --components` names them
COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller")


@functools.cache
def cli_bin_dir() -> Path:
    """Where flux and kustomize are (built by `flux.sh cli` when missing)."""
    try:
        return find_flux_bin_dir(build=True, what="cli")
    except FluxBuildError as exc:
        raise AssertionError(str(exc)) from None


@functools.cache
def flux_bin_dir() -> Path:
    """Where flux, kustomize and the three controllers are (built by `flux.sh` when missing)."""
    try:
        return find_flux_bin_dir(build=True)
    except FluxBuildError as exc:
        raise AssertionError(str(exc)) from None


def flux_bin() -> Path:
    """The flux CLI of the pinned release (drb_localcluster/data/versions.env FLUX_VERSION)."""
    return cli_bin_dir() / "flux"


def kustomize_bin() -> Path:
    """The kustomize whose api module that flux release links (drb_localcluster/data/versions.env KUSTOMIZE_VERSION)."""
    return cli_bin_dir() / "kustomize"


def run_flux(*args: str, env: Mapping[str, str] | None = None, check: bool = True,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`flux ARGS`, output captured as text; with `check`, a non-zero exit raises with flux's stderr."""
    done = subprocess.run([str(flux_bin()), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise AssertionError(f"flux {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    return done


def install_manifests(components: Iterable[str] = COMPONENTS, namespace: str = "flux-system") -> str:
    """`flux install --export` for `components`: the gotk-components.yaml a bootstrapped repo commits."""
    return run_flux("install", "--export", f"--components={','.join(components)}", f"--namespace={namespace}").stdout


def build_kustomization(name: str, path: Path, kustomization_file: Path, *, namespace: str = "flux-system",
                        dry_run: bool = True) -> str:
    """`flux build kustomization NAME --path PATH --kustomization-file FILE [--dry-run]`: what
    kustomize-controller would apply for that Flux Kustomization (with --dry-run no cluster is asked)."""
    args = ["build", "kustomization", name, f"--path={path}", f"--kustomization-file={kustomization_file}",
            f"--namespace={namespace}"]
    return run_flux(*args, *(["--dry-run"] if dry_run else [])).stdout


def condition(obj: Mapping | None, kind: str = "Ready") -> Mapping | None:
    """The status condition of type `kind` of a custom resource dict, or None."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def wait_ready(get: Callable[[], Mapping | None], timeout: float, what: str) -> Mapping:
    """Poll `get()` until the object's Ready condition is True for its current generation; on timeout,
    AssertionError with the last Ready condition seen (reason and message name the cause)."""
    deadline = time.monotonic() + timeout
    last: Mapping | None = None
    while True:
        obj = get()
        ready = condition(obj)
        if obj is not None and ready is not None:
            last = ready
            current = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation")
            if ready.get("status") == "True" and current:
                return obj
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not Ready after {timeout:.0f}s; last Ready condition: {last}")
        time.sleep(0.5)


def apply_install(kube, manifests: str, timeout: float = 60) -> list[dict]:
    """Apply `flux install --export` output with server-side apply (bootstrap.kube.Cluster `kube`): the
    Namespace and CRDs first, then, once the CRDs are Established, everything else. Returns the objects."""
    import yaml

    from bootstrap.kube import wait_established

    docs = [d for d in yaml.safe_load_all(manifests) if d]
    first = [d for d in docs if d["kind"] in ("Namespace", "CustomResourceDefinition")]
    for doc in first:
        kube.apply(doc)
    wait_established(kube, [d["metadata"]["name"] for d in first if d["kind"] == "CustomResourceDefinition"], timeout)
    for doc in docs:
        if doc not in first:
            kube.apply(doc)
    return docs
