"""Recover a file's 32-byte data key from its age stanzas (one unwrap per file), Shamir across groups."""

from __future__ import annotations

import pyrage

from bootstrap.errors import DecryptError, KeyError_
from bootstrap.sops import shamir
from bootstrap.sops.metadata import KeyGroup, Metadata

_SUPPORTED_PREFIXES = ("ssh-ed25519 ", "ssh-rsa ")


def recipient_id(recipient: str) -> str:
    """Comparable form of a recipient: `age1…` as is, SSH lines without their comment."""
    parts = recipient.split()
    return " ".join(parts[:2]) if len(parts) > 1 else recipient.strip()


def is_supported(recipient: str) -> bool:
    r = recipient.strip()
    if r.startswith(_SUPPORTED_PREFIXES):
        return True
    return r.startswith("age1") and not r.startswith("age1pq1") and r.rfind("1") == 3


def recover(meta: Metadata, identities: tuple, recipients: tuple[str, ...], name: str) -> bytes:
    """The data key, or a one-line error naming the file's recipients and ours."""
    if not any(group.age for group in meta.key_groups):
        backends = ", ".join(meta.other_backends) or "none"
        raise DecryptError(
            f"{name}: no age recipients (master keys: {backends}); dr-bootstrap decrypts age-encrypted files only"
        )
    ours = {recipient_id(r) for r in recipients}
    pieces: list[bytes] = []
    corrupt: list[str] = []
    for group in meta.key_groups:
        piece = _open_group(group, identities, ours, corrupt)
        if piece is not None:
            pieces.append(piece)
    if len(meta.key_groups) == 1:
        if not pieces:
            _no_match(meta, recipients, corrupt, name)
        key = pieces[0]
    else:
        if len(pieces) < meta.shamir_threshold:
            if not pieces:
                _no_match(meta, recipients, corrupt, name)
            raise KeyError_(
                f"{name}: the key opens {len(pieces)} of {len(meta.key_groups)} key groups; "
                f"shamir_threshold needs {meta.shamir_threshold}"
            )
        try:
            key = shamir.combine(pieces)
        except ValueError as err:
            raise DecryptError(f"{name}: key group shares do not combine: {err}") from None
    if len(key) != 32:
        raise DecryptError(f"{name}: the recovered data key has {len(key)} bytes, expected 32")
    return key


def _open_group(group: KeyGroup, identities: tuple, ours: set[str], corrupt: list[str]) -> bytes | None:
    # Stanzas addressed to one of our recipients first: usually the only unwrap needed.
    stanzas = sorted(group.age, key=lambda s: recipient_id(s.recipient) not in ours)
    for stanza in stanzas:
        mine = recipient_id(stanza.recipient) in ours
        if not mine and not is_supported(stanza.recipient):
            continue
        try:
            return pyrage.decrypt(stanza.enc.encode(), list(identities))
        except Exception:  # pyrage raises DecryptError or ValueError for malformed input
            if mine:
                corrupt.append(stanza.recipient)
    return None


def _shown(recipient: str) -> str:
    """A recipient from the file as a one-line message can show it: printable and bounded, else abbreviated."""
    text = recipient.strip()
    return text if len(text) <= 1024 and text.isprintable() else repr(text[:40]) + "…"


def _no_match(meta: Metadata, recipients: tuple[str, ...], corrupt: list[str], name: str) -> None:
    if corrupt:
        raise DecryptError(
            f"{name}: the age stanza for {', '.join(sorted({_shown(r) for r in corrupt}))} does not open "
            "(corrupt or truncated armor?)"
        )
    file_recipients = [_shown(r) for r in meta.age_recipients]
    unsupported = [_shown(r) for r in meta.age_recipients if not is_supported(r)]
    extra = f"; unsupported recipient type(s): {', '.join(unsupported)}" if unsupported else ""
    others = f"; other master keys: {', '.join(meta.other_backends)}" if meta.other_backends else ""
    raise KeyError_(
        f"{name}: no identity matches: the file is encrypted for {', '.join(file_recipients)}{others}{extra}; "
        f"the key's recipient(s): {', '.join(recipients) or 'none'}"
    )
