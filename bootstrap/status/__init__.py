"""The status engine (pure): one place for every readiness rule, used by the CRD and Namespace gates, the
rollout verification and the consumer check. See `engine` for the order of the rules, `rules` for the
built-in kinds, `pods` for fast-fail, `flux` for Flux objects, `secrets` for which Secrets a workload reads.
"""

from bootstrap.status.engine import GroupKind, Health, PodFailure, Status, assess, group_kind
from bootstrap.status.flux import FluxReadiness, flux_readiness, is_flux
from bootstrap.status.rules import has_readiness, is_builtin_group
from bootstrap.status.secrets import consumed_secret_keys, consumes_secret

__all__ = [
    "FluxReadiness", "GroupKind", "Health", "PodFailure", "Status", "assess", "consumed_secret_keys",
    "consumes_secret", "flux_readiness", "group_kind", "has_readiness", "is_builtin_group", "is_flux",
]
