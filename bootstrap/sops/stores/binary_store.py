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
    """The raw file content, byte for byte."""
    value = dict((k, v) for k, v in branches[0] if isinstance(k, str)).get("data")
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise DecryptError("binary output needs a string 'data' value")
    return value.encode("utf-8", "surrogateescape")
