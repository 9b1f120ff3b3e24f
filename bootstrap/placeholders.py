"""Config-management-plugin placeholders: values in a committed manifest that an Argo CD plugin replaces
when it renders, so they are neither secrets in plaintext nor values to apply (pure).

Two syntaxes are recognised:
- argocd-vault-plugin: `<path:SECRET/PATH#KEY>`, `<path:SECRET/PATH#KEY#VERSION>`, with optional modifiers
  after `|` (`<path:kv/data/db#password | base64encode>`); and the bare `<KEY>` form when the object carries
  the `avp.kubernetes.io/path` annotation (the path is the annotation's).
- a plugin that reads Kubernetes Secrets: `<secret:NAME~KEY>`, with modifiers such as `|base64`.

Nothing here resolves a placeholder: the plugin runs in Argo CD's repo-server after the hand-over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

AVP = "argocd-vault-plugin"
SECRET_PLUGIN = "config-management plugin (<secret:…>)"
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
