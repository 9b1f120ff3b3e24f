"""bootstrap.kube.builtin_kinds (what `plan` knows offline) against the live discovery of the local API server."""

from __future__ import annotations

import pytest

from bootstrap.kube.builtin_kinds import BUILTIN
from bootstrap.kube import Cluster

pytestmark = pytest.mark.cluster


def test_the_builtin_table_is_the_server_s_discovery(local_cluster):
    with Cluster(str(local_cluster.kubeconfig)) as cluster:
        versions = ["v1"] + [v["groupVersion"] for g in cluster.call("GET", "/apis").data["groups"] for v in g["versions"]]
        live: dict[str, dict[str, bool]] = {}
        for gv in versions:
            path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            kinds = {r["kind"]: r["namespaced"] for r in cluster.call("GET", path).data["resources"] if "/" not in r["name"]}
            if kinds:
                live[gv] = kinds
    # CRDs installed by other tests are not built in: compare the groups the table knows, and every
    # built-in group (those without a dot, or *.k8s.io) the server has
    builtin = {gv: kinds for gv, kinds in live.items() if "." not in gv.split("/")[0] or gv.split("/")[0].endswith(".k8s.io")
               or gv == "v1"}
    assert BUILTIN == builtin
