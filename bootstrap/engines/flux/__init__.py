"""Flux: its Kustomizations rendered as kustomize-controller would (`render`, `kustomizations`, `objects`,
`postbuild`, `envsubst*`), where its key goes, its readiness rules (`readiness`), the hand-over to its
controllers (`converge`, `handover`), and its HelmReleases as releases to install before it runs
(`helmreleases`). `engine` puts it behind the engine interface."""

from bootstrap.engines.flux.engine import ENGINE

__all__ = ["ENGINE"]
