"""The files of a checkout, walked one way for everyone (`restore`, `check`): sorted, VCS and tool
directories left out, symlinked directories listed but never entered, symlinked files skipped; and the one
pattern for committed age private keys (X25519 and post-quantum); the path globs of `--exclude` and playbook
selectors (`glob_match`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__"})
MAX_SCAN_BYTES = 16 * 1024 * 1024  # larger files are not read by scans
COMMITTED_KEY = re.compile(rb"AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]{20,}")


def walk(root: Path, skip_dir: Callable[[str], bool] = SKIP_DIRS.__contains__) -> Iterator[tuple[str, Path]]:
    """(repo-relative POSIX path, path) of every regular file under `root`, in path order; directories whose
    name `skip_dir` accepts (by default VCS and tool directories) are not entered."""
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not skip_dir(d) and not (here / d).is_symlink())
        for name in sorted(filenames):
            path = here / name
            if path.is_symlink():
                continue
            yield path.relative_to(root).as_posix(), path


def read_small(path: Path, limit: int = MAX_SCAN_BYTES) -> bytes | None:
    """A file's bytes, or None when it cannot be read or is larger than `limit`."""
    try:
        if path.stat().st_size > limit:
            return None
        return path.read_bytes()
    except OSError:
        return None


def committed_key_lines(data: bytes) -> list[int]:
    """Line numbers (1-based) holding age private key text."""
    return [data.count(b"\n", 0, m.start()) + 1 for m in COMMITTED_KEY.finditer(data)]


def find_committed_keys(root: Path) -> list[str]:
    """Repo-relative files holding age private key text, in path order (directory by directory)."""
    hits = []
    for rel, path in walk(root):
        data = read_small(path)
        if data is not None and b"AGE-SECRET-KEY-" in data and COMMITTED_KEY.search(data):
            hits.append(rel)
    return sorted(hits, key=lambda rel: rel.split("/"))


@functools.lru_cache(maxsize=256)  # a pattern is matched against every file of a tree
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, path: str) -> bool:
    """`*` and `?` stay inside one path segment, `**` spans any number of segments."""
    return _glob_regex(pattern.removeprefix("./")).match(path) is not None
