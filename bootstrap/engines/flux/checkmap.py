"""Which Flux Kustomization renders each SOPS file of a checkout, and whether it decrypts (for `check`).

Encrypted objects applied raw are Flux users' most common failure: a SOPS file rendered by a Kustomization
without `spec.decryption`. `check` finds the Kustomizations with the same discovery `plan` uses
(`render.discover`), so each is seen as Flux applies it: namespaced by its kustomization, patched by its
parent (cluster-template adds `decryption` to its children that way). The discovery starts at the entries:
the directories of the root Kustomizations, those whose file lies under no other Kustomization's path (flux
bootstrap's `clusters/<name>/flux-system`, cluster-template's `kubernetes/flux/config` or
`kubernetes/flux/cluster`). Each entry is a cluster of its own: its Kustomizations are told apart from the
same-named ones of another entry (`flux-system/cluster-apps` in each of three `clusters/<name>`). A
Kustomization no entry reaches (a `ks.yaml` its kustomization comments out) is not applied by Flux and is
not built. Nothing is decrypted; a Kustomization that does not build is recorded (one whose remote base
cannot be fetched offline: as needing the network) and the others are still mapped. Encrypted objects are
traced back to their files by MAC token, generator inputs by name.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap import repofiles
from bootstrap.engines.flux import kustomizations as flux
from bootstrap.engines.flux.kustomizations import FluxKustomization, SourceRef
from bootstrap.engines.flux.render import Discovery, RenderRequest, discover
from bootstrap.engines.flux.render import _git_ignore as git_ignore
from bootstrap.errors import BootstrapError
from bootstrap.kustomize.builder import Builder, Built
from bootstrap.kustomize.kustomizer import needs_network
from bootstrap.manifests import parse_documents

_MARKERS = (b"kustomize.toolkit.fluxcd.io", b"Kustomization")
BUILDS = 4  # kustomize builds at once (as `plan`)


@dataclass(frozen=True)
class Rendering:
    """One Kustomization's view of a file: its name (with its entry when there are several) and whether it
    decrypts."""

    kustomization: str
    decrypts: bool


@dataclass
class FluxMap:
    source: str | None = None  # namespace/name of the GitRepository taken as this repository (", "-joined)
    by_file: dict[str, list[Rendering]] = field(default_factory=dict)  # repo-relative SOPS file -> renderers
    failed: dict[str, str] = field(default_factory=dict)  # Kustomization -> why it does not build
    offline: dict[str, str] = field(default_factory=dict)  # Kustomization -> the remote base it needs
    warnings: list[str] = field(default_factory=list)
    ignores: list[str | None] = field(default_factory=list)  # each mapped entry's GitRepository spec.ignore
    kustomizations: int = 0


def declared(root: Path, files: Iterable[tuple[str, Path]] | None = None) -> list[FluxKustomization]:
    """Flux Kustomizations as written in the checkout's YAML files (only where the discovery starts); `files`:
    (repo-relative, path) of the only files that may hold one (default: every file)."""
    found = []
    for rel, path in repofiles.walk(root) if files is None else files:
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


def entries(written: list[FluxKustomization]) -> dict[str, str]:
    """Each entry directory -> the name it goes by: the path its root Kustomizations point at when they agree
    (flux bootstrap's `clusters/prod` for `clusters/prod/flux-system`), else the directory."""
    by_dir: dict[str, set[str]] = {}
    for k in roots(written):
        by_dir.setdefault(posixpath.dirname(k.found_in), set()).add(k.path)
    return {d: (next(iter(paths)) or ".") if len(paths) == 1 else (d or ".") for d, paths in sorted(by_dir.items())}


def map_checkout(root: Path, builder: Builder | None, token_of: Callable[[dict], str | None],
                 files_by_token: dict[str, str], source: str | None = None,
                 written: list[FluxKustomization] | None = None) -> FluxMap:
    """`builder` renders without decryption (None: no kustomize, nothing is mapped). `source`: `--source`."""
    written = declared(root) if written is None else written
    result = FluxMap(kustomizations=len(written))
    if not written or builder is None:
        return result
    named = entries(written)
    several = len(named) > 1
    names: set[str] = set()
    sources: list[str] = []
    pool = ThreadPoolExecutor(max_workers=BUILDS, thread_name_prefix="kustomize")
    # The entries are discovered side by side, sharing the builds' pool: a discovery goes level by level
    # (an entry, its root, the root's children, ...), and one cluster's narrow levels leave the pool idle.
    entry_pool = ThreadPoolExecutor(max_workers=max(1, len(named)), thread_name_prefix="entry")

    def discover_entry(directory: str) -> Discovery:
        return discover(RenderRequest(paths=(directory,), kustomizations=("all",), source=source, decrypt=False,
                                      tolerate=True), builder, pool, notes=lambda text: None)

    try:
        discoveries = list(entry_pool.map(discover_entry, named))
        for (directory, entry), found in zip(named.items(), discoveries):
            label = (lambda key, entry=entry: f"{key} ({entry})") if several else str
            ref = found.source.ref
            if not any(found.ours(k) for k in found.known.values()):
                # none from a GitRepository (an OCIRepository's, a Bucket's): nothing of this repository to map
                if source or any(k.source.kind == "GitRepository" for k in found.known.values()):
                    result.warnings.append(_unmapped(directory or ".", source, ref, found))
                continue
            if f"{ref.namespace}/{ref.name}" not in sources:
                sources.append(f"{ref.namespace}/{ref.name}")
            result.ignores.append(git_ignore([one for _, _, one in found.entry], ref))
            for what, why in found.failed.items():
                if what.startswith("Kustomization "):
                    key = label(what.removeprefix("Kustomization "))
                    url = needs_network(why)
                    if url is not None:
                        result.offline[key] = url
                    else:
                        result.failed[key] = why
            builds = [(k, found.children[k.key]) for k in found.order if k.key in found.children]
            builds += [(owner, one) for _, owner, one in found.entry if owner is not None]
            for k, one in builds:
                names.add(label(str(k.key)))
                _map(result, label(str(k.key)), k, one, token_of, files_by_token)
    finally:
        entry_pool.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=True, cancel_futures=True)
    result.source = ", ".join(sources) or None
    result.kustomizations = len(names | set(result.failed) | set(result.offline))
    return result


def _unmapped(directory: str, explicit: str | None, ref: SourceRef, found: Discovery) -> str:
    """Why the Kustomizations of an entry were not mapped, and what to do about it."""
    used = sorted({f"{k.source.namespace}/{k.source.name}" for k in found.known.values()
                   if k.source.kind == "GitRepository"})
    if explicit:
        return (f"--source {explicit}: no Flux Kustomization from {directory} uses GitRepository "
                f"{ref.namespace}/{ref.name} (they use: {', '.join(used) or 'no GitRepository'}); not checked which "
                "Kustomization renders each SOPS file there")
    return (f"{directory}: cannot tell which GitRepository is this repository (its Kustomizations use "
            f"{', '.join(used) or 'no GitRepository'}); not checked which Kustomization renders each SOPS file "
            "there, nor whether it decrypts: pass --source NAMESPACE/NAME")


def _map(result: FluxMap, name: str, k: FluxKustomization, built: Built, token_of: Callable[[dict], str | None],
         files_by_token: dict[str, str]) -> None:
    files = {files_by_token.get(token_of(d.body) or "") for d in built.documents} - {None}
    files |= {rel for rel in built.generator_inputs if rel in files_by_token.values()}
    for rel in files:
        entries_ = result.by_file.setdefault(rel, [])
        if all(e.kustomization != name for e in entries_):
            entries_.append(Rendering(name, k.decrypts))
