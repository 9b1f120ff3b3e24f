"""AES-256-GCM values: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` with the key path as AAD."""

from __future__ import annotations

import binascii
import re
import sys
from functools import partial
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Go's base64.StdEncoding is strict (alphabet and padding); so are we.
if sys.version_info >= (3, 11):
    _b64decode = partial(binascii.a2b_base64, strict_mode=True)
else:  # pragma: no cover
    import base64

    _b64decode = partial(base64.b64decode, validate=True)

_ENC = re.compile(r"ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")


class NotEncrypted(ValueError):
    """The string is not in sops' ENC[…] format."""


class AuthenticationFailed(ValueError):
    """GCM refused the value: wrong key, wrong path (moved value) or tampered ciphertext."""


def is_enc(value: str) -> bool:
    return value.startswith("ENC[AES256_GCM,") and _ENC.match(value) is not None


def _fields(value: str) -> tuple[str, str, str, str]:
    """(data, iv, tag, type) of an ENC[…] string; a plain split first (base64 has no commas)."""
    if not isinstance(value, str):
        raise NotEncrypted("not a string")
    if value.startswith("ENC[AES256_GCM,data:") and value.endswith("]"):
        parts = value[20:-1].split(",")
        if len(parts) == 4 and parts[1][:3] == "iv:" and parts[2][:4] == "tag:" and parts[3][:5] == "type:":
            fields = (parts[0], parts[1][3:], parts[2][4:], parts[3][5:])
            if all(fields):
                return fields
    m = _ENC.match(value)  # sops' own, more tolerant pattern (e.g. trailing junk after "]")
    if m is None:
        raise NotEncrypted("not in sops' ENC[AES256_GCM,…] format")
    return m.group(1), m.group(2), m.group(3), m.group(4)


@dataclass(frozen=True, slots=True)
class ValueCipher:
    """Opens sops values with one file's data key. `repr` never shows the key."""

    _aead: AESGCM

    @classmethod
    def for_key(cls, data_key: bytes) -> "ValueCipher":
        return cls(AESGCM(data_key))

    def __repr__(self) -> str:
        return "ValueCipher(<data key>)"

    def open(self, value: str, aad: bytes) -> tuple[bytes, str]:
        """Decrypt one ENC[…] string; returns (plaintext bytes, sops type)."""
        data, iv, tag, type_ = _fields(value)
        try:
            nonce = _b64decode(iv)
            sealed = _b64decode(data) + _b64decode(tag)
        except (binascii.Error, ValueError):
            raise NotEncrypted("bad base64 in ENC[…] value") from None
        if not 8 <= len(nonce) <= 128:  # sops writes 32 bytes; AES-GCM here takes 8 to 128
            raise NotEncrypted("IV of an unsupported length in ENC[…] value")
        try:
            return self._aead.decrypt(nonce, sealed, aad), type_
        except InvalidTag:
            raise AuthenticationFailed("authentication failed") from None
        except ValueError:  # IV length outside what GCM accepts
            raise NotEncrypted("invalid IV in ENC[…] value") from None
