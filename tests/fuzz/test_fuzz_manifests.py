"""Fuzz what dr-bootstrap parses itself: random and mutated YAML/JSON through `parse_documents`, Flux's
kustomization-file round trip and spec merge (`render.kustfile`), and `validate_manifests`. Only
`BootstrapError` subclasses may escape. `FUZZ_EXAMPLES` sets the examples."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap.errors import BootstrapError
from bootstrap.manifests import Limits, parse_documents, ref_of, validate_manifests
from bootstrap.model import Manifest
from bootstrap.kustomize.kustfile import merge_spec, round_trip
from tests.fuzz.test_fuzz_sops import OPS, VALUES, mutate

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SMALL = Limits(max_file_bytes=64 * 1024, max_nodes=5_000, max_depth=30)

SEEDS = [
    b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    b"apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\ndata: {password: aHVudGVyMg==}\n"
    b"stringData: {user: admin}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
    b"base: &b {k: v}\nuse: *b\nlist: [*b, *b]\nwhen: 2024-01-01\n",
    b'{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "x"}, "spec": {"replicas": 2}}',
    b"secretGenerator:\n- name: s\n  literals: [A=1]\n  envs: [f.env]\n  options: {disableNameSuffixHash: true}\n",
    b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: 'ENC[AES256_GCM,data:AA==]'}\n"
    b"sops: {mac: x, lastmodified: '2024-01-01T00:00:00Z'}\n",
]
YAMLISH = st.text(alphabet="[]{}:-&*!|>'\"#\n ,?%@`\t\\abkn1.~=", max_size=300).map(str.encode)
DOCS = st.binary(max_size=1024) | YAMLISH | st.tuples(st.sampled_from(SEEDS), OPS).map(lambda t: mutate(*t))
def _check(action) -> None:
    try:
        action()
    except BootstrapError as err:
        assert str(err), "an error without a message"


@FUZZ
@given(data=DOCS, fmt=st.sampled_from(["yaml", "json"]))
def test_parse_documents_only_raises_bootstrap_errors(data, fmt):
    _check(lambda: parse_documents(data, "fuzzed", fmt, SMALL))


@FUZZ
@given(data=DOCS, spec=VALUES)
def test_kustomization_round_trip_and_spec_merge_only_raise_bootstrap_errors(data, spec):
    """A kustomization file of any shape through Flux's typed round trip, then a Flux spec of any shape."""

    def run() -> None:
        documents = parse_documents(data, "kustomization.yaml", "yaml", SMALL)
        kus = round_trip(documents[0] if documents else None, "kustomization.yaml")
        merge_spec(kus, spec if isinstance(spec, dict) else {"patches": spec, "images": spec},
                   kept=True, component_exists=lambda c: False, where="Kustomization fuzz/x")

    _check(run)


@FUZZ
@given(value=VALUES, kind=st.sampled_from(["Secret", "ConfigMap", "Namespace", "CustomResourceDefinition", "Widget", "Nope"]),
       field=st.sampled_from(["metadata", "data", "stringData", "spec", "apiVersion", "items", "kind"]))
def test_validation_of_arbitrary_object_shapes_only_raises_bootstrap_errors(value, kind, field):
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": "y"}, field: value}
    manifest = Manifest(ref=ref_of(body), body=body, source="o.yaml")
    _check(lambda: validate_manifests([manifest], known_kind=lambda a, k: k != "Nope"))
