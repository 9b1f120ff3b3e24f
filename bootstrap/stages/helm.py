"""The Helm stage, read-only half: the Helm releases to install before the phases (`--helm NAMESPACE/NAME`,
repeatable, and a playbook's `spec.helmReleases`), each resolved by the engine to its chart from the rendered
set, in install order. No cluster, no chart pulled; `helm_install` pulls and installs them in a restore.

In: `HelmOptions` (the names given), the render's `Rendered` and playbook, the engine.
Out: the engine-neutral `HelmInstall`s in install order; recorded in the report (`helm_releases`, JSON
`helmReleases`) and shown by `plan` before the phases (`render_releases`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bootstrap.report.model import HelmReleaseRecord

if TYPE_CHECKING:
    from bootstrap.commands.options import RestoreOptions
    from bootstrap.engines.base import Engine, HelmInstall, Rendered
    from bootstrap.report.run import Run
    from bootstrap.stages.playbook import Playbook

@dataclass(frozen=True)
class HelmOptions:
    releases: tuple[str, ...] = ()  # --helm, as given

    @classmethod
    def of(cls, opts: RestoreOptions) -> HelmOptions:
        return cls(releases=tuple(opts.helm))


def wanted(options: HelmOptions, playbook: Playbook | None) -> tuple[str, ...]:
    """The releases named: --helm first, then the playbook's, each once."""
    return tuple(dict.fromkeys((*options.releases, *(playbook.helm_releases if playbook else ()))))


def plan_releases(options: HelmOptions, rendered: Rendered, playbook: Playbook | None, engine: Engine,
                  run: Run) -> list[HelmInstall]:
    """The `helm` phase (only when releases are named): the engine resolves them from the rendered set, in
    install order; recorded in the report. A release waiting on one not named is noted (the engine's
    controller waits for it after the hand-over)."""
    names = wanted(options, playbook)
    if not names:
        return []
    with run.phase("helm"):
        releases = engine.helm_releases(rendered, names)
        chosen = {release.key for release in releases}
        for release in releases:
            for dep in release.depends_on:
                if dep not in chosen:
                    run.progress.note(f"Helm release {release.key} depends on {dep}, which is not among those "
                                      f"installed before the phases: it is installed without waiting for {dep}, "
                                      f"which {engine.name} reconciles after the hand-over")
        run.report.helm_releases = [HelmReleaseRecord.of(release) for release in releases]
    return releases


def render_releases(releases: list[HelmInstall]) -> list[str]:
    """`plan`'s lines for them, before the phases: `1. namespace/name: chart version from repository`, and
    the release's name and namespace when they are not the object's."""
    if not releases:
        return []
    lines = ["Helm releases, installed before the phases:"]
    for index, release in enumerate(releases, 1):
        extra = []
        if release.release_name != release.name:
            extra.append(f"release {release.release_name}")
        if release.target_namespace != release.namespace:
            extra.append(f"into namespace {release.target_namespace}")
        lines.append(f"  {index}. {release.key}: {release.chart} {release.version} from {release.repository}"
                     + (f" ({', '.join(extra)})" if extra else ""))
    return lines
