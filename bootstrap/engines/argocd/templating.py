"""ApplicationSet templates offline: Argo CD's two template modes over a generator's parameters (pure).

- default (fasttemplate): `{{ key }}` replaced by the flat parameter `key` in every string; an unknown key is
  left as written.
- `goTemplate: true`: Go's text/template over nested parameters. Only what ApplicationSets commonly use is
  evaluated here: `.a.b` field paths, `index X N`, and the pipes `default`, `quote`, `lower`, `upper`,
  `trim`, `toString`; anything else is refused by name (a render that guesses would restore the wrong thing).
Then `templatePatch` (a templated YAML text) is merged into the rendered template as a strategic merge patch
on Application merges it: mappings merged, lists replaced, null deletes.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from bootstrap.errors import ValidationError

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested parameters as fasttemplate sees them: `a.b` keys, values as Go's %v prints them."""
    out: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{index}"))
    elif prefix:
        out[prefix] = _go_str(value)
    return out


def _go_str(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fast(text: str, params: Mapping[str, Any]) -> str:
    def one(match: re.Match) -> str:
        key = match.group(1).strip()
        return str(params[key]) if key and key in params else match.group(0)

    return _TAG.sub(one, text)


def _lookup(path: str, params: Mapping[str, Any], where: str) -> Any:
    node: Any = params
    for part in path.lstrip(".").split("."):
        if not part:
            continue
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None  # text/template prints `<no value>`; Argo CD's default missingkey is the same
    return node


def _term(token: str, params: Mapping[str, Any], where: str) -> Any:
    if token.startswith("."):
        return _lookup(token, params, where)
    if token.startswith('"') and token.endswith('"') or token.startswith("`") and token.endswith("`"):
        return token[1:-1]
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    raise ValidationError(f"{where}: goTemplate term {token!r} is not evaluated offline")


def _call(words: list[str], params: Mapping[str, Any], where: str, piped: Any = None, has_pipe: bool = False) -> Any:
    head, args = words[0], [_term(w, params, where) for w in words[1:]]
    if has_pipe:
        args.append(piped)
    if head.startswith(".") or head.startswith('"') or re.fullmatch(r"-?\d+", head):
        if len(words) > 1:
            raise ValidationError(f"{where}: goTemplate {' '.join(words)!r} is not evaluated offline")
        return _term(head, params, where)
    if head == "index" and len(args) >= 2:
        node = args[0]
        for key in args[1:]:
            node = node[key] if isinstance(node, (list, Mapping)) and (
                isinstance(node, Mapping) and key in node or isinstance(node, list) and isinstance(key, int)
                and -len(node) <= key < len(node)) else None
        return node
    if head == "default" and len(args) == 2:
        return args[1] if args[1] not in (None, "", 0, False, [], {}) else args[0]
    simple = {"quote": lambda v: '"' + _go_str(v).replace('"', '\\"') + '"', "lower": lambda v: _go_str(v).lower(),
              "upper": lambda v: _go_str(v).upper(), "trim": lambda v: _go_str(v).strip(), "toString": _go_str}
    if head in simple and len(args) == 1:
        return simple[head](args[0])
    raise ValidationError(f"{where}: goTemplate function {head!r} is not evaluated offline")


def _go(text: str, params: Mapping[str, Any], where: str) -> str:
    def one(match: re.Match) -> str:
        body = match.group(1).strip().lstrip("-").rstrip("-").strip()
        if not body or body.startswith(("if ", "range ", "with ", "end", "else", "define", "template", "/*")):
            raise ValidationError(f"{where}: goTemplate action {{{{{body}}}}} is not evaluated offline")
        value, first = None, True
        for stage in body.split("|"):
            try:
                words = shlex.split(stage.strip(), posix=False)
            except ValueError:
                raise ValidationError(f"{where}: goTemplate {body!r} cannot be read") from None
            value = _call(words, params, where, value, has_pipe=not first)
            first = False
        return "<no value>" if value is None else _go_str(value)

    return _TAG.sub(one, text)


def render(node: Any, params: Mapping[str, Any], *, go: bool, where: str) -> Any:
    """Every string in `node` with the parameters filled in."""
    if isinstance(node, Mapping):
        return {render(k, params, go=go, where=where): render(v, params, go=go, where=where) for k, v in node.items()}
    if isinstance(node, list):
        return [render(item, params, go=go, where=where) for item in node]
    if isinstance(node, str) and "{{" in node:
        return _go(node, params, where) if go else _fast(node, params)
    return node


def merge_patch(base: Any, patch: Any) -> Any:
    """A strategic merge patch on a type without merge keys: mappings merged, anything else replaced,
    null deleting the key."""
    if not isinstance(base, Mapping) or not isinstance(patch, Mapping):
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
