"""The operators of fluxcd/pkg/envsubst v1.7.1, on bytes, with the Go original's results.

Each takes the variable's value and the evaluated arguments (all UTF-8 bytes, possibly invalid UTF-8,
since offsets are byte offsets) and returns bytes.  Behaviour worth knowing (all checked against Go):

- The default operators (`=` `:=` `:-` `:?` `:+`) all do one thing: the value when it is not empty, else the
  arguments joined.  `:+` does not give the alternative for a set value and `:?` raises nothing.
- `${#V}` is the length in bytes; `:off:len` counts bytes (and can cut a character in two); an offset or
  length that is not a Go integer leaves the value as it is.
- `#` `##` `%` `%%` match a glob (see `glob_match`) against byte prefixes of the value, never the empty
  one; the `%` forms reverse value and pattern rune by rune and trim a prefix.
- The replace operators take their pattern literally, not as a glob.
- Case mapping is Go's simple per-rune mapping (no `ß` -> `SS`); bytes that are not UTF-8 become U+FFFD.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from bootstrap.engines.flux.envsubst_parse import rune_at
from bootstrap.engines.flux.envsubst_tables import CASE_RANGES, UPPER_LOWER

INT64_MAX = 2**63 - 1


class BadPattern(Exception):
    """The glob is malformed where the matcher looked (Go's path.ErrBadPattern)."""


class SliceOverflow(Exception):
    """`:off:len` with off + len past the int64 range: the Go original panics."""


def _default(value: bytes, args: list) -> bytes:
    return value if value or not args else b"".join(args)


# --- substrings -------------------------------------------------------------------------------------------

_GO_INT = re.compile(rb"[+-]?[0-9]+")


def _go_int(text: bytes) -> int | None:
    """strconv.Atoi on a 64-bit platform: an optional sign and ASCII digits, within int64."""
    if not _GO_INT.fullmatch(text):
        return None
    n = int(text)
    return n if -INT64_MAX - 1 <= n <= INT64_MAX else None


def _substring(value: bytes, args: list) -> bytes:
    size = len(value)
    start = _go_int(args[0])
    if start is None:
        return value
    if start < 0:
        start = max(size + start, 0)
    if len(args) == 1:
        return value[start:]
    length = _go_int(args[1])
    if length is None:
        return value
    if length < 0:  # counts back from the end
        end = size + length
        return b"" if end < start else value[start:end]
    if start + length > INT64_MAX:
        raise SliceOverflow
    return value[start : start + length]


# --- replacing (literal patterns) --------------------------------------------------------------------------


def _runes(value: bytes) -> list[bytes]:
    """The value cut into Go runes: valid sequences, and single bytes for the rest."""
    return [c.encode("utf-8", "surrogateescape") for c in value.decode("utf-8", "surrogateescape")]


def _replace(value: bytes, old: bytes, new: bytes, count: int) -> bytes:
    if old:
        return value.replace(old, new, count)
    if count == 1:
        return new + value
    return new.join([b"", *_runes(value), b""])  # an empty pattern matches around every rune


def _replace_first(value: bytes, args: list) -> bytes:
    return _replace(value, args[0], args[1] if len(args) > 1 else b"", 1)


def _replace_all(value: bytes, args: list) -> bytes:
    return _replace(value, args[0], args[1] if len(args) > 1 else b"", -1)


def _replace_prefix(value: bytes, args: list) -> bytes:
    if len(args) != 2 or not value.startswith(args[0]):
        return value  # without a replacement `/#` changes nothing (unlike `/`)
    return args[1] + value[len(args[0]) :]


def _replace_suffix(value: bytes, args: list) -> bytes:
    if len(args) != 2 or not value.endswith(args[0]):
        return value
    return value[: len(value) - len(args[0])] + args[1]


# --- case ---------------------------------------------------------------------------------------------------

_CASE_LO = CASE_RANGES[0::4]
_CASE_HI = CASE_RANGES[1::4]
_CASE_DELTA = (CASE_RANGES[2::4], CASE_RANGES[3::4])  # (to upper, to lower)
_NOT_UTF8 = {b: 0xFFFD for b in range(0xDC80, 0xDD00)}  # surrogateescape's stand-ins for stray bytes


def _map_rune(r: int, lower: bool) -> int:
    i = bisect_right(_CASE_LO, r) - 1
    if i < 0 or r > _CASE_HI[i]:
        return r
    delta = _CASE_DELTA[lower][i]
    if delta == UPPER_LOWER:  # alternating pairs from lo: even offsets are upper case, odd lower
        lo = _CASE_LO[i]
        return lo + (((r - lo) & ~1) | lower)
    return r + delta


def _map_case(value: bytes, lower: bool) -> bytes:
    if value.isascii():
        return value.lower() if lower else value.upper()
    text = value.decode("utf-8", "surrogateescape").translate(_NOT_UTF8)
    return "".join(chr(_map_rune(ord(c), lower)) for c in text).encode("utf-8")


def _map_first(value: bytes, lower: bool) -> bytes:
    if not value:
        return value
    r, width = rune_at(value, 0)
    return chr(_map_rune(r, lower)).encode("utf-8") + value[width:]


# --- globs and trimming ---------------------------------------------------------------------------------------


def _next_chunk(pattern: bytes, p: int) -> tuple[bool, int, int]:
    """From p: whether stars come first, and the bounds of the star-free chunk after them."""
    n = len(pattern)
    star = False
    while p < n and pattern[p] == 0x2A:
        p += 1
        star = True
    start, in_class = p, False
    while p < n:
        c = pattern[p]
        if c == 0x5C:  # a backslash protects the next byte, if any
            p += 1 if p + 1 < n else 0
        elif c == 0x5B:
            in_class = True
        elif c == 0x5D:
            in_class = False
        elif c == 0x2A and not in_class:
            break
        p += 1
    return star, start, p


def _class_rune(chunk: bytes, c: int) -> tuple[int, int]:
    """A possibly escaped rune inside [...] at c, and the offset after it."""
    n = len(chunk)
    if c >= n or chunk[c] in (0x2D, 0x5D):
        raise BadPattern
    if chunk[c] == 0x5C:
        c += 1
        if c >= n:
            raise BadPattern
    r, width = rune_at(chunk, c)
    if (r == 0xFFFD and width == 1) or c + width >= n:
        raise BadPattern
    return r, c + width


def _match_chunk(chunk: bytes, name: bytes, i: int) -> int | None:
    """Where name continues after chunk matched it at i, or None.  Malformed parts of the chunk raise
    BadPattern only when reached: a mismatch or the end of name earlier returns None."""
    c, n, size = 0, len(chunk), len(name)
    while c < n:
        if i >= size:
            return None
        op = chunk[c]
        if op == 0x5B:  # [class]
            r, width = rune_at(name, i)
            i += width
            c += 1
            negated = c < n and chunk[c] == 0x5E
            c += negated
            hit, ranges = False, 0
            while not (c < n and chunk[c] == 0x5D and ranges):
                lo, c = _class_rune(chunk, c)
                hi = lo
                if chunk[c] == 0x2D:
                    hi, c = _class_rune(chunk, c + 1)
                hit = hit or lo <= r <= hi
                ranges += 1
            c += 1
            if hit == negated:
                return None
        elif op == 0x3F:  # ?
            i += rune_at(name, i)[1]
            c += 1
        else:
            if op == 0x5C:
                c += 1
                if c >= n:
                    raise BadPattern
            if chunk[c] != name[i]:
                return None
            i += 1
            c += 1
    return i


_GLOB_SPECIAL = re.compile(rb"[\[?\\]")


def compile_glob(pattern: bytes) -> tuple:
    """The pattern cut into (star, chunk, chunk is plain bytes) triples, for `matches`."""
    chunks, p = [], 0
    while p < len(pattern):
        star, start, p = _next_chunk(pattern, p)
        chunk = pattern[start:p]
        chunks.append((star, chunk, _GLOB_SPECIAL.search(chunk) is None))
    return tuple(chunks)


def matches(chunks: tuple, name: bytes) -> bool:
    """Whether a compiled glob matches all of name; raises BadPattern (see glob_match)."""
    i, size, final = 0, len(name), len(chunks) - 1
    for k, (star, chunk, plain) in enumerate(chunks):
        if star and not chunk:
            return True
        last = k == final
        if plain:  # bytes only: no errors, and the leftmost fit is a search
            if name.startswith(chunk, i) and (not last or i + len(chunk) == size):
                i += len(chunk)
                continue
            if not star:
                return False
            at = size - len(chunk) if last else name.find(chunk, i + 1)
            if at < i + 1 or not name.startswith(chunk, at):
                return False
            i = at + len(chunk)
            continue
        rest = _match_chunk(chunk, name, i)
        if rest is not None and (rest == size or not last):
            i = rest
            continue
        if not star:
            return False
        for skip in range(i + 1, size + 1):
            rest = _match_chunk(chunk, name, skip)
            if rest is not None and not (last and rest < size):
                i = rest
                break
        else:
            return False
    return i == size


def glob_match(pattern: bytes, name: bytes) -> bool:
    """The glob matcher of fluxcd/pkg/envsubst/path: Go's old path.Match except that `*` and `?` also match
    `/` and a trailing `*` matches whatever is left.  A star tries the leftmost place where its chunk fits
    (any byte offset, not only rune starts); the last chunk must also end the name.  Raises BadPattern."""
    return matches(compile_glob(pattern), name)


def _reverse(value: bytes) -> bytes:
    if value.isascii():
        return value[::-1]
    return value.decode("utf-8", "surrogateescape").translate(_NOT_UTF8)[::-1].encode("utf-8")


def _trim_shortest(value: bytes, pattern: bytes) -> bytes:
    found, glob = 0, compile_glob(pattern)
    for end in range(len(value), 0, -1):  # every prefix is tried: a malformed pattern anywhere wins
        try:
            if matches(glob, value[:end]):
                found = end
        except BadPattern:
            return value
    return value[found:]


def _trim_longest(value: bytes, pattern: bytes) -> bytes:
    glob = compile_glob(pattern)
    for end in range(len(value), 0, -1):
        try:
            if matches(glob, value[:end]):
                return value[end:]
        except BadPattern:
            return value
    return value


def _length_or_trim(value: bytes, args: list) -> bytes:
    if not args:  # ${#NAME}
        return str(len(value)).encode()
    return _trim_shortest(value, args[0])


def _trim_suffix(trim, value: bytes, pattern: bytes) -> bytes:
    return _reverse(trim(_reverse(value), _reverse(pattern)))


OPERATORS = {
    "#": _length_or_trim,
    "##": lambda v, a: _trim_longest(v, a[0]),
    "%": lambda v, a: _trim_suffix(_trim_shortest, v, a[0]),
    "%%": lambda v, a: _trim_suffix(_trim_longest, v, a[0]),
    ":": _substring,
    "/": _replace_first,
    "//": _replace_all,
    "/#": _replace_prefix,
    "/%": _replace_suffix,
    "^": lambda v, a: _map_first(v, False),
    "^^": lambda v, a: _map_case(v, False),
    ",": lambda v, a: _map_first(v, True),
    ",,": lambda v, a: _map_case(v, True),
}

# The operators that supply a value for an unset variable, so strict mode lets them through.
DEFAULT_OPERATORS = frozenset({"=", ":=", ":-", ":?", ":+"})


def apply(op: str, value: bytes, args: list) -> bytes:
    """The result of `${NAME<op>args}` for NAME's value; plain `${NAME}`, the defaults and the unknown
    pairs `^,` `,^` give the value (or the joined arguments when it is empty)."""
    return OPERATORS.get(op, _default)(value, args)
