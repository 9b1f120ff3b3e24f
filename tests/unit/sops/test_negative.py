"""Tampered, foreign or broken files are refused, each with its own one-line, value-free error."""

from __future__ import annotations

import re

import pytest

from bootstrap import sops
from bootstrap.errors import DecryptError, InvalidInputError, KeyError_

SECRET_VALUES = ("hunter2", "admin", "0ther-pw")


def _decrypt(data: bytes, ring, fmt: str = "yaml", **kw):
    return sops.decrypt(data, ring, fmt=fmt, name="secret.enc.yaml", **kw)


def _refused(data: bytes, ring, pattern: str, fmt: str = "yaml", error=DecryptError) -> str:
    with pytest.raises(error) as info:
        _decrypt(data, ring, fmt)
    message = str(info.value)
    assert re.search(pattern, message), message
    assert "\n" not in message
    assert not any(v in message for v in SECRET_VALUES)
    return message


def _line(data: bytes, key: str) -> bytes:
    return re.search(rb"(?m)^\s*" + key.encode() + rb": .*$", data).group(0)


def test_untouched_file_decrypts(simple, keys):
    assert _decrypt(simple["yaml"], keys.ring(keys.one)).documents[0]["stringData"]["password"] == "hunter2"


def test_flipped_ciphertext_byte_fails_authentication_naming_the_key_path(simple, keys):
    data = simple["yaml"]
    line = _line(data, "password")
    i = line.index(b"data:") + 5
    flipped = line[:i] + (b"A" if line[i:i + 1] != b"A" else b"B") + line[i + 1:]
    _refused(data.replace(line, flipped), keys.ring(keys.one), r"value at 'stringData:password' failed authentication")


def test_edited_unencrypted_field_breaks_the_mac(simple, keys):
    data = simple["yaml"].replace(b"plain_unencrypted: visible", b"plain_unencrypted: edited!")
    _refused(data, keys.ring(keys.one), r"secret.enc.yaml: MAC mismatch.*hint: .*edited outside sops")
    assert _decrypt(data, keys.ring(keys.one), ignore_mac=True).documents[0]["plain_unencrypted"] == "edited!"


def test_values_swapped_between_keys_fail_authentication(simple, keys):
    data = simple["yaml"]
    pw, user = _line(data, "password"), _line(data, "user")
    pw_enc, user_enc = pw.split(b": ", 1)[1], user.split(b": ", 1)[1]
    swapped = data.replace(pw, pw.replace(pw_enc, user_enc)).replace(user, user.replace(user_enc, pw_enc))
    _refused(swapped, keys.ring(keys.one), r"value at 'stringData:password' failed authentication")


def test_mac_from_another_file_is_a_mac_mismatch(simple, keys):
    data, other = simple["yaml"], simple["other-yaml"]
    transplanted = data.replace(_line(data, "mac"), _line(other, "mac"))
    _refused(transplanted, keys.ring(keys.one), r"MAC mismatch: the stored MAC does not open")


def test_missing_mac_is_a_mac_mismatch(simple, keys):
    data = simple["yaml"]
    _refused(data.replace(_line(data, "mac"), b"    mac: ''"), keys.ring(keys.one), r"MAC mismatch: the file has no MAC")


def test_truncated_age_armor_is_reported(simple, keys):
    data = simple["yaml"]
    lines = data.split(b"\n")
    begin = next(i for i, ln in enumerate(lines) if b"BEGIN AGE ENCRYPTED FILE" in ln)
    truncated = b"\n".join(lines[: begin + 2] + lines[begin + 3:])
    _refused(truncated, keys.ring(keys.one), r"age stanza for age1\w+ does not open \(corrupt or truncated")


def test_missing_metadata(keys):
    _refused(b"apiVersion: v1\nkind: Secret\n", keys.ring(keys.one), r"secret.enc.yaml: sops metadata not found")


def test_metadata_without_lastmodified(simple, keys):
    data = simple["yaml"]
    _refused(data.replace(_line(data, "lastmodified"), b"    lastmodified: yesterday"), keys.ring(keys.one),
             r"lastmodified is not an RFC 3339 time")


def test_wrong_key_lists_file_and_key_recipients(simple, keys):
    message = _refused(simple["yaml"], keys.ring(keys.stranger), r"no identity matches", error=KeyError_)
    assert keys.one.recipient in message and keys.stranger.recipient in message


@pytest.mark.parametrize("garbage", [b"\x00\x01\x02 not yaml: [", b": : :\n\t- x", b"key: [unclosed\n"])
def test_garbage_yaml_is_malformed_with_a_line(garbage, keys):
    _refused(garbage, keys.ring(keys.one), r"malformed YAML", error=InvalidInputError)


def test_garbage_json_and_dotenv(keys):
    _refused(b"{not json", keys.ring(keys.one), r"malformed JSON at line 1", fmt="json")
    _refused(b"A=1\nno equals sign\n", keys.ring(keys.one), r"malformed dotenv at line 2", fmt="dotenv")


def test_pgp_and_kms_only_file_is_refused_naming_the_backends(simple, keys):
    data = simple["yaml"]
    start = data.index(b"    age:")
    end = data.index(b"    lastmodified:")
    foreign = (
        data[:start]
        + b"    kms:\n        - arn: arn:aws:kms:eu-west-1:1:key/x\n          enc: AQID\n"
        + b"    pgp:\n        - fp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n          enc: x\n"
        + data[end:]
    )
    assert sops.file_recipients(foreign, "yaml", "f") == ["<kms>", "<pgp>"]
    _refused(foreign, keys.ring(keys.one), r"no age recipients \(master keys: kms, pgp\)")


def test_unsupported_recipient_type_is_named(simple, keys):
    data = simple["yaml"]
    pq = data.replace(keys.one.recipient.encode(), b"age1pq1" + b"q" * 40)
    _refused(pq, keys.ring(keys.stranger), r"unsupported recipient type\(s\): age1pq1", error=KeyError_)


def test_two_selection_rules_are_refused(simple, keys):
    data = simple["yaml"].replace(b"    unencrypted_suffix: _unencrypted",
                                  b"    unencrypted_suffix: _unencrypted\n    encrypted_regex: ^data$")
    _refused(data, keys.ring(keys.one), r"more than one of unencrypted_suffix, encrypted_regex")


def test_plain_value_at_an_encrypted_position_is_refused(simple, keys):
    data = simple["yaml"]
    line = _line(data, "user")
    _refused(data.replace(line, line.split(b":")[0] + b": plaintext"), keys.ring(keys.one),
             r"value at 'stringData:user' should be encrypted but is not in sops format")
