"""Flux's postBuild variable substitution (fluxcd/pkg/envsubst v1.7.1), in Python, with the Go results.

`substitute(text, lookup)` expands the `${...}` expressions of one rendered object's YAML text the way
kustomize-controller does; tests/unit/render/test_envsubst_oracle.py compares it with the Go package on
hand-picked and generated templates.  The caller decides what Flux's caller decides:

- `lookup(name) -> (value, found)`.  Flux's non-strict mode answers ("", True) for a missing variable;
  strict mode answers ("", False), and a missing variable is then an error unless a default operator
  (`=` `:=` `:-` `:?` `:+`) reads it.  Arguments are evaluated before their variable, so in
  `${A:-${B}}` a missing B fails even when A is set.
- The names of the variables offered come from ConfigMap and Secret keys; `check_var_names` applies
  Flux's rule to them before substituting.  Flux also deletes "\\n" from every value first.

Text and values are read as UTF-8 with surrogate escapes, so bytes that are not UTF-8 (a Secret's data)
round-trip, and the result may hold such bytes where Go's byte-based offsets cut a character.

Errors are SubstitutionError (exit code 4), saying what and where (line, column) and naming the variable;
they never quote the text or a value, since the text may be a decrypted Secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bootstrap.errors import ValidationError
from bootstrap.engines.flux.envsubst_funcs import DEFAULT_OPERATORS, SliceOverflow, apply
from bootstrap.engines.flux.envsubst_parse import Expr, ParseFailure, parse

# Flux's rule for the names of substitution variables (fluxcd/pkg/kustomize varsubRegex); the POSIX
# classes of Go's regexp are ASCII-only.
VAR_NAME_RULE = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"
VAR_NAME = re.compile(r"\A[_A-Za-z][_A-Za-z0-9]*\Z")

Lookup = Callable[[str], "tuple[str, bool]"]

# SubstitutionError.kind besides the parse kinds of envsubst_parse (which are Go's error texts).
UNSET = "variable not set"
INVALID_NAME = "invalid var name"
OVERFLOW = "substring out of range"
NOT_UTF8 = "not encodable"


class SubstitutionError(ValidationError):
    """A template that does not parse, a strict-mode variable that is not set, or a bad variable name.

    `kind` says which, in the Go package's words where it has some ("bad substitution", "missing closing
    brace", "unable to parse variable name", "unable to parse substitution within function") and
    otherwise one of UNSET, INVALID_NAME, OVERFLOW, NOT_UTF8.  `variable` is the name involved, if any."""

    def __init__(self, message: str, *, kind: str, variable: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.kind = kind
        self.variable = variable


def check_var_names(names: Iterable[str]) -> None:
    """Raise SubstitutionError for the first name that breaks Flux's rule, worded as Flux words it."""
    for name in names:
        if not VAR_NAME.match(name):
            shown = name if name.isprintable() else repr(name)[1:-1]
            raise SubstitutionError(
                f"'{shown}' var name is invalid, must match '{VAR_NAME_RULE}'", kind=INVALID_NAME, variable=name
            )


def substitute(text: str, lookup: Lookup) -> str:
    """`text` with its `${...}` expressions expanded; `$$` reads as `$`.  Raises SubstitutionError."""
    if "${" not in text and "\x00" not in text:
        return text.replace("$$", "$")  # nothing to parse, nothing to look up
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise SubstitutionError(
            f"the text holds a lone surrogate (character {exc.start + 1}) and cannot be read as UTF-8",
            kind=NOT_UTF8,
        ) from None
    try:
        nodes = parse(data)
    except ParseFailure as failure:
        raise SubstitutionError(
            f"{failure.kind} at {_where(data, failure.offset)}"
            f" (in the expression at {_where(data, failure.start)})",
            kind=failure.kind,
        ) from None
    out = [node if type(node) is bytes else _evaluate(node, lookup, data) for node in nodes]
    return b"".join(out).decode("utf-8", "surrogateescape")


def _evaluate(root: Expr, lookup: Lookup, data: bytes) -> bytes:
    """Post-order, arguments left to right before the expression's own variable, without recursion."""
    if all(type(arg) is bytes for arg in root.args):
        return _expand(root, list(root.args), lookup, data)
    stack: list[tuple[Expr, list]] = [(root, [])]
    while True:
        expr, done = stack[-1]
        if len(done) < len(expr.args):
            arg = expr.args[len(done)]
            if type(arg) is bytes:
                done.append(arg)
            else:
                stack.append((arg, []))
            continue
        stack.pop()
        value = _expand(expr, done, lookup, data)
        if not stack:
            return value
        stack[-1][1].append(value)


def _expand(expr: Expr, args: list, lookup: Lookup, data: bytes) -> bytes:
    value, found = lookup(expr.name)
    if not found and expr.op not in DEFAULT_OPERATORS:
        raise SubstitutionError(
            f"variable '{expr.name}' is not set (strict mode) at {_where(data, expr.start)}",
            kind=UNSET,
            variable=expr.name,
            hint="give it a value in postBuild.substitute(From), or a default: ${VAR:=default}",
        )
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise SubstitutionError(
            f"the value of variable '{expr.name}' holds a lone surrogate and cannot be read as UTF-8",
            kind=NOT_UTF8,
            variable=expr.name,
        ) from None
    try:
        return apply(expr.op, raw, args)
    except SliceOverflow:
        raise SubstitutionError(
            f"offset plus length overflow in the substring of '{expr.name}' at {_where(data, expr.start)}"
            " (Flux's envsubst panics on it)",
            kind=OVERFLOW,
            variable=expr.name,
        ) from None


def _where(data: bytes, offset: int) -> str:
    """'line L, column C' of a byte offset; columns count characters."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "surrogateescape")) + 1
    line = data.count(b"\n", 0, offset) + 1
    return f"line {line}, column {column}"
