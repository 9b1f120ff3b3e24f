"""API discovery: which kinds the server serves, under which resource name, namespaced or not.

Like client-go's cached discovery and REST mapper, `Discovery` keeps what it last read from the server
(fetched on first use, one aggregated-discovery request per root, the legacy per-group documents
otherwise) until `refresh()` is called, which the CRD gate does once new CRDs are established. That cache
is the server's state, not the run's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bootstrap.errors import ApplyError
from bootstrap.kube.client import Client
from bootstrap.kube.errors import KubeApiError, TransportError
from bootstrap.kube.objects import ApiResource, split_api_version
from bootstrap.model import ObjectRef

AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

Resources = dict[tuple[str, str], ApiResource]  # by (apiVersion, kind)


class Discovery:
    """The kinds `client`'s server serves; read once, again after `refresh()`.

    Coroutines on the client's loop use `lookup` / `path_of`; other threads `resource` / `path_for`.
    """

    def __init__(self, client: Client):
        self.client = client
        self._resources: Resources | None = None
        self._lock: asyncio.Lock | None = None  # made on the loop, where all reads happen

    async def lookup(self, api_version: str, kind: str) -> ApiResource | None:
        """The API resource serving `kind` in `api_version`, or None if the server has no such kind."""
        return (await self._load()).get((api_version, kind))

    async def path_of(self, ref: ObjectRef, *, with_name: bool = True) -> str:
        """URL path of an object (or, without name, of its collection). Unknown kinds → ApplyError."""
        res = await self.lookup(ref.api_version, ref.kind)
        if res is None:
            raise ApplyError(f"{ref}: the server has no kind {ref.kind} in {ref.api_version} "
                             "(is its CRD applied and established?)")
        return res.path(ref.namespace or "default", ref.name if with_name else None)

    def resource(self, api_version: str, kind: str) -> ApiResource | None:
        """`lookup`, from a thread other than the loop's."""
        found = self._resources
        if found is None:
            found = self.client.run(self._load())
        return found.get((api_version, kind))

    def is_namespaced(self, api_version: str, kind: str) -> bool | None:
        res = self.resource(api_version, kind)
        return None if res is None else res.namespaced

    def path_for(self, ref: ObjectRef, *, with_name: bool = True) -> str:
        """`path_of`, from a thread other than the loop's."""
        return self.client.run(self.path_of(ref, with_name=with_name))

    def refresh(self) -> None:
        """Read discovery again at the next look-up (after CRDs were established)."""
        self._resources = None

    async def _load(self) -> Resources:
        found = self._resources
        if found is not None:
            return found
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._resources is None:
                try:
                    self._resources = await fetch(self.client)
                except (KubeApiError, TransportError) as exc:
                    raise self.client.fail("", exc, doing="API discovery:") from None
            return self._resources


async def fetch(client: Client) -> Resources:
    """Every served kind: aggregated discovery (one request per root) or, from older servers, per group."""
    out: Resources = {}
    legacy: list[str] = []
    for root in ("/api", "/apis"):
        data = (await client.call("GET", root, accept=AGGREGATED_DISCOVERY)).data
        if data.get("kind") == "APIGroupDiscoveryList":
            for group in data.get("items") or ():
                name = (group.get("metadata") or {}).get("name") or ""
                for ver in group.get("versions") or ():
                    for res in ver.get("resources") or ():
                        kind = (res.get("responseKind") or {}).get("kind")
                        if kind:
                            _add(out, ApiResource(name, ver["version"], kind, res["resource"],
                                                  res.get("scope") == "Namespaced"))
        elif root == "/api":
            legacy += [f"/api/{v}" for v in data.get("versions") or ()]
        else:
            legacy += [f"/apis/{v['groupVersion']}" for g in data.get("groups") or () for v in g.get("versions") or ()]
    documents: list[Any] = await asyncio.gather(*(client.call("GET", path) for path in legacy))
    for path, response in zip(legacy, documents):
        data = response.data
        group, version = split_api_version(data.get("groupVersion", path.rsplit("/", 1)[-1]))
        for res in data.get("resources") or ():
            if "/" not in res.get("name", "/"):
                _add(out, ApiResource(group, version, res["kind"], res["name"], bool(res.get("namespaced"))))
    return out


def _add(out: Resources, res: ApiResource) -> None:
    api_version = f"{res.group}/{res.version}" if res.group else res.version
    out.setdefault((api_version, res.kind), res)
