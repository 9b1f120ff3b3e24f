"""render.graph: every local reference of the kustomizations a build reaches stays inside the repository
and inside the source artifact; the generator inputs Flux would decrypt."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.graph import Graph, ReferenceError_, sops_format


def write(root: Path, rel: str, text: str = "x: 1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def graph(root: Path, ignore: str | None = None) -> Graph:
    return Graph(root, load=lambda p: yaml.safe_load(p.read_text()), ignored=Artifact(root, ignore).left_out)


def walk(root: Path, top: str, kus: dict, ignore: str | None = None):
    return graph(root, ignore).walk(root / top, kus, f"{top}/kustomization.yaml")


def test_walks_resources_and_components_and_collects_secret_generator_inputs(tmp_path):
    write(tmp_path, "base/kustomization.yaml", yaml.safe_dump({
        "resources": ["cm.yaml"],
        "secretGenerator": [{"name": "s", "envs": ["s.env"], "files": ["tls.crt=cert.pem", "conf.json"]}],
        "configMapGenerator": [{"name": "c", "envs": ["c.env"]}]}))
    for rel in ("base/cm.yaml", "base/s.env", "base/cert.pem", "base/conf.json", "base/c.env", "comp/p.yaml"):
        write(tmp_path, rel)
    write(tmp_path, "comp/kustomization.yaml", yaml.safe_dump({"kind": "Component", "patches": [{"path": "p.yaml"}]}))
    result = walk(tmp_path, "app", {"resources": ["../base"], "components": ["../comp"]})
    assert [d.relative_to(tmp_path).as_posix() for d in result.directories] == ["app", "base", "comp"]
    # files before envs, as kustomize-controller visits them; a file's store comes from its key's name
    assert [(s.path.relative_to(tmp_path).as_posix(), s.fmt) for s in result.sources] == [
        ("base/cert.pem", "binary"), ("base/conf.json", "json"), ("base/s.env", "dotenv"), ("comp/p.yaml", "yaml")]


def test_bases_are_walked_but_never_decrypted_as_in_flux(tmp_path):
    write(tmp_path, "old/kustomization.yaml", yaml.safe_dump({"secretGenerator": [{"name": "s", "envs": ["s.env"]}]}))
    write(tmp_path, "old/s.env")
    result = walk(tmp_path, "app", {"bases": ["../old"]})
    assert len(result.directories) == 2 and result.sources == []


@pytest.mark.parametrize("kus, field", [
    ({"resources": ["../../../../etc/passwd"]}, "resources"),
    ({"configMapGenerator": [{"name": "c", "files": ["/etc/hostname"]}]}, "configMapGenerator"),
    ({"patches": [{"path": "../../outside.yaml"}]}, "patches"),
    ({"secretGenerator": [{"name": "s", "envs": ["link.env"]}]}, "secretGenerator"),
    ({"crds": ["../../x.yaml"]}, "crds"),
    ({"openapi": {"path": "/etc/schema.json"}}, "openapi.path"),
])
def test_references_outside_the_repository_are_refused(tmp_path, kus, field):
    repo = tmp_path / "repo"
    write(repo, "app/x.yaml")
    write(tmp_path, "outside.env", "SECRET=1\n")
    (repo / "app" / "link.env").symlink_to(tmp_path / "outside.env")
    with pytest.raises(ReferenceError_, match=rf"app/kustomization.yaml: {field}.* points outside the repository"):
        walk(repo, "app", kus)


def test_references_left_out_of_the_artifact_are_refused(tmp_path):
    write(tmp_path, "app/x.yaml")
    write(tmp_path, "app/notes/extra.yaml")
    with pytest.raises(ReferenceError_, match="'notes/extra.yaml' is left out of the source artifact"):
        walk(tmp_path, "app", {"resources": ["x.yaml", "notes/extra.yaml"]}, ignore="notes/\n")
    walk(tmp_path, "app", {"resources": ["x.yaml"]}, ignore="notes/\n")


def test_files_taken_back_inside_an_excluded_directory_are_in_the_artifact(tmp_path):
    write(tmp_path, "app/x.yaml")
    write(tmp_path, "shared/vars/settings.yaml")
    write(tmp_path, "shared/other.yaml")
    write(tmp_path, "shared/base/kustomization.yaml", yaml.safe_dump({"resources": ["b.yaml"]}))
    write(tmp_path, "shared/base/b.yaml")
    ignore = "shared/\n!shared/vars/\n!shared/base/\n"
    result = walk(tmp_path, "app", {"resources": ["x.yaml", "../shared/vars/settings.yaml", "../shared/base"]},
                  ignore=ignore)
    assert [d.relative_to(tmp_path).as_posix() for d in result.directories] == ["app", "shared/base"]
    with pytest.raises(ReferenceError_, match="'../shared/other.yaml' is left out of the source artifact"):
        walk(tmp_path, "app", {"resources": ["../shared/other.yaml"]}, ignore=ignore)


def test_a_directory_whose_kustomization_file_is_left_out_is_refused(tmp_path):
    # the directory is in the artifact (a file below it is kept), its kustomization file is not: kustomize in
    # Flux would find none there
    write(tmp_path, "app/x.yaml")
    write(tmp_path, "base/kustomization.yaml", yaml.safe_dump({"resources": ["b.yaml"]}))
    write(tmp_path, "base/b.yaml")
    with pytest.raises(ReferenceError_, match="base/kustomization.yaml: left out of the source artifact"):
        walk(tmp_path, "app", {"resources": ["../base"]}, ignore="kustomization.yaml\n")


def test_remote_and_inline_references_are_left_to_kustomize(tmp_path):
    write(tmp_path, "app/x.yaml")
    walk(tmp_path, "app", {"resources": ["https://github.com/org/repo//deploy?ref=v1", "x.yaml"],
                           "transformers": ["apiVersion: builtin\nkind: LabelTransformer\n"],
                           "patchesStrategicMerge": ["apiVersion: v1\nkind: ConfigMap\n"]})


def test_a_missing_file_is_left_to_kustomize_to_report(tmp_path):
    (tmp_path / "app").mkdir()
    assert walk(tmp_path, "app", {"resources": ["gone.yaml"]}).sources == []


def test_singular_env_is_noted_not_decrypted(tmp_path):
    write(tmp_path, "app/s.env")
    result = walk(tmp_path, "app", {"secretGenerator": [{"name": "s", "env": "s.env"}]})
    assert result.sources == [] and [p.name for p in result.singular_env] == ["s.env"]


@pytest.mark.parametrize("name, fmt", [("a.yaml", "yaml"), ("a.yml", "yaml"), ("a.json", "json"),
                                       (".dockerconfigjson", "json"), ("x.env", "dotenv"), ("x.ini", "ini"),
                                       ("tls.crt", "binary")])
def test_sops_format_by_name(name, fmt):
    assert sops_format(name) == fmt
