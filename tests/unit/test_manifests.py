"""manifests: budgeted parsing and validation of rendered objects before anything is written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap.errors import ExitCode, ValidationError
from bootstrap.manifests import MAX_OBJECT_BYTES, Limits, parse_documents, ref_of, validate_manifests
from bootstrap.model import Manifest


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize(
    "text, message",
    [
        (BOMB, "more than 500000 nodes after alias expansion"),
        ("[" * 200 + "]" * 200, "nested deeper than 100 levels"),
        ("[" * 5000 + "]" * 5000, "not valid YAML"),
        ("a: [1\n", "not valid YAML"),
        ("&a [*a]", "nested deeper"),
    ],
)
def test_hostile_yaml_is_refused(text, message):
    """Refused by the node and depth budgets before anything is built from it (no timing: the budget is
    the bound, and the BOMB would need 9**9 nodes to build)."""
    with pytest.raises(ValidationError, match=message):
        parse_documents(text.encode(), "f.yaml")


def test_huge_file_is_refused_before_parsing():
    with pytest.raises(ValidationError, match="big.yaml: larger than 1000 bytes"):
        parse_documents(b"a: " + b"x" * 2000 + b"\n", "big.yaml", limits=Limits(max_file_bytes=1000))


def test_timestamps_stay_strings():
    assert parse_documents(b"d: 2024-01-01\n", "f.yaml") == [{"d": "2024-01-01"}]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet="[]{}:-&*!|>'\"#\n ab1,?", max_size=200).map(str.encode))
def test_fuzz_parse_raises_only_validation_errors(data):
    try:
        parse_documents(data, "f.yaml")
    except ValidationError:
        pass


def m(body: dict, source="f.yaml") -> Manifest:
    return Manifest(ref=ref_of(body), body=body, source=source)


def test_validation_reports_every_problem_without_values():
    bad = [
        m({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
           "data": {"good": "aGk=", "bad": "not base64!!"}, "stringData": {"pw": "ENC[AES256_GCM,data:SECRETVALUE]"}}),
        m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "g.yaml"),
        m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "sops": {}}, "h.yaml"),
        m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, "i.yaml"),
    ]
    with pytest.raises(ValidationError) as exc:
        validate_manifests(bad)
    assert exc.value.message == ("manifests are not valid (5 problems): 2 values still encrypted, 2 other problems, "
                                 "1 object defined twice; the first: f.yaml: Secret/s: stringData.pw is still "
                                 "encrypted (ENC[...])")
    assert sorted(exc.value.details) == [
        "ConfigMap/c: defined twice, in h.yaml and i.yaml",
        "f.yaml: Secret/s: data.bad is not valid base64",
        "f.yaml: Secret/s: stringData.pw is still encrypted (ENC[...])",
        "g.yaml: metadata.name missing or not a string",
        "h.yaml: ConfigMap/c: SOPS metadata left in the object (file not decrypted?)",
    ]
    said = str(exc.value) + "".join(exc.value.details)
    assert "SECRETVALUE" not in said and "not base64!!" not in said


def test_known_kind_and_crds_in_the_set():
    crd = m({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
             "metadata": {"name": "widgets.example.com"},
             "spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": [{"name": "v1"}]}})
    widget = m({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, "w.yaml")
    gadget = m({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}, "g.yaml")
    old = m({"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"name": "o"}}, "o.yaml")
    typo = m({"apiVersion": "apps/v9", "kind": "Deployment", "metadata": {"name": "d"}}, "d.yaml")
    known = lambda api, kind: api.startswith("apiextensions")  # noqa: E731
    validate_manifests([crd, widget], known_kind=known)
    with pytest.raises(ValidationError) as exc:
        validate_manifests([crd, widget, gadget, old, typo], known_kind=known)
    text = "\n".join(exc.value.details)
    assert "g.yaml: Gadget/g: no CRD defines Gadget.example.com" in text
    assert "o.yaml: Widget/o: CRD for Widget.example.com does not serve version v2" in text
    assert "d.yaml: Deployment/d: unknown apiVersion/kind apps/v9 Deployment" in text


@pytest.mark.parametrize("name", ["${CLUSTER}-web", "web-${SECRET_DOMAIN/./-}", "$APP", "${OPEN"])
def test_unresolved_variables_in_names_are_refused(name):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "apps"}}
    with pytest.raises(ValidationError, match=r"metadata.name .* still holds a variable") as exc:
        validate_manifests([m(body, "apps/cm.yaml")])
    assert exc.value.exit_code == ExitCode.INVALID


def test_unresolved_variables_in_namespaces_are_refused():
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "${NS:=x}y"}}
    with pytest.raises(ValidationError, match="metadata.namespace"):
        validate_manifests([m(body)])


def test_dollar_signs_that_are_not_variables_pass():
    validate_manifests([m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a$1"},
                           "data": {"x": "${NOT_A_NAME_FIELD}"}})])


def test_an_object_over_the_request_limit_is_refused():
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "y" * MAX_OBJECT_BYTES}}
    with pytest.raises(ValidationError, match="more than the API server accepts in one request"):
        validate_manifests([m(big, "big.yaml")])
    just = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}, "data": {"x": "y" * (MAX_OBJECT_BYTES - 200)}}
    validate_manifests([m(just, "ok.yaml")])


def test_a_document_with_metadata_but_no_kind_is_refused():
    with pytest.raises(ValidationError, match="f.yaml: kind missing or not a string"):
        validate_manifests([m({"apiVersion": "v1", "metadata": {"name": "x"}, "spec": {}})])


def test_one_object_in_two_phases_is_no_duplicate():
    # cluster-template's `cluster` Kustomization renders kubernetes/flux, which holds its own definition and
    # GitRepository, restored first by the entry path: Flux applies both, so does the restore.
    git = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "home", "namespace": "flux-system"}}
    entry = Manifest(ref=ref_of(git), body=git, source="kubernetes/flux/config/flux.yaml", origin="path:kubernetes/flux/config")
    child = Manifest(ref=ref_of(git), body=git, source="kubernetes/flux/config/flux.yaml", origin="flux-system/cluster")
    validate_manifests([entry, child])
    with pytest.raises(ValidationError, match="defined twice"):
        validate_manifests([entry, entry])


def test_a_configmap_takes_only_strings():
    cm = m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1, "b": "ok"}})
    with pytest.raises(ValidationError, match=r"data.a is int, not a string"):
        validate_manifests([cm])
    validate_manifests([m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"b": "ok"}})])
