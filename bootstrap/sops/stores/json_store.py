"""JSON: one top-level object; key order and duplicate keys kept."""

from __future__ import annotations

import json
import re
from typing import Any

from bootstrap.errors import DecryptError
from bootstrap.sops.tree import TreeMap, to_plain


def has_metadata(data: bytes) -> bool:
    return re.search(rb'"sops"\s*:', data) is not None and re.search(rb'"mac"\s*:', data) is not None


def parse(data: bytes, name: str) -> TreeMap:
    try:
        root = json.loads(data, object_pairs_hook=TreeMap)
    except json.JSONDecodeError as err:
        raise DecryptError(f"{name}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DecryptError(f"{name}: malformed JSON (not valid UTF-8 or too deep)") from None
    if type(root) is not TreeMap:
        raise DecryptError(f"{name}: JSON top level is not an object")
    return root


def load(data: bytes, name: str) -> tuple[list[TreeMap], Any]:
    root = parse(data, name)
    found = [v for k, v in root if k == "sops"]
    if not found:
        raise DecryptError(f"{name}: sops metadata not found")
    root[:] = [(k, v) for k, v in root if k != "sops"]
    return [root], to_plain(found[-1])


def emit(branches: list[TreeMap]) -> bytes:
    """Tab-indented JSON with a trailing newline, like `sops decrypt`."""
    return (json.dumps(to_plain(branches[0]), indent="\t", ensure_ascii=False) + "\n").encode(
        "utf-8", "surrogateescape"
    )
