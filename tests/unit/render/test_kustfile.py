"""render.kustfile: the kustomization file Flux builds (typed round trip, spec merge, generated files)."""

from __future__ import annotations

import pytest

from bootstrap.errors import ExitCode
from bootstrap.kustomize.kustfile import (
    API_VERSION,
    KustomizationFileError,
    generated,
    is_local_relative,
    merge_spec,
    round_trip,
)

TYPE = {"apiVersion": API_VERSION, "kind": "Kustomization"}


def merged(kus: dict, spec: dict, *, kept: bool = True, exists=lambda c: True) -> dict:
    return merge_spec(round_trip(kus, "k.yaml"), spec, kept=kept, component_exists=exists, where="Kustomization x/y")


def test_round_trip_drops_unknown_fields_at_every_depth():
    doc = {"resources": ["a.yaml"], "typo": 1, "patches": [{"path": "p.yaml", "bogus": True,
                                                            "target": {"kind": "Deployment", "nope": "x"}}]}
    assert round_trip(doc, "k.yaml") == {**TYPE, "resources": ["a.yaml"],
                                         "patches": [{"path": "p.yaml", "target": {"kind": "Deployment"}}]}


def test_round_trip_matches_keys_as_go_json_does():
    # encoding/json falls back to a case-insensitive match; an exact key wins regardless of order
    assert round_trip({"Resources": ["a.yaml"]}, "k.yaml")["resources"] == ["a.yaml"]
    assert round_trip({"NAMEPREFIX": "x-", "namePrefix": "y-"}, "k.yaml")["namePrefix"] == "y-"
    assert round_trip({"namePrefix": "y-", "NAMEPREFIX": "x-"}, "k.yaml")["namePrefix"] == "x-"


def test_round_trip_fills_zero_values_of_fields_without_omitempty():
    out = round_trip({"replicas": [{"name": "web"}], "vars": [{"name": "V"}]}, "k.yaml")
    assert out["replicas"] == [{"name": "web", "count": 0}]
    # struct-valued fields are never left out by encoding/json, omitempty or not
    assert out["vars"] == [{"name": "V", "objref": {"name": ""}, "fieldref": {}}]


def test_round_trip_keeps_the_file_s_kind_and_omits_empty_fields():
    assert round_trip({"kind": "Component", "namespace": "", "resources": []}, "k.yaml") == {
        "apiVersion": API_VERSION, "kind": "Component"}


@pytest.mark.parametrize("doc, where", [
    ({"namespace": 3}, "k.yaml.namespace: expected a string, got a number"),
    ({"resources": "a.yaml"}, "k.yaml.resources: expected a list, got a string"),
    ({"commonLabels": {"on": True}}, "k.yaml.commonLabels.on: expected a string, got a boolean"),
    ({"replicas": [{"name": "a", "count": 1.5}]}, "k.yaml.replicas[0].count: expected a number, got a number"),
])
def test_round_trip_refuses_what_go_s_decoder_refuses(doc, where):
    with pytest.raises(KustomizationFileError) as exc:
        round_trip(doc, "k.yaml")
    assert str(exc.value).startswith(where.split(": expected")[0])
    assert exc.value.exit_code == ExitCode.INVALID


def test_a_kept_file_without_resources_gets_origin_annotations():
    assert merged({"configMapGenerator": [{"name": "c"}]}, {})["buildMetadata"] == ["originAnnotations"]
    assert "buildMetadata" not in merged({"resources": ["a.yaml"]}, {})
    assert "buildMetadata" not in merged(generated([]), {}, kept=False)


def test_spec_fields_override_or_append():
    kus = {"resources": ["a.yaml"], "namespace": "base", "namePrefix": "b-",
           "patches": [{"path": "mine.yaml"}], "components": ["../c1"]}
    spec = {"targetNamespace": "prod", "namePrefix": "p-", "nameSuffix": "-x",
            "patches": [{"patch": "- op: remove\n  path: /x", "target": {"kind": "Deployment", "name": "w", "bad": 1}}],
            "components": ["../c2"]}
    out = merged(kus, spec)
    assert (out["namespace"], out["namePrefix"], out["nameSuffix"]) == ("prod", "p-", "-x")
    assert out["patches"] == [{"path": "mine.yaml"},
                              {"patch": "- op: remove\n  path: /x", "target": {"kind": "Deployment", "name": "w"}}]
    assert out["components"] == ["../c1", "../c2"]


def test_an_empty_target_namespace_clears_the_file_s_namespace():
    assert merged({"resources": ["a.yaml"], "namespace": "base"}, {"targetNamespace": ""})["namespace"] == ""


def test_components_must_be_local_and_missing_ones_can_be_ignored():
    with pytest.raises(KustomizationFileError, match="component path 'https://x/c' must be local and relative"):
        merged({"resources": ["a"]}, {"components": ["https://x/c"]})
    out = merged({"resources": ["a"]}, {"components": ["./gone", "./here"], "ignoreMissingComponents": True},
                 exists=lambda c: c == "./here")
    assert out["components"] == ["./here"]
    assert merged({"resources": ["a"]}, {"components": ["./gone"]}, exists=lambda c: False)["components"] == ["./gone"]


def test_images_merge_by_name_with_tag_and_digest_as_one():
    kus = {"resources": ["a"], "images": [{"name": "web", "newName": "reg/web", "newTag": "1", "digest": "sha256:a"}]}
    out = merged(kus, {"images": [{"name": "web", "newTag": "2"}, {"name": "db", "newName": "reg/db"}]})
    assert out["images"] == [{"name": "web", "newName": "reg/web", "newTag": "2"}, {"name": "db", "newName": "reg/db"}]
    out = merged(kus, {"images": [{"name": "web", "newName": "other/web"}]})
    assert out["images"][0] == {"name": "web", "newName": "other/web", "newTag": "1", "digest": "sha256:a"}


def test_generated_lists_resources_or_a_placeholder_namespace():
    assert generated(["./a.yaml", "./sub"]) == {**TYPE, "resources": ["./a.yaml", "./sub"]}
    assert generated([]) == {**TYPE, "namespace": "_placeholder"}


@pytest.mark.parametrize("path, local", [
    ("../base", True), ("./c", True), ("c", True), ("/abs", False), ("file:///abs", False),
    ("https://github.com/x", False), ("github.com/x/y", False), ("git@github.com:x/y", False), ("gh:x/y", False),
])
def test_is_local_relative(path, local):
    assert is_local_relative(path) is local
