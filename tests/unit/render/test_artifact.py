"""render.artifact: which files source-controller's artifact holds (default exclusions, .sourceignore,
GitRepository spec.ignore)."""

from __future__ import annotations

from bootstrap.kustomize.artifact import Artifact


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
    # the negation is the last matching pattern, so it takes back even a default exclusion (as go-git's
    # matcher in source-controller does: `/kubernetes` matches everything below it)
    assert not a.ignored("kubernetes/apps/.sops.yaml", False)
    assert a.ignored("apps/.sops.yaml", False)


def test_with_spec_ignore_is_a_new_view(tmp_path):
    a = Artifact(tmp_path)
    assert a.with_spec_ignore(None) is a
    b = a.with_spec_ignore("*.md\n")
    assert b.ignored("README.md", False) and not a.ignored("README.md", False)
