"""Where Argo CD's repo-server (or a plugin sidecar) reads the age key, read from the repository's own Argo
CD install in the rendered set (pure): the `SOPS_AGE_KEY_FILE` (or `XDG_CONFIG_HOME`, whose
`sops/age/keys.txt` sops reads) of a container, the volume mounted there and the Secret and data key behind
it; and helm-secrets' `age-import-kubernetes://NAMESPACE/SECRET#KEY` anywhere in the set."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bootstrap.engines.base import KeyTarget
from bootstrap.model import Manifest

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
_IMPORT_K8S = re.compile(r"age-import-kubernetes://([a-z0-9-]+)/([a-z0-9.-]+)#([-._A-Za-z0-9]+)")


def _key_file(env: Iterable[Any]) -> tuple[str, str] | None:
    values = {e.get("name"): e.get("value") for e in env if isinstance(e, Mapping) and isinstance(e.get("value"), str)}
    if values.get("SOPS_AGE_KEY_FILE"):
        return values["SOPS_AGE_KEY_FILE"], "SOPS_AGE_KEY_FILE"
    if values.get("XDG_CONFIG_HOME"):
        return posixpath.join(values["XDG_CONFIG_HOME"], "sops", "age", "keys.txt"), "XDG_CONFIG_HOME"
    return None


def _from_workload(m: Manifest) -> Iterable[KeyTarget]:
    pod = (((m.body.get("spec") or {}).get("template") or {}).get("spec") or {})
    volumes = {v.get("name"): v for v in pod.get("volumes") or [] if isinstance(v, Mapping)}
    namespace = m.ref.namespace or "argocd"
    for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
        if not isinstance(container, Mapping):
            continue
        found = _key_file(container.get("env") or [])
        if found is None:
            continue
        path, variable = found
        for mount in container.get("volumeMounts") or []:
            mount_path = str(mount.get("mountPath") or "").rstrip("/")
            if not mount_path or not (path == mount_path or path.startswith(mount_path + "/")):
                continue
            secret = (volumes.get(mount.get("name")) or {}).get("secret") or {}
            name = secret.get("secretName")
            if not name:
                continue
            inside = mount.get("subPath") or path[len(mount_path) + 1:]
            key = inside
            for item in secret.get("items") or []:
                if item.get("path") == inside:
                    key = item.get("key")
            if mount.get("subPath") and path != mount_path:
                continue
            yield KeyTarget(namespace, str(name), f"{m.ref.kind} {namespace}/{m.ref.name} container "
                            f"{container.get('name')}: {variable}={path}, volume {mount.get('name')} from Secret "
                            f"{name} key {key}", key=str(key))


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def key_targets(manifests: Iterable[Manifest]) -> list[KeyTarget]:
    found: dict[tuple[str, str], KeyTarget] = {}
    for m in manifests:
        targets: list[KeyTarget] = []
        if m.ref.kind in WORKLOADS:
            targets += list(_from_workload(m))
        for text in _strings(m.body):
            for ns, name, key in _IMPORT_K8S.findall(text):
                targets.append(KeyTarget(ns, name, f"helm-secrets age-import-kubernetes in {m.ref} ({m.source})", key=key))
        for t in targets:
            found.setdefault((t.namespace, t.name), t)
    return list(found.values())
