"""render.postbuild: Flux's postBuild variables and their substitution into an object."""

from __future__ import annotations

import base64

import pytest
import yaml

from bootstrap.errors import ExitCode, ValidationError
from bootstrap.engines.flux.postbuild import always, data_of, disabled, secret_expansions, substitute_object, variables


def lookup_from(objects: dict[tuple[str, str, str], dict]):
    return lambda kind, ns, name: data_of(objects[(kind, ns, name)]) if (kind, ns, name) in objects else None


SETTINGS = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"CLUSTER": "home", "TZ": "Etc/UTC\n"}}
SECRETS = {"apiVersion": "v1", "kind": "Secret", "data": {"DOMAIN": base64.b64encode(b"example.org").decode()},
           "stringData": {"TOKEN": "t0k"}}
OBJECTS = {("ConfigMap", "flux-system", "cluster-settings"): SETTINGS,
           ("Secret", "flux-system", "cluster-secrets"): SECRETS}


def spec(*refs, **inline):
    post = {"substituteFrom": [dict(r) for r in refs]}
    if inline:
        post["substitute"] = inline
    return {"postBuild": post}


def test_variables_come_from_substitute_from_in_order_then_inline():
    found = variables(spec({"kind": "ConfigMap", "name": "cluster-settings"}, {"kind": "Secret", "name": "cluster-secrets"},
                           CLUSTER="override"), "flux-system", lookup_from(OBJECTS), "Kustomization flux-system/apps")
    # newlines are removed from every value (Flux does); stringData counts as the Secret's data
    assert found == {"CLUSTER": "override", "TZ": "Etc/UTC", "DOMAIN": "example.org", "TOKEN": "t0k"}


def test_no_post_build_means_nothing_is_substituted():
    assert variables({}, "flux-system", lookup_from(OBJECTS), "x") is None


def test_a_missing_source_is_an_error_unless_optional():
    with pytest.raises(ValidationError, match="substitute from 'ConfigMap/nope': not found") as exc:
        variables(spec({"kind": "ConfigMap", "name": "nope"}), "flux-system", lookup_from(OBJECTS), "Kustomization a/b")
    assert exc.value.exit_code == ExitCode.INVALID
    assert variables(spec({"kind": "ConfigMap", "name": "nope", "optional": True}), "flux-system",
                     lookup_from(OBJECTS), "x") == {}


def test_sources_are_looked_up_in_the_kustomization_s_namespace():
    asked = []
    variables(spec({"kind": "Secret", "name": "s", "optional": True}), "apps", lambda *a: asked.append(a), "x")
    assert asked == [("Secret", "apps", "s")]


def substituted(body: dict, found: dict | None, **kw):
    return substitute_object(yaml.safe_dump(body), body, found, always=kw.pop("always", False), where="f.yaml", **kw)


def test_an_object_is_substituted_and_read_back():
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "${DOMAIN/./-}-production"},
            "data": {"host": "echo.${DOMAIN}", "mode": "${MODE:=quiet}", "port": "${PORT}"}}
    out = substituted(body, {"DOMAIN": "example.org"})
    assert out["metadata"]["name"] == "example-org-production"
    # an unset variable is empty (Flux's non-strict default): `port: ` reads back as null, as in Flux
    assert out["data"] == {"host": "echo.example.org", "mode": "quiet", "port": None}


def test_disabled_objects_and_empty_variables_are_left_alone():
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}},
            "data": {"a": "${A}"}}
    assert disabled(body) and substituted(body, {"A": "1"}) is None
    plain = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "${A:=d}"}}
    assert substituted(plain, {}) is None  # no variables: Flux skips substitution
    assert substituted(plain, {}, always=True)["data"] == {"a": "d"}  # substituteStrategy: Always
    assert always({"postBuild": {"substituteStrategy": "Always"}}) and not always({"postBuild": {}})


def test_strict_mode_reports_the_missing_variable():
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "${MISSING}"}}
    with pytest.raises(ValidationError, match="f.yaml: postBuild substitution failed") as exc:
        substituted(body, {"OTHER": "1"}, strict=True)
    assert "MISSING" in str(exc.value)


def test_invalid_variable_names_are_refused_as_flux_refuses_them():
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    with pytest.raises(ValidationError, match="1BAD"):
        substituted(body, {"1BAD": "x"})


def test_a_substitution_that_breaks_the_yaml_is_named():
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "${V}"}}
    with pytest.raises(ValidationError, match="f.yaml: postBuild substitution produced invalid YAML"):
        substituted(body, {"V": "[unclosed"})


def test_secret_expansions_are_the_strings_that_read_a_secret_variable():
    body = {"metadata": {"name": "${DOMAIN/./-}-tls", "labels": {"app": "${APP}"}},
            "data": {"escaped": "$${DOMAIN}", "${DOMAIN:0:4}": ["${APP}.${DOMAIN}"], "plain": "no $ here"}}
    found = secret_expansions(body, {"DOMAIN": "hush.example", "APP": "immich"}, lambda v: v == "hush.example")
    assert sorted(found) == ["hush", "hush-example-tls", "immich.hush.example"]
    assert secret_expansions(body, {"DOMAIN": "hush.example"}, lambda v: False) == []
    # a strict-mode miss is the whole object's error to report, not this one's
    assert secret_expansions({"a": "${DOMAIN}${MISSING}"}, {"DOMAIN": "hush.example"}, lambda v: True,
                             strict=True) == []
