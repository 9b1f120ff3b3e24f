"""The rendered-object API: Decrypted.opener, decrypt_object and mac_token (files made by the real sops)."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
import yaml

from bootstrap import sops
from bootstrap.errors import DecryptError
from bootstrap.redact import REDACTED
from tests.support.sops import encrypt_bytes

STREAM = b"""\
apiVersion: v1
kind: Secret
metadata:
  name: one
stringData:
  password: hunter2
  port: 5432
  ratio: 2.5
  enabled: true
  since: 2024-01-02
---
apiVersion: v1
kind: Secret
metadata:
  name: two
data:
  token: dG9rZW4=
"""
RULE = {"encrypted_regex": "^(data|stringData)$"}


@pytest.fixture(scope="module")
def stream(keys):
    data = encrypt_bytes(STREAM, "yaml", [keys.one.recipient], **RULE)
    decrypted = sops.decrypt(data, keys.ring(keys.one), fmt="yaml", name="apps/secrets.yaml")
    return data, decrypted


def _rendered(data: bytes) -> list[dict]:
    """What kustomize prints for the file: the objects with a namespace and a label added."""
    docs = list(yaml.safe_load_all(data))
    for doc in docs:
        doc["metadata"]["namespace"] = "apps"
        doc["metadata"].setdefault("labels", {})["app.kubernetes.io/part-of"] = "shop"
    return docs


def test_rendered_objects_decrypt_with_the_file_opener_despite_added_fields(stream):
    data, decrypted = stream
    one, two = _rendered(data)
    out = sops.decrypt_object(one, decrypted.opener, name="Secret/apps/one")
    assert out["stringData"] == {"password": "hunter2", "port": 5432, "ratio": 2.5, "enabled": True,
                                 "since": "2024-01-02T00:00:00Z"}
    assert type(out["stringData"]["port"]) is int and type(out["stringData"]["ratio"]) is float
    assert out["metadata"] == {"name": "one", "namespace": "apps", "labels": {"app.kubernetes.io/part-of": "shop"}}
    assert "sops" not in out and "sops" in one  # a new dict; the input is left alone
    assert sops.decrypt_object(two, decrypted.opener, name="Secret/apps/two")["data"] == {"token": "dG9rZW4="}
    assert [{k: v for k, v in d.items() if k != "metadata"} for d in decrypted.documents] == [
        {k: v for k, v in sops.decrypt_object(d, decrypted.opener, name="x").items() if k != "metadata"}
        for d in (one, two)
    ]


def test_a_value_moved_to_another_key_fails_authentication_naming_object_and_path(stream):
    data, decrypted = stream
    one, _ = _rendered(data)
    one["stringData"]["user"] = one["stringData"].pop("password")
    with pytest.raises(DecryptError) as err:
        sops.decrypt_object(one, decrypted.opener, name="Secret/apps/one")
    message = str(err.value)
    assert "Secret/apps/one: value at 'stringData:user' failed authentication" in message
    assert "hunter2" not in message and "ENC[" not in message


def test_a_tampered_ciphertext_is_refused(stream):
    data, decrypted = stream
    one, _ = _rendered(data)
    value = one["stringData"]["password"]
    i = value.index("data:") + 5
    one["stringData"]["password"] = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1:]
    with pytest.raises(DecryptError, match=r"Secret/apps/one: value at 'stringData:password' failed authentication"):
        sops.decrypt_object(one, decrypted.opener, name="Secret/apps/one")


def test_a_plaintext_value_where_the_rule_says_encrypted_is_refused(stream):
    data, decrypted = stream
    one, _ = _rendered(data)
    one["stringData"]["added"] = "by a patch"
    with pytest.raises(DecryptError, match=r"Secret/apps/one: value at 'stringData:added' should be encrypted"):
        sops.decrypt_object(one, decrypted.opener, name="Secret/apps/one")


def test_an_object_of_another_file_is_refused_by_its_stanza(stream, keys):
    _, decrypted = stream
    other = encrypt_bytes(STREAM, "yaml", [keys.one.recipient], **RULE)
    one, _ = _rendered(other)
    with pytest.raises(DecryptError, match=r"Secret/apps/one: its sops stanza is not the one of apps/secrets.yaml"):
        sops.decrypt_object(one, decrypted.opener, name="Secret/apps/one")
    with pytest.raises(DecryptError, match=r"Secret/x: not a SOPS-encrypted object"):
        sops.decrypt_object({"kind": "Secret"}, decrypted.opener, name="Secret/x")


def test_the_mac_is_not_checked_but_the_rule_is_the_objects_own(stream):
    data, decrypted = stream
    one, _ = _rendered(data)
    one["metadata"]["name"] = "renamed"  # breaks the file MAC; values still authenticate
    assert sops.decrypt_object(one, decrypted.opener, name="x")["stringData"]["password"] == "hunter2"
    one["sops"] = {**one["sops"], "encrypted_regex": "^nothing$"}  # the stanza's rule decides: nothing encrypted
    assert sops.decrypt_object(one, decrypted.opener, name="x")["stringData"]["password"].startswith("ENC[")


def test_json_objects_and_their_types(keys):
    text = b'{"kind": "Secret", "data": {"n": 42, "big": 9007199254740993, "f": 1.5, "s": "x"}}'
    data = encrypt_bytes(text, "json", [keys.one.recipient], encrypted_regex="^data$")
    decrypted = sops.decrypt(data, keys.ring(keys.one), fmt="json", name="s.json")
    obj = json.loads(data)
    obj["metadata"] = {"namespace": "apps"}
    out = sops.decrypt_object(obj, decrypted.opener, name="Secret/s")
    assert out["data"] == decrypted.documents[0]["data"]
    assert out["metadata"] == {"namespace": "apps"}


def test_comment_rule_files_decrypt_what_is_encrypted(keys):
    text = b"kind: Secret\nstringData:\n  # sops:enc\n  password: hunter2\n  user: admin\n"
    data = encrypt_bytes(text, "yaml", [keys.one.recipient], encrypted_comment_regex="sops:enc")
    decrypted = sops.decrypt(data, keys.ring(keys.one), fmt="yaml", name="c.yaml")
    (obj,) = _rendered(b"metadata: {name: c}\n" + data)
    out = sops.decrypt_object(obj, decrypted.opener, name="Secret/c")
    assert out["stringData"] == {"password": "hunter2", "user": "admin"} == decrypted.documents[0]["stringData"]


def test_the_opener_never_shows_the_key_and_cannot_leave_the_process(stream):
    _, decrypted = stream
    opener = decrypted.opener
    assert "apps/secrets.yaml" in repr(opener) and "ENC[" not in repr(opener)
    assert repr(opener) == str(opener) == f"Opener('apps/secrets.yaml', {REDACTED})"
    for leak in (lambda: pickle.dumps(opener), lambda: copy.copy(opener), lambda: copy.deepcopy(opener)):
        with pytest.raises(TypeError):
            leak()
    with pytest.raises(TypeError):
        sops.decrypt_object({"sops": {}}, "not an opener", name="x")  # type: ignore[arg-type]


def test_mac_token_maps_objects_to_their_file(stream, keys):
    data, decrypted = stream
    one, two = _rendered(data)
    token = sops.mac_token(one)
    assert token and token.startswith("ENC[AES256_GCM,")
    assert token == sops.mac_token(two) == sops.mac_token(one["sops"]) == sops.mac_token(decrypted)
    assert token == sops.mac_token(decrypted.opener) == decrypted.opener.mac_token
    other = encrypt_bytes(STREAM, "yaml", [keys.one.recipient], **RULE)
    assert sops.mac_token(next(yaml.safe_load_all(other))) != token
    assert sops.mac_token({"kind": "ConfigMap"}) is None and sops.mac_token("text") is None
    assert sops.mac_token({"sops": {"mac": ""}}) is None
