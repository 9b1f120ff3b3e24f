"""The simulated kubelet's verdicts: what a real kubelet would report before starting containers."""

from drb_localcluster.kubelet_sim import ADMITTED, SIMULATE, decide, image_refs, pending_decision, VERDICT

OBJECTS = {
    ("Secret", "apps", "db"): frozenset({"password"}),
    ("ConfigMap", "apps", "settings"): frozenset({"mode"}),
}


def lookup(kind, namespace, name):
    return OBJECTS.get((kind, namespace, name))


def pod(*containers, volumes=(), annotations=None):
    return {
        "metadata": {"name": "p", "namespace": "apps", "annotations": annotations or {}},
        "spec": {"containers": list(containers), "volumes": list(volumes)},
    }


def c(name="app", image="nginx:1.27", **extra):
    return {"name": name, "image": image, **extra}


def test_plain_pod_is_admitted():
    assert decide(pod(c()), lookup).outcome == ADMITTED


def test_missing_secret_in_env_is_a_config_error_naming_the_secret():
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]
    v = decide(pod(c("web", env=env)), lookup)
    assert (v.outcome, v.container, v.message) == ("config-error", "web", 'secret "nope" not found')


def test_missing_key_is_reported_like_the_kubelet():
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "user"}}}]
    assert decide(pod(c(env=env)), lookup).message == "couldn't find key user in Secret apps/db"
    env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}}]
    assert decide(pod(c(env=env)), lookup).message == "couldn't find key level in ConfigMap apps/settings"


def test_optional_references_never_block():
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}}]
    env_from = [{"configMapRef": {"name": "nope", "optional": True}}]
    vols = [{"name": "v", "secret": {"secretName": "nope", "optional": True}}]
    assert decide(pod(c(env=env, envFrom=env_from), volumes=vols), lookup).outcome == ADMITTED


def test_env_from_is_checked_before_env():
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]
    env_from = [{"configMapRef": {"name": "gone"}}]
    assert decide(pod(c(env=env, envFrom=env_from)), lookup).message == 'configmap "gone" not found'


def test_present_references_are_admitted():
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    env_from = [{"configMapRef": {"name": "settings"}}]
    vols = [{"name": "v", "configMap": {"name": "settings", "items": [{"key": "mode", "path": "m"}]}}]
    assert decide(pod(c(env=env, envFrom=env_from), volumes=vols), lookup).outcome == ADMITTED


def test_missing_volume_source_blocks_mounting():
    v = decide(pod(c(), volumes=[{"name": "certs", "secret": {"secretName": "tls"}}]), lookup)
    assert v.outcome == "volume-missing"
    assert v.message == 'MountVolume.SetUp failed for volume "certs" : secret "tls" not found'
    projected = {"name": "p", "projected": {"sources": [{"configMap": {"name": "absent"}}]}}
    assert decide(pod(c(), volumes=[projected]), lookup).outcome == "volume-missing"


def test_invalid_registry_host_cannot_be_pulled():
    v = decide(pod(c("side"), c("main", image="example.invalid/does-not-exist")), lookup)
    assert (v.outcome, v.container) == ("image-pull", "main")
    assert v.message.startswith('Failed to pull image "example.invalid/does-not-exist:latest": ')
    assert "lookup example.invalid: no such host" in v.message
    assert v.backoff_message.startswith('Back-off pulling image "example.invalid/does-not-exist:latest": ErrImagePull: ')


def test_image_refs_follow_kubelet_and_containerd_defaults():
    assert image_refs("nginx") == ("nginx:latest", "docker.io/library/nginx:latest")
    assert image_refs("org/app:1") == ("org/app:1", "docker.io/org/app:1")
    assert image_refs("reg.io:5000/app") == ("reg.io:5000/app:latest", "reg.io:5000/app:latest")
    assert image_refs("app@sha256:ab") == ("app@sha256:ab", "docker.io/library/app@sha256:ab")


def test_simulate_annotation_selects_the_failure():
    for mode in ("crashloop", "fail", "image-pull", "config-error"):
        v = decide(pod(c(), annotations={SIMULATE: mode}), lookup)
        assert (v.outcome, v.container) == (mode, "app")
    assert "not found" in decide(pod(c(), annotations={SIMULATE: "image-pull"}), lookup).message


def test_verdict_annotations_drop_empty_fields():
    v = decide(pod(c()), lookup)
    assert v.annotations()[VERDICT] == ADMITTED
    assert all(val is None for key, val in v.annotations().items() if key != VERDICT)


def test_only_undecided_or_retryable_pods_are_revisited():
    assert pending_decision(pod(c()))
    assert pending_decision(pod(c(), annotations={VERDICT: "config-error"}))
    assert not pending_decision(pod(c(), annotations={VERDICT: ADMITTED}))
    gone = pod(c())
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not pending_decision(gone)


def test_failures_get_the_kubelets_warning_event_and_admitted_pods_none():
    from drb_localcluster.kubelet_sim import kubelet_event

    p = pod(c(env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]))
    p["metadata"]["uid"] = "u1"
    event = kubelet_event(p, decide(p, lookup), "2026-01-01T00:00:00Z")
    assert (event["type"], event["reason"], event["message"]) == ("Warning", "Failed", 'Error: secret "nope" not found')
    assert event["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "apps",
                                       "uid": "u1", "fieldPath": "spec.containers{app}"}
    assert event["source"]["component"] == "kubelet"
    crash = kubelet_event(p, decide(pod(c(), annotations={SIMULATE: "crashloop"}), lookup), "t")
    assert crash["reason"] == "BackOff" and crash["message"] == "Back-off restarting failed container app in pod p_apps(u1)"
    assert kubelet_event(p, decide(pod(c()), lookup), "t") is None
