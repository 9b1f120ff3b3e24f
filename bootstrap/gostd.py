"""Go's standard library where Python's differs, as Flux and the API server run it.

- `b64decode`: encoding/base64 StdEncoding, the one decoder of Secret `data` values. The API server reads
  `data` with encoding/json, which decodes []byte with StdEncoding; so do Flux (postBuild's substituteFrom,
  SOPS in `data`) and yaml.v2 (`!!binary`). It skips every `\\r` and `\\n`, wherever they are (kustomize folds
  a long secretGenerator value's base64 over lines); everything else must be the padded standard alphabet,
  nothing after the padding; non-zero trailing bits are accepted, as Go's non-strict decoder does.
- `json_number`, `float64_numbers`: numbers as they come back from encoding/json into Go's unstructured
  objects and maps.
- `format_float32`: strconv.FormatFloat(f, 'g', -1, 32).
"""

from __future__ import annotations

import binascii
import math
import struct
from decimal import Decimal
from typing import Any

_LINE_BREAKS = str.maketrans("", "", "\r\n")
_INT64 = 2**63
_EXACT = 2**53  # every integer up to here is a float64


def b64decode(value: str | bytes) -> bytes:
    """The bytes `value` encodes; ValueError (binascii.Error) where Go's StdEncoding.DecodeString fails."""
    if isinstance(value, bytes):
        value = value.decode("ascii")  # UnicodeDecodeError is a ValueError: no base64 holds such bytes
    if "\r" in value or "\n" in value:
        value = value.translate(_LINE_BREAKS)
    return binascii.a2b_base64(value, strict_mode=True)


class Uint64(int):
    """An integer yaml.v2 holds as a uint64 (above int64): a float once it is JSON, and no map key."""


def json_number(value: int | float) -> int | float:
    """A Go number (int64, Uint64, float64) after encoding/json wrote it and apimachinery read it back: an
    int when the JSON text is an integer that fits int64, else a float. ValueError for what JSON cannot hold."""
    if isinstance(value, Uint64):
        return float(value)
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            raise ValueError("json: unsupported value: " + ("NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"))
        if value.is_integer() and abs(value) < 1e21:
            # Go writes the float's shortest digits, padded with zeros: an int64 when that text is one
            whole = int(value) if abs(value) < _EXACT else int(Decimal(repr(value)))
            if -_INT64 <= whole < _INT64:
                return whole
    return value


def float64_numbers(data: Any) -> Any:
    """`data` after encoding/json decoded it into a map[string]interface{} (kyaml's RNode.UnmarshalJSON, which
    kustomize-controller puts every substituted and every SOPS-decrypted object through): every number a
    float64, then JSON again. Only integers beyond 2**53 change; `data` itself comes back when it has none."""
    return _float64(data) if _big_int(data) else data


def _big_int(data: Any) -> bool:
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif type(node) is int and not -_EXACT <= node <= _EXACT:
            return True
    return False


def _float64(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _float64(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_float64(item) for item in data]
    if type(data) is int and not -_EXACT <= data <= _EXACT:
        return json_number(float(data))
    return data


def _single(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def format_float32(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32) (sigs.k8s.io/yaml writes a float map key so), with yaml's
    names for infinities and NaN: the shortest digits that read back as the same float32, as %e when the
    exponent is below -4 or from 6 on."""
    if math.isnan(value):
        return ".nan"
    single = _single(value) if abs(value) < 3.5e38 else math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    sign = "-" if math.copysign(1, single) < 0 else ""
    if single == 0:
        return sign + "0"
    for precision in range(9):
        text = f"{abs(single):.{precision}e}"
        if _single(float(text)) == abs(single):
            break
    mantissa, exponent = text.split("e")
    digits, exp = mantissa.replace(".", "").rstrip("0") or "0", int(exponent)
    if exp < -4 or exp >= 6:
        return f"{sign}{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    whole, fraction = digits[:exp + 1].ljust(exp + 1, "0"), digits[exp + 1:]
    return f"{sign}{whole}{'.' + fraction if fraction else ''}"
