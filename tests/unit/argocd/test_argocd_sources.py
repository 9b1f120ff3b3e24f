"""Application sources as the repo-server renders them: kustomize overrides against the real `kustomize edit`
commands Argo CD runs (then `kustomize build`), and directory sources' recurse/include/exclude."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from bootstrap.engines.argocd.sources import gobwas_match
from tests.support.argocdrepos import by_ref, keyed_repo, kustomize_binary, kustomize_build, phase, render

URL = "https://github.com/example/cluster"

OVERRIDES = {"namePrefix": "p-", "nameSuffix": "-s", "namespace": "team",
             "images": ["nginx=registry.example/nginx:1.27", "busybox:1.36"],
             "commonLabels": {"tier": "web"}, "forceCommonLabels": True,
             "commonAnnotations": {"owner": "ops"}, "replicas": [{"name": "web", "count": 3}]}


def app(name, path, **source) -> str:
    return yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                           "metadata": {"name": name, "namespace": "argocd"},
                           "spec": {"source": {"repoURL": URL, "path": path, **source},
                                    "destination": {"namespace": "default"}}})


FILES = {
    "root.yaml": app("web", "web", kustomize=OVERRIDES) + "---\n" + app(
        "plain", "plain", directory={"recurse": True, "include": "{*.yaml,sub/*.json}", "exclude": "*skip*"}),
    "web/kustomization.yaml": "commonLabels: {tier: base}\nresources: [deploy.yaml]\n",
    "web/deploy.yaml": yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a", "image": "nginx:1.0"}, {"name": "b", "image": "busybox"}]}}}}),
    "plain/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    "plain/skip-me.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped}\n",
    "plain/marked.yaml": "# +argocd:skip-file-rendering\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: marked}\n",
    "plain/sub/b.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}',
    "plain/sub/c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    "plain/notes.txt": "not a manifest\n",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return keyed_repo(tmp_path_factory.mktemp("sources"), FILES)


def test_kustomize_overrides_match_kustomize_edit(repo, tmp_path):
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("root.yaml",), selection=("web",))
    ours = by_ref(m.body for m in phase(rendered, "argocd/web").manifests)
    copy = tmp_path / "web"
    shutil.copytree(repo.path / "web", copy)
    k = kustomize_binary()
    if not k.endswith("kustomize"):
        pytest.skip("`kustomize edit` needs the standalone kustomize (make flux)")
    for args in (["set", "nameprefix", "--", "p-"], ["set", "namesuffix", "--", "-s"],
                 ["set", "image", "nginx=registry.example/nginx:1.27", "busybox:1.36"], ["set", "replicas", "web=3"],
                 ["add", "label", "--force", "tier:web"], ["add", "annotation", "owner:ops"],
                 ["set", "namespace", "--", "team"]):
        done = subprocess.run([k, "edit", *args], cwd=copy, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert ours == by_ref(kustomize_build(copy))


def test_an_unforced_label_that_exists_is_refused_as_kustomize_edit_refuses_it(repo, tmp_path):
    from bootstrap.errors import ValidationError

    files = dict(FILES)
    files["root.yaml"] = app("web", "web", kustomize={"commonLabels": {"tier": "x"}})
    made = keyed_repo(tmp_path, files)
    with pytest.raises(ValidationError, match="'tier' is already in the kustomization file"):
        render(made.path, made.key_file, engine="argocd", paths=("root.yaml",), selection=("web",))


def test_directory_recurse_include_exclude(repo):
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("root.yaml",), selection=("plain",))
    names = sorted(m.ref.name for m in phase(rendered, "argocd/plain").manifests)
    assert names == ["a", "b", "c"]  # `*.yaml` reaches sub/ too; skip-me excluded; the marked file skipped


@pytest.mark.parametrize("pattern, text, matches", [
    ("*.yaml", "sub/x.yaml", True),  # no separators: `*` crosses `/`
    ("{a,b}.json", "b.json", True), ("[!x]*.yaml", "x.yaml", False), ("sub/?.yaml", "sub/ab.yaml", False)])
def test_gobwas_globs(pattern, text, matches):
    assert gobwas_match(pattern, text) is matches
