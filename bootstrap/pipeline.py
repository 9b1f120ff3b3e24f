"""The restore pipeline: source → keys → render (kustomize, Flux, sops) → manifests → plan → kube → rollout → report.

Each stage is a function of the previous stage's output; this module only sequences them, times them as
report phases, and guarantees the one promise that spans stages: everything that can be found wrong is
found before the first write to the cluster.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from bootstrap import __version__
from bootstrap.errors import BootstrapError, ValidationError
from bootstrap.model import Manifest, ObjectRef
from bootstrap.options import RestoreOptions, check_options
from bootstrap.prepare import Prepared
from bootstrap.progress import Progress
from bootstrap.report import ObjectRecord, PhaseRecord, RunReport, Scrubber

__all__ = ["RestoreOptions", "check_options", "restore", "plan_only", "verify_only", "new_report", "finish"]
check_key_secret_options = check_options  # the name drill and older callers use


class Run:
    """Times the phases of one run into a RunReport and reports them to a Progress."""

    def __init__(self, report: RunReport, progress: Progress):
        self.report = report
        self.progress = progress
        self.records: dict[tuple[str, str, str, str], ObjectRecord] = {}  # (phase, kind, namespace, name)
        self.phase_t0 = time.monotonic()

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseRecord]:
        record = PhaseRecord(name=name, started=_now(), finished=None, seconds=0.0, result="running")
        self.report.phases.append(record)
        self.progress.phase_started(name)
        t0 = self.phase_t0 = time.monotonic()
        waited = self.report.clock.seconds()
        try:
            yield record
        except BaseException:
            record.result = "failed"
            raise
        else:
            record.result = "succeeded"
        finally:
            record.finished = _now()
            record.seconds = round(time.monotonic() - t0, 3)
            record.cluster_wait_seconds = round(min(self.report.clock.seconds() - waited, record.seconds), 3)
            self.progress.phase_finished(record)

    def record(self, rec: ObjectRecord) -> None:
        self.report.objects.append(rec)
        self.records[(rec.phase, rec.kind, rec.namespace, rec.name)] = rec


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------------------------- prepare


def prepare(opts: RestoreOptions, run: Run, checkout, keyring, cluster) -> Prepared:
    """Render, decrypt, validate and plan: every check that needs no write. Raises before anything is applied.

    `cluster` is a connected client, or a callable that connects and returns one on first use (rendering
    needs the cluster only for values `substituteFrom` finds nowhere in the restore), or None (offline)."""
    from bootstrap import prepare as stages
    from bootstrap import repofiles
    from bootstrap.playbook import selected_kustomizations

    if opts.ignore_mac:
        run.progress.warning("--ignore-mac: SOPS MACs are NOT verified; an edited file would be applied")
    with run.phase("render"):
        if not opts.allow_committed_keys:
            committed = repofiles.find_committed_keys(checkout.root)
            if committed:
                raise ValidationError(
                    f"{committed[0]}: the repository contains an age private key (AGE-SECRET-KEY-…)"
                    + (f" and {len(committed) - 1} more file(s)" if len(committed) > 1 else ""),
                    hint="rotate that key; pass --allow-committed-keys to restore anyway",
                )
        playbook = stages.find_playbook(opts, checkout)
        live = (lambda: cluster() if callable(cluster) else cluster) if cluster is not None else None
        rendering = stages.render(
            opts, checkout, keyring, run.progress,
            cluster_lookup=stages.cluster_lookup((lambda ref: live().get(ref)) if live else None),
            extra_kustomizations=selected_kustomizations(playbook),
        )
        run.report.kustomize = getattr(rendering, "kustomizer", None)
        run.report.source = f"{rendering.source.ref.namespace}/{rendering.source.ref.name}"
    targets = stages.key_secrets(opts, rendering)
    manifests = stages.drop_repo_key_copies(rendering.manifests, targets, keyring, run.progress.note)
    scrubber = Scrubber(stages.secret_values(manifests) | set(rendering.secret_values))
    with run.phase("validate"):
        connected = live() if live else None
        manifests = stages.with_namespace_name_label(manifests)
        plan = stages.validate_and_plan(
            manifests, playbook, [(p.name, p.origin) for p in rendering.phases],
            known_kind=_known_kind(connected, manifests),
            is_namespaced=connected.is_namespaced if connected else _offline_namespaced,
        )
    return Prepared(plan=plan, scrubber=scrubber, key_secrets=targets, rendering=rendering)


def _known_kind(cluster, manifests: list[Manifest]):
    """(apiVersion, kind) -> known? From the cluster's discovery; offline, from the built-in kinds (custom
    kinds without a CRD in the set are then marked, not refused: the cluster may have their CRD)."""
    if cluster is not None:
        return lambda av, kind: cluster.resource(av, kind) is not None
    from bootstrap.builtin_kinds import is_builtin

    return lambda av, kind: True if is_builtin(av, kind) else None


def _needs_crd(manifests: list[Manifest]):
    """ref -> its kind is neither built in nor defined by a CRD in the set (offline plans say so)."""
    from bootstrap.builtin_kinds import is_builtin
    from bootstrap.plan import crd_kinds

    defined = crd_kinds(manifests)
    return lambda ref: not is_builtin(ref.api_version, ref.kind) and (ref.group, ref.kind) not in defined


def _offline_namespaced(api_version: str, kind: str) -> bool | None:
    from bootstrap.builtin_kinds import namespaced

    return namespaced(api_version, kind)


# ---------------------------------------------------------------------------------------------- restore


@contextmanager
def prepared_run(opts: RestoreOptions, run: Run, keyring, *, offline: bool = False) -> Iterator[tuple[Prepared, object]]:
    """Clone, render and decrypt, connect, validate and plan; yields (prepared, cluster). Nothing is written.

    `offline` (plan without --server-dry-run): no cluster at all; the cluster yielded is None."""
    from bootstrap import provenance

    if opts.verify_signatures:
        provenance.check_allowed_signers(opts.verify_signatures)
    # The checkout lives only until the plan is made (nothing reads it later); removing its files runs in the
    # background while the restore goes on, and is waited for before the run ends.
    removals: list[InBackground] = []

    def remove_later(path: Path) -> None:
        from bootstrap.source import remove_tree

        removals.append(InBackground(lambda: remove_tree(path), name="remove-checkout"))

    try:
        yield from _prepared(opts, run, keyring, remove_later, offline=offline)
    finally:
        for removal in removals:
            removal.result()


def _prepared(opts: RestoreOptions, run: Run, keyring, remove_later, *, offline: bool):
    from bootstrap import provenance

    with ExitStack() as clone:
        with run.phase("clone"):
            checkout, cluster = _clone_while_loading(opts, clone, remove_later, run.report.clock, offline=offline)
        run.report.commit = checkout.commit
        run.report.repo = checkout.url
        run.progress.note(f"cloned {checkout.url} at {checkout.commit[:12]}")
        if opts.verify_signatures:
            with run.phase("verify-signature"):
                signer = provenance.verify_commit(checkout.root, checkout.commit, opts.verify_signatures)
            run.report.signer = signer.to_dict()
            run.progress.note(f"commit {checkout.commit[:12]} signed by {signer}")
        connected: list = []

        def live():
            """The cluster, connected on first use: rendering and decryption come first, so a bad --path or
            key is reported before a kubeconfig problem."""
            if not connected:
                if isinstance(cluster, BootstrapError):
                    raise cluster
                run.report.server_version = connect(cluster)
                connected.append(cluster)
            return connected[0]

        prepared = prepare(opts, run, checkout, keyring, None if offline else live)
    if offline:
        run.report.scrubber = prepared.scrubber
        run.progress.scrubber = prepared.scrubber
        yield prepared, None
        return
    cluster = live()
    with cluster:
        run.report.scrubber = prepared.scrubber
        run.progress.scrubber = prepared.scrubber
        yield prepared, cluster.with_scrub(prepared.scrubber)  # errors about objects are scrubbed from here on


def _clone_while_loading(opts: RestoreOptions, stack: ExitStack, remove_later, clock, *, offline: bool = False):
    """(checkout, cluster client or the error making it, or None offline): git clones in a background thread
    while this one loads the modules the rest of the run needs and reads the kubeconfig. Nothing here talks to
    the cluster, so nothing keeps a failed clone waiting; the thread is always joined. Errors keep the order
    of the steps: a failed clone first, a kubeconfig problem only where connecting begins (after rendering)."""
    from bootstrap import source

    cloning = InBackground(
        lambda: stack.enter_context(
            source.checkout(
                opts.repo_url,
                opts.ref,
                token_env=opts.token_env,
                ssh_key_file=opts.ssh_key_file,
                known_hosts_file=opts.known_hosts_file,
                remove=remove_later,
            )
        ),
        name="clone",
    )
    cluster = None
    try:
        from bootstrap import manifests, plan, playbook, sops  # noqa: F401  (loaded while git works)
        from bootstrap.render import repository  # noqa: F401

        if not offline:
            from bootstrap import kube, rollout  # noqa: F401

            try:
                cluster = kube.Cluster(opts.kubeconfig, opts.context, clock=clock,
                                       max_connections=max(16, opts.concurrency), retry_deadline=opts.timeout,
                                       concurrency=opts.concurrency)
            except BootstrapError as exc:
                cluster = exc
    except BaseException:
        cloning.result()
        raise
    return cloning.result(), cluster


def connect(cluster) -> str:
    """The server's version, with discovery fetched and cached (validation needs it next).

    Transient API failures (a restarting API server, a webhook not answering yet) are retried for as long
    as the run may wait at all: the cluster's retry deadline is --timeout, not a fixed window.
    """
    version = cluster.server_version()
    cluster.is_namespaced("v1", "Namespace")
    return version


class InBackground:
    """`fn()` in a thread; `result()` waits for its value or re-raises its exception.

    Callers always call `result()` before the run ends: a thread still inside C code when the interpreter
    exits can abort it.
    """

    def __init__(self, fn, *, name: str):
        self._fn = fn
        self._value = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def load_key(opts: RestoreOptions, progress: Progress):
    """The age identities, from --age-key-file or the sops environment variables; warnings shown."""
    from bootstrap.keys import load_keyring

    keyring = load_keyring(opts.age_key_file)
    for warning in keyring.warnings:
        progress.warning(warning)
    return keyring


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
            confirm_target(cluster, prepared, report, progress, yes=opts.yes, ask=ask)
        with run.phase("install-key"):
            for target in prepared.key_secrets:
                progress.note(f"age key -> {target} key {target.key} ({target.why})")
                outcome = kube.install_key_secret(
                    cluster.resources,
                    target.namespace,
                    target.name,
                    target.key,
                    keyring.material,
                    dry_run=opts.dry_run,
                    allow_any_key=opts.allow_any_key_name,
                )
                _on_applied(run, "install-key", outcome)

        restored_secrets: list[ObjectRef] = []
        created: set[str] = set()  # namespaces this run's apply created: nothing of ours in them to look up
        for phase in plan.phases:
            with run.phase(f"{phase.name}: apply"):
                for wave in phase.waves:
                    progress.note(f"wave {wave.index} ({wave.label}): {len(wave.manifests)} object(s)")
                    if opts.dry_run:
                        dry_run_wave(cluster, run, f"{phase.name}: apply", wave.manifests, recreate=opts.recreate)
                        continue
                    changes = kube.apply_wave(
                        cluster.resources,
                        wave.manifests,
                        created=created,
                        recreate=opts.recreate,
                        on_result=lambda m, o, phase=phase: _on_applied(run, f"{phase.name}: apply", o),
                    )
                    created |= changes.created_namespaces
                    wait_gates(cluster, wave.manifests, timeout=opts.timeout, on_wait=progress.note, created=created)
                    restored_secrets += [m.ref for m in wave.manifests if m.ref.kind == "Secret"]
            if opts.dry_run or not phase.verify.rollouts:
                continue
            refs = [m.ref for w in phase.waves for m in w.manifests if not is_gitops_object(m.ref)]
            if not refs:
                continue
            with run.phase(f"{phase.name}: verify"):
                rollout.verify_rollouts(
                    cluster,
                    refs,
                    timeout=phase.timeout or phase.verify.timeout or opts.timeout,
                    on_status=lambda ref, health, phase=phase: _on_status(run, f"{phase.name}: verify", ref, health),
                )

        if not opts.dry_run and restored_secrets:
            restored = {m.ref for p in plan.phases for w in p.waves for m in w.manifests}
            outside = [c for c in rollout.find_consumers(cluster, restored_secrets) if c not in restored]
            if outside:
                with run.phase("consumers"):
                    progress.note(f"{len(outside)} workload(s) already in the cluster use restored Secrets")
                    if opts.restart_consumers:
                        rollout.restart_consumers(cluster, outside)
                        progress.note(f"restarted {len(outside)} consumer(s)")
                    rollout.verify_rollouts(
                        cluster,
                        outside,
                        timeout=opts.timeout,
                        on_status=lambda ref, health: _on_status(run, "consumers", ref, health),
                    )
    report.result = "succeeded"
    return report


def confirm_target(cluster, prepared: Prepared, report: RunReport, progress: Progress, *, yes: bool,
                   ask: Callable[[str], bool] | None) -> None:
    """Say where the restore writes and whether the cluster is fresh; go on only if it is, or on a yes."""
    from bootstrap.target import go_ahead, target

    refs = [m.ref for m in prepared.plan.manifests]
    refs += [ObjectRef("v1", "Secret", t.namespace, t.name) for t in prepared.key_secrets]
    existing = cluster.resources.read_versions(refs)
    where = target(cluster.client.context, cluster.host, report.server_version, refs, existing)
    progress.note(where.line())
    go_ahead(where, yes=yes, ask=ask)


def is_gitops_object(ref: ObjectRef) -> bool:
    """A Flux toolkit object (Kustomization, GitRepository, HelmRelease, …): it becomes Ready when Flux's
    controllers reconcile it after the hand-over, so a bootstrap phase never waits for it."""
    return ref.group.endswith(".toolkit.fluxcd.io")


def wait_gates(cluster, manifests: list[Manifest], *, timeout: float, on_wait, created=frozenset()) -> None:
    """After a wave: its CRDs Established (discovery refreshed) and its Namespaces Active (those this run
    `created` are)."""
    from bootstrap import kube

    crds = [m.ref.name for m in manifests if m.ref.kind == "CustomResourceDefinition"]
    namespaces = {m.ref.name: m.body for m in manifests if m.ref.kind == "Namespace"}
    if crds:
        kube.wait_established(cluster.resources, crds, timeout)
    if namespaces:
        kube.wait_namespaces_active(
            cluster.resources,
            namespaces,
            timeout,
            created=created,
            manifests=namespaces,
            on_wait=lambda name: on_wait(f"Namespace/{name} is terminating: waiting for it to go, then recreating it"),
        )


def dry_run_wave(cluster, run: Run, phase: str, manifests: list[Manifest], *, recreate: bool = False) -> None:
    """Server-side dry run of one wave. The server can only check an object whose kind it knows and whose
    namespace exists: the others (custom resources of CRDs this restore installs, members of namespaces it
    creates) are recorded as `skipped` with the reason, never silently dropped."""
    from bootstrap import kube

    exists: dict[str, bool] = {}

    def unchecked(m: Manifest) -> str | None:
        namespaced = cluster.is_namespaced(m.ref.api_version, m.ref.kind)
        if namespaced is None:
            return f"not checked: the server does not know {m.ref.kind} ({m.ref.api_version}) before its CRD is applied"
        if namespaced and m.ref.namespace:
            if m.ref.namespace not in exists:
                exists[m.ref.namespace] = cluster.get(ObjectRef("v1", "Namespace", None, m.ref.namespace)) is not None
            if not exists[m.ref.namespace]:
                return f"not checked: Namespace/{m.ref.namespace} does not exist before the restore creates it"
        return None

    checkable = []
    for m in manifests:
        reason = unchecked(m)
        if reason is None:
            checkable.append(m)
            continue
        rec = ObjectRecord(phase=phase, kind=m.ref.kind, namespace=m.ref.namespace or "", name=m.ref.name,
                           action="skipped", status="", seconds=0.0, message=reason)
        run.record(rec)
        run.progress.object_applied(rec)
    kube.apply_wave(cluster.resources, checkable, dry_run=True, recreate=recreate,
                    on_result=lambda m, o: _on_applied(run, phase, o))


def _on_applied(run: Run, phase: str, outcome) -> None:
    ref = outcome.ref
    rec = ObjectRecord(
        phase=phase,
        kind=ref.kind,
        namespace=ref.namespace or "",
        name=ref.name,
        action=outcome.action,
        status="applied",
        seconds=round(outcome.seconds, 3),
        message=outcome.message or "",
    )
    run.record(rec)
    run.progress.object_applied(rec)


def _on_status(run: Run, phase: str, ref: ObjectRef, health) -> None:
    """A verify phase's record of one object: its latest status, and how long it took to get there."""
    rec = run.records.get((phase, ref.kind, ref.namespace or "", ref.name))
    if rec is None:
        rec = ObjectRecord(phase=phase, kind=ref.kind, namespace=ref.namespace or "", name=ref.name, action="verified")
        run.record(rec)
    rec.status = health.status.value
    rec.message = health.message
    rec.seconds = round(time.monotonic() - run.phase_t0, 3)
    run.progress.object_status(rec)


def new_report(command: str, opts: RestoreOptions | None = None) -> RunReport:
    report = RunReport(command=command, tool_version=__version__)
    if opts is not None:
        report.repo, report.ref, report.path, report.paths = opts.repo_url, opts.ref, opts.path, list(opts.paths)
    return report


def finish(report: RunReport, error: BootstrapError | None) -> RunReport:
    report.finish(error=error)
    return report


# ---------------------------------------------------------------------------------------------- plan, verify


def plan_only(opts: RestoreOptions, progress: Progress, report: RunReport) -> list[str]:
    """Everything `restore` does before its first write, without a cluster; with --server-dry-run, the API
    server also validates every object. Returns the rendered plan lines; the report's objects are the plan."""
    from bootstrap.plan import plan_records, render_plan

    run = Run(report, progress)
    check_options(opts)
    keyring = load_key(opts, progress)
    report.key_recipient = keyring.recipients[0] if keyring.recipients else None
    with prepared_run(opts, run, keyring, offline=not opts.server_dry_run) as (prepared, cluster):
        needs_crd = _needs_crd(prepared.plan.manifests) if cluster is None else (lambda ref: False)
        lines = render_plan(prepared.plan, needs_crd)
        for record in plan_records(prepared.plan, needs_crd):
            run.record(record)
        if opts.server_dry_run:
            with run.phase("server-dry-run"):
                for phase in prepared.plan.phases:
                    for wave in phase.waves:
                        dry_run_wave(cluster, run, "server-dry-run", wave.manifests)
    report.result = "succeeded"
    return lines


def verify_only(
    kubeconfig: str | None,
    context: str | None,
    namespaces: list[str],
    timeout: float,
    progress: Progress,
    report: RunReport,
) -> RunReport:
    """Rollout verification of the workloads already in the cluster (all namespaces unless given)."""
    from bootstrap import kube, rollout

    run = Run(report, progress)
    with kube.Cluster(kubeconfig, context, clock=report.clock) as cluster:
        report.server_version = cluster.server_version()
        with run.phase("verify"):
            refs = list_workloads(cluster, namespaces)
            progress.note(f"verifying {len(refs)} workload(s)")
            rollout.verify_rollouts(
                cluster, refs, timeout=timeout, on_status=lambda ref, h: _on_status(run, "verify", ref, h)
            )
    report.result = "succeeded"
    return report


VERIFIED_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("batch/v1", "Job"))


def list_workloads(cluster, namespaces: list[str]) -> list[ObjectRef]:
    """Deployments, StatefulSets, DaemonSets and Jobs in the given namespaces (all when none given)."""
    refs = []
    for namespace in namespaces or [None]:
        for api_version, kind in VERIFIED_KINDS:
            for obj in cluster.list(api_version, kind, namespace):
                meta = obj["metadata"]
                refs.append(ObjectRef(api_version, kind, meta.get("namespace"), meta["name"]))
    return sorted(set(refs))
