"""Every sops version we build (3.9, 3.10, 3.12, 3.13) and PyPI's 3.11 writes the whole matrix; each file
is compared with its writer's own `sops decrypt` and, for the cross-read cases, every other version's.

YAML and JSON are compared as typed data (YAML 1.2 via ruamel.yaml; JSON with int and float apart), JSON
also byte for byte where the reader ends its output with a newline (3.10+); dotenv, INI and binary byte
for byte. Where a sops version itself refuses a file, the reason must be one of the version facts below.
"""

from __future__ import annotations

import pytest

from bootstrap import sops
from bootstrap.errors import DecryptError
from bootstrap.stages.keys import load_keyring
from tests.support.sops import typed
from tests.unit.sops.conftest import VERSIONS, version_case_ids

IDS = version_case_ids()


def _v(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def known_refusal(writer: str, reader: str, case_id: str, stderr: str) -> tuple[str, bool] | None:
    """Why `reader`'s sops refuses `writer`'s file for `case_id`, if that is a known sops behaviour, and
    whether we refuse it too (we follow the writer, and the newest reader where versions disagree)."""
    if "comment_regex" in case_id and "MAC mismatch" in stderr:
        return "sops' comment-regex MAC bug for comments in lists (issue #2281)", True
    if case_id.startswith("json-adversarial") and (_v(writer) >= (3, 13, 2)) != (_v(reader) >= (3, 13, 2)) \
            and "MAC mismatch" in stderr:
        return "3.13.2 reads JSON integers as int64: an unencrypted big integer or -0 hashes differently", False
    if _v(reader) < (3, 10) and _v(writer) >= (3, 10) and ("datatype: time" in stderr or "type: time.Time" in stderr):
        return "sops < 3.10 has no time type: it cannot open type:time values nor hash a timestamp (#944)", False
    if _v(reader) < (3, 11) and case_id == "ini-two-groups" and "shamir_threshold is not an integer" in stderr:
        return "sops < 3.11 writes an INI shamir_threshold as 2.000000 and then refuses to read it", False
    return None


def known_write_refusal(writer: str, case_id: str, stderr: str) -> str | None:
    if _v(writer) < (3, 11) and case_id == "dotenv-shamir-2of3" and "panic: interface conversion" in stderr:
        return "sops < 3.11 panics writing a dotenv file with key groups (shamir_threshold is a number there)"
    return None


def _same(ours: bytes, theirs: bytes, fmt: str, reader: str) -> None:
    if fmt in ("yaml", "json"):
        assert typed(ours, fmt) == typed(theirs, fmt)
        if fmt == "json" and _v(reader) >= (3, 10):
            assert ours == theirs
    else:
        assert ours == theirs


@pytest.mark.parametrize("vid", IDS)
def test_every_version_decrypts_as_we_do(version_matrix, vid):
    written = version_matrix[vid]
    case, writer = written.case, written.writer
    own = written.reads[writer]
    if own.returncode == 99:
        why = known_write_refusal(writer, case.id, own.stderr.decode())
        assert why, f"sops {writer} refused to encrypt {case.id}: {own.stderr.decode()}"
        pytest.skip(why)
    ring = load_keyring(str(written.key_file))
    try:
        ours = sops.decrypt(written.data, ring, fmt=case.fmt, name=vid).render()
    except DecryptError as err:
        ours, refused = None, str(err)
    for reader, proc in written.reads.items():
        if proc.returncode != 0:
            known = known_refusal(writer, reader, case.id, proc.stderr.decode())
            assert known, f"sops {reader} refuses the file sops {writer} wrote: {proc.stderr.decode()}"
            why, ours_too = known
            if ours_too:
                assert ours is None, f"sops {reader} refuses the file ({why}); so must we"
            continue
        assert ours is not None, f"sops {reader} decrypts the file sops {writer} wrote; we refuse: {refused}"
        _same(ours, proc.stdout, case.fmt, reader)


def test_the_matrix_covers_every_built_version():
    """Guard: the matrix is not silently reduced to one version where the build must have run."""
    from tests.unit.sops.conftest import REQUIRE_VERSIONS

    if REQUIRE_VERSIONS:
        assert {v.rsplit(".", 1)[0] for v in VERSIONS} >= {"3.9", "3.10", "3.11", "3.12", "3.13"}, VERSIONS
    assert len(VERSIONS) >= 1
