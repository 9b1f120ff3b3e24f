"""A Helm release's values as the engine's Helm controller computes them, from the rendered set alone.

helm-controller (fluxcd/pkg chartutil ChartValuesFromReferences): each `valuesFrom` reference in order, from
the ConfigMap or Secret of that name in the release object's namespace (a missing object or key is an error
unless the reference is optional), merged over what came before (maps merged key by key, anything else
replaced); a reference with a targetPath sets the key's text at that path (Helm's `--set` syntax); the inline
`values` merged last. Here the objects are those of the rendered set (decrypted SOPS included): a restore
writes them itself, after the Helm releases.

The values leave this module only as JSON bytes for helm's stdin; they are never logged or reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bootstrap import gostd
from bootstrap.errors import ValidationError
from bootstrap.manifests import parse_documents
from bootstrap.model import Manifest

_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_INTEGER = re.compile(r"^[-+]?[1-9][0-9]*$")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` merged into a copy of `base`: maps key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _data(m: Manifest, key: str) -> bytes | None:
    """The key's bytes in a ConfigMap or Secret as the API server would hold them (stringData over data)."""
    body = m.body
    if m.ref.kind == "ConfigMap":
        value = (body.get("data") or {}).get(key)
        return None if value is None else str(value).encode()
    string_data = body.get("stringData") or {}
    if key in string_data:
        return str(string_data[key]).encode()
    value = (body.get("data") or {}).get(key)
    if value is None:
        return None
    try:
        return gostd.b64decode(str(value))
    except ValueError:
        raise ValidationError(f"{m.source}: Secret {m.ref.namespace}/{m.ref.name}: data key {key} is not "
                              "base64") from None


def _typed(text: str) -> Any:
    """A `--set` value as Helm's strvals types it (quoted text stays a string)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text.strip("'\"")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if text == "0":
        return 0
    if _INTEGER.match(text):
        return int(text)
    return text


def _set_path(values: dict[str, Any], path: str, text: str, where: str) -> None:
    if not _PLAIN_PATH.match(path) or any(c in text for c in ",\\{}[]"):
        raise ValidationError(f"{where}: targetPath {path!r} with this value is not supported for an install before "
                              "the GitOps engine (supported: a dotted path of plain keys and a value without "
                              "',', '\\', '[]' or '{}')")
    keys = path.split(".")
    node = values
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = _typed(text)


def values_json(namespace: str, name: str, inline: Mapping[str, Any], values_from: Iterable[Any],
                manifests: Iterable[Manifest]) -> bytes:
    """The release's merged values as JSON bytes (helm reads JSON as YAML on stdin)."""
    objects = {(m.ref.kind, m.ref.namespace or "default", m.ref.name): m for m in manifests
               if m.ref.kind in ("ConfigMap", "Secret") and m.ref.api_version == "v1"}
    result: dict[str, Any] = {}
    for index, ref in enumerate(values_from):
        where = f"HelmRelease {namespace}/{name}: spec.valuesFrom[{index}] {ref.kind} {ref.name}"
        found = objects.get((ref.kind, namespace, ref.name))
        data = None if found is None else _data(found, ref.key)
        if data is None:
            if ref.optional:
                continue
            missing = "is not in what this restore renders" if found is None else f"has no key {ref.key}"
            raise ValidationError(f"{where} {missing}", hint="restore the path that holds it, or mark it optional")
        if ref.target_path:
            result = merge(result, inline)
            _set_path(result, ref.target_path, data.decode("utf-8", "replace"), where)
            continue
        docs = parse_documents(data, f"{where} key {ref.key}")
        doc = docs[0] if docs else {}
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise ValidationError(f"{where} key {ref.key}: the values are not a mapping")
        result = merge(result, doc)
    return json.dumps(merge(result, inline), default=str).encode()
