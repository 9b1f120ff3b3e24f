"""A Helm release's values as helm-controller computes them (`stages.helm_values`), and the helm command line
the install stage runs (`helmcli.install_argv`, `chart_argv`), from rendered objects made here. The installs
themselves run the real helm on the local cluster: tests/integration/test_helm_install.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bootstrap import helmcli
from bootstrap.engines.base import HelmInstall, ValuesFrom
from bootstrap.errors import ValidationError
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.stages.helm_values import merge, values_json


def obj(kind: str, name: str, ns: str = "apps", **fields) -> Manifest:
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, **fields}
    return Manifest(ref_of(body), body, source=f"{name}.yaml")


def values(inline, refs, objects) -> dict:
    return json.loads(values_json("apps", "web", inline, refs, objects))


def test_value_sources_merge_in_order_with_inline_values_last():
    objects = [
        obj("ConfigMap", "defaults", data={"values.yaml": "a: {p: 1, q: 1}\nlist: [1, 2]\n"}),
        obj("Secret", "creds", data={"values.yaml": base64.b64encode(b"a: {q: 2}\ndb: {password: s3cret}\n").decode()}),
    ]
    refs = [ValuesFrom("ConfigMap", "defaults", "values.yaml"), ValuesFrom("Secret", "creds", "values.yaml")]
    assert values({"a": {"z": 3}, "list": [9]}, refs, objects) == {
        "a": {"p": 1, "q": 2, "z": 3}, "list": [9], "db": {"password": "s3cret"}}


def test_string_data_is_read_as_the_api_server_would_store_it():
    secret = obj("Secret", "creds", data={"v": base64.b64encode(b"a: 1").decode()}, stringData={"v": "a: 2"})
    assert values({}, [ValuesFrom("Secret", "creds", "v")], [secret]) == {"a": 2}


def test_a_target_path_sets_the_key_s_text_typed_as_helm_set_does():
    objects = [obj("ConfigMap", "bits", data={"n": "3", "t": "true", "s": "teal", "q": "'007'", "z": "007"})]
    refs = [ValuesFrom("ConfigMap", "bits", key, target_path=f"deep.{key}") for key in ("n", "t", "s", "q", "z")]
    assert values({"deep": {"keep": 1}}, refs, objects) == {
        "deep": {"keep": 1, "n": 3, "t": True, "s": "teal", "q": "007", "z": "007"}}


def test_a_target_path_helm_set_would_parse_differently_is_refused():
    objects = [obj("ConfigMap", "bits", data={"v": "a,b"})]
    with pytest.raises(ValidationError, match=r"spec.valuesFrom\[0\] ConfigMap bits: targetPath 'x' .* not supported"):
        values({}, [ValuesFrom("ConfigMap", "bits", "v", target_path="x")], objects)


def test_a_missing_object_or_key_is_an_error_unless_optional():
    objects = [obj("ConfigMap", "there", data={"other": "a: 1"})]
    assert values({"b": 1}, [ValuesFrom("ConfigMap", "gone", "values.yaml", optional=True),
                             ValuesFrom("ConfigMap", "there", "values.yaml", optional=True)], objects) == {"b": 1}
    with pytest.raises(ValidationError, match="ConfigMap gone is not in what this restore renders"):
        values({}, [ValuesFrom("ConfigMap", "gone", "values.yaml")], objects)
    with pytest.raises(ValidationError, match="ConfigMap there has no key values.yaml"):
        values({}, [ValuesFrom("ConfigMap", "there", "values.yaml")], objects)
    other_ns = [obj("ConfigMap", "there", ns="elsewhere", data={"values.yaml": "a: 1"})]
    with pytest.raises(ValidationError, match="is not in what this restore renders"):
        values({}, [ValuesFrom("ConfigMap", "there", "values.yaml")], other_ns)


def test_merge_replaces_anything_but_maps():
    assert merge({"a": {"b": 1}, "c": 1}, {"a": 2, "c": {"d": 1}}) == {"a": 2, "c": {"d": 1}}


def release(**fields) -> HelmInstall:
    base = dict(namespace="apps", name="web", chart="web", repository="oci://127.0.0.1:5000/charts", version="1.2.3",
                version_kind="tag", release_name="web", target_namespace="apps", storage_namespace="apps",
                source="OCIRepository apps/web")
    return HelmInstall(**{**base, **fields})


def test_the_install_runs_as_helm_controller_installs():
    argv = helmcli.install_argv(release(), Path("/c/web-1.2.3.tgz"), create_namespace=False, dry_run=False)
    assert argv == ["upgrade", "--install", "web", "/c/web-1.2.3.tgz", "--namespace", "apps", "-f", "-",
                    "--server-side=true", "--force-conflicts", "--take-ownership", "--skip-crds",
                    "--timeout", "5m0s", "--wait=watcher", "--wait-for-jobs"]
    quiet = helmcli.install_argv(release(wait=False, hooks=False, timeout="90s"), Path("/c/p.tgz"),
                                 create_namespace=True, dry_run=False)
    assert "--wait=hookOnly" in quiet and "--wait-for-jobs" not in quiet
    assert {"--no-hooks", "--create-namespace"} <= set(quiet) and quiet[quiet.index("--timeout") + 1] == "90s"


@pytest.mark.parametrize("fields, argv", [
    ({}, ["oci://127.0.0.1:5000/charts/web", "--version", "1.2.3"]),
    ({"version": "sha256:abc", "version_kind": "digest"}, ["oci://127.0.0.1:5000/charts/web@sha256:abc"]),
    ({"version": "latest"}, ["oci://127.0.0.1:5000/charts/web"]),
    ({"insecure": True}, ["oci://127.0.0.1:5000/charts/web", "--version", "1.2.3", "--plain-http"]),
    ({"repository": "https://charts.example", "version": ">=1.0", "version_kind": "semver"},
     ["web", "--repo", "https://charts.example", "--version", ">=1.0"]),
])
def test_the_chart_is_named_as_helm_pull_takes_it(fields, argv):
    assert helmcli.chart_argv(release(**fields)) == argv
