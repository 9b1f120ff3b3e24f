"""Where `postBuild.substituteFrom` finds its ConfigMaps and Secrets, and what to say when it does not.

In order: an object the operator supplied (`--substitute-from FILE`, `engines.base.Supplied`: it stands in for
the real one), the latest earlier phase of the restore that renders it, the cluster (None offline). A source
found nowhere may be one that is not in Git at all: an ExternalSecret of the rendered set produces it (its
`spec.target.name`, by default its own name, in its namespace), and the error names that ExternalSecret and its
store so that the operator knows what to supply.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any

from bootstrap.engines.base import ClusterLookup, Supplied
from bootstrap.engines.flux import postbuild
from bootstrap.model import Manifest

ESO_GROUP = "external-secrets.io"

# (kind, namespace, name) of a missing source -> what produces it, e.g. "ExternalSecret ns/name (store x)"
Producer = Callable[[str, str, str], "str | None"]


def lookup(phases: Sequence[Sequence[Manifest]], cluster: ClusterLookup | None, supplied: Sequence[Supplied],
           learn: Callable[[Iterable[str]], None], used: Callable[[Supplied], None]) -> ClusterLookup:
    """substituteFrom data: supplied, else from what an earlier phase restores, else from the cluster. A
    Secret's values read from the cluster are secret (no one reads them in the repository): `learn`ed. The
    supplied ones were learned when they were loaded; `used` hears of each one read."""
    by_key = {(s.kind, s.namespace, s.name): s for s in supplied}

    def read(kind: str, namespace: str, name: str):
        given = by_key.get((kind, namespace, name))
        if given is not None:
            used(given)
            return postbuild.data_of(given.body)
        for manifests in reversed(phases):
            for m in manifests:
                ref = m.ref
                if ref.kind == kind and ref.api_version == "v1" and ref.name == name and ref.namespace == namespace:
                    return postbuild.data_of(m.body)
        found = cluster(kind, namespace, name) if cluster is not None else None
        if found is not None and kind == "Secret":
            learn(found.values())
        return found

    return read


def supplied_notes(supplied: Sequence[Supplied], used: Container[Supplied],
                   phases: Sequence[Sequence[Manifest]]) -> list[str]:
    """What became of each supplied object: read by a substituteFrom or by none (a wrong namespace?); and when
    the restored set holds the same object, that it is applied as the repository has it all the same."""
    out = []
    for one in supplied:
        note = f"{one.describe()} from --substitute-from {one.file}: " + (
            "read by substituteFrom, not applied" if one in used else "no restored Kustomization reads it")
        if any(m.ref.kind == one.kind and m.ref.api_version == "v1" and m.ref.namespace == one.namespace
               and m.ref.name == one.name for manifests in phases for m in manifests):
            note += "; the restored set holds it too and applies the repository's copy"
        out.append(note)
    return out


def producers(bodies: Iterable[Mapping[str, Any]]) -> Producer:
    """What would make a missing substituteFrom source: an ExternalSecret among `bodies` (the objects of every
    build of the render) whose target is that Secret."""
    found: dict[tuple[str, str], str] = {}
    for body in bodies:
        api = body.get("apiVersion")
        if body.get("kind") != "ExternalSecret" or not isinstance(api, str) or not api.startswith(ESO_GROUP + "/"):
            continue
        meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        target = spec.get("target") if isinstance(spec.get("target"), dict) else {}
        name = target.get("name") or meta.get("name")
        namespace = meta.get("namespace") or "default"
        if isinstance(name, str) and name:
            store = _store(spec)
            found.setdefault((namespace, name), f"ExternalSecret {namespace}/{meta.get('name')}"
                             + (f" (store {store})" if store else ""))

    def producer(kind: str, namespace: str, name: str) -> str | None:
        return found.get((namespace, name)) if kind == "Secret" else None

    return producer


def _store(spec: Mapping[str, Any]) -> str | None:
    """The store an ExternalSecret reads: `secretStoreRef`, else the first `sourceRef.storeRef` of its data."""
    ref = spec.get("secretStoreRef")
    if isinstance(ref, dict) and ref.get("name"):
        return str(ref["name"])
    for item in [*(spec.get("data") or []), *(spec.get("dataFrom") or [])]:
        source = item.get("sourceRef") if isinstance(item, dict) else None
        store = source.get("storeRef") if isinstance(source, dict) else None
        if isinstance(store, dict) and store.get("name"):
            return str(store["name"])
    return None
