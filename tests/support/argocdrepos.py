"""Argo CD repositories built at test time (issue 29's shapes) and in-process renders of them.

`render(repo, engine, paths, selection)` runs an engine's render as the render stage does (the real
kustomize, SOPS decrypted in process with the repo's key), without the CLI; `kustomize_build(dir)` is the
real kustomize on a directory; `sops_plain(file, key_file)` is the real sops' `decrypt` of a file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from bootstrap import engines
from bootstrap.engines.base import Rendered, RenderInputs
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder
from bootstrap.kustomize.kustomizer import find_kustomizer
from bootstrap.kustomize.scratch import memory_backed_dir
from bootstrap.kustomize.secrets import SopsFiles
from bootstrap.stages.keys import load_keyring
from tests.support.sops import sops_decrypt

FLUX_CACHE = Path.home() / ".cache" / "dr-bootstrap" / "flux"


def kustomize_binary() -> str:
    """The kustomize Flux's build ships (the local cluster's cache), else the one the render finds."""
    found = sorted(FLUX_CACHE.glob("*/kustomize"))
    return str(found[-1]) if found else find_kustomizer().argv[0]


def keyring_of(key_file: Path):
    return load_keyring(age_key_file=str(key_file))


def render(repo: Path, key_file: Path, *, engine: str, paths=("",), selection=(), source=None,
           notes=lambda text: None) -> Rendered:
    keyring = keyring_of(key_file)
    builder = Builder(repo, kustomizer=find_kustomizer(kustomize_binary()), artifact=Artifact(repo),
                      secrets=SopsFiles(repo, keyring), disk_base=repo.parent, memory_base=memory_backed_dir())
    inputs = RenderInputs(paths=tuple(paths), selection=tuple(selection), source=source)
    return engines.get(engine).render(inputs, builder, lookup=None, notes=notes)


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
