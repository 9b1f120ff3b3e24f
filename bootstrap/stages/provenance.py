"""Git provenance: is the commit we are about to restore signed by someone we trust?

Verification is git's own (`git log --format=%G?…` with `gpg.format=ssh` and an allowed-signers file, the
format of `ssh-keygen -Y verify`), run on the commit the clone checked out.  Only SSH signatures are
accepted: an OpenPGP or X.509 signature would be judged against whatever keyring the machine happens to
have, which is no policy at all.  Every refusal is a `ProvenanceError` (exit 4) raised before anything is
decrypted or applied, naming the commit and the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bootstrap.errors import InvalidInputError, UsageError

_SSH_SIGNATURE = b"-----BEGIN SSH SIGNATURE-----"
_TIMEOUT = 60.0

# git's %G? letters (see git-log(1) "pretty formats") and what each means for a restore.
_REFUSALS = {
    "N": "not signed",
    "B": "bad signature (the commit was changed after it was signed)",
    "U": "signed by key {fingerprint}, which is not in the allowed signers file {file}",
    "X": "the signature has expired",
    "Y": "signed by an expired key {fingerprint}",
    "R": "signed by a revoked key {fingerprint}",
    "E": "the signature cannot be checked (ssh-keygen could not verify it)",
}


class ProvenanceError(InvalidInputError):
    """The checked-out commit is unsigned, badly signed, or signed by a key that is not allowed."""


@dataclass(frozen=True)
class Signer:
    """Who signed a verified commit: the allowed-signers principal and the key's SHA256 fingerprint."""

    principal: str
    fingerprint: str

    def to_dict(self) -> dict[str, str]:
        return {"principal": self.principal, "fingerprint": self.fingerprint}

    def __str__(self) -> str:
        return f"{self.principal} ({self.fingerprint})"


def check_allowed_signers(path: str) -> Path:
    """The `--verify-signatures` file, checked before anything is cloned (UsageError, exit 2, if unusable)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        cause = getattr(err, "strerror", None) or type(err).__name__
        raise UsageError(f"--verify-signatures {path}: cannot read the allowed signers file ({cause})") from None
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        raise UsageError(f"--verify-signatures {path}: the allowed signers file lists no signer")
    return file.resolve()


def verify_commit(repo: Path, commit: str, allowed_signers: str | Path) -> Signer:
    """Verify `commit` in the clone at `repo` against `allowed_signers`; the signer, or ProvenanceError."""
    allowed = check_allowed_signers(str(allowed_signers))
    short = commit[:12]
    if shutil.which("ssh-keygen") is None:
        raise ProvenanceError(f"commit {short}: cannot verify its signature: ssh-keygen is not installed")
    raw = _git(repo, "cat-file", "commit", commit, what=f"commit {short}")
    signed = any(line.startswith(b"gpgsig") for line in raw.split(b"\n\n", 1)[0].splitlines())
    if signed and _SSH_SIGNATURE not in raw:
        raise ProvenanceError(f"commit {short}: signed with OpenPGP or X.509; only SSH signatures are verified")
    out = _git(
        repo,
        "-c", "gpg.format=ssh",
        "-c", f"gpg.ssh.allowedSignersFile={allowed}",
        "log", "--no-show-signature", "--format=%G?%x00%GS%x00%GF", "-1", commit,
        what=f"commit {short}",
    )
    code, principal, fingerprint = (out.decode("utf-8", "replace").rstrip("\n").split("\x00") + ["", ""])[:3]
    if code == "G" and principal:
        return Signer(principal=principal, fingerprint=fingerprint)
    reason = _REFUSALS.get(code, f"unexpected verification result {code!r}")
    raise ProvenanceError(
        f"commit {short}: " + reason.format(fingerprint=fingerprint or "?", file=allowed_signers),
        hint="restore only commits signed by a key listed in the allowed signers file",
    )


def _git(repo: Path, *args: str, what: str) -> bytes:
    """Run git in `repo` with neither prompts nor the machine's system config; stdout, or ProvenanceError."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    try:
        result = subprocess.run(
            ["git", *args], cwd=repo, env=env, capture_output=True, timeout=_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ProvenanceError(f"{what}: cannot verify its signature ({type(err).__name__})") from None
    if result.returncode != 0:
        detail = next((ln for ln in result.stderr.decode("utf-8", "replace").splitlines() if ln.strip()), "git failed")
        raise ProvenanceError(f"{what}: cannot verify its signature ({detail.strip()[:200]})")
    return result.stdout
