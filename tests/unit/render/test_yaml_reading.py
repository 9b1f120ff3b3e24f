"""YAML that kustomize and Flux accept is read as they read it, wherever dr-bootstrap reads it: the files of a
build (the YAML budget), kustomize's output, postBuild's result. Builds use the real kustomize."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bootstrap.errors import ValidationError
from bootstrap.engines.flux.postbuild import substitute_object
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder, BuildSpec
from bootstrap.kustomize.kustomizer import find_kustomizer
from bootstrap.kustomize.secrets import SopsFiles
from bootstrap.manifests import parse_documents
from bootstrap.yamlread import dump, read_all


@pytest.fixture(scope="module")
def kustomizer():
    return find_kustomizer()


def build(root: Path, kustomizer, files: dict[str, str], path: str = "app", **kw):
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode())
    builder = Builder(root, kustomizer=kustomizer, artifact=Artifact(root), secrets=SopsFiles(root, None),
                      disk_base=root.parent, **kw)
    return builder.build(BuildSpec(path=path))


INHIBIT = """\
apiVersion: monitoring.coreos.com/v1alpha1
kind: AlertmanagerConfig
metadata:
  name: inhibit
spec:
  inhibitRules:
  - sourceMatch:
    - name: severity
      matchType: =
      value: critical
    targetMatch:
    - {name: severity, matchType: =~, value: warning|info}
    equal: [namespace, alertname]
"""

ANCHORS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: anchors
data:
  first: &value one
  second: &value two
  third: *value
"""


def test_a_bare_equals_and_a_redefined_anchor_build_and_read_as_flux_reads_them(tmp_path, kustomizer):
    built = build(tmp_path / "repo", kustomizer, {"app/inhibit.yaml": INHIBIT, "app/anchors.yaml": ANCHORS})
    bodies = {d.body["metadata"]["name"]: d.body for d in built.documents}
    assert bodies["inhibit"]["spec"]["inhibitRules"][0]["sourceMatch"][0]["matchType"] == "="
    assert bodies["inhibit"]["spec"]["inhibitRules"][0]["targetMatch"][0]["matchType"] == "=~"
    assert bodies["anchors"]["data"] == {"first": "one", "second": "two", "third": "two"}  # the later anchor
    assert {d.source for d in built.documents} == {"app/inhibit.yaml", "app/anchors.yaml"}


def test_the_same_with_origin_annotations_kept(tmp_path, kustomizer):
    """A kustomization asking for origin annotations keeps each object's text: read object by object."""
    built = build(tmp_path / "repo", kustomizer, {
        "app/inhibit.yaml": INHIBIT, "app/anchors.yaml": ANCHORS,
        "app/kustomization.yaml": "resources: [inhibit.yaml, anchors.yaml]\nbuildMetadata: [originAnnotations]\n"})
    assert [d.body["metadata"]["name"] for d in built.documents] == ["anchors", "inhibit"]
    assert all(d.text and "config.kubernetes.io/origin" in d.text for d in built.documents)
    assert built.documents[1].body["spec"]["inhibitRules"][0]["sourceMatch"][0]["matchType"] == "="


def test_a_repository_file_keeps_the_parser_s_cause():
    with pytest.raises(ValidationError, match=r"^app/x\.yaml: not valid YAML: while parsing a block mapping "
                       r"\(line 1, column 1\): did not find expected key at line 3, column 1$"):
        parse_documents(b"a: 1\nb: 2\n- c\n", "app/x.yaml")
    assert parse_documents(b"a: &n 1\nb: &n 2\nc: *n\n", "app/x.yaml") == [{"a": 1, "b": 2, "c": 2}]


class Printing:
    """A kustomize that prints `text` (what the real one never prints: output Go cannot read)."""

    def __init__(self, text: str):
        self.text = text

    def build(self, directory, **kw) -> str:
        return self.text


UNREADABLE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: good.yaml
  name: good
---
apiVersion: example.com/v1
kind: Widget
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: widgets/bad.yaml
  name: bad
  namespace: shop
spec:
  size: .inf
"""


def test_an_object_of_the_output_that_cannot_be_read_is_named_with_the_cause(tmp_path):
    files = {"app/good.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n"}
    with pytest.raises(ValidationError) as caught:
        build(tmp_path / "repo", Printing(UNREADABLE), files)
    assert str(caught.value) == ("app/widgets/bad.yaml: Widget shop/bad: the built object cannot be read as Flux "
                                 "reads it: json: unsupported value: +Inf (line 10 of the object)")


def test_post_build_reads_its_result_as_flux_reads_it():
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
            "data": {"op": "${OP}", "flag": "${FLAG}", "kept": "1e3", "y": "y"}}
    out = substitute_object(dump(body), body, {"OP": "=", "FLAG": "y"}, always=False, where="f.yaml")
    # `=` is a string; an unquoted `y` a boolean (yaml.v2); strings the dump had to quote stay strings
    assert out["data"] == {"op": "=", "flag": True, "kept": "1e3", "y": "y"}
    with pytest.raises(ValidationError, match=r"^f\.yaml: postBuild substitution produced invalid YAML: "
                       r"json: unsupported value: \+Inf at line 6, column 7$"):
        substitute_object(dump(body), body, {"OP": ".inf", "FLAG": "y"}, always=False, where="f.yaml")


def test_dump_is_what_read_all_reads_back():
    body = {"a": ["y", "n", "on", "=", "1e3", "0755", "08", "2001-12-14", "~", "", "<<", 1, 1.5, None, True]}
    assert read_all(dump(body)) == [body]
    # PyYAML's own dumper leaves what YAML 1.1 reads as a string plain: Flux reads some of those otherwise
    assert read_all(yaml.safe_dump(body)) != [body]


BIG = 2**53 + 1  # the first integer a float64 cannot hold: Go's JSON round trip makes it 2**53


def test_every_object_flux_substitutes_comes_back_through_go_s_json():
    with_variable = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
                     "spec": {"big": BIG, "small": 7, "name": "${NAME}", "flag": "${FLAG}"}}
    out = substitute_object(None, with_variable, {"NAME": "web", "FLAG": "n"}, always=False, where="f.yaml")
    assert out["spec"] == {"big": 2**53, "small": 7, "name": "web", "flag": False}  # yaml.v2: `n` is false
    without = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {"big": [BIG, 2**64]}}
    out = substitute_object(None, without, {"NAME": "n"}, always=False, where="f.yaml")
    assert out["spec"] == {"big": [2**53, float(2**64)]} and without["spec"]["big"] == [BIG, 2**64]
    assert substitute_object(None, without, None, always=False, where="f.yaml") is None  # no postBuild: untouched


def test_numbers_of_a_decrypted_object_come_back_through_go_s_json(tmp_path, kustomizer):
    from bootstrap.engines.flux.objects import Finishing, finish
    from bootstrap.stages.keys import load_keyring
    from bootstrap.kustomize.scratch import memory_backed_dir
    from tests.support.sops import encrypt_bytes, new_age_key, write_key_file

    age = new_age_key()
    ring = load_keyring(str(write_key_file(tmp_path / "age.agekey", age)))
    plain = yaml.safe_dump({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                            "stringData": {"token": "t0k3n"}, "spec": {"big": BIG, "small": 7}}).encode()
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app/w.sops.yaml").write_bytes(encrypt_bytes(plain, "yaml", [age.recipient],
                                                         encrypted_regex="^(data|stringData)$"))
    (root / "app/kustomization.yaml").write_text("resources: [w.sops.yaml]\n")
    secrets = SopsFiles(root, ring)
    built = Builder(root, kustomizer=kustomizer, artifact=Artifact(root), secrets=secrets, disk_base=tmp_path,
                    memory_base=memory_backed_dir()).build(BuildSpec(path="app"))
    assert built.documents[0].body["spec"]["big"] == BIG  # as kustomize printed it
    (m,) = finish(built, Finishing(None, True, None), secrets, origin="path:app", notes=[])
    assert m.encrypted and m.body["spec"] == {"big": 2**53, "small": 7} and m.body["stringData"] == {"token": "t0k3n"}
