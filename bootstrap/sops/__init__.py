"""SOPS decryption without the sops binary: age keys, every store, MAC always verified.

Plaintext stays in memory, inside containers that redact themselves.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from bootstrap.errors import DecryptError, UsageError
from bootstrap.redact import REDACTED
from bootstrap.sops import datakey
from bootstrap.sops.cipher import ValueCipher
from bootstrap.sops.mac import new_hasher, verify_mac
from bootstrap.sops.metadata import Metadata, parse_metadata
from bootstrap.sops.objects import Opener, decrypt_object, mac_token
from bootstrap.sops.stores import binary_store, dotenv_store, ini_store, json_store, yaml_store
from bootstrap.sops.tree import TreeMap, to_plain
from bootstrap.sops.walk import Walker

if TYPE_CHECKING:
    from bootstrap.stages.keys import KeyRing

FORMATS = ("yaml", "json", "dotenv", "ini", "binary")
_STORES: dict[str, ModuleType] = {
    "yaml": yaml_store, "json": json_store, "dotenv": dotenv_store, "ini": ini_store, "binary": binary_store,
}
_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv", ".ini": "ini"}

__all__ = [
    "FORMATS", "Decrypted", "Opener", "decrypt", "decrypt_object", "decrypt_path", "detect_format", "file_recipients",
    "is_encrypted", "mac_token", "read_metadata",
]


def detect_format(path: str, input_type: str | None = None) -> str:
    """The store for a file: `input_type` if given, else by suffix as sops does (unknown ⇒ binary)."""
    if input_type:
        if input_type not in FORMATS:
            raise UsageError(f"unknown input type {input_type!r}: expected one of {', '.join(FORMATS)}")
        return input_type
    lowered = str(path).lower()
    for suffix, fmt in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt
    return "binary"


def is_encrypted(data: bytes, fmt: str) -> bool:
    """Cheap test for sops metadata (no parsing)."""
    return _store(fmt).has_metadata(data)


def read_metadata(data: bytes, fmt: str, name: str) -> Metadata:
    """Parse a file and return its validated metadata (no key needed)."""
    _, raw = _store(fmt).load(data, name)
    return parse_metadata(raw, name)


def file_recipients(data: bytes, fmt: str, name: str) -> list[str]:
    """The age recipients of a file, plus `<backend>` for each other master-key type present."""
    meta = read_metadata(data, fmt, name)
    return meta.age_recipients + [f"<{b}>" for b in meta.other_backends]


class Decrypted:
    """A decrypted file. Holds plaintext: repr/str never show it."""

    __slots__ = ("_branches", "_fmt", "name", "metadata", "warnings", "_documents", "_opener")

    def __init__(
        self, branches: list[TreeMap], fmt: str, name: str, metadata: Metadata, warnings: list[str],
        opener: Opener | None = None,
    ):
        self._branches = branches
        self._fmt = fmt
        self.name = name
        self.metadata = metadata
        self.warnings = warnings
        self._documents: list[dict] | None = None
        self._opener = opener

    @property
    def opener(self) -> Opener:
        """The file's unwrapped data key, for `decrypt_object` on objects rendered from this file."""
        if self._opener is None:
            raise DecryptError(f"{self.name}: no opener (not made by sops.decrypt)")
        return self._opener

    @property
    def documents(self) -> list[dict]:
        """Plain Python data, one dict per YAML document (one for other formats), `sops` removed."""
        if self._documents is None:
            self._documents = [to_plain(b) for b in self._branches]
        return self._documents

    def render(self, output_format: str | None = None) -> bytes:
        """What `sops decrypt` prints (same bytes for dotenv/INI/binary, same data for YAML/JSON)."""
        fmt = output_format or self._fmt
        try:
            return _store(fmt).emit(self._branches)
        except DecryptError as err:
            raise DecryptError(f"{self.name}: {err}") from None

    def __repr__(self) -> str:
        return f"Decrypted({self.name!r}, format={self._fmt}, {REDACTED})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("decrypted files cannot be pickled")


def decrypt(data: bytes, keyring: "KeyRing", *, fmt: str, name: str, ignore_mac: bool = False) -> Decrypted:
    """Decrypt a whole SOPS file in memory; the MAC is verified unless `ignore_mac` is explicitly set."""
    store = _store(fmt)
    branches, raw_meta = store.load(data, name)
    meta = parse_metadata(raw_meta, name)
    if fmt == "yaml" and meta.rule.kind.endswith("_comment_regex"):
        branches, _ = yaml_store.load(data, name, with_comments=True)
    key = datakey.recover(meta, keyring.identities, keyring.recipients, name)
    cipher = ValueCipher.for_key(key)
    hasher = new_hasher(meta.mac_only_encrypted)
    walker = Walker(cipher, meta.rule, meta.mac_only_encrypted, name, hasher)
    plain = [walker.document(branch) for branch in branches]
    if not ignore_mac:
        verify_mac(meta, cipher, hasher.hexdigest().upper(), name)
    return Decrypted(plain, fmt, name, meta, walker.warnings, Opener(cipher, meta, name))


def decrypt_path(path: str, keyring: "KeyRing", *, input_type: str | None = None, ignore_mac: bool = False) -> Decrypted:
    """Read and decrypt one file (what `dr-bootstrap decrypt` does)."""
    fmt = detect_format(path, input_type)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise UsageError(f"{path}: cannot read ({err.strerror or type(err).__name__})") from None
    return decrypt(data, keyring, fmt=fmt, name=path, ignore_mac=ignore_mac)


def _store(fmt: str) -> ModuleType:
    try:
        return _STORES[fmt]
    except KeyError:
        raise UsageError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}") from None


