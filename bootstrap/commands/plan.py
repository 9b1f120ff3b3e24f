"""`plan`: the pipeline up to validate (keys → source → render → validate), without a cluster unless
--server-dry-run asks the API server to check every object too. `planned` is that read-only half, which
`restore` runs first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

from bootstrap import engines
from bootstrap.commands.options import RestoreOptions, check_options
from bootstrap.stages import helm, render, session, substitute_from, validate
from bootstrap.stages.apply import dry_run_wave
from bootstrap.stages.keys import load_key
from bootstrap.stages.validate import needs_crd

if TYPE_CHECKING:
    from bootstrap.engines.base import Engine, HelmInstall
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run
    from bootstrap.stages.keys import KeyRing
    from bootstrap.stages.validate import Validated


class Planned(NamedTuple):
    validated: Validated
    cluster: Cluster | None  # None offline
    helm_releases: list[HelmInstall]  # to install before the phases, in order


@contextmanager
def planned(opts: RestoreOptions, run: Run, keyring: KeyRing, engine: Engine, *,
            offline: bool = False,
            on_releases: Callable[[list[HelmInstall]], None] | None = None) -> Iterator[Planned]:
    """Clone, render and decrypt, resolve the Helm releases named, connect, validate and plan; yields
    (validated, cluster, helm releases), the cluster None offline. Nothing is written, no chart is pulled.
    `on_releases(releases)` (restore) runs once they are resolved, before the cluster is asked anything.
    The checkout is gone once this yields; the cluster is closed after."""
    supplied = substitute_from.load(opts.substitute_from, keyring, ignore_mac=opts.ignore_mac)
    with session.opened(session.SourceOptions.of(opts), run, offline=offline) as opened:
        out = render.render(render.RenderOptions.of(opts, supplied), opened.checkout, keyring, run, engine=engine,
                            lookup=opened.lookup())
        releases = helm.plan_releases(helm.HelmOptions.of(opts), out.rendered, out.playbook, engine, run)
        if on_releases is not None:
            on_releases(releases)
        promised = engine.promised_kinds(out.rendered, releases) if releases else None
        validated = validate.validate(out.rendered, out.playbook, keyring, validate.KeyOptions.of(opts), run,
                                      None if offline else opened.connect, promised)
        opened.release_checkout()
        yield Planned(validated, None if offline else opened.connect(), releases)


def plan_only(opts: RestoreOptions, run: Run) -> list[str]:
    """Everything `restore` does before its first write; with --server-dry-run, the API server also validates
    every object. Returns the rendered plan lines; the report's objects are the plan."""
    from bootstrap.stages.order import plan_records, render_plan  # deferred: clone (restore loads it while git clones)

    check_options(opts)
    engine = engines.get(opts.engine)
    keyring = load_key(opts.age_key_file, run.progress)
    run.report.key_recipient = keyring.recipients[0] if keyring.recipients else None
    with planned(opts, run, keyring, engine, offline=not opts.server_dry_run) as (validated, cluster, releases):
        unknown = needs_crd(validated.plan.manifests) if cluster is None else (lambda ref: False)
        lines = helm.render_releases(releases) + render_plan(validated.plan, unknown)
        for record in plan_records(validated.plan, unknown):
            run.record(record)
        if cluster is not None:
            with run.phase("server-dry-run"):
                for phase in validated.plan.phases:
                    for wave in phase.waves:
                        dry_run_wave(cluster, run, "server-dry-run", wave.manifests, recreate=opts.recreate)
    run.report.result = "succeeded"
    return lines
