"""Throwaway trees that kustomize builds from: the repository as it is, except for the files a build changes.

Flux writes its generated kustomization file (and, for a Kustomization with SOPS decryption, the decrypted
generator inputs) into its own copy of the artifact. A copy per build would cost more than the build, so a
scratch tree holds real directories only where a build changes something, and symlinks to the checkout for
everything else: the build's directory and every kustomization directory it reaches (and their parents) are
real, so each relative reference kustomize follows from them stays inside the scratch tree; the rest points
back to the unchanged checkout.

A tree that holds decrypted plaintext lives only on a memory-backed file system (tmpfs or ramfs, checked by
its file system type in /proc/self/mountinfo), mode 0700, and is removed as soon as kustomize returns.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from bootstrap.errors import ValidationError

MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
TMPFS_ENV = "DR_BOOTSTRAP_TMPFS"


class PlaintextRefused(ValidationError):
    """A build needs decrypted files on disk, and no memory-backed file system is available."""


def filesystem_type(path: Path) -> str | None:
    """The file system type of the mount holding `path` (Linux /proc/self/mountinfo), None if unknown."""
    try:
        target = os.path.realpath(path)
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        mount = fields[4].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, fstype = mount, right.split()[0]
    return fstype


def memory_backed_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """A writable directory on tmpfs/ramfs: $DR_BOOTSTRAP_TMPFS, $XDG_RUNTIME_DIR, /dev/shm, /run/user/UID."""
    candidates = [environ.get(TMPFS_ENV), environ.get("XDG_RUNTIME_DIR"), "/dev/shm", f"/run/user/{os.getuid()}"]
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate)
        if path.is_dir() and os.access(path, os.W_OK | os.X_OK) and filesystem_type(path) in MEMORY_FILESYSTEMS:
            return path
    return None


def _parents(rel: str) -> Iterator[str]:
    parts = [] if rel in ("", ".") else rel.split("/")
    for depth in range(len(parts) + 1):
        yield "/".join(parts[:depth])


@contextmanager
def scratch_tree(root: Path, real_dirs: Iterable[str], files: Mapping[str, bytes], *,
                 plaintext: bool, base: Path | None) -> Iterator[Path]:
    """A tree under `base` mirroring the checkout at `root`, with `files` (repo-relative path -> bytes).

    `real_dirs` (repo-relative) and their parents are real directories; every other entry is a symlink into
    `root` (`.git` left out). `plaintext`: `files` hold decrypted data, so `base` must be memory-backed
    (PlaintextRefused otherwise, before anything is written). Removed on exit, whatever happens."""
    if plaintext and (base is None or filesystem_type(base) not in MEMORY_FILESYSTEMS):
        raise PlaintextRefused(
            "decrypting this Kustomization's generator inputs needs a memory-backed directory "
            f"(tmpfs) to hand them to kustomize, and none was found: set {TMPFS_ENV} to a tmpfs directory"
        )
    top = Path(tempfile.mkdtemp(prefix="drb-build-", dir=base))
    try:
        os.chmod(top, 0o700)
        real = {parent for rel in real_dirs for parent in _parents(rel)}
        real |= {parent for rel in files for parent in _parents(os.path.dirname(rel))}
        for rel in sorted(real, key=lambda r: (r.count("/"), r)):
            here = top / rel if rel else top
            here.mkdir(exist_ok=True)
            source = root / rel if rel else root
            for entry in os.scandir(source):
                child = f"{rel}/{entry.name}" if rel else entry.name
                if entry.name == ".git" or child in real or child in files:
                    continue
                os.symlink(entry.path, here / entry.name)
        for rel, data in files.items():
            path = top / rel
            if path.is_symlink():
                path.unlink()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)
