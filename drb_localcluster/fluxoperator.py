"""flux-operator as a host process of a local cluster, built by data/flux-operator.sh (`make flux-operator`).

The operator reconciles FluxInstances as it does in a real cluster: it builds the Flux distribution from the
manifests its image serves from /data (here the build's data/, from the module's config/data: `--storage-path`),
applies them (Flux's CRDs, the namespace, RBAC, the controllers' Deployments and Services), creates the root
source and Kustomization from `spec.sync`, and waits for what it applied to be healthy before it marks the
FluxInstance Ready. On a local cluster pods are simulated by kwok, so the Deployments it applies become
Available without running anything; the real work is done by the Flux controllers that already run as host
processes (LocalCluster(flux=True), flux.py), which start as soon as the operator has applied Flux's CRDs. The
FluxInstance's `spec.components` should name those controllers (source-, kustomize-, helm-controller), and
its patches' flags are not seen by the host processes (give them with LocalCluster(flux_args=…)).

Like the controllers, it runs under the `flux-controller` supervisor: it starts once its own CRDs
(FluxInstance, FluxReport, ResourceSet, ResourceSetInputProvider) are Established — a Helm release of its
chart, or the test, applies them (`crd_dir()`) — with no leader election, no metrics, no web UI, and its
health endpoint on a loopback port.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .procs import build_script_path

BUILD_SCRIPT = Path(__file__).resolve().parent / "data" / "flux-operator.sh"
NAME = "flux-operator"
CRDS = tuple(f"{plural}.fluxcd.controlplane.io"
             for plural in ("fluxinstances", "fluxreports", "resourcesets", "resourcesetinputproviders"))


class FluxOperatorBuildError(RuntimeError):
    """flux-operator.sh failed or its build is incomplete."""


def find_operator_dir(*, build: bool = False) -> Path:
    """flux-operator.sh's versioned dir (the binary, data/, crd/); with `build`, run the script first."""
    found = build_script_path(BUILD_SCRIPT, [] if build else ["--print-bin-dir"], FluxOperatorBuildError)
    if not (found / ".complete").is_file():
        raise FluxOperatorBuildError(f"flux-operator not built in {found}: run `make flux-operator`")
    return found


def crd_dir(operator_dir: Path) -> Path:
    return operator_dir / "crd"


def operator_argv(operator_dir: Path, health_port: int) -> list[str]:
    """The operator refuses to start outside FIPS 140-3 mode ("Operating in non-FIPS mode is not supported");
    upstream builds it with GOFIPS140=latest, which turns the mode on by default. Go's GODEBUG=fips140=on does
    the same at run time for this build (same Go FIPS module, in-tree)."""
    return ["/usr/bin/env", "GODEBUG=fips140=on", str(operator_dir / NAME), f"--storage-path={operator_dir / 'data'}", "--enable-leader-election=false",
            "--metrics-addr=0", f"--health-addr=127.0.0.1:{health_port}", "--web-server-port=0",
            "--log-encoding=json", "--log-level=info"]


def supervisor_argv(kubeconfig: Path, free_port: Callable[[], int], operator_dir: Path | None = None) -> list[str]:
    """The supervisor's command line (flux.py's `flux-controller`, waiting for the operator's CRDs)."""
    found = operator_dir or find_operator_dir()
    return [sys.executable, "-m", "drb_localcluster", "flux-controller", f"--name={NAME}",
            f"--kubeconfig={kubeconfig}", f"--crds={','.join(CRDS)}", "--", *operator_argv(found, free_port())]
