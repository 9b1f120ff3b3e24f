"""The status engine (pure): one place for every readiness rule, used by the CRD and Namespace gates, the
rollout verification and the consumer check. See `engine` for the order of the rules, `health` for their
vocabulary (Status, Health, the readers of an object's conditions), `rules` for the built-in kinds, `pods` for
fast-fail, `secrets` for which Secrets a workload reads. It knows no GitOps engine: an engine's own readiness
(Flux's Ready reasons, Argo CD's health) lives in its package under `bootstrap.engines`.
"""

from bootstrap.status.engine import assess
from bootstrap.status.health import GroupKind, Health, PodFailure, Status, group_kind
from bootstrap.status.rules import has_readiness, is_builtin_group
from bootstrap.status.secrets import consumed_secret_keys, consumes_secret

__all__ = [
    "GroupKind", "Health", "PodFailure", "Status", "assess", "consumed_secret_keys",
    "consumes_secret", "group_kind", "has_readiness", "is_builtin_group",
]
