"""Fuzz the SOPS decryptor: real sops files of every format, mutated, and random bytes.

The property: a mutated file that still decrypts gives exactly the original plaintext, otherwise it is
refused with a one-line `BootstrapError`; any other exception escaping is a bug. "Exactly" is as far as
sops' MAC can tell: it hashes the values only, in order, so a null, an empty string or an empty
container can be added, removed or swapped for one another unnoticed (sops issue #828); those are
dropped from both sides before comparing (`_as_mac_sees`). Random bytes must never decrypt.
`FUZZ_EXAMPLES` sets the examples per test (`make fuzz`: 20000).
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap import sops
from bootstrap.errors import BootstrapError
from bootstrap.stages.keys import load_keyring
from tests.support.sops import encrypt_bytes, new_age_key, write_key_file

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PLAINTEXTS = {
    "yaml": b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cret-fuzz\n  list: [1, true, 2.5]\n"
            b"# comment\nnested: {a: {b: [x, y]}}\n---\nsecond: doc\n",
    "json": b'{"apiVersion": "v1", "data": {"token": "dG9rZW4=", "n": 3, "f": 1.5, "b": false, "l": ["x", null]}}',
    "dotenv": b"USER=admin\nPASSWORD=s3cret-fuzz\n# comment\nEMPTY=\n",
    "ini": b"[db]\nuser = admin\npassword = s3cret-fuzz\n\n[cache]\nttl = 60\n",
    "binary": b"\x00\x01binary payload s3cret-fuzz\xff\n",
}


class Corpus(tuple):
    """(files by format, key ring, the original documents by format); a short repr keeps hypothesis'
    failure reports readable."""

    def __repr__(self) -> str:
        return "Corpus(<sops files of every format>, <key ring>)"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    """Each format encrypted by the real sops for a fresh key (two recipients), and the key ring."""
    key, other = new_age_key(), new_age_key()
    ring = load_keyring(str(write_key_file(tmp_path_factory.mktemp("fuzz-keys") / "k.agekey", key)))
    files = {fmt: encrypt_bytes(text, fmt, [key.recipient, other.recipient]) for fmt, text in PLAINTEXTS.items()}
    originals = {}
    for fmt, data in files.items():  # the unmutated corpus decrypts: the fuzzing starts from valid files
        originals[fmt] = sops.decrypt(data, ring, fmt=fmt, name=f"f.{fmt}").documents
        assert originals[fmt]
    assert sops.decrypt(files["binary"], ring, fmt="binary", name="f.bin").render() == PLAINTEXTS["binary"]
    return Corpus((files, ring, originals))


def _as_mac_sees(node):
    """Data with what sops' MAC cannot see removed: nulls, empty strings, empty maps and lists."""
    if isinstance(node, dict):
        kept = {k: _as_mac_sees(v) for k, v in node.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", {}, [])}
    if isinstance(node, list):
        return [v for v in (_as_mac_sees(v) for v in node) if v not in (None, "", {}, [])]
    return node


def attempt(data: bytes, corpus: Corpus, fmt: str) -> None:
    """Decrypt: either exactly the original plaintext or a clean one-line refusal; anything else fails."""
    _, ring, originals = corpus
    try:
        decrypted = sops.decrypt(data, ring, fmt=fmt, name=f"fuzzed.{fmt}")
        documents = decrypted.documents
        rendered = decrypted.render()
    except BootstrapError as err:
        assert str(err) and "\n" not in str(err), f"not a one-line message: {err}"
        return
    assert _as_mac_sees(documents) == _as_mac_sees(originals[fmt]), "a mutated file decrypted to other data"
    if fmt == "binary":
        assert rendered == PLAINTEXTS["binary"]


def mutate(data: bytes, ops: list[tuple[str, int, int, bytes]]) -> bytes:
    """Apply byte-level operations (flip, delete, duplicate, insert, truncate, swap lines)."""
    out = bytearray(data)
    for op, a, b, blob in ops:
        if not out:
            out.extend(blob)
            continue
        i, j = a % len(out), b % len(out)
        lo, hi = min(i, j), max(i, j)
        if op == "flip":
            out[i] ^= (b % 255) + 1
        elif op == "delete":
            del out[lo:hi + 1]
        elif op == "duplicate":
            out[hi:hi] = out[lo:hi]
        elif op == "insert":
            out[i:i] = blob
        elif op == "truncate":
            del out[i:]
        elif op == "swap-lines":
            lines = bytes(out).split(b"\n")
            x, y = a % len(lines), b % len(lines)
            lines[x], lines[y] = lines[y], lines[x]
            out = bytearray(b"\n".join(lines))
    return bytes(out)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "delete", "duplicate", "insert", "truncate", "swap-lines"]),
        st.integers(min_value=0, max_value=1 << 16),
        st.integers(min_value=0, max_value=1 << 16),
        st.binary(max_size=16) | st.sampled_from([b"ENC[", b"]", b":", b"\n", b"- ", b"{", b'"', b"=", b"[sops]", b"\x00"]),
    ),
    min_size=1,
    max_size=6,
)

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40) | st.sampled_from(
    ["ENC[AES256_GCM,data:,iv:,tag:,type:str]", "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:int]", "", "-----BEGIN AGE ENCRYPTED FILE-----",
     "2024-01-01T00:00:00Z", "3.11.0", "^data$", "age1qqqq"]
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _replace(node, path, value):
    if not path:
        return value
    node[path[0]] = _replace(node[path[0]], path[1:], value)
    return node


@pytest.mark.parametrize("fmt", list(PLAINTEXTS))
@FUZZ
@given(ops=OPS)
def test_mutated_sops_files_decrypt_exactly_or_are_refused(corpus, fmt, ops):
    files = corpus[0]
    attempt(mutate(files[fmt], ops), corpus, fmt)


@pytest.mark.parametrize("fmt", ["yaml", "json", "binary"])
@FUZZ
@given(choice=st.integers(min_value=0), value=VALUES)
def test_structurally_mutated_files_decrypt_exactly_or_are_refused(corpus, fmt, choice, value):
    """Replace one node of the parsed file (sops metadata included) with a value of any type."""
    data = corpus[0][fmt]
    tree = json.loads(data) if fmt in ("json", "binary") else list(yaml.safe_load_all(data))
    paths = list(_paths(tree))[1:]
    tree = _replace(tree, paths[choice % len(paths)], value)
    try:
        text = json.dumps(tree).encode() if fmt in ("json", "binary") else yaml.safe_dump_all(tree).encode()
    except (ValueError, TypeError, yaml.YAMLError):
        return  # not representable in this format: nothing to feed
    attempt(text, corpus, fmt)


@pytest.mark.parametrize("fmt", list(PLAINTEXTS))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_decrypt(corpus, fmt, data):
    with pytest.raises(BootstrapError) as err:
        sops.decrypt(data, corpus[1], fmt=fmt, name=f"random.{fmt}")
    assert str(err.value) and "\n" not in str(err.value)
    try:
        assert sops.is_encrypted(data, fmt) in (True, False)
    except BootstrapError:
        pass
