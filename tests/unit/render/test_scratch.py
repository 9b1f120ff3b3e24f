"""render.scratch: the throwaway trees kustomize builds from."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bootstrap.kustomize import scratch
from bootstrap.kustomize.scratch import PlaintextRefused, filesystem_type, memory_backed_dir, scratch_tree


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in ("apps/web/kustomization.yaml", "apps/web/deploy.yaml", "apps/base/cm.yaml", "README.md", ".git/HEAD"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    return root


def test_only_changed_paths_are_real_and_the_rest_points_back(tmp_path):
    root = repo(tmp_path)
    files = {"apps/web/kustomization.yaml": b"changed"}
    with scratch_tree(root, ["apps/web"], files, plaintext=False, base=tmp_path) as top:
        assert (top / "apps" / "web" / "kustomization.yaml").read_bytes() == b"changed"
        assert not (top / "apps" / "web" / "kustomization.yaml").is_symlink()
        assert (top / "apps" / "web" / "deploy.yaml").is_symlink()
        assert (top / "apps" / "base").is_symlink() and (top / "README.md").is_symlink()
        assert not (top / "apps").is_symlink() and not (top / ".git").exists()
        assert stat.S_IMODE(os.stat(top).st_mode) == 0o700
        made = top
    assert not made.exists()
    assert (root / "apps/web/kustomization.yaml").read_text() == "apps/web/kustomization.yaml"  # untouched


def test_the_tree_is_removed_when_the_build_fails(tmp_path):
    root = repo(tmp_path)
    with pytest.raises(RuntimeError):
        with scratch_tree(root, ["apps"], {}, plaintext=False, base=tmp_path) as top:
            raise RuntimeError("kustomize failed")
    assert not top.exists()


@pytest.mark.skipif(filesystem_type(Path("/dev/shm")) not in ("tmpfs", "ramfs"), reason="needs /dev/shm as tmpfs")
def test_plaintext_goes_only_to_memory(tmp_path):
    root = repo(tmp_path)
    with scratch_tree(root, ["apps/web"], {"apps/web/s.env": b"PASSWORD=x"}, plaintext=True,
                      base=Path("/dev/shm")) as top:
        assert filesystem_type(top) in scratch.MEMORY_FILESYSTEMS
        assert stat.S_IMODE(os.stat(top / "apps/web/s.env").st_mode) == 0o600


@pytest.mark.parametrize("base", [None, "disk"])
def test_plaintext_is_refused_without_a_memory_backed_directory(tmp_path, base):
    root = repo(tmp_path)
    disk = tmp_path / "disk"
    disk.mkdir()
    if filesystem_type(disk) in scratch.MEMORY_FILESYSTEMS:
        pytest.skip("tmp_path is itself memory-backed here")
    with pytest.raises(PlaintextRefused, match="needs a memory-backed directory"):
        with scratch_tree(root, [], {"apps/web/s.env": b"x"}, plaintext=True, base=disk if base else None):
            pass
    assert list(disk.iterdir()) == []


def test_memory_backed_dir_checks_the_file_system_type(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if filesystem_type(disk) in scratch.MEMORY_FILESYSTEMS:
        pytest.skip("tmp_path is itself memory-backed here")
    found = memory_backed_dir({scratch.TMPFS_ENV: str(disk), "XDG_RUNTIME_DIR": str(disk)})
    assert found is None or filesystem_type(found) in scratch.MEMORY_FILESYSTEMS
    assert found != disk
