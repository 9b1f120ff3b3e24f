"""Which files of the checkout the source artifact holds, as source-controller packs a GitRepository.

source-controller leaves out its default patterns (VCS files, images and archives, CI files, `.sops.yaml`,
`.flux.yaml`, `.goreleaser.yml`), then every `.sourceignore` (each scoped to its directory), then the
GitRepository's `spec.ignore`; gitignore rules, the last matching pattern deciding (fluxcd/pkg/sourceignore).
Patterns are read with pathspec's gitignore implementation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pathspec.util
from pathspec.pattern import Pattern

IGNORE_FILE = ".sourceignore"
DEFAULT_PATTERNS = (
    ".git/", ".gitignore", ".gitmodules", ".gitattributes",
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml", "cloudbuild.yaml",
    "codeship-services.yml", "codeship-steps.yml",
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
)


@lru_cache(maxsize=1)
def _pattern_class():
    return pathspec.util.lookup_pattern("gitignore")


@dataclass(frozen=True)
class _Rule:
    domain: str  # repo-relative directory the pattern is scoped to ("" for the root)
    pattern: Pattern
    include: bool  # False: a negated pattern (`!x`) that takes the path back in


def _rules(lines: list[str], domain: str) -> list[_Rule]:
    out = []
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        pattern = _pattern_class()(line)
        if pattern.include is None:
            continue
        out.append(_Rule(domain, pattern, bool(pattern.include)))
    return out


class Artifact:
    """`ignored(rel, is_dir)` answers for the checkout at `root` as source-controller's artifact would."""

    def __init__(self, root: Path, spec_ignore: str | None = None):
        self.root = root
        rules = _rules(list(DEFAULT_PATTERNS), "")
        rules += _rules_from_files(root)
        if spec_ignore:
            rules += _rules(spec_ignore.splitlines(), "")
        self._rules = tuple(reversed(rules))  # the last pattern that matches decides
        self.spec_ignore = spec_ignore

    def with_spec_ignore(self, spec_ignore: str | None) -> "Artifact":
        return self if spec_ignore == self.spec_ignore else Artifact(self.root, spec_ignore)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        for rule in self._rules:
            if rule.domain:
                if not rel.startswith(rule.domain + "/"):
                    continue
                local = rel[len(rule.domain) + 1:]
            else:
                local = rel
            if rule.pattern.match_file(local + "/" if is_dir else local):
                return rule.include
        return False


def _rules_from_files(root: Path) -> list[_Rule]:
    """Patterns of every `.sourceignore`, parents before children (source-controller's order)."""
    rules: list[_Rule] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        if IGNORE_FILE in filenames:
            rel = os.path.relpath(dirpath, root)
            domain = "" if rel == "." else rel.replace(os.sep, "/")
            try:
                text = Path(dirpath, IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            rules += _rules(text.splitlines(), domain)
    return rules
