"""Argo CD behind the engine interface (`bootstrap.engines.base.Engine`): the offline half (render, key
targets, what it owns) and the hand-over: waiting for Argo CD's controllers to sync (`handover`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bootstrap.engines.argocd.apps import GROUP, parse_selection
from bootstrap.engines.base import ClusterLookup, HelmInstall, Rendered, RenderInputs
from bootstrap.errors import UsageError
from bootstrap.model import Manifest, ObjectRef

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.kustomize.builder import Builder
    from bootstrap.report.run import Run


class ArgoCDEngine:
    name = "argocd"

    def check_selection(self, values: Sequence[str]) -> None:
        parse_selection(values)

    def render(self, inputs: RenderInputs, builder: Builder, *, lookup: ClusterLookup | None,
               notes: Callable[[str], None]) -> Rendered:
        # deferred: clone (kustomize and SOPS load while git clones, stages/session.py)
        from bootstrap.engines.argocd.render import render_repository

        return render_repository(inputs, builder, notes)

    def owns(self, ref: ObjectRef) -> bool:
        """Applications, ApplicationSets and AppProjects: only Argo CD's controllers reconcile them."""
        return ref.group == GROUP

    def installs(self, refs: Sequence[ObjectRef]) -> bool:
        kinds = {(r.group, r.kind) for r in refs}
        crd = any(r.kind == "CustomResourceDefinition" and r.name == "applications.argoproj.io" for r in refs)
        return crd and (GROUP, "Application") in kinds

    def hand_over(self, cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
        from bootstrap.engines.argocd.handover import hand_over  # deferred: clone (it loads the kube client)

        hand_over(cluster, run, manifests, timeout=timeout)

    def helm_releases(self, rendered: Rendered, names: Sequence[str]) -> list[HelmInstall]:
        if names:
            raise UsageError(f"--helm {names[0]!r}: the argocd engine has no Helm releases to install first")
        return []

    def promised_kinds(self, rendered: Rendered, releases: Sequence[HelmInstall]) -> None:
        return None  # no Helm releases (above): nothing installs Argo CD's kinds before the phases

    def await_promised(self, cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
        return None


ENGINE = ArgoCDEngine()
