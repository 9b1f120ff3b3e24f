"""The local control plane behaves like a real cluster for what dr-bootstrap relies on: workloads roll
out, Jobs complete or fail, CRDs establish, and broken pods show the kubelet's reasons and messages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from drb_localcluster import LocalCluster

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@pytest.fixture
def api(local_cluster: LocalCluster):
    with config.new_client_from_config(config_file=str(local_cluster.kubeconfig)) as api_client:
        yield api_client


@pytest.fixture
def ns(api) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    wait_for("default ServiceAccount", lambda: _exists(lambda: client.CoreV1Api(api).read_namespaced_service_account("default", name)))
    return name


def _exists(read: Callable[[], Any]) -> bool:
    try:
        read()
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def pod_template(labels: dict[str, str], annotations: dict[str, str] | None = None, **container: Any) -> dict:
    return {
        "metadata": {"labels": labels, "annotations": annotations or {}},
        "spec": {"containers": [{"name": "app", "image": "registry.local/app:1", **container}]},
    }


def deployment(name: str, replicas: int = 1, annotations: dict[str, str] | None = None, **container: Any) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": pod_template(labels, annotations, **container)},
    }


def pods(api, ns: str, app: str) -> list[client.V1Pod]:
    return client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=f"app={app}").items


def first_waiting(api, ns: str, app: str, reasons: set[str]) -> client.V1ContainerStatus | None:
    for pod in pods(api, ns, app):
        for status in pod.status.container_statuses or []:
            if status.state.waiting and status.state.waiting.reason in reasons:
                return status
    return None


# -- workloads ------------------------------------------------------------------------------------


def test_deployment_reaches_two_available_replicas(api, ns):
    client.AppsV1Api(api).create_namespaced_deployment(ns, deployment("web", replicas=2))
    wait_for("2 available", lambda: (client.AppsV1Api(api).read_namespaced_deployment("web", ns).status.available_replicas or 0) == 2)
    assert all(p.status.phase == "Running" for p in pods(api, ns, "web"))


def test_statefulset_and_daemonset_become_ready(api, ns):
    apps = client.AppsV1Api(api)
    labels = {"app": "db"}
    apps.create_namespaced_stateful_set(ns, {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": labels}, "template": pod_template(labels)},
    })
    labels = {"app": "agent"}
    apps.create_namespaced_daemon_set(ns, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": labels}, "template": pod_template(labels)},
    })
    wait_for("StatefulSet ready", lambda: (apps.read_namespaced_stateful_set("db", ns).status.ready_replicas or 0) == 2)
    ds = wait_for("DaemonSet ready", lambda: (s := apps.read_namespaced_daemon_set("agent", ns).status).number_ready == 1 and s)
    assert ds.desired_number_scheduled == 1


def job(name: str, annotations: dict[str, str] | None = None) -> dict:
    template = pod_template({"job": name}, annotations)
    template["spec"]["restartPolicy"] = "Never"
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": template}}


def job_condition(api, ns: str, name: str, kind: str) -> bool:
    conditions = client.BatchV1Api(api).read_namespaced_job(name, ns).status.conditions or []
    return any(c.type == kind and c.status == "True" for c in conditions)


def test_job_completes(api, ns):
    client.BatchV1Api(api).create_namespaced_job(ns, job("migrate"))
    wait_for("Job Complete", lambda: job_condition(api, ns, "migrate", "Complete"))
    assert client.BatchV1Api(api).read_namespaced_job("migrate", ns).status.succeeded == 1


def test_crd_is_established_and_accepts_a_custom_resource(api, ns):
    group, plural = f"{ns}.example.com", "widgets"
    client.ApiextensionsV1Api(api).create_custom_resource_definition({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}],
        },
    })

    def established() -> bool:
        crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(f"{plural}.{group}")
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    wait_for("CRD Established", established)
    custom = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    created = wait_for("CR accepted", lambda: _try_create(lambda: custom.create_namespaced_custom_object(group, "v1", ns, plural, body)))
    assert created["spec"] == {"size": 3}
    with pytest.raises(ApiException) as bad:  # the schema is enforced: the server really validates
        custom.create_namespaced_custom_object(group, "v1", ns, plural, {**body, "metadata": {"name": "x"}, "spec": {"size": "big"}})
    assert bad.value.status == 422


def _try_create(create: Callable[[], Any]) -> Any:
    try:
        return create()
    except ApiException as exc:
        if exc.status == 404:  # discovery of a just-established CRD can lag a moment
            return None
        raise


# -- failures, as a kubelet reports them ------------------------------------------------------------


def test_crashloop_is_reported_like_a_kubelet(api, ns):
    client.AppsV1Api(api).create_namespaced_deployment(ns, deployment("crash", annotations={"dr-bootstrap.io/simulate": "crashloop"}))
    status = wait_for("CrashLoopBackOff", lambda: first_waiting(api, ns, "crash", {"CrashLoopBackOff"}))
    pod = pods(api, ns, "crash")[0]
    expected = f"back-off 10s restarting failed container=app pod={pod.metadata.name}_{ns}({pod.metadata.uid})"
    assert status.state.waiting.message == expected
    assert status.restart_count > 0 and status.ready is False
    assert status.last_state.terminated.exit_code == 1
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
    assert (client.AppsV1Api(api).read_namespaced_deployment("crash", ns).status.available_replicas or 0) == 0


def test_unpullable_image_goes_err_image_pull_then_back_off(api, ns):
    client.AppsV1Api(api).create_namespaced_deployment(ns, deployment("pull", image="example.invalid/does-not-exist"))
    first = wait_for("ErrImagePull", lambda: first_waiting(api, ns, "pull", {"ErrImagePull", "ImagePullBackOff"}))
    ref = "example.invalid/does-not-exist:latest"
    if first.state.waiting.reason == "ErrImagePull":
        assert first.state.waiting.message.startswith(f'Failed to pull image "{ref}": ')
    status = wait_for("ImagePullBackOff", lambda: first_waiting(api, ns, "pull", {"ImagePullBackOff"}))
    assert status.state.waiting.message.startswith(f'Back-off pulling image "{ref}": ErrImagePull: ')
    assert pods(api, ns, "pull")[0].status.phase == "Pending"


def test_simulated_image_pull_failure_by_annotation(api, ns):
    client.AppsV1Api(api).create_namespaced_deployment(ns, deployment("pull2", annotations={"dr-bootstrap.io/simulate": "image-pull"}))
    status = wait_for("pull failure", lambda: first_waiting(api, ns, "pull2", {"ErrImagePull", "ImagePullBackOff"}))
    assert "registry.local/app:1" in status.state.waiting.message


def secret_env(secret: str, key: str) -> list[dict]:
    return [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}]


def test_missing_secret_is_a_config_error_until_it_appears(api, ns):
    core = client.CoreV1Api(api)
    client.AppsV1Api(api).create_namespaced_deployment(ns, deployment("cfg", env=secret_env("db-creds", "password")))
    status = wait_for("CreateContainerConfigError", lambda: first_waiting(api, ns, "cfg", {"CreateContainerConfigError"}))
    assert status.state.waiting.message == 'secret "db-creds" not found'
    assert pods(api, ns, "cfg")[0].status.phase == "Pending"

    core.create_namespaced_secret(ns, {"metadata": {"name": "db-creds"}, "stringData": {"password": "not-a-real-one"}})
    wait_for("available after the Secret appears", lambda: (client.AppsV1Api(api).read_namespaced_deployment("cfg", ns).status.available_replicas or 0) == 1)
    running = pods(api, ns, "cfg")[0].status.container_statuses[0]
    assert running.ready and running.state.running and running.state.waiting is None


def test_missing_key_is_a_config_error_naming_secret_and_key(api, ns):
    client.CoreV1Api(api).create_namespaced_secret(ns, {"metadata": {"name": "x"}, "stringData": {"other": "v"}})
    client.AppsV1Api(api).create_namespaced_deployment(ns, deployment("key", env=secret_env("x", "k")))
    status = wait_for("CreateContainerConfigError", lambda: first_waiting(api, ns, "key", {"CreateContainerConfigError"}))
    assert status.state.waiting.message == f"couldn't find key k in Secret {ns}/x"
    pod = pods(api, ns, "key")[0].metadata.name
    events = wait_for("kubelet event", lambda: [
        e for e in client.CoreV1Api(api).list_namespaced_event(ns).items
        if e.involved_object.name == pod and e.source.component == "kubelet"])
    assert (events[0].type, events[0].reason, events[0].message) == ("Warning", "Failed", f"Error: couldn't find key k in Secret {ns}/x")


def test_missing_volume_secret_keeps_the_pod_container_creating(api, ns):
    dep = deployment("vol", volumeMounts=[{"name": "tls", "mountPath": "/tls"}])
    dep["spec"]["template"]["spec"]["volumes"] = [{"name": "tls", "secret": {"secretName": "tls"}}]
    client.AppsV1Api(api).create_namespaced_deployment(ns, dep)
    status = wait_for("ContainerCreating", lambda: first_waiting(api, ns, "vol", {"ContainerCreating"}))
    assert status.ready is False and pods(api, ns, "vol")[0].status.phase == "Pending"
    client.CoreV1Api(api).create_namespaced_secret(ns, {"metadata": {"name": "tls"}, "stringData": {"tls.crt": "x"}})
    wait_for("available after the Secret appears", lambda: (client.AppsV1Api(api).read_namespaced_deployment("vol", ns).status.available_replicas or 0) == 1)


def test_failing_job_pod_fails_the_job(api, ns):
    client.BatchV1Api(api).create_namespaced_job(ns, job("broken", {"dr-bootstrap.io/simulate": "fail"}))
    wait_for("Job Failed", lambda: job_condition(api, ns, "broken", "Failed"), timeout=45)
    pod = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="job=broken").items[0]
    assert pod.status.phase == "Failed"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 1
    assert client.BatchV1Api(api).read_namespaced_job("broken", ns).status.failed == 1


# -- lifecycle ------------------------------------------------------------------------------------


def test_two_clusters_run_independently(local_cluster, fresh_cluster):
    assert local_cluster.server != fresh_cluster.server
    with config.new_client_from_config(config_file=str(fresh_cluster.kubeconfig)) as other, \
         config.new_client_from_config(config_file=str(local_cluster.kubeconfig)) as mine:
        name = f"only-here-{uuid.uuid4().hex[:6]}"
        client.CoreV1Api(other).create_namespace({"metadata": {"name": name}})
        assert _exists(lambda: client.CoreV1Api(other).read_namespace(name))
        assert not _exists(lambda: client.CoreV1Api(mine).read_namespace(name))


def test_cli_up_and_down_leave_no_process_behind(tmp_path, control_plane_bin):
    directory = tmp_path / "cli-cluster"
    cli = [sys.executable, "-m", "drb_localcluster"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    up = subprocess.run([*cli, "up", "--dir", str(directory)], capture_output=True, text=True, timeout=150, env=env)
    assert up.returncode == 0, up.stderr[-2000:]
    assert Path(up.stdout.strip()) == directory / "kubeconfig"
    pids = {f.stem: int(f.read_text()) for f in (directory / "pids").glob("*.pid")}
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubelet-sim"}
    assert all(Path(f"/proc/{pid}").exists() for pid in pids.values())

    down = subprocess.run([*cli, "down", "--dir", str(directory)], capture_output=True, text=True, timeout=60, env=env)
    assert down.returncode == 0, down.stderr[-2000:]
    alive = [name for name, pid in pids.items() if Path(f"/proc/{pid}").exists() and b"cli-cluster" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert alive == []
    assert not directory.exists()


def test_components_die_with_the_process_that_started_them(tmp_path, control_plane_bin):
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from drb_localcluster import LocalCluster\n"
        "c = LocalCluster(Path(sys.argv[1]), Path(sys.argv[2])); c.start(timeout=120)\n"
        "print(' '.join(p.read_text().strip() for p in (c.dir / 'pids').glob('*.pid')), flush=True)\n"
        "os._exit(0)  # crash: no stop()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    directory = tmp_path / "orphan"
    run = subprocess.run([sys.executable, "-c", script, str(directory), str(control_plane_bin)],
                         capture_output=True, text=True, timeout=150, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    pids = [int(p) for p in run.stdout.split()]
    assert len(pids) == 6

    def survivors() -> list[int]:
        return [p for p in pids if Path(f"/proc/{p}").exists() and str(directory).encode() in Path(f"/proc/{p}/cmdline").read_bytes()]

    deadline = time.monotonic() + 10
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert survivors() == []
