"""The hand-over stage: after the bootstrap, the GitOps engine reconciles the rest of the repository.

`--wait-gitops` yes or no; unset (drill's default), when the restored set installs the engine. The waiting,
the readiness rules and the field-manager hand-over are the engine's (`Engine.hand_over`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bootstrap.engines.base import Engine
    from bootstrap.kube import Cluster
    from bootstrap.model import Manifest
    from bootstrap.report.run import Run


def wanted(engine: Engine, option: bool | None, manifests: Sequence[Manifest]) -> bool:
    """--wait-gitops: yes, no, or (None) when the restored set installs the engine."""
    return engine.installs([m.ref for m in manifests]) if option is None else option


def hand_over(engine: Engine, cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, wait: bool | None,
              timeout: float) -> None:
    if wanted(engine, wait, manifests):
        engine.hand_over(cluster, run, manifests, timeout=timeout)
