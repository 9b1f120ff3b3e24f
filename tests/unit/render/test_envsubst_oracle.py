"""Differential tests: bootstrap.engines.flux.envsubst against the real fluxcd/pkg/envsubst v1.7.1 (the Go oracle).

Every case goes to both; they must give the same output bytes, or both an error of the same kind (the Go
error text maps to SubstitutionError.kind in tests/support/envsubst_oracle.py: Go's parse errors are our
kinds word for word; `variable not set (strict mode): "X"` is UNSET naming X; `'X' var name is invalid` is
INVALID_NAME naming X; the `slice bounds out of range` panic is OVERFLOW).  Each test uses one oracle
process.  `FUZZ_EXAMPLES` sets the Hypothesis examples (`make fuzz`: 20000).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap.engines.flux import envsubst_tables
from bootstrap.engines.flux.envsubst_tables import CASE_RANGES, IDENT_RANGES
from tests.support.envsubst_oracle import Case, OracleSession, our_outcome, run_batch, same

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))

BAD_UTF8 = "\udcc3(\udcff"  # surrogateescape for the bytes C3 28 FF: what a Secret's binary data reads as
VARS = {
    "A": "hello",
    "E": "",
    "U": "héllo wörld",
    "P": "/usr/local/bin/tool.tar.gz",
    "S": "a b  c*?[x]",
    "D": "$HOME ${X} $$ \\/",
    "N": "12345",
    "M": "ßİΣσς ǅǆ ﬀ ŉ",
    "G": "日本語テキスト",
    "EMO": "😀x😀",
    "BAD": BAD_UTF8,
    "NL": "line1\nline2",
    "Z": "a\x00b",
    "CAFE": "café",
}
SUBJECTS = ["A", "E", "U", "P", "S", "M", "G", "EMO", "BAD", "CAFE", "MISSING"]
FORMS = [
    "${V}", "${V:-def}", "${V:=def}", "${V:?msg}", "${V:+alt}", "${V=def}", "${#V}",
    "${V:0}", "${V:1}", "${V:4}", "${V:100}", "${V: -3}", "${V:1:3}", "${V:2:-1}", "${V:0:100}", "${V:-2:1}",
    "${V:x}", "${V:1:x}", "${V:+1:2}",
    "${V#*l}", "${V##*l}", "${V%l*}", "${V%%l*}", "${V#?}", "${V%?}", "${V#*}", "${V##*}", "${V%*}", "${V%%*}",
    "${V#[a-h]}", "${V%%[!x]*}", "${V##*[^é]}", "${V%%[^é]*}", "${V#*[^é]?}", "${V##*[é]}", "${V#[^a-h]}",
    "${V##*/}", "${V%.*}", "${V%%.*}", "${V#/usr}", "${V%gz}", "${V#l}", "${V%l}", "${V#*l*o}",
    "${V/l/L}", "${V//l/L}", "${V/#h/H}", "${V/%o/O}", "${V/l/}", "${V//l}", "${V//o/0}", "${V/#h/}",
    "${V^}", "${V^^}", "${V,}", "${V,,}", "${V^,}", "${V,^}",
]
EDGES = [
    "", "plain text", "$", "$$", "$$$", "$$$$", "$${A}", "$$${A}", "$A", "$A$", "a$", "${", "${}", "${A", "${A:",
    "${A:-", "${A:-x", "${A-x}", "${A+x}", "${A?x}", "${A!}", "${A }", "${ A}", "${1}", "${_}", "${é}", "${Aé}",
    "${A:é}", "${A:€}", "${A:😀}", "${A::}", "${A::1}", "${A:1::2}", "${A:1:}", "${A:}", "${A:1${B}}", "${A:${N}}",
    "${A:1:${N}}", "${A:1:2${B}}", "${#}", "${##A}", "${#A:1}", "${#A}", "${#é}", "${#U}", "${A#}", "${A##}",
    "${A###}", "${A#x${B}}", "${A#${B}}", "${A%${E}}", "${A/}", "${A/x}", "${A/x} and a/b}", "${A//}", "${A///x}",
    "${A/l//L}", "${A/\\/x/y}", "${P/\\//:}", "${P//\\//:}", "${A/$$/d}", "${D/$$/d}", "${D//\\\\/-}", "${D//$$/-}",
    "${A,,,}", "${A^^^}", "${A^x}", "${A:-${B:-${C:-deep}}}", "${A:-a${E}b${A}c}", "${E:-a${E}b${A}c}",
    "${MISSING:-${ALSO_MISSING}}", "${A:-${ALSO_MISSING}}", "${A:-}", "${A=}", "${E=}", "a\x00b${A}", "${A}\x00${",
    "${\x00}", "${A:\x00}", "${A:-\x00}", "${A/\x00/x}", "${A:1\x00}", "'${A}'", '"${A}"', "'$A'",
    "key: ${A}\nother: ${U:-x}\n", "${A}${A}", "}${A}}", "{${A}{", "${A}}", "${{A}}", "${$A}", "${A:1:2:3}",
    "${A:?}", "${A:=}", "${N:0:1}", "${A:+}", "${A:-+}", "${A:--x}", "${A:=:=}", "${A:9223372036854775807}",
    "${A:-9223372036854775808}", "${A: -9223372036854775808}", "${A:9223372036854775808}",
    "${A:1:9223372036854775807}", "${A:0:9223372036854775807}", "${A:9223372036854775807:1}",
    "${A:1:-9223372036854775808}", "${A:05}", "${A:1_0}", "${A:١}", "${A:0x1}", "${A: 1}", "${A:1 }", "${A:\t1}",
    "${A:+5}", "${A:${E}}", "${A/${E}/-}", "${A//${E}/-}", "${U//${E}/-}", "${A/#${E}/-}", "${A/%${E}/-}",
    "${A//${E}}", "${A#[}", "${A#[a}", "${A#[]}", "${A#[]a]}", "${A#[^h]}", "${A#[\\h]}", "${A#\\h}", "${A#h\\}",
    "${A#[a-]}", "${A#[-a]}", "${A#[a-z}", "${A##[a-z]*}", "${A#*[}", "${A%[}", "${A%%o[}", "${A#[h-h]e}",
    "${A#[z-a]}", "${A#*\\}", "${A##h*\\}", "${A%%l[lo]}", "${A%%[lo]l}", "${A#h[!]}", "${S#*\\*}", "${S%\\]}",
    "${S%%\\[*}", "${S//\\*/-}", "${U#?}", "${U#??}", "${U%?}", "${U%%?}", "${U#*[^é]}", "${U#h[^é]}", "${U%[ö]*}",
    "${U%%[a-ü]*}", "${BAD^^}", "${BAD,,}", "${BAD,}", "${BAD^}", "${BAD#?}", "${BAD%?}", "${BAD:1}", "${#BAD}",
    "${BAD//(/-}", "${BAD//${E}/.}", "${BAD#*[\udcc3]}", "${U:1:1}${U:2:1}", "${A:-${U:1:1}}${U:2}",
    "${U:1:1}", "${U:2}", "${EMO:1:2}", "${EMO%?}", "${EMO#?}", "${EMO#*[^😀]}", "${EMO%%x*}", "${G:3:3}",
    "${G//テ/te}", "${G/#日本/J}", "${G/%ト/T}", "${M^^}", "${M,,}", "${M^}", "${M:1^}", "${NL}", "${Z}", "${Z:1}",
    "${#Z}", "${A/\\\\/x}", "${A/a\\/b/x}", "${A/l/\\/}", "${A/l/$$}", "${A/l/$}", "${A/l/${U}}", "${A/${A}/x}",
    "${A/h/${A:-x}}", "${A/l}/}", "${A//l/}}", "${A:-}}", "${A:-{}}", "${A:-$}", "${A:-$$}", "${A:-a$b}",
    "${E:-$$}", "${E:-$}", "${E:-a$b}", "${E:-\\}", "${A/l/\\}", "${E:-${E:-${E:-x}y}z}", "${A:-${B}${C}}",
    "a ${A} b ${U} c ${MISSING} d", "${A}\n${B}\n${C}\n", "${A:-\n}", "${E:-\n}", "${A/l/\n}",
    "a\x00b", "$$\x00$$", "\x00",
]
DOC = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${APP:=podinfo}
  namespace: '${NS}'
  annotations:
    note: "cost is $$5 and $HOME stays"
spec:
  replicas: ${REPLICAS:-2}
  template:
    spec:
      containers:
        - name: app
          image: "ghcr.io/${ORG,,}/app:${TAG:-latest}"
          args: ["--zone=${ZONE:0:7}", "--host=${HOST%%.*}", "--path=${P##*/}"]
"""
DOC_VARS = {"NS": "prod", "ORG": "Stefan", "ZONE": "eu-west-1a", "HOST": "a.b.example.com", "P": "/x/y/z.txt"}


def table() -> list[Case]:
    cases = []
    for strict in (False, True):
        for form in FORMS:
            cases += [Case(form.replace("V", v), VARS, strict) for v in SUBJECTS]
        cases += [Case(text, VARS, strict) for text in EDGES]
        cases += [Case(DOC, DOC_VARS, strict), Case(DOC, {}, strict), Case(DOC, {"bad-name": "x"}, strict)]
    deep = 500  # nesting deeper than Python's recursion would allow
    cases += [Case("${E:-" * deep + "x" + "}" * deep, VARS), Case("${E:-" * deep + "x", VARS)]
    cases += [Case("x", {"1x": "v"}), Case("x", {"a-b": "v", "ok": "v"}), Case("x", {"": "v"})]
    cases += [Case("${A}", {"A\n": ""})]
    return cases


def test_table_matches_go(envsubst_oracle: Path) -> None:
    cases = table()
    assert len(cases) > 1000
    theirs = run_batch(envsubst_oracle, cases)
    outcomes = [(c, our_outcome(c), go) for c, go in zip(cases, theirs)]
    differ = [(c, ours, go) for c, ours, go in outcomes if not same(ours, go)]
    assert not differ, "\n".join(f"{c.text!r} strict={c.strict}: ours {o!r}, go {g!r}" for c, o, g in differ[:20])
    errors = sum(1 for go in theirs if go[0] == "err")
    assert 100 < errors < len(cases) - 500, errors  # the table exercises both outcomes


def test_identifier_runes_match_go(envsubst_oracle: Path) -> None:
    """Around every boundary of Go's letter/digit ranges: `${X<rune>}` is a name or a missing brace."""
    points = sorted({r for lo, hi in zip(IDENT_RANGES[0::2], IDENT_RANGES[1::2]) for r in (lo - 1, lo, hi, hi + 1)})
    points = [r for r in points if 0x80 <= r <= 0x10FFFF and not 0xD800 <= r <= 0xDFFF]
    cases = [Case("${X" + chr(r) + "}", {}, True) for r in points]
    theirs = run_batch(envsubst_oracle, cases)
    differ = [(c.text, g) for c, g in zip(cases, theirs) if not same(our_outcome(c), g)]
    assert not differ, differ[:10]
    assert {g[1] for g in theirs} == {"missing closing brace", "variable not set"}


def test_case_mapping_matches_go(envsubst_oracle: Path) -> None:
    """Every rune up to U+1FFFF (all of Go's case ranges) through ^^ and ,, and each cased rune through ^ and ,."""
    every = "".join(chr(r) for r in range(0x80, 0x20000) if not 0xD800 <= r <= 0xDFFF)
    cased = [chr(r) for lo, hi in zip(CASE_RANGES[0::4], CASE_RANGES[1::4]) for r in range(lo, min(hi, lo + 40) + 1)]
    cases = [Case("${V^^}", {"V": every}), Case("${V,,}", {"V": every})]
    cases += [Case("${V^}|${V,}", {"V": c + "x"}) for c in cased]
    theirs = run_batch(envsubst_oracle, cases)
    differ = [(c.vars["V"][:3], g) for c, g in zip(cases, theirs) if not same(our_outcome(c), g)]
    assert not differ, differ[:10]


def test_unicode_tables_are_current(envsubst_oracle: Path) -> None:
    """bootstrap/engines/flux/envsubst_tables.py is what this oracle's Go prints (regenerate it if not)."""
    printed = subprocess.run([str(envsubst_oracle), "-python-tables"], capture_output=True, text=True, check=True)
    assert Path(envsubst_tables.__file__).read_text() == printed.stdout


# --- generated templates ------------------------------------------------------------------------------------

NAMES = ["A", "U", "E", "N", "_x", "a1", "MISSING"]
ODD_NAMES = ["1", "é", "Aé", "名", "A_é1"]
PIECES = [
    "${", "}", "$", "$$", "{", ":", "-", "=", "?", "+", "#", "##", "%", "%%", "/", "//", "\\", "\\/", "\\\\", "^",
    ",", "'", '"', "\n", " ", "*", "[", "]", "!", "^]", "[^é]", "[é-ö]", "a", "l", "o", "é", "€", "😀", "ß",
    "0", "1", "2", "-1",
    "9223372036854775807", "\x00", "\udcc3", "key: ", "- ", "\t", "${A}", "$A", "x-y",
]
OPS = ["", ":-", ":=", ":?", ":+", "=", "-", "+", ":", "#", "##", "%", "%%", "/", "//", "/#", "/%", "^", "^^",
       ",", ",,", "^,", "?", ": ", ":-1"]
VALUE_CHARS = st.sampled_from(
    list("ahlo.-/*?[]^!\\$:{}_ 01") + ["é", "ö", "😀", "€", "ß", "İ", "Σ", "\udcc3", "\udca9"]
)
values = st.text(VALUE_CHARS, max_size=10)
literal = st.lists(st.sampled_from(PIECES) | st.text(max_size=2), max_size=5).map("".join)


def _expression(parts: tuple) -> str:
    name, op, args, closed = parts
    sep = "/" if op.startswith("/") else ":" if op == ":" else ""
    return "${" + name + op + sep.join(args) + ("}" if closed else "")


def _nested(inner):
    name = st.sampled_from(NAMES) | st.sampled_from(ODD_NAMES)
    args = st.lists(inner, max_size=3)
    closed = st.sampled_from([True, True, True, False])
    return st.tuples(name, st.sampled_from(OPS), args, closed).map(_expression)


expressions = st.recursive(literal, _nested, max_leaves=8)
templates = st.lists(literal | expressions, min_size=1, max_size=5).map("".join)
var_names = st.sampled_from(NAMES[:-1]) | st.sampled_from(["bad-name", "9x", "ok_", "é"])
cases = st.builds(
    Case,
    templates,
    st.dictionaries(st.sampled_from(NAMES[:-1]), values, max_size=5)
    | st.dictionaries(var_names, values, max_size=2),
    st.booleans(),
)


def test_generated_templates_match_go(envsubst_oracle: Path) -> None:
    session = OracleSession(envsubst_oracle)
    seen = {"ok": 0, "err": 0}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(cases)
    def check(case: Case) -> None:
        ours, theirs = our_outcome(case), session.outcome(case)
        assert same(ours, theirs), f"ours {ours!r}, go {theirs!r}"
        seen[theirs[0]] += 1

    try:
        check()
    finally:
        session.close()
    print(f"\nenvsubst oracle: {session.cases} generated cases compared ({seen})")
    assert seen["ok"] > EXAMPLES // 10 and seen["err"] > EXAMPLES // 10, seen  # both outcomes are exercised
