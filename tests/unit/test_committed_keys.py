"""The committed-key scan: every file of the checkout but .git, symlinks never followed, in path order."""

from __future__ import annotations


from bootstrap.repofiles import find_committed_keys

KEY = "AGE-SECRET-KEY-1" + "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2


def test_finds_key_text_in_any_file_in_path_order(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "z.txt").write_text(f"note: {KEY}\n")
    (tmp_path / "a" / "b" / "old.agekey").write_text(KEY + "\n")
    (tmp_path / "a" / "clean.yaml").write_text("kind: Secret\n")
    assert find_committed_keys(tmp_path) == ["a/b/old.agekey", "z.txt"]


def test_skips_git_internals_symlinks_and_short_lookalikes(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "real.agekey").write_text(KEY)
    repo = tmp_path / "repo"
    (repo / ".git" / "objects").mkdir(parents=True)
    (repo / ".git" / "objects" / "blob").write_text(KEY)
    (repo / "linked-dir").symlink_to(outside, target_is_directory=True)
    (repo / "linked-file").symlink_to(outside / "real.agekey")
    (repo / "docs.md").write_text("keys look like AGE-SECRET-KEY-1... (elided)")
    assert find_committed_keys(repo) == []
