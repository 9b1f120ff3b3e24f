"""Flux Kustomizations found in a rendered set, and which of them a restore takes, in which order (pure).

A Flux Kustomization (`kustomize.toolkit.fluxcd.io/v1`) whose `sourceRef` is the GitRepository of the repository
being restored is one of its children: dr-bootstrap can render it from the checkout, as kustomize-controller
would. Others (an OCIRepository, a Bucket, an ExternalArtifact, another GitRepository) are listed as "not
restorable from this repository". Selected children come with their `dependsOn` closure and become phases in
`dependsOn` order; a cycle or an unknown dependency is a validation error naming them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bootstrap import toposort
from bootstrap.errors import UsageError, ValidationError

GROUP = "kustomize.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
DEFAULT_SOURCE = "flux-system"
ALL = "all"


@dataclass(frozen=True, order=True)
class Key:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class SourceRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class FluxKustomization:
    """One Flux Kustomization as written in the repository (spec kept raw: the render reads its fields)."""

    key: Key
    path: str  # repo-relative, normalized; "" is the repository root
    source: SourceRef
    depends_on: tuple[Key, ...]
    spec: Mapping[str, Any] = field(repr=False, compare=False)
    found_in: str = field(default="", compare=False)  # where it was rendered from
    parent: Key | None = field(default=None, compare=False)  # the Kustomization whose build defines it

    @property
    def after(self) -> tuple[Key, ...]:
        """What must be applied first: its dependsOn, and the Kustomization that creates it (Flux cannot
        reconcile a child before its parent has applied the child's object, and its substituteFrom data
        usually comes from there)."""
        return self.depends_on + ((self.parent,) if self.parent is not None and self.parent != self.key else ())

    @property
    def decrypts(self) -> bool:
        decryption = self.spec.get("decryption")
        return isinstance(decryption, dict) and decryption.get("provider") == "sops"

    @property
    def decryption_secret(self) -> str | None:
        decryption = self.spec.get("decryption")
        ref = decryption.get("secretRef") if isinstance(decryption, dict) else None
        name = ref.get("name") if isinstance(ref, dict) else None
        return name if isinstance(name, str) and name else None


def is_flux_kustomization(body: Mapping[str, Any]) -> bool:
    api_version = body.get("apiVersion")
    return body.get("kind") == "Kustomization" and isinstance(api_version, str) and api_version.startswith(GROUP + "/")


def normalize_path(raw: Any, where: str) -> str:
    """`spec.path` as a repo-relative path ("" = root), joined to the root as Flux's securejoin does: `..`
    never climbs above the repository."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ValidationError(f"{where}: spec.path must be a string")
    path = posixpath.normpath("/" + raw).lstrip("/")
    return "" if path in ("", ".") else path


def parse(body: Mapping[str, Any], found_in: str, parent: Key | None = None) -> FluxKustomization:
    """A FluxKustomization from a rendered object (ValidationError naming it when a field is malformed)."""
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    namespace = str(metadata.get("namespace") or "default")
    name = str(metadata.get("name") or "")
    where = f"{found_in}: Kustomization/{namespace}/{name}"
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    ref = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), dict) else {}
    source = SourceRef(str(ref.get("kind") or ""), str(ref.get("namespace") or namespace), str(ref.get("name") or ""))
    depends = []
    for index, dep in enumerate(spec.get("dependsOn") or []):
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str) or not dep["name"]:
            raise ValidationError(f"{where}: spec.dependsOn[{index}] needs a name")
        depends.append(Key(str(dep.get("namespace") or namespace), dep["name"]))
    return FluxKustomization(Key(namespace, name), normalize_path(spec.get("path"), where), source,
                             tuple(depends), spec, found_in, parent)


# --- which GitRepository is "this repository" ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceChoice:
    ref: SourceRef
    why: str  # for the progress line: how it was chosen


def choose_source(explicit: str | None, entry: Sequence[FluxKustomization]) -> SourceChoice:
    """`--source [NAMESPACE/]NAME`; else the one GitRepository the entry paths' Kustomizations point at;
    else flux-system/flux-system."""
    if explicit:
        namespace, sep, name = explicit.rpartition("/")
        if not name or "/" in namespace:
            raise UsageError(f"--source {explicit!r}: expected NAME or NAMESPACE/NAME of a GitRepository")
        return SourceChoice(SourceRef("GitRepository", namespace or DEFAULT_SOURCE, name), "--source")
    refs = sorted({k.source for k in entry if k.source.kind == "GitRepository"}, key=str)
    if len(refs) == 1:
        return SourceChoice(refs[0], "the GitRepository the entry path's Kustomizations use")
    why = "default" if not refs else f"default; the entry paths' Kustomizations use {len(refs)} GitRepositories"
    return SourceChoice(SourceRef("GitRepository", DEFAULT_SOURCE, DEFAULT_SOURCE), why)


# --- selection and order ------------------------------------------------------------------------------------


def parse_selection(values: Iterable[str]) -> tuple[bool, list[tuple[str | None, str]]]:
    """`--kustomization` values: (all?, [(namespace or None, name)]); `name` or `namespace/name`, comma lists."""
    every, wanted = False, []
    for value in values:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            if item == ALL:
                every = True
                continue
            namespace, _, name = item.rpartition("/")
            if not name or "/" in namespace:
                raise UsageError(f"--kustomization {item!r}: expected NAME or NAMESPACE/NAME (or 'all')")
            wanted.append((namespace or None, name))
    return every, wanted


def find(known: Mapping[Key, FluxKustomization], namespace: str | None, name: str) -> FluxKustomization | None:
    matches = [k for key, k in known.items() if key.name == name and (namespace is None or key.namespace == namespace)]
    if len(matches) > 1:
        raise UsageError(f"--kustomization {name!r} is ambiguous: {', '.join(sorted(str(k.key) for k in matches))}; "
                         "give NAMESPACE/NAME")
    return matches[0] if matches else None


def ordered(selected: Iterable[Key], known: Mapping[Key, FluxKustomization]) -> list[FluxKustomization]:
    """`selected` with their dependsOn closure and parents, each after those (discovery order otherwise).

    ValidationError on an unknown dependency or a cycle, naming them."""
    closure: set[Key] = set()
    stack = list(selected)
    while stack:
        key = stack.pop()
        if key in closure:
            continue
        closure.add(key)
        for dep in known[key].after:
            if dep not in known:
                raise ValidationError(f"Kustomization {key} ({known[key].found_in}) depends on {dep}, "
                                      "which no rendered path defines")
            stack.append(dep)
    try:
        rounds = toposort.levels([key for key in known if key in closure], lambda key: known[key].after)
    except toposort.Cycle as cycle:
        raise ValidationError(f"Kustomization dependsOn cycle: {cycle.render()}") from None
    return [known[key] for keys in rounds for key in keys]
