"""The Flux Kustomizations a build defines, as its Kustomization applies them (for `render.discover`).

kustomize-controller runs postBuild substitution over every object of a build, the Kustomization objects
it creates included, and applies the result: a child's name, namespace, `path` and own `postBuild` are what
is left after its parent's substitution (`${APP}-db` from a shared component is a different child for each
app). So children are read from the parent's objects finished as its phase finishes them
(`objects.finish`: the one substitution), with the variables the parent reads: its `substitute`, over the
ConfigMaps and Secrets of its `substituteFrom` as discovery has seen them so far (`Sources`: the builds of
the entry paths and of the Kustomizations built before it, decrypted as their phase decrypts them; later
builds win), else from the cluster. Objects labelled or annotated
`kustomize.toolkit.fluxcd.io/substitute: disabled` stay as written, as Flux leaves them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bootstrap.engines.base import Supplied
from bootstrap.errors import BootstrapError
from bootstrap.manifests import ref_of
from bootstrap.engines.flux import postbuild
from bootstrap.engines.flux.kustomizations import FluxKustomization, Key, is_flux_kustomization, parse
from bootstrap.engines.flux.objects import Finishing, finish
from bootstrap.kustomize.builder import Built, Document
from bootstrap.kustomize.secrets import SopsFiles


@dataclass(frozen=True)
class _Seen:
    built: Built
    owner: FluxKustomization | None
    decrypts: bool
    data_objects: dict[tuple[str, str | None, str], Document]  # (kind, namespace, name) of its v1 ConfigMaps, Secrets


class Sources:
    """substituteFrom data during discovery: an object given with --substitute-from (`supplied`); a ConfigMap
    or Secret from the builds seen so far (the latest first, as a later phase's copy is the one applied last),
    decrypted as its phase would decrypt it; else from the cluster (None offline), whose Secret values are
    secret (`learn`ed)."""

    def __init__(self, secrets: SopsFiles, cluster: postbuild.Lookup | None, supplied: Sequence[Supplied] = ()):
        self.secrets = secrets
        self.cluster = cluster
        self.supplied = {(s.kind, s.namespace, s.name): s for s in supplied}
        self._seen: list[_Seen] = []

    def reset(self) -> None:
        self._seen.clear()

    def add(self, built: Built, owner: FluxKustomization | None, decrypts: bool) -> None:
        index: dict[tuple[str, str | None, str], Document] = {}
        for doc in built.documents:
            ref = ref_of(doc.body)
            if ref.api_version == "v1" and ref.kind in ("ConfigMap", "Secret"):
                index.setdefault((ref.kind, ref.namespace, ref.name), doc)
        self._seen.append(_Seen(built, owner, decrypts, index))

    def lookup(self, kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
        given = self.supplied.get((kind, namespace, name))
        if given is not None:
            return postbuild.data_of(given.body)
        for seen in reversed(self._seen):
            doc = seen.data_objects.get((kind, namespace, name))
            if doc is not None:
                return self._data(seen, doc)
        found = self.cluster(kind, namespace, name) if self.cluster is not None else None
        if found is not None and kind == "Secret":
            self.secrets.learner.learn(found.values())
        return found

    def _data(self, seen: _Seen, doc: Document) -> Mapping[str, str] | None:
        """The object's data once its phase has decrypted it (None: it cannot be read here, e.g. `check`,
        which decrypts nothing)."""
        how = Finishing(kustomization=seen.owner, decrypts=seen.decrypts, variables=None)
        try:
            (done,) = finish(Built(seen.built.spec, [doc], []), how, self.secrets, origin="", notes=[])
        except (BootstrapError, ValueError):
            return None
        return postbuild.data_of(done.body)


def defined(built: Built, owner: FluxKustomization | None, parent: Key | None, sources: Sources,
            notes: Callable[[str], None]) -> list[FluxKustomization]:
    """The Flux Kustomizations in `built`, substituted as `owner` (the Kustomization that builds it; None for
    a plain directory) applies them; `parent` is what they are recorded as created by. When the owner's
    variables cannot be read here (a substituteFrom source neither seen nor in the cluster), they are read as
    written, with a note: the owner's own phase then stops on the same cause, naming it."""
    docs = [doc for doc in built.documents if is_flux_kustomization(doc.body)]
    found = [(doc.body, doc.source) for doc in docs]
    if docs and owner is not None and isinstance(owner.spec.get("postBuild"), dict):
        where = f"Kustomization {owner.key}"
        try:
            how = Finishing(kustomization=owner, decrypts=False, always=postbuild.always(owner.spec),
                            variables=postbuild.variables(owner.spec, owner.key.namespace, sources.lookup, where))
            found = [(m.body, m.source) for m in finish(Built(built.spec, docs, []), how, sources.secrets,
                                                        origin=str(owner.key), notes=[])]
        except BootstrapError as err:
            notes(f"{where}: the Kustomizations it defines are read before postBuild substitution ({err.message})")
    return [parse(body, source, parent) for body, source in found]
