"""`Cluster`: the edge's parts for one API server, built together — for the pipeline, scripts and tests.

It only composes: a `Client` (`connect`), its `Discovery`, and a `ResourceManager` with the scrubber
given. It keeps no run state; what a run learns (prior versions, namespaces it created) is passed to the
parts explicitly. `with_scrub` makes the same connection's edge with a scrubber, once the values to
scrub exist (after decryption).
"""

from __future__ import annotations

from typing import Any

from bootstrap.clock import WaitClock
from bootstrap.kube.apply import ResourceManager
from bootstrap.kube.client import Client, Response, TransportFactory, connect
from bootstrap.kube.discovery import Discovery
from bootstrap.kube.errors import KubeApiError, Scrub, TransportError, no_scrub
from bootstrap.kube.objects import ApiResource, ApplyOutcome
from bootstrap.kube.reads import get, list_objects
from bootstrap.model import ObjectRef


class Cluster:
    """One API server: `client`, `discovery`, `resources` (the apply manager)."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, *, clock: WaitClock | None = None,
                 max_connections: int = 16, request_timeout: float = 30.0, retry_deadline: float = 30.0,
                 scrub: Scrub = no_scrub, concurrency: int = 32, transport: TransportFactory | None = None,
                 client: Client | None = None, discovery: Discovery | None = None):
        self.client = client or connect(kubeconfig, context, clock=clock or WaitClock(), retry_deadline=retry_deadline,
                                        request_timeout=request_timeout, max_connections=max_connections,
                                        transport=transport)
        self.discovery = discovery or Discovery(self.client)
        self.resources = ResourceManager(self.client, self.discovery, scrub=scrub, concurrency=concurrency)

    def with_scrub(self, scrub: Scrub) -> Cluster:
        """The same connection and discovery, with an apply manager that scrubs its errors with `scrub`."""
        return Cluster(client=self.client, discovery=self.discovery, scrub=scrub,
                       concurrency=self.resources.concurrency)

    @property
    def host(self) -> str:
        return self.client.host

    @property
    def scrub(self) -> Scrub:
        return self.resources.scrub

    def server_version(self) -> str:
        """gitVersion of the API server; the first contact, so an unreachable server fails here clearly."""
        async def version() -> str:
            try:
                data = (await self.client.call("GET", "/version", deadline=min(3.0, self.client.retry_deadline))).data
            except (KubeApiError, TransportError) as exc:
                raise self.client.fail("", exc, doing="reading the server version:") from None
            return str(data.get("gitVersion", "unknown"))

        return self.client.run(version())

    def call(self, method: str, path: str, **kwargs: Any) -> Response:
        """One request (retried as `Client.call` retries), waited for in this thread."""
        return self.client.run(self.client.call(method, path, **kwargs))

    def resource(self, api_version: str, kind: str) -> ApiResource | None:
        return self.discovery.resource(api_version, kind)

    def is_namespaced(self, api_version: str, kind: str) -> bool | None:
        return self.discovery.is_namespaced(api_version, kind)

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.client.run(get(self.client, self.discovery, ref))

    def list(self, api_version: str, kind: str, namespace: str | None = None, *, field_selector: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        return self.client.run(list_objects(self.client, self.discovery, api_version, kind, namespace,
                                            field_selector=field_selector, label_selector=label_selector))

    def apply(self, body: dict[str, Any], **kwargs: Any) -> ApplyOutcome:
        return self.resources.apply(body, **kwargs)

    def delete(self, ref: ObjectRef, **kwargs: Any) -> None:
        self.resources.delete(ref, **kwargs)

    def merge_patch(self, ref: ObjectRef, patch: dict[str, Any]) -> dict[str, Any]:
        return self.resources.merge_patch(ref, patch)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
