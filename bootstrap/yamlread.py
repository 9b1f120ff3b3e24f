"""The one YAML reader: YAML text to the values Flux gets from it, with budgets against hostile input.

Flux reads YAML with sigs.k8s.io/yaml (go.yaml.in/yaml/v2 underneath), then JSON: kustomize-controller reads
kustomize's output that way (fluxcd/pkg/ssa ReadObjects), postBuild reads each substituted object that way,
and kustomize and Flux read a kustomization file that way. So does this module, for every YAML text
dr-bootstrap reads (the output of a build, postBuild's result, the repository files it reads itself):

- plain scalars resolve as yaml.v2 resolves them: `y`, `yes`, `on`, `true` (and their capitalised forms,
  `n`, `no`, `off`, `false`) are booleans; `~`, `null` and the empty scalar are null; `=` is a string (not
  YAML 1.1's `value` type); integers in Go's base-0 syntax (`0755` and `0o755` octal, `0x1F`, `0b101`,
  underscores dropped); floats as `[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?` (`1e3` and `1e+22`
  are numbers), `.inf` and `.nan`; timestamps stay the strings they are;
- numbers come out as JSON gives them back to Go's unstructured objects: an integer outside int64 and a
  float that is not integral are floats, every other number an int (`1.0` is 1); infinities and NaN cannot
  be JSON and are refused, as Go's encoder refuses them;
- map keys become strings as sigs.k8s.io/yaml makes them (`1` is "1", `true` is "true"); a null, sequence
  or mapping key is refused; a key given twice keeps its later value;
- an anchor may be defined again (an alias means the latest definition); `<<` merges in yaml.v2's order
  (at its place among the keys; of a list of mappings, the first wins); each use of an alias is a copy;
- a tag the schema does not know leaves the value as its kind reads (`!Ref x` is "x"); `!!binary` is the
  text of the bytes it encodes; `!!int` and the like must fit their value, as in yaml.v2;
- CRLF line ends, a BOM, several documents per file.

libyaml (PyYAML's C parser and composer) does the parsing; the construction walks the node graph once,
counting every node (each alias use again) against `Limits`. `dump` writes YAML that reads back here as the
same values (strings that would read as something else are quoted), for text that Flux's own rules read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.scanner import Scanner

from bootstrap.gostd import Uint64, b64decode, format_float32, json_number

_P = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = _P + "str", _P + "int", _P + "float", _P + "bool", _P + "null"
TIMESTAMP, BINARY, MERGE, SEQ, MAP = _P + "timestamp", _P + "binary", _P + "merge", _P + "seq", _P + "map"
_RESOLVABLE = frozenset({STR, INT, FLOAT, BOOL, NULL, TIMESTAMP})  # yaml.v2's resolvableTag

_INT64 = 2**63  # int64's bound: beyond it yaml.v2 holds a uint64, or a float
_KEYWORDS: dict[str, tuple[str, Any]] = {
    **{word: (BOOL, True) for word in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
    **{word: (BOOL, False) for word in ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")},
    **{word: (NULL, None) for word in ("", "~", "null", "Null", "NULL")},
    **{word: (FLOAT, math.nan) for word in (".nan", ".NaN", ".NAN")},
    **{word: (FLOAT, math.inf) for word in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{word: (FLOAT, -math.inf) for word in ("-.inf", "-.Inf", "-.INF")},
}
_NUMERIC_START = frozenset("+-0123456789")
# Go's ParseInt/ParseUint with base 0, on the text without underscores
_GO_INT = re.compile(r"([-+]?)(?:0[xX]([0-9a-fA-F]+)|0[bB]([01]+)|0[oO]([0-7]+)|0([0-7]*)|([1-9][0-9]*))")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
# Go's ParseFloat on a text starting with "." (underscores only between digits)
_GO_DOT_FLOAT = re.compile(r"\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?")
# yaml.v2's timestamp layouts (2006-1-2, with a time: T or t and a zone, or a space and none)
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?"
                        r"(?:Z|[-+][0-9]{2}:[0-9]{2})| [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?)?")


@dataclass(frozen=True)
class Limits:
    """Per-file bounds that make hostile input fail fast with bounded memory."""

    max_file_bytes: int = 8 * 1024 * 1024
    max_nodes: int = 500_000  # YAML nodes visited, every alias expansion counted again
    max_depth: int = 100


class YamlError(ValueError):
    """A text that cannot be read: the parser's cause (never a value), where (1-based line and column of the
    text, when known) and in which document (0-based); `budget` when a Limits bound refused it."""

    def __init__(self, cause: str, line: int | None = None, column: int | None = None, *, document: int = 0,
                 budget: bool = False):
        super().__init__(cause)
        self.cause, self.line, self.column, self.document, self.budget = cause, line, column, document, budget

    def __str__(self) -> str:
        return self.cause + (f" at line {self.line}, column {self.column}" if self.line else "")


# --- resolving -----------------------------------------------------------------------------------------------


def _plain(value: str, timestamps: bool = True) -> tuple[str, Any]:
    """yaml.v2's `resolve("", value)`: the tag and the Go value of a plain scalar."""
    hit = _KEYWORDS.get(value)
    if hit is not None:
        return hit
    first = value[:1]
    if first in _NUMERIC_START:
        if timestamps and _TIMESTAMP.fullmatch(value):
            return TIMESTAMP, value  # decoded into an interface{}, yaml.v2 keeps the text
        plain = value.replace("_", "")
        match = _GO_INT.fullmatch(plain)
        if match is not None:
            sign, hexa, binary, octal, octal0, decimal = match.groups()
            number = (int(hexa, 16) if hexa is not None else int(binary, 2) if binary is not None
                      else int(octal, 8) if octal is not None else int(octal0 or "0", 8) if octal0 is not None
                      else int(decimal))
            number = -number if sign == "-" else number
            if -_INT64 <= number < _INT64:
                return INT, number
            if not sign and number < 2 * _INT64:
                return INT, Uint64(number)
        if _YAML_STYLE_FLOAT.fullmatch(plain):
            number = float(plain)
            if not math.isinf(number):  # out of range: ParseFloat fails, the scalar stays a string
                return FLOAT, number
    elif first == "." and _GO_DOT_FLOAT.fullmatch(value):
        number = float(value)
        if not math.isinf(number):
            return FLOAT, number
    return STR, value


class _Resolve:
    """The tags libyaml's composer (and emitter) ask for: yaml.v2's, with `<<` as the merge key."""

    def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0]:
                return STR
            if value == "<<":
                return MERGE
            return _plain(value)[0]  # type: ignore[arg-type]
        return SEQ if kind is SequenceNode else MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


if hasattr(yaml, "CSafeLoader"):
    class _Reader(yaml.cyaml.CParser, _Resolve):  # type: ignore[misc]
        """libyaml's parser and composer."""
else:  # PyYAML without libyaml: the same in Python
    class _Reader(Reader, Scanner, Parser, Composer, _Resolve):  # type: ignore[no-redef]
        def __init__(self, stream: str):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


class _RedefiningReader(Composer, _Reader):
    """libyaml's parser, PyYAML's composer letting an anchor be defined again (libyaml's composer refuses
    it; yaml.v2 takes the later one). Used only for a text that has such an anchor."""

    def __init__(self, stream: str):
        _Reader.__init__(self, stream)
        Composer.__init__(self)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if not isinstance(event, AliasEvent) and event.anchor is not None:
            self.anchors.pop(event.anchor, None)
        return Composer.compose_node(self, parent, index)


# --- constructing --------------------------------------------------------------------------------------------


def _short(tag: str) -> str:
    return "!!" + tag[len(_P):] if tag.startswith(_P) else tag


def _go_value(node: ScalarNode) -> Any:
    """What yaml.v2 decodes the scalar to (an interface{}): str, bool, None, int, Uint64 or float."""
    tag, value = node.tag, node.value
    if tag == STR:
        return value
    if tag in _RESOLVABLE:
        found, out = _plain(value, timestamps=tag == TIMESTAMP)
        if found == tag:
            return out
        if tag == FLOAT and found == INT and not isinstance(out, Uint64):
            return float(out)
        raise _Fail(f"cannot decode {_short(found)} as a {_short(tag)}", node)
    if tag == BINARY:
        try:
            return b64decode(value).decode("utf-8", errors="replace")
        except ValueError:
            raise _Fail("!!binary value contains invalid base64 data", node) from None
    return value  # the merge key as a value, a tag of no schema: the text


def _number(value: Any, node: Any) -> Any:
    try:
        return json_number(value)
    except ValueError as err:
        raise _Fail(str(err), node) from None


def _key(node: Any) -> str:
    if not isinstance(node, ScalarNode):
        raise _Fail(f"invalid map key: a {'sequence' if isinstance(node, SequenceNode) else 'mapping'}", node)
    value = _go_value(node)
    if isinstance(value, str):
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if value is None or isinstance(value, Uint64):
        raise _Fail(f"unsupported map key of type: {'<nil>' if value is None else 'uint64'}", node)
    if isinstance(value, float):
        return format_float32(value)
    return str(value)


class _Fail(Exception):
    def __init__(self, cause: str, node: Any, budget: bool = False):
        super().__init__(cause)
        self.cause, self.node, self.budget = cause, node, budget


def _construct(root: Any, limits: Limits, spent: int, build: bool) -> tuple[Any, int]:
    """The document's value (None without `build`: only counted) and the nodes counted so far (`spent`
    included; every node once per use, as the old budget walk counted them)."""
    max_nodes, max_depth = limits.max_nodes, limits.max_depth
    count = spent

    def walk(node: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > max_nodes:
            raise _Fail(f"more than {max_nodes} nodes after alias expansion (YAML bomb or huge document)", node,
                        budget=True)
        if depth > max_depth:
            raise _Fail(f"nested deeper than {max_depth} levels", node, budget=True)
        kind = type(node)
        if kind is ScalarNode:
            if not build:
                return None
            if node.tag == STR:
                return node.value
            value = _go_value(node)
            if value is None or value is True or value is False or isinstance(value, str):
                return value
            return _number(value, node)
        if kind is SequenceNode:
            if not build:
                for child in node.value:
                    walk(child, depth + 1)
                return None
            return [walk(child, depth + 1) for child in node.value]
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is ScalarNode:
                count += 1
                if key_node.tag == MERGE:
                    merge(value_node, out, depth + 1)
                    continue
                if build:
                    out[_key(key_node)] = walk(value_node, depth + 1)
                    continue
            elif build:
                _key(key_node)  # refused
            else:
                walk(key_node, depth + 1)
            walk(value_node, depth + 1)
        return out if build else None

    def merge(node: Any, out: dict[str, Any], depth: int) -> None:
        """yaml.v2's merge: the mapping's keys set at this place, over what is there; of a sequence of
        mappings, the last first, so that the first wins."""
        if type(node) is MappingNode:
            found = walk(node, depth)
            if build:
                out.update(found)
            return
        if type(node) is not SequenceNode:
            raise _Fail("map merge requires map or sequence of maps as the value", node)
        for child in reversed(node.value):
            if type(child) is not MappingNode:
                raise _Fail("map merge requires map or sequence of maps as the value", child)
            found = walk(child, depth + 1)
            if build:
                out.update(found)

    return walk(root, 1), count


# --- reading and writing ------------------------------------------------------------------------------------


def _cause(err: yaml.YAMLError) -> tuple[str, int | None, int | None]:
    """The parser's own cause (its context, then its problem; never the quoted source) and where."""
    if not isinstance(err, yaml.MarkedYAMLError):
        return str(err).splitlines()[0] if str(err) else type(err).__name__, None, None
    problem, context = err.problem_mark, err.context_mark
    parts = []
    if err.context:
        at = (f" (line {context.line + 1}, column {context.column + 1})"
              if context is not None and problem is not None and (context.line, context.column) !=
              (problem.line, problem.column) else "")
        parts.append(err.context + at)
    if err.problem:
        parts.append(err.problem)
    mark = problem or context
    return ": ".join(parts) or "syntax error", (mark.line + 1 if mark else None), (mark.column + 1 if mark else None)


def _read(reader_class: type, text: str, limits: Limits, per_document: bool, build: bool) -> list[Any]:
    reader = reader_class(text)
    documents: list[Any] = []
    index = spent = 0
    try:
        while reader.check_node():
            value, spent = _construct(reader.get_node(), limits, 0 if per_document else spent, build)
            if build:
                documents.append(value)
            index += 1
        return documents
    except _Fail as fail:
        mark = getattr(fail.node, "start_mark", None)
        raise YamlError(fail.cause, mark.line + 1 if mark else None, mark.column + 1 if mark else None,
                        document=index, budget=fail.budget) from None
    except yaml.YAMLError as err:
        if _redefined_anchor(err) and reader_class is _Reader:
            raise
        cause, line, column = _cause(err)
        raise YamlError(cause, line, column, document=index) from None
    except RecursionError:
        raise YamlError("nested too deeply", document=index, budget=True) from None
    except UnicodeEncodeError:  # a lone surrogate (envsubst cut a character in two): no UTF-8 holds it
        raise YamlError("invalid UTF-8 in the text", document=index) from None
    finally:
        reader.dispose()


def _redefined_anchor(err: yaml.YAMLError) -> bool:
    return isinstance(err, ComposerError) and str(err.context or "").startswith("found duplicate anchor")


def read_all(text: str, limits: Limits = Limits(), *, per_document: bool = False, build: bool = True) -> list[Any]:
    """Every document of `text` as Flux reads it (see the module's docstring); YamlError when one cannot be
    read. `limits` bound the nodes and depth of the whole text, or of each document (`per_document`: a
    build's output, one object per document). Without `build` the text is only parsed and counted ([])."""
    try:
        return _read(_Reader, text, limits, per_document, build)
    except yaml.YAMLError:  # an anchor defined again: libyaml's composer refuses what yaml.v2 reads
        return _read(_RedefiningReader, text, limits, per_document, build)


def read_one(text: str, limits: Limits = Limits()) -> Any:
    """The first document of `text` (None when there is none)."""
    documents = read_all(text, limits)
    return documents[0] if documents else None


class _Dumper(_Resolve, getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML's safe dumper, quoting every string that yaml.v2 would read as something else."""


def dump(data: Any, *, width: int | None = None) -> str:
    """`data` as YAML that `read_all` reads back as `data` (and Go's yaml.v2 too)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=width)
