"""Fuzz the manifest loader: random and mutated YAML/JSON, through `parse_documents`, `load_manifests` and
`validate_manifests`. Only `BootstrapError` subclasses may escape. `FUZZ_EXAMPLES` sets the examples."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap.errors import BootstrapError, DecryptError
from bootstrap.manifests import Limits, load_manifests, parse_documents, validate_manifests
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
NAMES = st.sampled_from(["a.yaml", "b.yml", "c.json", "kustomization.yaml", "d/e.yaml", "f.env", "g.txt", "dr-bootstrap.yaml"])


def refuse(rel: str, data: bytes, fmt: str) -> list[dict]:
    raise DecryptError(f"{rel}: not decryptable in the fuzz test")


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
@given(files=st.dictionaries(NAMES, DOCS, min_size=1, max_size=4), documents=st.lists(VALUES, max_size=3))
def test_load_and_validate_only_raise_bootstrap_errors(files, documents):
    """Random files in a tree, a decryptor that fails or returns arbitrary documents, then validation."""

    def decrypt(rel: str, data: bytes, fmt: str) -> list:
        return documents if len(data) % 2 else refuse(rel, data, fmt)

    def run(root: Path) -> None:
        loaded = load_manifests(root, decrypt=decrypt, limits=SMALL)
        validate_manifests(loaded.manifests, known_kind=lambda api_version, kind: None if kind == "Widget" else kind != "Nope")

    with tempfile.TemporaryDirectory(prefix="fuzz-manifests-") as tmp:
        root = Path(tmp)
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        _check(lambda: run(root))


@FUZZ
@given(value=VALUES, kind=st.sampled_from(["Secret", "ConfigMap", "Namespace", "CustomResourceDefinition", "Widget", "Nope"]),
       field=st.sampled_from(["metadata", "data", "stringData", "spec", "apiVersion", "items"]))
def test_validation_of_arbitrary_object_shapes_only_raises_bootstrap_errors(value, kind, field):
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": "y"}, field: value}
    with tempfile.TemporaryDirectory(prefix="fuzz-shapes-") as tmp:
        try:
            text = json.dumps(body)
        except (TypeError, ValueError):
            return
        Path(tmp, "o.json").write_text(text)
        _check(lambda: validate_manifests(load_manifests(Path(tmp), decrypt=refuse, limits=SMALL).manifests,
                                          known_kind=lambda a, k: k != "Nope"))
