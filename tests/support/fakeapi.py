"""An in-memory Kubernetes API server at the HTTP transport layer, for unit tests that drive a whole restore.

`FakeApiServer` is a `Transport` (`bootstrap.kube.transport`) the real client, discovery and apply manager
talk to; it answers as the API server does (status codes, `Status` bodies) what a restore sends: /version;
legacy discovery (/api, /api/v1, /apis, each group version, an Established CRD's included); GET and LIST
(`fieldSelector` on metadata.name/namespace), metadata-only when asked; server-side apply, also with
`dryRun=All` (answered, never persisted). Controllers are instant: a Namespace is Active, a CRD Established,
a Deployment rolled out as soon as written. `log` holds every request in order, with the test's own events
(`mark(text)`, a str) among them. Simplified: one version per resource; an apply replaces the object (no
field ownership, so no conflicts); no Date header; any other write (a restore sends one only with --recreate
or --restart-consumers) raises NotImplementedError. Cluster behaviour proper: tests/integration.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote

from bootstrap.clock import WaitClock
from bootstrap.kube.client import Client
from bootstrap.kube.cluster import Cluster
from bootstrap.kube.credentials import StaticCredentials
from bootstrap.kube.transport import EventLoop, Reply
from tests.support.fakes import FakeTime

Obj = dict[str, Any]
SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")
CREATED_AT = "2024-01-01T00:00:00Z"  # a fixed creationTimestamp: nothing here reads the wall clock
APPLY_PATCH = "application/apply-patch+yaml"


class Kind(NamedTuple):
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


BUILTIN = tuple(Kind(*k) for k in [
    ("", "v1", "Namespace", "namespaces", False), ("", "v1", "ConfigMap", "configmaps", True),
    ("", "v1", "Secret", "secrets", True), ("", "v1", "Pod", "pods", True),
    ("apps", "v1", "Deployment", "deployments", True), ("apps", "v1", "ReplicaSet", "replicasets", True),
    ("apps", "v1", "StatefulSet", "statefulsets", True), ("apps", "v1", "DaemonSet", "daemonsets", True),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False)])
NAMESPACE, CRD = BUILTIN[0], BUILTIN[-1]


class Request(NamedTuple):
    """One request as the server saw it: its answer's status code, and whether the store changed."""

    method: str
    path: str
    query: Mapping[str, str]
    write: bool  # any method but GET
    dry_run: bool  # dryRun=All
    status: int
    persisted: bool


class ApiError(Exception):
    """A non-2xx answer and its `Status` body."""

    def __init__(self, code: int, reason: str, message: str, **details: Any):
        super().__init__(message)
        self.code = code
        self.body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                     "reason": reason, "code": code, **({"details": details} if details else {})}


class FakeApiServer:
    server = "https://fake-apiserver.invalid:6443"

    def __init__(self, *, git_version: str = "v1.31.0"):
        self.git_version = git_version
        self.store: dict[tuple[str, str, str, str], Obj] = {}  # (group, plural, namespace, name) -> object
        self.log: list[Request | str] = []
        self._rv = itertools.count(100)
        self._latest = "99"  # the last resourceVersion written, as a LIST reports it
        self._changes = 0
        self._lock = threading.Lock()

    def mark(self, text: str) -> None:
        """Note an event of the test's in the log, in order with the requests."""
        with self._lock:
            self.log.append(text)

    @property
    def requests(self) -> list[Request]:
        return [e for e in self.log if isinstance(e, Request)]

    def seed(self, obj: Obj, manager: str = "kubectl") -> None:
        """Store an object as if someone had created it before the test (not logged)."""
        kind = next(k for k in self.kinds() if (k.api_version, k.kind) == (obj["apiVersion"], obj["kind"]))
        meta = obj["metadata"]
        self._put(kind, meta.get("namespace") if kind.namespaced else None, meta["name"], obj, None, manager, "Update")

    def kinds(self) -> list[Kind]:
        """Built-in kinds and those of every Established CRD, as discovery serves them."""
        out = list(BUILTIN)
        for (group, plural, _, _), crd in self.store.items():
            if (group, plural) == (CRD.group, CRD.plural) and any(
                    c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"]):
                spec = crd["spec"]
                out += [Kind(spec["group"], v["name"], spec["names"]["kind"], spec["names"]["plural"],
                             spec["scope"] == "Namespaced") for v in spec["versions"] if v.get("served")]
        return out

    def cluster(self, kubeconfig: str | None = None, context: str | None = None, *, clock: WaitClock | None = None,
                retry_deadline: float = 30.0, concurrency: int = 32, **_: Any) -> Cluster:
        """A real `Cluster` on this server, made as `kube.Cluster(kubeconfig, context, clock=…, …)`; fake time."""
        time = FakeTime()
        client = Client(self, EventLoop(), StaticCredentials(), clock=clock or WaitClock(now=time), now=time,
                        sleep=time.sleep, retry_deadline=retry_deadline, context=context or "fake")
        return Cluster(client=client, concurrency=concurrency)

    async def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                       timeout: float) -> Reply:
        path, _, qs = target.partition("?")
        query = dict(parse_qsl(qs))
        with self._lock:
            before, code, answer = self._changes, 0, {}
            try:
                code, answer = self._handle(method, path, query, headers, json.loads(body) if body else {})
            except ApiError as exc:
                code, answer = exc.code, exc.body
            finally:  # logged also when the fake itself fails (status 0)
                self.log.append(Request(method, path, query, method != "GET", query.get("dryRun") == "All", code,
                                        self._changes != before))
        return Reply(code, HTTPStatus(code).phrase, json.dumps(answer).encode())

    async def aclose(self) -> None:
        pass

    def _handle(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                body: Obj) -> tuple[int, Obj]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        group, version, rest = ("", parts[1], parts[2:]) if parts[0] == "api" and len(parts) > 1 else (
            (parts[1], parts[2], parts[3:]) if parts[0] == "apis" and len(parts) > 2 else ("", "", []))
        served = [k for k in self.kinds() if (k.group, k.version) == (group, version)]
        if method != "GET" and not rest:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if path == "/version":
            return 200, {"major": "1", "minor": self.git_version.split(".")[1], "gitVersion": self.git_version,
                         "platform": "linux/amd64"}
        if path in ("/api", "/apis"):  # no aggregated discovery here: the client falls back to these
            return 200, self._discovery_root(path == "/api")
        if served and not rest:
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": served[0].api_version,
                         "resources": [{"name": k.plural, "singularName": k.kind.lower(), "namespaced": k.namespaced,
                                        "kind": k.kind, "verbs": ["get", "list", "patch"]} for k in served]}
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        kind = next((k for k in served if rest and k.plural == rest[0]), None)
        name = rest[1] if len(rest) == 2 else None
        if kind is None or len(rest) > 2 or (namespace is not None and not kind.namespaced) or (
                name is not None and kind.namespaced and namespace is None):  # subresources are not served either
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if query.get("dryRun", "All") != "All":
            raise ApiError(400, "BadRequest", f"Invalid dry run value: {query['dryRun']}")
        partial = "as=PartialObjectMetadata;" in headers.get("Accept", "")
        if method == "GET" and name:
            return 200, shaped(self._live(kind, namespace, name), partial)
        if method == "GET":
            return 200, self._list(kind, namespace, query, "as=PartialObjectMetadataList;" in headers.get("Accept", ""))
        if method == "PATCH" and name and headers.get("Content-Type") == APPLY_PATCH:
            return self._apply(kind, namespace, name, query, body, partial)
        raise NotImplementedError(f"fake API server: {method} {path} {headers.get('Content-Type', '')} (a restore "
                                  "sends other writes than an apply only with --recreate or --restart-consumers)")

    def _discovery_root(self, core: bool) -> Obj:
        if core:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        groups: dict[str, list[str]] = {}
        for k in self.kinds():
            if k.group and k.version not in groups.setdefault(k.group, []):
                groups[k.group].append(k.version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in versions],
             "preferredVersion": {"groupVersion": f"{g}/{versions[0]}", "version": versions[0]}}
            for g, versions in groups.items()]}

    def _live(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        obj = self.store.get((kind.group, kind.plural, namespace or "", name))
        if obj is None:
            resource = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found', name=name, group=kind.group,
                           kind=kind.plural)
        return obj

    def _list(self, kind: Kind, namespace: str | None, query: Mapping[str, str], partial: bool) -> Obj:
        wanted = {}
        for term in filter(None, query.get("fieldSelector", "").split(",")):
            key, _, value = term.partition("=")
            if key not in ("metadata.name", "metadata.namespace"):
                raise ApiError(400, "BadRequest", f'"{key}" is not a known field selector')
            wanted[key.split(".")[1]] = value.lstrip("=")
        items = [shaped(obj, partial) for (g, p, ns, _), obj in sorted(self.store.items())
                 if (g, p) == (kind.group, kind.plural) and namespace in (None, ns)
                 and all(obj["metadata"].get(k, "") == v for k, v in wanted.items())]
        list_kind, api_version = ("PartialObjectMetadataList", "meta.k8s.io/v1") if partial else (
            f"{kind.kind}List", kind.api_version)
        return {"kind": list_kind, "apiVersion": api_version, "metadata": {"resourceVersion": self._latest},
                "items": items}

    def _apply(self, kind: Kind, namespace: str | None, name: str, query: Mapping[str, str], body: Obj,
               partial: bool) -> tuple[int, Obj]:
        manager = query.get("fieldManager")
        if not manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                                           "required for apply patch")
        if (body.get("apiVersion"), body.get("kind")) != (kind.api_version, kind.kind):
            raise ApiError(400, "BadRequest", f"the API version in the data ({body.get('apiVersion')}) or kind "
                                              f"({body.get('kind')}) does not match the URL")
        if (body.get("metadata") or {}).get("name") != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        live = self.store.get((kind.group, kind.plural, namespace or "", name))
        if live is None and namespace and ("", "namespaces", "", namespace) not in self.store:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
        obj = self._put(kind, namespace, name, body, live, manager, "Apply", dry="dryRun" in query)
        return (201 if live is None else 200), shaped(obj, partial)

    def _put(self, kind: Kind, namespace: str | None, name: str, body: Obj, live: Obj | None, manager: str,
             operation: str, *, dry: bool = False) -> Obj:
        """What the server keeps for `body` written over `live` (stored unless `dry`): server-owned metadata and
        the settled status filled in. A write that changes nothing is a no-op and keeps the resourceVersion."""
        obj = {**copy.deepcopy(body), "apiVersion": kind.api_version, "kind": kind.kind}
        obj.pop("status", None)
        meta = obj.setdefault("metadata", {})
        meta.update(name=name, **({"namespace": namespace} if namespace else {}))
        for key in SERVER_FIELDS:
            meta.pop(key, None)
        if kind == NAMESPACE:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        if live is not None and content(live) == content(obj):
            return live
        old = (live or {}).get("metadata", {})
        entries = [e for e in old.get("managedFields", ()) if (e["manager"], e["operation"]) != (manager, operation)]
        meta.update(uid=old.get("uid") or f"00000000-0000-4000-8000-{next(self._rv):012d}",
                    generation=old.get("generation", 0) + (live is None or live.get("spec") != obj.get("spec")),
                    creationTimestamp=old.get("creationTimestamp", CREATED_AT),
                    resourceVersion="" if dry else str(next(self._rv)),
                    managedFields=entries + [{"manager": manager, "operation": operation, "fieldsType": "FieldsV1",
                                              "apiVersion": kind.api_version}])
        if (status := settled_status(kind, obj, (live or {}).get("status"))) is not None:
            obj["status"] = status
        if not dry:
            self.store[(kind.group, kind.plural, namespace or "", name)] = obj
            self._latest, self._changes = meta["resourceVersion"], self._changes + 1
        return obj


def settled_status(kind: Kind, obj: Obj, old: Obj | None) -> Obj | None:
    """The status the controllers settle on at once: Namespace Active, CRD Established, Deployment rolled out;
    any other object keeps the status it had."""
    spec = obj.get("spec") or {}
    if kind == NAMESPACE:
        return {"phase": "Active"}
    if kind == CRD:
        return {"conditions": [{"type": t, "status": "True", "reason": r, "message": m} for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"))],
                "acceptedNames": spec.get("names", {}),
                "storedVersions": [v["name"] for v in spec.get("versions", ()) if v.get("storage")]}
    if (kind.group, kind.kind) == ("apps", "Deployment"):
        n, name = spec.get("replicas", 1), obj["metadata"]["name"]
        return {"observedGeneration": obj["metadata"]["generation"], "replicas": n, "updatedReplicas": n,
                "readyReplicas": n, "availableReplicas": n, "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": f'ReplicaSet "{name}-5d4f8b6c9" has successfully progressed.'}]}
    return old


def content(obj: Obj) -> Obj:
    """The object without what the server writes itself (to tell a no-op write)."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in SERVER_FIELDS}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def shaped(obj: Obj, partial: bool) -> Obj:
    """The object, or (`partial`: the client asked for PartialObjectMetadata) only its metadata."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]} \
        if partial else obj
