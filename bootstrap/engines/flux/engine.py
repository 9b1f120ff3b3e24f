"""Flux behind the engine interface (`bootstrap.engines.base.Engine`): each method hands over to the module
that does the work, so this file reads as the list of what Flux means to a restore."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bootstrap.engines.base import ClusterLookup, HelmInstall, KeyTarget, Rendered, RenderedPhase, RenderInputs
from bootstrap.engines.flux import helmreleases
from bootstrap.engines.flux.kustomizations import parse_selection
from bootstrap.model import Manifest, ObjectRef

if TYPE_CHECKING:
    from bootstrap.engines.flux.render import Rendering
    from bootstrap.kube import Cluster
    from bootstrap.kustomize.builder import Builder
    from bootstrap.report.run import Run

TOOLKIT_GROUP_SUFFIX = ".toolkit.fluxcd.io"


class FluxEngine:
    name = "flux"

    def check_selection(self, values: Sequence[str]) -> None:
        parse_selection(values)

    def render(self, inputs: RenderInputs, builder: Builder, *, lookup: ClusterLookup | None,
               notes: Callable[[str], None]) -> Rendered:
        """Entry paths, then the selected Kustomizations with their dependsOn closure, as kustomize-controller
        builds them (`engines.flux.render`)."""
        # deferred: clone (kustomize and SOPS load while git clones, stages/session.py)
        from bootstrap.engines.flux.render import RenderRequest, render_repository

        request = RenderRequest(paths=inputs.paths, kustomizations=inputs.selection, source=inputs.source,
                                concurrency=inputs.concurrency)
        return rendered(render_repository(request, builder, cluster=lookup, notes=notes))

    def owns(self, ref: ObjectRef) -> bool:
        """A Flux toolkit object (Kustomization, GitRepository, HelmRelease, …)."""
        return ref.group.endswith(TOOLKIT_GROUP_SUFFIX)

    def installs(self, refs: Sequence[ObjectRef]) -> bool:
        from bootstrap.engines.flux.converge import installs_flux  # deferred: clone (it loads the kube client)

        return installs_flux(refs)

    def hand_over(self, cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
        from bootstrap.engines.flux.handover import hand_over  # deferred: clone (it loads the kube client)

        hand_over(cluster, run, manifests, timeout=timeout)

    def helm_releases(self, rendered: Rendered, names: Sequence[str]) -> list[HelmInstall]:
        """The named HelmReleases with their OCIRepository or HelmRepository chart, in dependsOn order, as
        helm-controller would install them (`helmreleases`)."""
        return helmreleases.helm_releases(rendered, names)


def key_targets(rendering: Rendering) -> list[KeyTarget]:
    """Every distinct Secret a restored Kustomization's `decryption.secretRef` names, in phase order."""
    found: dict[tuple[str, str], list[str]] = {}
    for phase in rendering.phases:
        k = phase.kustomization
        if k is not None and k.decrypts and k.decryption_secret:
            found.setdefault((k.key.namespace, k.decryption_secret), []).append(f"Kustomization {k.key}")
    return [KeyTarget(namespace, name, ", ".join(why)) for (namespace, name), why in found.items()]


def rendered(rendering: Rendering) -> Rendered:
    """Flux's rendering in the engine-neutral form the pipeline reads."""
    return Rendered(
        engine=FluxEngine.name,
        phases=[RenderedPhase(p.name, p.path, p.origin, p.manifests) for p in rendering.phases],
        source=f"{rendering.source.ref.namespace}/{rendering.source.ref.name}",
        key_targets=key_targets(rendering),
        left_to_engine=[f"Kustomization {k.key}" for k in rendering.not_selected],
        not_restorable=[f"Kustomization {k.key} ({k.source})" for k in rendering.not_restorable],
    )


ENGINE = FluxEngine()
