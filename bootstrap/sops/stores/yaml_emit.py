"""A small YAML emitter for decrypted plain data, in sops' layout (4-space indent, `- ` items).

Faster than PyYAML's Python representer; a string is written plain only when no YAML 1.1 or 1.2
reader could take it for anything but that string, else double-quoted (JSON escapes are valid YAML)
or, for multi-line text, as a literal block.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

from bootstrap.sops.tree import Timestamp

_SAFE_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@+=-]*(?: [A-Za-z0-9_./@+=()-]+)*\Z")
_AMBIGUOUS = re.compile(
    r"(?i:y|yes|n|no|true|false|on|off|null|nan|inf|infinity)\Z|[-+]?\.?(?:inf|nan)\Z|.*[0-9].*[eE:]"
)
_INDENT = "    "


def dump_all(documents: list[dict]) -> str:
    return "---\n".join(_document(doc) for doc in documents)


def _document(doc: dict) -> str:
    if not doc:
        return "{}\n"
    out: list[str] = []
    _mapping(doc, "", out)
    return "".join(out)


def _mapping(node: dict, indent: str, out: list[str]) -> None:
    for key, value in node.items():
        _entry(f"{indent}{_key(key)}:", value, indent, out)


def _entry(head: str, value: Any, indent: str, out: list[str]) -> None:
    """`head` is `key:` or `- `; nested blocks go below, scalars after it."""
    if isinstance(value, dict) and value:
        out.append(head + "\n")
        _mapping(value, indent + _INDENT, out)
    elif isinstance(value, list) and value:
        out.append(head + "\n")
        _sequence(value, indent + _INDENT, out)
    else:
        out.append(f"{head} {_scalar(value, indent + _INDENT)}\n")


def _sequence(node: list, indent: str, out: list[str]) -> None:
    for item in node:
        if isinstance(item, dict) and item:
            first = True
            for key, value in item.items():
                lead = f"{indent}- " if first else f"{indent}  "
                first = False
                _entry(f"{lead}{_key(key)}:", value, indent + "  ", out)
        elif isinstance(item, list) and item:
            out.append(f"{indent}-\n")
            _sequence(item, indent + _INDENT, out)
        else:
            out.append(f"{indent}- {_scalar(item, indent + _INDENT)}\n")


def _scalar(value: Any, indent: str) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is Timestamp:
        return str(value)
    if isinstance(value, str):
        return _string(value, indent)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    if isinstance(value, bytes):
        return "!!binary " + base64.b64encode(value).decode()
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _string(str(value), indent)


def _key(key: Any) -> str:
    text = str(key)
    return text if _SAFE_PLAIN.match(text) and not _AMBIGUOUS.match(text) else json.dumps(text, ensure_ascii=False)


def _string(text: str, indent: str) -> str:
    if _SAFE_PLAIN.match(text) and not _AMBIGUOUS.match(text):
        return text
    if "\n" in text and _literal_ok(text):
        if text.endswith("\n\n"):
            chomp, body = "+", text[:-1]  # keep every trailing newline
        elif text.endswith("\n"):
            chomp, body = "", text[:-1]  # clip: exactly one
        else:
            chomp, body = "-", text  # strip: none
        return f"|{chomp}\n" + "\n".join(f"{indent}{ln}" if ln else "" for ln in body.split("\n"))
    return json.dumps(text, ensure_ascii=False)


def _literal_ok(text: str) -> bool:
    if text[0] in " \n" or "\r" in text or "\t" in text:
        return False
    return all(ln == ln.rstrip(" ") and ln.isprintable() for ln in text.split("\n"))
