"""target: where a restore writes, whether the cluster is fresh, and when it may go on."""

from __future__ import annotations

import pytest

from bootstrap.errors import ExitCode, UsageError
from bootstrap.model import ObjectRef
from bootstrap.stages.target import go_ahead, target

NS = ObjectRef("v1", "Namespace", None, "flux-system")
CM = [ObjectRef("v1", "ConfigMap", "apps", f"c{i}") for i in range(8)]


def test_a_fresh_cluster_says_so_and_goes_on_without_asking():
    where = target("kind-dr", "https://127.0.0.1:6443", "v1.36.3", [NS, *CM], [])
    assert where.fresh
    assert where.line() == ("target: context kind-dr (https://127.0.0.1:6443), Kubernetes v1.36.3; "
                            "fresh: none of the 9 objects to restore exist yet")
    go_ahead(where, yes=False, ask=None)  # no question, no flag needed


def test_a_cluster_holding_restored_objects_is_named_not_fresh():
    where = target("prod", "https://api.prod:6443", "v1.35.0", [NS, *CM], [*CM, ObjectRef("v1", "Pod", "x", "y")])
    assert not where.fresh and len(where.existing) == 8  # objects the restore does not write do not count
    line = where.line()
    assert "NOT fresh: 8 of the 9 objects to restore exist (ConfigMap/apps/c0, " in line and "and 3 more" in line


def test_not_fresh_without_a_terminal_refuses_unless_yes():
    where = target("prod", "https://api.prod:6443", "v1.35.0", [NS], [NS])
    with pytest.raises(UsageError) as exc:
        go_ahead(where, yes=False, ask=None)
    assert exc.value.exit_code == ExitCode.USAGE and "--yes" in str(exc.value) and "prod" in str(exc.value)
    go_ahead(where, yes=True, ask=None)


def test_not_fresh_on_a_terminal_asks_and_a_no_stops():
    where = target(None, "https://10.0.0.1", None, [NS], [NS])
    asked = []
    go_ahead(where, yes=False, ask=lambda q: asked.append(q) or True)
    assert asked == ["Continue?"]
    with pytest.raises(UsageError, match="not confirmed: nothing was written"):
        go_ahead(where, yes=False, ask=lambda q: False)
    assert "in-cluster configuration" in where.line()


def test_the_namespaces_every_new_cluster_has_leave_it_fresh_and_an_object_counts_once():
    kube_system = ObjectRef("v1", "Namespace", None, "kube-system")
    where = target("local", "https://127.0.0.1:6443", "v1.36.3", [kube_system, NS, kube_system], [kube_system])
    assert where.fresh and where.planned == 2, where
    go_ahead(where, yes=False, ask=None)
    where = target("local", "https://127.0.0.1:6443", "v1.36.3", [kube_system, NS, NS], [kube_system, NS])
    assert where.existing == (NS,) and "NOT fresh: 1 of the 2 objects" in where.line()
