"""The restore plan: phases from the playbook, and inside each phase coarse waves in dependency order (pure).

Default wave classes follow the staged model of the reference synthesis (Flux stages, Helm 4 kind list):
namespaces+crds, cluster (PriorityClass, ClusterRole, *Class), config (SA, Secret, ConfigMap, quotas,
storage, RBAC), workloads (Service and controllers), jobs, custom resources, and last Ingress, APIService
and webhook configurations.  `argocd.argoproj.io/sync-wave` (lower first) outranks the classes, and
`dr-bootstrap.io/depends-on` adds explicit edges.  Whatever the annotations say, a Namespace precedes its
members and a CRD its custom resources: an object whose dependency sits in the same or a later wave is
pushed just after it (a sub-wave), never the other way round.  Objects in one wave may be applied
concurrently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bootstrap import toposort
from bootstrap.errors import ValidationError
from bootstrap.manifests import Skipped
from bootstrap.model import Manifest, ObjectRef
from bootstrap.stages.playbook import Phase, Playbook, VerifySpec, default_playbook
from bootstrap.report.model import ObjectRecord

IsNamespaced = Callable[[str, str], "bool | None"]

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
DEPENDS_ON = "dr-bootstrap.io/depends-on"
CREATED = "(created)"
NEEDS_CRD = "needs its CRD in the cluster"
SCOPE_UNKNOWN = "scope unknown until its CRD is seen: no namespace, as written"

# (label, kinds in apply order); a kind's class index is its default wave, its position the in-wave rank.
WAVE_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("namespaces+crds", ("Namespace", "CustomResourceDefinition")),
    ("cluster", ("PriorityClass", "ClusterRole", "StorageClass", "IngressClass", "RuntimeClass")),
    (
        "config",
        (
            "ServiceAccount", "Secret", "ConfigMap", "ResourceQuota", "LimitRange", "NetworkPolicy",
            "PodDisruptionBudget", "PersistentVolume", "PersistentVolumeClaim", "Role", "ClusterRoleBinding",
            "RoleBinding",
        ),
    ),
    (
        "workloads",
        (
            "Service", "Pod", "ReplicaSet", "ReplicationController", "Deployment", "StatefulSet", "DaemonSet",
            "HorizontalPodAutoscaler", "CronJob",
        ),
    ),
    ("jobs", ("Job",)),
    ("custom resources", ()),
    ("ingress+webhooks", ("Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")),
)
_CLASS_OF = {kind: (index, rank) for index, (_, kinds) in enumerate(WAVE_CLASSES) for rank, kind in enumerate(kinds)}
_CLUSTER_CLASS = 1
_CUSTOM_CLASS = 5

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
        "PriorityClass", "StorageClass", "IngressClass", "RuntimeClass", "APIService", "CSIDriver", "CSINode",
        "VolumeAttachment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "CertificateSigningRequest",
        "FlowSchema", "PriorityLevelConfiguration", "VolumeSnapshotClass", "GatewayClass",
    }
)


@dataclass
class Wave:
    index: int
    label: str
    manifests: list[Manifest]


@dataclass
class PhasePlan:
    name: str
    depends_on: list[str]
    waves: list[Wave]
    timeout: float | None = None
    verify: VerifySpec = field(default_factory=VerifySpec)

    @property
    def manifests(self) -> list[Manifest]:
        return [m for wave in self.waves for m in wave.manifests]


@dataclass
class Plan:
    phases: list[PhasePlan]
    created_namespaces: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    # offline, objects without a namespace whose kind neither the built-in kinds nor a CRD in the set knows:
    # kept so, as kustomize and Flux keep them; when they are applied the cluster's discovery decides
    # (`default` if the CRD says Namespaced)
    unknown_scope: set[ObjectRef] = field(default_factory=set)

    @property
    def manifests(self) -> list[Manifest]:
        return [m for phase in self.phases for m in phase.manifests]


# --- scope and identity ------------------------------------------------------------------------------------


def crd_kinds(manifests: Iterable[Manifest]) -> set[tuple[str, str]]:
    """(group, kind) of every custom resource kind a CRD in the set defines."""
    return set(_crds(manifests))


def _crds(manifests: Iterable[Manifest]) -> dict[tuple[str, str], Manifest]:
    """(group, kind) -> the CRD in the set that defines it."""
    found = {}
    for m in manifests:
        if m.ref.kind == "CustomResourceDefinition":
            spec = m.body.get("spec") if isinstance(m.body.get("spec"), dict) else {}
            names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
            found[(str(spec.get("group")), str(names.get("kind")))] = m
    return found


def _namespaced(ref: ObjectRef, crds: dict[tuple[str, str], Manifest], is_namespaced: IsNamespaced) -> bool | None:
    """The kind's scope: from `is_namespaced` (the cluster's discovery, or offline the built-in kinds), else
    from a CRD in the set; None (unknown) when neither knows the kind, e.g. a ClusterIssuer whose CRD a
    HelmRelease installs."""
    verdict = is_namespaced(ref.api_version, ref.kind)
    if verdict is not None:
        return verdict
    if ref.kind in CLUSTER_SCOPED_KINDS:
        return False
    crd = crds.get((ref.group, ref.kind))
    if crd is None:
        return None
    return (crd.body.get("spec") or {}).get("scope") != "Cluster"


def _with_namespace(manifest: Manifest, namespace: str) -> Manifest:
    body = dict(manifest.body)
    body["metadata"] = {**body.get("metadata", {}), "namespace": namespace}
    ref = ObjectRef(manifest.ref.api_version, manifest.ref.kind, namespace, manifest.ref.name)
    return Manifest(ref=ref, body=body, source=manifest.source, encrypted=manifest.encrypted, origin=manifest.origin)


def _namespace_manifest(name: str) -> Manifest:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    return Manifest(ref=ObjectRef("v1", "Namespace", None, name), body=body, source=CREATED)


def _sort_key(m: Manifest) -> tuple:
    cls, rank = _CLASS_OF.get(m.ref.kind, (_CUSTOM_CLASS, 0))
    return (cls, rank, m.ref.group, m.ref.kind, m.ref.namespace or "", m.ref.name, m.source)


def _sync_wave(m: Manifest) -> int:
    raw = m.annotations.get(SYNC_WAVE, "0") if isinstance(m.annotations, dict) else "0"
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValidationError(f"{m.source}: {m.ref}: annotation {SYNC_WAVE} {raw!r} is not an integer") from None


def _class(m: Manifest, crds: dict) -> int:
    if m.ref.kind in _CLASS_OF:
        return _CLASS_OF[m.ref.kind][0]
    if m.ref.kind.endswith("Class") and (m.ref.group, m.ref.kind) not in crds:
        return _CLUSTER_CLASS  # VolumeSnapshotClass, GatewayClass, ... (Flux's class stage)
    return _CUSTOM_CLASS


# --- dependencies ------------------------------------------------------------------------------------------


def _parse_depends_on(m: Manifest) -> list[tuple[str, str | None, str]]:
    raw = m.annotations.get(DEPENDS_ON) if isinstance(m.annotations, dict) else None
    if not raw:
        return []
    targets = []
    for item in str(raw).split(","):
        parts = item.strip().split("/")
        if len(parts) == 2 and all(parts):
            targets.append((parts[0], None, parts[1]))
        elif len(parts) == 3 and all(parts):
            targets.append((parts[0], parts[1], parts[2]))
        else:
            raise ValidationError(
                f"{m.source}: {m.ref}: {DEPENDS_ON} entry {item.strip()!r} is not Kind/name or Kind/namespace/name"
            )
    return targets


def _resolve(m: Manifest, target: tuple[str, str | None, str], everything: Sequence[Manifest]) -> Manifest:
    kind, namespace, name = target
    candidates = [o for o in everything if o.ref.kind == kind and o.ref.name == name]
    if namespace is not None:
        candidates = [o for o in candidates if o.ref.namespace == namespace]
    else:
        candidates = [o for o in candidates if o.ref.namespace in (m.ref.namespace, None)]
    if not candidates:
        wanted = "/".join(part for part in target if part)
        raise ValidationError(f"{m.source}: {m.ref}: {DEPENDS_ON} target {wanted} is not in the restore set")
    return min(candidates, key=lambda o: (o.ref.namespace is None, _sort_key(o)))


def _dependencies(
    members: Sequence[Manifest], everything: Sequence[Manifest], crds: dict[tuple[str, str], Manifest]
) -> dict[int, list[Manifest]]:
    """id(object) -> the objects it must follow (namespace, CRD, depends-on)."""
    namespaces = {m.ref.name: m for m in everything if m.ref.kind == "Namespace" and m.ref.api_version == "v1"}
    deps: dict[int, list[Manifest]] = {}
    for m in members:
        found = [] if m.ref.namespace is None or m.ref.namespace not in namespaces else [namespaces[m.ref.namespace]]
        crd = crds.get((m.ref.group, m.ref.kind))
        if crd is not None and crd is not m:
            found.append(crd)
        found += [_resolve(m, target, everything) for target in _parse_depends_on(m)]
        deps[id(m)] = [d for d in found if d is not m]
    return deps


def _waves(members: list[Manifest], everything: Sequence[Manifest], crds: dict) -> list[Wave]:
    """Group one phase's objects into waves: key (sync-wave, class, depth), dependencies strictly earlier."""
    deps = _dependencies(members, everything, crds)
    pending = sorted(members, key=_sort_key)
    position = {id(m): i for i, m in enumerate(pending)}
    inside = {i: [position[id(d)] for d in deps[id(m)] if id(d) in position] for i, m in enumerate(pending)}
    try:
        placed = toposort.order(range(len(pending)), inside.__getitem__)
    except toposort.Cycle as cycle:
        raise ValidationError(f"dependency cycle: {cycle.render(lambda i: str(pending[i].ref))}") from None
    keys: dict[int, tuple[int, int, int]] = {}
    for m in (pending[i] for i in placed):
        key = (_sync_wave(m), _class(m, crds), 0)
        for dep in deps[id(m)]:
            if id(dep) in position and keys[id(dep)] >= key:
                key = (*keys[id(dep)][:2], keys[id(dep)][2] + 1)
        keys[id(m)] = key
    ordered = sorted(members, key=lambda m: (keys[id(m)], _sort_key(m)))
    waves: list[Wave] = []
    for m in ordered:
        if not waves or keys[id(waves[-1].manifests[0])] != keys[id(m)]:
            waves.append(Wave(index=len(waves) + 1, label=_label(keys[id(m)]), manifests=[]))
        waves[-1].manifests.append(m)
    return waves


def _label(key: tuple[int, int, int]) -> str:
    sync_wave, cls, depth = key
    label = WAVE_CLASSES[cls][0]
    if sync_wave:
        label += f" (sync-wave {sync_wave})"
    return label + (f" +{depth}" if depth else "")


# --- the plan ----------------------------------------------------------------------------------------------


def build_plan(manifests: Sequence[Manifest], playbook: Playbook | None, *, is_namespaced: IsNamespaced,
               offline: bool = False) -> Plan:
    """Assign objects to phases and order each phase into waves; ValidationError on unknown refs or cycles.

    An object without a namespace goes to `default` when its kind is namespaced. When nothing knows its scope
    (`_namespaced` None), it is `offline` kept as written (`Plan.unknown_scope`), as kustomize and Flux keep
    it; with a cluster it is taken for namespaced, and the cluster's discovery corrects that when it applies."""
    playbook = playbook or default_playbook()
    crds = _crds(manifests)
    scope = {m.ref: _namespaced(m.ref, crds, is_namespaced) for m in manifests if m.ref.kind != "Namespace"}
    if not offline:
        scope = {ref: True if namespaced is None else namespaced for ref, namespaced in scope.items()}
    objects = [_with_namespace(m, "default") if m.ref.namespace is None and scope.get(m.ref) else m
               for m in manifests]
    ordered_phases = playbook.ordered()
    assigned: dict[str, list[Manifest]] = {phase.name: [] for phase in ordered_phases}
    skipped = []
    for m in objects:
        phase = playbook.phase_for(m)
        if phase is None:
            skipped.append(Skipped(f"{m.source}: {m.ref}", "not selected by any playbook phase"))
        else:
            assigned[phase.name].append(m)
    created = _create_missing_namespaces(assigned, [p.name for p in ordered_phases])
    _hoist_prerequisites(assigned, [p.name for p in ordered_phases], crds)
    everything = [m for name in assigned for m in assigned[name]]
    phase_index = {p.name: i for i, p in enumerate(ordered_phases)}
    _check_cross_phase(assigned, everything, phase_index)
    return Plan(
        phases=[_phase_plan(p, assigned[p.name], everything, crds) for p in ordered_phases],
        created_namespaces=created,
        skipped=skipped,
        unknown_scope={m.ref for m in everything if m.ref.namespace is None and m.ref in scope
                       and scope[m.ref] is None},
    )


def _phase_plan(phase: Phase, members: list[Manifest], everything: list[Manifest], crds: dict) -> PhasePlan:
    return PhasePlan(
        name=phase.name,
        depends_on=list(phase.depends_on),
        waves=_waves(members, everything, crds),
        timeout=phase.timeout,
        verify=phase.verify,
    )


def _create_missing_namespaces(assigned: dict[str, list[Manifest]], order: list[str]) -> list[str]:
    """Add a Namespace for every namespace used but not defined, in the first phase that uses it."""
    defined = {m.ref.name for ms in assigned.values() for m in ms if m.ref.kind == "Namespace"}
    created: list[str] = []
    for name in order:
        needed = sorted({m.ref.namespace for m in assigned[name] if m.ref.namespace} - defined - set(created))
        assigned[name].extend(_namespace_manifest(ns) for ns in needed)
        created += needed
    return sorted(created)


def _hoist_prerequisites(assigned: dict[str, list[Manifest]], order: list[str], crds: dict) -> None:
    """Move a Namespace or CRD to the earliest phase holding one of its members."""
    for index, name in enumerate(order):
        for m in list(assigned[name]):
            if m.ref.kind == "Namespace":
                users = [p for p in order[:index] if any(o.ref.namespace == m.ref.name for o in assigned[p])]
            elif m.ref.kind == "CustomResourceDefinition":
                users = [p for p in order[:index] if any(crds.get((o.ref.group, o.ref.kind)) is m for o in assigned[p])]
            else:
                continue
            if users:
                assigned[name].remove(m)
                assigned[users[0]].append(m)


def _check_cross_phase(assigned: dict[str, list[Manifest]], everything: list[Manifest], index: dict) -> None:
    phase_of = {id(m): name for name, ms in assigned.items() for m in ms}
    for name, members in assigned.items():
        for m in members:
            for target in _parse_depends_on(m):
                dep = _resolve(m, target, everything)
                if index[phase_of[id(dep)]] > index[name]:
                    raise ValidationError(
                        f"{m.source}: {m.ref} (phase {name}) depends on {dep.ref}, "
                        f"which is restored later (phase {phase_of[id(dep)]})"
                    )


def plan_records(plan: Plan, needs_crd: Callable[[ObjectRef], bool] = lambda ref: False) -> list[ObjectRecord]:
    """The plan as report objects (`plan --output json`): each object with its phase, wave and source."""
    return [
        ObjectRecord(phase=phase.name, kind=m.ref.kind, namespace=m.ref.namespace or "", name=m.ref.name,
                     action="planned", wave=wave.index, source=m.source, message="; ".join(_marks(plan, m, needs_crd)))
        for phase in plan.phases for wave in phase.waves for m in wave.manifests
    ]


def _marks(plan: Plan, m: Manifest, needs_crd: Callable[[ObjectRef], bool]) -> list[str]:
    return [NEEDS_CRD] * needs_crd(m.ref) + [SCOPE_UNKNOWN] * (m.ref in plan.unknown_scope)


def render_plan(plan: Plan, needs_crd: Callable[[ObjectRef], bool] = lambda ref: False) -> list[str]:
    """Text lines for `dr-bootstrap plan`: phases, waves and every object with its source."""
    lines: list[str] = []
    for phase in plan.phases:
        extra = []
        if phase.depends_on:
            extra.append(f"after {', '.join(phase.depends_on)}")
        if phase.timeout:
            extra.append(f"timeout {phase.timeout:g}s")
        if not phase.verify.rollouts:
            extra.append("no rollout check")
        lines.append(f"phase {phase.name}" + (f" ({'; '.join(extra)})" if extra else ""))
        for wave in phase.waves:
            lines.append(f"  wave {wave.index} [{wave.label}] {len(wave.manifests)} object(s)")
            for m in wave.manifests:
                marks = _marks(plan, m, needs_crd)
                lines.append(f"    {m.ref}  <- {m.source}" + (f"  ({'; '.join(marks)})" if marks else ""))
    if plan.created_namespaces:
        lines.append(f"namespaces created: {', '.join(plan.created_namespaces)}")
    for skip in plan.skipped:
        lines.append(f"skipped {skip.path}: {skip.reason}")
    return lines
