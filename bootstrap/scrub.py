"""Scrubbing: every occurrence of a known plaintext value (and its base64 forms) replaced by `<redacted>`.

One `Scrubber` per run is built empty and handed to the run's report and progress at construction; the
pipeline teaches it the decrypted values (`learn`) once the render has produced them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bootstrap.gostd import b64decode
from bootstrap.redact import REDACTED

# Values shorter than this are not scrubbed: "on", "1", "yes" would mangle every message they occur in,
# and values that short carry no secret worth hiding.  Lines of multi-line values (PEM blocks,
# config files) are scrubbed on their own only from LINE_MIN_LENGTH on, for the same reason.
MIN_LENGTH = 4
LINE_MIN_LENGTH = 8
HEAD = MIN_LENGTH  # the Scrubber indexes values by this many leading characters (no value is shorter)



class Scrubber:
    """Replaces every occurrence of known plaintext values (and their base64 forms) with `<redacted>`.

    Scrubbing runs on every progress line and every report string, so it must cost next to nothing when
    there is nothing to find: values are indexed by their first HEAD characters, one regex over those
    heads (a trie, so the regex engine branches instead of trying each value in turn) finds candidate
    positions, and only there are the values compared.  Leftmost match wins, and at one position the
    longest value, as with a plain alternation.
    """

    __slots__ = ("_needles", "_index")

    def __init__(self, values: Iterable[str | bytes] = ()):
        self._needles: frozenset[str] = frozenset()
        self._index: tuple[dict[str, list[str]], re.Pattern[str] | None] = ({}, None)
        self.learn(values)

    def learn(self, values: Iterable[str | bytes]) -> None:
        """Add values to scrub from now on. A run shares one Scrubber with its report and progress from
        construction, and learns the plaintext once decryption has produced it; the index is swapped in
        as one object, so a line scrubbed concurrently sees the old or the new set, never half of one."""
        needles = set(self._needles)
        for value in values:
            needles.update(_forms(value))
        if needles == self._needles:
            return
        by_head: dict[str, list[str]] = {}
        for needle in sorted(needles, key=len, reverse=True):  # longest first: a value inside another still goes
            by_head.setdefault(needle[:HEAD], []).append(needle)
        self._needles = frozenset(needles)
        self._index = (by_head, re.compile(_trie_pattern(by_head)) if by_head else None)

    def __call__(self, text: str) -> str:
        by_head, heads = self._index
        if heads is None or not text:
            return text
        found = heads.search(text)
        if found is None:
            return text
        parts: list[str] = []
        done = 0  # text[:done] is in `parts` already
        while found is not None:
            start = found.start()
            for needle in by_head[found.group()]:
                if text.startswith(needle, start):
                    parts += (text[done:start], REDACTED)
                    done = start + len(needle)
                    break
            found = heads.search(text, max(done, start + 1))
        parts.append(text[done:])
        return "".join(parts)

    def __repr__(self) -> str:
        return "Scrubber(<redacted>)"

    def __reduce__(self):
        raise TypeError("Scrubber holds plaintext and cannot be pickled")


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching exactly `words` (all HEAD long), written as a trie: `ab(?:c|d)` for abc, abd."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})

    def emit(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items())]
        if len(branches) <= 1:
            return "".join(branches)
        return "(?:" + "|".join(branches) + ")"

    return emit(trie)


def _forms(value: str | bytes) -> set[str]:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    forms: set[str] = set()
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and len(text) >= MIN_LENGTH:
        forms.add(text)
        stripped = text.strip()
        if len(stripped) >= MIN_LENGTH:
            forms.add(stripped)
        if "\n" in stripped:
            forms.update(line.strip() for line in stripped.splitlines() if len(line.strip()) >= LINE_MIN_LENGTH)
    if len(raw) >= MIN_LENGTH:
        forms.add(base64.b64encode(raw).decode())
        forms.add(base64.urlsafe_b64encode(raw).decode())
    return forms


# --- what to learn: the one reading of plaintext values ------------------------------------------------------


def values_in_secret(body: Mapping[str, Any]) -> Iterator[str]:
    """A Secret's plaintext values: `stringData` as written, `data` as written and decoded."""
    for field_name in ("stringData", "data"):
        values = body.get(field_name)
        for value in (values or {}).values() if isinstance(values, Mapping) else ():
            if not isinstance(value, str):
                continue
            yield value
            if field_name == "data":
                try:
                    yield b64decode(value).decode("utf-8")
                except ValueError:  # not base64, or not text: the raw value is learned already
                    pass


def values_in_env(plain: bytes) -> list[str]:
    """A decrypted generator input's values worth scrubbing: each `KEY=value`'s value, and the whole text."""
    text = plain.decode("utf-8", errors="replace")
    values = [line.partition("=")[2].strip() for line in text.splitlines() if "=" in line]
    return [v for v in values + [text.strip()] if len(v) >= 4]
