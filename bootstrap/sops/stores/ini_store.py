"""INI, read and written the way go-ini (gopkg.in/ini.v1) does it for sops.

Sections are the top-level keys (`DEFAULT` holds keys before the first header); a section comment is
the first item of its section, a key's comment follows the key. Metadata lives in `[sops]`.
"""

from __future__ import annotations

from typing import Any

from bootstrap.errors import DecryptError
from bootstrap.sops.metadata import unflatten
from bootstrap.sops.stores.dotenv_store import value_text
from bootstrap.sops.tree import Comment, TreeMap
from bootstrap.sops.values import go_float

DEFAULT = "DEFAULT"


def has_metadata(data: bytes) -> bool:
    return b"[sops]" in data


def _strip_comment_char(comment: str) -> str:
    if comment.startswith(";"):
        return comment.lstrip("; ")
    if comment.startswith("#"):
        return comment.lstrip("# ")
    return comment


def parse(data: bytes, name: str) -> TreeMap:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptError(f"{name}: malformed INI: not valid UTF-8") from None
    lines = text.split("\n")
    sections: list[tuple[str, TreeMap]] = [(DEFAULT, TreeMap())]
    current = sections[0][1]
    pending: list[str] = []
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].rstrip("\r").lstrip()
        index += 1
        if not line:
            continue
        if line[0] in "#;":
            pending.append(line)
            continue
        if line[0] == "[":
            end = line.rfind("]")
            if end < 0:
                raise DecryptError(f"{name}: malformed INI at line {number}: unclosed section header")
            section = line[1:end].strip()
            comment = [(Comment(_strip_comment_char("\n".join(pending))), None)] if pending else []
            pending = []
            if section == DEFAULT:
                current = sections[0][1]
                current[:0] = comment if not current else []
            else:
                current = TreeMap(comment)
                sections.append((section, current))
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            raise DecryptError(f"{name}: malformed INI at line {number}: key without '=' or ':'")
        key = line[:cut].strip()
        if len(key) >= 2 and key[0] == key[-1] and key[0] in "`\"":
            key = key[1:-1]
        value, inline, index = _value(line[cut + 1 :].lstrip(), lines, index, name, number)
        current.append((key, value))
        comment = "\n".join(pending + ([inline] if inline else []))
        pending = []
        if comment:
            current.append((Comment(_strip_comment_char(comment)), None))
    return TreeMap(sections)


def _value(raw: str, lines: list[str], index: int, name: str, number: int) -> tuple[str, str, int]:
    """(value, inline comment, next line index) for the text after the delimiter."""
    raw = raw.rstrip("\r")
    if raw.startswith('"""'):
        body = raw[3:]
        while '"""' not in body:
            if index >= len(lines):
                raise DecryptError(f"{name}: malformed INI at line {number}: unclosed \"\"\" value")
            body += "\n" + lines[index].rstrip("\r")
            index += 1
        return body[: body.index('"""')], "", index
    if raw.startswith("`"):
        end = raw.find("`", 1)
        if end > 0:
            return raw[1:end], "", index
    cut = min((i for i in (raw.find("#"), raw.find(";")) if i >= 0), default=-1)
    inline = ""
    if cut >= 0:
        raw, inline = raw[:cut], raw[cut:]
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1]
    return raw, inline, index


def load(data: bytes, name: str) -> tuple[list[TreeMap], Any]:
    root = parse(data, name)
    meta = [items for section, items in root if section == "sops"]
    if not meta:
        raise DecryptError(f"{name}: sops metadata not found")
    flat = {k: v for k, v in meta[0] if type(k) is str}
    root[:] = [(s, items) for s, items in root if s != "sops"]
    return [root], unflatten(flat)


def _comment_lines(comment: str, trim: bool) -> list[str]:
    out = []
    for line in comment.split("\n"):
        if line[:1] in ("#", ";"):
            out.append(line[:1] + " " + line[1:].strip())
        else:
            out.append("; " + (line.strip() if trim else line))
    return out


def _ini_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}" if value == value and abs(value) != float("inf") else go_float(value)
    return value_text(value)


def emit(branches: list[TreeMap]) -> bytes:
    """Plain INI exactly as go-ini's `WriteTo` (pretty format) prints it."""
    # section name -> [section comment, {key: [value text, key comment]}]; DEFAULT always first
    sections: dict[str, list] = {DEFAULT: ["", {}]}
    for section, items in branches[0]:
        if type(section) is Comment:
            continue
        if not isinstance(items, TreeMap):
            raise DecryptError(f"cannot write the value of '{section}' as an INI section")
        entry = sections.setdefault(section, ["", {}])
        keys: dict[str, list[str]] = entry[1]
        last: str | None = None
        for index, (key, value) in enumerate(items):
            if type(key) is Comment:
                if index == 0:
                    entry[0] = key.text
                elif last is not None:
                    keys[last][1] = key.text
                continue
            keys.setdefault(key, ["", ""])[0] = _ini_text(value)
            last = key
    out: list[str] = []
    final = len(sections) - 1
    for i, (section, (comment, keys)) in enumerate(sections.items()):
        if comment:
            out.extend(line + "\n" for line in _comment_lines(comment, trim=False))
        if i > 0 or section.upper() != DEFAULT:
            out.append(f"[{section}]\n")
        elif not keys:
            continue
        names = {key: _quote_key(key) for key in keys}
        align = max((len(n) for n in names.values()), default=0)
        for key, (value, key_comment) in keys.items():
            if key_comment:
                out.extend(line + "\n" for line in _comment_lines(key_comment, trim=True))
            out.append(f"{names[key]}{' ' * (align - len(names[key]))} = {_quote_value(value)}\n")
        if i != final:
            out.append("\n")
    return "".join(out).encode("utf-8")


def _quote_value(value: str) -> str:
    if "\n" in value or "`" in value:
        return f'"""{value}"""'
    if "#" in value or ";" in value:
        return f"`{value}`"
    if value.strip() != value:
        return f'"{value}"'
    return value


def _quote_key(key: str) -> str:
    if '"' in key or "=" in key or ":" in key:
        return f"`{key}`"
    if "`" in key:
        return f'"""{key}"""'
    return key
