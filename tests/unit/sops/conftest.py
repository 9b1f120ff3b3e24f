"""Session fixtures: fresh age keys and a matrix of files encrypted by the real sops binary.

Every case keeps sops' own decryption result, so tests compare against what `sops decrypt` prints.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from bootstrap.stages.keys import KeyRing, load_keyring
from tests.support.sops import AgeKey, cached_keys, encrypt_bytes, new_age_key, sops_decrypt, sops_versions, write_key_file
from tests.unit.sops import samples


@dataclass(frozen=True, repr=False)
class Keys:
    one: AgeKey
    two: AgeKey
    three: AgeKey
    stranger: AgeKey
    dir: Path

    def __repr__(self) -> str:
        return "Keys(<test keys>)"

    def file(self, *keys: AgeKey) -> Path:
        name = "-".join(k.recipient[-8:] for k in keys) + ".agekey"
        path = self.dir / name
        return path if path.exists() else write_key_file(path, *keys)

    def ring(self, *keys: AgeKey) -> KeyRing:
        return load_keyring(str(self.file(*keys)))


@dataclass(frozen=True)
class Case:
    id: str
    fmt: str
    plaintext: bytes
    rules: dict = field(default_factory=dict)
    recipients: tuple[str, ...] = ()
    key_groups: tuple[tuple[str, ...], ...] | None = None
    shamir_threshold: int | None = None
    decrypt_with: tuple[str, ...] = ("two",)


@dataclass(frozen=True)
class Encrypted:
    case: Case
    data: bytes
    key_file: Path
    sops: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    made = cached_keys(4) or [new_age_key() for _ in range(4)]  # the same keys every run only under DRB_SOPS_CACHE
    return Keys(*made, tmp_path_factory.mktemp("keys"))


def case_ids() -> list[str]:
    """Ids of the matrix cases (known before any key exists, for parametrize)."""
    return [c.id for c in _cases(None)]


def _cases(keys: Keys | None) -> list[Case]:
    if keys is None:  # ids only
        blank = AgeKey("", "")
        keys = Keys(blank, blank, blank, blank, Path("."))
    two = (keys.one.recipient, keys.two.recipient)
    cases = [
        Case(f"{fmt}-{rule}", fmt, text.encode(), options, two)
        for fmt, text in samples.PLAINTEXTS.items()
        for rule, options in samples.RULES.items()
    ]
    cases += [
        Case("yaml-multidoc", "yaml", samples.MULTI_DOC.encode(), {}, two),
        Case("yaml-multidoc-regex", "yaml", samples.MULTI_DOC.encode(), {"encrypted_regex": "^stringData$"}, two),
        Case("binary", "binary", samples.BINARY, {}, two),
        Case("binary-empty", "binary", b"", {}, two),
        Case("yaml-three-recipients", "yaml", samples.YAML.encode(), {},
             (keys.one.recipient, keys.two.recipient, keys.three.recipient), decrypt_with=("three",)),
        Case("yaml-shamir-2of3", "yaml", samples.YAML.encode(), {}, (),
             ((keys.one.recipient,), (keys.two.recipient,), (keys.three.recipient,)), 2, ("one", "three")),
        Case("dotenv-shamir-2of3", "dotenv", samples.DOTENV.encode(), {}, (),
             ((keys.one.recipient,), (keys.two.recipient,), (keys.three.recipient,)), 2, ("two", "three")),
        Case("json-shamir-3of3-all-keys", "json", samples.JSON.encode(), {}, (),
             ((keys.one.recipient,), (keys.two.recipient,), (keys.three.recipient,)), 3, ("one", "two", "three")),
        Case("ini-two-groups", "ini", samples.INI.encode(), {}, (),
             ((keys.one.recipient, keys.two.recipient), (keys.three.recipient,)), 2, ("two", "three")),
    ]
    return cases


def _encrypt(case: Case, keys: Keys) -> Encrypted:
    data = encrypt_bytes(
        case.plaintext, case.fmt, case.recipients,
        key_groups=case.key_groups, shamir_threshold=case.shamir_threshold, **case.rules,
    )
    key_file = keys.file(*(getattr(keys, k) for k in case.decrypt_with))
    return Encrypted(case, data, key_file, sops_decrypt(data, case.fmt, key_file))


@pytest.fixture(scope="session")
def matrix(keys: Keys) -> dict[str, Encrypted]:
    cases = _cases(keys)
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda c: _encrypt(c, keys), cases))
    return {e.case.id: e for e in done}


@pytest.fixture(scope="session")
def simple(keys: Keys) -> dict[str, bytes]:
    """Small files for negative tests, each encrypted for key `one` only."""
    texts = {
        "yaml": b"apiVersion: v1\nkind: Secret\nstringData:\n  password: hunter2\n  user: admin\n"
                b"plain_unencrypted: visible\n",
        "json": b'{"password": "hunter2", "user": "admin", "port": 5432}',
        "dotenv": b"PASSWORD=hunter2\nUSER=admin\n",
        "other-yaml": b"apiVersion: v1\nkind: Secret\nstringData:\n  password: 0ther-pw\n",
    }
    out = {}
    for label, text in texts.items():
        fmt = "yaml" if label == "other-yaml" else label
        out[label] = encrypt_bytes(text, fmt, [keys.one.recipient])
    return out


# -- several sops versions -------------------------------------------------------------------------------
REQUIRE_VERSIONS = bool(os.environ.get("DRB_REQUIRE_SOPS_VERSIONS") or os.environ.get("CI"))
VERSIONS = sops_versions(require_all=REQUIRE_VERSIONS)
# Cross-reads (a file written by one version, read by every other) for these cases; every case is read
# by its own writer.
CROSS_READ = {"yaml-default", "json-default", "dotenv-default", "ini-default", "binary", "yaml-shamir-2of3",
              "yaml-encrypted_comment_regex", "yaml-mac_only_encrypted", "json-mac_only_encrypted"} | {
    case_id for case_id, *_ in samples.ADVERSARIAL}


@dataclass(frozen=True)
class Written:
    """One case encrypted by `writer`; `reads[version]` is that version's `sops decrypt` of it."""

    case: Case
    writer: str
    data: bytes
    key_file: Path
    reads: dict[str, subprocess.CompletedProcess]


def version_case_ids() -> list[str]:
    """`<writer>/<case id>` for every sops version and matrix case."""
    return [f"{v}/{c.id}" for v in VERSIONS for c in _version_cases(None)]


def _version_cases(keys: Keys | None) -> list[Case]:
    cases = _cases(keys)
    two = cases[0].recipients
    cases += [Case(case_id, fmt, text.encode(), rules, two) for case_id, fmt, text, rules in samples.ADVERSARIAL]
    return cases


def _write(case: Case, writer: str, keys: Keys) -> Written:
    if case.fmt == "yaml" and tuple(int(p) for p in writer.split(".")) < (3, 10):
        case = replace(case, plaintext=samples.without_timestamps(case.plaintext))
    try:
        data = encrypt_bytes(
            case.plaintext, case.fmt, case.recipients, binary=VERSIONS[writer],
            key_groups=case.key_groups, shamir_threshold=case.shamir_threshold, **case.rules,
        )
    except RuntimeError as err:  # the writer refuses the input: recorded, the test says whether that is known
        return Written(case, writer, b"", Path("."), {writer: subprocess.CompletedProcess([], 99, b"", str(err).encode())})
    key_file = keys.file(*(getattr(keys, k) for k in case.decrypt_with))
    readers = VERSIONS if case.id in CROSS_READ else [writer]
    reads = {r: sops_decrypt(data, case.fmt, key_file, binary=VERSIONS[r]) for r in readers}
    return Written(case, writer, data, key_file, reads)


@pytest.fixture(scope="session")
def version_matrix(keys: Keys) -> dict[str, Written]:
    jobs = [(c, v) for v in VERSIONS for c in _version_cases(keys)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda job: _write(job[0], job[1], keys), jobs))
    return {f"{w.writer}/{w.case.id}": w for w in done}
