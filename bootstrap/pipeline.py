"""The restore pipeline: source → keys → render (kustomize, Flux, sops) → manifests → plan → kube → rollout → report.

This module only sequences the stages. Each lives in its own module: opening the run up to the first write
(`session`: key, clone, connect, `prepare`), what happens on the cluster between applies (`waves`), the
phase bookkeeping (`run`). The one promise that spans stages is kept here: everything that can be found
wrong is found before the first write to the cluster.
"""

from __future__ import annotations

from collections.abc import Callable

from bootstrap import __version__, gitops
from bootstrap.errors import BootstrapError
from bootstrap.model import ObjectRef
from bootstrap.options import RestoreOptions, check_options
from bootstrap.progress import Progress
from bootstrap.report import RunReport, Scrubber
from bootstrap.handover import hand_over
from bootstrap.run import Run
from bootstrap.session import load_key, prepared_run
from bootstrap.waves import confirm_target, dry_run_wave, list_workloads, verified, wait_gates

__all__ = ["RestoreOptions", "check_options", "restore", "plan_only", "verify_only", "new_report", "finish",
           "load_key"]


def new_report(command: str, opts: RestoreOptions | None = None, *, scrubber: Scrubber | None = None) -> RunReport:
    """The run's report; `scrubber` is the one the run's progress was built with, so both hide the same values."""
    report = RunReport(command=command, tool_version=__version__, scrubber=scrubber or Scrubber())
    if opts is not None:
        report.repo, report.ref, report.path, report.paths = opts.repo_url, opts.ref, opts.path, list(opts.paths)
    return report


def finish(report: RunReport, error: BootstrapError | None) -> RunReport:
    report.finish(error=error)
    return report


def restore(opts: RestoreOptions, progress: Progress, report: RunReport, *, keyring=None,
            ask: Callable[[str], bool] | None = None) -> RunReport:
    """Run a whole restore. Fills `report` as it goes (also when it raises). `ask` is the terminal's yes/no
    question (None without a terminal): a cluster that is not fresh needs a yes, or --yes."""
    from bootstrap import kube, rollout

    run = Run(report, progress)
    check_options(opts)
    keyring = keyring or load_key(opts, progress)
    report.key_recipient = keyring.recipients[0] if keyring.recipients else None

    with prepared_run(opts, run, keyring) as (prepared, cluster):
        plan = prepared.plan
        if opts.dry_run:
            progress.note("dry run: the API server validates every object; nothing is persisted")
        else:
            confirm_target(cluster, prepared, run, yes=opts.yes, ask=ask)
        with run.phase("install-key"):
            for target in prepared.key_secrets:
                progress.note(f"age key -> {target} key {target.key} ({target.why})")
                outcome = kube.install_key_secret(
                    cluster.resources, target.namespace, target.name, target.key, keyring.material,
                    dry_run=opts.dry_run, allow_any_key=opts.allow_any_key_name,
                )
                run.applied("install-key", outcome)

        restored_secrets: list[ObjectRef] = []
        created: set[str] = set()  # namespaces this run's apply created: nothing of ours in them to look up
        for phase in plan.phases:
            applying = f"{phase.name}: apply"
            with run.phase(applying):
                for wave in phase.waves:
                    progress.wave_started(applying, wave.index, wave.label, len(wave.manifests))
                    if opts.dry_run:
                        dry_run_wave(cluster, run, applying, wave.manifests, recreate=opts.recreate)
                        continue
                    changes = kube.apply_wave(
                        cluster.resources, wave.manifests, created=created, recreate=opts.recreate,
                        on_result=lambda m, o, applying=applying: run.applied(applying, o),
                    )
                    created |= changes.created_namespaces
                    wait_gates(cluster, wave.manifests, timeout=opts.timeout, on_wait=progress.note, created=created,
                               waiting=progress.waiting)
                    restored_secrets += [m.ref for m in wave.manifests if m.ref.kind == "Secret"]
            refs = verified(m for w in phase.waves for m in w.manifests)
            if opts.dry_run or not phase.verify.rollouts or not refs:
                continue
            verifying = f"{phase.name}: verify"
            with run.phase(verifying):
                rollout.verify_rollouts(
                    cluster, refs, timeout=phase.timeout or phase.verify.timeout or opts.timeout,
                    on_status=lambda ref, health, verifying=verifying: run.status(verifying, ref, health),
                )

        if not opts.dry_run and restored_secrets:
            restored = {m.ref for m in plan.manifests}
            outside = [c for c in rollout.find_consumers(cluster, restored_secrets) if c not in restored]
            if outside:
                with run.phase("consumers"):
                    progress.note(f"{len(outside)} workload(s) already in the cluster use restored Secrets")
                    if opts.restart_consumers:
                        rollout.restart_consumers(cluster, outside)
                        progress.note(f"restarted {len(outside)} consumer(s)")
                    rollout.verify_rollouts(
                        cluster, outside, timeout=opts.timeout,
                        on_status=lambda ref, health: run.status("consumers", ref, health),
                    )
        if not opts.dry_run and gitops.wanted(opts.wait_gitops, [m.ref for m in plan.manifests]):
            hand_over(cluster, run, plan.manifests, timeout=opts.timeout)
    report.result = "succeeded"
    return report


def plan_only(opts: RestoreOptions, progress: Progress, report: RunReport) -> list[str]:
    """Everything `restore` does before its first write, without a cluster; with --server-dry-run, the API
    server also validates every object. Returns the rendered plan lines; the report's objects are the plan."""
    from bootstrap.plan import plan_records, render_plan
    from bootstrap.prepare import needs_crd

    run = Run(report, progress)
    check_options(opts)
    keyring = load_key(opts, progress)
    report.key_recipient = keyring.recipients[0] if keyring.recipients else None
    with prepared_run(opts, run, keyring, offline=not opts.server_dry_run) as (prepared, cluster):
        unknown = needs_crd(prepared.plan.manifests) if cluster is None else (lambda ref: False)
        lines = render_plan(prepared.plan, unknown)
        for record in plan_records(prepared.plan, unknown):
            run.record(record)
        if opts.server_dry_run:
            with run.phase("server-dry-run"):
                for phase in prepared.plan.phases:
                    for wave in phase.waves:
                        dry_run_wave(cluster, run, "server-dry-run", wave.manifests)
    report.result = "succeeded"
    return lines


def verify_only(kubeconfig: str | None, context: str | None, namespaces: list[str], timeout: float,
                progress: Progress, report: RunReport) -> RunReport:
    """Rollout verification of the workloads already in the cluster (all namespaces unless given)."""
    from bootstrap import kube, rollout

    run = Run(report, progress)
    with kube.Cluster(kubeconfig, context, clock=report.clock) as cluster:
        report.server_version = cluster.server_version()
        with run.phase("verify"):
            refs = list_workloads(cluster, namespaces)
            progress.note(f"verifying {len(refs)} workload(s)")
            rollout.verify_rollouts(cluster, refs, timeout=timeout,
                                    on_status=lambda ref, h: run.status("verify", ref, h))
    report.result = "succeeded"
    return report
