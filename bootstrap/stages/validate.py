"""The validate stage: the rendered set made fit to apply, and ordered. Read-only; the last stage `plan` runs.

In: the `Rendered` set, the playbook, the key ring, where the key goes (`KeyOptions`), and a way to the
cluster (None offline: kinds and scopes then come from the built-in tables). Out: `Validated`: the `Plan`
(phases and waves) and the key Secrets. Refuses the whole set, before the first write, when one object is
not fit: every problem is in the error's details.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bootstrap import manifests as mf
from bootstrap.commands.options import DEFAULT_KEY_SECRET
from bootstrap.gostd import b64decode
from bootstrap.errors import ValidationError
from bootstrap.model import Manifest, ObjectRef
from bootstrap.stages.keys import recipients_of_key_text
from bootstrap.stages.playbook import rendered_playbook

if TYPE_CHECKING:
    from bootstrap.commands.options import RestoreOptions
    from bootstrap.engines.base import PromisedKinds, Rendered
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run
    from bootstrap.stages.keys import KeyRing
    from bootstrap.stages.order import Plan
    from bootstrap.stages.playbook import Playbook

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every Namespace


@dataclass(frozen=True)
class KeySecret:
    """Where the age key is installed: the Secret and the data key the engine reads it from."""

    namespace: str
    name: str
    key: str
    why: str  # --key-secret, or the engine's objects that name it
    engine_key: bool = False  # `key` is the file name the engine's own objects read (Flux's *.agekey rule is moot)

    def __str__(self) -> str:
        return f"Secret/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class KeyOptions:
    secret: tuple[str, str]  # --key-secret
    key: str  # --key-secret-key
    # the engine's key targets replace --key-secret's default (an engine other than Flux reads the key
    # elsewhere), and a --key-secret given replaces them: None for Flux, where both are kept
    overridden: bool | None = None

    @classmethod
    def of(cls, opts: RestoreOptions) -> KeyOptions:
        given = opts.key_secret != DEFAULT_KEY_SECRET
        return cls(opts.key_secret_ref(), opts.key_secret_key, None if opts.engine == "flux" else given)


@dataclass
class Validated:
    """A validated plan and where the key goes. The values to scrub went to the run's scrubber as the render
    decrypted them (`scrub.Learner`): nothing is learned here, least of all a plaintext Secret's values."""

    plan: Plan
    key_secrets: list[KeySecret] = field(default_factory=list)
    promised: PromisedKinds | None = None  # kinds a Helm release installs through the engine's operator


def validate(rendered: Rendered, playbook: Playbook | None, keyring: KeyRing, key: KeyOptions, run: Run,
             connect: Callable[[], Cluster] | None, promised: PromisedKinds | None = None) -> Validated:
    """The `validate` phase. `connect` returns the cluster, connecting on first use (None offline).
    `promised`: kinds a Helm release installed before the phases makes known (the engine's, through its
    operator): taken as known and of their scope where the cluster does not know them yet."""
    targets = key_secrets(key, rendered)
    manifests = drop_repo_key_copies(rendered.manifests, targets, keyring, run.progress.note)
    with run.phase("validate"):
        cluster = connect() if connect else None
        known_kind = _known_kind(cluster)
        is_namespaced = cluster.is_namespaced if cluster else _offline_namespaced
        if promised is not None:
            known_kind, is_namespaced = with_promised(promised, known_kind, is_namespaced)
        plan = validate_and_plan(
            with_namespace_name_label(manifests), playbook, [(p.name, p.origin) for p in rendered.phases],
            known_kind=known_kind, is_namespaced=is_namespaced, offline=cluster is None,
        )
        if promised is not None:
            deferred = promised_refs(plan.manifests, promised, is_known=cluster.resource if cluster else None)
            if deferred:
                run.progress.note(f"{len(deferred)} object(s) of kinds no CRD defines yet come after {promised.why}: "
                                  "validated against it, applied once it is Ready")
        if cluster is None:
            warn_unknown_scope(plan, run.progress.note)
    return Validated(plan=plan, key_secrets=targets, promised=promised)


def with_promised(promised: PromisedKinds, known_kind: Callable[[str, str], bool | None],
                  is_namespaced: Callable[[str, str], bool | None]):
    """`known_kind` and `is_namespaced` that also know the promised kinds (where they themselves do not)."""
    def known(api_version: str, kind: str) -> bool | None:
        verdict = known_kind(api_version, kind)
        return True if not verdict and promised.covers(api_version, kind) else verdict

    def namespaced(api_version: str, kind: str) -> bool | None:
        verdict = is_namespaced(api_version, kind)
        return promised.namespaced if verdict is None and promised.covers(api_version, kind) else verdict

    return known, namespaced


def promised_refs(manifests: list[Manifest], promised: PromisedKinds,
                  is_known: Callable[[str, str], object] | None) -> list[ObjectRef]:
    """The objects of promised kinds that `is_known` (the cluster's discovery) does not know yet."""
    return [m.ref for m in manifests if promised.covers(m.ref.api_version, m.ref.kind)
            and (is_known is None or is_known(m.ref.api_version, m.ref.kind) is None)]


def warn_unknown_scope(plan: Plan, note: Callable[[str], None], shown: int = 3) -> None:
    """Offline, objects without a namespace whose kind has no CRD in the set and is not built in: kustomize
    and Flux leave them as written, so does the plan; the cluster's discovery decides when they are applied
    (into `default` if the CRD says Namespaced)."""
    refs = sorted(str(ref) for ref in plan.unknown_scope)
    if refs:
        more = f", and {len(refs) - shown} more" if len(refs) > shown else ""
        note(f"warning: {len(refs)} object(s) without a namespace whose kind has no CRD in the set: scope unknown "
             f"until the CRD is seen, left without a namespace as Flux leaves them ({', '.join(refs[:shown])}{more})")


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


def key_secrets(key: KeyOptions, rendered: Rendered) -> list[KeySecret]:
    """--key-secret, plus every distinct Secret the engine reads the key from in the rendered set."""
    found: dict[tuple[str, str], list[str]] = {key.secret: ["--key-secret"]}
    data_keys: dict[tuple[str, str], str] = {}
    if key.overridden is True:  # --key-secret given: the engine's targets are left out
        return [KeySecret(*key.secret, key.key, "--key-secret (given: replaces where the engine reads the key)")]
    if key.overridden is False and rendered.key_targets:
        found = {}
    for target in rendered.key_targets:
        found.setdefault((target.namespace, target.name), []).append(target.why)
        if target.key and (target.namespace, target.name) != key.secret:
            data_keys.setdefault((target.namespace, target.name), target.key)
    return [KeySecret(n, s, data_keys.get((n, s), key.key), ", ".join(why), engine_key=(n, s) in data_keys)
            for (n, s), why in found.items()]


def drop_repo_key_copies(manifests: list[Manifest], targets: list[KeySecret], keyring: KeyRing,
                         note: Callable[[str], None]) -> list[Manifest]:
    """The repository's own copy of a key Secret (often SOPS-encrypted under `sops.agekey`): left out when it
    holds the operator's key; a stop (before any write) when it holds another, naming both recipients."""
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
            f"than the one given ({', '.join(ours)}); restoring both would overwrite the key the GitOps engine decrypts with",
            hint="restore with the key that repository copy holds, or fix the repository",
        )
    return out


def _agekey_texts(body: Mapping) -> list[str]:
    texts = []
    for key, value in (body.get("data") or {}).items():
        if str(key).endswith(".agekey") and isinstance(value, str):
            try:
                texts.append(b64decode(value).decode("utf-8", errors="replace"))
            except ValueError:
                continue
    texts += [str(v) for k, v in (body.get("stringData") or {}).items() if str(k).endswith(".agekey")]
    return texts


def validate_and_plan(manifests: list[Manifest], playbook: Playbook | None, phases: list[tuple[str, str]], *,
                      known_kind, is_namespaced, offline: bool = False) -> Plan:
    """Refuse the set unless every object is fit to apply; order it into phases and waves."""
    from bootstrap.stages import order as planning  # deferred: clone (restore loads it while git clones)

    mf.validate_manifests(manifests, known_kind=known_kind)
    return planning.build_plan(manifests, playbook or rendered_playbook(phases), is_namespaced=is_namespaced,
                               offline=offline)


def _known_kind(cluster: Cluster | None) -> Callable[[str, str], bool | None]:
    """(apiVersion, kind) -> known? From the cluster's discovery; offline, from the built-in kinds (custom
    kinds without a CRD in the set are then marked, not refused: the cluster may have their CRD)."""
    if cluster is not None:
        return lambda av, kind: cluster.resource(av, kind) is not None
    from bootstrap.kube.builtin_kinds import is_builtin  # deferred: clone (a plan loads kube after its clone)

    return lambda av, kind: True if is_builtin(av, kind) else None


def needs_crd(manifests: list[Manifest]) -> Callable[[ObjectRef], bool]:
    """ref -> its kind is neither built in nor defined by a CRD in the set (offline plans say so)."""
    # deferred: clone (the kube client and the planner: a plan loads them after its clone)
    from bootstrap.kube.builtin_kinds import is_builtin
    from bootstrap.stages.order import crd_kinds

    defined = crd_kinds(manifests)
    return lambda ref: not is_builtin(ref.api_version, ref.kind) and (ref.group, ref.kind) not in defined


def _offline_namespaced(api_version: str, kind: str) -> bool | None:
    from bootstrap.kube.builtin_kinds import namespaced  # deferred: clone (a plan loads kube after its clone)

    return namespaced(api_version, kind)
