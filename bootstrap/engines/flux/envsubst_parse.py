"""Parse a postBuild template into text and `${...}` expressions, as fluxcd/pkg/envsubst v1.7.1 reads it.

Works on the UTF-8 bytes of the text, because the Go original does: offsets, widths and the quirks that
follow from them are byte-based.  What the Go parser accepts (docs/rendering.md lists the quirks):

- Outside expressions only two things are special: `${` opens an expression and `$$` stands for `$`
  (pairs taken left to right).  `$NAME` is plain text.  A NUL byte ends the template: the rest is dropped.
- `${NAME}` and `${NAME<op>...}` with NAME a run of Go letters, digits and `_`.  Operators: `:=` `:-` `:?`
  `:+` `=` (defaults), `:off` / `:off:len`, `#pat` `##pat` `%pat` `%%pat`, `/pat/rep` `//pat/rep`
  `/#pat/rep` `/%pat/rep`, `^` `^^` `,` `,,` (and the odd pairs `^,` `,^`), and `${#NAME}`.
- Operator arguments are text or nested expressions.  Escapes (`$$`, `\\/`, `\\\\`) exist only in the
  two arguments of the replace operators.

The parser returns a list of nodes: `bytes` for text and `Expr` for expressions; an `Expr`'s args are
nodes too.  Nesting depth is bounded only by memory: nested expressions are parsed by a loop over a stack
of generators, not by Python recursion.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import NamedTuple, Union

from bootstrap.engines.flux.envsubst_tables import IDENT_RANGES

# The kinds of parse failure, worded as the Go package's error values.
BAD_SUBSTITUTION = "bad substitution"
MISSING_CLOSING_BRACE = "missing closing brace"
BAD_VARIABLE_NAME = "unable to parse variable name"
BAD_FUNCTION_ARGUMENT = "unable to parse substitution within function"

END = -1  # rune_at's rune past the end of the data


class Expr(NamedTuple):
    """`${name<op>args}`; `start` is the byte offset of its `$`, for error messages."""

    name: str
    op: str
    args: tuple
    start: int


Node = Union[bytes, Expr]


class ParseFailure(Exception):
    """The template does not parse: `kind` (one of the constants above) found at byte `offset` inside the
    expression whose `$` is at byte `start`."""

    def __init__(self, kind: str, offset: int, start: int):
        super().__init__(kind)
        self.kind, self.offset, self.start = kind, offset, start


def rune_at(data: bytes, p: int) -> tuple[int, int]:
    """(code point, width) of the UTF-8 sequence at p, decoded as Go does: a byte that does not start a
    valid sequence reads as U+FFFD of width 1; past the end it is (END, 0)."""
    if p >= len(data):
        return END, 0
    lead = data[p]
    if lead < 0x80:
        return lead, 1
    if lead < 0xC2 or lead > 0xF4:
        return 0xFFFD, 1
    width = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    try:
        return ord(data[p : p + width].decode("utf-8")), width
    except UnicodeDecodeError:
        return 0xFFFD, 1


_IDENT_FIRST = IDENT_RANGES[0::2]
_IDENT_LAST = IDENT_RANGES[1::2]
_ASCII_IDENT = re.compile(rb"[A-Za-z0-9_]*")


def is_ident_rune(r: int) -> bool:
    """Go's unicode.IsLetter or unicode.IsDigit, or `_`."""
    if r == 0x5F:
        return True
    i = bisect_right(_IDENT_FIRST, r) - 1
    return i >= 0 and r <= _IDENT_LAST[i]


def ident_end(data: bytes, p: int) -> int:
    """End of the run of identifier runes that starts at p."""
    n = len(data)
    while True:
        p = _ASCII_IDENT.match(data, p).end()
        if p >= n or data[p] < 0x80:
            return p
        r, width = rune_at(data, p)
        if not is_ident_rune(r):
            return p
        p += width


# Outside expressions: what ends a stretch of plain text.
_TOP = re.compile(rb"\$[${]|\x00")
# After `${`: the common expressions with an ASCII name and plain-text arguments, parsed in one step (the
# general parser gives the same for them): `NAME}`, defaults, case, and trims (whose operator is never
# shortened to find a pattern: `${A##}` has none).
_SIMPLE = re.compile(rb"([A-Za-z0-9_]+)(?:(:[-=?+]|=)([^\x00$}]*)|([,^][,^]?)|(##|#(?!#)|%%|%(?!%))([^\x00$}]+))?\}")


def _simple(m: re.Match, at: int) -> Expr:
    name, default_op, default, case_op, trim_op, pattern = m.groups()
    if default_op:
        return Expr(name.decode(), default_op.decode(), (default,) if default else (), at)
    if case_op:
        return Expr(name.decode(), case_op.decode(), (), at)
    if trim_op:
        return Expr(name.decode(), trim_op.decode(), (pattern,), at)
    return Expr(name.decode(), "", (), at)


# Argument text runs. A run stops at NUL, at `${` (a nested expression follows) and at the listed bytes.
_RUN_OFFSET = re.compile(rb"(?:[^\x00$:}]|\$(?!\{))+")  # the offset of `:off:len`
_RUN_TO_CLOSE = re.compile(rb"(?:[^\x00$}]|\$(?!\{))+")  # defaults, `:len`, trim patterns
# The replace operators' runs: the escape pairs come first, so `\/` never ends a pattern.
_RUN_PATTERN = re.compile(rb"(?:\$\$|\\[/\\]|[^\x00$/]|\$(?!\{))+")
_RUN_REPLACEMENT = re.compile(rb"(?:\$\$|\\[/\\]|[^\x00$}]|\$(?!\{))+")
_ESCAPE_PAIR = re.compile(rb"\$(\$)|\\([/\\])")


def _unescape(text: bytes) -> bytes:
    if b"$$" not in text and b"\\" not in text:
        return text
    return _ESCAPE_PAIR.sub(lambda m: m.group(1) or m.group(2), text)


def parse(data: bytes) -> list:
    """The nodes of the template `data`; raises ParseFailure."""
    nodes: list = []
    pieces: list[bytes] = []
    pos = 0
    search = _TOP.search
    while True:
        m = search(data, pos)
        if m is None:
            pieces.append(data[pos:])
            break
        at = m.start()
        if data[at] == 0:  # the Go scanner reads NUL as its end-of-input rune
            pieces.append(data[pos:at])
            break
        if data[at + 1] == 0x24:  # "$$"
            pieces.append(data[pos : at + 1])
            pos = at + 2
            continue
        pieces.append(data[pos:at])
        text = b"".join(pieces)
        if text:
            nodes.append(text)
        pieces = []
        node, pos = _parse_expr(data, at)
        nodes.append(node)
    text = b"".join(pieces)
    if text:
        nodes.append(text)
    return nodes


def _parse_expr(data: bytes, at: int) -> tuple[Expr, int]:
    """The expression whose `${` is at `at`, and the offset after its `}`."""
    simple = _SIMPLE.match(data, at + 2)
    if simple:
        return _simple(simple, at), simple.end()
    stack = [_expr(data, at)]
    reply = None
    while True:
        try:
            nested = stack[-1].send(reply)
        except StopIteration as done:
            stack.pop()
            reply = done.value
            if not stack:
                return reply
            continue
        simple = _SIMPLE.match(data, nested + 2)
        if simple:
            reply = (_simple(simple, nested), simple.end())
        else:
            stack.append(_expr(data, nested))
            reply = None


# The generators below yield the offset of a nested `${` and are sent back (node, offset after it).


def _expr(data: bytes, at: int):
    p = at + 2
    if data[p : p + 1] == b"#":  # ${#NAME}: the length
        q = ident_end(data, p + 1)
        if q == p + 1:
            raise ParseFailure(BAD_SUBSTITUTION, q, at)
        _closing(data, q, at)
        return Expr(data[p + 1 : q].decode(), "#", (), at), q + 1
    q = ident_end(data, p)
    if q == p:
        raise ParseFailure(BAD_VARIABLE_NAME, p, at)
    name = data[p:q].decode()
    c = data[q : q + 1]
    if c == b"}":
        return Expr(name, "", (), at), q + 1
    if c == b":":
        after = data[q + 1 : q + 2]
        if after and after in b"=-?+":
            return (yield from _default(data, q + 2, name, ":" + after.decode(), at))
        # Go steps back by the width of the rune after ':' rather than by 1: for a multi-byte rune it
        # lands inside the name and fails, at the end of the text it stays put and fails as well.
        if rune_at(data, q + 1)[1] != 1:
            raise ParseFailure(BAD_SUBSTITUTION, q + 1, at)
        return (yield from _substring(data, q + 1, name, at))
    if c == b"=":
        return (yield from _default(data, q + 1, name, "=", at))
    if c == b"," or c == b"^":
        p = q + 2 if data[q + 1 : q + 2] in (b",", b"^") else q + 1
        _closing(data, p, at)
        return Expr(name, data[q:p].decode(), (), at), p + 1
    if c == b"#" or c == b"%":
        p = q + 2 if data[q + 1 : q + 2] == c else q + 1
        op = data[q:p].decode()
        pattern, p = yield from _arg(data, p, _RUN_TO_CLOSE, at)
        _closing(data, p, at)
        return Expr(name, op, (pattern,), at), p + 1
    if c == b"/":
        return (yield from _replace(data, q, name, at))
    raise ParseFailure(MISSING_CLOSING_BRACE, q, at)


def _arg(data: bytes, p: int, run: re.Pattern, at: int, escapes: bool = False):
    if p >= len(data) or data[p] == 0:
        raise ParseFailure(BAD_FUNCTION_ARGUMENT, p, at)
    if data.startswith(b"${", p):
        return (yield p)
    m = run.match(data, p)
    if m is None:
        raise ParseFailure(BAD_FUNCTION_ARGUMENT, p, at)
    return (_unescape(m.group()) if escapes else m.group()), m.end()


def _closing(data: bytes, p: int, at: int) -> None:
    if data[p : p + 1] != b"}":
        raise ParseFailure(BAD_SUBSTITUTION, p, at)


def _default(data: bytes, p: int, name: str, op: str, at: int):
    args = []
    while data[p : p + 1] != b"}":
        arg, p = yield from _arg(data, p, _RUN_TO_CLOSE, at)
        args.append(arg)
    return Expr(name, op, tuple(args), at), p + 1


def _substring(data: bytes, p: int, name: str, at: int):
    offset, p = yield from _arg(data, p, _RUN_OFFSET, at)
    c = data[p : p + 1]
    if c == b"}":
        return Expr(name, ":", (offset,), at), p + 1
    if c != b":":
        raise ParseFailure(BAD_SUBSTITUTION, p, at)
    while data[p : p + 1] == b":":  # any run of colons separates the two arguments
        p += 1
    length, p = yield from _arg(data, p, _RUN_TO_CLOSE, at)
    _closing(data, p, at)
    return Expr(name, ":", (offset, length), at), p + 1


def _replace(data: bytes, q: int, name: str, at: int):
    p = q + 2 if data[q + 1 : q + 2] in (b"/", b"#", b"%") else q + 1
    op = data[q:p].decode()
    pattern, p = yield from _arg(data, p, _RUN_PATTERN, at, escapes=True)
    if data[p : p + 1] != b"/":
        raise ParseFailure(BAD_SUBSTITUTION, p, at)
    while data[p : p + 1] == b"/":  # any run of slashes separates pattern and replacement
        p += 1
    if data[p : p + 1] == b"}":
        return Expr(name, op, (pattern,), at), p + 1
    replacement, p = yield from _arg(data, p, _RUN_REPLACEMENT, at, escapes=True)
    _closing(data, p, at)
    return Expr(name, op, (pattern, replacement), at), p + 1
