"""Render a repository as Flux would: the entry paths, then the Flux Kustomizations the restore selects.

1. Each `--path` is built as a plain directory; the Flux Kustomizations and the GitRepository found there say
   which source is "this repository" (`render.flux.choose_source`) and what its artifact leaves out
   (`spec.ignore`). An entry path that a Kustomization of this source points at is built with that
   Kustomization's spec (its phase takes the Kustomization's name).
2. The children the restore selects (`--kustomization`, playbook `kustomizations:`) are found by building
   the Kustomizations level by level, only as deep as needed, each build's Kustomization objects read after
   its postBuild substitution (`children`), as Flux applies them; each selected one brings its dependsOn
   closure.
3. Phases are finished in order — decryption, substitution (with variables from ConfigMaps and Secrets that
   earlier phases restore, else from the cluster), metadata — because substitution depends on them.
Only what is selected is built, decrypted and validated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bootstrap.errors import BootstrapError, UsageError
from bootstrap.model import Manifest
from bootstrap.engines.base import RenderedPhase, Supplied
from bootstrap.engines.flux import children, instance, kustomizations as flux, postbuild
from bootstrap.engines.flux import substitute_from
from bootstrap.kustomize.builder import Builder, Built, BuildSpec
from bootstrap.engines.flux.kustomizations import FluxKustomization, Key
from bootstrap.engines.flux.objects import Finishing, finish

ClusterLookup = postbuild.Lookup
BUILD_FIELDS = ("targetNamespace", "namePrefix", "nameSuffix", "patches", "components", "images", "buildMetadata")


@dataclass(frozen=True)
class RenderRequest:
    paths: tuple[str, ...]
    kustomizations: tuple[str, ...] = ()  # --kustomization values (and playbook selections)
    source: str | None = None  # --source
    concurrency: int = 4
    decrypt: bool = True  # False (check): nothing decrypted; encrypted objects stay as they are
    tolerate: bool = False  # True (check): a Kustomization that does not build is recorded, not raised
    supplied: tuple[Supplied, ...] = ()  # --substitute-from: stand-ins for substituteFrom sources


@dataclass
class FluxPhase(RenderedPhase):
    """The engine interface's phase (named for the Kustomization, `namespace/name`, or the --path), with the
    Kustomization it restores (None: an entry path of its own)."""

    kustomization: FluxKustomization | None = None

    @classmethod
    def of(cls, name: str, path: str, kustomization: FluxKustomization | None) -> FluxPhase:
        """Its manifests' Manifest.origin is the Kustomization, else `path:` and the path (a path never looks
        like a Kustomization)."""
        origin = str(kustomization.key) if kustomization else f"path:{path or '.'}"
        return cls(name, path, origin, kustomization=kustomization)


@dataclass
class Rendering:
    phases: list[FluxPhase]
    source: flux.SourceChoice
    kustomizations: dict[Key, FluxKustomization]  # every one seen, in discovery order
    not_restorable: list[FluxKustomization]
    not_selected: list[FluxKustomization]
    decrypted_sources: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def manifests(self) -> list[Manifest]:
        return [m for phase in self.phases for m in phase.manifests]


def _discover(found: list[FluxKustomization], known: dict[Key, FluxKustomization]) -> list[FluxKustomization]:
    new = []
    for k in found:
        if k.key not in known:
            known[k.key] = k
            new.append(k)
    return new


def _git_ignore(built: Iterable[Built], source: flux.SourceRef) -> str | None:
    for one in built:
        for doc in one.documents:
            body = doc.body
            meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
            if (body.get("kind") == "GitRepository" and str(body.get("apiVersion", "")).startswith(flux.SOURCE_GROUP)
                    and meta.get("name") == source.name and (meta.get("namespace") or "default") == source.namespace):
                ignore = (body.get("spec") or {}).get("ignore")
                return ignore if isinstance(ignore, str) else None
    return None


def _affects_build(k: FluxKustomization) -> bool:
    return any(k.spec.get(name) not in (None, [], "") for name in BUILD_FIELDS) or "targetNamespace" in k.spec


def render_repository(request: RenderRequest, builder: Builder, *, cluster: ClusterLookup | None,
                      notes: Callable[[str], None]) -> Rendering:
    """The entry paths and the selected Kustomizations, discovered (`discover`) and finished as Flux applies
    them."""
    pool = ThreadPoolExecutor(max_workers=max(1, request.concurrency), thread_name_prefix="kustomize")
    try:
        return _finish(discover(request, builder, pool, notes, cluster=cluster), builder, cluster, notes,
                       request.supplied)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Discovery:
    """What `discover` found: the source, every Kustomization seen, and the builds of the entry paths and of
    the selected children (not yet decrypted, substituted or finished)."""

    source: flux.SourceChoice
    known: dict[Key, FluxKustomization]
    entry: list[tuple[str, FluxKustomization | None, Built]]  # (path, the Kustomization owning it, its build)
    order: list[FluxKustomization]  # the selected children of this source, in dependsOn order
    children: dict[Key, Built]
    selected: set[Key]
    owned: set[Key]
    failed: dict[str, str] = field(default_factory=dict)  # with `tolerate`: what did not build, and why

    def ours(self, k: FluxKustomization) -> bool:
        return k.source == self.source.ref


def discover(request: RenderRequest, builder: Builder, pool: ThreadPoolExecutor,
             notes: Callable[[str], None], *, cluster: ClusterLookup | None = None) -> Discovery:
    """The one discovery of Flux Kustomizations, for `plan`/`restore` and for `check`.

    Each entry path is built as a plain directory; the Kustomizations found in the output (as Flux applies
    them: namespaced by their kustomization, patched by their parent) say which GitRepository is this
    repository and what its artifact leaves out. An entry path a Kustomization of this source points at is
    built with that Kustomization's spec. Then the selected children are found level by level, each built
    as kustomize-controller builds it, only as deep as the selection needs. The Kustomizations a build
    defines are read after its Kustomization's postBuild substitution (`children`), as Flux applies them;
    substituteFrom data comes from the builds seen before, else from `cluster`."""
    entry = [BuildSpec(path=p, label=f"--path {p or '.'}", decrypts=request.decrypt) for p in request.paths]
    failed: dict[str, str] = {}
    build_all = _builds(pool, failed, request.tolerate)
    sources = children.Sources(builder.secrets, cluster, request.supplied)
    built = build_all(builder, entry)
    owners: list[FluxKustomization | None] = [None] * len(built)
    known = _entry_known(built, owners, sources, request.decrypt, notes)
    source = flux.choose_source(request.source, list(known.values()))
    notes(f"source: GitRepository {source.ref.namespace}/{source.ref.name} ({source.why})")
    ignore = _git_ignore(built, source.ref)
    if ignore and builder.artifact.spec_ignore != ignore:
        builder = builder.with_artifact(builder.artifact.with_spec_ignore(ignore))
        notes(f"GitRepository {source.ref.name} spec.ignore applied to the checkout, as its artifact has it")
        failed.clear()
        built = build_all(builder, entry)
        known = _entry_known(built, owners, sources, request.decrypt, notes)

    ours = lambda k: k.source == source.ref  # noqa: E731
    for index, path in enumerate(request.paths):
        owners[index] = next((k for k in known.values() if ours(k) and k.path == path), None)
        owner = owners[index]
        if owner is not None and _affects_build(owner):
            (built[index],) = build_all(builder, [_spec(owner, request.decrypt)])
    if any(o is not None and (_affects_build(o) or _substitutes(o)) for o in owners):
        known = _entry_known(built, owners, sources, request.decrypt, notes)
    owned = {o.key for o in owners if o is not None}

    def found_in(k: FluxKustomization, one: Built) -> None:
        _discover(children.defined(one, k, k.key, sources, notes) + instance.roots(one), known)
        sources.add(one, k, request.decrypt and k.decrypts)

    every, wanted = flux.parse_selection(request.kustomizations)
    built_children: dict[Key, Built] = {}
    selected = _select(every, wanted, known, ours, owned, built_children, builder, build_all, request.decrypt,
                       found_in)
    for index, path in enumerate(request.paths):  # flux-operator's root for an entry path, found below it
        if owners[index] is None and (root := instance.late_root(path, known, ours)) is not None:
            owners[index] = root
            owned.add(root.key)
            built_children.pop(root.key, None)
    order = []
    for k in flux.ordered(selected, known):
        if not ours(k):
            notes(f"Kustomization {k.key} is not restorable from this repository (source {k.source}); "
                  "Flux reconciles it after the hand-over")
        elif k.key not in owned:
            order.append(k)
    missing = [k for k in order if k.key not in built_children]
    for k, one in zip(missing, build_all(builder, [_spec(k, request.decrypt) for k in missing])):
        built_children[k.key] = one
    return Discovery(source, known, list(zip(request.paths, owners, built)), order, built_children, selected,
                     owned, failed)


def _entry_known(built: list[Built], owners: list[FluxKustomization | None], sources: children.Sources,
                 decrypt: bool, notes: Callable[[str], None]) -> dict[Key, FluxKustomization]:
    """The Kustomizations the entry paths define: those of a path with an owner substituted as the owner
    applies them, a plain directory's as written. They get no parent: entry paths are restored first."""
    known: dict[Key, FluxKustomization] = {}
    sources.reset()
    for one, owner in zip(built, owners):
        _discover(children.defined(one, owner, None, sources, notes) + instance.roots(one), known)
        sources.add(one, owner, decrypt)
    return known


def _substitutes(k: FluxKustomization) -> bool:
    return isinstance(k.spec.get("postBuild"), dict)


def _finish(found: Discovery, builder: Builder, cluster: ClusterLookup | None,
            notes: Callable[[str], None], supplied: Sequence[Supplied] = ()) -> Rendering:
    """Phases finished in order (decryption, substitution, metadata): substitution reads variables from
    ConfigMaps and Secrets that earlier phases restore."""
    ours, known = found.ours, found.known
    phases: list[FluxPhase] = []
    rendering = Rendering(
        phases=phases, source=found.source, kustomizations=known,
        not_restorable=[k for k in known.values() if not ours(k)],
        not_selected=[k for k in known.values() if ours(k) and k.key not in found.owned
                      and k.key not in found.selected],
        decrypted_sources=[],
    )
    # An entry path is always decrypted (the operator restores it with the key in hand); a child only when
    # its Kustomization has `decryption`, as Flux does.
    stages = [(f"{owner.key}" if owner else (path or "."), path, owner, one, True)
              for path, owner, one in found.entry]
    stages += [(str(k.key), k.path, k, found.children[k.key], k.decrypts) for k in found.order]
    builds = [one for _, _, one in found.entry] + list(found.children.values())
    producer = substitute_from.producers(doc.body for one in builds for doc in one.documents)
    used: dict[Supplied, None] = {}
    finished: list[list[Manifest]] = []  # each phase's objects, as they are finished: what substituteFrom reads
    lookup = substitute_from.lookup(finished, cluster, supplied, builder.secrets.learner.learn, used.setdefault)
    for name, path, owner, one, decrypts in stages:
        how = Finishing(
            kustomization=owner,
            decrypts=decrypts,
            variables=postbuild.variables(owner.spec, owner.key.namespace, lookup, f"Kustomization {owner.key}",
                                          producer) if owner is not None else None,
            always=owner is not None and postbuild.always(owner.spec),
        )
        phase_notes: list[str] = list(one.notes)
        phase = FluxPhase.of(name, path, owner)
        phase.manifests = finish(one, how, builder.secrets, origin=phase.origin, notes=phase_notes)
        for note in phase_notes:
            notes(note)
        phases.append(phase)
        finished.append(phase.manifests)
        rendering.decrypted_sources += one.decrypted_sources
    for note in substitute_from.supplied_notes(supplied, used, finished):
        notes(note)
    return rendering


def _builds(pool: ThreadPoolExecutor, failed: dict[str, str], tolerate: bool):
    """`build_all(builder, specs)`: the builds in parallel, in order. With `tolerate`, a spec that does not
    build is recorded in `failed` (label -> why) and gives an empty build, so the others are still found."""

    def one(builder: Builder, spec: BuildSpec) -> Built:
        try:
            return builder.build(spec)
        except BootstrapError as err:
            if not tolerate:
                raise
            failed[spec.label] = str(err)
            return Built(spec, [], [])

    return lambda builder, specs: list(pool.map(lambda spec: one(builder, spec), specs))


def _spec(k: FluxKustomization, decrypt: bool = True) -> BuildSpec:
    return BuildSpec(path=k.path, spec=k.spec, decrypts=decrypt and k.decrypts, label=f"Kustomization {k.key}")


def _select(every: bool, wanted: list[tuple[str | None, str]], known: dict[Key, FluxKustomization], ours,
            owned: set[Key], builds: dict[Key, Built], builder: Builder, build_all, decrypt: bool,
            found_in: Callable[[FluxKustomization, Built], None]) -> set[Key]:
    """The keys the restore takes: every child of this source (`all`), or the named ones with their
    dependsOn closure; Kustomizations are built level by level only until those are all known
    (`found_in` reads what each build defines)."""
    while True:
        if every:
            targets = {key for key, k in known.items() if ours(k)}
        else:
            targets = set()
            for namespace, name in wanted:
                found = flux.find(known, namespace, name)
                if found is not None:
                    targets.add(found.key)
            targets = _closure(targets, known)
        frontier = [k for k in known.values() if ours(k) and k.key not in owned and k.key not in builds]
        unresolved = not every and (
            any(flux.find(known, ns, name) is None for ns, name in wanted)
            or any(dep not in known for key in targets for dep in known[key].after)
        )
        if not frontier or not (every or unresolved):
            break
        for k, one in zip(frontier, build_all(builder, [_spec(k, decrypt) for k in frontier])):
            builds[k.key] = one
            found_in(k, one)
    for namespace, name in wanted:
        if flux.find(known, namespace, name) is None:
            names = ", ".join(sorted(str(k) for k, v in known.items() if ours(v))) or "none"
            raise UsageError(f"--kustomization {name!r}: no Flux Kustomization of this source has that name "
                             f"(found: {names})")
    for namespace, name in wanted:
        found = flux.find(known, namespace, name)
        if found is not None and not ours(found):
            raise UsageError(f"--kustomization {name!r}: Kustomization {found.key} is not restorable from this "
                             f"repository (its source is {found.source})")
    return targets


def _closure(keys: set[Key], known: Mapping[Key, FluxKustomization]) -> set[Key]:
    out, stack = set(), list(keys)
    while stack:
        key = stack.pop()
        if key in out or key not in known:
            continue
        out.add(key)
        stack.extend(known[key].after)
    return out

