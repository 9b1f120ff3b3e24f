"""Which files of the checkout the source artifact holds, as source-controller packs a GitRepository.

source-controller (internal/controller/gitrepository_controller.go, reconcileArtifact) reads the patterns of
every `.sourceignore` (fluxcd/pkg/sourceignore LoadIgnorePatterns: each scoped to its directory, a directory's
own file before its sub-directories', in name order), then the GitRepository's `spec.ignore` (scoped to the
root), and archives the checkout with fluxcd/pkg/artifact's SourceIgnoreFilter:

- the VCS patterns (`.git/`, `.gitignore`, `.gitmodules`, `.gitattributes`) always come first;
- the other defaults (images and archives, CI files, `**/.sops.yaml`, `**/.flux.yaml`, `**/.goreleaser.yml`)
  only when the repository has no pattern of its own: one `.sourceignore` line or a `spec.ignore` replaces them;
- the walk enters every directory, an excluded one too, and decides each file on its own: the last pattern
  that matches its path wins. A `!pattern` takes back files inside a directory an earlier pattern excluded
  (git itself would never look inside). An excluded directory gets no entry of its own, but exists in the
  unpacked artifact when a file or directory below it is kept. Symlinks are not archived at all (not modelled
  here: the render follows symlinks that stay inside the repository).

Matching is go-git's gitignore matcher as fluxcd/pkg/sourceignore/gitignore forks it, written here from its
rules: a pattern without a `/` (a trailing one aside) matches any component of the path below its directory;
one with a `/` matches components from the start, and then every path below what it matched (`/*` matches
everything); `**` as a whole component skips to the first component matching the next one, and at the end
matches the rest (`foo/**` also matches `foo`); a component holding `**` with other text never matches; a
trailing `/` asks that the last matched component be a directory; each component is Go's `filepath.Match`,
a malformed one never matching. pathspec's gitignore patterns are git's, which decides a directory once and
never looks inside, so they cannot answer per file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".sourceignore"
VCS_PATTERNS = (".git/", ".gitignore", ".gitmodules", ".gitattributes")
DEFAULT_PATTERNS = (
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml", "cloudbuild.yaml",
    "codeship-services.yml", "codeship-steps.yml",
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
)
_ANY_DIRS = "**"


def component_regex(glob: str) -> re.Pattern[str] | None:
    """Go's `filepath.Match` for one path component, as a regex (None: malformed, which never matches).

    `*` any run of characters, `?` one character, `[...]` a class (`^` negates; ranges `a-z`; `\\` escapes),
    `\\` escapes the next character. Malformed: a `\\` at the end, an unclosed class, a class starting with
    `]` or `-` or with a `-` left open. A range whose ends are reversed matches nothing."""
    out: list[str] = []
    i, n = 0, len(glob)

    def escaped(j: int) -> tuple[str, int] | None:  # one class character at j (Go's getEsc)
        if j >= n or glob[j] in "-]":
            return None
        if glob[j] == "\\":
            j += 1
            if j >= n:
                return None
        return glob[j], j + 1

    while i < n:
        ch = glob[i]
        if ch == "*":
            out.append(".*")
            i += 1
        elif ch == "?":
            out.append(".")
            i += 1
        elif ch == "\\":
            if i + 1 >= n:
                return None
            out.append(re.escape(glob[i + 1]))
            i += 2
        elif ch == "[":
            i += 1
            negated = i < n and glob[i] == "^"
            i += negated
            ranges: list[str] = []
            count = 0
            while True:
                if i < n and glob[i] == "]" and count:
                    i += 1
                    break
                low = escaped(i)
                if low is None:
                    return None
                lo, i = low
                hi = lo
                if i < n and glob[i] == "-":
                    high = escaped(i + 1)
                    if high is None:
                        return None
                    hi, i = high
                count += 1
                if lo <= hi:
                    ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
            if negated:
                out.append(f"[^{''.join(ranges)}]" if ranges else ".")
            else:
                out.append(f"[{''.join(ranges)}]" if ranges else "(?!)")
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One pattern line, scoped to the directory whose `.sourceignore` holds it (() for the root)."""

    domain: tuple[str, ...]
    text: str
    include: bool  # `!pattern`: a match takes the path back in
    dir_only: bool  # a trailing `/`
    anchored: bool  # holds a `/`: matched component by component from the domain
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, line: str, domain: tuple[str, ...] = ()) -> "Rule":
        include = line.startswith("!")
        text = line[1:] if include else line
        if not text.endswith("\\ "):
            text = text.rstrip(" ")
        dir_only = text.endswith("/")
        if dir_only:
            text = text[:-1]
        return cls(domain, line, include, dir_only, "/" in text, tuple(text.split("/")))

    def matches(self, path: tuple[str, ...], is_dir: bool) -> bool:
        depth = len(self.domain)
        if len(path) <= depth or path[:depth] != self.domain:
            return False
        below = path[depth:]
        return self._anchored(below, is_dir) if self.anchored else self._anywhere(below, is_dir)

    def _anywhere(self, path: tuple[str, ...], is_dir: bool) -> bool:
        """No `/` in the pattern: the first component it matches decides (a directory, unless it is the path)."""
        regex = _compiled(self.parts[0])
        if regex is None:
            return False
        for index, name in enumerate(path):
            if regex.fullmatch(name):
                return not (self.dir_only and not is_dir and index == len(path) - 1)
        return False

    def _anchored(self, path: tuple[str, ...], is_dir: bool) -> bool:
        """Components matched in turn from the domain; what is left below the last one is matched too."""
        matched = skipping = False
        last = len(self.parts) - 1
        for index, part in enumerate(self.parts):
            if part == "":
                skipping = False
                continue
            if part == _ANY_DIRS:
                if index == last:
                    break
                skipping = True
                continue
            regex = None if _ANY_DIRS in part else _compiled(part)
            if regex is None or not path:
                return False
            if skipping:  # the first component that matches, no backtracking
                skipping = False
                found = next((k for k, name in enumerate(path) if regex.fullmatch(name)), None)
                matched = found is not None
                path = path[found + 1:] if found is not None else ()
            elif regex.fullmatch(path[0]):
                matched, path = True, path[1:]
            else:
                return False
        return matched and not (self.dir_only and not is_dir and not path)


_COMPILED: dict[str, re.Pattern[str] | None] = {}


def _compiled(glob: str) -> re.Pattern[str] | None:
    if glob not in _COMPILED:
        _COMPILED[glob] = component_regex(glob)
    return _COMPILED[glob]


def read_patterns(text: str, domain: tuple[str, ...] = ()) -> list[Rule]:
    """The rules of one ignore text (sourceignore ReadPatterns): one per line, `#` lines and blank ones left
    out; a line keeps its leading spaces."""
    rules = []
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if line.startswith("#") or not line.strip():
            continue
        rules.append(Rule.parse(line, domain))
    return rules


class Artifact:
    """What source-controller's artifact of the checkout at `root` holds. `ignored(rel, is_dir)` is the archive
    filter's answer for one path; `left_out(rel, is_dir)` whether the path is absent from the unpacked artifact
    (a directory the filter excludes is still there when something below it is kept)."""

    def __init__(self, root: Path, spec_ignore: str | None = None):
        self.root = root
        self.spec_ignore = spec_ignore
        own = _rules_from_files(root)
        if spec_ignore is not None:
            own += read_patterns(spec_ignore)
        defaults = [Rule.parse(p) for p in VCS_PATTERNS + (() if own else DEFAULT_PATTERNS)]
        self.rules = tuple(defaults + own)
        self._last_first = tuple(reversed(self.rules))
        self._dirs: dict[str, bool] = {}

    def with_spec_ignore(self, spec_ignore: str | None) -> "Artifact":
        return self if spec_ignore == self.spec_ignore else Artifact(self.root, spec_ignore)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """The archive filter: the last rule matching the repo-relative path decides (no match: kept)."""
        path = tuple(rel.split("/"))
        for rule in self._last_first:
            if rule.matches(path, is_dir):
                return not rule.include
        return False

    def left_out(self, rel: str, is_dir: bool) -> bool:
        """Absent from the unpacked artifact: a file the filter excludes; a directory it excludes holding no
        directory or regular file that is kept."""
        if not self.ignored(rel, is_dir):
            return False
        if not is_dir:
            return True
        if rel not in self._dirs:
            self._dirs[rel] = not self._holds_any(rel)
        return self._dirs[rel]

    def _holds_any(self, rel: str) -> bool:
        try:
            entries = sorted(os.scandir(self.root / rel), key=lambda e: e.name)
        except OSError:
            return False
        for entry in entries:
            below = f"{rel}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if not self.ignored(below, True) or self._holds_any(below):
                    return True
            elif entry.is_file(follow_symlinks=False) and not self.ignored(below, False):
                return True
        return False


def _rules_from_files(root: Path) -> list[Rule]:
    """Patterns of every `.sourceignore` (not under `.git`), a directory's own before its sub-directories',
    in name order (source-controller's LoadIgnorePatterns)."""
    rules: list[Rule] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        if IGNORE_FILE in filenames:
            rel = os.path.relpath(dirpath, root)
            domain = () if rel == "." else tuple(rel.replace(os.sep, "/").split("/"))
            try:
                data = Path(dirpath, IGNORE_FILE).read_bytes()
            except OSError:
                continue
            rules += read_patterns(data.decode("utf-8", errors="surrogateescape"), domain)
    return rules
