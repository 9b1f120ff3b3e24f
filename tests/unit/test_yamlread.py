"""bootstrap.yamlread against the real sigs.k8s.io/yaml (the Go oracle hack/oracles/yamljson): every text reads
to the same values as Flux reads it, or fails in both; and bootstrap.gobase64 against Go's StdEncoding."""

from __future__ import annotations

import json
import random

import pytest

from bootstrap.gostd import b64decode
from bootstrap.yamlread import Limits, YamlError, dump, read_all
from tests.support.yaml_oracle import build_oracle, go_objects, go_read


@pytest.fixture(scope="module")
def oracle():
    """The oracle binary; fails, never skips, when it cannot be built (`make oracles`)."""
    try:
        return build_oracle()
    except (RuntimeError, OSError) as exc:
        pytest.fail(str(exc), pytrace=False)


def ours(text: str) -> tuple:
    try:
        documents = read_all(text)
    except YamlError as err:
        return ("err", str(err))
    return ("ok", documents[0] if documents else None)


def canonical(outcome: tuple) -> tuple:
    """Errors compare as errors (the texts differ: ours never quote a value); values as JSON with types
    (1 and 1.0 and True differ)."""
    return ("err",) if outcome[0] == "err" else ("ok", json.dumps(outcome[1], sort_keys=True))


def assert_same(oracle, texts: list[str]) -> None:
    theirs = go_read(oracle, texts)
    different = [(text, ours(text), go) for text, go in zip(texts, theirs) if canonical(ours(text)) != canonical(go)]
    assert not different, "\n".join(f"{t!r}: ours {o}, Go {g}" for t, o, g in different[:20])


SCALARS = [
    "=", "!=", "=~", "y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "on", "On", "ON", "off", "OFF", "true", "False",
    "yEs", "t", "~", "null", "Null", "NULL", "nil", "", "0755", "0o755", "0O17", "0x1F", "0X1f", "0b101", "0B11", "-0b101",
    "08", "-08", "+0755", "00", "0_7", "1_000", "1__0", "0x_1F", "0x", "0b", "1e3", "1E3", "1e+22", "1e-07", "1.", "0.",
    ".5", "-.5", "+.5", ".5_5", "._5", ".5_", ".5e1_0", ".5e_1", "1e1_0", "1_2.5_5", "1.0e+22", "1.5e", "1e", "e1", ".",
    "+", "-0", "-0.0", "0.1", "3.14", "-.inf", "+.inf", ".Inf", ".NaN", ".nan", "1:20", "1:20.5", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
    "+18446744073709551615", "-0x8000000000000000", "-0x8000000000000001", "0xFFFFFFFFFFFFFFFF", "1e400", "1e-400",
    "123456789012345678901234567890", "9007199254740993.0", "1e20", "1e21", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10", "2001-12-14 21:59:43.10 -5", "2001-13-45", "<<", "a b", "${VAR}", "v1.2.3", "1.2.3",
]


def generated_scalars(seed: int, count: int) -> list[str]:
    """Plain scalars made of the characters that steer yaml.v2's resolver (digits, signs, dots, exponents,
    base prefixes, underscores, keyword letters)."""
    rng = random.Random(seed)
    alphabet = "0123456789+-._eExXbBoO:yYnNtTfFaA~Z "
    made = ("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))).strip() for _ in range(count))
    return [s for s in made if s and not s.startswith(("-", ":", "? ")) and ": " not in s and " #" not in s]


def test_plain_scalars_resolve_as_yaml_v2_resolves_them(oracle):
    scalars = SCALARS + generated_scalars(27, 3000)
    # in a flow sequence, not `x:]`: libyaml refuses a `:` before a flow indicator, yaml.v2 reads "x:" (a
    # known difference of the scanners, docs/rendering.md)
    flow = [f"v: [{s}]\n" for s in scalars if "," not in s and not s.endswith(":")]
    assert_same(oracle, [f"v: {s}\n" for s in scalars] + flow)


def test_map_keys_become_the_strings_sigs_k8s_yaml_makes(oracle):
    keys = [s for s in SCALARS + generated_scalars(28, 1500) if s and not s.startswith(("-", "?", ":"))]
    # (not `1: a` with `'1': b`: two keys to yaml.v2, one string to JSON, and Go's map order picks the winner)
    assert_same(oracle, [f"{k}: v\n" for k in keys] + ["true: a\nyes: b\n", "~: 1\n", "? [a]\n: 1\n",
                                                      "? {a: 1}\n: 1\n"])


STRUCTURES = [
    # an anchor defined again: an alias means the latest definition (libyaml's composer refuses this)
    "a: &x 1\nb: *x\nc: &x 2\nd: *x\n",
    "a:\n- &x {k: 1}\n- *x\n- &x {k: 2}\n- *x\n",
    "first: &name one\nsecond: &name two\nuse: *name\n",
    # merge keys, in yaml.v2's order
    "base: &b {x: 1, z: 2}\nm:\n  <<: *b\n  z: 3\n",
    "base: &b {x: 1, z: 2}\nm:\n  z: 3\n  <<: *b\n",
    "m:\n  <<: [{x: 1}, {x: 2, z: 3}]\n",
    "m:\n  <<: [{x: 1}, {x: 2, z: 3}]\n  x: 9\n",
    "m:\n  <<: {a: 1}\n  <<: {a: 2, b: 2}\n",
    "m:\n  <<: {<<: {deep: 1}, b: 2}\n",
    "m:\n  '<<': {a: 1}\n",
    "m:\n  !!merge <<: {a: 1}\n",
    "m:\n  <<: 1\n",
    "m:\n  <<: [1]\n",
    "a: <<\n",
    # duplicate keys: the later wins
    "a: 1\na: 2\n",
    "a: {b: 1}\na: {c: 2}\n",
    # tags
    "a: !Ref foo\nb: !!str 12\nc: !!int '12'\nd: !!float 1\ne: !!bool yes\nf: !!null ''\ng: !Thing {x: 1}\n",
    "a: !!binary aGVsbG8=\nb: !!binary |\n  aGVs\n  bG8=\n",
    "a: !!binary aGVsbG8\n",
    "a: !!timestamp 2001-12-14\n",
    "a: !!timestamp nope\n",
    "a: !!int 1.5\n",
    "a: !!float 18446744073709551615\n",
    "a: !!str\n",
    "a: !!set {x, y}\n",
    "a: !!omap [{x: 1}, {y: 2}]\n",
    # numbers through JSON
    "a: 1.0\nb: 1.5\nc: -0.0\nd: 1e20\ne: 1e21\nf: 9007199254740993.0\n",
    "a: .inf\n",
    "a: -.inf\n",
    "a: .nan\n",
    "1.5: a\n1e6: b\n0.1: c\n.inf: d\n-.inf: e\n.nan: f\n123456: g\n1234567.0: h\n0.00001: i\n",
    # text forms
    "a: 1\r\nb: |\r\n  x\r\n  y\r\nc: y\r\n",
    "\ufeffa: 1\n",
    "a: '12'\nb: \"yes\"\nc: 'y'\nd: \"=\"\n",
    'a: "\\u00e9\\x41\\t"\n',
    "a: 'it''s'\n",
    "a: >\n  folded\n  text\n",
    "a: |-\n  kept\n\n  text\n",
    "%YAML 1.1\n---\na: y\n",
    "--- !!map\na: 1\n",
    "[1, y, =, ~]\n",
    "plain\n",
    "",
    "# only a comment\n",
    "matchers:\n- name: severity\n  matchType: =\n  value: critical\n- {name: alertname, matchType: '!=', value: x}\n",
    # what neither reads
    "a: b: c\n",
    "a: [1\n",
    "a: *nope\n",
    "a: &a [*a]\n",
    "a:\tb\n",
]


def test_documents_read_as_sigs_k8s_yaml_reads_them(oracle):
    assert_same(oracle, STRUCTURES)


def test_a_stream_reads_as_kustomize_controller_reads_kustomize_output(oracle):
    stream = ("apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\ndata:\r\n  eq: =\r\n  text: |\r\n"
              "    one\r\n    two\r\n---\n# between\n---\napiVersion: example.com/v1\nkind: Corpus\nmetadata:\n"
              "  name: b\nspec: {yes: on, n: 0755, big: 1e+22, small: 1e-07, when: 2001-12-14, f: 1.0}\n--- # end\n"
              "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\ndata: {k: YQ==}\n")
    assert [d for d in read_all(stream, per_document=True) if d is not None] == go_objects(oracle, stream)


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def test_a_redefined_anchor_no_longer_stops_the_read_and_its_aliases_count_against_the_budget():
    assert read_all("a: &n [1]\nb: &n [2, 3]\nc: *n\n") == [{"a": [1], "b": [2, 3], "c": [2, 3]}]
    with pytest.raises(YamlError, match="more than 500000 nodes after alias expansion") as caught:
        read_all("z: &a [y]\n" + BOMB)  # `a` defined twice: read by the composer that allows it
    assert caught.value.budget


def test_budgets_are_per_text_or_per_document():
    text = "---\n".join(f"k{i}: [1, 2, 3]\n" for i in range(10))
    with pytest.raises(YamlError, match="more than 30 nodes"):
        read_all(text, Limits(max_nodes=30))
    assert len(read_all(text, Limits(max_nodes=30), per_document=True)) == 10
    assert read_all(text, Limits(max_nodes=30), per_document=True, build=False) == []


def test_an_error_keeps_the_parser_s_cause_and_where():
    with pytest.raises(YamlError) as caught:
        read_all("a: 1\n---\nb: [1\nc: 2\n")
    err = caught.value
    assert (err.cause, err.line, err.column, err.document) == (
        "while parsing a flow sequence (line 3, column 4): did not find expected ',' or ']'", 4, 2, 1)
    with pytest.raises(YamlError, match=r"^cannot decode !!str as a !!int at line 1, column 4$"):
        read_all("a: !!int secret-value\n")  # the cause never quotes the value


@pytest.mark.parametrize("value", SCALARS + ["y\n", " lead", "trail ", "#", "a: b", "- x", "'q'", '"dq"', "\t", "é", "\x85"])
def test_dump_quotes_what_would_read_as_another_type(oracle, value):
    text = dump({"k": value, "n": [1, 1.5, True, None, value]}, width=2**31 - 1)
    assert read_all(text) == [{"k": value, "n": [1, 1.5, True, None, value]}]
    assert go_read(oracle, [text]) == [("ok", {"k": value, "n": [1, 1.5, True, None, value]})]


BASE64 = ["YQ==", "YQ", "YQ=", "YR==", "YQ==YQ==", "", "=", "=YQ==", " YQ==", "YQ==\n", "Y\nQ=\r\n=", "YWJj", "YWJjZA==",
          "YQ===", "YW Jj", "YQ==\n\n", "\nYWJj\n", "YW\rJj", "YWJj\tZA==", "YW-j", "YW_j", "YWJ", "Y===", "YWJjZA=\n=",
          "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLz0w\nMTIzNDU2Nzg5"]


def test_base64_decodes_what_go_s_std_encoding_decodes(oracle):
    """yaml.v2 decodes `!!binary` with StdEncoding.DecodeString: the oracle's verdict on each text."""
    texts = ["v: !!binary " + json.dumps(value) + "\n" for value in BASE64]
    for value, go in zip(BASE64, go_read(oracle, texts)):
        try:
            mine = ("ok", {"v": b64decode(value).decode()})
        except ValueError:
            mine = ("err",)
        assert canonical(mine) == canonical(go), value
