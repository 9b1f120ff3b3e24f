"""render.artifact against the real `flux build artifact` (the pinned flux CLI): the files of the artifact.

The CLI packs a directory with the archive walk and gitignore matcher source-controller uses
(fluxcd/pkg/tar with a fluxcd/pkg/sourceignore filter: every directory entered, every file decided on its own,
the last matching pattern winning), given the patterns by `--ignore-paths`. It reads no `.sourceignore`, so it
is given what source-controller's SourceIgnoreFilter would use: the VCS patterns, then the repository's own
patterns (the root `.sourceignore`, then `spec.ignore`), or, when there are none, every default pattern. A
nested `.sourceignore` is scoped to its directory: the CLI is run on that directory with its patterns.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from bootstrap.kustomize.artifact import DEFAULT_PATTERNS, VCS_PATTERNS, Artifact
from tests.support.flux import run_flux

TREE = (
    ".git/config", ".git/objects/ab/cdef", ".gitignore", ".github/workflows/ci.yaml", ".sops.yaml", "README.md",
    "docs/logo.png", "docs/guide.md", "ansible/inventory.yaml",
    "cluster/vars/cluster-settings.yaml", "cluster/vars/cluster-secrets.sops.yaml", "cluster/.sops.yaml",
    "cluster/apps/app.yaml", "cluster/apps/deep/keep.yaml", "cluster/apps/deep/drop.yaml",
    "kubernetes/apps/x.yaml", "kubernetes/flux/config/ks.yaml", "kubernetes/.sops.yaml",
    "a/x/a/b", "a/b", "foo/bar.yaml", "foo.txt", "notes/x.txt", "notes/sub/y.txt", "x.txt/inside.yaml",
    "weird/!.yaml", "weird/a.yaml", "weird/b.yaml", "weird/[.yaml", "space /s.yaml", "trail/t.yaml",
)

CASES = {
    # (root .sourceignore, spec.ignore)
    "defaults only": (None, None),
    "re-include inside an excluded directory": ("cluster/\n!cluster/vars/\n", None),
    "cluster-template's spec.ignore": (None, "# exclude all\n/*\n# include kubernetes directory\n!/kubernetes\n"),
    "excluded, re-included, excluded again, one file back": (
        None, "/*\n!/cluster/\n/cluster/apps/\n!/cluster/apps/deep/keep.yaml\n"),
    "sourceignore then spec.ignore, both re-including": ("*.yaml\n!**/vars/*.yaml\n", "!cluster/apps/deep/\n"),
    "re-include of a default pattern": ("!.gitignore\n!.sops.yaml\n", None),
    "a directory-only pattern and a file back": ("notes/\n!notes/sub/y.txt\nx.txt/\n", None),
    "double stars": ("/**\nfoo/**\n**/a/b\n", None),
    "double stars inside a component never match": ("a**/b\ncluster/apps/**.yaml\n", None),
    "Go's filepath.Match classes": ("weird/[!a].yaml\n", None),
    "Go's negated class": ("weird/[^b].yaml\n", None),
    "a malformed pattern never matches": ("weird/[\n[.yaml\n", None),
    "trailing spaces are trimmed, an escaped one is kept": ("trail  \nspace\\ \n", None),
    "a pattern with a slash is anchored, without one matches anywhere": ("apps\n/deep\nconfig/ks.yaml\n", None),
}


def make_tree(root: Path) -> None:
    for rel in TREE:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{rel}\n")


def own_lines(text: str | None) -> list[str]:
    return [line for line in (text or "").split("\n") if line.strip() and not line.startswith("#")]


def flux_files(directory: Path, patterns: list[str], out: Path) -> tuple[set[str], set[str]]:
    """The regular files of `flux build artifact` on `directory`, and the directories unpacking creates."""
    run_flux("build", "artifact", f"--path={directory}", f"--output={out}",
             *(f"--ignore-paths={pattern}" for pattern in patterns))
    files, dirs = set(), set()
    with tarfile.open(out) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("./")
            if member.isdir() and name not in (".", ""):
                dirs.add(name)
            elif member.isfile():
                files.add(name)
                parts = name.split("/")
                dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return files, dirs


def our_files(artifact: Artifact, under: str = "") -> tuple[set[str], set[str]]:
    """The regular files the artifact holds below `under` (relative to it), and the directories it has."""
    files, dirs = set(), set()
    top = artifact.root / under if under else artifact.root
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = Path(dirpath).relative_to(artifact.root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in dirnames:
            if not artifact.left_out(prefix + name, True):
                dirs.add(prefix + name)
        for name in filenames:
            if not artifact.ignored(prefix + name, False):
                files.add(prefix + name)
    strip = (lambda rel: rel[len(under) + 1:]) if under else (lambda rel: rel)
    return {strip(f) for f in files}, {strip(d) for d in dirs}


@pytest.mark.parametrize("case", list(CASES))
def test_the_artifact_holds_the_files_flux_packs(tmp_path, case):
    sourceignore, spec_ignore = CASES[case]
    repo = tmp_path / "repo"
    make_tree(repo)
    if sourceignore is not None:
        (repo / ".sourceignore").write_text(sourceignore)
    own = own_lines(sourceignore) + own_lines(spec_ignore)
    patterns = list(VCS_PATTERNS) + (own if own else list(DEFAULT_PATTERNS))
    theirs = flux_files(repo, patterns, tmp_path / "artifact.tgz")
    ours = our_files(Artifact(repo, spec_ignore))
    assert ours[0] == theirs[0], (case, sorted(ours[0] ^ theirs[0]))
    assert ours[1] == theirs[1], (case, sorted(ours[1] ^ theirs[1]))


def test_a_nested_sourceignore_is_scoped_to_its_directory(tmp_path):
    repo = tmp_path / "repo"
    make_tree(repo)
    nested = "apps/\n!apps/deep/keep.yaml\n/vars/*.sops.yaml\n*.yaml\n!app.yaml\n"
    (repo / "cluster" / ".sourceignore").write_text(nested)
    artifact = Artifact(repo)
    theirs = flux_files(repo / "cluster", list(VCS_PATTERNS) + own_lines(nested), tmp_path / "artifact.tgz")
    assert our_files(artifact, "cluster") == theirs
    # scoped: the same names elsewhere are untouched, and the repository's own rules replace the defaults
    assert not artifact.ignored("kubernetes/apps/x.yaml", False) and not artifact.ignored("docs/logo.png", False)
