"""Unit tests of bootstrap.engines.flux.envsubst: every operator, the errors, and the Go quirks it keeps.

The expected values are what fluxcd/pkg/envsubst v1.7.1 gives (test_envsubst_oracle.py checks the same
ground against the Go program itself); comments mark where that differs from bash.
"""

from __future__ import annotations

import pytest

from bootstrap.errors import ExitCode, ValidationError
from bootstrap.engines.flux.envsubst import (
    INVALID_NAME,
    NOT_UTF8,
    OVERFLOW,
    UNSET,
    VAR_NAME,
    SubstitutionError,
    check_var_names,
    substitute,
)
from bootstrap.engines.flux.envsubst_funcs import BadPattern, glob_match

VARS = {
    "A": "hello",
    "E": "",
    "U": "héllo wörld",
    "P": "/usr/local/bin/tool.tar.gz",
    "CAFE": "café",
    "NEG": "-2",
    "SECRET": "hunter2-s3cr3t",
    "BR": "hel} all",
}


def loose(name: str) -> tuple[str, bool]:
    """Flux's non-strict lookup: a missing variable reads as empty."""
    return VARS.get(name, ""), True


def strict(name: str) -> tuple[str, bool]:
    return (VARS[name], True) if name in VARS else ("", False)


def sub(text: str) -> str:
    return substitute(text, loose)


def error(text: str, lookup=loose) -> SubstitutionError:
    with pytest.raises(SubstitutionError) as caught:
        substitute(text, lookup)
    return caught.value


@pytest.mark.parametrize(
    "text, expected",
    [
        ("no expressions", "no expressions"),
        ("${A}", "hello"),
        ("x${A}y${A}z", "xhelloyhelloz"),
        ("'${A}' \"${A}\"", "'hello' \"hello\""),  # quotes mean nothing
        ("$A and $A$", "$A and $A$"),  # only the braced form is an expression
        ("$$", "$"),
        ("$$$", "$$"),
        ("$$$$", "$$"),
        ("$${A}", "${A}"),
        ("$$${A}", "$hello"),
        ("cost: $$5", "cost: $5"),
        ("${MISSING}", ""),
        ("}{${A}}{", "}{hello}{"),
    ],
)
def test_plain_text_and_variables(text: str, expected: str) -> None:
    assert sub(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("${E:-def}", "def"),
        ("${A:-def}", "hello"),
        ("${E:=def}", "def"),
        ("${E=def}", "def"),  # also for a set but empty variable (bash: only unset)
        ("${E:?msg}", "msg"),  # no error, just the default
        ("${A:+alt}", "hello"),  # bash would give alt: here every default operator is the same
        ("${E:+alt}", "alt"),
        ("${E:-}", ""),
        ("${E:-a${A}b${E}c}", "ahellobc"),
        ("${E:-${E:-${E:-deep}}}", "deep"),
        ("${A:-1}", "hello"),  # ":-" wins over a negative offset
        ("${E:-a:b/c#d%e}", "a:b/c#d%e"),
        ("${E:-$}", "$"),
        ("${E:-$$}", "$$"),  # no $$ escape inside defaults
        ("${E:-{x}", "{x"),
    ],
)
def test_defaults(text: str, expected: str) -> None:
    assert sub(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("${A:1}", "ello"),
        ("${A:1:3}", "ell"),
        ("${A:1:-1}", "ell"),
        ("${A:3:-3}", ""),
        ("${A:9}", ""),
        ("${A:2:100}", "llo"),
        ("${A:${NEG}}", "lo"),  # a negative offset only through a nested expression
        ("${A: -2}", "hello"),  # " -2" is not a Go integer: the value is left as it is
        ("${A:x}", "hello"),
        ("${A:1:x}", "hello"),
        ("${A:+1}", "hello"),  # the default operator ":+"
        ("${A:01:2}", "el"),
        ("${A:1::2}", "el"),  # any run of colons separates offset and length
        ("${A:1:2:3}", "hello"),  # length "2:3"
        ("${#A}", "5"),
        ("${#U}", "13"),  # bytes, not characters
        ("${U:1:1}", "\udcc3"),  # half of "é": the bytes come back as a surrogate escape
        ("${U:1:2}", "é"),
    ],
)
def test_length_and_substrings(text: str, expected: str) -> None:
    assert sub(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("${P#*/}", "usr/local/bin/tool.tar.gz"),
        ("${P##*/}", "tool.tar.gz"),  # `*` also matches "/"
        ("${P%.*}", "/usr/local/bin/tool.tar"),
        ("${P%%.*}", "/usr/local/bin/tool"),
        ("${A#*}", "ello"),  # the empty prefix is never tried: `*` removes one byte
        ("${A%*}", "hell"),
        ("${A##*}", ""),
        ("${A#[a-h]}", "ello"),
        ("${A#[^a-h]}", "hello"),
        ("${A#?}", "ello"),
        ("${A#x}", "hello"),
        ("${A#l}", "hello"),
        ("${A#[}", "hello"),  # malformed pattern: nothing is trimmed
        ("${A%[a-z]}", "hello"),  # the % forms reverse the pattern too: "]z-a[" is malformed
        ("${A%%l[lo]}", "hello"),  # ... and "]ol[l" matches nothing here
        ("${CAFE##*[^é]}", ""),  # a star may resume inside a character: its tail byte is not "é"
        ("${U%?}", "héllo wörl"),
    ],
)
def test_trimming_with_globs(text: str, expected: str) -> None:
    assert sub(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("${A/l/L}", "heLlo"),
        ("${A//l/L}", "heLLo"),
        ("${A/l/}", "helo"),
        ("${A//l/}", "heo"),
        ("${A/#h/H}", "Hello"),
        ("${A/#x/H}", "hello"),
        ("${A/#h/}", "hello"),  # without a replacement the anchored forms change nothing
        ("${A/%o/O}", "hellO"),
        ("${A//l*/x}", "hello"),  # patterns are literal here, not globs
        ("${P//\\//:}", ":usr:local:bin:tool.tar.gz"),  # "\/" is an escaped slash
        ("${A//l///}", "heo"),  # any run of slashes separates pattern and replacement
        ("${A/l/$$}", "he$lo"),  # "$$" is an escape in replace arguments only
        ("${A//${E}/-}", "-h-e-l-l-o-"),  # an empty pattern matches around every rune
        ("${U//${E}/-}", "-h-é-l-l-o- -w-ö-r-l-d-"),
        ("${BR/l} a/b}!", "hebll!"),  # the pattern runs to the next "/", past the brace: "l} a"
    ],
)
def test_replacing(text: str, expected: str) -> None:
    assert sub(text) == expected


@pytest.mark.parametrize(
    "text, value, expected",
    [
        ("${V^}", "hello", "Hello"),
        ("${V^^}", "hello wörld", "HELLO WÖRLD"),
        ("${V,}", "HELLO", "hELLO"),
        ("${V,,}", "HÉLLO", "héllo"),
        ("${V^,}", "hello", "hello"),  # an operator pair Go parses and ignores
        ("${V,^}", "HELLO", "HELLO"),
        ("${V^^}", "straße", "STRAßE"),  # simple case mapping: no "SS"
        ("${V,,}", "İΣ", "iσ"),  # no combining dot, no final sigma
        ("${V,}", "ǅx", "ǆx"),
        ("${V^^}", "a\udcffb", "A\ufffdB"),  # bytes that are not UTF-8 become U+FFFD
        ("${V^}", "", ""),
    ],
)
def test_case(text: str, value: str, expected: str) -> None:
    assert substitute(text, lambda name: (value, True)) == expected


def test_a_nul_ends_the_template() -> None:
    assert sub("a\x00b${A}") == "a"
    assert sub("$$\x00$$") == "$"


def test_nesting_is_not_limited_by_python_recursion() -> None:
    depth = 3000
    assert sub("${E:-" * depth + "x" + "}" * depth) == "x"


def test_arguments_are_evaluated_before_their_variable_in_order() -> None:
    asked = []

    def lookup(name: str) -> tuple[str, bool]:
        asked.append(name)
        return loose(name)

    assert substitute("${A:-${B}${C:-${D}}} ${E}", lookup) == "hello "
    assert asked == ["B", "D", "C", "A", "E"]


def test_strict_mode() -> None:
    assert substitute("${A} ${MISSING:-d} ${MISSING:=d} ${MISSING=d} ${MISSING:+d} ${MISSING:?d}", strict) == (
        "hello d d d d d"
    )
    for text in ["${MISSING}", "${#MISSING}", "${MISSING^^}", "${MISSING/a/b}", "${MISSING:1}", "${MISSING#x}"]:
        exc = error(text, strict)
        assert (exc.kind, exc.variable) == (UNSET, "MISSING"), text
    # The default is evaluated even when the variable is set: a missing variable inside it fails.
    exc = error("${A:-${NOPE}}", strict)
    assert exc.variable == "NOPE"


@pytest.mark.parametrize(
    "text, kind",
    [
        ("${", "unable to parse variable name"),
        ("${}", "unable to parse variable name"),
        ("${-A}", "unable to parse variable name"),
        ("${A", "missing closing brace"),
        ("${A-x}", "missing closing brace"),  # no POSIX forms without ":" except "="
        ("${A+x}", "missing closing brace"),
        ("${A?x}", "missing closing brace"),
        ("${A }", "missing closing brace"),
        ("${A:}", "unable to parse substitution within function"),
        ("${A:-x", "unable to parse substitution within function"),
        ("${A#}", "unable to parse substitution within function"),
        ("${A///x}", "unable to parse substitution within function"),
        ("${#}", "bad substitution"),
        ("${#A:1}", "bad substitution"),
        ("${A:é}", "bad substitution"),  # a multi-byte character right after ":"
        ("${A:1${B}}", "bad substitution"),
        ("${A#x${B}}", "bad substitution"),
        ("${A,,,}", "bad substitution"),
        ("${A/x}", "bad substitution"),
        ("${A//l}", "bad substitution"),  # the one-argument forms need their slash: ${A//l/}
        ("fine ${A} then ${B:-${C}", "unable to parse substitution within function"),
    ],
)
def test_parse_errors(text: str, kind: str) -> None:
    exc = error(text)
    assert exc.kind == kind
    assert isinstance(exc, ValidationError) and exc.exit_code == ExitCode.INVALID
    assert "\n" not in str(exc)


def test_parse_errors_win_over_strict_errors() -> None:
    assert error("${MISSING} ${A", strict).kind == "missing closing brace"


def test_errors_say_where_and_never_quote_text_or_values() -> None:
    exc = error("a: 1\nb: ${A")
    assert str(exc) == "missing closing brace at line 2, column 7 (in the expression at line 2, column 4)"
    exc = error("x: hunter2\ny: ${SECRET:1:9223372036854775807}")
    assert exc.kind == OVERFLOW and exc.variable == "SECRET" and "line 2, column 4" in str(exc)
    exc = error("pw: ${SECRET} ${NOPE}", strict)
    assert str(exc).startswith("variable 'NOPE' is not set (strict mode) at line 1, column 15")
    leaky = ["s3cr3t ${A:-s3cr3t", "${SECRET} ${NOPE}", "${SECRET:1:9223372036854775807}", "${SECRET#[}${A"]
    for exc in (error(text, strict) for text in leaky):
        assert "hunter2" not in str(exc) and "s3cr3t" not in str(exc)


def test_text_or_value_that_is_not_unicode() -> None:
    assert error("${A} \ud800").kind == NOT_UTF8
    exc = error("${V}", lambda name: ("\ud800", True))
    assert (exc.kind, exc.variable) == (NOT_UTF8, "V")
    # Bytes that are not UTF-8 travel through as surrogate escapes.
    assert substitute("x${V}y", lambda name: ("\udcff", True)) == "x\udcffy"


def test_var_names() -> None:
    for good in ["A", "_", "_1", "abc_DEF_123"]:
        assert VAR_NAME.match(good)
    for bad in ["", "1A", "a-b", "A\n", "é", "A B", "a.b"]:
        assert not VAR_NAME.match(bad), bad
    check_var_names(["A", "_b"])
    with pytest.raises(SubstitutionError) as caught:
        check_var_names(["ok", "a-b", "1x"])
    assert caught.value.kind == INVALID_NAME and caught.value.variable == "a-b"
    assert str(caught.value) == "'a-b' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
    with pytest.raises(SubstitutionError, match=r"^'A\\n' var name"):
        check_var_names(["A\n"])


@pytest.mark.parametrize(
    "pattern, name, expected",
    [
        (b"*", b"a/b", True),  # unlike path.Match, `*` and `?` cross "/"
        (b"?", b"/", True),
        (b"a*", b"abc", True),
        (b"*c", b"abcabc", True),
        (b"*b", b"abcabc", False),
        (b"ab", b"xab", False),
        (b"a*bc*d", b"abcxbcd", True),
        (b"a*bc*d", b"abxd", False),
        (b"a*b*c", b"axbyc", True),
        (b"*x", b"", False),
        (b"", b"", True),
        (b"", b"a", False),
        (b"[!a]", b"!", True),  # "!" is no negation
        (b"[!a]", b"b", False),
        (b"[^a]", b"b", True),
        (b"[a-c]", b"b", True),
        (b"[\\]]", b"]", True),
        (b"\\*", b"*", True),
        (b"\\*", b"x", False),
        (b"?", "é".encode(), True),
        (b"??", "é".encode(), False),
        ("*[^é]".encode(), "é".encode(), True),  # the star resumes at the second byte of "é"
        (b"a[", b"b", False),  # malformed parts count only where matching reaches them
        (b"a[", b"a", False),
        (b"a[", b"ab", BadPattern),
        (b"[]a]", b"a", BadPattern),
        (b"[a-]", b"a", BadPattern),
        (b"[-a]", b"a", BadPattern),
        (b"\\", b"x", BadPattern),
        (b"x\\", b"y", False),
        (b"[\xff]", b"a", BadPattern),
    ],
)
def test_glob_match(pattern: bytes, name: bytes, expected) -> None:
    if expected is BadPattern:
        with pytest.raises(BadPattern):
            glob_match(pattern, name)
    else:
        assert glob_match(pattern, name) is expected
