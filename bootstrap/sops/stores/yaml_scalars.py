"""How go-yaml v3 (sops' YAML library) types a plain scalar: the reader (`yaml_store`) types scalars with it,
and the emitter (`yaml_emit`) asks it whether a string may be written unquoted."""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

from bootstrap.errors import DecryptError
from bootstrap.sops.tree import Timestamp

if TYPE_CHECKING:
    import yaml

_NULLS = frozenset(("~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_SPECIAL_FLOATS = {
    **{s: float("inf") for s in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{s: float("-inf") for s in ("-.inf", "-.Inf", "-.INF")},
    **{s: float("nan") for s in (".nan", ".NaN", ".NAN")},
}
PLAIN_FIRST = frozenset("0123456789+-.~nNtTfF")
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_OCTAL = re.compile(r"[-+]?0[0-7]+\Z")
_OLD_BOOLS = re.compile(r"(?:y|Y|yes|Yes|YES|on|On|ON|n|N|no|No|NO|off|Off|OFF)\Z")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\Z")
_DATETIME = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?(Z|[+-]\d{2}:\d{2})"
    r"| (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?)\Z"
)


def resolve_plain(value: str, name: str, node: yaml.Node | None) -> Any:
    """A plain scalar typed as go-yaml v3's resolver does (ASCII digits only, as Go's strconv)."""
    if value in _NULLS:
        return None
    if value in _BOOLS:
        return _BOOLS[value]
    if value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    first = value[0]
    if first == ".":
        return float(value) if _YAML_FLOAT.match(value) else value
    if first in "+-0123456789" and value.isascii():
        if first.isdigit():
            ts = _timestamp(value)
            if ts is not None:
                return ts
        digits = value.replace("_", "")
        try:
            number = int(digits, 8) if _OCTAL.match(digits) else int(digits, 0)
        except ValueError:
            number = None
        if number is not None:
            if 2**63 <= number < 2**64:
                line = f" at line {node.start_mark.line + 1}" if node is not None else ""
                raise DecryptError(f"{name}: integer out of int64 range{line}")
            if -(2**63) <= number < 2**63:
                return number
            return float(number)
        if _YAML_FLOAT.match(digits):
            return float(digits)
    return value


def plain_is_string(text: str) -> bool:
    """Whether go-yaml v3 reads `text`, written plain, as that string (what its encoder asks before
    writing a string unquoted; it also quotes YAML 1.1 booleans and base-60 numbers)."""
    if not text:
        return False
    if text[0] in PLAIN_FIRST or text == "<<":
        try:
            if type(resolve_plain(text, "", None)) is not str or text == "<<":
                return False
        except DecryptError:
            return False
    return not (_OLD_BOOLS.match(text) or _BASE60.match(text))


def _timestamp(value: str) -> Timestamp | None:
    m = _DATE.match(value)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        return _ts(y, mo, d, 0, 0, 0, None, "Z")
    m = _DATETIME.match(value)
    if not m:
        return None
    g = m.groups()
    if g[3] is not None:
        return _ts(int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]), g[6], g[7])
    return _ts(int(g[0]), int(g[1]), int(g[2]), int(g[8]), int(g[9]), int(g[10]), g[11], "Z")


def _ts(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str | None, zone: str) -> Timestamp | None:
    try:
        datetime.datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None
    fraction = (frac or "")[:10].rstrip("0")
    fraction = "" if fraction == "." else fraction
    zone = "Z" if zone in ("Z", "+00:00", "-00:00") else zone
    return Timestamp(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{fraction}{zone}")
