"""`restore`: the whole pipeline, one stage after another (docs/architecture.md).

    keys → source → render → validate           (read-only: `plan` runs these, `commands.plan.planned`)
    → helm pull (only with Helm releases: every chart pulled, read-only)
    → target → install-key → helm crds/install → apply/verify → consumers → hand-over → report

The one promise that spans stages is kept here: everything that can be found wrong is found before the
first write to the cluster (the target confirmation is the last step before it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap import engines, helmcli
from bootstrap.commands.options import RestoreOptions, check_options
from bootstrap.commands.plan import planned
from bootstrap.model import ObjectRef
from bootstrap.report.model import RunReport
from bootstrap.stages import apply, handover, helm_install, install_key, target, verify
from bootstrap.stages.keys import load_key

if TYPE_CHECKING:
    from bootstrap.report.run import Run
    from bootstrap.stages.keys import KeyRing


def find_helm(opts: RestoreOptions, run: Run) -> helmcli.Helm:
    """The helm that installs the Helm releases (--helm-bin, else PATH), its version in progress and report."""
    helm = helmcli.find(opts.helm_bin, kubeconfig=opts.kubeconfig, context=opts.context)
    run.report.helm_version = helm.version
    run.progress.note(f"helm {helm.version} ({helm.path}) installs the Helm releases")
    return helm


def restore(opts: RestoreOptions, run: Run, *, keyring: KeyRing | None = None,
            ask: Callable[[str], bool] | None = None) -> RunReport:
    """Run a whole restore. Fills the run's report as it goes (also when it raises). `ask` is the terminal's
    yes/no question (None without a terminal): a cluster that is not fresh needs a yes, or --yes."""
    check_options(opts)
    helms = [find_helm(opts, run)] if opts.helm else []  # before anything is cloned: no helm, no restore

    def need_helm(releases: list) -> None:  # a playbook's releases: before the cluster is asked anything
        if releases and not helms:
            helms.append(find_helm(opts, run))

    engine = engines.get(opts.engine)
    keyring = keyring or load_key(opts.age_key_file, run.progress)
    run.report.key_recipient = keyring.recipients[0] if keyring.recipients else None
    with planned(opts, run, keyring, engine, on_releases=need_helm) as (validated, cluster, releases), \
            tempfile.TemporaryDirectory(prefix="drb-charts-") as charts:
        plan = validated.plan
        prepared = None
        if releases:  # every chart pulled before the first write
            prepared = helm_install.prepare(releases, plan.manifests, helms[0], run, Path(charts),
                                            timeout=opts.timeout)
        if opts.dry_run:
            run.progress.note("dry run: the API server validates every object; nothing is persisted")
        else:
            writes = [m.ref for m in plan.manifests] + (prepared.writes() if prepared else [])
            writes += [ObjectRef("v1", "Secret", t.namespace, t.name) for t in validated.key_secrets]
            target.confirm_target(cluster, writes, run, yes=opts.yes, ask=ask)
        install_key.install_key(cluster, run, validated.key_secrets, keyring, dry_run=opts.dry_run,
                                allow_any_key=opts.allow_any_key_name)
        if prepared:
            helm_install.install(cluster, run, prepared, dry_run=opts.dry_run, timeout=opts.timeout)
        gate = None if validated.promised is None else apply.promised_gate(
            cluster, run, plan, validated.promised, engine.await_promised, timeout=opts.timeout)
        applied = apply.apply_plan(cluster, run, plan, apply.ApplyOptions.of(opts), engine_owns=engine.owns,
                                   before_phase=gate)
        if not opts.dry_run:
            verify.verify_consumers(cluster, run, [m.ref for m in plan.manifests], applied.secrets,
                                    restart=opts.restart_consumers, timeout=opts.timeout)
            handover.hand_over(engine, cluster, run, plan.manifests, wait=opts.wait_gitops, timeout=opts.timeout)
    run.report.result = "succeeded"
    return run.report
