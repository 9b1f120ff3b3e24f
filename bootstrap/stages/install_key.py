"""The install-key stage: the age key, written into every Secret the engine reads it from.

In: the cluster, the key Secrets (`validate.KeySecret`), the key ring, `dry_run`. The key material goes
from memory to the API server only; with `dry_run` the server validates the write and persists nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bootstrap import kube

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run
    from bootstrap.stages.keys import KeyRing
    from bootstrap.stages.validate import KeySecret


def install_key(cluster: Cluster, run: Run, targets: Sequence[KeySecret], keyring: KeyRing, *, dry_run: bool,
                allow_any_key: bool) -> None:
    """The `install-key` phase."""
    with run.phase("install-key"):
        for target in targets:
            run.progress.note(f"age key -> {target} key {target.key} ({target.why})")
            outcome = kube.install_key_secret(
                cluster.resources, target.namespace, target.name, target.key, keyring.material,
                dry_run=dry_run, allow_any_key=allow_any_key or target.engine_key,
            )
            run.applied("install-key", outcome)
