"""JSON: one top-level object; key order and duplicate keys kept; numbers typed as the writing sops did.

sops up to 3.13.1 decodes every JSON number as a float64 (so `42` is the float 42, printed `42`, and a
large integer is rounded to the nearest float64); 3.13.2 decodes integers within int64 as ints and the
rest as float64. The version in the file's metadata picks the rule, so the MAC over unencrypted numbers
verifies and values keep the type that sops gives them.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

from bootstrap.errors import DecryptError
from bootstrap.sops.tree import Comment, TreeMap, to_plain
from bootstrap.sops.values import ValueTypeError, go_float_json

_INT64 = 2**63
EXACT_INTS_SINCE = (3, 13, 2)


class _NegativeZero:
    """JSON `-0`: an int 0 for sops 3.13.2+, the float -0.0 before (Python's json reads it as int 0)."""


_NEG_ZERO = _NegativeZero()


def has_metadata(data: bytes) -> bool:
    return re.search(rb'"sops"\s*:', data) is not None and re.search(rb'"mac"\s*:', data) is not None


def _parse_int(text: str) -> Any:
    return _NEG_ZERO if text == "-0" else int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # Go's ParseFloat refuses out-of-range numbers
        raise ValueError("number out of float64 range")
    return value


def parse(data: bytes, name: str) -> TreeMap:
    """The object as a tree; integers stay exact here (`numbers()` types them for a sops version)."""
    try:
        root = json.loads(data, object_pairs_hook=TreeMap, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as err:
        raise DecryptError(f"{name}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DecryptError(f"{name}: malformed JSON (not valid UTF-8, a number out of range, or too deep)") from None
    if type(root) is not TreeMap:
        raise DecryptError(f"{name}: JSON top level is not an object")
    return root


def exact_ints(version: Any) -> bool:
    """Whether the sops `version` that wrote a file decodes JSON integers as ints (3.13.2+)."""
    parts = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", str(version or ""))
    if parts is None:
        return False
    return tuple(int(p or 0) for p in parts.groups()) >= EXACT_INTS_SINCE


def numbers(node: Any, exact: bool, name: str) -> Any:
    """Type every number as sops does: ints within int64 stay ints only when `exact`; the rest float64."""
    t = type(node)
    if t is TreeMap:
        for i, (key, value) in enumerate(node):
            tv = type(value)
            if tv is TreeMap or tv is list or tv is int or tv is _NegativeZero:
                node[i] = (key, numbers(value, exact, name))
        return node
    if t is list:
        for i, value in enumerate(node):
            tv = type(value)
            if tv is TreeMap or tv is list or tv is int or tv is _NegativeZero:
                node[i] = numbers(value, exact, name)
        return node
    if t is _NegativeZero:
        return 0 if exact else -0.0
    if t is int:
        if exact and -_INT64 <= node < _INT64:
            return node
        try:
            return float(node)  # correctly rounded, as Go's ParseFloat
        except OverflowError:
            raise DecryptError(f"{name}: a JSON number is out of float64 range") from None
    return node


def load(data: bytes, name: str) -> tuple[list[TreeMap], Any]:
    root = parse(data, name)
    found = [v for k, v in root if k == "sops"]
    if not found:
        raise DecryptError(f"{name}: sops metadata not found")
    root[:] = [(k, v) for k, v in root if k != "sops"]
    metadata = to_plain(numbers(found[-1], True, name))
    version = metadata.get("version") if isinstance(metadata, dict) else None
    return [numbers(root, exact_ints(version), name)], metadata


# -- output: what sops' JSON store prints (encoding/json values, json.Indent with a tab) ------------------
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")


def go_string(text: str) -> str:
    """A JSON string as Go's encoding/json writes it (HTML-safe escapes; invalid UTF-8 as U+FFFD)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    out = json.dumps(text, ensure_ascii=False)
    return _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group(0)], out)


def _value(value: Any, indent: str, out: list[str]) -> None:
    t = type(value)
    if t is TreeMap or t is dict:
        items = [(k, v) for k, v in (value if t is TreeMap else value.items()) if type(k) is not Comment]
        if not items:
            out.append("{}")
            return
        inner = indent + "\t"
        out.append("{\n")
        for n, (key, item) in enumerate(items):
            out.append(f"{inner}{go_string(str(key))}: ")
            _value(item, inner, out)
            out.append(",\n" if n < len(items) - 1 else "\n")
        out.append(indent + "}")
    elif t is list:
        items = [v for v in value if type(v) is not Comment]
        if not items:
            out.append("[]")
            return
        inner = indent + "\t"
        out.append("[\n")
        for n, item in enumerate(items):
            out.append(inner)
            _value(item, inner, out)
            out.append(",\n" if n < len(items) - 1 else "\n")
        out.append(indent + "]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif t is int:
        out.append(str(value))
    elif t is float:
        try:
            out.append(go_float_json(value))
        except ValueTypeError:
            raise DecryptError("cannot write NaN or an infinity as JSON (sops refuses it too)") from None
    elif t is bytes:
        out.append(f'"{base64.b64encode(value).decode()}"')
    else:  # str, Timestamp (RFC 3339 text, as Go marshals time.Time)
        out.append(go_string(str(value)))


def emit(branches: list[TreeMap]) -> bytes:
    """Tab-indented JSON with a trailing newline, byte for byte as `sops decrypt` prints it."""
    out: list[str] = []
    _value(branches[0], "", out)
    out.append("\n")
    return "".join(out).encode("utf-8", "surrogateescape")

