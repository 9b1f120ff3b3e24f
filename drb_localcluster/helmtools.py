"""Where the helm CLI and the OCI registry built by data/helm.sh are (`make helm`, `make registry`).

The paths are stable for a pin (data/versions.env HELM_VERSION, DISTRIBUTION_VERSION):
~/.cache/dr-bootstrap/helm-<version>/helm and ~/.cache/dr-bootstrap/registry-<version>/registry. Anything that
wants the project's helm (the tests, the benchmarks, another engine's tests) asks `helm_path()`; the restore
tool itself never imports this: it takes `--helm-bin` or helm from PATH.
"""

from __future__ import annotations

from pathlib import Path

from .procs import build_script_path

BUILD_SCRIPT = Path(__file__).resolve().parent / "data" / "helm.sh"


class HelmBuildError(RuntimeError):
    """helm.sh failed or the binary is missing."""


def _path(what: str, build: bool) -> Path:
    path = build_script_path(BUILD_SCRIPT, [what] if build else ["--print-path", what], HelmBuildError)
    if not path.is_file():
        raise HelmBuildError(f"{what} is not built at {path}: run `make {what}`")
    return path


def helm_path(*, build: bool = False) -> Path:
    """The pinned helm v4 binary; with `build`, built first when missing. HelmBuildError when absent."""
    return _path("helm", build)


def registry_path(*, build: bool = False) -> Path:
    """The pinned CNCF Distribution registry binary; with `build`, built first when missing."""
    return _path("registry", build)
