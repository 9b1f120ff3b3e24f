"""Pure pieces: Go float rendering, typed plaintexts, Shamir, metadata un-flattening, redaction."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap.sops import detect_format, is_encrypted
from bootstrap.sops.metadata import unflatten
from bootstrap.sops.shamir import _mul, combine
from bootstrap.sops.tree import Comment
from bootstrap.sops.values import ValueTypeError, canonical_bytes, go_float, parse_typed, rfc3339


@pytest.mark.parametrize(("value", "text"), [
    (3.14, "3.14"), (1.0, "1"), (1e3, "1000"), (-0.0, "-0"), (0.00000015, "0.00000015"),
    (1e20, "100000000000000000000"), (float("inf"), "+Inf"), (float("-inf"), "-Inf"), (float("nan"), "NaN"),
])
def test_go_float(value, text):
    assert go_float(value) == text


def test_typed_plaintexts():
    assert parse_typed(b"42", "int") == 42
    assert parse_typed(b"-7", "int") == -7
    assert parse_typed(b"True", "bool") is True and parse_typed(b"f", "bool") is False
    assert parse_typed(b"1e3", "float") == 1000.0
    assert parse_typed(b" hi", "comment") == Comment(" hi")
    assert parse_typed(b"2024-01-02T03:04:05.500000000+01:00", "time") == "2024-01-02T03:04:05.5+01:00"
    assert parse_typed(b"\xff\x00", "str").encode("utf-8", "surrogateescape") == b"\xff\x00"
    for raw, type_ in [(b"4x", "int"), (b"yes", "bool"), (b"1,5", "float"), (b"x", "nosuchtype")]:
        with pytest.raises(ValueTypeError):
            parse_typed(raw, type_)


def test_canonical_bytes_match_sops():
    assert [canonical_bytes(v) for v in ("admin", 80, True, False, 1.5, 1.0)] == [
        b"admin", b"80", b"True", b"False", b"1.5", b"1"]


def test_rfc3339_mac_aad_drops_fraction_and_normalises_utc():
    assert rfc3339("2026-11-27T20:13:15Z", nanos=False) == "2026-11-27T20:13:15Z"
    assert rfc3339("2026-11-27T20:13:15.999+00:00", nanos=False) == "2026-11-27T20:13:15Z"


def _split(secret: bytes, parts: int, threshold: int) -> list[bytes]:
    """Test-only Shamir split over GF(2^8), shares = y-bytes then x."""
    coefficients = [[s] + [random.randrange(256) for _ in range(threshold - 1)] for s in secret]
    shares = []
    for x in range(1, parts + 1):
        ys = []
        for coeffs in coefficients:
            y, power = 0, 1
            for c in coeffs:
                y ^= _mul(c, power)
                power = _mul(power, x)
            ys.append(y)
        shares.append(bytes(ys) + bytes([x]))
    return shares


def test_shamir_combines_any_threshold_subset():
    secret = os.urandom(32)
    shares = _split(secret, 5, 3)
    assert combine(shares[:3]) == secret
    assert combine([shares[4], shares[1], shares[2]]) == secret
    assert combine(shares) == secret
    assert combine(shares[:2]) != secret  # below threshold: garbage, caught later by GCM


def test_shamir_rejects_bad_shares():
    shares = _split(os.urandom(32), 3, 2)
    with pytest.raises(ValueError, match="duplicate"):
        combine([shares[0], shares[0]])
    with pytest.raises(ValueError, match="unequal"):
        combine([shares[0], shares[1][1:]])


def test_unflatten_dotenv_metadata():
    flat = {"age__list_0__map_recipient": "age1x", "age__list_0__map_enc": "a\\nb",
            "key_groups__list_1__map_age__list_0__map_enc": "e", "lastmodified": "t", "mac_only_encrypted": "true"}
    assert unflatten(flat) == {
        "age": [{"recipient": "age1x", "enc": "a\nb"}],
        "key_groups": [None, {"age": [{"enc": "e"}]}],
        "lastmodified": "t", "mac_only_encrypted": "true",
    }


@pytest.mark.parametrize(("path", "fmt"), [
    ("a.yaml", "yaml"), ("a.YML", "yaml"), ("x.json", "json"), (".env", "dotenv"), ("a.ini", "ini"),
    ("file.txt", "binary"), ("noext", "binary"),
])
def test_detect_format(path, fmt):
    assert detect_format(path) == fmt
    assert detect_format(path, "json") == "json"


def test_is_encrypted_is_cheap_and_format_aware():
    assert is_encrypted(b"a: 1\nsops:\n    mac: ENC[x]\n", "yaml")
    assert not is_encrypted(b"a: 1\n", "yaml")
    assert is_encrypted(b'{"sops": {"mac": "x"}}', "json")
    assert is_encrypted(b"A=1\nsops_lastmodified=x\nsops_mac=ENC[x]\n", "dotenv")
    assert is_encrypted(b"[sops]\nmac = x\n", "ini")


@settings(max_examples=400, deadline=None)
@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_./@+=-]{0,6}( [A-Za-z0-9_./@+=()-]{1,4}){0,2}", fullmatch=True)
       | st.sampled_from(["true", "True", "TRUE", "false", "FALSE", "null", "Null", "NULL", "y", "Y", "yes", "No", "ON",
                          "off", "Off", "nan", "inf", "e5", "E1", "t", "f", "N"]))
def test_the_yaml_emitters_plain_fast_path_agrees_with_the_resolver(text):
    from bootstrap.sops.stores import yaml_emit

    assert yaml_emit._plain_ok(text) == yaml_emit.plain_ok_slow(text)
