"""Which Flux Kustomization renders each SOPS file of a checkout, and whether it decrypts (for `check`).

Encrypted objects applied raw are Flux users' most common failure: a SOPS file rendered by a Kustomization
without `spec.decryption`. Every Flux Kustomization found in the checkout is rendered as Flux would (the real
kustomize, no decryption needed); the Kustomizations found in their output replace the ones read from the
files, because a parent's `patches` (cluster-template adds `decryption` to its children that way) is what Flux
reconciles. Encrypted objects are traced back to their files by MAC token, generator inputs by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap import repofiles
from bootstrap.errors import BootstrapError
from bootstrap.manifests import parse_documents
from bootstrap.engines.flux import kustomizations as flux
from bootstrap.engines.flux.kustomizations import FluxKustomization, Key

_MARKERS = (b"kustomize.toolkit.fluxcd.io", b"Kustomization")


@dataclass(frozen=True)
class Rendering:
    """One Kustomization's view of a file: its name and whether it decrypts."""

    kustomization: str
    decrypts: bool


@dataclass
class FluxMap:
    source: str | None = None  # namespace/name of the GitRepository taken as this repository
    by_file: dict[str, list[Rendering]] = field(default_factory=dict)  # repo-relative SOPS file -> renderers
    failed: dict[str, str] = field(default_factory=dict)  # Kustomization -> why it does not build
    kustomizations: int = 0


def _declared(root: Path) -> list[FluxKustomization]:
    """Flux Kustomizations as written in the checkout's YAML files."""
    found = []
    for rel, path in repofiles.walk(root):
        if not rel.endswith((".yaml", ".yml")):
            continue
        data = repofiles.read_small(path)
        if not data or not all(marker in data for marker in _MARKERS):
            continue
        try:
            documents = parse_documents(data, rel)
        except BootstrapError:
            continue
        for doc in documents:
            if isinstance(doc, dict) and flux.is_flux_kustomization(doc):
                try:
                    found.append(flux.parse(doc, rel))
                except BootstrapError:
                    continue
    return found


def map_checkout(root: Path, build: Callable | None, token_of: Callable[[dict], str | None],
                 files_by_token: dict[str, str]) -> FluxMap:
    """`build(kustomization) -> Built` renders one Kustomization without decryption (None: no kustomize)."""
    declared = _declared(root)
    result = FluxMap(kustomizations=len(declared))
    if not declared or build is None:
        return result
    source = flux.choose_source(None, declared).ref
    result.source = f"{source.namespace}/{source.name}"
    known: dict[Key, FluxKustomization] = {k.key: k for k in declared if k.source == source}
    rendered: dict[Key, object] = {}
    pending = list(known.values())
    while pending:
        k = pending.pop(0)
        try:
            built = build(k)
        except BootstrapError as err:
            result.failed[str(k.key)] = str(err)
            continue
        rendered[k.key] = built
        for doc in built.documents:
            if flux.is_flux_kustomization(doc.body):
                child = flux.parse(doc.body, doc.source)
                if child.source == source and (child.key not in known or child.spec != known[child.key].spec):
                    known[child.key] = child
                    pending.append(child)
    for key, built in rendered.items():
        k = known[key]
        files = {files_by_token.get(token_of(d.body) or "") for d in built.documents} - {None}
        files |= {rel for rel in built.generator_inputs if rel in files_by_token.values()}
        for rel in files:
            entries = result.by_file.setdefault(rel, [])
            if all(e.kustomization != str(key) for e in entries):
                entries.append(Rendering(str(key), k.decrypts))
    result.kustomizations = len(known)
    return result
