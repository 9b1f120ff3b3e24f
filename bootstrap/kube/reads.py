"""Reading objects: GET one, LIST a kind (coroutines on the client's loop; sync wrappers in `Cluster`)."""

from __future__ import annotations

from typing import Any

from bootstrap.kube.client import Client
from bootstrap.kube.discovery import Discovery
from bootstrap.kube.errors import KubeApiError, TransportError
from bootstrap.model import ObjectRef


async def get(client: Client, discovery: Discovery, ref: ObjectRef) -> dict[str, Any] | None:
    """The live object, or None if it does not exist (or its kind is not served)."""
    res = await discovery.lookup(ref.api_version, ref.kind)
    if res is None:
        return None
    try:
        return (await client.call("GET", res.path(ref.namespace or "default", ref.name))).data
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise client.fail(ref, exc, doing="reading:") from None
    except TransportError as exc:
        raise client.fail(ref, exc, doing="reading:") from None


async def list_objects(client: Client, discovery: Discovery, api_version: str, kind: str,
                       namespace: str | None = None, *, field_selector: str | None = None,
                       label_selector: str | None = None, accept: str = "application/json",
                       deadline: float | None = None) -> list[dict[str, Any]]:
    """Objects of one kind (in one namespace, or all), with apiVersion/kind filled in on each item."""
    res = await discovery.lookup(api_version, kind)
    if res is None:
        return []
    query = {k: v for k, v in (("fieldSelector", field_selector), ("labelSelector", label_selector)) if v}
    try:
        data = (await client.call("GET", res.path(namespace), query=query, accept=accept, deadline=deadline)).data
    except (KubeApiError, TransportError) as exc:
        if isinstance(exc, KubeApiError) and exc.status == 404:
            return []
        raise client.fail(f"{kind} in {namespace or 'all namespaces'}", exc, doing="listing:") from None
    items = data.get("items") or []
    for item in items:
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
    return items
