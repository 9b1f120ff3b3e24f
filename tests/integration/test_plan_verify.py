"""`dr-bootstrap plan` and `dr-bootstrap verify` end to end against the real local control plane."""

from __future__ import annotations

import json

import pytest

from bootstrap.kube import Cluster
from tests.support.waiting import poll_until
from bootstrap.model import ObjectRef
from tests.integration.conftest import GitOpsRepo, read_json, run_cli, snapshot, unique

pytestmark = pytest.mark.cluster


def deployment(namespace: str, name: str, *, annotations: dict | None = None, pod_labels: dict | None = None) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": pod_labels or {"app": name}, "annotations": annotations or {}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/plan/app:1.0"}]},
            },
        },
    }


def plan_files(namespace: str, group: str, *, broken_selector: bool = False) -> dict[str, str]:
    """Files listed in the reverse of their apply order."""
    return {
        "a-thing.yaml": json.dumps({"apiVersion": f"{group}/v1", "kind": "Thing",
                                    "metadata": {"name": "one", "namespace": namespace}, "spec": {}}),
        "b-deploy.yaml": json.dumps(deployment(namespace, "web", pod_labels={"app": "other"} if broken_selector else None)),
        "c-creds.sops.yaml": json.dumps({"apiVersion": "v1", "kind": "Secret",
                                         "metadata": {"name": "creds", "namespace": namespace},
                                         "stringData": {"password": "plan-test-password-value"}}),
        "d-crd.yaml": json.dumps({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"things.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": "Thing", "plural": "things", "singular": "thing", "listKind": "ThingList"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
        }),
        "e-namespace.yaml": json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    }


@pytest.fixture(scope="module")
def plan_repo(make_repo) -> tuple[GitOpsRepo, str, str]:
    namespace, group = unique("pl"), f"{unique('p')}.example.com"
    return make_repo(plan_files(namespace, group)), namespace, group


def plan(repo: GitOpsRepo, kubeconfig, *extra: str):
    return run_cli("plan", str(repo.path), "--age-key-file", str(repo.key_file), "--kubeconfig", str(kubeconfig),
                   *extra)


def test_plan_prints_the_waves_in_order_and_writes_nothing(plan_repo, pristine_cluster):
    repo, namespace, group = plan_repo
    before = snapshot(pristine_cluster.kubeconfig)
    result = plan(repo, pristine_cluster.kubeconfig)
    assert result.code == 0, result
    lines = result.stdout.splitlines()
    objects = [line.split()[0] for line in lines if "<-" in line]
    # the order `restore` applies them in (the first two share a wave)
    assert set(objects[:2]) == {f"Namespace/{namespace}", f"CustomResourceDefinition/things.{group}"}, result
    assert objects[2:] == [f"Secret/{namespace}/creds", f"Deployment/{namespace}/web", f"Thing/{namespace}/one"]
    waves = [line.strip() for line in lines if line.strip().startswith("wave ")]
    assert [w.split("[")[1].split("]")[0] for w in waves] == [
        "namespaces+crds", "config", "workloads", "custom resources"], result
    assert f"Secret/{namespace}/creds  <- c-creds.sops.yaml" in result.stdout
    assert "plan-test-password-value" not in result.stdout + result.stderr
    assert snapshot(pristine_cluster.kubeconfig) == before


def test_plan_server_dry_run_checks_what_the_server_can_and_writes_nothing(plan_repo, pristine_cluster, tmp_path):
    repo, namespace, group = plan_repo
    before = snapshot(pristine_cluster.kubeconfig)
    result = plan(repo, pristine_cluster.kubeconfig, "--server-dry-run", "--report", str(tmp_path / "plan.json"))
    assert result.code == 0, result
    report = read_json(tmp_path / "plan.json")
    assert report["result"] == "succeeded" and report["command"] == "plan"
    assert [p["name"] for p in report["phases"]][-1] == "server-dry-run"
    actions = {(o["kind"], o["name"]): o["action"] for o in report["objects"]}
    assert actions == {
        ("Namespace", namespace): "dry-run", ("CustomResourceDefinition", f"things.{group}"): "dry-run",
        ("Secret", "creds"): "skipped", ("Deployment", "web"): "skipped", ("Thing", "one"): "skipped",
    }
    assert "plan-test-password-value" not in json.dumps(report)
    assert snapshot(pristine_cluster.kubeconfig) == before


def test_plan_server_dry_run_catches_what_only_the_server_knows(make_repo, local_cluster, kube):
    namespace, group = unique("pl"), f"{unique('p')}.example.com"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    # a selector that does not match the pod labels: valid YAML, valid to our checks, refused by the server
    repo = make_repo(plan_files(namespace, group, broken_selector=True))
    result = plan(repo, local_cluster.kubeconfig, "--server-dry-run")
    assert result.code == 5, result
    assert f"Deployment/{namespace}/web" in result.stderr and "selector" in result.stderr, result
    assert kube.get(ObjectRef("apps/v1", "Deployment", namespace, "web")) is None
    assert kube.get(ObjectRef("v1", "Secret", namespace, "creds")) is None


# ------------------------------------------------------------------------------------------ verify


@pytest.fixture(scope="module")
def kube(local_cluster):
    with Cluster(str(local_cluster.kubeconfig)) as cluster:
        yield cluster


def namespace_with(kube: Cluster, *bodies: dict) -> str:
    name = unique("vf")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    # pods are admitted only once the namespace's default ServiceAccount exists
    assert poll_until(lambda: kube.get(ObjectRef("v1", "ServiceAccount", name, "default")) is not None, 30)
    for body in bodies:
        kube.apply({**body, "metadata": {**body["metadata"], "namespace": name}})
    return name


@pytest.fixture(scope="module")
def healthy(kube) -> str:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "once", "image": "registry.example/plan/job:1.0"}]}}}}
    return namespace_with(kube, deployment("", "web"), deployment("", "api"), job)


@pytest.fixture(scope="module")
def crashing(kube) -> str:
    return namespace_with(kube, deployment("", "web"),
                          deployment("", "worker", annotations={"dr-bootstrap.io/simulate": "crashloop"}))


def verify(kubeconfig, *extra: str):
    return run_cli("verify", "--kubeconfig", str(kubeconfig), "--timeout", "120", *extra)


def test_verify_passes_on_a_healthy_namespace(local_cluster, healthy, tmp_path):
    result = verify(local_cluster.kubeconfig, "-n", healthy, "--report", str(tmp_path / "verify.json"))
    assert result.code == 0, result
    report = read_json(tmp_path / "verify.json")
    assert report["result"] == "succeeded" and report["command"] == "verify"
    statuses = {(o["kind"], o["namespace"], o["name"]): o["status"] for o in report["objects"]}
    assert statuses == {("Deployment", healthy, "web"): "Current", ("Deployment", healthy, "api"): "Current",
                        ("Job", healthy, "once"): "Current"}


def test_verify_fails_fast_on_a_crash_looping_namespace(local_cluster, crashing):
    result = verify(local_cluster.kubeconfig, "-n", crashing)
    assert result.code == 6, result
    assert "rollout not complete" not in result.stderr, result  # fast-fail: the cause ended it, not the timeout
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and f"Deployment/{crashing}/worker" in error[0] and "CrashLoopBackOff" in error[0], result


def test_verify_output_json_prints_the_report(local_cluster, healthy, crashing):
    result = verify(local_cluster.kubeconfig, "-n", healthy, "-n", crashing, "--output", "json")
    assert result.code == 6, result
    report = json.loads(result.stdout)  # nothing but the report on stdout, even on failure
    assert report["command"] == "verify" and report["result"] == "failed"
    assert report["error"]["exitCode"] == 6 and "CrashLoopBackOff" in report["error"]["message"]
    failed = [(o["namespace"], o["name"]) for o in report["objects"] if o["status"] == "Failed"]
    assert failed == [(crashing, "worker")]
