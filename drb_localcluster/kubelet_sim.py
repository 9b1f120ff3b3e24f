"""A tiny stand-in for the checks a kubelet makes before it starts a pod's containers.

kwok only writes pod status; it does not look at images, Secrets or ConfigMaps. This module decides, per
pod, what a real kubelet would report (mount a volume, pull images, build each container's environment)
and records the verdict as pod annotations that the kwok stages in data/kwok/ turn into pod status (plus the kubelet's Warning event):

    dr-bootstrap.io/kubelet             admitted | crashloop | image-pull | config-error | volume-missing | fail
    dr-bootstrap.io/kubelet-container   the failing container
    dr-bootstrap.io/kubelet-message     the kubelet's message for it
    dr-bootstrap.io/kubelet-backoff-message   ImagePullBackOff's message

A test selects a failure explicitly with the pod(-template) annotation `dr-bootstrap.io/simulate`
(crashloop | image-pull | config-error | fail); otherwise the verdict is computed: an image whose registry
host ends in `.invalid` cannot be pulled, and a missing, non-optional Secret/ConfigMap (or key) blocks
the pod until it appears. `decide` is pure; `run` is the polling loop around it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

SIMULATE = "dr-bootstrap.io/simulate"
VERDICT = "dr-bootstrap.io/kubelet"
CONTAINER = "dr-bootstrap.io/kubelet-container"
MESSAGE = "dr-bootstrap.io/kubelet-message"
BACKOFF_MESSAGE = "dr-bootstrap.io/kubelet-backoff-message"

ADMITTED = "admitted"
SIMULATIONS = ("crashloop", "image-pull", "config-error", "fail")
#: verdicts that a kubelet keeps retrying, so they are re-evaluated until they clear
RETRYABLE = ("config-error", "volume-missing")

#: (kind, namespace, name) -> the object's keys, or None when it does not exist
KeyLookup = Callable[[str, str, str], "frozenset[str] | None"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    outcome: str
    container: str = ""
    message: str = ""
    backoff_message: str = ""

    def annotations(self) -> dict[str, str | None]:
        """The annotation patch that records this verdict (None deletes a key)."""
        return {
            VERDICT: self.outcome,
            CONTAINER: self.container or None,
            MESSAGE: self.message or None,
            BACKOFF_MESSAGE: self.backoff_message or None,
        }


def decide(pod: dict[str, Any], lookup: KeyLookup) -> Verdict:
    """What a kubelet would report for `pod`, checking in its order: volumes, then per container image
    pull and environment."""
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    namespace = meta.get("namespace", "default")
    containers = spec.get("containers", [])
    first = containers[0]["name"] if containers else ""

    simulate = (meta.get("annotations") or {}).get(SIMULATE)
    if simulate in ("crashloop", "fail"):
        return Verdict(simulate, first)
    if simulate == "image-pull" and containers:
        return _pull_failure(containers[0], not_found=True)
    if simulate == "config-error":
        return Verdict("config-error", first, 'secret "simulated-missing" not found')

    for volume in spec.get("volumes") or []:
        problem = _volume_problem(volume, namespace, lookup)
        if problem:
            return Verdict("volume-missing", first, f'MountVolume.SetUp failed for volume "{volume["name"]}" : {problem}')

    for container in containers:
        if _registry_host(container.get("image", "")).endswith(".invalid"):
            return _pull_failure(container, not_found=False)
        problem = env_problem(container, namespace, lookup)
        if problem:
            return Verdict("config-error", container["name"], problem)
    return Verdict(ADMITTED)


def env_problem(container: dict[str, Any], namespace: str, lookup: KeyLookup) -> str | None:
    """The kubelet's CreateContainerConfigError message for this container's environment, if any
    (envFrom first, then env, as the kubelet builds it)."""
    for source in container.get("envFrom") or []:
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(field)
            if ref and not ref.get("optional") and lookup(kind, namespace, ref["name"]) is None:
                return f'{kind.lower()} "{ref["name"]}" not found'
    for var in container.get("env") or []:
        value_from = var.get("valueFrom") or {}
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = value_from.get(field)
            if not ref or ref.get("optional"):
                continue
            keys = lookup(kind, namespace, ref["name"])
            if keys is None:
                return f'{kind.lower()} "{ref["name"]}" not found'
            if ref["key"] not in keys:
                return f'couldn\'t find key {ref["key"]} in {kind} {namespace}/{ref["name"]}'
    return None


def _volume_problem(volume: dict[str, Any], namespace: str, lookup: KeyLookup) -> str | None:
    sources = [volume]
    sources += (volume.get("projected") or {}).get("sources") or []
    for source in sources:
        for field, kind, name_field in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
            ref = source.get(field)
            if not ref or ref.get("optional"):
                continue
            name = ref.get(name_field) or ref.get("name", "")
            keys = lookup(kind, namespace, name)
            if keys is None:
                return f'{kind.lower()} "{name}" not found'
            for item in ref.get("items") or []:
                if item["key"] not in keys:
                    return f"{kind.lower()} references non-existent {'config' if kind == 'ConfigMap' else 'secret'} key: {item['key']}"
    return None


def _registry_host(image: str) -> str:
    first, sep, _ = image.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else "docker.io"


def image_refs(image: str) -> tuple[str, str]:
    """(the kubelet's reference: default tag applied, containerd's fully qualified reference)."""
    name = image.rsplit("@", 1)[0]
    tagged = "@" in image or ":" in name.rsplit("/", 1)[-1]
    kubelet_ref = image if tagged else f"{image}:latest"
    host = _registry_host(kubelet_ref)
    if host == "docker.io" and not kubelet_ref.startswith("docker.io/"):
        path = kubelet_ref if "/" in kubelet_ref else f"library/{kubelet_ref}"
        return kubelet_ref, f"docker.io/{path}"
    return kubelet_ref, kubelet_ref


def _pull_failure(container: dict[str, Any], *, not_found: bool) -> Verdict:
    ref, full = image_refs(container.get("image", ""))
    host = _registry_host(full)
    if not_found:
        cause = f"rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
    else:
        repo, _, tag = full[len(host) + 1 :].rpartition(":")
        cause = (
            f'rpc error: code = Unknown desc = failed to pull and unpack image "{full}": failed to resolve reference "{full}": '
            f'failed to do request: Head "https://{host}/v2/{repo}/manifests/{tag}": dial tcp: lookup {host}: no such host'
        )
    message = f'Failed to pull image "{ref}": {cause}'
    return Verdict("image-pull", container["name"], message, f'Back-off pulling image "{ref}": ErrImagePull: {message}')


def kubelet_event(pod: dict[str, Any], verdict: Verdict, now: str) -> dict[str, Any] | None:
    """The Warning event a kubelet records for this verdict (None for admitted pods)."""
    meta = pod["metadata"]
    reason_message = {
        "config-error": ("Failed", f"Error: {verdict.message}"),
        "image-pull": ("Failed", verdict.message),
        "volume-missing": ("FailedMount", verdict.message),
        "crashloop": ("BackOff", f"Back-off restarting failed container {verdict.container} in pod "
                                 f"{meta['name']}_{meta['namespace']}({meta.get('uid', '')})"),
        "fail": ("Failed", f"Error: container {verdict.container} exited with code 1"),
    }.get(verdict.outcome)
    if reason_message is None:
        return None
    reason, message = reason_message
    field_path = f"spec.containers{{{verdict.container}}}" if verdict.outcome != "volume-missing" else None
    return {
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": "v1", "kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
            "uid": meta.get("uid"), **({"fieldPath": field_path} if field_path else {}),
        },
        "type": "Warning", "reason": reason, "message": message,
        "source": {"component": "kubelet", "host": pod.get("spec", {}).get("nodeName", "")},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }


def pending_decision(pod: dict[str, Any]) -> bool:
    """Whether the simulated kubelet still has to (re)decide this pod."""
    meta = pod.get("metadata", {})
    if meta.get("deletionTimestamp"):
        return False
    verdict = (meta.get("annotations") or {}).get(VERDICT)
    return verdict is None or verdict in RETRYABLE


def run(kubeconfig: str, *, interval: float = 0.2, max_iterations: int | None = None) -> None:
    """Poll pods and record verdicts until killed (or `max_iterations` passes)."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    iteration = 0
    while max_iterations is None or iteration < max_iterations:
        iteration += 1
        try:
            _sweep(api)
        except Exception as exc:  # the API server may be starting or stopping: retry on the next tick
            log.warning("kubelet-sim: sweep failed: %s", type(exc).__name__)
        time.sleep(interval)


def _sweep(api: Any) -> None:
    pods = json.loads(api.list_pod_for_all_namespaces(_preload_content=False).data)["items"]
    todo = [p for p in pods if pending_decision(p)]
    if not todo:
        return
    lookup = _cached_lookup(api)
    for pod in todo:
        verdict = decide(pod, lookup)
        current = {k: v for k, v in (pod["metadata"].get("annotations") or {}).items() if k in verdict.annotations()}
        if current == {k: v for k, v in verdict.annotations().items() if v is not None}:
            continue
        meta = pod["metadata"]
        body = {"metadata": {"annotations": verdict.annotations()}}
        try:
            api.patch_namespaced_pod(meta["name"], meta["namespace"], body)
            log.info("kubelet-sim: %s/%s -> %s", meta["namespace"], meta["name"], verdict.outcome)
            event = kubelet_event(pod, verdict, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            if event:
                api.create_namespaced_event(meta["namespace"], event)
        except Exception as exc:  # deleted meanwhile, or a conflict: the next sweep sees the truth
            log.info("kubelet-sim: patch %s/%s failed: %s", meta["namespace"], meta["name"], type(exc).__name__)


def _cached_lookup(api: Any) -> KeyLookup:
    """A lookup that reads each Secret/ConfigMap at most once per sweep and keeps only its key names."""
    cache: dict[tuple[str, str, str], frozenset[str] | None] = {}

    def read(kind: str, namespace: str, name: str) -> frozenset[str] | None:
        key = (kind, namespace, name)
        if key not in cache:
            reader = api.read_namespaced_secret if kind == "Secret" else api.read_namespaced_config_map
            try:
                obj = json.loads(reader(name, namespace, _preload_content=False).data)
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    raise
                cache[key] = None
            else:
                cache[key] = frozenset(_keys(obj.get("data"), obj.get("binaryData")))
        return cache[key]

    return read


def _keys(*maps: Iterable[str] | None) -> Iterable[str]:
    for m in maps:
        yield from m or ()
