"""The engine interface: what the pipeline asks of a GitOps engine, and the engine-neutral result of a render.

An engine (Flux today) knows five things the rest of dr-bootstrap does not:
1. its objects in a rendered set, and which of them the restore takes (`--kustomization`, a playbook);
2. how to render their children from the checkout exactly as its controllers would (`render`);
3. where its controllers read the age key (`Rendered.key_targets`);
4. which of its objects a bootstrap phase must not wait for, because only its controllers make them Ready
   (`owns`), and whether the restored set installs it at all (`installs`);
5. the hand-over: waiting until its controllers have reconciled the rest, and judging their readiness
   (`hand_over`);
6. its Helm releases, as a release to install before it runs (`helm_releases`: chart, version, names).
Kustomize, SOPS, the Kubernetes edge and the status engine know nothing of engines; an engine uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Protocol

from bootstrap.model import Manifest, ObjectRef

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.kustomize.builder import Builder
    from bootstrap.report.run import Run

#: substituteFrom-style data read from the cluster: (kind, namespace, name) -> data, or None when absent
ClusterLookup = Callable[[str, str, str], Optional[Mapping[str, str]]]


@dataclass(frozen=True)
class KeyTarget:
    """A Secret the engine reads the age key from (its data key comes from --key-secret-key)."""

    namespace: str
    name: str
    why: str  # which of the engine's objects name it
    key: str | None = None  # the data key the engine reads (None: --key-secret-key)


@dataclass
class RenderedPhase:
    """One unit the restore applies in order: an entry path, or one of the engine's objects."""

    name: str  # `namespace/name` of the engine's object, or the --path
    path: str  # repo-relative directory it was built from
    origin: str  # what each of its manifests carries as Manifest.origin
    manifests: list[Manifest] = field(default_factory=list)


@dataclass
class Rendered:
    """The render stage's output, in the engine's order."""

    engine: str
    phases: list[RenderedPhase]
    source: str  # `namespace/name` of the engine's object that is this repository
    key_targets: list[KeyTarget] = field(default_factory=list)
    left_to_engine: list[str] = field(default_factory=list)  # found, not selected: reconciled after the hand-over
    not_restorable: list[str] = field(default_factory=list)  # `name (source)`: not from this repository
    needs_plugin: list[str] = field(default_factory=list)  # `ref (source): plugins`: filled by the engine's plugin

    @property
    def manifests(self) -> list[Manifest]:
        return [m for phase in self.phases for m in phase.manifests]


@dataclass(frozen=True)
class ValuesFrom:
    """A reference to values held elsewhere (a ConfigMap or Secret key), merged in order after the chart's."""

    kind: str
    name: str
    key: str
    target_path: str | None = None  # where in the values the key's text goes; None: the key holds YAML values
    optional: bool = False


@dataclass(frozen=True)
class HelmInstall:
    """One Helm release to install before the GitOps engine runs, as the engine's Helm controller would
    install it. The chart is `repository` + `chart`: for an `oci://` repository the reference
    `<repository>/<chart>` (`oci_ref`), otherwise the chart `chart` of the chart repository at `repository`.
    `values` are the object's inline values only (they may hold decrypted text: never shown or reported);
    `values_from` are recorded, not read."""

    namespace: str  # the engine's object (`namespace`/`name`)
    name: str
    chart: str
    repository: str  # oci://… or https://…, as the source object has it
    version: str  # as written: a tag, a semver range or version, or a digest (`version_kind`)
    version_kind: str  # tag | semver | digest
    release_name: str  # the name Helm stores the release under
    target_namespace: str  # where the release's objects go (`helm install --namespace`)
    storage_namespace: str  # where Helm keeps the release's records
    source: str  # the object the chart comes from, e.g. `OCIRepository flux-system/cilium`
    found_in: str = ""  # the repository file of the engine's object
    values: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)
    values_from: tuple[ValuesFrom, ...] = ()
    depends_on: tuple[str, ...] = ()  # `namespace/name` of the engine's objects it waits for
    insecure: bool = False  # the registry/repository is plain HTTP (`helm --plain-http`)
    crds: str = "Create"  # the CRD policy of the install: Skip | Create | CreateReplace
    timeout: str = "5m0s"  # Helm's --timeout for the install (a Go duration)
    wait: bool = True  # wait for the release's objects to be ready (helm --wait=watcher)
    wait_for_jobs: bool = True
    hooks: bool = True
    create_namespace: bool = False  # the controller would create the target namespace

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def oci(self) -> bool:
        return self.repository.startswith("oci://")

    @property
    def oci_ref(self) -> str | None:
        """What `helm install` takes for an OCI chart (None for a chart repository, which takes `--repo`)."""
        return f"{self.repository.rstrip('/')}/{self.chart}" if self.oci else None


@dataclass(frozen=True)
class Supplied:
    """A v1 ConfigMap or Secret the operator supplied (`--substitute-from FILE`, plaintext in memory): it stands
    in for the object of that kind, namespace and name wherever the engine reads variables from one. Never
    applied."""

    kind: str  # ConfigMap | Secret
    namespace: str
    name: str
    file: str  # the FILE it came from, as given
    body: Mapping[str, Any] = field(repr=False, compare=False, hash=False)

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class PromisedKinds:
    """Kinds that neither the cluster nor the set defines yet, which a Helm release installed before the phases
    makes known once the engine's operator has reconciled it (Flux: a FluxInstance rendered by the flux-instance
    release, whose distribution flux-operator installs with Flux's CRDs). The validate stage takes them as
    known and namespaced (`namespaced`); the apply stage applies them only after `Engine.await_promised`."""

    group_suffix: str  # every API group ending so (e.g. `.toolkit.fluxcd.io`)
    why: str  # what installs them, for notes and errors
    namespaced: bool = True

    def covers(self, api_version: str, kind: str) -> bool:
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        return bool(kind) and group.endswith(self.group_suffix)


@dataclass(frozen=True)
class RenderInputs:
    """What the render stage asks of an engine."""

    paths: tuple[str, ...]  # repo-relative entry directories, in order ("" is the root)
    selection: tuple[str, ...] = ()  # the engine's objects to restore besides the entry paths (names, `all`)
    source: str | None = None  # which of the engine's source objects is this repository (None: the engine guesses)
    concurrency: int = 4
    repo_url: str | None = None  # the URL the checkout was cloned from (an engine may match its objects to it)
    supplied: tuple[Supplied, ...] = ()  # --substitute-from objects
    helm_bin: str | None = None  # --helm-bin: the helm an engine renders charts with (None: helmcli.locate's default)


class Engine(Protocol):
    """A GitOps engine, as the pipeline uses it. Implementations live in `bootstrap.engines.<name>`."""

    name: str

    def check_selection(self, values: Sequence[str]) -> None:
        """UsageError (exit 2) for a malformed selection, before anything is cloned."""

    def render(self, inputs: RenderInputs, builder: Builder, *, lookup: ClusterLookup | None,
               notes: Callable[[str], None]) -> Rendered:
        """The entry paths and the selected objects rendered as the engine's controllers would."""

    def owns(self, ref: ObjectRef) -> bool:
        """One of the engine's own objects: Ready only once its controllers reconcile it after the hand-over."""

    def installs(self, refs: Sequence[ObjectRef]) -> bool:
        """The restored set installs the engine and gives it something to reconcile."""

    def hand_over(self, cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
        """Wait until the engine has reconciled the rest of the repository (the `gitops` phase)."""

    def helm_releases(self, rendered: Rendered, names: Sequence[str]) -> list[HelmInstall]:
        """The engine's Helm releases named `namespace/name` in the rendered set, each resolved to its chart
        from the set alone (no cluster, nothing pulled), in install order: a release after those of `names`
        it depends on. UsageError (exit 2) for a name the set does not hold, ValidationError for a release
        whose chart cannot be told."""

    def promised_kinds(self, rendered: Rendered, releases: Sequence[HelmInstall]) -> PromisedKinds | None:
        """The engine's kinds that `releases` install through the engine's operator (None: none)."""

    def await_promised(self, cluster: Cluster, run: Run, manifests: Sequence[Manifest], *, timeout: float) -> None:
        """Wait until the operator has made the promised kinds known (GitOpsError, exit 6, on its failure)."""
