"""Regular expressions with Go's semantics (RE2), as sops evaluates its metadata rules and `.sops.yaml`.

sops is a Go program: `encrypted_regex`, `unencrypted_regex`, the two comment regexes and `.sops.yaml`
`path_regex` are Go `regexp` patterns, which are RE2 syntax (`((?i)secret)` is valid there, while
Python's `re` rejects an inline flag inside a group). The engine is google-re2, the maintained binding of
the C++ RE2 library; no pattern is translated by hand.

Text is matched as UTF-8 bytes, so a key holding undecodable bytes (kept as surrogate escapes) matches
as those bytes, like Go's byte strings.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import re2

from bootstrap.errors import DecryptError

__all__ = ["GoRegex", "InvalidGoRegex", "compile_go"]


class InvalidGoRegex(DecryptError):
    """A pattern RE2 (Go's regexp syntax) refuses; the message names the field."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print the refused pattern to stderr
    options.never_capture = True  # only "does it match" is asked: no submatch bookkeeping
    return options


_OPTIONS = _options()


class GoRegex:
    """A compiled Go/RE2 pattern. `search(text)` is Go's `MatchString`: a match anywhere in `text`."""

    __slots__ = ("pattern", "_search")

    def __init__(self, pattern: str, compiled: "re2._Regexp"):
        self.pattern = pattern
        self._search: Callable = compiled.search

    def search(self, text: str) -> bool:
        return self._search(text.encode("utf-8", "surrogateescape")) is not None

    def __repr__(self) -> str:
        return f"GoRegex({self.pattern!r})"


def compile_go(pattern: str, *, field: str) -> GoRegex:
    """Compile `pattern` as Go's `regexp.Compile` would; `field` names it in the error (e.g.
    `sops metadata encrypted_regex`, `.sops.yaml creation_rules[0].path_regex`).

    Compiled patterns are cached per pattern text, so a run with many files sharing one rule compiles it once.
    """
    if not isinstance(pattern, str):
        raise InvalidGoRegex(f"{field} is not a string")
    compiled = _compile(pattern)
    if compiled is None:
        raise InvalidGoRegex(f"{field} is not a valid regular expression (Go RE2 syntax)")
    return compiled


@lru_cache(maxsize=256)
def _compile(pattern: str) -> GoRegex | None:
    try:
        return GoRegex(pattern, re2.compile(pattern.encode("utf-8", "surrogateescape"), _OPTIONS))
    except re2.error:
        return None
