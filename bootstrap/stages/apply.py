"""The apply and verify stages, staged as fluxcd/pkg `ssa` ApplyAllStaged is: in one place, each phase's
waves in order, each wave applied with server-side apply, then its gates (CRDs Established, Namespaces
Active) before the next wave; after a phase's waves, its workloads' rollouts verified.

In: the cluster, the `Plan`, `ApplyOptions`, and which objects the engine makes Ready itself (never waited
on here). Out: `Applied`: the Secrets restored (the consumer check reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bootstrap.model import Manifest, ObjectRef

if TYPE_CHECKING:
    from bootstrap.commands.options import RestoreOptions
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run
    from bootstrap.engines.base import PromisedKinds
    from bootstrap.stages.order import PhasePlan, Plan


@dataclass(frozen=True)
class ApplyOptions:
    timeout: float
    dry_run: bool = False
    recreate: bool = False

    @classmethod
    def of(cls, opts: RestoreOptions) -> ApplyOptions:
        return cls(timeout=opts.timeout, dry_run=opts.dry_run, recreate=opts.recreate)


@dataclass
class Applied:
    secrets: list[ObjectRef] = field(default_factory=list)  # the Secrets restored, in apply order


def apply_plan(cluster: Cluster, run: Run, plan: Plan, options: ApplyOptions, *,
               engine_owns: Callable[[ObjectRef], bool], before_phase: Callable[[PhasePlan], None] | None = None) -> Applied:
    """Every phase of the plan: `<phase>: apply` (its waves and their gates), then `<phase>: verify`.
    `before_phase(phase)` runs before each phase is applied (`promised_gate`)."""
    from bootstrap import kube  # deferred: clone (a plan loads the kube client after its clone)
    from bootstrap.stages.verify import verify_rollouts  # deferred: heavy (plans never verify)

    applied = Applied()
    created: set[str] = set()  # namespaces this run's apply created: nothing of ours in them to look up
    for phase in plan.phases:
        if before_phase is not None and not options.dry_run:
            before_phase(phase)
        applying = f"{phase.name}: apply"
        with run.phase(applying):
            for wave in phase.waves:
                run.progress.wave_started(applying, wave.index, wave.label, len(wave.manifests))
                if options.dry_run:
                    dry_run_wave(cluster, run, applying, wave.manifests, recreate=options.recreate)
                    continue
                changes = kube.apply_wave(
                    cluster.resources, wave.manifests, created=created, recreate=options.recreate,
                    on_result=lambda m, o, applying=applying: run.applied(applying, o),
                )
                created |= changes.created_namespaces
                wait_gates(cluster, wave.manifests, timeout=options.timeout, on_wait=run.progress.note,
                           created=created, waiting=run.progress.waiting)
                applied.secrets += [m.ref for m in wave.manifests if m.ref.kind == "Secret"]
        refs = [m.ref for w in phase.waves for m in w.manifests if not engine_owns(m.ref)]
        if options.dry_run or not phase.verify.rollouts or not refs:
            continue
        verifying = f"{phase.name}: verify"
        with run.phase(verifying):
            verify_rollouts(cluster, refs, timeout=phase.timeout or phase.verify.timeout or options.timeout,
                            on_status=lambda ref, health, verifying=verifying: run.status(verifying, ref, health))
    return applied


def promised_gate(cluster: Cluster, run: Run, plan: Plan, promised: PromisedKinds,
                  await_promised: Callable[..., None], *, timeout: float) -> Callable[[PhasePlan], None]:
    """The gate before the first phase holding objects of kinds a Helm release promised (validate's
    `promised`) that the cluster does not serve yet: the engine's operator waited for (`await_promised`:
    fails fast with its message), then every such kind must be served (ApplyError, exit 5, naming them)."""
    from bootstrap.errors import ApplyError  # deferred: clone (loaded with the apply stage)
    from bootstrap.stages.validate import promised_refs  # deferred: clone (loaded by the plan before this)

    passed: list[bool] = []

    def gate(phase: PhasePlan) -> None:
        if passed:
            return
        refs = promised_refs([m for w in phase.waves for m in w.manifests], promised, cluster.resource)
        if not refs:
            return
        passed.append(True)
        run.progress.note(f"{phase.name}: {len(refs)} object(s) wait for {promised.why}")
        await_promised(cluster, run, plan.manifests, timeout=timeout)
        missing = sorted({f"{r.kind} ({r.api_version})" for r in refs if cluster.resource(r.api_version, r.kind) is None})
        if missing:
            raise ApplyError(f"{promised.why} is Ready, but the cluster still serves no {', '.join(missing)}",
                             hint=f"phase {phase.name} needs them: check the distribution's components")

    return gate


def wait_gates(cluster: Cluster, manifests: list[Manifest], *, timeout: float, on_wait: Callable[[str], None],
               created: Iterable[str] = frozenset(), waiting: Callable[[str | None], None] = lambda what: None) -> None:
    """After a wave: its CRDs Established (discovery refreshed) and its Namespaces Active (those this run
    `created` are). `waiting(what)` is told what the run waits for, and `waiting(None)` when it is done."""
    from bootstrap import kube  # deferred: clone (a plan loads the kube client after its clone)

    crds = [m.ref.name for m in manifests if m.ref.kind == "CustomResourceDefinition"]
    namespaces = {m.ref.name: m.body for m in manifests if m.ref.kind == "Namespace"}
    try:
        if crds:
            waiting(f"{len(crds)} CRD(s) to be Established ({_names(crds)})")
            kube.wait_established(cluster.resources, crds, timeout)
        if namespaces:
            waiting(f"{len(namespaces)} Namespace(s) to be Active ({_names(namespaces)})")
            kube.wait_namespaces_active(
                cluster.resources,
                namespaces,
                timeout,
                created=frozenset(created),
                manifests=namespaces,
                on_wait=lambda name: on_wait(f"Namespace/{name} is terminating: waiting for it to go, then recreating it"),
            )
    finally:
        if crds or namespaces:
            waiting(None)


def _names(names: Iterable[str], shown: int = 3) -> str:
    names = list(names)
    return ", ".join(names[:shown]) + (f", and {len(names) - shown} more" if len(names) > shown else "")


def dry_run_wave(cluster: Cluster, run: Run, phase: str, manifests: list[Manifest], *, recreate: bool = False) -> None:
    """Server-side dry run of one wave. The server can only check an object whose kind it knows and whose
    namespace exists: the others (custom resources of CRDs this restore installs, members of namespaces it
    creates) are recorded as `skipped` with the reason, never silently dropped."""
    from bootstrap import kube  # deferred: clone (a plan loads the kube client after its clone)

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
        else:
            run.skipped(phase, m.ref, reason)
    kube.apply_wave(cluster.resources, checkable, dry_run=True, recreate=recreate,
                    on_result=lambda m, o: run.applied(phase, o))
