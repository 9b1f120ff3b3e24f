"""Placeholders: values in a committed manifest that another tool replaces with a secret when it renders, so
they are neither secrets in plaintext nor values to apply (pure).

Recognised:
- argocd-vault-plugin: `<path:SECRET/PATH#KEY>`, `<path:SECRET/PATH#KEY#VERSION>`, with optional modifiers
  after `|` (`<path:kv/data/db#password | base64encode>`); and the bare `<KEY>` form when the object carries
  the `avp.kubernetes.io/path` annotation (the path is the annotation's).
- a config-management plugin that reads Kubernetes Secrets: `<secret:NAME~KEY>`, with modifiers such as
  `|base64`.
- Flux post-build substitution (`find`, `is_templated`, `secret_is_templated` only: it is no Argo CD plugin):
  `${VAR}` and its forms (`${VAR:=default}`, `${VAR/a/b}`, ...), also escaped (`$${VAR}`, which Flux leaves
  as the literal `${VAR}`: no secret either).

Nothing here resolves a placeholder: the plugin runs in Argo CD's repo-server after the hand-over, Flux
substitutes in kustomize-controller. `plugin_of`/`found`/`plugins_needed` say which Argo CD plugin an object
needs (the Argo CD engine); `secret_is_templated` whether a Secret names its secrets instead of carrying them
(`check`): a value "is templated" when it holds at least one placeholder
(`postgres://app:${DB_PASSWORD}@db/app` names its secret and does not carry it); a value of `data` is also
read base64-decoded, where a placeholder may be encoded.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

AVP = "argocd-vault-plugin"
SECRET_PLUGIN = "config-management plugin (<secret:…>)"
FLUX = "flux"
AVP_PATH_ANNOTATION = "avp.kubernetes.io/path"

_INLINE = re.compile(r"<(path|secret):[^<>\n]+>")
_BARE = re.compile(r"<\s*[A-Za-z0-9_.\-]+\s*(\|[^<>\n]*)?>")  # `<password>` under avp.kubernetes.io/path


def plugin_of(value: str, *, bare: bool = False) -> str | None:
    """Which plugin fills the placeholders in `value` (None: it holds none). `bare`: the object carries
    avp.kubernetes.io/path, so `<key>` is argocd-vault-plugin's too."""
    match = _INLINE.search(value)
    if match:
        return AVP if match.group(1) == "path" else SECRET_PLUGIN
    if bare and _BARE.search(value):
        return AVP
    return None


def is_placeholder(value: Any, *, bare: bool = False) -> bool:
    return isinstance(value, str) and plugin_of(value, bare=bare) is not None


def _annotations(body: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    annotations = metadata.get("annotations")
    return annotations if isinstance(annotations, Mapping) else {}


def bare_allowed(body: Mapping[str, Any]) -> bool:
    """The object's bare `<key>` placeholders are argocd-vault-plugin's (it names a path for them)."""
    return bool(_annotations(body).get(AVP_PATH_ANNOTATION))


def found(body: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field path, plugin) for every string in the object that holds a placeholder (metadata left out,
    except for labels and annotations' values)."""
    bare = bare_allowed(body)

    def walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if path == "" and key in ("apiVersion", "kind"):
                    continue
                if path == "metadata" and key not in ("labels", "annotations"):
                    continue
                if path == "metadata.annotations" and key == AVP_PATH_ANNOTATION:
                    continue
                yield from walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, f"{path}[{index}]")
        elif isinstance(node, str):
            plugin = plugin_of(node, bare=bare)
            if plugin:
                yield path, plugin

    yield from walk(body, "")


def plugins_needed(body: Mapping[str, Any]) -> list[str]:
    """The plugins that must fill this object before it can be applied, in the order first met."""
    out: list[str] = []
    for _, plugin in found(body):
        if plugin not in out:
            out.append(plugin)
    return out


# --- values: does a Secret carry its secrets, or only name them? (`check`) ----------------------------------

_FLUX = re.compile(r"\$?\$\{[A-Za-z_][A-Za-z0-9_]*(?:[^{}\n]*)\}")


@dataclass(frozen=True)
class Placeholder:
    kind: str  # FLUX | AVP | SECRET_PLUGIN
    start: int
    end: int
    text: str


def find(text: str, *, avp_generic: bool = False) -> list[Placeholder]:
    """Every placeholder in `text`, in order. `avp_generic`: also a bare `<KEY>` (the object names an avp
    path)."""
    found_ = [Placeholder(FLUX, m.start(), m.end(), m.group(0)) for m in _FLUX.finditer(text)]
    found_ += [Placeholder(AVP if m.group(1) == "path" else SECRET_PLUGIN, m.start(), m.end(), m.group(0))
               for m in _INLINE.finditer(text)]
    if avp_generic:
        taken = [(p.start, p.end) for p in found_]
        found_ += [Placeholder(AVP, m.start(), m.end(), m.group(0)) for m in _BARE.finditer(text)
                   if not any(s <= m.start() < e for s, e in taken)]
    return sorted(found_, key=lambda p: p.start)


def is_templated(value: Any, *, avp_generic: bool = False, encoded: bool = False) -> bool:
    """Does `value` hold a placeholder? `encoded` (a Secret's `data`): the base64-decoded text counts too."""
    if not isinstance(value, str):
        return False
    if find(value, avp_generic=avp_generic):
        return True
    if encoded:
        decoded = _decoded(value)
        return decoded is not None and bool(find(decoded, avp_generic=avp_generic))
    return False


def only_placeholders(text: str, *, avp_generic: bool = False) -> bool:
    """Is `text` nothing but placeholders (and white space)?"""
    rest, last = [], 0
    for p in find(text, avp_generic=avp_generic):
        rest.append(text[last:p.start])
        last = max(last, p.end)
    rest.append(text[last:])
    return last > 0 and not "".join(rest).strip()


def secret_is_templated(doc: Mapping[str, Any]) -> bool:
    """A Secret (a mapping with `data`/`stringData`) whose every non-empty value holds a placeholder."""
    generic = bare_allowed(doc)
    values = list(_values(doc.get("stringData"), False, generic)) + list(_values(doc.get("data"), True, generic))
    return bool(values) and all(values)


def _values(section: Any, encoded: bool, generic: bool) -> Iterable[bool]:
    if not isinstance(section, Mapping):
        return
    for value in section.values():
        if value not in (None, ""):
            yield is_templated(value, avp_generic=generic, encoded=encoded)


def _decoded(value: str) -> str | None:
    try:
        return base64.b64decode("".join(value.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
