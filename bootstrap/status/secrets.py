"""Which Secrets (and keys) a workload's pods read: for the consumer check after a restore (pure)."""

from __future__ import annotations

from collections.abc import Iterator

from bootstrap.status.health import Obj


def pod_spec(workload: Obj) -> Obj | None:
    """The pod spec of a Pod or of a workload's template (CronJob included), or None."""
    kind, spec = workload.get("kind"), workload.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return (template or {}).get("spec") if isinstance(template, dict) else None


def consumed_secret_keys(workload: Obj) -> set[tuple[str, str | None]]:
    """(secret, key) pairs the workload's pods read; key None means the whole Secret (or unknown keys).

    Covers env valueFrom.secretKeyRef, envFrom.secretRef, secret volumes (with `items`, per key),
    projected secret sources, volume-plugin `secretRef`s, and imagePullSecrets, for containers,
    init containers and ephemeral containers.
    """
    spec = pod_spec(workload)
    if not spec:
        return set()
    return set(_secret_refs(spec))


def consumes_secret(workload: Obj, secret_name: str) -> bool:
    """Whether the workload's pods reference the Secret `secret_name` in any way."""
    return any(name == secret_name for name, _ in consumed_secret_keys(workload))


def _secret_refs(spec: Obj) -> Iterator[tuple[str, str | None]]:
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or ():
            for env in container.get("env") or ():
                ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
                if ref.get("name"):
                    yield ref["name"], ref.get("key")
            for source in container.get("envFrom") or ():
                if name := (source.get("secretRef") or {}).get("name"):
                    yield name, None
    for volume in spec.get("volumes") or ():
        if name := (volume.get("secret") or {}).get("secretName"):
            yield from _with_items(name, volume["secret"])
        for source in (volume.get("projected") or {}).get("sources") or ():
            if name := (source.get("secret") or {}).get("name"):
                yield from _with_items(name, source["secret"])
        for plugin in volume.values():  # csi, cephfs, rbd, iscsi, flexVolume, ...
            if isinstance(plugin, dict):
                for key in ("secretRef", "nodePublishSecretRef"):
                    if name := (plugin.get(key) or {}).get("name"):
                        yield name, None
    for ref in spec.get("imagePullSecrets") or ():
        if ref.get("name"):
            yield ref["name"], None


def _with_items(name: str, source: Obj) -> Iterator[tuple[str, str | None]]:
    items = source.get("items") or ()
    if not items:
        yield name, None
    for item in items:
        yield name, item.get("key")
