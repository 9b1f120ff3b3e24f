"""The target stage: which cluster a restore is about to write to, and whether it is fresh (pure, given
what was read; `confirm_target` reads it).

Before the first write `restore` says where it is going (context, server, Kubernetes version) and whether the
cluster already holds objects this restore writes. A cluster that is not fresh is where a mistyped context
does damage, so, as kapp does, the restore asks `Continue? [y/N]` on a terminal, goes on with `--yes`, and
refuses without either (nothing written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bootstrap.errors import UsageError
from bootstrap.model import ObjectRef

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run

SHOWN = 5  # existing objects named in the line
# Every new cluster has these namespaces: a repo that targets one (cluster-template's kube-system apps) does not
# make a fresh cluster look used.
BUILT_IN = frozenset(ObjectRef("v1", "Namespace", None, name)
                     for name in ("default", "kube-system", "kube-public", "kube-node-lease"))


@dataclass(frozen=True)
class Target:
    context: str | None
    server: str
    version: str | None
    planned: int
    existing: tuple[ObjectRef, ...]

    @property
    def fresh(self) -> bool:
        return not self.existing

    def line(self) -> str:
        where = f"context {self.context}" if self.context else "in-cluster configuration"
        head = f"target: {where} ({self.server}), Kubernetes {self.version or 'unknown'}"
        if self.fresh:
            return f"{head}; fresh: none of the {self.planned} objects to restore exist yet"
        names = ", ".join(str(ref) for ref in self.existing[:SHOWN])
        more = f" and {len(self.existing) - SHOWN} more" if len(self.existing) > SHOWN else ""
        return f"{head}; NOT fresh: {len(self.existing)} of the {self.planned} objects to restore exist ({names}{more})"


def target(context: str | None, server: str, version: str | None, planned: Iterable[ObjectRef],
           existing: Iterable[ObjectRef]) -> Target:
    refs = list(dict.fromkeys(planned))  # an object two phases both write counts once
    live = set(existing) - BUILT_IN
    return Target(context, server, version, len(refs), tuple(ref for ref in refs if ref in live))


def go_ahead(where: Target, *, yes: bool, ask: Callable[[str], bool] | None) -> None:
    """Return when the restore may write; UsageError (nothing written) when it may not. `ask` is the
    terminal's yes/no question, None without a terminal."""
    if where.fresh or yes:
        return
    if ask is None:
        raise UsageError(
            f"{len(where.existing)} of the objects this restore writes already exist in "
            f"{where.context or where.server}: refusing to restore into a cluster that is not fresh without --yes",
            hint="check --context, then pass --yes to restore into it anyway (server-side apply converges)",
        )
    if not ask("Continue?"):
        raise UsageError("not confirmed: nothing was written")


def confirm_target(cluster: Cluster, refs: Sequence[ObjectRef], run: Run, *, yes: bool,
                   ask: Callable[[str], bool] | None) -> None:
    """The target stage: say where the restore writes (`refs`: everything it writes, key Secrets included)
    and whether the cluster is fresh; return only when it is, or on a yes (UsageError otherwise, nothing
    written). The wait for the operator's answer is timed apart (`Run.asking_operator`): not in the RTO."""
    existing = cluster.resources.read_versions(list(refs))
    where = target(cluster.client.context, cluster.host, run.report.server_version, refs, existing)
    run.progress.note(where.line())
    go_ahead(where, yes=yes, ask=run.asking_operator(ask))
