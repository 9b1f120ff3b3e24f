"""Containers for plaintext that refuse to show it.

Anything holding decrypted data wraps it in one of these, so that a stray `print`, log line, f-string
or exception never shows a value.  The plaintext is reachable only through explicit accessors.
"""

from __future__ import annotations

from typing import Any

REDACTED = "<redacted>"


class Sensitive:
    """A value (bytes, str or a decoded document) that redacts itself everywhere it could leak."""

    __slots__ = ("_value",)

    def __init__(self, value: Any):
        self._value = value

    def reveal(self) -> Any:
        """The plaintext. Call only where it is handed to the cipher, the API client or stdout."""
        return self._value

    def __repr__(self) -> str:
        return f"Sensitive({REDACTED})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensitive) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Sensitive", id(self)))

    def __reduce__(self):  # never pickled, never copied to disk by accident
        raise TypeError("Sensitive values cannot be pickled")
