"""dotenv: `KEY=value` lines, `#` comments; no quoting, no trimming; metadata as `sops_*` lines."""

from __future__ import annotations

from typing import Any

from bootstrap.errors import DecryptError
from bootstrap.sops.metadata import unflatten
from bootstrap.sops.tree import Comment, Timestamp, TreeMap
from bootstrap.sops.values import go_float


def has_metadata(data: bytes) -> bool:
    return b"sops_mac=" in data and b"sops_lastmodified=" in data


def parse(data: bytes, name: str) -> TreeMap:
    branch = TreeMap()
    for number, raw in enumerate(data.split(b"\n"), 1):
        if raw.endswith(b"\r"):  # a file git converted to CRLF: restore the bytes sops wrote
            raw = raw[:-1]
        if not raw:
            continue
        line = raw.decode("utf-8", "surrogateescape")
        if line[0] == "#":
            branch.append((Comment(line[1:]), None))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise DecryptError(f"{name}: malformed dotenv at line {number}: no '='")
        branch.append((key, value.replace("\\n", "\n")))
    return branch


def load(data: bytes, name: str) -> tuple[list[TreeMap], Any]:
    branch = parse(data, name)
    flat = {k[5:]: v for k, v in branch if type(k) is str and k.startswith("sops_")}
    if not flat:
        raise DecryptError(f"{name}: sops metadata not found")
    branch[:] = [(k, v) for k, v in branch if not (type(k) is str and k.startswith("sops_"))]
    return [branch], unflatten(flat, name)


def value_text(value: Any) -> str:
    """A leaf as text, the way sops' stores stringify values."""
    if isinstance(value, (str, Timestamp)):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if value is None:
        return ""
    return str(value)


def emit(branches: list[TreeMap]) -> bytes:
    out = []
    for key, value in branches[0]:
        if type(key) is Comment:
            out.append(f"#{key.text}\n")
        elif isinstance(value, (TreeMap, list)):
            raise DecryptError(f"cannot write the nested value of '{key}' as dotenv")
        else:
            out.append(f"{key}={value_text(value).replace(chr(10), chr(92) + 'n')}\n")
    return "".join(out).encode("utf-8", "surrogateescape")
