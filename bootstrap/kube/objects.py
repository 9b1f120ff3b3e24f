"""Pure rules about the objects we send: the apply body and query, object paths, and what an apply did.

Every write is a server-side apply (PATCH `application/apply-patch+yaml`, field manager `dr-bootstrap`,
`force=true`, `fieldValidation=Ignore`); nothing here ever does a client-side apply or writes a
`last-applied-configuration` annotation.

`fieldValidation=Ignore` spares the API server a strict second decode of every body. It loses nothing:
whatever the setting, an apply body that does not fit its kind's schema (built-in or custom) is refused
("field not declared in schema"), and duplicate keys cannot occur in a body serialised from a dict.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bootstrap.model import ObjectRef

FIELD_MANAGER = "dr-bootstrap"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is valid YAML, so the body is JSON
MERGE_PATCH = "application/merge-patch+json"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

_SERVER_OWNED = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink")


@dataclass(frozen=True)
class ApiResource:
    """One kind as discovery serves it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """URL path of an object (or, without `name`, of its collection; without `namespace`, across all)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return base + (f"/{quote(name, safe='')}" if name else "")


@dataclass(frozen=True)
class ApplyOutcome:
    ref: ObjectRef
    action: str  # created | configured | unchanged | dry-run
    seconds: float
    message: str = ""


def prepare_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The object as it should be sent in an apply: no last-applied annotation, no server-owned metadata.

    Copies only what it changes (the top level and `metadata`), never the caller's nested data.
    """
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    for key in _SERVER_OWNED:
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


def apply_query(force: bool, dry_run: bool) -> dict[str, str]:
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
    to the one read before the apply → unchanged, different → configured.  Without a prior version (it
    could not be listed): our Apply entry's time (second resolution) more than 2 s older than the
    response's Date header → unchanged; anything else → configured, the conservative answer for an
    object changed within the last 2 s.
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


def http_date(value: str | None) -> float | None:
    """Seconds since the epoch of an HTTP Date header's value; None when absent or malformed."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
