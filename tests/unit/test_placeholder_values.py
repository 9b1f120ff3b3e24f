"""bootstrap.placeholders for values (`check`): Flux substitution and Argo CD plugins' placeholders recognised,
and only they; a Secret whose every value names its secret is no plaintext secret (pure)."""

from __future__ import annotations

import base64

import pytest

from bootstrap import placeholders
from bootstrap.placeholders import AVP, FLUX, SECRET_PLUGIN, find, is_templated, only_placeholders, secret_is_templated


@pytest.mark.parametrize(("text", "kind"), [
    ("${DB_PASSWORD}", FLUX),
    ("${SECRET_DOMAIN/./-}", FLUX),
    ("${MODE:=quiet}", FLUX),
    ("$${ESCAPED}", FLUX),
    ("<secret:db-credentials~password>", SECRET_PLUGIN),
    ("<secret:db-credentials~password|base64>", SECRET_PLUGIN),
    ("<path:secret/data/db#password>", AVP),
    ("<path:kv/data/app#token#2>", AVP),
    ("<path:kv/data/app#token | base64encode>", AVP),
])
def test_each_form_is_one_placeholder_of_its_tool(text, kind):
    [found] = find(text)
    assert (found.kind, found.text, found.start, found.end) == (kind, text, 0, len(text))
    assert only_placeholders(text) and is_templated(text)


@pytest.mark.parametrize("text", [
    "hunter2", "$DB_PASSWORD", "${}", "${1ABC}", "<password>",
    "pa$$word{x}", "<b>bold</b>", "",
])
def test_literals_are_not_placeholders(text):
    assert find(text) == [] and not is_templated(text) and not only_placeholders(text)


def test_a_value_around_a_placeholder_is_templated_but_not_only_placeholders():
    url = "postgres://app:${DB_PASSWORD}@db:5432/app"
    assert is_templated(url) and not only_placeholders(url)
    assert [p.text for p in find("${A}-<secret:s~k>")] == ["${A}", "<secret:s~k>"]
    # the Argo CD engine's view: Flux's substitution is no plugin of Argo CD's
    assert placeholders.plugin_of("${A}") is None and placeholders.plugin_of("${A}-<secret:s~k>") == SECRET_PLUGIN
    assert only_placeholders(" ${A} ${B}\n")


def test_avp_generic_placeholders_count_only_when_asked():
    assert not is_templated("<password>")
    assert is_templated("<password>", avp_generic=True)
    assert is_templated("<password | base64encode>", avp_generic=True)


def test_encoded_data_is_read_decoded_too():
    encoded = base64.b64encode(b"${TOKEN}").decode()
    assert not is_templated(encoded) and is_templated(encoded, encoded=True)
    assert not is_templated(base64.b64encode(b"hunter2").decode(), encoded=True)
    assert not is_templated("not base64 !", encoded=True)
    assert not is_templated(42) and not is_templated(None)


def secret(string_data=None, data=None, annotations=None):
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    if annotations:
        doc["metadata"]["annotations"] = annotations
    if string_data is not None:
        doc["stringData"] = string_data
    if data is not None:
        doc["data"] = data
    return doc


def test_a_secret_is_templated_when_every_value_names_its_secret():
    assert secret_is_templated(secret({"password": "${DB_PASSWORD}", "user": "<secret:db~user>", "empty": ""}))
    assert secret_is_templated(secret(data={"token": "<secret:api~token|base64>"}))
    assert secret_is_templated(secret({"token": "<token>"}, annotations={placeholders.AVP_PATH_ANNOTATION: "kv/app"}))
    assert not secret_is_templated(secret({"token": "<token>"}))
    assert not secret_is_templated(secret({"password": "${DB_PASSWORD}", "api": "literal-key"}))
    assert not secret_is_templated(secret({}))
    assert not secret_is_templated(secret(data={"x": base64.b64encode(b"hunter2").decode()}))
