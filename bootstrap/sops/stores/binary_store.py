"""Binary: the whole file is the string leaf `data` inside a JSON envelope."""

from __future__ import annotations

from typing import Any

from bootstrap.errors import DecryptError
from bootstrap.sops.stores import json_store
from bootstrap.sops.tree import TreeMap

has_metadata = json_store.has_metadata


def load(data: bytes, name: str) -> tuple[list[TreeMap], Any]:
    branches, metadata = json_store.load(data, name)
    if not any(k == "data" for k, _ in branches[0]):
        raise DecryptError(f"{name}: binary sops file has no 'data' value")
    return branches, metadata


def emit(branches: list[TreeMap]) -> bytes:
    """The raw file content, byte for byte: the first top-level `data` string of the first document.

    Any input format may be written as binary (sops accepts `--input-type json --output-type binary` for
    a binary file stored as JSON); like sops, the output is that one value.
    """
    found = [v for k, v in branches[0] if k == "data"] if branches else []
    if not found:
        raise DecryptError("binary output needs a top-level 'data' value (none found)")
    value = found[0]
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise DecryptError(f"binary output needs a string 'data' value, not a {type(value).__name__}")
    return value.encode("utf-8", "surrogateescape")
