"""age identities: where sops looks for them, parsed with pyrage, public recipients derived.

Sources, in sops' order (the union of all that are set, as sops ≥ 3.11 does): `SOPS_AGE_KEY`,
`SOPS_AGE_KEY_FILE`, `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, then `$XDG_CONFIG_HOME/sops/age/keys.txt`
(default `~/.config`). An explicit `--age-key-file PATH` (or `-` for stdin) replaces them all.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Mapping

from pyrage import ssh as age_ssh, x25519

from bootstrap.errors import KeyError_
from bootstrap.redact import Sensitive

if TYPE_CHECKING:
    from bootstrap.report.progress import Progress

_SSH_MARKERS = (b"-----BEGIN OPENSSH PRIVATE KEY-----", b"-----BEGIN RSA PRIVATE KEY-----")


@dataclass(frozen=True)
class KeyRing:
    """Identities that can open age stanzas. `repr` shows recipients and source only."""

    identities: tuple = field(repr=False)
    recipients: tuple[str, ...]
    source: str
    material: Sensitive = field(repr=False)  # exact bytes of the age identity text (for the sops-age Secret)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Part:
    identities: tuple
    recipients: tuple[str, ...]
    source: str
    age_text: bytes  # b"" for SSH keys (Flux cannot use them)
    warnings: tuple[str, ...]


def load_keyring(
    age_key_file: str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    stdin: BinaryIO | None = None,
) -> KeyRing:
    """Load identities from `age_key_file` (`-` = stdin) or else from sops' environment sources."""
    if age_key_file is not None:
        if age_key_file == "-":
            data = (stdin or sys.stdin.buffer).read()
            parts = [_parse(data, "--age-key-file - (stdin)")]
        else:
            parts = [_from_file(Path(age_key_file), f"--age-key-file {age_key_file}")]
    else:
        parts = []
        if environ.get("SOPS_AGE_KEY"):
            parts.append(_parse(environ["SOPS_AGE_KEY"].encode(), "SOPS_AGE_KEY"))
        if environ.get("SOPS_AGE_KEY_FILE"):
            path = environ["SOPS_AGE_KEY_FILE"]
            parts.append(_from_file(Path(path), f"SOPS_AGE_KEY_FILE {path}"))
        if environ.get("SOPS_AGE_SSH_PRIVATE_KEY_FILE"):
            path = environ["SOPS_AGE_SSH_PRIVATE_KEY_FILE"]
            parts.append(_from_file(Path(path), f"SOPS_AGE_SSH_PRIVATE_KEY_FILE {path}", ssh=True))
        default = _default_key_file(environ)
        if default.is_file():
            parts.append(_from_file(default, str(default)))
        if not parts:
            raise KeyError_(
                "no age key: pass --age-key-file PATH, or set SOPS_AGE_KEY, SOPS_AGE_KEY_FILE "
                f"or SOPS_AGE_SSH_PRIVATE_KEY_FILE, or create {default}"
            )
    identities = tuple(i for p in parts for i in p.identities)
    if not identities:
        raise KeyError_(f"{', '.join(p.source for p in parts)}: no age identity found")
    texts = [p.age_text for p in parts if p.age_text]
    return KeyRing(
        identities=identities,
        recipients=tuple(r for p in parts for r in p.recipients),
        source=", ".join(p.source for p in parts),
        material=Sensitive(_join(texts)),
        warnings=tuple(w for p in parts for w in p.warnings),
    )


def _join(texts: list[bytes]) -> bytes:
    """One source: its exact bytes. Several: concatenated, one identity block per line group."""
    if len(texts) <= 1:
        return texts[0] if texts else b""
    return b"\n".join(t.rstrip(b"\n") for t in texts) + b"\n"


def _default_key_file(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base) / "sops" / "age" / "keys.txt"


def _from_file(path: Path, source: str, *, ssh: bool = False) -> _Part:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as err:
        raise KeyError_(f"{source}: cannot read the key file ({err.strerror or type(err).__name__})") from None
    warnings = ()
    if stat.S_ISREG(mode) and mode & 0o077:
        warnings = (
            f"WARNING: UNPROTECTED KEY FILE: {path} is accessible by group/others "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}",
        )
    part = _parse(data, source, ssh=ssh)
    return _Part(part.identities, part.recipients, part.source, part.age_text, warnings)


def _parse(data: bytes, source: str, *, ssh: bool = False) -> _Part:
    if ssh or data.lstrip().startswith(_SSH_MARKERS):
        return _parse_ssh(data, source)
    return _parse_age(data, source)


def _parse_age(data: bytes, source: str) -> _Part:
    identities, recipients = [], []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyError_(f"{source}: the key is not UTF-8 text") from None
    for number, line in enumerate(text.split("\n"), 1):
        line = line[:-1] if line.endswith("\r") else line
        if not line or line.startswith("#"):
            continue
        if line.startswith(("AGE-SECRET-KEY-PQ-", "AGE-PLUGIN-")):
            raise KeyError_(f"{source}: line {number}: unsupported identity type (post-quantum/plugin)")
        try:
            identity = x25519.Identity.from_str(line)
        except Exception:
            raise KeyError_(f"{source}: line {number} is not a valid age identity (AGE-SECRET-KEY-1…)") from None
        identities.append(identity)
        recipients.append(str(identity.to_public()))
    return _Part(tuple(identities), tuple(recipients), source, data if identities else b"", ())


def _parse_ssh(data: bytes, source: str) -> _Part:
    from cryptography.hazmat.primitives import serialization  # deferred: heavy (only for an SSH key)

    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH"):
            private = serialization.load_ssh_private_key(data, password=None)
        else:
            private = serialization.load_pem_private_key(data, password=None)
        public = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        identity = age_ssh.Identity.from_buffer(data)
    except Exception:
        raise KeyError_(
            f"{source}: not a usable SSH private key (ssh-ed25519 or ssh-rsa, without passphrase)"
        ) from None
    if not public.startswith(("ssh-ed25519 ", "ssh-rsa ")):
        raise KeyError_(f"{source}: unsupported SSH key type (age supports ssh-ed25519 and ssh-rsa)")
    return _Part((identity,), (public,), source, b"", ())


def recipients_of_key_text(text: str) -> list[str]:
    """The public recipients of the age identities in a key file's text (lines that are not identities
    are ignored: this reads a key Secret found in a repository, which is no place for errors about it)."""
    found = []
    for line in text.replace("\r", "").split("\n"):
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-1"):
            try:
                found.append(str(x25519.Identity.from_str(line).to_public()))
            except Exception:
                continue
    return found


def load_key(age_key_file: str | None, progress: Progress) -> KeyRing:
    """The keys stage: the age identities from --age-key-file or the sops variables, warnings shown."""
    keyring = load_keyring(age_key_file)
    for warning in keyring.warnings:
        progress.warning(warning)
    return keyring
