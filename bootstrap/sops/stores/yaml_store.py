"""YAML: composed at node level (C parser) so anchors expand and merge keys stay `<<` keys, as in sops.

Scalars are typed as go-yaml v3 does. PyYAML drops comments, which never matter for data or MAC;
only for the comment-regex rules are comments recovered, with the pure-Python scanner.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import yaml

from bootstrap.errors import DecryptError
from bootstrap.sops.stores.yaml_emit import dump_all
from bootstrap.sops.stores.yaml_scalars import PLAIN_FIRST, resolve_plain
from bootstrap.sops.tree import Comment, Timestamp, TreeMap, to_plain

_KIND_TAGS = {
    yaml.ScalarNode: "tag:yaml.org,2002:str",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


class _Loader(getattr(yaml, "CBaseLoader", yaml.BaseLoader)):  # type: ignore[misc]
    """libyaml composer; untagged nodes get the default tag of their kind (no implicit typing here)."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        return _KIND_TAGS[kind]

_T = "tag:yaml.org,2002:"
_STR, _BINARY = _T + "str", _T + "binary"
_TYPE_NAMES = {int: "int", float: "float", bool: "bool", type(None): "null", Timestamp: "timestamp"}


def has_metadata(data: bytes) -> bool:
    return re.search(rb"(?m)^sops:", data) is not None and b"mac:" in data


def parse(data: bytes, name: str, *, with_comments: bool = False) -> list[TreeMap]:
    """Every document as a tree, scalars typed as go-yaml v3 does (used for plain YAML too)."""
    comments = None
    try:
        if with_comments:
            roots, comments = _compose_with_comments(data)
        else:
            roots = list(yaml.compose_all(data, Loader=_Loader))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DecryptError(f"{name}: malformed YAML{where}: {_scrub(err.problem or err.context or '')}") from None
    except (yaml.YAMLError, UnicodeDecodeError, ValueError):
        raise DecryptError(f"{name}: malformed YAML (not valid UTF-8 or YAML)") from None
    branches = []
    for index, root in enumerate(roots):
        if root is None or (isinstance(root, yaml.ScalarNode) and root.value == "" and not root.style):
            branches.append(TreeMap())
            continue
        if not isinstance(root, yaml.MappingNode):
            raise DecryptError(f"{name}: YAML document {index + 1} is not a mapping")
        branches.append(_Builder(name, index == 0, comments).mapping(root))
    return branches


def load(data: bytes, name: str, *, with_comments: bool = False) -> tuple[list[TreeMap], Any]:
    """Parse every document; pull the `sops` block from the first, drop it from all."""
    branches = parse(data, name, with_comments=with_comments)
    if not branches:
        raise DecryptError(f"{name}: sops metadata not found (empty file)")
    metadata = None
    for index, branch in enumerate(branches):
        found = [v for k, v in branch if k == "sops"]
        if index == 0:
            if len(found) > 1:
                raise DecryptError(f"{name}: more than one sops metadata key in the first document")
            metadata = found[0] if found else None
        if found:
            branch[:] = [(k, v) for k, v in branch if k != "sops"]
    if metadata is None:
        raise DecryptError(f"{name}: sops metadata not found")
    return branches, to_plain(metadata)


def _scrub(problem: str) -> str:
    """Parser messages may quote input characters; never echo them."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "…", problem)


class _Builder:
    def __init__(self, name: str, check_duplicates: bool, comments: dict | None):
        self.name = name
        self.check_duplicates = check_duplicates
        self.comments = comments  # line -> comment texts, in order; consumed as nodes pass

    def node(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return scalar(node, self.name)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node)
        return self.sequence(node)

    def _take_comments(self, line: int) -> list[Comment]:
        if not self.comments:
            return []
        taken = [ln for ln in self.comments if ln < line]
        return [Comment(text) for ln in sorted(taken) for text in self.comments.pop(ln)]

    def mapping(self, node: yaml.MappingNode) -> TreeMap:
        out = TreeMap()
        seen: set[str] = set()
        for key_node, value_node in node.value:
            for c in self._take_comments(key_node.start_mark.line):
                out.append((c, None))
            if not isinstance(key_node, yaml.ScalarNode):
                raise DecryptError(f"{self.name}: non-string key at line {key_node.start_mark.line + 1}")
            key = key_node.value
            if key_node.tag != _STR or (not key_node.style and (not key or key[0] in PLAIN_FIRST)):
                typed = scalar(key_node, self.name)
                if type(typed) is not str:
                    raise DecryptError(
                        f"{self.name}: non-string key ({_TYPE_NAMES.get(type(typed), type(typed).__name__)}) at line "
                        f"{key_node.start_mark.line + 1}: sops supports only string keys"
                    )
                key = typed
            if self.check_duplicates:
                if key in seen:
                    raise DecryptError(f"{self.name}: duplicate key at line {key_node.start_mark.line + 1}")
                seen.add(key)
            out.append((key, self.node(value_node)))
        return out

    def sequence(self, node: yaml.SequenceNode) -> list:
        out: list = []
        for item in node.value:
            out.extend(self._take_comments(item.start_mark.line))
            out.append(self.node(item))
        return out


def scalar(node: yaml.ScalarNode, name: str) -> Any:
    """Type one scalar as go-yaml v3 does (quoted/block ⇒ string unless explicitly tagged)."""
    value, tag = node.value, node.tag
    if tag == _STR:
        if node.style:  # quoted or block ('' / None mean plain, depending on the parser)
            return value
        if not value or value[0] not in PLAIN_FIRST:
            return value or None
        return resolve_plain(value, name, node)
    if tag == _BINARY:
        try:
            return base64.b64decode("".join(value.split()), validate=True).decode("utf-8", "surrogateescape")
        except binascii.Error:
            raise DecryptError(f"{name}: invalid !!binary at line {node.start_mark.line + 1}") from None
    if tag in (_T + "int", _T + "float", _T + "bool", _T + "null", _T + "timestamp"):
        return resolve_plain(value, name, node)
    return value  # custom tags are dropped, as sops does


class _CommentLoader(yaml.BaseLoader):
    """Pure-Python loader that records comments by line (used only for the comment-regex rules)."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.comments: dict[int, list[str]] = {}

    def scan_to_next_token(self) -> None:  # PyYAML's own loop, recording the comments it skips
        if self.index == 0 and self.peek() == "\ufeff":
            self.forward()
        while True:
            while self.peek() == " ":
                self.forward()
            if self.peek() == "#":
                line, chars = self.line, []
                self.forward()
                while self.peek() not in "\0\r\n\x85\u2028\u2029":
                    chars.append(self.peek())
                    self.forward()
                self.comments.setdefault(line, []).append("".join(chars))
            if self.scan_line_break():
                if not self.flow_level:
                    self.allow_simple_key = True
            else:
                return


def _compose_with_comments(data: bytes) -> tuple[list, dict[int, list[str]]]:
    loader = _CommentLoader(data)
    try:
        roots = []
        while loader.check_node():
            roots.append(loader.get_node())
        return roots, loader.comments
    finally:
        loader.dispose()


def emit(branches: list[TreeMap]) -> bytes:
    """YAML text of the documents (data as sops prints it; comments are not reproduced)."""
    return dump_all([to_plain(b) for b in branches]).encode("utf-8", "surrogateescape")
