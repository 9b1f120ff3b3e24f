"""The apply manager: server-side apply of a wave, as fluxcd/pkg `ssa.ResourceManager` does it.

`ResourceManager(client, discovery, scrub=…)` keeps no state between calls. The caller reads the prior
versions (`read_versions`, one metadata-only LIST per kind and namespace) and passes them in;
`apply_all` returns a `ChangeSet`: each object's action (created / configured / unchanged, exact because
a no-op apply keeps the resourceVersion), and the namespaces it created, which the next wave need not
look into.

One apply path for every connection: each object is one coroutine on the client's loop — the request,
retries of transient failures (`Client.call`), re-creation on an immutable field with `recreate` — with
up to `concurrency` in flight from one thread. The first failure stops new starts; in-flight objects
finish, and the failure of the first failing object (in input order) is raised as one line naming its
source file. Failures are `ApplyError` (exit 5) with the API's reason and message, values redacted for
objects holding secrets and the whole line passed through `scrub`.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bootstrap.errors import ApplyError
from bootstrap.kube.client import Client, Response
from bootstrap.kube.discovery import Discovery
from bootstrap.kube.errors import KubeApiError, Scrub, TransportError, immutable_field, no_scrub
from bootstrap.kube.objects import (
    APPLY_PATCH,
    FIELD_MANAGER,
    MERGE_PATCH,
    METADATA,
    METADATA_LIST,
    ApplyOutcome,
    apply_action,
    apply_query,
    prepare_body,
    ref_of,
)
from bootstrap.kube.reads import get, list_objects
from bootstrap.kube.wait import until
from bootstrap.model import Manifest, ObjectRef

Versions = Mapping[ObjectRef, str]  # resourceVersion by object


@dataclass(frozen=True)
class ChangeSet:
    """What one `apply_all` did: an outcome per object applied (input order) and their new versions."""

    outcomes: tuple[ApplyOutcome, ...]
    versions: Mapping[ObjectRef, str] = field(default_factory=dict)

    @property
    def created_namespaces(self) -> frozenset[str]:
        return frozenset(o.ref.name for o in self.outcomes
                         if o.action == "created" and o.ref.kind == "Namespace" and o.ref.api_version == "v1")


class ResourceManager:
    """Server-side apply, delete and patch through `client`, kinds resolved by `discovery`."""

    def __init__(self, client: Client, discovery: Discovery, *, scrub: Scrub = no_scrub, concurrency: int = 32,
                 recreate_timeout: float = 60.0):
        self.client = client
        self.discovery = discovery
        self.scrub = scrub
        self.concurrency = max(1, concurrency)
        self.recreate_timeout = recreate_timeout

    # -- prior versions

    def read_versions(self, refs: Iterable[ObjectRef], *, skip_namespaces: Iterable[str] = ()) -> dict[ObjectRef, str]:
        """The resourceVersion of those of `refs` that exist, read before they are applied.

        One metadata-only LIST per (apiVersion, kind, namespace), by field selector for a single object.
        Best effort: a kind not served yet, or a LIST refused or failing, leaves those objects without a
        version (`apply_action` then guesses by time). Namespaces in `skip_namespaces` (created by this
        run: nothing of ours is in them yet) are not listed.
        """
        skip = set(skip_namespaces)
        groups: dict[tuple[str, str, str | None], set[str]] = {}
        for ref in refs:
            res = self.discovery.resource(ref.api_version, ref.kind)
            if res is None:
                continue
            namespace = (ref.namespace or "default") if res.namespaced else None
            if namespace not in skip:
                groups.setdefault((ref.api_version, ref.kind, namespace), set()).add(ref.name)

        async def versions(key: tuple[str, str, str | None]) -> list[tuple[ObjectRef, str]]:
            api_version, kind, namespace = key
            names = groups[key]
            selector = f"metadata.name={next(iter(names))}" if len(names) == 1 else None
            try:
                items = await list_objects(self.client, self.discovery, api_version, kind, namespace,
                                           field_selector=selector, accept=METADATA_LIST,
                                           deadline=min(5.0, self.client.retry_deadline))
            except ApplyError:
                return []
            found = []
            for item in items:
                meta = item.get("metadata") or {}
                if meta.get("name") in names and meta.get("resourceVersion"):
                    found.append((ObjectRef(api_version, kind, namespace, meta["name"]), meta["resourceVersion"]))
            return found

        out: dict[ObjectRef, str] = {}
        for found in self.client.gather([versions(key) for key in groups], width=self.concurrency):
            if isinstance(found, list):
                out.update(found)
        return out

    # -- apply

    def apply_all(self, manifests: Sequence[Manifest], *, prior: Versions, dry_run: bool = False,
                  recreate: bool = False, on_result: Callable[[Manifest, ApplyOutcome], None] | None = None
                  ) -> ChangeSet:
        """Apply one wave's objects, up to `concurrency` at once.

        `on_result(manifest, outcome)` is called as each object succeeds, on the client's loop thread while
        this one waits for the wave (so never concurrently with the caller); it must not block.
        """
        if not manifests:
            return ChangeSet(())

        def report(event: tuple[int, ApplyOutcome]) -> None:
            if on_result is not None:
                on_result(manifests[event[0]], event[1])

        return self.client.run(self._apply_all(manifests, prior, dry_run, recreate, report))

    def apply(self, body: Mapping[str, Any], *, prior_rv: str | None = None, dry_run: bool = False,
              recreate: bool = False, sensitive: bool | None = None) -> ApplyOutcome:
        """Server-side apply of one object (see `apply_all`)."""
        return self.client.run(self.apply_one(body, prior_rv, dry_run, recreate, sensitive))[0]

    async def _apply_all(self, manifests: Sequence[Manifest], prior: Versions, dry_run: bool, recreate: bool,
                         report: Callable[[tuple[int, ApplyOutcome]], None]) -> ChangeSet:
        outcomes: list[ApplyOutcome | None] = [None] * len(manifests)
        versions: dict[ObjectRef, str] = {}
        failures: dict[int, BaseException] = {}
        gate = asyncio.Semaphore(self.concurrency)
        # One retry window for the whole wave: an object that starts late (waiting for a free slot) does not get
        # a window of its own, so a wave that cannot succeed gives up within the retry deadline of its start.
        until = self.client.now() + self.client.retry_deadline

        async def one(i: int, m: Manifest) -> None:
            try:
                outcome, rv = await self.apply_one(m.body, prior.get(m.ref), dry_run, recreate, m.encrypted or None,
                                                   until=until)
            except ApplyError as exc:
                failures[i] = ApplyError(f"{exc.message} [{m.source}]", hint=exc.hint)
            except Exception as exc:  # an internal error: handed to the caller as it is
                failures[i] = exc
            else:
                outcomes[i] = outcome
                if rv:
                    versions[outcome.ref] = rv
                try:
                    report((i, outcome))
                except Exception as exc:  # the caller's callback failed: that ends the wave like a failure
                    failures[i] = exc
            finally:
                gate.release()

        tasks = []
        for i, m in enumerate(manifests):
            await gate.acquire()
            if failures:  # the first failure stops new starts; in-flight objects finish
                gate.release()
                break
            tasks.append(asyncio.ensure_future(one(i, m)))
        await asyncio.gather(*tasks)
        if failures:
            raise failures[min(failures)]
        return ChangeSet(tuple(o for o in outcomes if o is not None), versions)

    async def apply_one(self, body: Mapping[str, Any], prior_rv: str | None, dry_run: bool, recreate: bool,
                        sensitive: bool | None, *, until: float | None = None) -> tuple[ApplyOutcome, str | None]:
        """Server-side apply of one object, retried until `until` (monotonic; default: the retry deadline)."""
        started = self.client.now()
        ref, path, data = await self._request(body)
        query = urlencode(apply_query(True, dry_run))  # encoded once per object, not per attempt
        sensitive = ref.kind == "Secret" if sensitive is None else sensitive

        async def send() -> Response:
            left = None if until is None else max(0.0, until - self.client.now())
            return await self.client.call("PATCH", path, query=query, body=data, content_type=APPLY_PATCH,
                                          accept=METADATA, deadline=left)

        message = ""
        try:
            resp = await send()
        except KubeApiError as exc:
            field_name = immutable_field(exc)
            if field_name is None:
                raise self._fail(ref, exc, sensitive=sensitive) from None
            what = f"field {field_name}" if field_name else "a field"
            if not recreate:
                raise ApplyError(f"{ref}: {what} is immutable and differs from the live object",
                                 hint="re-run with --recreate to delete and re-create it (its data is lost)") from None
            if dry_run:
                return ApplyOutcome(ref, "dry-run", self.client.now() - started,
                                    f"would be recreated: {what} is immutable"), None
            await self._delete(ref, propagation="Foreground", wait=True, timeout=self.recreate_timeout)
            try:
                resp = await send()
            except (KubeApiError, TransportError) as again:
                raise self._fail(ref, again, sensitive=sensitive, doing="re-creating:") from None
            message, prior_rv = f"recreated: {what} is immutable", None
        except TransportError as exc:
            raise self._fail(ref, exc) from None
        seconds = self.client.now() - started
        if dry_run:
            return ApplyOutcome(ref, "dry-run", seconds, message), None
        action = apply_action(resp.status, resp.data, prior_rv=prior_rv,
                              server_now=None if resp.status == 201 else resp.date)
        return ApplyOutcome(ref, action, seconds, message), (resp.data.get("metadata") or {}).get("resourceVersion")

    async def _request(self, body: Mapping[str, Any]) -> tuple[ObjectRef, str, bytes]:
        """(ref, path, JSON body) of the apply of `body`; a namespace defaulted or dropped as discovery says."""
        payload = prepare_body(body)
        ref = ref_of(payload)
        res = await self.discovery.lookup(ref.api_version, ref.kind)
        if res is not None and res.namespaced and not ref.namespace:
            ref = ObjectRef(ref.api_version, ref.kind, "default", ref.name)
        elif res is not None and not res.namespaced and ref.namespace:
            ref = ObjectRef(ref.api_version, ref.kind, None, ref.name)
            payload["metadata"].pop("namespace", None)
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return ref, await self.discovery.path_of(ref), data

    def _fail(self, ref: ObjectRef, exc: KubeApiError | TransportError, **kwargs: Any) -> Exception:
        return self.client.fail(ref, exc, scrub=self.scrub, **kwargs)

    # -- other writes

    def delete(self, ref: ObjectRef, *, propagation: str = "Foreground", wait: bool = True,
               timeout: float = 60.0) -> None:
        """Delete an object; with `wait`, poll until it is gone (finalizers included), bounded by `timeout`."""
        self.client.run(self._delete(ref, propagation=propagation, wait=wait, timeout=timeout))

    async def _delete(self, ref: ObjectRef, *, propagation: str, wait: bool, timeout: float) -> None:
        body = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}).encode()
        try:
            await self.client.call("DELETE", await self.discovery.path_of(ref), body=body)
        except KubeApiError as exc:
            if exc.status != 404:
                raise self._fail(ref, exc, doing="deleting:") from None
        except TransportError as exc:
            raise self._fail(ref, exc, doing="deleting:") from None

        async def gone() -> bool:
            return await get(self.client, self.discovery, ref) is None

        if wait and not await until(gone, timeout, now=self.client.now, sleep=self.client.sleep):
            raise ApplyError(f"{ref}: still present {timeout:.0f}s after deletion (finalizers?)")

    def merge_patch(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (an Update by field manager dr-bootstrap), e.g. a restart annotation."""
        return self.client.run(self.send_merge_patch(ref, patch))

    async def send_merge_patch(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]:
        """`merge_patch` as a coroutine on the client's loop (for a caller already on it)."""
        try:
            path = await self.discovery.path_of(ref)
            return (await self.client.call("PATCH", path, query={"fieldManager": FIELD_MANAGER},
                                           body=json.dumps(patch).encode(), content_type=MERGE_PATCH)).data
        except (KubeApiError, TransportError) as exc:
            raise self._fail(ref, exc, doing="patching:") from None


def apply_wave(manager: ResourceManager, manifests: Sequence[Manifest], *, created: Iterable[str] = (),
               dry_run: bool = False, recreate: bool = False,
               on_result: Callable[[Manifest, ApplyOutcome], None] | None = None) -> ChangeSet:
    """One wave: the prior versions read (not in the namespaces this run `created`), then `apply_all`."""
    prior = {} if dry_run else manager.read_versions([m.ref for m in manifests], skip_namespaces=created)
    return manager.apply_all(manifests, prior=prior, dry_run=dry_run, recreate=recreate, on_result=on_result)
