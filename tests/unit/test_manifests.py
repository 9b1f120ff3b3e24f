"""manifests: loading (walk, parse budget, SOPS hand-off, secretGenerator) and validation."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap.errors import ExitCode, ValidationError
from bootstrap.manifests import Limits, load_manifests, parse_documents, ref_of, validate_manifests
from bootstrap.model import Manifest

SOPS_META = {"mac": "ENC[AES256_GCM,data:x]", "lastmodified": "2024-01-01T00:00:00Z"}


def no_decrypt(path, data, fmt):
    raise AssertionError(f"{path} should not be decrypted")


def fake_decrypt(path, data, fmt):
    """Stands in for bootstrap.sops: drops the sops key and 'decrypts' ENC[x] to x."""
    if fmt == "dotenv":
        return [{"API_KEY": "plain"}]
    docs = [d for d in yaml.safe_load_all(data)]
    for doc in docs:
        doc.pop("sops", None)
        for section in ("data", "stringData"):
            for key, value in (doc.get(section) or {}).items():
                doc[section][key] = value.removeprefix("ENC[").removesuffix("]")
    return docs


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_walk_is_sorted_multidoc_numbered_and_skips_are_listed(tmp_path):
    write(tmp_path, "b/z.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: z}\n")
    write(tmp_path, "a/x.yml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\nfoo: bar\n---\n")
    write(tmp_path, "a/y.json", '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "y"}}')
    write(tmp_path, ".sops.yaml", "creation_rules: []\n")
    write(tmp_path, "dr-bootstrap.yaml", "kind: Playbook\n")
    write(tmp_path, "README.md", "# not yaml\n")
    result = load_manifests(tmp_path, decrypt=no_decrypt)
    assert [(str(m.ref), m.source) for m in result.manifests] == [
        ("Namespace/x", "a/x.yml#1"), ("Secret/y", "a/y.json"), ("ConfigMap/z", "b/z.yaml")]
    assert {(s.path, s.reason) for s in result.skipped} == {
        ("a/x.yml#2", "not a Kubernetes object (no apiVersion/kind)"),
        (".sops.yaml", "SOPS configuration"), ("dr-bootstrap.yaml", "dr-bootstrap playbook")}
    assert load_manifests(tmp_path, decrypt=no_decrypt, subdir="b").manifests[0].source == "b/z.yaml"


def test_encrypted_files_go_through_decrypt(tmp_path):
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"p": "ENC[pw]"},
           "sops": SOPS_META}
    write(tmp_path, "s.sops.yaml", yaml.safe_dump(doc))
    result = load_manifests(tmp_path, decrypt=fake_decrypt)
    assert result.encrypted_files == ["s.sops.yaml"]
    (m,) = result.manifests
    assert m.encrypted and m.body["stringData"] == {"p": "pw"} and "sops" not in m.body
    # the caller's detector wins over the built-in one
    assert load_manifests(tmp_path, decrypt=no_decrypt, is_encrypted=lambda data, fmt: False).encrypted_files == []


def test_symlinks(tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    write(outside, "x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    repo = tmp_path / "repo"
    write(repo, "real/in.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: in}\n")
    (repo / "inside-link.yaml").symlink_to(repo / "real/in.yaml")
    (repo / "linked-dir").symlink_to(repo / "real")
    result = load_manifests(repo, decrypt=no_decrypt)
    assert sorted(m.source for m in result.manifests) == ["inside-link.yaml", "real/in.yaml"]
    assert ("linked-dir", "symlinked directory not followed") in {(s.path, s.reason) for s in result.skipped}
    (repo / "evil.yaml").symlink_to(outside / "x.yaml")
    with pytest.raises(ValidationError, match="evil.yaml: symlink points outside the repository") as exc:
        load_manifests(repo, decrypt=no_decrypt)
    assert exc.value.exit_code == ExitCode.INVALID


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
def test_hostile_yaml_is_refused_fast(text, message):
    started = time.monotonic()
    with pytest.raises(ValidationError, match=message):
        parse_documents(text.encode(), "f.yaml")
    assert time.monotonic() - started < 5


def test_huge_file_is_refused_before_parsing(tmp_path):
    write(tmp_path, "big.yaml", "a: " + "x" * 2000 + "\n")
    with pytest.raises(ValidationError, match="big.yaml: larger than 1000 bytes"):
        load_manifests(tmp_path, decrypt=no_decrypt, limits=Limits(max_file_bytes=1000))


def test_timestamps_stay_strings():
    assert parse_documents(b"d: 2024-01-01\n", "f.yaml") == [{"d": "2024-01-01"}]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet="[]{}:-&*!|>'\"#\n ab1,?", max_size=200).map(str.encode))
def test_fuzz_parse_raises_only_validation_errors(data):
    try:
        parse_documents(data, "f.yaml")
    except ValidationError:
        pass


def kustomization(tmp_path, generator: str, options="generatorOptions: {disableNameSuffixHash: true}\n"):
    write(tmp_path, "k/kustomization.yaml", f"namespace: demo\n{options}secretGenerator:\n{generator}")


def test_secret_generator_envs_files_literals(tmp_path):
    write(tmp_path, "k/app.env", "# c\nUSER=admin\n\nURL=http://x?a=b\n")
    write(tmp_path, "k/conf/cfg.txt", "line\n")
    kustomization(tmp_path, "  - name: app\n    type: Opaque\n    envs: [app.env]\n"
                            "    files: [cfg.txt, renamed=conf/cfg.txt]\n    literals: [\"K='v'\"]\n".replace(
                                "cfg.txt, ", "conf/cfg.txt, "))
    (m,) = load_manifests(tmp_path, decrypt=no_decrypt).manifests
    data = {k: base64.b64decode(v).decode() for k, v in m.body["data"].items()}
    assert data == {"USER": "admin", "URL": "http://x?a=b", "cfg.txt": "line\n", "renamed": "line\n", "K": "v"}
    assert str(m.ref) == "Secret/demo/app" and m.source == "k/kustomization.yaml#secretGenerator/app"


def test_secret_generator_encrypted_env(tmp_path):
    write(tmp_path, "k/app.enc.env", "API_KEY=ENC[AES256_GCM,data:x]\nsops_mac=ENC[x]\nsops_lastmodified=2024\n")
    kustomization(tmp_path, "  - name: app\n    envs: [app.enc.env]\n")
    result = load_manifests(tmp_path, decrypt=fake_decrypt)
    assert result.encrypted_files == ["k/app.enc.env"]
    assert base64.b64decode(result.manifests[0].body["data"]["API_KEY"]) == b"plain"


@pytest.mark.parametrize(
    "generator, options, message",
    [
        ("  - name: app\n    literals: [A=1]\n", "", "needs options.disableNameSuffixHash: true"),
        ("  - name: app\n    literals: [A=1, A=2]\n", None, "key 'A' defined twice"),
        ("  - name: app\n    envs: [../../etc/passwd]\n", None, "outside the repository"),
        ("  - name: app\n    files: [missing.txt]\n", None, "file missing.txt not found"),
        ("  - name: app\n    behavior: merge\n", None, "behavior 'merge' is not supported"),
    ],
)
def test_secret_generator_refusals(tmp_path, generator, options, message):
    kustomization(tmp_path, generator, *(() if options is None else (options,)))
    with pytest.raises(ValidationError, match=message):
        load_manifests(tmp_path, decrypt=no_decrypt)


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
    head, _, rest = str(exc.value).partition(": ")
    lines = [head, *rest.split("; ")]
    assert lines[0] == "manifests are not valid (5 problems)"
    assert "f.yaml: Secret/s: data.bad is not valid base64" in lines
    assert "f.yaml: Secret/s: stringData.pw is still encrypted (ENC[...])" in lines
    assert "g.yaml: metadata.name missing or not a string" in lines
    assert "h.yaml: ConfigMap/c: SOPS metadata left in the object (file not decrypted?)" in lines
    assert "ConfigMap/c: defined twice, in h.yaml and i.yaml" in lines
    assert "SECRETVALUE" not in str(exc.value) and "not base64!!" not in str(exc.value)


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
    text = str(exc.value)
    assert "g.yaml: Gadget/g: no CRD defines Gadget.example.com" in text
    assert "o.yaml: Widget/o: CRD for Widget.example.com does not serve version v2" in text
    assert "d.yaml: Deployment/d: unknown apiVersion/kind apps/v9 Deployment" in text


def test_demo_repo_loads_and_validates():
    root = Path(__file__).resolve().parents[2] / "playbooks/examples/demo"
    result = load_manifests(root, decrypt=no_decrypt)
    validate_manifests(result.manifests)
    kinds = {m.ref.kind for m in result.manifests}
    assert {"Namespace", "CustomResourceDefinition", "Widget", "Secret", "ConfigMap", "Service", "Deployment",
            "StatefulSet", "DaemonSet", "Job"} <= kinds
