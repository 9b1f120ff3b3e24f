"""render.artifact: which files source-controller's artifact holds (default exclusions, .sourceignore,
GitRepository spec.ignore), decided per file with go-git's matching rules (tests/unit/render/test_artifact_oracle.py
compares whole trees with the real `flux build artifact`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.kustomize.artifact import Artifact, Rule, component_regex


def test_default_exclusions(tmp_path):
    a = Artifact(tmp_path)
    for rel, is_dir in [(".git", True), (".github", True), ("apps/.sops.yaml", False), (".sops.yaml", False),
                        ("docs/logo.png", False), ("x/.flux.yaml", False), (".gitlab-ci.yml", False)]:
        assert a.ignored(rel, is_dir), rel
    for rel in ("apps/app.yaml", "sops.yaml", "apps/values.json", ".sourceignore"):
        assert not a.ignored(rel, False), rel


def test_sourceignore_is_scoped_to_its_directory(tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / ".sourceignore").write_text("# comment\n*.txt\n/local.yaml\n")
    (tmp_path / ".sourceignore").write_text("docs/\n")
    a = Artifact(tmp_path)
    assert a.ignored("apps/notes.txt", False) and a.ignored("apps/sub/notes.txt", False)
    assert not a.ignored("notes.txt", False)
    assert a.ignored("apps/local.yaml", False) and not a.ignored("apps/sub/local.yaml", False)
    assert a.ignored("docs", True) and not a.ignored("apps/docs.yaml", False)


def test_spec_ignore_last_match_wins_and_negation_takes_back(tmp_path):
    # cluster-template's GitRepository: everything but the kubernetes directory is left out
    a = Artifact(tmp_path, "# exclude all\n/*\n# include kubernetes directory\n!/kubernetes\n")
    assert a.ignored("README.md", False) and a.ignored("ansible", True)
    assert not a.ignored("kubernetes", True) and not a.ignored("kubernetes/apps/x.yaml", False)
    # `/*` and `/kubernetes` match every path below what they match (go-git's matcher); and with a spec.ignore
    # the default `**/.sops.yaml` is not applied at all
    assert not a.ignored("kubernetes/apps/.sops.yaml", False)
    assert a.ignored("apps/.sops.yaml", False) and a.ignored("ansible/roles/x/tasks/main.yaml", False)


def test_with_spec_ignore_is_a_new_view(tmp_path):
    a = Artifact(tmp_path)
    assert a.with_spec_ignore(None) is a
    b = a.with_spec_ignore("*.md\n")
    assert b.ignored("README.md", False) and not a.ignored("README.md", False)


def write(root: Path, rel: str, text: str = "x: 1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("own", ["sourceignore", "nested sourceignore", "spec.ignore"])
def test_the_repository_s_own_rules_replace_every_default_but_the_vcs_ones(tmp_path, own):
    # fluxcd/pkg/artifact SourceIgnoreFilter: with patterns of the repository's own, VCS patterns + those only
    if own == "sourceignore":
        write(tmp_path, ".sourceignore", "docs/\n")
    elif own == "nested sourceignore":
        write(tmp_path, "deep/.sourceignore", "# only a comment and\nscratch/\n")
    a = Artifact(tmp_path, "docs/\n" if own == "spec.ignore" else None)
    for rel in (".git/config", ".gitignore", ".gitmodules", ".gitattributes"):
        assert a.ignored(rel, False), rel
    for rel in (".sops.yaml", "apps/.sops.yaml", "logo.png", ".github/workflows/ci.yaml", ".gitlab-ci.yml"):
        assert not a.ignored(rel, False), rel


def test_comment_only_or_empty_rules_keep_the_defaults(tmp_path):
    write(tmp_path, ".sourceignore", "# nothing\n\n   \n")
    assert Artifact(tmp_path).ignored("apps/.sops.yaml", False)
    assert Artifact(tmp_path, "").ignored("logo.png", False)


def test_a_file_inside_an_excluded_directory_is_decided_on_its_own(tmp_path):
    # the case: git would never look inside `cluster/`; source-controller's walk does, per file
    write(tmp_path, ".sourceignore", "cluster/\n!cluster/vars/\n!cluster/apps/keep.yaml\n")
    for rel in ("cluster/vars/settings.yaml", "cluster/apps/keep.yaml", "cluster/apps/drop.yaml", "cluster/x.yaml",
                "cluster/empty/nothing.yaml"):
        write(tmp_path, rel)
    a = Artifact(tmp_path)
    assert a.ignored("cluster", True) and a.ignored("cluster/apps", True)
    assert not a.ignored("cluster/vars/settings.yaml", False) and not a.ignored("cluster/apps/keep.yaml", False)
    assert a.ignored("cluster/apps/drop.yaml", False) and a.ignored("cluster/x.yaml", False)
    # an excluded directory has no entry of its own, but is there when something below it is kept
    assert not a.left_out("cluster", True) and not a.left_out("cluster/apps", True)
    assert a.left_out("cluster/empty", True) and a.left_out("cluster/apps/drop.yaml", False)
    assert not a.left_out("cluster/vars/settings.yaml", False)


def test_a_sourceignore_inside_an_excluded_directory_still_counts(tmp_path):
    write(tmp_path, ".sourceignore", "/cluster/\n")
    write(tmp_path, "cluster/vars/.sourceignore", "!settings.yaml\n")
    write(tmp_path, "cluster/vars/settings.yaml")
    a = Artifact(tmp_path)
    assert not a.ignored("cluster/vars/settings.yaml", False) and a.ignored("cluster/vars/other.yaml", False)


@pytest.mark.parametrize("pattern, rel, is_dir, hit", [
    ("/*", "kubernetes/apps/x.yaml", False, True),  # a match covers every path below it
    ("docs", "a/docs/b/c.yaml", False, True),  # no slash: any component
    ("docs/", "a/docs", False, False),  # directory-only: the last component must be a directory
    ("docs/", "a/docs/c.yaml", False, True),
    ("a/b", "x/a/b", False, False),  # a slash anchors at the domain
    ("foo/**", "foo", True, True),  # go-git: a trailing ** matches the directory itself
    ("foo/**", "foo", False, True),
    ("/**", "anything/at/all", False, False),  # go-git: nothing before a trailing ** matched, so no match
    ("**/a/b", "a/x/a/b", False, False),  # ** skips to the first `a` and never backtracks
    ("**/a/b", "x/a/b/c", False, True),
    ("a**/b", "abc/b", False, False),  # ** inside a component of a pattern with a slash never matches
    ("a**", "abc", False, True),  # without a slash it is filepath.Match's two stars
    ("[!a].yaml", "!.yaml", False, True),  # Go's classes: `!` is a character, `^` negates
    ("[!a].yaml", "b.yaml", False, False),
    ("[^a].yaml", "b.yaml", False, True),
    ("[", "[", False, False),  # malformed: never matches
    ("trail  ", "trail", False, True),  # trailing spaces go, unless escaped
    ("trail\\ ", "trail ", False, True),
])
def test_go_git_matching(pattern, rel, is_dir, hit):
    assert Rule.parse(pattern).matches(tuple(rel.split("/")), is_dir) is hit


def test_a_rule_never_matches_its_own_directory_nor_outside_it():
    rule = Rule.parse("*", ("apps",))
    assert rule.matches(("apps", "x.yaml"), False)
    assert not rule.matches(("apps",), True) and not rule.matches(("other", "x.yaml"), False)


@pytest.mark.parametrize("glob, names, malformed", [
    ("*.y?ml", {"a.yaml": True, "a.yml": False, ".yaml": True}, False),
    ("[a-c]x", {"bx": True, "dx": False}, False),
    ("[^a-c]x", {"bx": False, "dx": True}, False),
    ("[c-a]x", {"bx": False}, False),  # a reversed range matches nothing
    ("\\*x", {"*x": True, "ax": False}, False),
    ("[\\]]", {"]": True}, False),
    ("[]a]", {}, True), ("[-a]", {}, True), ("[a-]", {}, True), ("x\\", {}, True), ("[ab", {}, True),
])
def test_component_regex_is_go_s_filepath_match(glob, names, malformed):
    regex = component_regex(glob)
    assert (regex is None) is malformed
    for name, hit in names.items():
        assert bool(regex.fullmatch(name)) is hit, name


def test_a_substitute_from_source_taken_back_inside_an_excluded_directory_is_found(tmp_path):
    # The issue: `cluster/` excluded, `!cluster/vars/` taking the settings back; the Kustomization rendering
    # cluster/vars must build, and the one substituting from its ConfigMap must find it.
    from bootstrap.engines.flux.render import RenderRequest, render_repository
    from bootstrap.kustomize.builder import Builder
    from bootstrap.kustomize.kustomizer import find_kustomizer
    from bootstrap.kustomize.secrets import SopsFiles
    from tests.support.fluxrepos import configmap, dump, flux_ks, git_repository, kustomization

    root = tmp_path / "repo"
    write(root, ".sourceignore", "cluster/\n!cluster/vars/\n")
    write(root, "clusters/prod/flux.yaml", dump(
        git_repository(), flux_ks("vars", "./cluster/vars"),
        flux_ks("apps", "./apps", dependsOn=[{"name": "vars"}],
                postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-settings"}]})))
    write(root, "cluster/vars/kustomization.yaml", kustomization(resources=["settings.yaml"]))
    write(root, "cluster/vars/settings.yaml", dump(configmap("cluster-settings", {"GREETING": "hello"}, "flux-system")))
    write(root, "apps/cm.yaml", dump(configmap("greeting", {"text": "${GREETING} world"}, "default")))
    builder = Builder(root, kustomizer=find_kustomizer(), artifact=Artifact(root), secrets=SopsFiles(root, None),
                      disk_base=tmp_path)
    rendering = render_repository(RenderRequest(paths=("clusters/prod",), kustomizations=("all",)), builder,
                                  cluster=None, notes=lambda text: None)
    by_name = {m.ref.name: m.body for m in rendering.manifests}
    assert by_name["greeting"]["data"] == {"text": "hello world"}
    assert "cluster-settings" in by_name
