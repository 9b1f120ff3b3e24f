"""The output conventions every command shares: `-o human|json|yaml`, warnings on stderr, plain columns.

Machine output (json, yaml) is one document on stdout with camelCase keys; human output is plain lines
that a CI log keeps whole (no table wraps a path or a recipient in two).  Warnings never go to stdout:
they are one plain line each on stderr, whatever the format, so `-o json | jq` neither breaks nor loses
them.  This module is loaded on the fast start-up paths: it imports nothing heavy (yaml only to write yaml).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs start-up; annotations are strings (from __future__)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import IO, Any

FORMATS = ("human", "json", "yaml")


def render(doc: Any, fmt: str) -> str:
    """`doc` as JSON (indented) or YAML text, without a trailing newline."""
    if fmt == "json":
        import json  # deferred: start-up (human output, the default, writes no JSON)

        return json.dumps(doc, indent=2, ensure_ascii=False)
    if fmt == "yaml":
        import yaml  # deferred: start-up (yaml only to write yaml)

        # no width: a long path or message stays one line (PyYAML folds at 80 columns by default)
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False,
                              width=1 << 30).rstrip("\n")
    raise ValueError(f"not a document format: {fmt!r}")


def warning_line(text: str) -> str:
    """`warning: TEXT` as one line, said once: `warning: WARNING: x` becomes `warning: x`."""
    text = " ".join(str(text).split())
    while text[:8].lower() == "warning:":
        text = text[8:].lstrip()
    return f"warning: {text}"


def warn(text: str, stream: IO[str] | None = None) -> None:
    """One warning line on stderr (or `stream`), flushed at once."""
    stream = stream or sys.stderr
    stream.write(warning_line(text) + "\n")
    stream.flush()


def pad(rows: Iterable[Sequence[str]]) -> list[list[str]]:
    """Cells padded so that columns align: each to its column's widest cell, except the last of a row,
    which is never padded nor cut (a long path or message stays whole, whatever the terminal's width)."""
    rows = [[str(cell) for cell in row] for row in rows]
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(map(len, rows)))]
    return [[cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)] for row in rows]


def columns(rows: Iterable[Sequence[str]], *, indent: str = "", gap: str = "  ") -> list[str]:
    """Rows as aligned plain lines (see `pad`), like `kubectl get`."""
    return [(indent + gap.join(cells)).rstrip() for cells in pad(rows)]


def one_place(out: IO[str], err: IO[str]) -> bool:
    """Whether what goes to `out` and to `err` ends up in one place the same reader sees (a terminal, or one
    file or pipe with `2>&1`): what one of them shows, the other need not repeat."""
    try:
        if os.path.samestat(os.fstat(out.fileno()), os.fstat(err.fileno())):
            return True
        return out.isatty() and err.isatty()
    except (AttributeError, OSError, ValueError):  # not a file (a StringIO in tests): two places
        return False
