"""render.builder: one build with the real kustomize (kubectl kustomize from the venv), as Flux builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bootstrap.errors import ValidationError
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder, BuildSpec, origin_source
from bootstrap.kustomize.graph import ReferenceError_
from bootstrap.kustomize.kustomizer import KustomizeError, find_kustomizer
from bootstrap.kustomize.secrets import SopsFiles


@pytest.fixture(scope="module")
def kustomizer():
    return find_kustomizer()


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def cm(name: str, **data) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def builder(root: Path, kustomizer, **kw) -> Builder:
    return Builder(root, kustomizer=kustomizer, artifact=Artifact(root), secrets=SopsFiles(root, None),
                   disk_base=root.parent, **kw)


def names(built) -> list[tuple[str, str, str]]:
    return [(d.body["kind"], d.body["metadata"]["name"], d.source) for d in built.documents]


def test_a_plain_directory_gets_flux_s_generated_kustomization(tmp_path, kustomizer):
    root = tmp_path / "repo"
    write(root, "apps/a.yaml", cm("a"))
    write(root, "apps/b.yml", cm("b"))
    write(root, "apps/c.json", '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}')
    write(root, "apps/.sops.yaml", "creation_rules: []\n")
    write(root, "apps/notes.txt", "hello\n")
    write(root, "apps/deep/d.yaml", cm("d"))
    write(root, "apps/unit/kustomization.yaml", "resources: [u.yaml]\nnamePrefix: unit-\n")
    write(root, "apps/unit/u.yaml", cm("u"))
    write(root, "apps/unit/skipped.yaml", cm("never"))
    built = builder(root, kustomizer).build(BuildSpec(path="apps"))
    # .json files, .sops.yaml and non-YAML are not listed; a sub-directory with a kustomization is one unit
    assert sorted(names(built)) == [("ConfigMap", "a", "apps/a.yaml"), ("ConfigMap", "b", "apps/b.yml"),
                                    ("ConfigMap", "d", "apps/deep/d.yaml"), ("ConfigMap", "unit-u", "apps/unit/u.yaml")]
    assert all("annotations" not in d.body["metadata"] for d in built.documents)  # origin annotations removed


def test_exclude_drops_files_from_plain_directories(tmp_path, kustomizer):
    root = tmp_path / "repo"
    write(root, "apps/a.yaml", cm("a"))
    write(root, "apps/kms-only.sops.yaml", cm("kms"))
    built = builder(root, kustomizer, excludes=("apps/*.sops.yaml",)).build(BuildSpec(path="apps"))
    assert names(built) == [("ConfigMap", "a", "apps/a.yaml")]


def test_a_plain_directory_lists_what_the_artifact_holds_inside_excluded_directories(tmp_path, kustomizer):
    # source-controller enters `legacy/` and keeps the files taken back; without its kustomization file,
    # legacy/unit is a plain directory to Flux's generator
    root = tmp_path / "repo"
    write(root, "apps/.sourceignore", "legacy/\n!legacy/still.yaml\n!legacy/unit/u.yaml\n")
    write(root, "apps/a.yaml", cm("a"))
    write(root, "apps/legacy/old.yaml", cm("old"))
    write(root, "apps/legacy/still.yaml", cm("still"))
    write(root, "apps/legacy/unit/kustomization.yaml", "resources: [u.yaml]\nnamePrefix: unit-\n")
    write(root, "apps/legacy/unit/u.yaml", cm("u"))
    write(root, "apps/legacy/gone/g.yaml", cm("gone"))
    built = builder(root, kustomizer).build(BuildSpec(path="apps"))
    assert sorted(names(built)) == [("ConfigMap", "a", "apps/a.yaml"), ("ConfigMap", "still", "apps/legacy/still.yaml"),
                                    ("ConfigMap", "u", "apps/legacy/unit/u.yaml")]
    with pytest.raises(ValidationError, match="kustomization path not found: apps/legacy/gone"):
        builder(root, kustomizer).build(BuildSpec(path="apps/legacy/gone"))


def test_a_commented_out_resource_is_not_built(tmp_path, kustomizer):
    root = tmp_path / "repo"
    write(root, "app/kustomization.yaml", "resources:\n  - a.yaml\n  # - b.yaml\n")
    write(root, "app/a.yaml", cm("a"))
    write(root, "app/b.yaml", cm("b"))
    assert names(builder(root, kustomizer).build(BuildSpec(path="app"))) == [("ConfigMap", "a", "app/a.yaml")]


def test_overlay_with_patches_generators_and_the_flux_spec(tmp_path, kustomizer):
    root = tmp_path / "repo"
    write(root, "base/kustomization.yaml", "resources: [cm.yaml]\nconfigMapGenerator:\n- name: gen\n  literals: [k=v]\n")
    write(root, "base/cm.yaml", cm("web", mode="base"))
    write(root, "prod/kustomization.yaml",
          "resources: [../base]\nnamespace: wrong\npatches:\n- path: patch.yaml\n  target: {kind: ConfigMap, name: web}\n")
    write(root, "prod/patch.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {mode: prod}\n")
    spec = {"targetNamespace": "prod", "namePrefix": "p-"}
    built = builder(root, kustomizer).build(BuildSpec(path="prod", spec=spec, label="Kustomization flux-system/app"))
    by_name = {d.body["metadata"]["name"]: d for d in built.documents}
    assert set(by_name) == {"p-web", next(n for n in by_name if n.startswith("p-gen-"))}
    web = by_name["p-web"]
    assert web.body["metadata"]["namespace"] == "prod" and web.body["data"] == {"mode": "prod"}
    assert web.source == "base/cm.yaml"
    gen = next(d for n, d in by_name.items() if n.startswith("p-gen-"))
    assert gen.source == "base/kustomization.yaml#ConfigMapGenerator"
    assert not (root / "prod" / "kustomization.yaml").read_text().count("p-")  # the checkout is untouched


def test_origin_annotations_the_kustomization_asked_for_stay(tmp_path, kustomizer):
    root = tmp_path / "repo"
    write(root, "app/kustomization.yaml", "resources: [a.yaml]\nbuildMetadata: [originAnnotations]\n")
    write(root, "app/a.yaml", cm("a"))
    (doc,) = builder(root, kustomizer).build(BuildSpec(path="app")).documents
    assert doc.body["metadata"]["annotations"]["config.kubernetes.io/origin"] == "path: a.yaml\n"


def test_a_reference_outside_the_repository_never_reaches_kustomize(tmp_path, kustomizer):
    root = tmp_path / "repo"
    write(tmp_path, "secret.txt", "private\n")
    write(root, "app/kustomization.yaml", "configMapGenerator:\n- name: leak\n  files: [../../secret.txt]\n")
    with pytest.raises(ReferenceError_, match="points outside the repository"):
        builder(root, kustomizer).build(BuildSpec(path="app"))


def test_kustomize_errors_are_one_line_naming_the_build(tmp_path, kustomizer):
    root = tmp_path / "repo"
    write(root, "app/kustomization.yaml", "resources: [gone.yaml]\n")
    with pytest.raises(KustomizeError) as exc:
        builder(root, kustomizer).build(BuildSpec(path="app", label="Kustomization flux-system/app"))
    message = str(exc.value)
    assert message.startswith("Kustomization flux-system/app: kustomize build failed: ") and "\n" not in message
    assert "gone.yaml" in message


def test_an_unreachable_remote_base_is_an_error_naming_it(tmp_path, kustomizer):
    root = tmp_path / "repo"
    write(root, "app/kustomization.yaml", "resources: [https://git.invalid/org/repo//deploy?ref=v1]\n")
    with pytest.raises(KustomizeError, match="git.invalid"):
        builder(root, kustomizer).build(BuildSpec(path="app"))


def test_a_missing_path_is_named(tmp_path, kustomizer):
    (tmp_path / "repo").mkdir()
    with pytest.raises(ValidationError, match="kustomization path not found: nope"):
        builder(tmp_path / "repo", kustomizer).build(BuildSpec(path="nope", label="Kustomization a/b"))


@pytest.mark.parametrize("origin, base, source", [
    ("path: ../base/cm.yaml\n", "apps/prod", "apps/base/cm.yaml"),
    ("configuredIn: kustomization.yaml\nconfiguredBy: {apiVersion: builtin, kind: SecretGenerator}\n", "app",
     "app/kustomization.yaml#SecretGenerator"),
    ("path: deploy/x.yaml\nrepo: https://github.com/org/repo\nref: v1\n", "app",
     "https://github.com/org/repo@v1:deploy/x.yaml"),
])
def test_origin_source(origin, base, source):
    body = {"metadata": {"name": "x", "annotations": {"config.kubernetes.io/origin": origin}}}
    assert origin_source(body, base, keep=False) == source
    assert body["metadata"] == {"name": "x"}


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("layout", ["plain", "kustomization", "patch"])
def test_an_alias_bomb_never_reaches_kustomize(tmp_path, kustomizer, layout):
    """kustomize expands YAML aliases without bound (a 9**9 bomb took 19 GB): the budget refuses it first."""
    root = tmp_path / "repo"
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "".join(
        "  " + line + "\n" for line in BOMB.splitlines())
    write(root, "app/bomb.yaml", bomb)
    if layout == "kustomization":
        write(root, "app/kustomization.yaml", "resources: [bomb.yaml]\n")
    elif layout == "patch":
        write(root, "app/cm.yaml", cm("bomb"))
        write(root, "app/kustomization.yaml", "resources: [cm.yaml]\npatches: [{path: bomb.yaml}]\n")
    with pytest.raises(ValidationError, match="app/bomb.yaml: more than 500000 nodes after alias expansion"):
        builder(root, kustomizer).build(BuildSpec(path="app"))


def test_a_kustomize_on_path_of_the_pinned_version_is_preferred_another_version_is_not(tmp_path, monkeypatch):
    from bootstrap.kustomize.kustomizer import _probe

    pinned = find_kustomizer()
    assert pinned.name.startswith("kubectl kustomize")
    same = tmp_path / "same" / "kustomize"
    other = tmp_path / "other" / "kustomize"
    for path, version in ((same, pinned.version), (other, "v5.0.0")):
        path.parent.mkdir()
        path.write_text(f"#!/bin/sh\necho {version}\n")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{same.parent}:/usr/bin:/bin")
    chosen = find_kustomizer()
    assert chosen.name.startswith("kustomize build") and chosen.version == pinned.version
    monkeypatch.setenv("PATH", f"{other.parent}:/usr/bin:/bin")
    assert find_kustomizer().name.startswith("kubectl kustomize")
    assert _probe(str(other)).version == "v5.0.0"


@pytest.mark.parametrize("raw", [
    "path: apps/web.yaml\n", "path: ../base/x.yml\nrepo: https://example.org/x\nref: v1.2.3\n",
    "configuredIn: kustomization.yaml\nconfiguredBy:\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n",
    "path: 'quoted name.yaml'\n", "path: a b.yaml\n", "path: true\n",
])
def test_the_plain_origin_reader_agrees_with_yaml_or_defers_to_it(raw):
    import yaml as pyyaml

    from bootstrap.kustomize.builder import _simple_origin

    quick = _simple_origin(raw)
    assert quick is None or quick == {k: str(v) for k, v in pyyaml.safe_load(raw).items()}
    if "configuredBy" in raw or "'" in raw or " b." in raw:
        assert quick is None


def _reporting_kustomize(tmp_path: Path, body: str):
    """A stand-in build program (a shell script given the directory) whose "YAML" reports its own process."""
    from bootstrap.kustomize.kustomizer import Kustomizer

    script = tmp_path / "report.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return Kustomizer((str(script),), "report.sh", "v0")


def test_a_build_runs_with_its_address_space_bounded(tmp_path):
    """The limit is set on the started process from outside: the script waits (up to 10 s) until its own
    limit is the build's, then reports it; without the limit it reports the inherited one."""
    from bootstrap.kustomize.kustomizer import BUILD_MEMORY

    kustomizer = _reporting_kustomize(tmp_path, (
        f"for i in $(seq 200); do grep -q '^Max address space *{BUILD_MEMORY} ' /proc/$$/limits && break; "
        "sleep 0.05; done\ngrep '^Max address space' /proc/$$/limits"))
    reported = kustomizer.build(tmp_path).split()
    assert reported[3:5] == [str(BUILD_MEMORY), str(BUILD_MEMORY)]


def test_a_build_gets_go_gc_settings_unless_the_user_chose_their_own(tmp_path, monkeypatch):
    kustomizer = _reporting_kustomize(tmp_path, 'echo "$GOGC $GOMEMLIMIT"')
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    assert kustomizer.build(tmp_path).split() == ["400", "2048MiB"]  # half of the 4 GiB address space
    monkeypatch.setenv("GOGC", "100")
    monkeypatch.setenv("GOMEMLIMIT", "1GiB")
    assert kustomizer.build(tmp_path).split() == ["100", "1GiB"]


def test_a_build_past_its_timeout_is_killed_and_named(tmp_path):
    pid_file = tmp_path / "pid"
    kustomizer = _reporting_kustomize(tmp_path, f"echo $$ > {pid_file}\nexec sleep 60")
    with pytest.raises(KustomizeError, match=r"^app: kustomize build did not finish within 0\.5s$"):
        kustomizer.build(tmp_path, timeout=0.5, where="app")
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped, not left running
