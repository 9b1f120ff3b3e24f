"""Every format × rule option × recipient/key-group layout decrypts to what `sops decrypt` (PyPI's 3.11) prints.

Other versions: test_versions.py."""

from __future__ import annotations

import json

import pytest
from bootstrap import sops
from bootstrap.errors import DecryptError
from bootstrap.stages.keys import load_keyring
from bootstrap.sops.stores import yaml_store
from bootstrap.sops.tree import to_plain
from tests.support.sops import typed
from tests.unit.sops.conftest import case_ids

CASE_IDS = case_ids()


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_decrypts_like_sops(matrix, case_id):
    enc = matrix[case_id]
    ring = load_keyring(str(enc.key_file))
    if enc.sops.returncode != 0:  # sops itself refuses (its comment-regex bug, #2281): so must we
        with pytest.raises(DecryptError):
            sops.decrypt(enc.data, ring, fmt=enc.case.fmt, name=case_id)
        return
    ours = sops.decrypt(enc.data, ring, fmt=enc.case.fmt, name=case_id).render()
    if enc.case.fmt in ("yaml", "json"):  # typed data: YAML 1.2 (ruamel), JSON int vs float
        assert typed(ours, enc.case.fmt) == typed(enc.sops.stdout, enc.case.fmt)
    if enc.case.fmt != "yaml":  # byte for byte (YAML: sops also prints the comments)
        assert ours == enc.sops.stdout


@pytest.mark.parametrize("case_id", ["yaml-default", "yaml-multidoc", "json-default", "dotenv-default", "binary"])
def test_round_trips_to_the_plaintext(matrix, case_id):
    enc = matrix[case_id]
    ring = load_keyring(str(enc.key_file))
    decrypted = sops.decrypt(enc.data, ring, fmt=enc.case.fmt, name=case_id)
    if enc.case.fmt in ("binary", "dotenv"):
        assert decrypted.render() == enc.case.plaintext
    elif enc.case.fmt == "json":
        assert decrypted.documents == [json.loads(enc.case.plaintext)]
    else:
        assert decrypted.documents == [to_plain(b) for b in yaml_store.parse(enc.case.plaintext, "plain")]


def test_yaml_anchors_expand_and_merge_keys_stay_literal(matrix):
    enc = matrix["yaml-default"]
    doc = sops.decrypt(enc.data, load_keyring(str(enc.key_file)), fmt="yaml", name="x").documents[0]
    assert doc["derived"]["<<"] == {"k": "v", "n": 1}
    assert doc["derived"]["extra"] == "x"
    assert doc["list"][1] == 2 and "a comment inside a list" not in str(doc["list"])
    assert doc["date"] == "2024-01-02T00:00:00Z" and doc["when"] == "2024-01-02T03:04:05.5+01:00"
    assert doc["big"] == 9223372036854775807 and doc["yes_str"] == "yes" and doc["bool_f"] is False


def test_multidoc_yields_one_document_each(matrix):
    enc = matrix["yaml-multidoc"]
    docs = sops.decrypt(enc.data, load_keyring(str(enc.key_file)), fmt="yaml", name="x").documents
    assert [d.get("metadata", {}).get("name") for d in docs] == ["one", "two", None]
    assert all("sops" not in d for d in docs)


def test_shamir_with_one_share_short_is_refused(matrix, keys):
    enc = matrix["yaml-shamir-2of3"]
    with pytest.raises(Exception, match="opens 1 of 3 key groups; shamir_threshold needs 2"):
        sops.decrypt(enc.data, keys.ring(keys.two), fmt="yaml", name="f.yaml")


def test_binary_stored_as_json_renders_raw_bytes(matrix):
    enc = matrix["binary"]
    ring = load_keyring(str(enc.key_file))
    assert sops.decrypt(enc.data, ring, fmt="json", name="x").documents[0]["data"].encode(
        "utf-8", "surrogateescape") == enc.case.plaintext


def test_sops_itself_decrypts_nearly_every_case(matrix):
    """Guard against a matrix that silently compares failures: at most the known sops bug cases fail."""
    refused = sorted(i for i, e in matrix.items() if e.sops.returncode != 0)
    assert all("comment_regex" in i for i in refused), refused
