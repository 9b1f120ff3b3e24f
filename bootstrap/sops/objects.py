"""Decrypting rendered objects: the `sops`-carrying dicts kustomize prints from a committed SOPS file.

A restore verifies each committed file's MAC as a whole (`sops.decrypt`), then decrypts the *rendered*
copies of its objects: the same `ENC[…]` strings and `sops` stanza, but kustomize may have added or
changed plaintext fields (a namespace, labels). So here every encrypted value is authenticated against
its key path in the rendered object (the AES-GCM additional data), and the MAC is not checked: it covered
the committed file, which was verified already, and kustomize's changes would break it.

The file's data key is unwrapped once (`Decrypted.opener`); an `Opener` is then reused for every
object rendered from that file. `mac_token` maps a rendered object back to its committed file.
"""

from __future__ import annotations

import datetime
from typing import Any

from bootstrap.errors import DecryptError
from bootstrap.redact import REDACTED
from bootstrap.sops.cipher import ValueCipher
from bootstrap.sops.metadata import Metadata, parse_metadata
from bootstrap.sops.tree import TreeMap, to_plain
from bootstrap.sops.walk import Walker

__all__ = ["Opener", "decrypt_object", "mac_token"]


class Opener:
    """One file's unwrapped data key, to open the values of objects rendered from that file.

    Made by `sops.decrypt` (`Decrypted.opener`); never shows the key (repr/str are redacted) and cannot be
    pickled or copied out of the process.
    """

    __slots__ = ("_cipher", "_mac", "_lastmodified", "name")

    def __init__(self, cipher: ValueCipher, metadata: Metadata, name: str):
        self._cipher = cipher
        self._mac = metadata.mac
        self._lastmodified = metadata.mac_aad  # lastmodified, normalised
        self.name = name

    @property
    def mac_token(self) -> str | None:
        """The identity of the file this opener came from (see `mac_token`)."""
        return self._mac or None

    def __repr__(self) -> str:
        return f"Opener({self.name!r}, {REDACTED})"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("a SOPS opener holds a data key and cannot be pickled")


def mac_token(source: Any) -> str | None:
    """A stable identity of the SOPS file an object came from: its encrypted `mac` string.

    `source` is a rendered object (a dict with a `sops` stanza), a `sops` stanza itself, a `Decrypted`, an
    `Opener` or `Metadata`. Every object of one file (all documents of a YAML stream) has the same token;
    a separate encryption of the same content has another (fresh IVs). None when there is no `mac`.
    """
    if isinstance(source, Opener):
        return source.mac_token
    metadata = getattr(source, "metadata", source)
    if isinstance(metadata, Metadata):
        return metadata.mac or None
    if not isinstance(source, dict):
        return None
    stanza = source.get("sops", source)
    mac = stanza.get("mac") if isinstance(stanza, dict) else None
    return mac if isinstance(mac, str) and mac else None


class _NoMac:
    """The MAC accumulator of the rendered-object path: nothing is hashed (see the module docstring)."""

    __slots__ = ()

    def update(self, data: bytes) -> None:
        pass


def decrypt_object(obj: dict, opener: Opener, *, name: str) -> dict:
    """Decrypt one rendered object with its file's opener; returns a new dict without `sops`.

    The encryption rule comes from the object's own `sops` stanza, which must be the file's (same `mac`
    and `lastmodified`), else DecryptError naming `name`. Every encrypted value must authenticate against
    its key path in this object; a failure raises DecryptError naming `name` and the path (never a value).
    Decrypted values are typed as sops types them (`type:int` → int, `type:time` → an RFC 3339 string,
    …); plaintext values are returned as the caller's loader typed them. The MAC is not checked.

    Comments do not exist here, so for files with a comment-regex rule (which decides per comment) a
    value is taken as encrypted exactly when it is an `ENC[…]` string; each such value is still
    authenticated against its path.
    """
    if not isinstance(opener, Opener):
        raise TypeError("decrypt_object needs the Opener of the object's file (Decrypted.opener)")
    if not isinstance(obj, dict) or not isinstance(obj.get("sops"), dict):
        raise DecryptError(f"{name}: not a SOPS-encrypted object (no sops stanza)")
    meta = parse_metadata(_plain_stanza(obj["sops"], name), name)
    if meta.mac != opener._mac or meta.mac_aad != opener._lastmodified:
        raise DecryptError(
            f"{name}: its sops stanza is not the one of {opener.name} (mac or lastmodified differ)",
            hint="the object was rendered from another file, or its file was re-encrypted",
        )
    tree = _tree({k: v for k, v in obj.items() if k != "sops"}, name, "")
    by_shape = meta.rule.kind.endswith("_comment_regex")
    walker = Walker(opener._cipher, meta.rule, True, name, _NoMac(), by_shape=by_shape)
    return to_plain(walker.document(tree))


def _plain_stanza(stanza: dict, name: str) -> dict:
    """The stanza as parse_metadata reads it (a YAML loader may have made `lastmodified` a datetime)."""
    value = stanza.get("lastmodified")
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        stanza = {**stanza, "lastmodified": value.isoformat().replace("+00:00", "Z")}
    return stanza


def _tree(node: Any, name: str, path: str) -> Any:
    """Plain loader output as the walker's tree: string keys only, as sops requires."""
    if isinstance(node, dict):
        out = TreeMap()
        for key, value in node.items():
            if not isinstance(key, str):
                where = repr(path[:-1]) if path else "the top level"
                raise DecryptError(f"{name}: non-string key ({type(key).__name__}) under {where}: sops supports only string keys")
            out.append((key, _tree(value, name, f"{path}{key}:")))
        return out
    if isinstance(node, list):
        return [_tree(v, name, path) for v in node]
    return node
