"""Scrubbing: every occurrence of a known plaintext value (and its base64 forms) replaced by `<redacted>`.

One `Scrubber` per run is built empty and handed to the run's report and progress at construction. What it
learns is decided here too, by one rule: a run hides what came out of SOPS decryption and what substitution
built from it, and never text anyone can read in the repository.

- Learned: the plaintext of every value that was `ENC[...]` in a decrypted object (a Secret's `data` value
  also base64-decoded), every value of a decrypted generator input or Secret data document, each string of an
  object that substitution expanded from a secret variable (`${SECRET_DOMAIN/./-}-tls`), and the values of
  Secrets read from the cluster for substitution. A variable is secret when its value was learned.
- Not learned: plaintext Secrets and everything else written in the repository in clear. A value (or one of
  its forms: a line of a multi-line value, its base64) that appears verbatim in any file of the checkout is
  public (`PublicText`): an app named `immich` stays readable even if a decrypted value is also `immich`.
- Values shorter than MIN_LENGTH are never learned.

The render learns as it decrypts (`Learner`, held by `kustomize.secrets.SopsFiles`), so an error raised later
in the render is scrubbed too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from threading import Lock
from typing import Any

from bootstrap import repofiles
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
        self._index: tuple[frozenset[str], dict[str, list[str]], re.Pattern[str] | None] = (self._needles, {}, None)
        self.learn(values)

    def learn(self, values: Iterable[str | bytes], public: Callable[[str], bool] | None = None) -> None:
        """Add values to scrub from now on. A run shares one Scrubber with its report and progress from
        construction, and learns the plaintext as decryption produces it.
        With `public` (text anyone can read in the repository?), a value that is public is not learned,
        nor any form of a value (a line, its base64) that is."""
        needles = set(self._needles)
        for value in values:
            forms = _forms(value)
            if public is not None:
                text = value if isinstance(value, str) else None
                if text is not None and len(text.strip()) >= MIN_LENGTH and public(text.strip()):
                    continue
                forms = {form for form in forms if not public(form)}
            needles.update(forms)
        if needles != self._needles:
            self._needles = frozenset(needles)  # the index is made again when next needed (`_current`)

    def _current(self) -> tuple[dict[str, list[str]], re.Pattern[str] | None]:
        """The index of the values learned so far. A render learns values one decrypted object at a time, so
        the index is compiled when a line is next scrubbed, not at every `learn`; it is swapped in as one
        object (with the values it indexes), so a line scrubbed concurrently sees the old or the new set."""
        needles, by_head, heads = self._index
        if needles is self._needles:
            return by_head, heads
        needles = self._needles
        by_head = {}
        for needle in sorted(needles, key=len, reverse=True):  # longest first: a value inside another still goes
            by_head.setdefault(needle[:HEAD], []).append(needle)
        heads = re.compile(_trie_pattern(by_head)) if by_head else None
        self._index = (needles, by_head, heads)
        return by_head, heads

    def __call__(self, text: str) -> str:
        if not text:
            return text
        by_head, heads = self._current()
        if heads is None:
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


class PublicText:
    """Is this text readable by anyone who can read the repository? Every text file of the checkout
    (`repofiles.walk`: VCS and tool directories aside; SOPS files included, whose encrypted values are
    ciphertext and whose plaintext parts are public), read once, on the first question, and the paths of all
    files (a directory named like a value is as public as a file holding it). Not read, so what
    they hold stays hidden: binary files (a NUL byte in the first 8000, git's test; a short value turns up in
    them by chance), files over `repofiles.MAX_SCAN_BYTES`, and files that would take the total past `limit`."""

    def __init__(self, root: Path, limit: int = 128 * 1024 * 1024):
        self._root = root
        self._limit = limit
        self._text: str | None = None
        self._answers: dict[str, bool] = {}
        self._lock = Lock()

    def _load(self) -> str:
        parts: list[str] = []
        total = 0
        for rel, path in repofiles.walk(self._root):
            parts.append(rel)
            data = repofiles.read_small(path)
            if data is None or b"\0" in data[:8000] or total + len(data) > self._limit:
                continue
            total += len(data)
            parts.append(data.decode("utf-8", errors="surrogateescape"))
        return "\0".join(parts)

    def __call__(self, text: str) -> bool:
        with self._lock:
            if self._text is None:
                self._text = self._load()
            if text not in self._answers:
                self._answers[text] = text in self._text
            return self._answers[text]

    def __repr__(self) -> str:
        return f"PublicText({str(self._root)!r})"

    def __reduce__(self):
        raise TypeError("PublicText holds the plaintext it was asked about and cannot be pickled")


class Learner:
    """What a run must hide, learned as the render produces it: `learn` keeps each value that is long enough
    and not public, and teaches it to the run (`teach(values, public=...)`, `Run.learn_secrets`) at once;
    `knows` tells whether a value was learned (a substitution variable holding it is secret)."""

    __slots__ = ("_teach", "public", "_known", "_lock")

    def __init__(self, teach: Callable[..., None] | None = None, public: Callable[[str], bool] | None = None):
        self._teach = teach
        self.public: Callable[[str], bool] = public or (lambda text: False)
        self._known: set[str] = set()
        self._lock = Lock()

    def learn(self, values: Iterable[str]) -> None:
        with self._lock:
            fresh = []
            for value in values:
                key = value.strip()
                if len(key) < MIN_LENGTH or value in self._known or self.public(key):
                    continue
                fresh.append(value)
                self._known.update((value, key, value.replace("\n", "")))
            if fresh and self._teach is not None:
                self._teach(fresh, public=self.public)

    def knows(self, value: str) -> bool:
        return value in self._known

    def __repr__(self) -> str:
        return f"Learner({len(self._known)} value(s), <redacted>)"

    def __reduce__(self):
        raise TypeError("Learner holds plaintext and cannot be pickled")


def decrypted_values(encrypted: Any, decrypted: Any) -> list[str]:
    """What decryption produced in one object: the plaintext of each value that was `ENC[...]` in
    `encrypted`, at the same place in `decrypted`; a Secret's `data` value also base64-decoded."""
    out: list[str] = []
    secret = isinstance(decrypted, dict) and decrypted.get("kind") == "Secret"

    def visit(enc: Any, dec: Any, top: str | None) -> None:
        if isinstance(enc, dict) and isinstance(dec, dict):
            for key, value in dec.items():
                if key in enc:
                    visit(enc[key], value, key if top is None else top)
        elif isinstance(enc, list) and isinstance(dec, list):
            for enc_item, dec_item in zip(enc, dec):
                visit(enc_item, dec_item, top)
        elif isinstance(enc, str) and enc.startswith("ENC[") and _scalar(dec) is not None:
            out.append(_scalar(dec))
            if secret and top == "data":
                decoded = _b64_text(out[-1])
                if decoded is not None:
                    out.append(decoded)

    visit(encrypted, decrypted, None)
    return out


def document_values(documents: Iterable[Any], rendered: bytes) -> list[str]:
    """A decrypted file's values: every scalar of its documents, plus what `values_in_env` finds in the file
    as rendered (`KEY=value` values and the whole text)."""
    out: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)
        elif _scalar(node) is not None:
            out.append(_scalar(node))

    for document in documents:
        visit(document)
    return out + values_in_env(rendered)


def _scalar(value: Any) -> str | None:
    """A leaf as text: strings and numbers (sops types them); booleans and nulls carry nothing to hide."""
    if isinstance(value, bool) or value is None:
        return None
    return value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else None


def _b64_text(value: str) -> str | None:
    try:
        return b64decode(value).decode("utf-8")  # as Go's StdEncoding: kustomize's line breaks skipped
    except ValueError:
        return None


def values_in_env(plain: bytes) -> list[str]:
    """A decrypted generator input's values worth scrubbing: each `KEY=value`'s value, and the whole text."""
    text = plain.decode("utf-8", errors="replace")
    values = [line.partition("=")[2].strip() for line in text.splitlines() if "=" in line]
    return [v for v in values + [text.strip()] if len(v) >= MIN_LENGTH]
