"""Property: a document of typed scalars (ints, floats, timestamps, booleans, nulls, strings), encrypted by
every sops version we have, decrypts to the same typed data, and our output reads back as the same typed
data as that version's `sops decrypt` output (FUZZ_EXAMPLES raises the count)."""

from __future__ import annotations

import datetime
import json
import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bootstrap import sops
from bootstrap.sops.values import rfc3339
from tests.support.sops import encrypt_bytes, sops_decrypt, typed
from tests.unit.sops.conftest import VERSIONS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))  # each example runs every version twice


class Stamp(str):
    """A timestamp scalar: written unquoted in YAML (a string in JSON)."""


keys = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_.-]{0,11}", fullmatch=True).filter(lambda k: k != "sops")
text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co", "Zl", "Zp"), blacklist_characters="\ufeff\x85")
               | st.sampled_from("\n\t"), max_size=30)
stamps = st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31),
                      timezones=st.sampled_from([datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
                                                 datetime.timezone(datetime.timedelta(hours=-8))])).map(
    lambda d: Stamp(d.isoformat().replace("+00:00", "Z")))
dates = st.dates(min_value=datetime.date(1, 1, 1)).map(lambda d: Stamp(d.isoformat()))
scalars = st.one_of(
    text, st.booleans(), st.none(), stamps, dates,
    st.integers(-(2**63), 2**63 - 1), st.integers(2**64, 2**70),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.0, 1.0, 1e6, 1e21, 1.5e-7, 1e300, 2.5]),
)
documents = st.dictionaries(
    keys,
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                 max_leaves=10),
    min_size=1, max_size=6,
)


def _yaml_scalar(value: object) -> str:
    if isinstance(value, Stamp):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # 1e+20, 1.5e-07: YAML 1.2 floats
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a double-quoted YAML string


def to_yaml(node: object, indent: str = "") -> str:
    """Block YAML with every key quoted and every string double-quoted: no reader guesses a type."""
    lines = []
    items = node.items() if isinstance(node, dict) else [(None, v) for v in node]  # type: ignore[union-attr]
    for key, value in items:
        head = f"{indent}{json.dumps(key)}:" if key is not None else f"{indent}-"
        if isinstance(value, (dict, list)) and value:
            lines.append(head + "\n" + to_yaml(value, indent + "  "))
        else:
            lines.append(f"{head} {'{}' if value == {} else '[]' if value == [] else _yaml_scalar(value)}\n")
    return "".join(lines)


def expected(node: object, fmt: str, version: str) -> object:
    """The data sops holds after reading what we wrote (`Decrypted.documents`)."""
    if isinstance(node, dict):
        return {k: expected(v, fmt, version) for k, v in node.items()}
    if isinstance(node, list):
        return [expected(v, fmt, version) for v in node]
    if isinstance(node, Stamp):
        if fmt == "json":
            return str(node)
        return rfc3339(node if "T" in node else node + "T00:00:00Z", nanos=True)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        exact = fmt == "yaml" or tuple(int(p) for p in version.split(".")) >= (3, 13, 2)
        return node if exact and -(2**63) <= node < 2**63 else float(node)
    return node


def _writable(doc: dict, fmt: str, version: str) -> bool:
    """sops < 3.10 cannot encrypt YAML timestamps (issue #944): such documents skip those versions. (The
    integers generated avoid 2^63..2^64, which go-yaml reads as uint64 and sops refuses.)"""
    def walk(node):
        if isinstance(node, dict):
            return all(walk(v) for v in node.values())
        if isinstance(node, list):
            return all(walk(v) for v in node)
        if isinstance(node, Stamp):
            return fmt == "json" or tuple(int(p) for p in version.split(".")) >= (3, 10)
        return True
    return walk(doc)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
@given(doc=documents, fmt=st.sampled_from(["yaml", "json"]))
@example(doc={"a": "\n0", "b": "\n\n", "c": "\n x"}, fmt="yaml")  # sops < 3.11 prints no leading breaks
@example(doc={"a": ["\n0"]}, fmt="yaml")  # no sops prints this as YAML a YAML 1.2 parser reads
def test_typed_documents_round_trip_through_every_sops_version(doc, fmt, keys):
    plaintext = (to_yaml(doc) if fmt == "yaml" else json.dumps(doc)).encode()
    for version, binary in VERSIONS.items():
        if not _writable(doc, fmt, version):
            continue
        encrypted = encrypt_bytes(plaintext, fmt, [keys.one.recipient], binary=binary)
        decrypted = sops.decrypt(encrypted, keys.ring(keys.one), fmt=fmt, name=f"random.{fmt}")
        want = expected(doc, fmt, version)
        assert typed(json.dumps(decrypted.documents[0], default=str).encode(), "json") == typed(
            json.dumps(want, default=str).encode(), "json"), version
        theirs = sops_decrypt(encrypted, fmt, keys.file(keys.one), binary=binary)
        assert theirs.returncode == 0, (version, theirs.stderr)
        if fmt == "yaml" and _break_first_in_a_sequence(doc):
            continue  # every sops prints it as `- |4-` + a blank line: not YAML a YAML 1.2 parser reads
        ours = typed(decrypted.render(), fmt)
        if fmt == "yaml" and tuple(int(p) for p in version.split(".")) < (3, 11):
            ours = _breaks_dropped(ours)
        assert ours == typed(theirs.stdout, fmt), version


def _break_first_in_a_sequence(node: object, in_sequence: bool = False) -> bool:
    if isinstance(node, dict):
        return any(_break_first_in_a_sequence(v) for v in node.values())
    if isinstance(node, list):
        return any(_break_first_in_a_sequence(v, True) for v in node)
    return in_sequence and isinstance(node, str) and node.startswith("\n")


def _breaks_dropped(node: object) -> object:
    """What sops < 3.11 prints for a string that starts with line breaks ("\n0", "\n\n"): the string without
    them (its YAML emitter writes `|-`, `|4-` or `|4+` with no leading blank line), though the data it decrypted
    holds the breaks (checked above). sops 3.11 and later print them, as we do."""
    if isinstance(node, tuple) and len(node) == 2 and node[0] == "str" and isinstance(node[1], str):
        return ("str", node[1].lstrip("\n"))
    if isinstance(node, (list, tuple)):
        return type(node)(_breaks_dropped(child) for child in node)
    return node
