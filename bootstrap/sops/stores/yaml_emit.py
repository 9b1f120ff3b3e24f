"""A small YAML emitter for decrypted plain data, in sops' layout (4-space indent, `- ` items).

Faster than PyYAML's Python representer. Scalars are written the way go-yaml v3 (sops' YAML library)
writes them, so any YAML reader, 1.1 or 1.2, reads our output as the same typed data as `sops decrypt`'s:
a string goes unquoted exactly when go-yaml would write it unquoted (it reads back as that string in
go-yaml; where another reader sees e.g. a timestamp in `2024-01-02T03:04:05`, it sees one in sops' output
too), and only when our conservative plain-scalar check allows it; otherwise it is double-quoted (JSON
escapes are valid YAML) or, for multi-line text, a literal block. Floats use Go's `%g` (`1000`, `1e+06`),
the string `<<` (a merge key, or a value) is `!!merge <<`, and text that is not UTF-8 is `!!binary`, all as go-yaml prints them.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

from bootstrap.sops.stores.yaml_scalars import plain_is_string
from bootstrap.sops.tree import Timestamp
from bootstrap.sops.values import go_float_g

_INDENT = "    "
_INDICATORS = frozenset(",[]{}#&*!|>'\"%@`")
_MERGE = "!!merge <<"
# Letter-first text of safe characters: a string to go-yaml unless it is one of these words.
_SIMPLE = re.compile(r"[A-Za-z][A-Za-z0-9_./@+=-]*(?: [A-Za-z0-9_./@+=()-]+)*\Z")
_WORDS = frozenset(
    "true True TRUE false False FALSE null Null NULL "
    "y Y yes Yes YES n N no No NO on On ON off Off OFF".split()
)


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
    t = type(value)
    if t is Timestamp:
        return str(value)
    if t is str:
        return _string(value, indent)
    if t is int:
        return str(value)
    if t is float:
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return go_float_g(value)
    if t is bytes:
        return "!!binary " + base64.b64encode(value).decode()
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _string(str(value), indent)


def _key(key: Any) -> str:
    text = str(key)
    if text == "<<":
        return _MERGE
    return text if _plain_ok(text) else _quoted(text)


def _string(text: str, indent: str) -> str:
    if _plain_ok(text):
        return text
    if text == "<<":  # go-yaml writes the string "<<" as a merge-tagged scalar, as a value too
        return _MERGE
    if "\n" in text and _literal_ok(text):
        if text.endswith("\n\n"):
            chomp, body = "+", text[:-1]  # keep every trailing newline
        elif text.endswith("\n"):
            chomp, body = "", text[:-1]  # clip: exactly one
        else:
            chomp, body = "-", text  # strip: none
        return f"|{chomp}\n" + "\n".join(f"{indent}{ln}" if ln else "" for ln in body.split("\n"))
    return _quoted(text)


def _quoted(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # not UTF-8 (surrogate-escaped bytes): go-yaml writes it as !!binary
        return "!!binary " + base64.b64encode(text.encode("utf-8", "surrogateescape")).decode()
    return json.dumps(text, ensure_ascii=False)


def _plain_ok(text: str) -> bool:
    """Unquoted only if go-yaml would (`plain_is_string`) and the text is a safe block plain scalar."""
    if _SIMPLE.match(text):  # the common case, decided without the resolver: a word-like string
        return text not in _WORDS
    return plain_ok_slow(text)


def plain_ok_slow(text: str) -> bool:
    """`_plain_ok` without its fast path (the tests hold the two to the same answers)."""
    if not text or text[0] in _INDICATORS or text[0] == " " or text[-1] == " " or text[-1] == ":":
        return False
    if text[0] in "-?:" and (len(text) == 1 or text[1] == " "):
        return False
    if text.startswith(("---", "...")) or ": " in text or " #" in text or not text.isprintable():
        return False
    if "\ufeff" in text or "\u2028" in text or "\u2029" in text or "\x85" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return plain_is_string(text)


def _literal_ok(text: str) -> bool:
    if text[0] in " \n" or "\r" in text or "\t" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return all(ln == ln.rstrip(" ") and ln.isprintable() for ln in text.split("\n"))
