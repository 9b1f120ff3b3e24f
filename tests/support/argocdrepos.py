"""Argo CD repositories built at test time (issue 29's shapes) and in-process renders of them.

`keyed_repo(dir, files)` commits a repository with a key of its own; `render(repo, engine, paths, selection)`
runs an engine's render as the render stage does (the real kustomize, SOPS decrypted in process with the
repo's key), without the CLI, and `phase(rendered, name)` is one of its phases; `kustomize_build(dir)` is the
real kustomize on a directory; `sops_plain(file, key_file)` is the real sops' `decrypt` of a file.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml

from bootstrap import engines
from bootstrap.engines.base import Rendered, RenderedPhase, RenderInputs
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder
from bootstrap.kustomize.kustomizer import find_kustomizer
from bootstrap.kustomize.scratch import memory_backed_dir
from bootstrap.kustomize.secrets import SopsFiles
from bootstrap.stages.keys import load_keyring
from tests.integration.conftest import GitOpsRepo, build_repo
from tests.support.sops import new_age_key, sops_decrypt, write_key_file

FLUX_CACHE = Path.home() / ".cache" / "dr-bootstrap" / "flux"


def kustomize_binary() -> str:
    """The kustomize Flux's build ships (the local cluster's cache), else the one the render finds."""
    found = sorted(FLUX_CACHE.glob("*/kustomize"))
    return str(found[-1]) if found else find_kustomizer().argv[0]


def keyring_of(key_file: Path):
    return load_keyring(age_key_file=str(key_file))


def keyed_repo(directory: Path, files: Mapping[str, str]) -> GitOpsRepo:
    """`files` committed in `directory`/repo (build_repo: the SOPS files encrypted by the real sops) for a new
    age key of its own, written to `directory`/age.agekey (`.key`, `.key_file`)."""
    key = new_age_key()
    return build_repo(directory / "repo", files, key, write_key_file(directory / "age.agekey", key))


def render(repo: Path, key_file: Path, *, engine: str, paths=("",), selection=(), source=None,
           notes=lambda text: None) -> Rendered:
    keyring = keyring_of(key_file)
    builder = Builder(repo, kustomizer=find_kustomizer(kustomize_binary()), artifact=Artifact(repo),
                      secrets=SopsFiles(repo, keyring), disk_base=repo.parent, memory_base=memory_backed_dir())
    inputs = RenderInputs(paths=tuple(paths), selection=tuple(selection), source=source)
    return engines.get(engine).render(inputs, builder, lookup=None, notes=notes)


def phase(rendered: Rendered, name: str) -> RenderedPhase:
    """The one phase of `rendered` named `name` (e.g. "argocd/web")."""
    found = [p for p in rendered.phases if p.name == name]
    assert len(found) == 1, (name, [p.name for p in rendered.phases])
    return found[0]


def kustomize_build(directory: Path, *extra: str) -> list[dict]:
    """The real kustomize's build of `directory` (as kubectl kustomize when that is the only one)."""
    done = subprocess.run([*find_kustomizer(kustomize_binary()).argv, *extra, str(directory)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def sops_plain(path: Path, key_file: Path) -> bytes:
    fmt = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv"}.get(path.suffix, "binary")
    done = sops_decrypt(path.read_bytes(), fmt, key_file)
    assert done.returncode == 0, done.stderr
    return done.stdout


def by_ref(objects) -> dict[str, dict]:
    out = {}
    for body in objects:
        meta = body.get("metadata") or {}
        out[f"{body['kind']}/{meta.get('namespace', '')}/{meta['name']}"] = body
    return out
