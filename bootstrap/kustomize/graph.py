"""The kustomization files a build reaches, and every local file they name (pure, reading files only).

kustomize is given `LoadRestrictionsNone` (as Flux gives it), so nothing in kustomize stops a kustomization
from naming `../../../home/you/.ssh/id_rsa`. Flux stops it with a file system rooted at the artifact; we
stop it here, before kustomize runs: every local reference must resolve (symlinks followed) inside the
repository, and must not be a file the source artifact leaves out (.sourceignore, GitRepository
spec.ignore, source-controller's defaults).

The same walk yields what kustomize-controller's `DecryptSources` decrypts before a build: the files and
env files of every secretGenerator, and the files of `patches`, in every kustomization reached through
`resources` and `components` (not `bases`, as in Flux); and every file kustomize will parse as YAML, which
the builder checks against the YAML budget first (kustomize itself expands an alias bomb without bound).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.errors import ValidationError
from bootstrap.kustomize.kustfile import KUSTOMIZATION_FILES

# (repo-relative path, is a directory) -> absent from the unpacked artifact? (`Artifact.left_out`: decided per
# file, as source-controller's archive walk decides; a directory is there when something below it is kept)
Ignored = Callable[[str, bool], bool]
Loader = Callable[[Path], Any]  # a kustomization file -> its parsed document
_REMOTE_MARKERS = ("://", "git@", "github.com/", "github.com:", "gh:", "git::")


class ReferenceError_(ValidationError):
    """A kustomization names a file outside the repository, or one the source artifact leaves out."""


@dataclass(frozen=True)
class Source:
    """A file kustomize-controller would decrypt in place before building (a SOPS generator input)."""

    path: Path  # absolute, inside the repository
    fmt: str  # the sops store Flux reads it with
    field: str  # where it is named, for messages


@dataclass
class Walk:
    """What one build reaches: kustomization directories (top first) and the generator inputs in them."""

    directories: list[Path] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    parsed_files: list[Path] = field(default_factory=list)  # every local file kustomize reads as YAML/JSON
    singular_env: list[Path] = field(default_factory=list)  # `env:` files, which Flux does not decrypt


def kustomization_file(directory: Path) -> Path | None:
    """The directory's kustomization file (kustomize's name order), if it has one."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def is_remote(reference: str) -> bool:
    return any(marker in reference for marker in _REMOTE_MARKERS)


def sops_format(name: str) -> str:
    """sops' store for a path as kustomize-controller picks it (a `.dockerconfigjson` key is JSON)."""
    lowered = name.lower()
    if lowered.endswith(".dockerconfigjson") or lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith(".env"):
        return "dotenv"
    if lowered.endswith(".ini"):
        return "ini"
    return "binary"


class Graph:
    """Walks kustomization files from a build's directory, checking every local reference on the way."""

    def __init__(self, root: Path, *, load: Loader, ignored: Ignored):
        self.root = root.resolve()
        self._load = load
        self._ignored = ignored

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def walk(self, top: Path, top_document: dict[str, Any], top_file: str) -> Walk:
        """Everything reachable from `top`, whose (Flux-modified) kustomization is `top_document`."""
        result = Walk()
        visited: set[Path] = set()
        pending: list[tuple[Path, dict[str, Any], str, bool]] = [(top.resolve(), top_document, top_file, True)]
        while pending:
            directory, document, name, decrypts = pending.pop(0)
            if directory in visited:
                continue
            visited.add(directory)
            result.directories.append(directory)
            for child, follow_decrypt in self._check(directory, document, name, result, decrypts):
                child_file = kustomization_file(child)
                if child_file is None or child in visited:
                    continue
                if self._ignored(self.rel(child_file.resolve()), False):
                    raise ReferenceError_(f"{self.rel(child_file.resolve())}: left out of the source artifact "
                                          "(.sourceignore, spec.ignore or source-controller's default exclusions); "
                                          f"kustomize in Flux finds no kustomization file in {self.rel(child)}")
                loaded = self._load(child_file)
                pending.append((child, loaded if isinstance(loaded, dict) else {}, self.rel(child_file), follow_decrypt))
        return result

    def _check(self, directory: Path, kus: dict[str, Any], name: str, result: Walk,
               decrypts: bool) -> Iterator[tuple[Path, bool]]:
        """Check one kustomization's references; yields the directories it builds from."""
        parsed = result.parsed_files
        for key in ("resources", "components", "bases"):
            for ref in _strings(kus.get(key)):
                if is_remote(ref):
                    continue
                target = self._inside(directory, ref, f"{name}: {key}")
                if target.is_dir():
                    yield target, decrypts and key != "bases"
                else:
                    parsed.append(target)
        for key in ("crds", "configurations", "generators", "transformers", "validators"):
            for ref in _strings(kus.get(key)):
                if "\n" not in ref and not is_remote(ref):
                    parsed.append(self._inside(directory, ref, f"{name}: {key}"))
        for key in ("patchesStrategicMerge",):
            for ref in _strings(kus.get(key)):
                if "\n" not in ref and not ref.lstrip().startswith(("{", "apiVersion")):
                    parsed.append(self._inside(directory, ref, f"{name}: {key}"))
        for key in ("patches", "patchesJson6902", "replacements"):
            for entry in kus.get(key) or []:
                path = entry.get("path") if isinstance(entry, dict) else None
                if isinstance(path, str) and path and not is_remote(path):
                    target = self._inside(directory, path, f"{name}: {key}")
                    parsed.append(target)
                    if decrypts and key == "patches":
                        result.sources.append(Source(target, sops_format(path), f"{name}: patches"))
        openapi = kus.get("openapi")
        if isinstance(openapi, dict) and isinstance(openapi.get("path"), str) and not is_remote(openapi["path"]):
            parsed.append(self._inside(directory, openapi["path"], f"{name}: openapi.path"))
        for chart in kus.get("helmCharts") or []:  # read by helm under --enable-helm: kept inside the repository
            if isinstance(chart, dict) and isinstance(chart.get("valuesFile"), str) and chart["valuesFile"] \
                    and not is_remote(chart["valuesFile"]):
                parsed.append(self._inside(directory, chart["valuesFile"], f"{name}: helmCharts valuesFile"))
        globals_ = kus.get("helmGlobals") if isinstance(kus.get("helmGlobals"), dict) else {}
        for key in ("chartHome", "configHome"):
            if isinstance(globals_.get(key), str) and globals_[key]:
                self._inside(directory, globals_[key], f"{name}: helmGlobals.{key}")
        for key in ("configMapGenerator", "secretGenerator"):
            for gen in kus.get(key) or []:
                if isinstance(gen, dict):
                    self._generator(directory, gen, f"{name}: {key}", result, decrypts and key == "secretGenerator")

    def _generator(self, directory: Path, gen: dict[str, Any], where: str, result: Walk, decrypts: bool) -> None:
        name = f"{where} {gen.get('name', '')!s}"
        for field_name, key, path in generator_inputs(gen):
            target = self._inside(directory, path, f"{name} {field_name}")
            if not decrypts:
                continue
            if field_name == "files":
                result.sources.append(Source(target, sops_format(key), name))
            elif field_name == "envs":
                fmt = sops_format(path)
                result.sources.append(Source(target, "dotenv" if fmt == "binary" else fmt, name))
            else:
                result.singular_env.append(target)

    def _inside(self, directory: Path, ref: str, where: str) -> Path:
        """`ref` resolved from `directory`; ReferenceError_ when it leaves the repository or is ignored."""
        logical = Path(os.path.normpath(directory / ref)) if not os.path.isabs(ref) else Path(ref)
        try:
            real = logical.resolve()
        except (OSError, RuntimeError):
            raise ReferenceError_(f"{where}: '{ref}' cannot be resolved (symlink loop?)") from None
        if not real.is_relative_to(self.root):
            raise ReferenceError_(f"{where}: '{ref}' points outside the repository; refused")
        if logical.is_relative_to(self.root) and not logical.exists():
            return logical  # kustomize reports a missing file in its own words
        rel = self.rel(real)
        if rel != "." and self._ignored(rel, real.is_dir()):
            raise ReferenceError_(f"{where}: '{ref}' is left out of the source artifact (.sourceignore, "
                                  "spec.ignore or source-controller's default exclusions)")
        return real


def generator_inputs(gen: Any) -> Iterator[tuple[str, str, str]]:
    """The files a configMapGenerator or secretGenerator reads, as kustomize reads them: (field, key, path)
    for each `files` entry (`key=path`, or a path that is its own key), each `envs` file, and the singular
    `env` (which Flux never decrypts). The one reading of generator inputs (the builder's walk, `check`)."""
    if not isinstance(gen, dict):
        return
    for entry in _strings(gen.get("files")):
        key, _, path = entry.partition("=") if "=" in entry else (entry, "", entry)
        yield "files", key, path
    for env in _strings(gen.get("envs")):
        yield "envs", env, env
    if isinstance(gen.get("env"), str) and gen["env"]:
        yield "env", gen["env"], gen["env"]


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
