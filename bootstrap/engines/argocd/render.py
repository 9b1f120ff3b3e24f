"""A repository rendered as Argo CD would sync it: the entry paths (the Argo CD install, the secret-zero
files, the root Application), then the Applications of this repository the restore selects, found level by
level (an app-of-apps' children, an ApplicationSet's generated Applications) and each rendered as the
repo-server renders its sources (`sources`). Objects are finished as Argo CD applies them: the destination
namespace for namespaced objects without one, hooks in their own phases (PreSync before, PostSync after),
Argo CD's sync order inside each, objects holding plugin placeholders left to Argo CD's plugin."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bootstrap import helmcli, placeholders
from bootstrap.engines.argocd import apps as argo, appsets, order
from bootstrap.engines.argocd.apps import Application, Source
from bootstrap.engines.argocd.charts import repository_settings
from bootstrap.engines.argocd.helm import render_chart
from bootstrap.engines.argocd.keys import key_targets
from bootstrap.engines.argocd.ksops import KsopsExpander
from bootstrap.engines.argocd.sources import PluginSource, build_options, render_source
from bootstrap.engines.base import Rendered, RenderedPhase, RenderInputs
from bootstrap.errors import BootstrapError, UsageError, ValidationError
from bootstrap.gostd import float64_numbers
from bootstrap.kube.builtin_kinds import namespaced
from bootstrap.kustomize.builder import Builder, Built, BuildSpec, Document
from bootstrap.kustomize.graph import kustomization_file
from bootstrap.kustomize.singlefile import MANIFEST_SUFFIXES, read_file_objects
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.status.secrets import consumed_secret_keys

ENGINE = "argocd"


def _has_sops(body: dict) -> bool:
    return isinstance(body.get("sops"), dict) and bool(body["sops"].get("mac"))


class _Discovery:
    def __init__(self, root: Path, notes: Callable[[str], None]):
        self.root, self.notes = root, notes
        self.known: dict[str, Application] = {}
        self.unexpanded: list[str] = []

    def found(self, docs: list[Document], parent: str | None, repo: str | None) -> list[Application]:
        new = []
        for doc in docs:
            body = doc.body
            bodies: list[tuple[dict, str | None]] = []
            if argo.is_argo(body, argo.APPLICATION):
                bodies.append((body, None))
            elif argo.is_argo(body, argo.APPLICATION_SET):
                meta = body.get("metadata") or {}
                set_key = f"{meta.get('namespace') or argo.DEFAULT_NAMESPACE}/{meta.get('name')}"
                if repo is None:
                    continue
                try:
                    bodies += [(b, set_key) for b in appsets.expand(body, doc.source, self.root, repo)]
                except appsets.NotExpandable as why:
                    self.unexpanded.append(f"ApplicationSet {set_key} ({why})")
            for one, generated_by in bodies:
                app = argo.parse(one, doc.source, parent, generated_by)
                if app.key not in self.known:
                    self.known[app.key] = app
                    new.append(app)
        return new


def choose_repo(inputs: RenderInputs, entry_apps: list[Application], root: Path) -> tuple[str | None, str]:
    if inputs.source:
        return argo.normalize_url(inputs.source), "--source"
    urls = [s.repo_url for a in entry_apps for s in a.sources if s.path is not None and (root / s.path).exists()]
    if inputs.repo_url and any(argo.normalize_url(u) == argo.normalize_url(inputs.repo_url) for u in urls):
        return argo.normalize_url(inputs.repo_url), "the URL restored from"
    if not urls:
        return None, "no Application in the entry paths"
    url, _ = Counter(urls).most_common(1)[0]
    return argo.normalize_url(url), f"the repoURL of the entry paths' Applications ({url})"


def _scope(manifests: list[Manifest]) -> Callable[[str, str], bool]:
    crd_scope = {}
    for m in manifests:
        if m.ref.kind == "CustomResourceDefinition":
            spec = m.body.get("spec") or {}
            crd_scope[(spec.get("group"), (spec.get("names") or {}).get("kind"))] = spec.get("scope") != "Cluster"

    def is_namespaced(api_version: str, kind: str) -> bool:
        known = namespaced(api_version, kind)
        if known is not None:
            return known
        return crd_scope.get((api_version.rpartition("/")[0], kind), True)

    return is_namespaced


def _finish(docs: list[Document], builder: Builder, *, decrypt: bool, namespace: str | None, origin: str,
            needs_plugin: list[str], where: str) -> list[Manifest]:
    out = []
    for doc in docs:
        body = doc.body
        if _has_sops(body):
            if not decrypt:
                raise ValidationError(f"{doc.source}: {ref_of(body)} is SOPS-encrypted in {where}; Argo CD applies "
                                      "it as it is (use KSOPS or helm-secrets, or restore it as an entry --path)")
            body = float64_numbers(builder.secrets.decrypt_object(body, f"{doc.source}: {ref_of(body)}"))
        if order.sync_phase(body) == "Skip":
            continue
        out.append(Manifest(ref=ref_of(body), body=body, source=doc.source, encrypted=_has_sops(doc.body),
                            origin=origin))
    if namespace:
        is_namespaced = _scope(out)
        for index, m in enumerate(out):
            if m.ref.namespace is None and is_namespaced(m.ref.api_version, m.ref.kind):
                body = {**m.body, "metadata": {**(m.body.get("metadata") or {}), "namespace": namespace}}
                out[index] = Manifest(ref=ref_of(body), body=body, source=m.source, encrypted=m.encrypted,
                                      origin=m.origin)
    # named as Argo CD would apply them (in the destination namespace): objects holding placeholders, and the
    # workloads reading a Secret that holds them (their pods cannot start before the plugin has filled it)
    held = {(m.ref.namespace, m.ref.name) for m in out
            if m.ref.kind == "Secret" and placeholders.plugins_needed(m.body)}
    kept = []
    for m in out:
        plugins = placeholders.plugins_needed(m.body)
        reads = sorted(f"{m.ref.namespace}/{name}" for name, _ in consumed_secret_keys(m.body)
                       if (m.ref.namespace, name) in held)
        if plugins:
            needs_plugin.append(f"{m.ref} ({m.source}): {', '.join(plugins)}")
        elif reads:
            needs_plugin.append(f"{m.ref} ({m.source}): reads Secret {reads[0]}, which the plugin fills")
        else:
            kept.append(m)
    return sorted(kept, key=lambda m: order.sort_key(m.body, m.source))


def _phases(name: str, path: str, manifests: list[Manifest]) -> list[RenderedPhase]:
    """PreSync hooks, the sync, PostSync hooks: one phase each, the restore waits between them."""
    out = []
    for hook in order.PHASES:
        members = [m for m in manifests if order.sync_phase(m.body) == hook]
        if members or hook == "Sync":
            label = name if hook == "Sync" else f"{name} ({hook})"
            origin = members[0].origin if members else name
            out.append(RenderedPhase(label, path, origin, members))
    return out


def _helm_finder(explicit: str | None, notes: Callable[[str], None]) -> Callable[[], str]:
    """The helm to render charts with, found on first use (a repository without charts needs none)."""
    found: list[str] = []

    def helm() -> str:
        if not found:
            path, how = helmcli.locate(explicit, purpose="to render Argo CD Helm sources with")
            notes(f"Helm charts rendered by {path} ({how})")
            found.append(path)
        return found[0]

    return helm


def render_repository(inputs: RenderInputs, builder: Builder, notes: Callable[[str], None]) -> Rendered:
    ksops = KsopsExpander(builder.secrets)
    builder = builder.with_expanders(ksops)
    discovery = _Discovery(builder.root, notes)
    helm = _helm_finder(inputs.helm_bin, notes)
    entry = [(p, _entry(builder, p, helm)) for p in inputs.paths]
    plain_apps = [argo.parse(d.body, d.source) for _, b in entry for d in b.documents
                  if argo.is_argo(d.body, argo.APPLICATION)]
    repo, why = choose_repo(inputs, plain_apps, builder.root)
    notes(f"this repository, for Argo CD: {repo or 'unknown'} ({why})")
    phases: list[RenderedPhase] = []
    needs_plugin: list[str] = []
    for path, built in entry:
        manifests = _finish(built.documents, builder, decrypt=True, namespace=None, origin=f"path:{path or '.'}",
                            needs_plugin=needs_plugin, where=f"--path {path or '.'}")
        phases.append(RenderedPhase(path or ".", path, f"path:{path or '.'}", manifests))
        discovery.found(built.documents, None, repo)
    phases, moved = order.secret_zero_first(phases)
    for note in moved:
        notes(note)
    option_notes: list[str] = []
    options = build_options(_argocd_cm(phases).get("kustomize.buildOptions"), option_notes, helm)
    chart_repos = repository_settings(m for phase in phases for m in phase.manifests)
    for note in option_notes:
        notes(note)
    every, wanted = argo.parse_selection(inputs.selection)
    ours = (lambda a: repo is not None and a.ours(repo))  # noqa: E731
    rendered: dict[str, list[Manifest]] = {}
    failed: dict[str, BootstrapError] = {}
    by_plugin: dict[str, PluginSource] = {}
    frontier = [a for a in discovery.known.values() if ours(a)]
    while frontier and (every or any(argo.find(discovery.known, ns, n) is None for ns, n in wanted)
                        or any(a.key not in rendered for a in _chosen(discovery.known, every, wanted) if ours(a))):
        for app in frontier:
            try:
                docs = [d for s in app.sources if (s.path is not None or s.chart is not None) and s.ref is None
                        for d in render_source(builder, app, s, repo=repo, options=options, helm_bin=helm,
                                               chart_repos=chart_repos).documents]
            except PluginSource as why:  # left to the plugin, as an object holding placeholders is
                by_plugin[app.key] = why
                continue
            except BootstrapError as err:
                failed[app.key] = err
                continue
            rendered[app.key] = _finish(docs, builder, decrypt=False, namespace=app.destination_namespace or None,
                                        origin=f"Application {app.key}", needs_plugin=needs_plugin,
                                        where=f"Application {app.key}")
            discovery.found(docs, app.key, repo)
        frontier = [a for a in discovery.known.values()
                    if ours(a) and a.key not in rendered and a.key not in failed and a.key not in by_plugin]
    chosen = _chosen(discovery.known, every, wanted)
    for key, err in failed.items():
        if discovery.known[key] not in chosen:
            notes(f"Application {key} (not selected) does not render here, so its children are not discovered: {err}")
    for ns, name in wanted:
        app = argo.find(discovery.known, ns, name)
        if app is None:
            names = ", ".join(sorted(a.key for a in discovery.known.values() if ours(a))) or "none"
            raise UsageError(f"--kustomization {name!r}: no Argo CD Application of this repository has that name "
                             f"(found: {names})")
        if not ours(app):
            raise UsageError(f"--kustomization {name!r}: Application {app.key} is not restorable from this "
                             f"repository (its source is {app.origin()})")
        if app.key in failed:
            raise failed[app.key]
        if app.key in by_plugin:
            raise by_plugin[app.key]

    def depth(app: Application) -> int:
        seen = 0
        while app.parent and app.parent in discovery.known and seen < len(discovery.known):
            app, seen = discovery.known[app.parent], seen + 1
        return seen

    # parents sync their children: level by level, each level in sync-wave order, then by name
    for app in sorted((a for a in chosen if ours(a)), key=lambda a: (depth(a), a.wave, a.name)):
        if app.key in failed:
            raise failed[app.key]
        if app.key in by_plugin:
            needs_plugin.append(f"Application/{app.key} ({app.found_in}): {by_plugin[app.key].plugin}, its source "
                                f"{by_plugin[app.key].path} with every object and child Application in it")
            continue
        phases += _phases(app.key, next((s.path or "" for s in app.sources if s.path is not None), ""),
                          rendered[app.key])
    if ksops.expanded:
        notes(f"KSOPS generators expanded in process (no plugin run): {', '.join(ksops.expanded)}")
    result = Rendered(
        engine=ENGINE, phases=phases, source=repo or "",
        left_to_engine=[f"Application {a.key}" for a in discovery.known.values() if ours(a) and a not in chosen],
        not_restorable=[f"Application {a.key} ({a.origin()})" for a in discovery.known.values() if not ours(a)]
        + discovery.unexpanded,
        needs_plugin=needs_plugin,
    )
    result.key_targets = key_targets(result.manifests)
    return result


def _argocd_cm(phases: list[RenderedPhase]) -> dict:
    """The data of Argo CD's argocd-cm ConfigMap among the entry paths' objects ({} without one)."""
    for phase in phases:
        for m in phase.manifests:
            if m.ref.kind == "ConfigMap" and m.ref.name == "argocd-cm" and isinstance(m.body.get("data"), dict):
                return m.body["data"]
    return {}


def _entry(builder: Builder, path: str, helm: Callable[[], str]) -> Built:
    """An entry path: a chart (a directory with Chart.yaml and no kustomization) is rendered by helm with
    the directory's name as release name, as an Application of it without helm settings would be."""
    directory = builder.root / path if path else builder.root
    if directory.is_dir() and (directory / "Chart.yaml").is_file() and kustomization_file(directory) is None:
        name = directory.name
        app = Application(namespace=argo.DEFAULT_NAMESPACE, name=name, sources=(), destination_namespace="",
                          destination="", wave=0, found_in=path)
        chart = Source(repo_url="", path=path, revision="HEAD", chart=None, ref=None)
        return Built(BuildSpec(path=path, label=f"--path {path}"),
                     render_chart(builder, app, chart, directory, {}, helm_bin=helm), [])
    found = kustomization_file(directory) if directory.is_dir() else None
    if found is None and directory.is_dir() and (files := _plain_tree(builder, directory)) is not None:
        label = f"--path {path or '.'}"
        return Built(BuildSpec(path=path, label=label), [
            Document(text=None, body=body, source=rel)
            for rel in files for body in read_file_objects(builder.root, rel, artifact=builder.artifact,
                                                           limits=builder.limits, label=label)], [])
    loaded = builder.load_kustomization(found) if found is not None else None
    charts = isinstance(loaded, dict) and bool(loaded.get("helmCharts"))
    options = ("--enable-helm", "--helm-command", helm()) if charts else ()
    return builder.build(BuildSpec(path=path, label=f"--path {path or '.'}", options=options))


def _plain_tree(builder: Builder, directory: Path) -> list[str] | None:
    """The manifest files of a directory tree without a kustomization file, repo-relative, in the order the
    README's `kubectl apply -R -f DIR` reads them (lexical, a directory where its name sorts): the objects
    are these files' documents as they are, nothing for kustomize to build. None when a kustomization file
    or a hidden entry is somewhere below (kustomize builds the tree)."""
    found: list[str] = []

    def visit(here: Path) -> bool:
        for entry in sorted(os.scandir(here), key=lambda e: e.name):
            if entry.name.startswith("."):
                return False  # left to the kustomize build, which reads them as kustomize-controller does
            if entry.is_dir(follow_symlinks=False):  # a linked directory is not entered, as kubectl's walk
                if kustomization_file(Path(entry.path)) is not None or not visit(Path(entry.path)):
                    return False
            elif entry.name.lower().endswith(MANIFEST_SUFFIXES):
                rel = builder.rel(Path(entry.path))
                if not builder.artifact.left_out(rel, False):
                    found.append(rel)
        return True

    return found if visit(directory) else None


def _chosen(known: dict[str, Application], every: bool, wanted) -> list[Application]:
    if every:
        return list(known.values())
    return [a for a in (argo.find(known, ns, n) for ns, n in wanted) if a is not None]
