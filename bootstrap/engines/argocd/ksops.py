"""KSOPS generators expanded in process (a `kustomize.expand` expander): what the `ksops` plugin would
print, without running it or anything else a repository names.

A generator config `apiVersion: viaduct.ai/v1`, `kind: ksops` (the KRM form, the legacy exec form with
`config.kubernetes.io/function: exec: path: ksops`, and the old Go-plugin form read the same) yields:
- for each of `files:`, the file's objects, decrypted as `sops -d` would (with its MAC verified);
- for each `secretFrom:` entry, a Secret with that entry's `metadata` and `type`, `stringData` from `files`
  (`key=path` or the file's base name) and `envs` (each KEY=value), `data` from `binaryFiles` (base64).
Paths are relative to the kustomization naming the generator (the plugin's working directory) and must stay
inside the repository. The plaintext goes only to the build's memory-backed scratch tree.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bootstrap.errors import DecryptError, ValidationError
from bootstrap.kustomize.expand import Expansion
from bootstrap.kustomize.graph import sops_format
from bootstrap.kustomize.secrets import SopsFiles
from bootstrap.scrub import document_values

API_VERSION = "viaduct.ai/v1"
KIND = "ksops"


def is_ksops(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("apiVersion") == API_VERSION and doc.get("kind") == KIND


class KsopsExpander:
    """Expands KSOPS generators of one checkout, decrypting with its SOPS files."""

    def __init__(self, secrets: SopsFiles):
        self.secrets = secrets
        self.root = secrets.root.resolve()
        self.expanded: list[str] = []  # the generator files expanded, for the notes

    def __call__(self, docs: list[Any], directory: Path, where: str) -> Expansion | None:
        configs = [d for d in docs if d is not None]
        if not configs or not all(is_ksops(d) for d in configs):
            return None
        out = Expansion(objects=[])
        for config in configs:
            files, secret_from = config.get("files"), config.get("secretFrom")
            if files is None and secret_from is None:
                raise ValidationError(f"{where}: ksops generator without `files` or `secretFrom`")
            for entry in _strings(files, where, "files"):
                opened, plain, rel = self._open(directory, entry, where)
                if sops_format(rel) not in ("yaml", "json"):
                    raise ValidationError(f"{where}: files: {entry} is not a YAML or JSON manifest")
                out.objects += [d for d in opened.documents if isinstance(d, dict)]
                out.decrypted.append(rel)
                out.secret_values += document_values(opened.documents, plain)
            for index, item in enumerate(secret_from or []):
                out.objects.append(self._secret(item, directory, f"{where}: secretFrom[{index}]", out))
        self.expanded.append(where)
        return out

    def _open(self, directory: Path, entry: str, where: str):
        target = Path(os.path.normpath(directory / entry))
        real = target.resolve()
        if not real.is_relative_to(self.root):
            raise ValidationError(f"{where}: '{entry}' points outside the repository; refused")
        if not real.is_file():
            raise ValidationError(f"{where}: '{entry}' not found")
        rel = real.relative_to(self.root).as_posix()
        fmt = sops_format(rel)
        try:
            opened = self.secrets.open_file(rel, fmt)
            plain = opened.render(fmt)
        except DecryptError as err:
            raise DecryptError(f"{where}: {err}") from None
        self.secrets.learner.learn(document_values(opened.documents, plain))
        return opened, plain, rel

    def _secret(self, item: Any, directory: Path, where: str, out: Expansion) -> dict[str, Any]:
        if not isinstance(item, Mapping):
            raise ValidationError(f"{where}: not a mapping")
        string_data: dict[str, str] = {}
        binary: dict[str, str] = {}
        for entry in _strings(item.get("files"), where, "files"):
            key, path = _key_path(entry, where)
            _, plain, rel = self._open(directory, path, where)
            string_data[key] = plain.decode("utf-8", errors="replace")
            out.decrypted.append(rel)
        for entry in _strings(item.get("binaryFiles"), where, "binaryFiles"):
            key, path = _key_path(entry, where)
            _, plain, rel = self._open(directory, path, where)
            binary[key] = base64.b64encode(plain).decode()
            out.decrypted.append(rel)
        for entry in _strings(item.get("envs"), where, "envs"):
            opened, _, rel = self._open(directory, entry, where)
            for document in opened.documents:
                string_data.update({str(k): str(v) for k, v in document.items()})
            out.decrypted.append(rel)
        secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                                  "metadata": dict(item.get("metadata") or {})}
        if item.get("type"):
            secret["type"] = str(item["type"])
        if string_data:
            secret["stringData"] = string_data
        if binary:
            secret["data"] = binary
        out.secret_values += list(string_data.values())
        return secret


def _strings(value: Any, where: str, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{where}: {name} is not a list of paths")
    return value


def _key_path(entry: str, where: str) -> tuple[str, str]:
    parts = entry.split("=")
    if len(parts) == 1:
        return os.path.basename(entry), entry
    if len(parts) > 2:
        raise ValidationError(f"{where}: invalid file entry {entry!r} (more than one '=')")
    return parts[0], parts[1]
