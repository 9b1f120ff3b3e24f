"""Tests written for mutants that survived the first mutation run (docs/mutation.md): INI as go-ini reads
and writes it, the rendered-object key checks, the RE2 options, binary and JSON edge cases, markers."""

from __future__ import annotations

import pytest

from bootstrap import sops
from bootstrap.errors import DecryptError
from bootstrap.sops import datakey
from bootstrap.sops.regex import compile_go
from bootstrap.sops.stores import dotenv_store, ini_store, json_store, yaml_store
from bootstrap.sops.tree import Comment, TreeMap
from tests.support.sops import encrypt_bytes, sops_decrypt

# go-ini constructs sops accepts: `:` delimiters, quoted, backtick and triple-quoted values, inline comments
# after values, `#` and `;` comments (before sections and keys), keys before the first section.
INI_EDGES = b'''\
top = before any section
# hash comment before a section
[quoting]
colon: delimited
double = "  spaced  "
single = 'single'
back = `has ; and # inside`
triple = """line one
line two"""
inline = value ; trailing comment
inline_hash = value # hash comment
  indented = key
empty =
; semicolon comment before a key
after = comment
`quoted key` = k
[second]
x = 1
'''


def test_ini_edge_cases_decrypt_byte_for_byte_like_sops(keys):
    data = encrypt_bytes(INI_EDGES, "ini", [keys.one.recipient])
    theirs = sops_decrypt(data, "ini", keys.file(keys.one))
    assert theirs.returncode == 0, theirs.stderr
    ours = sops.decrypt(data, keys.ring(keys.one), fmt="ini", name="e.ini").render()
    assert ours == theirs.stdout


def test_ini_parse_of_go_ini_constructs():
    root = dict(ini_store.parse(INI_EDGES, "e.ini"))
    assert dict(root["DEFAULT"]) == {"top": "before any section"}
    quoting = root["quoting"]
    assert quoting[0] == (Comment("hash comment before a section"), None)
    values = {k: v for k, v in quoting if type(k) is str}
    assert values == {
        "colon": "delimited", "double": "  spaced  ", "single": "single", "back": "has ; and # inside",
        "triple": "line one\nline two", "inline": "value", "inline_hash": "value", "indented": "key", "empty": "",
        "after": "comment", "quoted key": "k",
    }
    comments = [k.text for k, _ in quoting if type(k) is Comment]
    assert comments == ["hash comment before a section", "trailing comment", "hash comment",
                        "semicolon comment before a key"]


@pytest.mark.parametrize(("text", "message"), [
    (b"[open\nk = v\n", r"e.ini: malformed INI at line 1: unclosed section header"),
    (b"[s]\njust a line\n", r"e.ini: malformed INI at line 2: key without '=' or ':'"),
    (b'[s]\nk = """never closed\n', r'e.ini: malformed INI at line 2: unclosed """ value'),
    (b"[s]\nk = \xff\n", r"e.ini: malformed INI: not valid UTF-8"),
])
def test_malformed_ini_is_refused_with_the_line(text, message):
    with pytest.raises(DecryptError, match=message):
        ini_store.parse(text, "e.ini")


def test_rendered_objects_refuse_non_string_keys_naming_the_path(keys):
    data = encrypt_bytes(b"data:\n  a: x\n", "yaml", [keys.one.recipient], encrypted_regex="^data$")
    decrypted = sops.decrypt(data, keys.ring(keys.one), fmt="yaml", name="f.yaml")
    import yaml

    obj = yaml.safe_load(data)
    obj["data"][1] = "x"
    with pytest.raises(DecryptError, match=r"^Secret/x: non-string key \(int\) under 'data': sops supports only string keys"):
        sops.decrypt_object(obj, decrypted.opener, name="Secret/x")
    obj = yaml.safe_load(data)
    obj[True] = "x"
    with pytest.raises(DecryptError, match=r"^Secret/x: non-string key \(bool\) under the top level"):
        sops.decrypt_object(obj, decrypted.opener, name="Secret/x")
    obj = yaml.safe_load(data)
    obj["data"] = [{"a": obj["data"]["a"]}]  # a list keeps the owner's path: data:a:
    assert sops.decrypt_object(obj, decrypted.opener, name="x")["data"] == [{"a": "x"}]


def test_re2_errors_are_not_printed_by_the_library(capfd):
    with pytest.raises(DecryptError):
        compile_go("(?<=quiet)", field="f")
    assert capfd.readouterr().err == ""


def test_json_numbers_out_of_float64_range_are_refused():
    for text in (b'{"a": 1e400}', b'{"a": -1e400}'):
        with pytest.raises(DecryptError, match=r"^n.json: malformed JSON \(.*a number out of range"):
            json_store.parse(text, "n.json")
    with pytest.raises(DecryptError, match=r"n.json: a JSON number is out of float64 range"):
        json_store.numbers(json_store.parse(b'{"a": ' + b"9" * 400 + b"}", "n.json"), False, "n.json")


def test_binary_output_takes_the_first_data_string_and_refuses_others():
    from bootstrap.sops.stores import binary_store

    assert binary_store.emit([TreeMap([("data", "first"), ("data", "second")])]) == b"first"
    assert binary_store.emit([TreeMap([("data", b"\x00raw")])]) == b"\x00raw"
    with pytest.raises(DecryptError, match=r"^binary output needs a string 'data' value, not a int"):
        binary_store.emit([TreeMap([("data", 5)])])
    with pytest.raises(DecryptError, match=r"needs a top-level 'data' value \(none found\)"):
        binary_store.emit([TreeMap([("other", "x")])])
    with pytest.raises(DecryptError, match=r"b.bin: binary sops file has no 'data' value"):
        binary_store.load(b'{"other": "x", "sops": {"mac": "m", "lastmodified": "x"}}', "b.bin")


@pytest.mark.parametrize(("store", "yes", "no"), [
    (yaml_store, b"a: 1\nsops:\n    mac: ENC[x]\n", b"a: 1\n  sops:\n    mac: x\n"),
    (json_store, b'{"sops" : {"mac" : "x"}}', b'{"sops": {"lastmodified": "x"}}'),
    (dotenv_store, b"A=1\nsops_mac=ENC[x]\nsops_lastmodified=x\n", b"A=1\nsops_mac=ENC[x]\n"),
])
def test_metadata_markers(store, yes, no):
    assert store.has_metadata(yes) is True
    assert store.has_metadata(no) is False


def test_recipients_in_messages_are_shown_bounded_and_printable():
    assert datakey._shown("  age1abc  ") == "age1abc"
    long = "age1" + "x" * 2000
    assert datakey._shown(long) == repr(long[:40]) + "…"
    assert datakey._shown("age1\x1b[31m") == repr("age1\x1b[31m") + "…"


def test_file_recipients_and_read_metadata(keys):
    data = encrypt_bytes(b"a: 1\n", "yaml", [keys.one.recipient, keys.two.recipient])
    assert sops.file_recipients(data, "yaml", "f.yaml") == [keys.one.recipient, keys.two.recipient]
    meta = sops.read_metadata(data, "yaml", "f.yaml")
    assert meta.age_recipients == [keys.one.recipient, keys.two.recipient] and meta.mac.startswith("ENC[")
    with pytest.raises(DecryptError, match=r"^f.yaml: sops metadata not found"):
        sops.read_metadata(b"a: 1\n", "yaml", "f.yaml")


def test_decrypted_files_and_ciphers_never_show_or_pickle_their_secrets(keys):
    import pickle

    from bootstrap.sops.cipher import ValueCipher

    data = encrypt_bytes(b"password: hunter2\n", "yaml", [keys.one.recipient])
    decrypted = sops.decrypt(data, keys.ring(keys.one), fmt="yaml", name="p.yaml")
    assert "hunter2" not in repr(decrypted) + str(decrypted)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(decrypted)
    assert repr(ValueCipher.for_key(bytes(32))) == "ValueCipher(<data key>)"


def test_small_guards_found_among_the_survivors():
    from bootstrap.errors import UsageError
    from bootstrap.sops.cipher import is_enc

    with pytest.raises(UsageError, match=r"^unknown input type 'toml': expected one of yaml, json, dotenv, ini, binary$"):
        sops.detect_format("x.toml", "toml")
    assert sops.mac_token({"sops": "not a mapping"}) is None and sops.mac_token({"sops": {"mac": 5}}) is None
    assert is_enc("ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]")
    assert not is_enc("ENC[AES256_GCM,garbage") and not is_enc("ENC[AES256_CBC,data:a,iv:b,tag:c,type:str]")
