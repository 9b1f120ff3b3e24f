"""bootstrap.placeholders: config-management-plugin placeholders told apart from values (pure)."""

from __future__ import annotations

from bootstrap import placeholders as ph


def secret(data, annotations=None, field="data"):
    meta = {"name": "s", "namespace": "n", **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, field: data}


def test_inline_forms_and_their_plugins():
    assert ph.plugin_of("<secret:db-creds~password|base64>") == ph.SECRET_PLUGIN
    assert ph.plugin_of("<path:kv/data/db#password>") == ph.AVP
    assert ph.plugin_of("<path:kv/data/db#password#2 | base64encode>") == ph.AVP
    assert ph.plugin_of("postgres://<path:kv/data/db#user>@db:5432") == ph.AVP  # inside a longer value
    assert ph.plugin_of("c2VjcmV0") is None and ph.plugin_of("<b>html</b>") is None


def test_bare_keys_only_under_the_avp_path_annotation():
    plain = secret({"password": "<password>"}, field="stringData")
    assert ph.plugins_needed(plain) == []
    annotated = secret({"password": "<password>"}, {ph.AVP_PATH_ANNOTATION: "kv/data/db"}, field="stringData")
    assert list(ph.found(annotated)) == [("stringData.password", ph.AVP)]


def test_metadata_names_are_not_placeholders():
    body = secret({"a": "<secret:x~y>"})
    body["metadata"]["name"] = "<secret:not-here>"
    assert list(ph.found(body)) == [("data.a", ph.SECRET_PLUGIN)]
