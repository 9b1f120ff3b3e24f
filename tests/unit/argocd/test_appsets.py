"""ApplicationSets expanded offline as applicationset/generators computes parameters (list, git directories
and files, matrix, merge; fasttemplate and goTemplate; templatePatch)."""

from __future__ import annotations

import pytest

from bootstrap.engines.argocd.appsets import NotExpandable, expand
from bootstrap.errors import ValidationError

REPO = "github.com/example/cluster"
URL = "https://github.com/example/cluster.git"


def appset(generators, template=None, *, go=False, patch=None) -> dict:
    spec = {"generators": generators, "goTemplate": go,
            "template": template or {"metadata": {"name": "x"}, "spec": {"source": {"repoURL": URL, "path": "p"}}}}
    if patch:
        spec["templatePatch"] = patch
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "set", "namespace": "argocd"}, "spec": spec}


@pytest.fixture
def tree(tmp_path):
    for rel, text in {"clusters/Prod_East/config.json": '{"cluster": {"name": "prod-east", "size": 3}}',
                      "clusters/dev/config.json": '{"cluster": {"name": "dev", "size": 1}}',
                      "clusters/dev/skip.json": '{"cluster": {"name": "no"}}',
                      "apps/web/x.yaml": "a: 1\n", "apps/db/x.yaml": "a: 1\n", "apps/.hidden/x.yaml": "a: 1\n",
                      "apps/web/sub/x.yaml": "a: 1\n"}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def names(apps):
    return sorted(a["metadata"]["name"] for a in apps)


def test_git_directories_flat_parameters(tree):
    template = {"metadata": {"name": "{{path.basename}}-{{path[0]}}"},
                "spec": {"source": {"repoURL": URL, "path": "{{path}}"}, "destination": {"namespace": "{{nope}}"}}}
    apps = expand(appset([{"git": {"repoURL": "git@github.com:example/cluster",
                                   "directories": [{"path": "apps/*"}]}}], template), "f", tree, REPO)
    assert names(apps) == ["db-apps", "web-apps"]  # hidden directories skipped, `*` stays in one directory
    assert apps[0]["spec"]["destination"]["namespace"] == "{{nope}}"  # an unknown key is left as written
    assert all(a["metadata"]["namespace"] == "argocd" for a in apps)


def test_git_files_go_template_and_patch(tree):
    template = {"metadata": {"name": "{{ .cluster.name }}-{{ .path.basenameNormalized }}"},
                "spec": {"source": {"repoURL": URL, "path": "{{ .path.path }}"}}}
    patch = "metadata:\n  annotations:\n    size: '{{ .cluster.size }}'\n"
    apps = expand(appset([{"git": {"repoURL": URL, "files": [{"path": "clusters/**/config.json"}]}}], template,
                         go=True, patch=patch), "f", tree, REPO)
    assert names(apps) == ["dev-dev", "prod-east-prod-east"]
    prod = next(a for a in apps if a["metadata"]["name"].startswith("prod"))
    assert prod["metadata"]["annotations"] == {"size": "3"}
    assert prod["spec"]["source"]["path"] == "clusters/Prod_East"


def test_matrix_interpolates_the_second_generator_and_merge_by_key(tree):
    template = {"metadata": {"name": "{{ .path.basename }}-{{ .env }}"}, "spec": {"source": {"repoURL": URL,
                                                                                          "path": "{{ .path.path }}"}}}
    matrix = {"matrix": {"generators": [{"list": {"elements": [{"env": "prod", "dir": "apps"}]}},
                                        {"git": {"repoURL": URL, "directories": [{"path": "{{ .dir }}/*"},
                                                                                 {"path": "apps/db", "exclude": True}]}}]}}
    assert names(expand(appset([matrix], template, go=True), "f", tree, REPO)) == ["web-prod"]
    merge = {"merge": {"mergeKeys": ["name"], "generators": [
        {"list": {"elements": [{"name": "a", "v": "1"}, {"name": "b", "v": "1"}]}},
        {"list": {"elements": [{"name": "b", "v": "2"}, {"name": "c", "v": "3"}]}}]}}
    apps = expand(appset([merge], {"metadata": {"name": "{{name}}-{{v}}"}, "spec": {}}), "f", tree, REPO)
    assert names(apps) == ["a-1", "b-2"]  # merged into the base's sets; c is not in the base


def test_what_cannot_be_expanded_offline(tree):
    with pytest.raises(NotExpandable, match="another repository"):
        expand(appset([{"git": {"repoURL": "https://x.example/other", "directories": [{"path": "*"}]}}]), "f", tree,
               REPO)
    with pytest.raises(NotExpandable, match="scmProvider"):
        expand(appset([{"scmProvider": {}}]), "f", tree, REPO)
    with pytest.raises(ValidationError, match="not evaluated offline"):
        expand(appset([{"list": {"elements": [{"a": "b"}]}}], {"metadata": {"name": "{{ printf \"%s\" .a }}"}},
                      go=True), "f", tree, REPO)
    with pytest.raises(ValidationError, match="not a string"):
        expand(appset([{"list": {"elements": [{"a": 1}]}}]), "f", tree, REPO)


def test_git_directories_walk_as_the_repo_server_lists_them(tree):
    """repofiles.walk with the generator's own filter: hidden directories (`.git`) are left out, symlinked
    ones never listed, a directory holding only a directory is listed, and tool directories such as
    node_modules (which restore's own scans skip) are directories like any other for Argo CD."""
    for rel in ("apps/node_modules/x.yaml", "apps/outer/inner/x.yaml", ".git/objects/x"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("a: 1\n")
    (tree / "apps" / "link").symlink_to(tree / "apps" / "web")
    template = {"metadata": {"name": "{{path.basename}}"}, "spec": {"source": {"repoURL": URL, "path": "{{path}}"}}}
    apps = expand(appset([{"git": {"repoURL": URL, "directories": [{"path": "apps/*"}]}}], template), "f", tree, REPO)
    assert names(apps) == ["db", "node_modules", "outer", "web"]
    every = expand(appset([{"git": {"repoURL": URL, "directories": [{"path": "*"}]}}], template), "f", tree, REPO)
    assert names(every) == ["apps", "clusters"]
