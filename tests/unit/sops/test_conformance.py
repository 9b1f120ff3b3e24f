"""Files written by other sops versions (kustomize-controller's fixtures) decrypt as `sops decrypt` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import sops
from bootstrap.stages.keys import load_keyring
from tests.support.sops import sops_decrypt, typed

SHARED = (Path(__file__).resolve().parents[3] / ".." / "shared").resolve()
FIXTURES = SHARED / "conformance" / "kustomize-controller-sops"

CASES = [
    ("algorithms/age.yaml", "age.txt"),
    ("patches/merge1.yaml", "age.txt"),
    ("patches/merge2.yaml", "age.txt"),
    ("envs/env.env", "age.txt"),
    ("component/env.env", "age.txt"),
    ("remote/env.env", "age.txt"),
    ("files/file.txt", "age.txt"),
    ("global/secret.yaml", "age-global.txt"),
]

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"conformance fixtures not found at {FIXTURES}")


@pytest.mark.parametrize(("relpath", "key"), CASES, ids=[c[0] for c in CASES])
def test_conformance_file_decrypts_like_sops(relpath, key):
    path, key_file = FIXTURES / relpath, FIXTURES / "keys" / key
    data = path.read_bytes()
    fmt = sops.detect_format(relpath)
    assert sops.is_encrypted(data, fmt)
    expected = sops_decrypt(data, fmt, key_file)
    assert expected.returncode == 0, expected.stderr
    ours = sops.decrypt(data, load_keyring(str(key_file)), fmt=fmt, name=relpath).render()
    if fmt in ("yaml", "json"):
        assert typed(ours, fmt) == typed(expected.stdout, fmt)
    else:
        assert ours == expected.stdout


def test_conformance_recipients_are_listed():
    data = (FIXTURES / "algorithms/age.yaml").read_bytes()
    assert sops.file_recipients(data, "yaml", "age.yaml") == [
        "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"
    ]


def test_conformance_wrong_key_names_both_recipients():
    data = (FIXTURES / "global/secret.yaml").read_bytes()
    ring = load_keyring(str(FIXTURES / "keys" / "age.txt"))
    with pytest.raises(Exception) as err:
        sops.decrypt(data, ring, fmt="yaml", name="global/secret.yaml")
    message = str(err.value)
    assert "global/secret.yaml: no identity matches" in message
    assert ring.recipients[0] in message
