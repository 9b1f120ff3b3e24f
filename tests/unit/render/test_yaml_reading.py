"""YAML that kustomize and Flux accept is read as they read it, wherever dr-bootstrap reads it: the files of a
build (the YAML budget), kustomize's output, postBuild's result; and Secret data as kustomize prints it (base64
folded over lines). Builds use the real kustomize."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from bootstrap.errors import ValidationError
from bootstrap.engines.flux.postbuild import data_of, substitute_object
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder, BuildSpec
from bootstrap.kustomize.kustomizer import find_kustomizer
from bootstrap.kustomize.secrets import SopsFiles
from bootstrap.manifests import parse_documents, ref_of, validate_manifests
from bootstrap.model import Manifest
from bootstrap.scrub import decrypted_values
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


LONG = "registry.example.com/some/long/path/sidecar:v1.2.3@sha256:" + "0123456789abcdef" * 4


def test_a_long_secret_generator_literal_is_base64_folded_over_lines_and_read_as_go_reads_it(tmp_path, kustomizer):
    built = build(tmp_path / "repo", kustomizer, {
        "app/kustomization.yaml": f"secretGenerator:\n- name: sidecar\n  literals:\n  - SIDECAR_IMAGE={LONG}\n"
                                  "  - SHORT=abc\n  options: {disableNameSuffixHash: true}\n"})
    body = built.documents[0].body
    assert "\n" in body["data"]["SIDECAR_IMAGE"].rstrip("\n")  # kustomize folded it, as Go's yaml.v2 prints it
    validate_manifests([Manifest(ref=ref_of(body), body=body, source="app/kustomization.yaml")])
    assert data_of(body) == {"SIDECAR_IMAGE": LONG, "SHORT": "abc"}  # postBuild's substituteFrom
    # had the value come out of decryption, the scrubber would learn it decoded from the folded base64
    encrypted = {**body, "data": {key: "ENC[AES256_GCM,data:x,type:str]" for key in body["data"]}}
    assert LONG in decrypted_values(encrypted, body)


@pytest.mark.parametrize("value, problem", [("YWJj\nZA==\n", None), ("YWJj\r\nZA==", None), ("YW Jj", "not valid base64"),
                                            ("YWJjZA", "not valid base64"), ("YQ==YQ==", "not valid base64")])
def test_secret_data_is_base64_as_go_s_std_encoding_reads_it(value, problem):
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": value}}
    manifest = Manifest(ref=ref_of(body), body=body, source="s.yaml")
    if problem is None:
        validate_manifests([manifest])
        assert data_of(body) == {"k": "abcd"}
    else:
        with pytest.raises(ValidationError, match=f"data.k is {problem}"):
            validate_manifests([manifest])
        assert data_of(body) == {}


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


def test_base64_helper_is_what_the_api_server_accepts():
    folded = base64.encodebytes(LONG.encode()).decode()  # MIME-style: a line break every 76 characters
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": folded}}
    assert data_of(body) == {"k": LONG}


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


def test_a_data_value_holding_a_folded_sops_document_is_decrypted(tmp_path, kustomizer):
    """kustomize-controller decodes a Secret's data value with StdEncoding before it looks for a SOPS
    document in it: base64 wrapped at 76 characters (as `base64` prints it) is decrypted too."""
    from bootstrap.engines.flux.objects import Finishing, finish
    from bootstrap.kustomize.scratch import memory_backed_dir
    from bootstrap.stages.keys import load_keyring
    from tests.support.sops import encrypt_bytes, new_age_key, write_key_file

    age = new_age_key()
    ring = load_keyring(str(write_key_file(tmp_path / "age.agekey", age)))
    env = encrypt_bytes(b"TOKEN=abc123\n", "dotenv", [age.recipient])
    wrapped = base64.encodebytes(env).decode()
    assert wrapped.count("\n") > 2
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app/bundle.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                                          "metadata": {"name": "bundle"}, "data": {"app.env": wrapped}}))
    (root / "app/kustomization.yaml").write_text("resources: [bundle.yaml]\n")
    secrets = SopsFiles(root, ring)
    built = Builder(root, kustomizer=kustomizer, artifact=Artifact(root), secrets=secrets, disk_base=tmp_path,
                    memory_base=memory_backed_dir()).build(BuildSpec(path="app"))
    (m,) = finish(built, Finishing(None, True, None), secrets, origin="path:app", notes=[])
    assert m.encrypted and base64.b64decode(m.body["data"]["app.env"]) == b"TOKEN=abc123\n"


def test_the_repo_s_key_copy_is_recognised_in_folded_base64(tmp_path):
    from bootstrap.stages.keys import load_keyring
    from bootstrap.stages.validate import KeySecret, drop_repo_key_copies
    from tests.support.sops import new_age_key, write_key_file

    ours = new_age_key()
    ring = load_keyring(str(write_key_file(tmp_path / "age.agekey", ours)))
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sops-age", "namespace": "flux-system"},
            "data": {"age.agekey": base64.encodebytes(ours.key_file_text.encode()).decode()}}
    notes: list[str] = []
    copy = Manifest(ref=ref_of(body), body=body, source="flux-system/sops.yaml")
    target = [KeySecret("flux-system", "sops-age", "age.agekey", "--key-secret")]
    assert drop_repo_key_copies([copy], target, ring, notes.append) == [] and "holds the same key" in notes[0]
