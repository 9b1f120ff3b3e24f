"""The file MAC: SHA-512 over the leaves' canonical bytes, stored encrypted with `lastmodified` as AAD."""

from __future__ import annotations

import hashlib
import hmac

from bootstrap.errors import DecryptError
from bootstrap.sops.cipher import AuthenticationFailed, NotEncrypted, ValueCipher
from bootstrap.sops.metadata import Metadata

# SHA-256("sops"): prepended when only encrypted values are MAC'ed, so both modes never collide.
MAC_ONLY_ENCRYPTED_SALT = hashlib.sha256(b"sops").digest()

class MacMismatchError(DecryptError):
    """The values decrypt but the file MAC does not verify."""


EDIT_HINT = "was it edited outside sops? re-encrypt it with sops, or decrypt with --ignore-mac to inspect"


def new_hasher(mac_only_encrypted: bool) -> "hashlib._Hash":
    h = hashlib.sha512()
    if mac_only_encrypted:
        h.update(MAC_ONLY_ENCRYPTED_SALT)
    return h


def verify_mac(meta: Metadata, cipher: ValueCipher, computed_hex: str, name: str) -> None:
    """Compare the stored MAC with the computed digest (upper-case hex); raise DecryptError on mismatch."""
    if not meta.mac:
        raise MacMismatchError(f"{name}: MAC mismatch: the file has no MAC", hint=EDIT_HINT)
    try:
        raw, _ = cipher.open(meta.mac, meta.mac_aad)
    except NotEncrypted:
        raise DecryptError(f"{name}: sops metadata mac is not an encrypted value") from None
    except AuthenticationFailed:
        raise MacMismatchError(
            f"{name}: MAC mismatch: the stored MAC does not open with this file's data key and lastmodified",
            hint=EDIT_HINT,
        ) from None
    if not hmac.compare_digest(raw, computed_hex.encode()):
        raise MacMismatchError(f"{name}: MAC mismatch: the content differs from what sops encrypted", hint=EDIT_HINT)
