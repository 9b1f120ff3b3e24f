"""The read-only half of a restore: clone, verify the signature, render and decrypt, validate, plan.

Everything here can fail before the first write, and does so in the order an operator fixes things: the
clone and `--path`, the rendering and decryption (no cluster needed), then the cluster (kinds, namespaces,
values `substituteFrom` reads from it). Nothing here writes to the cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap.errors import ValidationError
from bootstrap.model import Manifest, ObjectRef
from bootstrap.commands.options import RestoreOptions, normalized_paths

if TYPE_CHECKING:
    from bootstrap.kube import Cluster
    from bootstrap.stages.keys import KeyRing
    from bootstrap.stages.plan import Plan
    from bootstrap.report.progress import Progress
    from bootstrap.engines.flux.render import Rendering
    from bootstrap.report.run import Run
    from bootstrap.stages.source import Checkout

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every Namespace


@dataclass(frozen=True)
class KeySecret:
    """Where the age key is installed: the Secret and the data key Flux reads it from."""

    namespace: str
    name: str
    key: str
    why: str  # --key-secret, or the Kustomizations whose decryption.secretRef names it

    def __str__(self) -> str:
        return f"Secret/{self.namespace}/{self.name}"


@dataclass
class Prepared:
    """What the read-only half produced: a validated plan and where the key goes (the values to scrub went
    to the run's scrubber, `Run.learn_secrets`)."""

    plan: "Plan"
    key_secrets: list[KeySecret] = field(default_factory=list)
    rendering: "Rendering | None" = None


# --- values to scrub ---------------------------------------------------------------------------------------


def secret_values(manifests: list[Manifest]) -> set[str]:
    """Plaintext values of every Secret in the set (data decoded, and stringData), for scrubbing."""
    import base64

    values: set[str] = set()
    for m in manifests:
        if m.ref.kind != "Secret":
            continue
        for field_name in ("stringData", "data"):
            for value in (m.body.get(field_name) or {}).values():
                if not isinstance(value, str):
                    continue
                values.add(value)
                if field_name == "data":
                    try:
                        values.add(base64.b64decode(value, validate=True).decode("utf-8"))
                    except Exception:
                        pass
    return values


def with_namespace_name_label(manifests: list[Manifest]) -> list[Manifest]:
    """Namespaces as applied: with the `kubernetes.io/metadata.name` label the API server sets anyway.

    A bare Namespace gives server-side apply no field to own, so the server keeps no managedFields entry
    for us: the next apply writes a `before-first-apply` entry and no re-run can report `unchanged`.
    """
    out = []
    for m in manifests:
        labels = m.labels
        if m.ref.kind == "Namespace" and m.ref.api_version == "v1" and NAMESPACE_NAME_LABEL not in labels:
            metadata = {**m.body["metadata"], "labels": {**labels, NAMESPACE_NAME_LABEL: m.ref.name}}
            m = Manifest(ref=m.ref, body={**m.body, "metadata": metadata}, source=m.source, encrypted=m.encrypted,
                         origin=m.origin)
        out.append(m)
    return out


# --- the key Secret ----------------------------------------------------------------------------------------


def key_secrets(opts: RestoreOptions, rendering: "Rendering") -> list[KeySecret]:
    """--key-secret, plus every distinct Secret the restored Kustomizations' decryption.secretRef names."""
    ns, name = opts.key_secret_ref()
    found: dict[tuple[str, str], list[str]] = {(ns, name): ["--key-secret"]}
    for phase in rendering.phases:
        k = phase.kustomization
        if k is not None and k.decrypts and k.decryption_secret:
            found.setdefault((k.key.namespace, k.decryption_secret), []).append(f"Kustomization {k.key}")
    return [KeySecret(n, s, opts.key_secret_key, ", ".join(why)) for (n, s), why in found.items()]


def drop_repo_key_copies(manifests: list[Manifest], targets: list[KeySecret], keyring: "KeyRing",
                         note: Callable[[str], None]) -> list[Manifest]:
    """The repository's own copy of a key Secret (often SOPS-encrypted under `sops.agekey`): left out when it
    holds the operator's key; a stop (before any write) when it holds another, naming both recipients."""
    from bootstrap.stages.keys import recipients_of_key_text

    wanted = {(t.namespace, t.name): t for t in targets}
    out = []
    for m in manifests:
        target = wanted.get((m.ref.namespace or "", m.ref.name)) if m.ref.kind == "Secret" else None
        if target is None:
            out.append(m)
            continue
        theirs = sorted({r for text in _agekey_texts(m.body) for r in recipients_of_key_text(text)})
        ours = sorted(keyring.recipients)
        if theirs and set(theirs) <= set(ours):
            note(f"{m.source}: {target} in the repository holds the same key as --age-key-file; "
                 "installing the operator's copy only")
            continue
        raise ValidationError(
            f"{m.source}: {target} in the repository holds another age key ({', '.join(theirs) or 'none readable'}) "
            f"than the one given ({', '.join(ours)}); restoring both would overwrite the key Flux decrypts with",
            hint="restore with the key that repository copy holds, or fix the repository",
        )
    return out


def _agekey_texts(body: Mapping) -> list[str]:
    import base64

    texts = []
    for key, value in (body.get("data") or {}).items():
        if str(key).endswith(".agekey") and isinstance(value, str):
            try:
                texts.append(base64.b64decode(value, validate=True).decode("utf-8", errors="replace"))
            except ValueError:
                continue
    texts += [str(v) for k, v in (body.get("stringData") or {}).items() if str(k).endswith(".agekey")]
    return texts


# --- render, validate, plan --------------------------------------------------------------------------------


def render(opts: RestoreOptions, checkout: "Checkout", keyring: "KeyRing", progress: "Progress", *,
           cluster_lookup, extra_kustomizations: tuple[str, ...] = ()) -> "Rendering":
    """Every selected path and Kustomization rendered as Flux would, SOPS decrypted (MACs verified)."""
    from bootstrap.kustomize.artifact import Artifact
    from bootstrap.kustomize.builder import Builder
    from bootstrap.kustomize.kustomizer import find_kustomizer
    from bootstrap.engines.flux.render import RenderRequest, render_repository
    from bootstrap.kustomize.scratch import memory_backed_dir
    from bootstrap.kustomize.secrets import SopsFiles

    paths = normalized_paths(opts)
    for path in opts.paths:
        checkout.resolve(path)  # SourceError (exit 3) for a --path that is not there
    kustomizer = find_kustomizer(opts.kustomize_bin)
    progress.note(f"rendering with {kustomizer.describe()}")
    builder = Builder(
        checkout.root, kustomizer=kustomizer, artifact=Artifact(checkout.root),
        secrets=SopsFiles(checkout.root, keyring, ignore_mac=opts.ignore_mac), excludes=opts.excludes,
        disk_base=checkout.root.parent, memory_base=memory_backed_dir(),
    )
    request = RenderRequest(paths=tuple(paths), kustomizations=(*opts.kustomizations, *extra_kustomizations),
                            source=opts.source, concurrency=4)
    rendering = render_repository(request, builder, cluster=cluster_lookup, notes=progress.note)
    rendering.kustomizer = kustomizer.describe()  # type: ignore[attr-defined]
    for phase in rendering.phases:
        progress.note(f"{phase.name}: {len(phase.manifests)} object(s) from {phase.path or '.'}")
    if rendering.not_selected:
        progress.note(f"{len(rendering.not_selected)} Flux Kustomization(s) left for Flux to reconcile after the "
                      f"hand-over: {', '.join(str(k.key) for k in rendering.not_selected)}")
    if rendering.not_restorable:
        progress.note("not restorable from this repository: "
                      + ", ".join(f"{k.key} ({k.source})" for k in rendering.not_restorable))
    return rendering


def find_playbook(opts: RestoreOptions, checkout: "Checkout"):
    """--playbook, else `dr-bootstrap.yaml` at the first --path that has one."""
    from bootstrap.stages import playbook as pb

    if opts.playbook:
        return pb.load_playbook(Path(opts.playbook), base=opts.path)
    for path in opts.paths:
        found = pb.find_playbook(checkout.resolve(path))
        if found:
            return pb.load_playbook(found, base=path)
    return None


def validate_and_plan(manifests: list[Manifest], playbook, phases: list[tuple[str, str]], *, known_kind,
                      is_namespaced) -> "Plan":
    """Refuse the set unless every object is fit to apply; order it into phases and waves."""
    from bootstrap import manifests as mf
    from bootstrap.stages import plan as planning
    from bootstrap.stages.playbook import rendered_playbook

    mf.validate_manifests(manifests, known_kind=known_kind)
    return planning.build_plan(manifests, playbook or rendered_playbook(phases), is_namespaced=is_namespaced)


def cluster_lookup(get_object: Callable[[ObjectRef], "Mapping | None"] | None):
    """substituteFrom data read from the cluster (None offline: nothing is there to read)."""
    if get_object is None:
        return None
    from bootstrap.engines.flux.postbuild import data_of

    def lookup(kind: str, namespace: str, name: str):
        live = get_object(ObjectRef("v1", kind, namespace, name))
        return data_of(live) if live is not None else None

    return lookup


# --- the stage -----------------------------------------------------------------------------------------------


def prepare(opts: RestoreOptions, run: "Run", checkout: "Checkout", keyring: "KeyRing",
            cluster: "Callable[[], Cluster] | None") -> Prepared:
    """Render, decrypt, validate and plan: every check that needs no write. Raises before anything is applied.

    `cluster` connects and returns the client on first use (rendering needs the cluster only for values
    `substituteFrom` finds nowhere in the restore), or is None (offline)."""
    from bootstrap import repofiles
    from bootstrap.stages.playbook import selected_kustomizations

    if opts.ignore_mac:
        run.progress.warning("--ignore-mac: SOPS MACs are NOT verified; an edited file would be applied")
    with run.phase("render"):
        if not opts.allow_committed_keys:
            committed = repofiles.find_committed_keys(checkout.root)
            if committed:
                raise ValidationError(
                    f"{committed[0]}: the repository contains an age private key (AGE-SECRET-KEY-…)"
                    + (f" and {len(committed) - 1} more file(s)" if len(committed) > 1 else ""),
                    hint="rotate that key; pass --allow-committed-keys to restore anyway",
                )
        playbook = find_playbook(opts, checkout)
        rendering = render(
            opts, checkout, keyring, run.progress,
            cluster_lookup=cluster_lookup((lambda ref: cluster().get(ref)) if cluster else None),
            extra_kustomizations=selected_kustomizations(playbook),
        )
        run.report.kustomize = getattr(rendering, "kustomizer", None)
        run.report.source = f"{rendering.source.ref.namespace}/{rendering.source.ref.name}"
    targets = key_secrets(opts, rendering)
    manifests = drop_repo_key_copies(rendering.manifests, targets, keyring, run.progress.note)
    run.learn_secrets(secret_values(manifests) | set(rendering.secret_values))
    with run.phase("validate"):
        connected = cluster() if cluster else None
        manifests = with_namespace_name_label(manifests)
        plan = validate_and_plan(
            manifests, playbook, [(p.name, p.origin) for p in rendering.phases],
            known_kind=_known_kind(connected),
            is_namespaced=connected.is_namespaced if connected else _offline_namespaced,
        )
    return Prepared(plan=plan, key_secrets=targets, rendering=rendering)


def _known_kind(cluster: "Cluster | None") -> Callable[[str, str], bool | None]:
    """(apiVersion, kind) -> known? From the cluster's discovery; offline, from the built-in kinds (custom
    kinds without a CRD in the set are then marked, not refused: the cluster may have their CRD)."""
    if cluster is not None:
        return lambda av, kind: cluster.resource(av, kind) is not None
    from bootstrap.kube.builtin_kinds import is_builtin

    return lambda av, kind: True if is_builtin(av, kind) else None


def needs_crd(manifests: list[Manifest]) -> Callable[[ObjectRef], bool]:
    """ref -> its kind is neither built in nor defined by a CRD in the set (offline plans say so)."""
    from bootstrap.kube.builtin_kinds import is_builtin
    from bootstrap.stages.plan import crd_kinds

    defined = crd_kinds(manifests)
    return lambda ref: not is_builtin(ref.api_version, ref.kind) and (ref.group, ref.kind) not in defined


def _offline_namespaced(api_version: str, kind: str) -> bool | None:
    from bootstrap.kube.builtin_kinds import namespaced

    return namespaced(api_version, kind)
