"""Fixtures shared by the real-cluster tests of the Kubernetes edge."""

from __future__ import annotations

import uuid

import pytest

from bootstrap.kube import Cluster
from tests.support.waiting import poll_until
from bootstrap.model import ObjectRef


@pytest.fixture
def kube(local_cluster) -> Cluster:
    with Cluster(str(local_cluster.kubeconfig)) as cluster:
        yield cluster


@pytest.fixture
def ns(kube) -> str:
    """A new namespace of the session cluster, ready for pods (its default ServiceAccount exists)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert poll_until(lambda: kube.get(ObjectRef("v1", "ServiceAccount", name, "default")) is not None, 30)
    return name
