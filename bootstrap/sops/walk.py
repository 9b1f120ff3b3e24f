"""Walk a loaded tree as sops does: decide per leaf whether it is encrypted, open it, feed the MAC.

Paths are carried as the AAD prefix `a:b:` (list indices are not part of the path). The encryption
rule "any key on the path matches" is carried down as one boolean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from bootstrap.errors import DecryptError
from bootstrap.sops.cipher import AuthenticationFailed, NotEncrypted, ValueCipher, is_enc
from bootstrap.sops.metadata import Rule
from bootstrap.sops.regex import compile_go
from bootstrap.sops.tree import Comment, TreeMap
from bootstrap.sops.values import ValueTypeError, canonical_bytes, parse_typed


def _key_matcher(rule: Rule) -> Callable[[str], bool] | None:
    if rule.kind.endswith("_suffix"):
        suffix = rule.value
        return lambda key: key.endswith(suffix)
    if rule.kind in ("unencrypted_regex", "encrypted_regex"):
        return compile_go(rule.value, field=f"sops metadata {rule.kind}").search
    return None


@dataclass
class Walker:
    """One file's decryption pass. `hasher` accumulates the MAC; `warnings` holds secret-free notes."""

    cipher: ValueCipher
    rule: Rule
    mac_only_encrypted: bool
    name: str
    hasher: Any
    warnings: list[str] = field(default_factory=list)
    by_shape: bool = False  # rendered objects of comment-rule files: encrypted = is an ENC[…] string

    def __post_init__(self) -> None:
        self._match = _key_matcher(self.rule)
        self._positive = self.rule.kind.startswith("encrypted_")  # encrypted only where the rule matches
        self._comment_re = None if self._match else compile_go(self.rule.value, field=f"sops metadata {self.rule.kind}")
        self._seen: dict[str, bool] = {}

    # -- structure ---------------------------------------------------------------------------
    def document(self, branch: TreeMap) -> TreeMap:
        return self._map(branch, "", False, [] if self._comment_re else None)

    def _map(self, node: TreeMap, prefix: str, matched: bool, stack: list | None) -> TreeMap:
        out = TreeMap()
        append = out.append
        level: list[str] = []
        if stack is not None:
            stack = stack + [level]
        for key, value in node:
            if type(key) is Comment:
                if stack is not None:
                    level.append(key.text)
                append((self._comment(key, prefix, matched, stack), None))
                continue
            sub = matched
            if self._match is not None and not matched:
                hit = self._seen.get(key)
                if hit is None:
                    hit = self._seen[key] = self._match(key)
                sub = hit
            append((key, self._value(value, f"{prefix}{key}:", sub, stack)))
            if stack is not None:
                level.clear()
        return out

    def _list(self, node: list, prefix: str, matched: bool, stack: list | None) -> list:
        out = []
        level: list[str] = []
        if stack is not None:
            stack = stack + [level]
        for value in node:
            is_comment = type(value) is Comment
            if is_comment and stack is not None:
                level.append(value.text)
            out.append(self._value(value, prefix, matched, stack))
            if not is_comment and stack is not None:
                level.clear()
        return out

    def _value(self, value: Any, prefix: str, matched: bool, stack: list | None) -> Any:
        t = type(value)
        if t is TreeMap:
            return self._map(value, prefix, matched, stack)
        if t is list:
            return self._list(value, prefix, matched, stack)
        if value is None:
            return None
        if t is Comment:
            return self._comment(value, prefix, matched, stack)
        if self.by_shape:
            return self._leaf(value, prefix, t is str and is_enc(value))
        return self._leaf(value, prefix, self._encrypted(matched, stack, False))

    # -- leaves ------------------------------------------------------------------------------
    def _encrypted(self, matched: bool, stack: list | None, is_comment: bool) -> bool:
        if stack is None:
            return matched if self._positive else not matched
        search = self._comment_re.search  # type: ignore[union-attr]
        if not self._positive:
            return not any(search(c) for level in stack for c in level)
        last = len(stack) - 1
        for i, level in enumerate(stack):
            for j, c in enumerate(level):
                if is_comment and i == last and j == len(level) - 1:
                    continue
                if search(c):
                    return True
        return False

    def _leaf(self, value: Any, prefix: str, encrypted: bool) -> Any:
        if not encrypted:
            if not self.mac_only_encrypted:
                self.hasher.update(canonical_bytes(value))
            return value
        if type(value) is not str:
            raise DecryptError(f"{self.name}: value at {_show(prefix)} should be encrypted but is a {type(value).__name__}")
        if not value:
            return value
        try:
            raw, type_ = self.cipher.open(value, prefix.encode("utf-8", "surrogateescape"))
            plain = parse_typed(raw, type_)
        except NotEncrypted:
            raise DecryptError(f"{self.name}: value at {_show(prefix)} should be encrypted but is not in sops format") from None
        except AuthenticationFailed:
            raise DecryptError(
                f"{self.name}: value at {_show(prefix)} failed authentication",
                hint="it was edited, moved from another key, or copied from another file",
            ) from None
        except (ValueTypeError, UnicodeDecodeError):
            raise DecryptError(f"{self.name}: value at {_show(prefix)} does not parse as its declared type") from None
        if type_ == "str":
            self.hasher.update(raw)
        elif type_ != "comment":
            self.hasher.update(canonical_bytes(plain))
        return plain

    def _comment(self, comment: Comment, prefix: str, matched: bool, stack: list | None) -> Comment:
        if not self._encrypted(matched, stack, True) or not comment.text:
            return comment
        try:
            raw, type_ = self.cipher.open(comment.text, (prefix or ":").encode("utf-8", "surrogateescape"))
        except (NotEncrypted, AuthenticationFailed):
            self.warnings.append(f"{self.name}: a comment under {_show(prefix)} is not encrypted; kept as is")
            return comment
        return Comment(raw.decode("utf-8", "surrogateescape"))


def _show(prefix: str) -> str:
    """A key path for messages: quoted, with newlines and odd characters escaped (one line always)."""
    return repr(prefix[:-1]) if prefix else "the top level"
