"""The ordered tree every store loads into, as sops keeps it.

A mapping is a `TreeMap`: a list of `(key, value)` pairs in document order (duplicates kept), where a
comment item is `(Comment, None)`.  A sequence is a plain `list`, whose comment elements are `Comment`.
Leaves are str, int, float, bool, None, bytes or `Timestamp`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class TreeMap(list):
    """An ordered mapping: a list of (key, value) pairs; comment items have a `Comment` key."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line (text without the leading `#`/`;`)."""

    text: str


class Timestamp(str):
    """A YAML timestamp, kept as its RFC 3339 text (never round-tripped through datetime)."""

    __slots__ = ()


def to_plain(node: Any) -> Any:
    """Plain Python data: TreeMap → dict (last duplicate wins), comments dropped."""
    if type(node) is TreeMap:
        return {k: to_plain(v) for k, v in node if type(k) is not Comment}
    if type(node) is list:
        return [to_plain(v) for v in node if type(v) is not Comment]
    return node
