"""SOPS in the render: what kustomize-controller decrypts, with a stronger integrity check than it makes.

kustomize-controller decrypts (only for a Kustomization with `decryption.provider: sops`): the generator inputs
of the build before kustomize runs (`DecryptSources`), every built object carrying a `sops` stanza, and Secret
`data` values that are whole SOPS documents. It does not check MACs, because kustomize changes the plaintext
fields of the objects it builds. Here, the file each encrypted object came from is found by its MAC token, and
that file's MAC is verified as committed; then the object's values are opened with the file's data key, each
value's GCM tag binding it to its key path in the built object (a value kustomize moved or changed fails,
naming the object and the file). A built object whose file is not in the checkout (a remote base) cannot be
verified and is refused unless MACs are ignored.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any

from bootstrap import repofiles, sops
from bootstrap.gostd import b64decode
from bootstrap.errors import DecryptError
from bootstrap.kustomize.graph import sops_format
from bootstrap.scrub import Learner, decrypted_values, document_values

if TYPE_CHECKING:
    from bootstrap.stages.keys import KeyRing

MAX_FILE_BYTES = 8 * 1024 * 1024
# The encrypted MAC of a SOPS file, in each store's syntax; it names the file (its IV is random).
_MAC = re.compile(rb"""(?:^|\n)\s*(?:"mac"\s*:\s*"|mac\s*[:=]\s*|sops_mac=)(ENC\[AES256_GCM,[^\]\s"]*\])""")
# kustomize-controller's markers of a SOPS document inside a Secret data value, by store.
MARKERS = {"yaml": b"mac: ENC[", "json": b'"mac": "ENC[', "dotenv": b"sops_mac=ENC[", "ini": b"[sops]"}


def mac_token_of_bytes(data: bytes) -> str | None:
    match = _MAC.search(data)
    return match.group(1).decode("ascii") if match else None


class SopsFiles:
    """The checkout's SOPS files, opened at most once each and only when a build uses them. Whatever a
    method here decrypts goes to `learner` before it is returned (`scrub.Learner`: the run's scrubber
    learns it at once, unless anyone can read it in the repository)."""

    def __init__(self, root: Path, keyring: "KeyRing", *, ignore_mac: bool = False, learner: Learner | None = None):
        self.root = root
        self.learner = learner or Learner()
        self._keyring = keyring
        self._ignore_mac = ignore_mac
        self._index: dict[str, str] | None = None
        self._opened: dict[str, sops.Decrypted] = {}
        self._lock = Lock()
        self.used: set[str] = set()  # repo-relative files a build used, for the report

    # -- committed files ------------------------------------------------------------------------------------

    def files_by_mac(self) -> dict[str, str]:
        """MAC token -> the repo-relative SOPS file carrying it (the checkout is read once, when first asked)."""
        if self._index is None:
            index: dict[str, str] = {}
            for rel, path in repofiles.walk(self.root):
                data = repofiles.read_small(path, MAX_FILE_BYTES)
                token = mac_token_of_bytes(data) if data and b"ENC[AES256_GCM" in data else None
                if token:
                    index.setdefault(token, rel)
            self._index = index
        return self._index

    def open_file(self, rel: str, fmt: str | None = None) -> sops.Decrypted:
        """The committed file, decrypted with its MAC verified (once per run)."""
        with self._lock:
            if rel not in self._opened:
                path = self.root / rel
                data = path.read_bytes()
                fmt = fmt or sops.detect_format(rel)
                self._opened[rel] = sops.decrypt(data, self._keyring, fmt=fmt, name=rel, ignore_mac=self._ignore_mac)
                self.used.add(rel)
            return self._opened[rel]

    # -- what a build produced ------------------------------------------------------------------------------

    def decrypt_object(self, body: Mapping[str, Any], where: str) -> dict[str, Any]:
        """A built object with a `sops` stanza, decrypted; its committed file's MAC verified first."""
        token = sops.mac_token(body)
        rel = self.files_by_mac().get(token) if token else None
        if rel is None:
            if not self._ignore_mac:
                raise DecryptError(
                    f"{where}: SOPS-encrypted, but no file in the repository carries its MAC (a remote base, or "
                    "a file kustomize generated?): its integrity cannot be verified",
                    hint="commit the encrypted file to this repository, or pass --ignore-mac",
                )
            return self.decrypt_standalone(body, where)
        opened = self.open_file(rel)
        decrypted = sops.decrypt_object(dict(body), opened.opener, name=f"{where} (from {rel})")
        self.learner.learn(decrypted_values(body, decrypted))
        return decrypted

    def decrypt_standalone(self, body: Mapping[str, Any], where: str) -> dict[str, Any]:
        """An encrypted object on its own, as kustomize-controller opens it: as a JSON document, values
        authenticated against their paths, MAC not checked (only reached with --ignore-mac)."""
        opened = sops.decrypt(json.dumps(body).encode(), self._keyring, fmt="json", name=where, ignore_mac=True)
        decrypted = opened.documents[0]
        self.learner.learn(decrypted_values(body, decrypted))
        return decrypted

    def decrypt_source(self, path: Path, fmt: str, where: str) -> bytes | None:
        """A generator input as Flux hands it to kustomize: decrypted in `fmt`, or None when it is not
        encrypted for that store (kustomize-controller checks the store's marker bytes)."""
        data = path.read_bytes()
        marker = MARKERS.get(fmt, MARKERS["json"])
        if marker not in data:
            return None
        rel = path.relative_to(self.root).as_posix()
        try:
            opened = self.open_file(rel, fmt)
            plain = opened.render(fmt)
        except DecryptError as err:
            raise DecryptError(f"{where}: {err}") from None
        self.learner.learn(document_values(opened.documents, plain))
        return plain

    def decrypt_data_values(self, body: dict[str, Any], where: str) -> dict[str, Any] | None:
        """A Secret whose `data` values hold whole SOPS documents (kustomize-controller's second case): those
        values decrypted (MAC verified), the output store chosen by the key's name. None when none are."""
        data = body.get("data")
        if body.get("kind") != "Secret" or not isinstance(data, dict):
            return None
        changed = dict(data)
        touched = False
        for key, value in data.items():
            try:
                raw = b64decode(str(value))  # as the decryptor's StdEncoding: line breaks skipped
            except ValueError:
                continue
            fmt = _embedded_format(raw)
            if fmt is None:
                continue
            out_fmt = _store_for_key(str(key))
            name = f"{where} data.{key}"
            opened = sops.decrypt(raw, self._keyring, fmt=fmt, name=name, ignore_mac=self._ignore_mac)
            plain = opened.render(out_fmt)
            self.learner.learn(document_values(opened.documents, plain))
            changed[key] = base64.b64encode(plain).decode()
            touched = True
        return {**body, "data": changed} if touched else None


def _embedded_format(raw: bytes) -> str | None:
    """The store of a SOPS document found in a data value. kustomize-controller picks any store whose marker
    matches (JSON and binary share one, and Go's map order decides between them); here a JSON document
    holding only `data` and `sops` is the binary store's envelope, any other is JSON."""
    for fmt in ("yaml", "dotenv", "ini"):
        if MARKERS[fmt] in raw:
            return fmt
    if MARKERS["json"] in raw:
        try:
            doc = json.loads(raw)
        except ValueError:
            return "json"
        return "binary" if isinstance(doc, dict) and set(doc) == {"data", "sops"} else "json"
    return None


def _store_for_key(key: str) -> str:
    return sops_format(key)
