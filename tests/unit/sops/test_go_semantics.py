"""Where Go (sops) and Python differ: regexes, numbers, timestamps, merge keys, binary output, the MAC modes."""

from __future__ import annotations

import re

import pytest

from bootstrap import sops
from bootstrap.errors import DecryptError
from bootstrap.sops.mac import MacMismatchError
from bootstrap.sops.regex import InvalidGoRegex, compile_go
from bootstrap.sops.stores import json_store
from bootstrap.sops.values import go_float, go_float_g, go_float_json
from tests.support.sops import encrypt_bytes, sops_decrypt, typed


# -- regexes -----------------------------------------------------------------------------------------------
def test_go_regex_accepts_an_inline_flag_inside_a_group_which_python_refuses():
    pattern = "((?i)(pass|secret))"
    with pytest.raises(re.error):
        re.compile(pattern)
    rx = compile_go(pattern, field="f")
    assert rx.search("DB_PASSWORD") and rx.search("mySecret") and not rx.search("user")


@pytest.mark.parametrize("pattern", [r"(?<=a)b", r"a\Z", r"(a", r"\p{Nope}", r"a{1001}"])
def test_patterns_re2_refuses_name_the_field(pattern):
    with pytest.raises(InvalidGoRegex, match=r"^x.yaml: sops metadata encrypted_regex is not a valid regular expression"):
        compile_go(pattern, field="x.yaml: sops metadata encrypted_regex")


def test_go_regex_matches_anywhere_and_on_undecodable_bytes():
    assert compile_go("^data$", field="f").search("data") and not compile_go("^data$", field="f").search("metadata")
    assert compile_go("é", field="f").search("café")
    assert compile_go(r"\x{FFFD}|\xff", field="f").search("k\udcff") is not None  # no exception on surrogates


def test_a_file_with_an_re2_only_regex_decrypts_like_sops(keys):
    text = b"DB_PASSWORD: hunter2\nuser: admin\nmySecret: s\n"
    data = encrypt_bytes(text, "yaml", [keys.one.recipient], encrypted_regex="((?i)(pass|secret))")
    assert b"user: admin" in data and b"hunter2" not in data
    ours = sops.decrypt(data, keys.ring(keys.one), fmt="yaml", name="r.yaml").render()
    assert typed(ours, "yaml") == typed(sops_decrypt(data, "yaml", keys.file(keys.one)).stdout, "yaml")


@pytest.mark.parametrize("field", ["encrypted_regex", "unencrypted_regex", "encrypted_comment_regex",
                                   "unencrypted_comment_regex"])
def test_a_file_whose_regex_re2_refuses_is_refused_naming_the_field(keys, field):
    data = encrypt_bytes(b"a: 1\n", "yaml", [keys.one.recipient], **{field: "^a$"})
    broken = data.replace(b"_regex: ^a$", b"_regex: (?<=a)b")
    assert broken != data
    with pytest.raises(DecryptError, match=rf"^f.yaml: sops metadata {field} is not a valid regular expression"):
        sops.decrypt(broken, keys.ring(keys.one), fmt="yaml", name="f.yaml")


# -- numbers -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("x", "f", "g", "j"), [
    (1000.0, "1000", "1000", "1000"),
    (1e20, "100000000000000000000", "1e+20", "100000000000000000000"),
    (1e21, "1000000000000000000000", "1e+21", "1e+21"),
    (1e6, "1000000", "1e+06", "1000000"),
    (123456.0, "123456", "123456", "123456"),
    (1.5e-7, "0.00000015", "1.5e-07", "1.5e-7"),
    (1e-5, "0.00001", "1e-05", "0.00001"),
    (-0.0, "-0", "-0", "-0"),
    (12345678901234567890.0, "12345678901234567000", "1.2345678901234567e+19", "12345678901234567000"),
    (5e-324, "0." + "0" * 323 + "5", "5e-324", "5e-324"),
])
def test_go_float_renderings(x, f, g, j):
    assert (go_float(x), go_float_g(x), go_float_json(x)) == (f, g, j)


@pytest.mark.parametrize(("version", "exact"), [("3.13.2", True), ("3.13.3", True), ("3.14.0", True), ("4.0.0", True),
                                                ("3.13.1", False), ("3.11.0", False), ("3.9.4", False), ("", False),
                                                (None, False), ("1.0", False)])
def test_json_integers_are_ints_from_3_13_2(version, exact):
    assert json_store.exact_ints(version) is exact


def test_json_numbers_follow_the_writing_version():
    root = json_store.parse(b'{"a": 42, "b": 9007199254740993, "c": -0, "d": 18446744073709551616, "e": 1.0}', "x")
    legacy = dict(json_store.numbers(json_store.parse(b'{"a": 42, "b": 9007199254740993, "c": -0}', "x"), False, "x"))
    assert legacy == {"a": 42.0, "b": 9007199254740992.0, "c": -0.0} and all(type(v) is float for v in legacy.values())
    assert str(legacy["c"]) == "-0.0"
    exact = dict(json_store.numbers(root, True, "x"))
    assert exact == {"a": 42, "b": 9007199254740993, "c": 0, "d": 18446744073709551616.0, "e": 1.0}
    assert [type(v) for v in exact.values()] == [int, int, int, float, float]


def test_json_output_prints_integral_floats_as_go(keys):
    data = encrypt_bytes(b'{"a": 42, "b": 12345678901234567890, "c": "<&>"}', "json", [keys.one.recipient])
    ours = sops.decrypt(data, keys.ring(keys.one), fmt="json", name="n.json").render()
    theirs = sops_decrypt(data, "json", keys.file(keys.one)).stdout
    assert ours == theirs == b'{\n\t"a": 42,\n\t"b": 12345678901234567000,\n\t"c": "\\u003c\\u0026\\u003e"\n}\n'


# -- YAML output -------------------------------------------------------------------------------------------
def test_yaml_merge_keys_timestamps_and_floats_read_back_as_sops_prints_them(keys):
    text = (b"base: &b {k: v}\nm:\n  <<: *b\n  e: 1\nts: 2024-01-02T03:04:05\nsp: 2001-12-14 21:59:43.10 -5\n"
            b"d: 2024-01-02\nf: 1e6\ni: 1.0\n")
    data = encrypt_bytes(text, "yaml", [keys.one.recipient])
    ours = sops.decrypt(data, keys.ring(keys.one), fmt="yaml", name="m.yaml").render()
    theirs = sops_decrypt(data, "yaml", keys.file(keys.one)).stdout
    assert ours == theirs  # byte-identical here (no comments, sops' layout)
    doc = typed(ours, "yaml")[0]
    assert dict(doc[1])[("str", "m")] == ("map", ((("str", "k"), ("str", "v")), (("str", "e"), ("int", 1))))
    assert dict(doc[1])[("str", "ts")][0] == "datetime" and dict(doc[1])[("str", "i")] == ("int", 1)


def test_non_string_yaml_keys_are_refused_as_sops_does(keys):
    data = encrypt_bytes(b"a: 1\n", "yaml", [keys.one.recipient])
    for key in (b"1", b"true", b"~", b"2024-01-01", b"1.5"):
        with pytest.raises(DecryptError, match=r"^k.yaml: non-string key \(\w+\) at line 1: sops supports only string keys"):
            sops.decrypt(key + b": x\n" + data, keys.ring(keys.one), fmt="yaml", name="k.yaml")


# -- binary output from JSON input -------------------------------------------------------------------------
def test_binary_output_from_a_json_stored_binary_file(matrix):
    enc = matrix["binary"]
    theirs = sops_decrypt(enc.data, "json", enc.key_file, output_type="binary")
    assert theirs.returncode == 0, theirs.stderr
    from bootstrap.stages.keys import load_keyring

    ours = sops.decrypt(enc.data, load_keyring(str(enc.key_file)), fmt="json", name="b.json").render("binary")
    assert ours == theirs.stdout == enc.case.plaintext


def test_binary_output_needs_a_data_string(keys):
    data = encrypt_bytes(b'{"other": 1}', "json", [keys.one.recipient])
    with pytest.raises(DecryptError, match=r"^o.json: binary output needs a top-level 'data' value"):
        sops.decrypt(data, keys.ring(keys.one), fmt="json", name="o.json").render("binary")


# -- MAC modes ---------------------------------------------------------------------------------------------
MAC_ONLY = b"kind: Secret\nstringData:\n  password: hunter2\n  token: abc\nplain: visible\n"


def test_mac_only_encrypted_files_still_detect_a_deleted_encrypted_value(keys):
    data = encrypt_bytes(MAC_ONLY, "yaml", [keys.one.recipient], mac_only_encrypted=True,
                         encrypted_regex="^stringData$")
    ring = keys.ring(keys.one)
    assert sops.decrypt(data, ring, fmt="yaml", name="m.yaml").documents[0]["stringData"]["token"] == "abc"
    edited = data.replace(b"plain: visible", b"plain: edited")  # not MAC'ed in this mode: accepted, as sops
    assert sops.decrypt(edited, ring, fmt="yaml", name="m.yaml").documents[0]["plain"] == "edited"
    deleted = re.sub(rb"(?m)^\s*token: ENC\[.*\n", b"", data)
    assert deleted != data
    assert sops_decrypt(deleted, "yaml", keys.file(keys.one)).returncode != 0
    with pytest.raises(MacMismatchError, match=r"m.yaml: MAC mismatch: the content differs"):
        sops.decrypt(deleted, ring, fmt="yaml", name="m.yaml")


def test_an_unencrypted_negative_zero_fails_the_mac_as_in_sops(keys):
    """sops prints an unencrypted float -0.0 as `-0`, reads that back as the int 0 and hashes `0`: its own
    file then fails the MAC (every version from 3.9 to 3.13). We refuse it the same way."""
    data = encrypt_bytes(b"n: -0.0\nkeep: x\n", "yaml", [keys.one.recipient], encrypted_regex="^keep$")
    assert b'"n": -0\n' in data  # go-yaml quotes the key n (a YAML 1.1 boolean)
    assert b"MAC mismatch" in sops_decrypt(data, "yaml", keys.file(keys.one)).stderr
    with pytest.raises(MacMismatchError):
        sops.decrypt(data, keys.ring(keys.one), fmt="yaml", name="z.yaml")
