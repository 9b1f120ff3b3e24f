"""Which Flux Kustomization renders each SOPS file of a checkout, and whether it decrypts (for `check`).

Encrypted objects applied raw are Flux users' most common failure: a SOPS file rendered by a Kustomization
without `spec.decryption`. `check` finds the Kustomizations with the same discovery `plan` uses
(`render.discover`), so each is seen as Flux applies it: namespaced by its kustomization, patched by its
parent (cluster-template adds `decryption` to its children that way). The discovery starts at the roots:
the Kustomizations whose file lies under no other Kustomization's path (flux bootstrap's `flux-system`,
cluster-template's `cluster`), each from the directory of its file. A Kustomization that no discovery
reaches is built as written. Nothing is decrypted; a Kustomization that does not build is a finding and the
others are still mapped. Encrypted objects are traced back to their files by MAC token, generator inputs by
name.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap import repofiles
from bootstrap.engines.flux import kustomizations as flux
from bootstrap.engines.flux.kustomizations import FluxKustomization
from bootstrap.engines.flux.render import RenderRequest, discover
from bootstrap.errors import BootstrapError
from bootstrap.kustomize.builder import Builder, Built, BuildSpec
from bootstrap.manifests import parse_documents

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


def declared(root: Path) -> list[FluxKustomization]:
    """Flux Kustomizations as written in the checkout's YAML files (only where the discovery starts)."""
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


def roots(written: list[FluxKustomization]) -> list[FluxKustomization]:
    """Those whose file lies under no other Kustomization's path: nothing in the repository creates them."""
    def under(file: str, path: str) -> bool:
        return path == "" or file.startswith(path + "/")

    return [k for k in written
            if not any(other is not k and other.path != k.path and under(k.found_in, other.path) for other in written)]


def map_checkout(root: Path, builder: Builder | None, token_of: Callable[[dict], str | None],
                 files_by_token: dict[str, str]) -> FluxMap:
    """`builder` renders without decryption (None: no kustomize, nothing is mapped)."""
    written = declared(root)
    result = FluxMap(kustomizations=len(written))
    if not written or builder is None:
        return result
    seen: set[tuple[str, str]] = set()  # (file, name) of every Kustomization a discovery found
    names: set[str] = set()
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kustomize")
    try:
        for directory in sorted({posixpath.dirname(k.found_in) for k in roots(written)}):
            found = discover(RenderRequest(paths=(directory,), kustomizations=("all",), decrypt=False, tolerate=True),
                             builder, pool, notes=lambda text: None)
            result.source = result.source or f"{found.source.ref.namespace}/{found.source.ref.name}"
            seen |= {(k.found_in, k.key.name) for k in found.known.values()}
            for label, why in found.failed.items():
                if label.startswith("Kustomization "):
                    result.failed[label.removeprefix("Kustomization ")] = why
            builds = [(k, found.children[k.key]) for k in found.order if k.key in found.children]
            builds += [(owner, one) for _, owner, one in found.entry if owner is not None]
            for k, one in builds:
                names.add(str(k.key))
                _map(result, k, one, token_of, files_by_token)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for k in written:  # reached by no discovery: as written
        if (k.found_in, k.key.name) in seen:
            continue
        names.add(str(k.key))
        try:
            one = builder.build(BuildSpec(path=k.path, spec=k.spec, decrypts=False, label=f"Kustomization {k.key}"))
        except BootstrapError as err:
            result.failed[str(k.key)] = str(err)
            continue
        _map(result, k, one, token_of, files_by_token)
    result.kustomizations = len(names | set(result.failed))
    return result


def _map(result: FluxMap, k: FluxKustomization, built: Built, token_of: Callable[[dict], str | None],
         files_by_token: dict[str, str]) -> None:
    files = {files_by_token.get(token_of(d.body) or "") for d in built.documents} - {None}
    files |= {rel for rel in built.generator_inputs if rel in files_by_token.values()}
    for rel in files:
        entries = result.by_file.setdefault(rel, [])
        if all(e.kustomization != str(k.key) for e in entries):
            entries.append(Rendering(str(k.key), k.decrypts))
