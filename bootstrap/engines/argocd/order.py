"""Argo CD's sync order inside one Application (gitops-engine pkg/sync): hook phase (PreSync, Sync, PostSync,
SyncFail), then sync wave, then its kind order (kinds it does not list after those it lists), then name.
Objects marked `Skip` are never applied. Helm hooks map to Argo CD phases as Argo CD maps them; a secret-zero
entry path before the entry path whose workloads read it (`secret_zero_first`) (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bootstrap.errors import ValidationError
from bootstrap.status.secrets import consumed_secret_keys

if TYPE_CHECKING:
    from bootstrap.engines.base import RenderedPhase

HOOK = "argocd.argoproj.io/hook"
HELM_HOOK = "helm.sh/hook"
HELM_WEIGHT = "helm.sh/hook-weight"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
PHASES = ("PreSync", "Sync", "PostSync", "SyncFail")
_HELM = {"pre-install": "PreSync", "pre-upgrade": "PreSync", "post-install": "PostSync", "post-upgrade": "PostSync"}
KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
    "CronJob", "IngressClass", "Ingress", "APIService",
)
_RANK = {kind: index - len(KIND_ORDER) for index, kind in enumerate(KIND_ORDER)}


def _annotations(body: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    annotations = metadata.get("annotations")
    return annotations if isinstance(annotations, Mapping) else {}


def sync_phase(body: Mapping[str, Any]) -> str:
    """PreSync, Sync, PostSync, SyncFail, or Skip (never applied); PreDelete/PostDelete hooks are Skip here."""
    annotations = _annotations(body)
    raw = annotations.get(HOOK)
    if raw is not None:
        hooks = [h.strip() for h in str(raw).split(",") if h.strip()]
        if "Skip" in hooks:
            return "Skip"
        for phase in PHASES:
            if phase in hooks:
                return phase
        return "Skip"
    raw = annotations.get(HELM_HOOK)
    if raw is not None:
        phases = [_HELM.get(h.strip()) for h in str(raw).split(",")]
        found = [p for p in phases if p]
        return found[0] if found else "Skip"
    return "Sync"


def wave(body: Mapping[str, Any], where: str = "") -> int:
    annotations = _annotations(body)
    raw = annotations.get(SYNC_WAVE)
    if raw is None and HOOK not in annotations and HELM_HOOK in annotations:
        raw = annotations.get(HELM_WEIGHT)
    try:
        return int(str(raw if raw is not None else "0").strip())
    except ValueError:
        raise ValidationError(f"{where}: annotation {SYNC_WAVE} {raw!r} is not an integer") from None


def sort_key(body: Mapping[str, Any], where: str = "") -> tuple[int, int, int, str]:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    phase = sync_phase(body)
    return (PHASES.index(phase) if phase in PHASES else len(PHASES), wave(body, where),
            _RANK.get(str(body.get("kind")), 0), str(metadata.get("name") or ""))


_DATA_KINDS = frozenset({"Secret", "ConfigMap", "Namespace"})


def secret_zero_first(phases: list[RenderedPhase]) -> tuple[list[RenderedPhase], list[str]]:
    """The entry paths in the order given, except that one holding only Secrets (ConfigMaps, Namespaces),
    a secret zero its README applies with `sops -d FILE | kubectl apply`, goes before the first path whose
    workloads read one of its Secrets: the Argo CD install's repo-server or plugin sidecar taking its
    credentials from it would not start (CreateContainerConfigError) and its rollout would fail the restore,
    where Argo CD itself applies Secrets before the workloads of a sync. Returns the order and a note per move."""
    out, notes = list(phases), []
    for phase in list(out):
        if not phase.manifests or any(m.ref.kind not in _DATA_KINDS for m in phase.manifests):
            continue
        provided = {(m.ref.namespace, m.ref.name) for m in phase.manifests if m.ref.kind == "Secret"}
        here = out.index(phase)
        for index, earlier in enumerate(out[:here]):
            reader = next(((w, ns, name) for w in earlier.manifests
                           for name, _ in sorted(consumed_secret_keys(w.body), key=str)
                           if (ns := w.ref.namespace, name) in provided), None)
            if reader is None:
                continue
            out.insert(index, out.pop(here))
            workload, ns, name = reader
            notes.append(f"{phase.name} restored before {earlier.name}: {workload.ref} reads Secret {ns}/{name} "
                         "from it")
            break
    return out, notes
