"""Flux behind the engine interface (`bootstrap.engines.base.Engine`): each method hands over to the module
that does the work, so this file reads as the list of what Flux means to a restore."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bootstrap.engines.base import ClusterLookup, HelmInstall, KeyTarget, PromisedKinds, Rendered, RenderInputs
from bootstrap.engines.flux import helmreleases, instance
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
                                concurrency=inputs.concurrency, supplied=inputs.supplied)
        rendering = render_repository(request, builder, cluster=lookup, notes=notes)
        return rendered(rendering, operator_review(rendering, lookup, notes), notes)

    def owns(self, ref: ObjectRef) -> bool:
        """A Flux toolkit object (Kustomization, GitRepository, HelmRelease, …)."""
        return ref.group.endswith(TOOLKIT_GROUP_SUFFIX)

    def installs(self, refs: Sequence[ObjectRef]) -> bool:
        from bootstrap.engines.flux.converge import installs_flux  # deferred: clone (it loads the kube client)

        # a FluxInstance: flux-operator installs Flux from it
        return installs_flux(refs) or any(r.kind == "FluxInstance" and r.group == instance.GROUP for r in refs)

    def hand_over(self, cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
        from bootstrap.engines.flux.handover import hand_over  # deferred: clone (it loads the kube client)

        hand_over(cluster, run, manifests, timeout=timeout)

    def helm_releases(self, rendered: Rendered, names: Sequence[str]) -> list[HelmInstall]:
        """The named HelmReleases with their OCIRepository or HelmRepository chart, in dependsOn order, as
        helm-controller would install them (`helmreleases`)."""
        return helmreleases.helm_releases(rendered, names)

    def promised_kinds(self, rendered: Rendered, releases: Sequence[HelmInstall]) -> PromisedKinds | None:
        """Flux's kinds, when a release installed before the phases renders a FluxInstance (the flux-instance
        chart's `instance` values): flux-operator installs Flux's CRDs from its distribution. Every Flux
        toolkit kind is namespaced."""
        selected = {release.key for release in releases}
        for m in rendered.manifests:
            if m.ref.kind != "HelmRelease" or f"{m.ref.namespace}/{m.ref.name}" not in selected:
                continue
            one = instance.from_object(m.body, m.source)
            if one is not None:
                return PromisedKinds(TOOLKIT_GROUP_SUFFIX, f"FluxInstance {one.key} of Helm release "
                                     f"{m.ref.namespace}/{m.ref.name} (flux-operator installs Flux's CRDs)")
        return None

    def await_promised(self, cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
        """Every FluxInstance Ready (flux-operator has installed Flux, its CRDs Established), in `flux-instance`."""
        from bootstrap.engines.flux.operatorwait import hand_over_instances  # deferred: clone (kube client)

        with run.phase("flux-instance"):
            hand_over_instances(cluster, run, manifests, timeout=timeout, phase="flux-instance")


def operator_review(rendering: Rendering, lookup: ClusterLookup | None,
                    notes: Callable[[str], None]) -> instance.Review:
    """The FluxInstances of the rendering (`instance.review`): notes, the default age Secret, the pullSecret
    check against the Secrets restored here, else those in the cluster (none offline)."""
    secrets = {(m.ref.namespace or "default", m.ref.name): m.body for m in rendering.manifests
               if m.ref.kind == "Secret" and m.ref.api_version == "v1"}

    def secret_data(namespace: str, name: str):
        body = secrets.get((namespace, name))
        if body is not None:
            return {**(body.get("data") or {}), **(body.get("stringData") or {})}
        return lookup("Secret", namespace, name) if lookup is not None else None

    return instance.review([(m.body, m.source) for m in rendering.manifests], [p.name for p in rendering.phases],
                           secret_data, notes)


def key_targets(rendering: Rendering, review: instance.Review | None = None,
                notes: Callable[[str], None] = lambda _: None) -> list[KeyTarget]:
    """Every distinct Secret a restored Kustomization's `decryption.secretRef` names, in phase order; for those
    with `provider: sops` and no secretRef, the Secret kustomize-controller's `--sops-age-secret` names (set by
    a FluxInstance's patches), in the controller's namespace. Without that flag such a Kustomization decrypts
    nothing (Flux's default): no key goes anywhere for it, and a note says so."""
    found: dict[tuple[str, str], list[str]] = {}
    default = review.default_age if review is not None else None
    defaulted: list[str] = []
    for phase in rendering.phases:
        k = phase.kustomization
        if k is not None and k.decrypts and k.decryption_secret:
            found.setdefault((k.key.namespace, k.decryption_secret), []).append(f"Kustomization {k.key}")
        elif k is not None and k.decrypts and default is not None:
            found.setdefault(default[:2], [])
            defaulted.append(str(k.key))
        elif k is not None and k.decrypts:
            notes(f"Kustomization {k.key}: decryption provider sops without a secretRef, and no FluxInstance "
                  f"restored here sets kustomize-controller's {instance.AGE_FLAG}: Flux decrypts nothing for it "
                  "and no key is installed for it (restore the FluxInstance's Kustomization, or set a secretRef)")
    if default is not None and defaulted:
        shown = ", ".join(defaulted[:3]) + (f" and {len(defaulted) - 3} more" if len(defaulted) > 3 else "")
        found[default[:2]].append(f"{default[2]}, the key of {len(defaulted)} Kustomization(s) with provider sops "
                                  f"and no secretRef ({shown})")
    return [KeyTarget(namespace, name, ", ".join(why)) for (namespace, name), why in found.items()]


def rendered(rendering: Rendering, review: instance.Review | None = None,
             notes: Callable[[str], None] = lambda _: None) -> Rendered:
    """Flux's rendering in the engine-neutral form the pipeline reads."""
    return Rendered(
        engine=FluxEngine.name,
        phases=list(rendering.phases),
        source=f"{rendering.source.ref.namespace}/{rendering.source.ref.name}",
        key_targets=key_targets(rendering, review, notes),
        left_to_engine=[f"Kustomization {k.key}" for k in rendering.not_selected],
        not_restorable=[f"Kustomization {k.key} ({k.source})" for k in rendering.not_restorable],
    )


ENGINE = FluxEngine()
