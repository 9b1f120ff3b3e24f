"""What a restore does to the cluster between applies: the target check before the first write, the gates
after a wave (CRDs Established, Namespaces Active), a wave's server-side dry run, and which objects a
bootstrap phase verifies."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from bootstrap.model import Manifest, ObjectRef

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.prepare import Prepared
    from bootstrap.run import Run

VERIFIED_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("batch/v1", "Job"))


def confirm_target(cluster: Cluster, prepared: Prepared, run: Run, *, yes: bool,
                   ask: Callable[[str], bool] | None) -> None:
    """Say where the restore writes and whether the cluster is fresh; go on only if it is, or on a yes. The
    wait for the operator's answer is timed apart from the run's (`Run.asking_operator`): not in the RTO."""
    from bootstrap.target import go_ahead, target

    refs = [m.ref for m in prepared.plan.manifests]
    refs += [ObjectRef("v1", "Secret", t.namespace, t.name) for t in prepared.key_secrets]
    existing = cluster.resources.read_versions(refs)
    where = target(cluster.client.context, cluster.host, run.report.server_version, refs, existing)
    run.progress.note(where.line())
    go_ahead(where, yes=yes, ask=run.asking_operator(ask))


def is_gitops_object(ref: ObjectRef) -> bool:
    """A Flux toolkit object (Kustomization, GitRepository, HelmRelease, …): it becomes Ready when Flux's
    controllers reconcile it after the hand-over, so a bootstrap phase never waits for it."""
    return ref.group.endswith(".toolkit.fluxcd.io")


def verified(manifests: Iterable[Manifest]) -> list[ObjectRef]:
    """The objects a phase's verify step waits for: all but the GitOps controller's own."""
    return [m.ref for m in manifests if not is_gitops_object(m.ref)]


def wait_gates(cluster: Cluster, manifests: list[Manifest], *, timeout: float, on_wait: Callable[[str], None],
               created: Iterable[str] = frozenset(), waiting: Callable[[str | None], None] = lambda what: None) -> None:
    """After a wave: its CRDs Established (discovery refreshed) and its Namespaces Active (those this run
    `created` are). `waiting(what)` is told what the run waits for, and `waiting(None)` when it is done."""
    from bootstrap import kube

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
        else:
            run.skipped(phase, m.ref, reason)
    kube.apply_wave(cluster.resources, checkable, dry_run=True, recreate=recreate,
                    on_result=lambda m, o: run.applied(phase, o))


def list_workloads(cluster: Cluster, namespaces: list[str]) -> list[ObjectRef]:
    """Deployments, StatefulSets, DaemonSets and Jobs in the given namespaces (all when none given)."""
    refs = []
    for namespace in namespaces or [None]:
        for api_version, kind in VERIFIED_KINDS:
            for obj in cluster.list(api_version, kind, namespace):
                meta = obj["metadata"]
                refs.append(ObjectRef(api_version, kind, meta.get("namespace"), meta["name"]))
    return sorted(set(refs))
