"""The Kubernetes edge: one pooled API client per run, cached discovery, server-side apply, gates.

Every write is a server-side apply (PATCH `application/apply-patch+yaml`, field manager `dr-bootstrap`,
`force=true`, `fieldValidation=Ignore`); nothing here ever does a client-side apply or writes a
`last-applied-configuration` annotation.  Requests go over pooled keep-alive connections (`bootstrap.wire`;
urllib3 behind a proxy or for credential plugins) with bodies serialised once, so the per-object cost is one
JSON encode, one HTTP round trip and one JSON decode of the object's metadata.

`fieldValidation=Ignore` spares the API server a strict second decode of every body (about a tenth of its
time per apply). It loses nothing: whatever the setting, an apply body that does not fit its kind's schema
(built-in or custom) is refused ("field not declared in schema"), and duplicate keys cannot occur in a body
serialised from a dict.

Failures leave this module as `ApplyError` (exit 5) with one line naming the object and the API's
`reason`/`message` (scrubbed); request bodies never appear in an error.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote, urlencode, urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_before_delay, wait_random_exponential

from bootstrap import wire
from bootstrap.clock import WaitClock
from bootstrap.errors import ApplyError, UsageError
from bootstrap.model import Manifest, ObjectRef
from bootstrap.redact import Sensitive

FIELD_MANAGER = "dr-bootstrap"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is valid YAML, so the body is JSON
MERGE_PATCH = "application/merge-patch+json"
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

Scrub = Callable[[str], str]


# --------------------------------------------------------------------------------------------------
# Errors raised by the transport (internal; public functions turn them into ApplyError)


class KubeApiError(Exception):
    """The API server answered with a non-2xx Status. Carries only the Status' reason and message."""

    def __init__(self, status: int, reason: str, message: str, *, causes: Sequence[Mapping] = (),
                 retry_after: float | None = None):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = tuple(causes)
        self.retry_after = retry_after


class TransportError(Exception):
    """No HTTP answer: connection refused or reset, TLS failure, timeout."""


# --------------------------------------------------------------------------------------------------
# Pure helpers


_RETRYABLE_MESSAGES = re.compile(
    r"failed calling (admission )?webhook|conversion webhook for .* failed|no endpoints available for service"
    r"|etcdserver: (leader changed|request timed out|too many requests)|the object has been modified"
    r"|please try again|connection refused|connection reset",
    re.IGNORECASE,
)
# Server-side apply answers 500 when a body does not fit the schema (an unknown field, a wrong type):
# sending it again cannot help.
_FINAL_MESSAGES = re.compile(r"failed to create typed (patch|live) object|field not declared in schema", re.IGNORECASE)
_INVALID_VALUE = re.compile(r'Invalid value: ("(?:[^"\\]|\\.)*"|\S+)')


def is_retryable(err: BaseException) -> bool:
    """Whether a failed request may succeed if sent again: throttling, server-side or transient errors.

    4xx validation errors (400, 403, 404, 409 conflicts of ownership, 422) are final, except the
    webhook/etcd messages an API server wraps in them while it or its webhooks start up. So is the 500
    server-side apply answers for a body that does not fit the schema.
    """
    if isinstance(err, TransportError):
        return True
    if not isinstance(err, KubeApiError):
        return False
    if err.status == 429 or err.status >= 500:
        return not _FINAL_MESSAGES.search(err.message)
    return bool(_RETRYABLE_MESSAGES.search(err.message))


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def immutable_field(err: KubeApiError) -> str | None:
    """The field an `Invalid` error says is immutable ("" when immutable but unnamed), else None."""
    if err.status not in (409, 422):
        return None
    for cause in err.causes:
        if "immutable" in str(cause.get("message", "")):
            return str(cause.get("field") or "")
    if "immutable" in err.message:
        match = re.search(r"([\w.\[\]-]+): (?:Invalid value: .*?: )?field is immutable", err.message)
        return match.group(1) if match else ""
    return None


def redact_values(message: str) -> str:
    """Drop the values an API message quotes ("Invalid value: ...") — for objects holding secrets."""
    return _INVALID_VALUE.sub("Invalid value: <redacted>", message)


def one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def prepare_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The object as it should be sent in an apply: no last-applied annotation, no server-owned metadata.

    Copies only what it changes (the top level and `metadata`), never the caller's nested data.
    """
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink"):
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if annotations:
            meta["annotations"] = annotations
        else:
            meta.pop("annotations")
    out["metadata"] = meta
    out.pop("status", None)
    return out


def ref_of(body: Mapping[str, Any]) -> ObjectRef:
    meta = body.get("metadata") or {}
    return ObjectRef(str(body.get("apiVersion", "")), str(body.get("kind", "")), meta.get("namespace"),
                     str(meta.get("name", "")))


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _apply_query(force: bool, dry_run: bool) -> dict[str, str]:
    """The query of an apply request: server-side apply by our field manager, see the module's docstring."""
    query = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false", "fieldValidation": "Ignore"}
    if dry_run:
        query["dryRun"] = "All"
    return query


def apply_action(status: int, live: Mapping[str, Any], *, prior_rv: str | None, server_now: float | None,
                 manager: str = FIELD_MANAGER) -> str:
    """created / configured / unchanged for a successful apply response.

    A no-op apply makes the API server skip the write: the returned object keeps its resourceVersion
    and our managedFields entry keeps its old timestamp.  So: 201 → created; a resourceVersion equal
    to the one read before the apply (`Cluster.learn_versions`) → unchanged, different → configured.
    Without a prior version (it could not be listed): our Apply entry's time (second resolution) more
    than 2 s older than the response's Date header → unchanged; anything else → configured, the
    conservative answer for an object changed within the last 2 s.
    """
    if status == 201:
        return "created"
    meta = live.get("metadata") or {}
    if prior_rv is not None:
        return "unchanged" if meta.get("resourceVersion") == prior_rv else "configured"
    if server_now is None:
        return "configured"
    entries = [e for e in meta.get("managedFields") or () if not e.get("subresource")]
    ours = [e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"]
    # An object whose fields we own none of (a bare Namespace, say) has no entry of ours: then nothing of
    # it was changed by this apply unless some entry is fresh.
    stamps = [_parse_time(e.get("time")) for e in (ours or entries)]
    if stamps and all(t is not None and t < server_now - 2.0 for t in stamps):
        return "unchanged"
    return "configured"


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return cond
    return None


class _Urllib3Error(OSError):
    """A urllib3 failure, carried as the OSError that wire's failures are."""

    def __init__(self, exc: Exception):
        super().__init__(str(exc))
        self.reason = getattr(exc, "reason", None) or exc


def _transport_cause(exc: BaseException) -> str:
    # An SSLError's `reason` is only its code (CERTIFICATE_VERIFY_FAILED); its text says what failed.
    text = str(exc if isinstance(exc, ssl.SSLError) else getattr(exc, "reason", None) or exc)
    match = re.search(r"\[Errno -?\d+\] ([^')\]]+)", text)
    if match:
        return match.group(1).strip().lower()
    if "timed out" in text.lower():
        return "timed out"
    if "certificate" in text.lower() or "ssl" in text.lower():
        return "TLS error (" + one_line(text, 160) + ")"
    return one_line(type(exc).__name__ + (": " + text if text else ""), 160)


# --------------------------------------------------------------------------------------------------
# Cluster


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool


@dataclass(frozen=True)
class ApplyOutcome:
    ref: ObjectRef
    action: str  # created | configured | unchanged | dry-run
    seconds: float
    message: str = ""


@dataclass(frozen=True)
class Response:
    status: int
    data: dict[str, Any]
    date_header: str | None = None  # the server's Date header, as sent

    @property
    def date(self) -> float | None:
        """The server's Date header, seconds since the epoch."""
        return _response_date(self.date_header)


def _response_date(value: str | None) -> float | None:
    """Seconds since the epoch of an HTTP Date header's value."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _answer(resp: wire.Reply) -> Response:
    """The Response of a 2xx answer; a KubeApiError carrying the Status of any other."""
    try:
        data = json.loads(resp.body) if resp.body else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if resp.status >= 300:
        details = data.get("details") or {}
        raise KubeApiError(resp.status, str(data.get("reason") or resp.reason or ""),
                           str(data.get("message") or resp.reason or ""),
                           causes=details.get("causes") or (),
                           retry_after=retry_after_seconds(resp.headers.get("retry-after")))
    return Response(resp.status, data, resp.headers.get("date"))


class Cluster:
    """A connection to one API server for one run: kubeconfig loaded like kubectl, one pooled client.

    Discovery is fetched on first use and cached in the instance; call `invalidate_discovery()`
    after CRDs are established.  `scrub` is applied to every API message that reaches an error.
    """

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, *, max_connections: int = 16,
                 request_timeout: float = 30.0, retry_deadline: float = 30.0, scrub: Scrub | None = None):
        from bootstrap import kubeconfig as kubecfg  # our loader: no `kubernetes` import on this path

        self.kubeconfig = kubeconfig or kubecfg.default_path()
        self.context = context
        self.request_timeout = request_timeout
        self.retry_deadline = retry_deadline
        self.scrub: Scrub = scrub or (lambda text: text)
        self._auth_headers: Callable[[], dict[str, str]]
        self._wire: wire.Pool | None = None  # direct connections
        self._pool: Any = None  # urllib3, behind a proxy or for a credential plugin
        try:
            conn = kubecfg.load(self.kubeconfig, context)
        except kubecfg.NeedsClientLibrary as plugin:
            self._pool, self.host, self._auth_headers = self._load_config(plugin.context, max_connections)
        else:
            self.host = conn.server
            self._auth_headers = conn.auth_headers
            if conn.proxy_url or kubecfg.env_proxy(conn.server):
                self._pool = kubecfg.pool_manager(conn, maxsize=max_connections)
            else:
                tls = kubecfg.ssl_context(conn) if conn.server.startswith("https://") else None
                self._wire = wire.Pool(conn.server, ssl_context=tls, server_hostname=conn.tls_server_name,
                                       maxsize=max_connections)
        # urllib3's keep-alive pool for the server, resolved once: PoolManager.request re-parses the URL and
        # rebuilds its pool key on every call. A proxy needs the manager's absolute-URL path.
        self._server_pool = None
        if self._pool is not None:
            import urllib3  # loaded already by the pool; direct connections never import it

            if not isinstance(self._pool, urllib3.ProxyManager):
                self._server_pool = self._pool.connection_from_url(self.host)
        self._base_path = urlsplit(self.host).path
        self._discovery: dict[tuple[str, str], ApiResource] | None = None
        self._discovery_lock = threading.Lock()
        self._seen_rv: dict[ObjectRef, str] = {}
        self._created_namespaces: set[str] = set()  # by this run: nothing of ours in them to look up
        self.clock = WaitClock()  # time spent waiting on this server; a run passes in its own

    def _load_config(self, context: str, max_connections: int) -> tuple[Any, str, Callable[[], dict[str, str]]]:
        """(pool, host, auth headers) from the `kubernetes` package, for credential plugins (exec, auth-provider).

        It runs the plugin, and `auth_settings()` refreshes an expiring credential, so headers are built per
        request.  `context` is the one our loader selected (the package picks current-context differently).
        """
        from kubernetes import client, config  # slow to import: only this path needs it

        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=self.kubeconfig, context=context, client_configuration=cfg,
                                    persist_config=False)
        except Exception as exc:  # ConfigException, a failing plugin, bad certificates
            raise ApplyError(f"kubeconfig {self.kubeconfig}: {one_line(str(exc) or type(exc).__name__, 200)}") from None
        cfg.connection_pool_maxsize = max_connections
        self._cfg = cfg
        self._api = client.ApiClient(cfg)

        def auth_headers() -> dict[str, str]:
            return {auth["key"]: auth["value"] for auth in cfg.auth_settings().values()
                    if auth["in"] == "header" and auth["value"]}

        return self._api.rest_client.pool_manager, cfg.host.rstrip("/"), auth_headers

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
        if self._pool is not None:
            self._pool.clear()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: bytes | None = None,
                content_type: str = "application/json", accept: str = "application/json",
                timeout: float | None = None) -> Response:
        """One HTTP request, no retries. Raises KubeApiError (non-2xx) or TransportError (no answer)."""
        target = path + ("?" + urlencode(query) if query else "")
        headers = self._headers(accept, content_type if body is not None else None)
        timeout = timeout or self.request_timeout
        try:
            with self.clock:
                if self._wire is not None:
                    resp = self._wire.request(method, self._base_path + target, headers, body, timeout=timeout)
                else:
                    resp = self._via_urllib3(method, target, headers, body, timeout)
        except OSError as exc:
            raise TransportError(_transport_cause(exc)) from None
        return _answer(resp)

    def _headers(self, accept: str, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "dr-bootstrap"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        headers.update(self._auth_headers())
        return headers

    def _via_urllib3(self, method: str, target: str, headers: dict[str, str], body: bytes | None,
                     timeout: float) -> wire.Reply:
        """One request through urllib3 (proxies, credential plugins); its errors re-raised as OSError."""
        import urllib3

        try:
            limits = urllib3.Timeout(connect=5.0, read=timeout)
            if self._server_pool is not None:
                resp = self._server_pool.urlopen(method, self._base_path + target, body=body, headers=headers,
                                                 retries=False, redirect=False, timeout=limits)
            else:
                resp = self._pool.request(method, self.host + target, body=body, headers=headers, retries=False,
                                          timeout=limits)
        except urllib3.exceptions.HTTPError as exc:
            raise _Urllib3Error(exc) from None
        return wire.Reply(resp.status, resp.reason or "", {k.lower(): v for k, v in resp.headers.items()}, resp.data)

    def call(self, method: str, path: str, *, deadline: float | None = None, **kwargs: Any) -> Response:
        """`request` retried on transient failures with jittered exponential backoff, bounded by a deadline.

        A 429's Retry-After is honoured before the very next attempt. A request that succeeds at once, the
        common case, never builds the retry machinery (about 10 µs of CPU a request, 3% of the client's).
        """
        started = time.monotonic()
        try:
            return self.request(method, path, **kwargs)
        except (KubeApiError, TransportError) as exc:
            if not is_retryable(exc):
                raise
            failed: list[BaseException] = [exc]

        def attempt() -> Response:
            if failed:  # the first attempt, made above: its failure drives the first backoff
                raise failed.pop()
            return self.request(method, path, **kwargs)

        limit = (self.retry_deadline if deadline is None else deadline) - (time.monotonic() - started)
        for retrying in Retrying(stop=stop_before_delay(limit), wait=_backoff, retry=retry_if_exception(is_retryable),
                                 reraise=True, sleep=self.clock.sleep):
            with retrying:
                return attempt()
        raise AssertionError("unreachable")  # pragma: no cover

    def _fail(self, ref: ObjectRef | str, exc: BaseException, *, sensitive: bool = False, doing: str = "") -> ApplyError:
        where = f"{ref}: " if ref else ""
        doing = f"{doing} " if doing else ""
        if isinstance(exc, TransportError):
            return ApplyError(f"{where}{doing}cannot reach the API server at {self.host}: {exc}")
        assert isinstance(exc, KubeApiError)
        message = redact_values(exc.message) if sensitive else exc.message
        message = one_line(self.scrub(message))
        return ApplyError(f"{where}{doing}rejected by the API server ({exc.status} {exc.reason}): {message}")

    # -- discovery -------------------------------------------------------------------------------

    def server_version(self) -> str:
        """gitVersion of the API server; the first contact, so an unreachable server fails here clearly."""
        try:
            return str(self.call("GET", "/version", deadline=min(3.0, self.retry_deadline)).data.get("gitVersion", "unknown"))
        except (KubeApiError, TransportError) as exc:
            raise self._fail("", exc, doing="reading the server version:") from None

    def invalidate_discovery(self) -> None:
        with self._discovery_lock:
            self._discovery = None

    def resource(self, api_version: str, kind: str) -> ApiResource | None:
        """The API resource serving `kind` in `api_version`, from discovery (fetched once, cached)."""
        return self._resources().get((api_version, kind))

    def is_namespaced(self, api_version: str, kind: str) -> bool | None:
        res = self.resource(api_version, kind)
        return None if res is None else res.namespaced

    def _resources(self) -> dict[tuple[str, str], ApiResource]:
        found = self._discovery
        if found is not None:
            return found
        with self._discovery_lock:
            if self._discovery is None:
                try:
                    self._discovery = self._discover()
                except (KubeApiError, TransportError) as exc:
                    raise self._fail("", exc, doing="API discovery:") from None
            return self._discovery

    def _discover(self) -> dict[tuple[str, str], ApiResource]:
        out: dict[tuple[str, str], ApiResource] = {}
        legacy: list[str] = []
        for root in ("/api", "/apis"):
            data = self.call("GET", root, accept=AGGREGATED_DISCOVERY).data
            if data.get("kind") == "APIGroupDiscoveryList":
                for group in data.get("items") or ():
                    name = (group.get("metadata") or {}).get("name") or ""
                    for ver in group.get("versions") or ():
                        for res in ver.get("resources") or ():
                            kind = (res.get("responseKind") or {}).get("kind")
                            if kind:
                                self._add(out, ApiResource(name, ver["version"], kind, res["resource"],
                                                           res.get("scope") == "Namespaced"))
            elif root == "/api":
                legacy += [f"/api/{v}" for v in data.get("versions") or ()]
            else:
                legacy += [f"/apis/{v['groupVersion']}" for g in data.get("groups") or () for v in g.get("versions") or ()]
        if legacy:
            with ThreadPoolExecutor(max_workers=8) as pool:
                for path, data in zip(legacy, pool.map(lambda p: self.call("GET", p).data, legacy)):
                    group, version = split_api_version(data.get("groupVersion", path.rsplit("/", 1)[-1]))
                    for res in data.get("resources") or ():
                        if "/" not in res.get("name", "/"):
                            self._add(out, ApiResource(group, version, res["kind"], res["name"], bool(res.get("namespaced"))))
        return out

    @staticmethod
    def _add(out: dict[tuple[str, str], ApiResource], res: ApiResource) -> None:
        api_version = f"{res.group}/{res.version}" if res.group else res.version
        out.setdefault((api_version, res.kind), res)

    def path_for(self, ref: ObjectRef, *, with_name: bool = True) -> str:
        """URL path of an object (or, without name, of its collection). Unknown kinds → ApplyError."""
        res = self.resource(ref.api_version, ref.kind)
        if res is None:
            raise ApplyError(f"{ref}: the server has no kind {ref.kind} in {ref.api_version} "
                             "(is its CRD applied and established?)")
        return self._path(res, ref.namespace or "default", ref.name if with_name else None)

    @staticmethod
    def _path(res: ApiResource, namespace: str | None, name: str | None) -> str:
        base = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
        if res.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{res.plural}"
        return base + (f"/{quote(name, safe='')}" if name else "")

    # -- reads -----------------------------------------------------------------------------------

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The live object, or None if it does not exist."""
        try:
            return self.call("GET", self.path_for(ref)).data
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise self._fail(ref, exc, doing="reading:") from None
        except TransportError as exc:
            raise self._fail(ref, exc, doing="reading:") from None

    def list(self, api_version: str, kind: str, namespace: str | None = None, *, field_selector: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        """Objects of one kind (in one namespace, or all), with apiVersion/kind filled in on each item."""
        res = self.resource(api_version, kind)
        if res is None:
            return []
        query = {k: v for k, v in (("fieldSelector", field_selector), ("labelSelector", label_selector)) if v}
        try:
            data = self.call("GET", self._path(res, namespace, None), query=query).data
        except (KubeApiError, TransportError) as exc:
            if isinstance(exc, KubeApiError) and exc.status == 404:
                return []
            raise self._fail(f"{kind} in {namespace or 'all namespaces'}", exc, doing="listing:") from None
        items = data.get("items") or []
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    # -- writes ----------------------------------------------------------------------------------

    def apply(self, body: Mapping[str, Any], *, dry_run: bool = False, force: bool = True, recreate: bool = False,
              sensitive: bool | None = None, recreate_timeout: float = 60.0) -> ApplyOutcome:
        """Server-side apply one object. `recreate` deletes and re-creates it when a field is immutable.

        `sensitive` (default: the object is a Secret) redacts values the API quotes in its messages.
        """
        started = time.monotonic()
        ref, path, data = self._apply_request(body)
        query = _apply_query(force, dry_run)
        sensitive = ref.kind == "Secret" if sensitive is None else sensitive
        try:
            resp = self.call("PATCH", path, query=query, body=data, content_type=APPLY_PATCH, accept=METADATA)
        except KubeApiError as exc:
            field_name = immutable_field(exc)
            if field_name is None:
                raise self._fail(ref, exc, sensitive=sensitive) from None
            what = f"field {field_name}" if field_name else "a field"
            if not recreate:
                raise ApplyError(f"{ref}: {what} is immutable and differs from the live object",
                                 hint="re-run with --recreate to delete and re-create it (its data is lost)") from None
            if dry_run:
                return ApplyOutcome(ref, "dry-run", time.monotonic() - started, f"would be recreated: {what} is immutable")
            self.delete(ref, wait=True, timeout=recreate_timeout)
            try:
                resp = self.call("PATCH", path, query=query, body=data, content_type=APPLY_PATCH, accept=METADATA)
            except (KubeApiError, TransportError) as again:
                raise self._fail(ref, again, sensitive=sensitive, doing="re-creating:") from None
            return self._outcome(ref, resp, started, dry_run, message=f"recreated: {what} is immutable")
        except TransportError as exc:
            raise self._fail(ref, exc) from None
        return self._outcome(ref, resp, started, dry_run)

    def _apply_request(self, body: Mapping[str, Any]) -> tuple[ObjectRef, str, bytes]:
        """(ref, path, JSON body) of the apply of `body`; a namespace defaulted or dropped as discovery says."""
        payload = prepare_body(body)
        ref = ref_of(payload)
        res = self.resource(ref.api_version, ref.kind)
        if res is not None and res.namespaced and not ref.namespace:
            ref = ObjectRef(ref.api_version, ref.kind, "default", ref.name)
        elif res is not None and not res.namespaced and ref.namespace:
            ref = ObjectRef(ref.api_version, ref.kind, None, ref.name)
            payload["metadata"].pop("namespace", None)
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return ref, self.path_for(ref), data

    @property
    def multiplexes(self) -> bool:
        """Whether `apply_each` can be used: a direct connection (not through urllib3)."""
        return self._wire is not None

    def apply_each(self, bodies: Iterable[Mapping[str, Any]], *, width: int, dry_run: bool = False
                   ) -> Iterator[tuple[int, ApplyOutcome | KubeApiError | TransportError]]:
        """One server-side apply attempt per body, up to `width` in flight at once from the calling thread:
        (position, outcome) as each succeeds, (position, error) as each fails.

        No retries, no re-creation, no wording of errors: `apply_wave` sends what failed through `apply`.
        `bodies` is read lazily, one whenever a request can start: end it early to start no more.
        """
        assert self._wire is not None, "apply_each needs a direct connection (see `multiplexes`)"
        started: dict[int, tuple[ObjectRef, float]] = {}
        query = "?" + urlencode(_apply_query(True, dry_run))  # the same for every object

        def requests() -> Iterator[wire.Request]:
            for i, body in enumerate(bodies):
                ref, path, data = self._apply_request(body)
                started[i] = (ref, time.monotonic())
                yield wire.Request("PATCH", self._base_path + path + query, self._headers(METADATA, APPLY_PATCH), data)

        with self.clock:
            for i, reply in self._wire.request_many(requests(), width=width, timeout=self.request_timeout):
                ref, since = started.pop(i)
                if isinstance(reply, OSError):
                    yield i, TransportError(_transport_cause(reply))
                    continue
                try:
                    resp = _answer(reply)
                except KubeApiError as exc:
                    yield i, exc
                    continue
                yield i, self._outcome(ref, resp, since, dry_run)

    def _outcome(self, ref: ObjectRef, resp: Response, started: float, dry_run: bool, message: str = "") -> ApplyOutcome:
        if dry_run:
            return ApplyOutcome(ref, "dry-run", time.monotonic() - started, message)
        rv = (resp.data.get("metadata") or {}).get("resourceVersion")
        action = apply_action(resp.status, resp.data, prior_rv=self._seen_rv.get(ref),
                              server_now=None if resp.status == 201 else resp.date)  # a create needs no clock
        if rv:
            self._seen_rv[ref] = rv
        if action == "created" and ref.kind == "Namespace" and ref.api_version == "v1":
            self._created_namespaces.add(ref.name)
        return ApplyOutcome(ref, action, time.monotonic() - started, message)

    def created_namespace(self, name: str) -> bool:
        """Whether an apply of this run created Namespace `name` (and no delete of this run removed it since):
        then it is new, so Active, and holds nothing of ours yet."""
        return name in self._created_namespaces

    def learn_versions(self, refs: Iterable[ObjectRef], *, concurrency: int = 8) -> None:
        """Record the resourceVersion of those of `refs` that already exist, before they are applied.

        A no-op apply leaves an object's resourceVersion as it was, so with the version known beforehand
        `unchanged` and `configured` are told apart exactly, also on a re-run seconds after the last one.
        One metadata-only LIST per (apiVersion, kind, namespace), by field selector for a single object.
        Best effort: a kind not served yet, a LIST refused (RBAC) or failing leaves the time-based guess
        of `apply_action` for those objects. A namespace this run created holds nothing of ours yet (only
        what controllers put there), so it is not listed: on a fresh cluster that is almost every LIST.
        """
        groups: dict[tuple[str, str, str | None], tuple[ApiResource, set[str]]] = {}
        for ref in refs:
            res = self.resource(ref.api_version, ref.kind)
            if res is not None:
                namespace = (ref.namespace or "default") if res.namespaced else None
                if namespace in self._created_namespaces:
                    continue
                groups.setdefault((ref.api_version, ref.kind, namespace), (res, set()))[1].add(ref.name)

        def versions(key: tuple[str, str, str | None]) -> list[tuple[ObjectRef, str]]:
            api_version, kind, namespace = key
            res, names = groups[key]
            query = {"fieldSelector": f"metadata.name={next(iter(names))}"} if len(names) == 1 else None
            try:
                data = self.call("GET", self._path(res, namespace, None), query=query, accept=METADATA_LIST,
                                 deadline=min(5.0, self.retry_deadline)).data
            except (KubeApiError, TransportError):
                return []
            found = []
            for item in data.get("items") or ():
                meta = item.get("metadata") or {}
                if meta.get("name") in names and meta.get("resourceVersion"):
                    found.append((ObjectRef(api_version, kind, namespace, meta["name"]), meta["resourceVersion"]))
            return found

        if not groups:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(groups))), thread_name_prefix="versions") as pool:
            for found in pool.map(versions, list(groups)):
                self._seen_rv.update(found)

    def delete(self, ref: ObjectRef, *, propagation: str = "Foreground", wait: bool = True,
               timeout: float = 60.0) -> None:
        """Delete an object; with `wait`, poll until it is gone (finalizers included), bounded by `timeout`."""
        body = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}).encode()
        try:
            self.call("DELETE", self.path_for(ref), body=body)
        except KubeApiError as exc:
            if exc.status != 404:
                raise self._fail(ref, exc, doing="deleting:") from None
        except TransportError as exc:
            raise self._fail(ref, exc, doing="deleting:") from None
        if ref.kind == "Namespace" and ref.api_version == "v1":
            self._created_namespaces.discard(ref.name)
        if wait and not poll_until(lambda: self.get(ref) is None, timeout, sleep=self.clock.sleep):
            raise ApplyError(f"{ref}: still present {timeout:.0f}s after deletion (finalizers?)")

    def merge_patch(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (an Update by field manager dr-bootstrap), e.g. a restart annotation."""
        try:
            return self.call("PATCH", self.path_for(ref), query={"fieldManager": FIELD_MANAGER},
                             body=json.dumps(patch).encode(), content_type=MERGE_PATCH).data
        except (KubeApiError, TransportError) as exc:
            raise self._fail(ref, exc, doing="patching:") from None


def _backoff(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    if hinted is not None:
        return min(float(hinted), 10.0)
    return _JITTER(state)


_JITTER = wait_random_exponential(multiplier=0.1, max=4.0)  # immutable strategy object, not state


def poll_until(check: Callable[[], bool], timeout: float, *, first: float = 0.05, cap: float = 1.0,
               sleep: Callable[[float], None] = time.sleep) -> bool:
    """Call `check` with a short, growing interval (50 ms → 1 s) until it is true or `timeout` passes.

    Pass `sleep=cluster.clock.sleep` when the wait is on the cluster (it then counts as waiting)."""
    deadline = time.monotonic() + timeout
    delay = first
    while True:
        if check():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sleep(min(delay, remaining))
        delay = min(delay * 2, cap)


# --------------------------------------------------------------------------------------------------
# Waves


def apply_wave(cluster: Cluster, manifests: Sequence[Manifest], *, concurrency: int = 8, dry_run: bool = False,
               recreate: bool = False, on_result: Callable[[Manifest, ApplyOutcome], None] | None = None
               ) -> list[ApplyOutcome]:
    """Apply one wave's objects concurrently; outcomes in input order.

    On the first failure no new object is started, in-flight ones finish, and the ApplyError of the
    first failing object (in input order among those that failed) is raised, naming its source file.
    `on_result` is called in the caller's thread as each object succeeds.

    Over a direct connection every object first gets one attempt through `Cluster.apply_each` (one
    thread, `concurrency` requests in flight). What fails there goes through `Cluster.apply`, which
    retries, re-creates and words the error; a failure that retrying cannot mend (`is_retryable`) also
    stops new starts, and the objects not started yet follow only once the failed ones have succeeded.
    """
    if not manifests:
        return []
    if not dry_run:
        cluster.learn_versions([m.ref for m in manifests], concurrency=concurrency)
    outcomes: list[ApplyOutcome | None] = [None] * len(manifests)

    def done(i: int, outcome: ApplyOutcome) -> None:
        outcomes[i] = outcome
        if on_result is not None:
            on_result(manifests[i], outcome)

    failed: list[int] = []
    if cluster.multiplexes:
        halted = False

        def bodies() -> Iterator[Mapping[str, Any]]:
            for m in manifests:
                if halted:
                    return
                yield m.body

        for i, result in cluster.apply_each(bodies(), width=concurrency, dry_run=dry_run):
            if isinstance(result, ApplyOutcome):
                done(i, result)
            else:
                failed.append(i)
                halted = halted or not is_retryable(result)
    failed.sort()
    tried = set(failed)
    not_started = [i for i, outcome in enumerate(outcomes) if outcome is None and i not in tried]
    for batch in (failed, not_started):
        _apply_threaded(cluster, manifests, batch, concurrency=concurrency, dry_run=dry_run, recreate=recreate,
                        done=done)
    return [o for o in outcomes if o is not None]


def _apply_threaded(cluster: Cluster, manifests: Sequence[Manifest], indices: Sequence[int], *, concurrency: int,
                    dry_run: bool, recreate: bool, done: Callable[[int, ApplyOutcome], None]) -> None:
    """`Cluster.apply` for `manifests[i]` of each i in `indices`, from a pool of threads; `done(i, outcome)`
    in the caller's thread for each success. The first failure stops new starts and is raised once the
    in-flight ones finish (the first in input order among those that failed)."""
    if not indices:
        return

    def one(m: Manifest) -> ApplyOutcome:
        try:
            return cluster.apply(m.body, dry_run=dry_run, recreate=recreate, sensitive=m.encrypted or None)
        except ApplyError as exc:
            raise ApplyError(f"{exc.message} [{m.source}]", hint=exc.hint) from None

    failures: dict[int, BaseException] = {}
    workers = max(1, min(concurrency, len(indices)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
        index = {pool.submit(one, manifests[i]): i for i in indices}
        for fut in as_completed(index):
            if fut.cancelled():
                continue
            i = index[fut]
            exc = fut.exception()
            if exc is not None:
                if not failures:
                    for other in index:
                        other.cancel()  # only those not started yet; in-flight ones finish
                failures[i] = exc
                continue
            done(i, fut.result())
    if failures:
        raise failures[min(failures)]


# --------------------------------------------------------------------------------------------------
# Gates


CRD = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "")


def wait_established(cluster: Cluster, crd_names: Iterable[str], timeout: float) -> None:
    """Wait until every CRD is Established and NamesAccepted, then refresh discovery until its kinds appear.

    NamesAccepted=False or NonStructuralSchema=True fail at once with the API's message.
    """
    names = sorted(set(crd_names))
    if not names:
        return
    deadline = time.monotonic() + timeout
    pending = set(names)
    served: dict[str, list[tuple[str, str]]] = {}
    last: dict[str, str] = {}

    def check() -> bool:
        for name in sorted(pending):
            crd = cluster.get(ObjectRef(CRD.api_version, CRD.kind, None, name))
            if crd is None:
                last[name] = "not found"
                continue
            names_ok, established = condition(crd, "NamesAccepted"), condition(crd, "Established")
            if names_ok and names_ok.get("status") == "False":
                raise ApplyError(f"CustomResourceDefinition/{name}: names not accepted: "
                                 f"{one_line(names_ok.get('message') or names_ok.get('reason') or '')}")
            bad_schema = condition(crd, "NonStructuralSchema")
            if bad_schema and bad_schema.get("status") == "True":
                raise ApplyError(f"CustomResourceDefinition/{name}: schema is not structural: "
                                 f"{one_line(bad_schema.get('message') or '')}")
            if established and established.get("status") == "True" and names_ok and names_ok.get("status") == "True":
                pending.discard(name)
                spec = crd.get("spec") or {}
                group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
                served[name] = [(f"{group}/{v['name']}", kind) for v in spec.get("versions") or () if v.get("served")]
            else:
                last[name] = one_line((established or {}).get("message") or "not established yet", 120)
        return not pending

    if not poll_until(check, timeout, sleep=cluster.clock.sleep):
        waiting = "; ".join(f"{n} ({last.get(n, 'waiting')})" for n in sorted(pending))
        raise ApplyError(f"CRDs not established within {timeout:.0f}s: {waiting}")

    def discovered() -> bool:
        cluster.invalidate_discovery()
        return all(cluster.resource(av, kind) is not None for kinds in served.values() for av, kind in kinds)

    if not poll_until(discovered, max(0.5, deadline - time.monotonic()), first=0.1, sleep=cluster.clock.sleep):
        missing = sorted(n for n, kinds in served.items() if any(cluster.resource(av, k) is None for av, k in kinds))
        raise ApplyError(f"CRDs established but not served by discovery within {timeout:.0f}s: {', '.join(missing)}")


def wait_namespaces_active(cluster: Cluster, names: Iterable[str], timeout: float, *,
                           manifests: Mapping[str, Mapping[str, Any]] | None = None,
                           on_wait: Callable[[str], None] | None = None) -> None:
    """Make every namespace exist and be Active.

    A missing namespace is applied (from `manifests[name]` if given, else a bare Namespace).  A
    Terminating one is waited out — `on_wait(name)` is called once — and then applied again.  The
    whole gate is bounded by `timeout`.  Namespaces this run's apply created are not looked at: a
    namespace created a moment ago is Active (on a fresh cluster that is every one of them).
    """
    names = sorted(name for name in set(names) if not cluster.created_namespace(name))
    deadline = time.monotonic() + timeout
    announced: set[str] = set()

    def body(name: str) -> Mapping[str, Any]:
        return (manifests or {}).get(name) or {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}

    def active(name: str) -> bool:
        ns = cluster.get(ObjectRef("v1", "Namespace", None, name))
        if ns is None:
            cluster.apply(body(name))
            return False
        if (ns.get("metadata") or {}).get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            if name not in announced:
                announced.add(name)
                if on_wait is not None:
                    on_wait(name)
            return False
        return True

    for name in names:
        if not poll_until(lambda: active(name), max(0.0, deadline - time.monotonic()), sleep=cluster.clock.sleep):
            state = "still terminating" if name in announced else "not active"
            raise ApplyError(f"Namespace/{name}: {state} after {timeout:.0f}s")


# --------------------------------------------------------------------------------------------------
# The key Secret Flux reads


def install_key_secret(cluster: Cluster, namespace: str, name: str, key: str, material: Sensitive, *,
                       dry_run: bool = False, allow_any_key: bool = False, timeout: float = 60.0) -> ApplyOutcome:
    """Install the age key as Secret `namespace/name` (type Opaque, `data[key]`), creating the namespace.

    Flux's kustomize-controller only imports Secret entries whose key ends in `.agekey`; any other key
    is refused (UsageError) unless `allow_any_key`.
    """
    if not key.endswith(".agekey") and not allow_any_key:
        raise UsageError(f"key Secret data key {key!r} does not end in '.agekey': Flux only reads age keys "
                         "from entries named *.agekey (e.g. age.agekey)")
    raw = material.reveal()
    encoded = base64.b64encode(raw.encode() if isinstance(raw, str) else bytes(raw)).decode()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": name, "namespace": namespace,
                           "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
              "data": {key: encoded}}
    if dry_run:
        started = time.monotonic()
        if cluster.get(ObjectRef("v1", "Namespace", None, namespace)) is None:
            cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, dry_run=True)
            return ApplyOutcome(ref_of(secret), "dry-run", time.monotonic() - started,
                                f"namespace {namespace} would be created")
        return cluster.apply(secret, dry_run=True, sensitive=True)
    wait_namespaces_active(cluster, [namespace], timeout)
    cluster.learn_versions([ref_of(secret)])  # a re-run then reports it `unchanged` by version
    return cluster.apply(secret, sensitive=True)
