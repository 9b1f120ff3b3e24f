"""Rollout verification against the real local control plane: success, fast failure, timeouts, consumers."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap.errors import ExitCode, RolloutError
from bootstrap.status import Status
from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from bootstrap.stages.verify import RESTARTED_AT, find_consumers, restart_consumers, verify_rollouts

pytestmark = pytest.mark.cluster
TIMEOUT = 60.0


def template(app: str, annotations: dict[str, str] | None = None, **container: Any) -> dict:
    return {"metadata": {"labels": {"app": app}, "annotations": annotations or {}},
            "spec": {"containers": [{"name": "app", "image": "registry.local/app:1", **container}]}}


def workload(kind: str, ns: str, name: str, annotations: dict[str, str] | None = None, replicas: int | None = 1,
             **container: Any) -> dict:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": template(name, annotations, **container)}
    if kind in ("Deployment", "StatefulSet") and replicas is not None:
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def job(ns: str, name: str, annotations: dict[str, str] | None = None) -> dict:
    tpl = template(name, annotations)
    tpl["spec"]["restartPolicy"] = "Never"
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns},
            "spec": {"backoffLimit": 0, "template": tpl}}


def apply_all(kube: Cluster, *bodies: dict) -> list[ObjectRef]:
    return [kube.apply(body).ref for body in bodies]


def test_workloads_roll_out(kube, ns):
    refs = apply_all(
        kube,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns}, "data": {"a": "b"}},
        workload("Deployment", ns, "web", replicas=2),
        workload("StatefulSet", ns, "db", replicas=2),
        workload("DaemonSet", ns, "agent", replicas=None),
        job(ns, "migrate"),
    )
    changes: list[tuple[ObjectRef, Status]] = []
    results = verify_rollouts(kube, refs, timeout=TIMEOUT, on_status=lambda ref, h: changes.append((ref, h.status)))
    assert [ref for ref, _ in results] == refs
    assert all(h.status is Status.CURRENT for _, h in results), results
    assert {ref for ref, status in changes if status is Status.CURRENT} == set(refs[1:])  # the ConfigMap is not polled
    live = kube.get(refs[1])
    assert live["status"]["readyReplicas"] == 2


@pytest.mark.parametrize(
    ("simulate", "reason", "expected"),
    [
        ("crashloop", "CrashLoopBackOff", "back-off 10s restarting failed container=app"),
        ("image-pull", "ErrImagePull|ImagePullBackOff", "registry.local/app:1"),
        ("config-error", "CreateContainerConfigError", 'secret "simulated-missing" not found'),
    ],
)
def test_doomed_deployment_fails_fast_with_the_cause(kube, ns, simulate, reason, expected):
    refs = apply_all(kube, workload("Deployment", ns, "web", {"dr-bootstrap.io/simulate": simulate}))
    with pytest.raises(RolloutError) as err:
        verify_rollouts(kube, refs, timeout=600)
    text = str(err.value)
    assert not text.startswith("rollout not complete")  # the cause ended the wait, not the timeout
    assert err.value.exit_code == ExitCode.ROLLOUT and "\n" not in text
    assert text.startswith(f"Deployment/{ns}/web: ")
    assert "; pod web-" in text and "container app: " in text
    assert any(r in text for r in reason.split("|")) and expected in text
    assert "(hint: " in text


def test_missing_secret_fails_fast_naming_it(kube, ns):
    env = [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}]
    refs = apply_all(kube, workload("StatefulSet", ns, "db", env=env))
    with pytest.raises(RolloutError) as err:
        verify_rollouts(kube, refs, timeout=TIMEOUT)
    text = str(err.value)
    assert text.startswith(f"StatefulSet/{ns}/db: ")
    assert "; pod db-0 container app: CreateContainerConfigError: " in text
    assert 'secret "db-creds" not found' in text and f"Secret {ns}/db-creds does not exist" in text


def test_failed_job_fails_fast(kube, ns):
    refs = apply_all(kube, job(ns, "broken", {"dr-bootstrap.io/simulate": "fail"}))
    with pytest.raises(RolloutError) as err:
        verify_rollouts(kube, refs, timeout=600)  # the failure ends the wait: the timeout is never reached
    text = str(err.value)
    assert text.startswith(f"Job/{ns}/broken: BackoffLimitExceeded: Job has reached the specified backoff limit; ")
    assert "pod broken-" in text and "container app: Error: exited with code 1" in text


def test_timeout_lists_every_object_not_ready(kube, ns):
    stuck = workload("Deployment", ns, "stuck")
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"no-such-node": "true"}
    refs = apply_all(kube, stuck, workload("Deployment", ns, "fine"))
    with pytest.raises(RolloutError) as err:
        verify_rollouts(kube, refs, timeout=3)
    text = str(err.value)
    assert text.startswith("rollout not complete after 3s; 1 not ready: ")
    assert f"Deployment/{ns}/stuck (InProgress: " in text and "fine" not in text


def test_find_and_restart_consumers_of_a_restored_secret(kube, ns):
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token"}}}]
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-token", "namespace": ns},
                "stringData": {"token": "t"}})
    users, other = apply_all(kube, workload("Deployment", ns, "user", env=env), workload("Deployment", ns, "other"))
    volume_user = workload("StatefulSet", ns, "mounts")
    volume_user["spec"]["template"]["spec"]["volumes"] = [{"name": "v", "secret": {"secretName": "api-token"}}]
    (mounts,) = apply_all(kube, volume_user)
    secret = ObjectRef("v1", "Secret", ns, "api-token")
    found = find_consumers(kube, [secret])
    assert found == sorted([users, mounts])
    before = kube.get(users)["metadata"]["generation"]
    assert restart_consumers(kube, found) == found
    live = kube.get(users)
    assert RESTARTED_AT in live["spec"]["template"]["metadata"]["annotations"]
    assert live["metadata"]["generation"] == before + 1
    assert RESTARTED_AT not in (kube.get(other)["spec"]["template"]["metadata"].get("annotations") or {})
