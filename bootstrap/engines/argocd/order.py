"""Argo CD's sync order inside one Application (gitops-engine pkg/sync): hook phase (PreSync, Sync, PostSync,
SyncFail), then sync wave, then its kind order (kinds it does not list after those it lists), then name.
Objects marked `Skip` are never applied. Helm hooks map to Argo CD phases as Argo CD maps them (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bootstrap.errors import ValidationError

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
