"""Typed plaintext: sops' value types, their parsing and their canonical bytes (Go `ToBytes`)."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from bootstrap.sops.tree import Comment, Timestamp

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_BOOLS = {
    "1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
    "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False,
}
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z"
)


class ValueTypeError(ValueError):
    """A decrypted plaintext does not parse as its declared type (message never holds the value)."""


def _digits(x: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of |x| (> 0) and the decimal point's position in them."""
    _, digits, exponent = Decimal(repr(abs(x))).as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)
    return text.rstrip("0"), point


def _special(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    return None


def _fixed(sign: str, digits: str, point: int) -> str:
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _exponent(sign: str, digits: str, point: int) -> str:
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    exp = point - 1
    return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def go_float(x: float) -> str:
    """Go's shortest positional rendering of a float64 (`strconv.FormatFloat(x, 'f', -1, 64)`): the MAC bytes."""
    special = _special(x)
    if special is not None:
        return special
    digits, point = _digits(x)
    return _fixed("-" if x < 0 else "", digits, point)


def go_float_g(x: float) -> str:
    """`strconv.FormatFloat(x, 'g', -1, 64)`: what go-yaml prints (`1000`, `1e+06`, `1.5e-07`)."""
    special = _special(x)
    if special is not None:
        return special
    digits, point = _digits(x)
    sign = "-" if x < 0 else ""
    exp = point - 1
    return _exponent(sign, digits, point) if exp < -4 or exp >= 6 else _fixed(sign, digits, point)


def go_float_json(x: float) -> str:
    """encoding/json's float64 (ES6 style): positional for 1e-6 <= |x| < 1e21, else `1e+21`, `1.5e-7`."""
    special = _special(x)
    if special is not None:
        if special in ("-0", "0"):
            return special
        raise ValueTypeError(f"JSON has no {special}")
    digits, point = _digits(x)
    sign = "-" if x < 0 else ""
    if 1e-6 <= abs(x) < 1e21:
        return _fixed(sign, digits, point)
    text = _exponent(sign, digits, point)
    if text[-4:-1] == "e-0":
        text = text[:-2] + text[-1]
    return text


def parse_typed(raw: bytes, type_: str) -> object:
    """Turn decrypted bytes into a value of the sops `type`."""
    if type_ == "str":
        return raw.decode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "strict") if type_ != "bytes" else ""
    if type_ == "int":
        if not _INT.match(text) or not -(2**63) <= int(text) < 2**63:
            raise ValueTypeError("not a base-10 int64")
        return int(text)
    if type_ == "float":
        return _parse_go_float(text)
    if type_ == "bool":
        try:
            return _BOOLS[text]
        except KeyError:
            raise ValueTypeError("not a boolean") from None
    if type_ == "comment":
        return Comment(raw.decode("utf-8", "surrogateescape"))
    if type_ == "time":
        return Timestamp(rfc3339(text, nanos=True))
    if type_ == "bytes":
        return bytes(raw)
    raise ValueTypeError(f"unknown value type {type_!r}")


def _parse_go_float(text: str) -> float:
    lowered = text.lstrip("+-").lower()
    if lowered in ("inf", "infinity", "nan"):
        return float(text)
    if not _FLOAT.match(text):
        raise ValueTypeError("not a float")
    return float(text)


def rfc3339(text: str, *, nanos: bool) -> str:
    """Re-render an RFC 3339 time as Go does: `Z` for zero offset; fraction trimmed or dropped."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueTypeError("not an RFC 3339 time")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31 and int(h) < 24 and int(mi) < 60 and int(s) < 61):
        raise ValueTypeError("not an RFC 3339 time")
    zone = "Z" if zone in ("Z", "z", "+00:00", "-00:00") else zone
    fraction = ""
    if nanos and frac:
        fraction = frac[:10].rstrip("0")
        fraction = "" if fraction == "." else fraction
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}{fraction}{zone}"


def canonical_bytes(value: object) -> bytes:
    """The bytes sops feeds the MAC for a (decrypted or plain) leaf."""
    t = type(value)
    if t is str or t is Timestamp:
        return value.encode("utf-8", "surrogateescape")  # type: ignore[union-attr]
    if t is bool:
        return b"True" if value else b"False"
    if t is int:
        return str(value).encode()
    if t is float:
        return go_float(value).encode()  # type: ignore[arg-type]
    if t is bytes:
        return value  # type: ignore[return-value]
    raise ValueTypeError(f"cannot hash a value of type {t.__name__}")
