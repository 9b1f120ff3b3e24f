"""`restore`: the whole pipeline, one stage after another (docs/architecture.md).

    keys → source → render → validate           (read-only: `plan` runs these, `commands.plan.planned`)
    → target → install-key → apply/verify → consumers → hand-over → report

The one promise that spans stages is kept here: everything that can be found wrong is found before the
first write to the cluster (the target confirmation is the last step before it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bootstrap import __version__, engines
from bootstrap.commands.options import RestoreOptions, check_options
from bootstrap.errors import BootstrapError
from bootstrap.model import ObjectRef
from bootstrap.report.model import RunReport
from bootstrap.scrub import Scrubber

if TYPE_CHECKING:
    from bootstrap.report.run import Run
    from bootstrap.stages.keys import KeyRing


def new_report(command: str, opts: RestoreOptions | None = None, *, scrubber: Scrubber | None = None) -> RunReport:
    """The run's report; `scrubber` is the one the run's progress was built with, so both hide the same values."""
    report = RunReport(command=command, tool_version=__version__, scrubber=scrubber or Scrubber())
    if opts is not None:
        report.repo, report.ref, report.path, report.paths = opts.repo_url, opts.ref, opts.path, list(opts.paths)
    return report


def finish(report: RunReport, error: BootstrapError | None) -> RunReport:
    report.finish(error=error)
    return report


def restore(opts: RestoreOptions, run: Run, *, keyring: KeyRing | None = None,
            ask: Callable[[str], bool] | None = None) -> RunReport:
    """Run a whole restore. Fills the run's report as it goes (also when it raises). `ask` is the terminal's
    yes/no question (None without a terminal): a cluster that is not fresh needs a yes, or --yes."""
    # deferred: start-up (cli.runner loads this module for every command: a verify loads no pipeline)
    from bootstrap.commands.plan import planned
    from bootstrap.stages import apply, handover, helm, install_key, target, verify
    from bootstrap.stages.keys import load_key

    check_options(opts)
    helm.refuse_installs(opts.helm)  # before anything is cloned: installing them is not built yet
    engine = engines.get(opts.engine)
    keyring = keyring or load_key(opts.age_key_file, run.progress)
    run.report.key_recipient = keyring.recipients[0] if keyring.recipients else None
    with planned(opts, run, keyring, engine, installs_helm=True) as (validated, cluster, _helm_releases):
        plan = validated.plan  # _helm_releases: none yet (refused above and in `planned` until installs are built)
        if opts.dry_run:
            run.progress.note("dry run: the API server validates every object; nothing is persisted")
        else:
            writes = [m.ref for m in plan.manifests]
            writes += [ObjectRef("v1", "Secret", t.namespace, t.name) for t in validated.key_secrets]
            target.confirm_target(cluster, writes, run, yes=opts.yes, ask=ask)
        install_key.install_key(cluster, run, validated.key_secrets, keyring, dry_run=opts.dry_run,
                                allow_any_key=opts.allow_any_key_name)
        applied = apply.apply_plan(cluster, run, plan, apply.ApplyOptions.of(opts), engine_owns=engine.owns)
        if not opts.dry_run:
            verify.verify_consumers(cluster, run, [m.ref for m in plan.manifests], applied.secrets,
                                    restart=opts.restart_consumers, timeout=opts.timeout)
            handover.hand_over(engine, cluster, run, plan.manifests, wait=opts.wait_gitops, timeout=opts.timeout)
    run.report.result = "succeeded"
    return run.report
