"""flux-operator's FluxInstance as the root of a Flux repository (pure: no cluster, nothing pulled).

A repository bootstrapped by flux-operator (today's cluster-template, the operator's own docs) keeps no
gotk-sync.yaml in Git: the operator creates the root source and Kustomization from the FluxInstance's
`spec.sync`, and installs the Flux controllers with the FluxInstance's `spec.kustomize.patches` applied to them.
dr-bootstrap finds the FluxInstance in what it renders — as an object (`fluxcd.controlplane.io/v1`), or as the
`spec.values.instance` of a HelmRelease of the flux-instance chart, which maps those values into the
FluxInstance's spec (named by its `fullnameOverride`, `flux`, in the release's namespace) — and makes the same
two objects, so the Kustomizations below them can be found and restored.

What the operator (v0.59: internal/controller fluxinstance_controller, internal/builder templates) does, as
written here:
- both objects are named `spec.sync.name`, else the FluxInstance's namespace, and live in that namespace;
- the source: kind `spec.sync.kind` (GitRepository `source.toolkit.fluxcd.io/v1` with `ref.name` = sync.ref;
  OCIRepository with `ref.tag`; Bucket with `bucketName` and `endpoint`), `url`, `interval` (sync.interval,
  default 1m, written as Go prints a duration), `secretRef.name` = sync.pullSecret, `provider`;
- the Kustomization (`kustomize.toolkit.fluxcd.io/v1`): interval 10m0s, path sync.path, prune true, sourceRef
  the source (kind and name, same namespace);
- both carry the operator's labels (`app.kubernetes.io/managed-by: flux-operator`, `instance`, `part-of`) and
  annotations (`kustomize.toolkit.fluxcd.io/ssa: Ignore`, `…/prune: Disabled`).
dr-bootstrap does not apply them (the operator does, once it runs); they only lead the discovery.

The patches also set kustomize-controller's flags. `--sops-age-secret=NAME` (kustomize-controller 1.7+) makes
the Secret NAME of the controller's namespace the age key of every Kustomization with `decryption.provider:
sops` and no `secretRef` (`default_age_secret`); without it such a Kustomization decrypts nothing, as Flux.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bootstrap.engines.flux.kustomizations import FluxKustomization, Key, parse
from bootstrap.errors import ValidationError
from bootstrap.kustomize.builder import Built
from bootstrap.yamlread import YamlError, read_one

GROUP = "fluxcd.controlplane.io"
KIND = "FluxInstance"
CHART_NAME = "flux"  # the flux-instance chart's fullnameOverride: the FluxInstance it renders
SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket")
KUSTOMIZE_CONTROLLER = "kustomize-controller"
AGE_FLAG = "--sops-age-secret"
DEFAULT_SYNC_INTERVAL = "1m"  # the CRD's default for spec.sync.interval
ROOT_INTERVAL = "10m0s"  # the operator's Kustomization


@dataclass(frozen=True)
class Instance:
    """One FluxInstance found in the rendered set, and what the operator makes of it."""

    namespace: str
    name: str
    found_in: str  # the file, and how it was read (an object, or a HelmRelease's values)
    sync: Mapping[str, Any] | None = field(default=None, compare=False)
    patches: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def sync_name(self) -> str:
        return str((self.sync or {}).get("name") or self.namespace)

    @property
    def pull_secret(self) -> str | None:
        value = (self.sync or {}).get("pullSecret")
        return value if isinstance(value, str) and value else None

    @property
    def url(self) -> str:
        return str((self.sync or {}).get("url") or "")

    def root(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The source and Kustomization the operator creates from spec.sync (None without a sync)."""
        return sync_objects(self) if self.sync else None

    def default_age_secret(self) -> str | None:
        """The Secret `--sops-age-secret` names in kustomize-controller's args, as the patches leave them."""
        return age_secret_flag(self.patches)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def from_object(body: Mapping[str, Any], source: str) -> Instance | None:
    """A FluxInstance object, or a HelmRelease whose values hold the flux-instance chart's `instance.sync`."""
    api_version, kind = str(body.get("apiVersion") or ""), body.get("kind")
    meta = _mapping(body.get("metadata"))
    namespace = str(meta.get("namespace") or "default")
    if kind == KIND and api_version.startswith(GROUP + "/"):
        spec = _mapping(body.get("spec"))
        return _instance(namespace, str(meta.get("name") or ""), f"{source} (FluxInstance)", spec)
    if kind == "HelmRelease" and api_version.startswith("helm.toolkit.fluxcd.io/"):
        spec = _mapping(body.get("spec"))
        values = _mapping(_mapping(spec.get("values")).get("instance"))
        sync = _mapping(values.get("sync"))
        if not sync.get("url"):  # the chart renders spec.sync only when instance.sync.url is set
            return None
        release_namespace = str(spec.get("targetNamespace") or namespace)
        merged = dict(sync)
        merged.setdefault("kind", "GitRepository")  # the chart's defaults
        merged.setdefault("interval", DEFAULT_SYNC_INTERVAL)
        where = f"{source} (HelmRelease {namespace}/{meta.get('name')} spec.values.instance)"
        return _instance(release_namespace, CHART_NAME, where, {"sync": merged, "kustomize": values.get("kustomize")})
    return None


def _instance(namespace: str, name: str, where: str, spec: Mapping[str, Any]) -> Instance:
    sync = spec.get("sync")
    if sync is not None and not isinstance(sync, dict):
        raise ValidationError(f"{where}: spec.sync must be a mapping")
    if sync:
        for required in ("kind", "url", "ref", "path"):
            if not isinstance(sync.get(required), str) or not sync[required]:
                raise ValidationError(f"{where}: spec.sync.{required} is required (a string)")
        if sync["kind"] not in SOURCE_KINDS:
            raise ValidationError(f"{where}: spec.sync.kind {sync['kind']!r} is not one of {', '.join(SOURCE_KINDS)}")
    patches = _mapping(spec.get("kustomize")).get("patches") or []
    if not isinstance(patches, list) or not all(isinstance(p, dict) for p in patches):
        raise ValidationError(f"{where}: spec.kustomize.patches must be a list of patches")
    return Instance(namespace, name, where, sync or None, tuple(patches))


def instances(objects: Iterable[tuple[Mapping[str, Any], str]]) -> list[Instance]:
    """Every FluxInstance among (body, source file) pairs, in order, each once (a later copy replaces one)."""
    found: dict[str, Instance] = {}
    for body, source in objects:
        one = from_object(body, source)
        if one is not None:
            found[one.key] = one
    return list(found.values())


# --- the root the operator creates ----------------------------------------------------------------------------


def sync_objects(instance: Instance) -> tuple[dict[str, Any], dict[str, Any]]:
    sync = instance.sync or {}
    kind, name, namespace = str(sync["kind"]), instance.sync_name, instance.namespace
    where = f"{instance.found_in}: spec.sync.interval"
    source_spec: dict[str, Any] = {"interval": go_duration(str(sync.get("interval") or DEFAULT_SYNC_INTERVAL), where)}
    if kind == "GitRepository":
        source_spec["ref"] = {"name": sync["ref"]}
    elif kind == "OCIRepository":
        source_spec["ref"] = {"tag": sync["ref"]}
    else:
        source_spec["bucketName"] = sync["ref"]
    if instance.pull_secret:
        source_spec["secretRef"] = {"name": instance.pull_secret}
    if sync.get("provider"):
        source_spec["provider"] = sync["provider"]
    source_spec["endpoint" if kind == "Bucket" else "url"] = sync["url"]
    source = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind, "metadata": _meta(name, namespace),
              "spec": source_spec}
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": _meta(name, namespace),
        "spec": {"interval": ROOT_INTERVAL, "path": sync["path"], "prune": True,
                 "sourceRef": {"kind": kind, "name": name}},
    }
    return source, kustomization


def _meta(name: str, namespace: str) -> dict[str, Any]:
    return {
        "name": name, "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "flux-operator", "app.kubernetes.io/instance": namespace,
                   "app.kubernetes.io/part-of": "flux"},
        "annotations": {"kustomize.toolkit.fluxcd.io/ssa": "Ignore", "kustomize.toolkit.fluxcd.io/prune": "Disabled"},
    }


def patched_root_kinds(instance: Instance) -> list[str]:
    """The patches that may also change the root objects (their target names Kustomization or the source's
    kind): the operator applies them; dr-bootstrap does not, and says so."""
    kinds = ("Kustomization", str((instance.sync or {}).get("kind") or ""))
    out = []
    for index, patch in enumerate(instance.patches):
        target = _mapping(patch.get("target"))
        kind = target.get("kind")
        if isinstance(kind, str) and kind and any(_matches(kind, k) for k in kinds):
            out.append(f"spec.kustomize.patches[{index}] (target kind {kind})")
    return out


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def go_duration(text: str, where: str) -> str:
    """A duration as the API server stores a metav1.Duration and Go's time.Duration.String() prints it
    (`1m` → `1m0s`, `1h` → `1h0m0s`, `90s` → `1m30s`, `500ms`)."""
    if not text or _DURATION_PART.sub("", text):
        raise ValidationError(f"{where}: {text!r} is not a duration such as 1m or 1h30m")
    total = 0
    for number, unit in _DURATION_PART.findall(text):
        whole, _, frac = number.partition(".")
        total += int(whole) * _UNIT_NS[unit] + (int(frac) * _UNIT_NS[unit] // 10 ** len(frac) if frac else 0)
    if total == 0:
        return "0s"
    if total < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if total >= size:
                return _fraction(total, size) + unit
    hours, rest = divmod(total, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _fraction(rest, 10**9) + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    return f"{minutes}m{seconds}" if minutes else seconds


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


# --- kustomize-controller's --sops-age-secret, as the patches set it -------------------------------------------


def _matches(pattern: str, value: str) -> bool:
    """A kustomize patch target field: a regular expression matched against the whole value."""
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return pattern == value


def _targets_kustomize_controller(patch: Mapping[str, Any], body: Any) -> bool:
    target = patch.get("target")
    if isinstance(target, dict):
        kind, name = target.get("kind"), target.get("name")
        return ((not kind or _matches(str(kind), "Deployment"))
                and (not name or _matches(str(name), KUSTOMIZE_CONTROLLER)))
    meta = _mapping(_mapping(body).get("metadata"))  # a strategic merge patch names its object
    return _mapping(body).get("kind") == "Deployment" and meta.get("name") == KUSTOMIZE_CONTROLLER


def _args_of(body: Any) -> list[str]:
    """The container args a patch adds or sets: JSON 6902 operations' values, or a strategic merge patch's
    containers[].args."""
    out: list[str] = []
    if isinstance(body, list):
        for op in body:
            if isinstance(op, dict) and op.get("op") in ("add", "replace") and "/args" in str(op.get("path", "")):
                value = op.get("value")
                out += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    elif isinstance(body, dict):
        template = _mapping(_mapping(_mapping(body.get("spec")).get("template")).get("spec"))
        for container in template.get("containers") or []:
            if isinstance(container, dict) and container.get("name") in (None, "manager"):
                out += [a for a in container.get("args") or [] if isinstance(a, str)]
    return out


def age_secret_flag(patches: Iterable[Mapping[str, Any]]) -> str | None:
    """The last `--sops-age-secret` value the patches give kustomize-controller (Go's flag package keeps the
    last), or None when none does."""
    found: str | None = None
    for patch in patches:
        text = patch.get("patch")
        if not isinstance(text, str):
            continue
        try:
            body = read_one(text)
        except YamlError:
            continue
        if not _targets_kustomize_controller(patch, body):
            continue
        args = _args_of(body)
        for index, arg in enumerate(args):
            flag, sep, value = arg.partition("=")
            if flag.lstrip("-") != AGE_FLAG.lstrip("-"):
                continue
            if not sep and index + 1 < len(args):
                value = args[index + 1]
            found = value or None
    return found


# --- the hooks the discovery calls (engines.flux.render) -------------------------------------------------------

ROOT_FOUND_IN = "made by flux-operator from "


def root_kustomization(body: Mapping[str, Any], source: str) -> FluxKustomization | None:
    """The root Kustomization flux-operator makes from a FluxInstance in a build (None for any other object)."""
    found = from_object(body, source)
    made = found.root() if found is not None else None
    if made is None:
        return None
    return parse(made[1], f"{ROOT_FOUND_IN}FluxInstance {found.key} ({found.found_in})")


def roots(built: Built) -> list[FluxKustomization]:
    """The root Kustomizations of the FluxInstances in a build (`render.discover` adds them to what it knows)."""
    return [k for doc in built.documents if (k := root_kustomization(doc.body, doc.source)) is not None]


def is_root(k: FluxKustomization) -> bool:
    return k.found_in.startswith(ROOT_FOUND_IN)


def late_root(path: str, known: Mapping[Key, FluxKustomization], ours: Callable[[FluxKustomization], bool]
              ) -> FluxKustomization | None:
    """The root of this source that points at the entry path `path`, when it was found only below an entry
    path (cluster-template: `--path kubernetes/flux/cluster`, the FluxInstance in a child): that entry path is
    its phase, as if the root had been found first."""
    return next((k for k in known.values() if is_root(k) and ours(k) and k.path == path), None)


# --- what the engine says and checks about them (engines.flux.engine) ------------------------------------------

SSH_KEYS = ("identity", "known_hosts")  # source-controller's keys for a Git repository over SSH


def is_ssh(url: str) -> bool:
    """An SSH Git URL: ssh://… or the scp-like user@host:path form."""
    return url.startswith("ssh://") or (re.match(r"^[^/@:]+@[^/:]+:", url) is not None)


@dataclass(frozen=True)
class Review:
    """The FluxInstances of a rendering: the default age Secret their patches set (namespace, name, why)."""

    instances: tuple[Instance, ...]
    default_age: tuple[str, str, str] | None


def review(objects: list[tuple[Mapping[str, Any], str]], roots_restored: Iterable[str],
           secret_data: Callable[[str, str], Mapping[str, Any] | None], notes: Callable[[str], None]) -> Review:
    """Notes for every FluxInstance found (the root it stands for, the default age Secret its patches set) and
    the pullSecret check: the Secret `spec.sync.pullSecret` names must be restored (or already be in the
    cluster: `secret_data(namespace, name)` gives its data keys, None when absent), and hold `identity` and
    `known_hosts` for an SSH URL — else a ValidationError (exit 4, before anything is written): the operator
    would create a source that can never fetch, and the hand-over would wait for nothing."""
    found = instances(objects)
    default_age = None
    restored = set(roots_restored)
    for one in found:
        made = one.root()
        if made is not None:
            source, ks = made
            taken = "the root of this restore" if f"{one.namespace}/{one.sync_name}" in restored else "found"
            notes(f"FluxInstance {one.key} ({one.found_in}): flux-operator makes {source['kind']} "
                  f"{one.namespace}/{one.sync_name} ({one.url}, ref {one.sync['ref']}) and Kustomization "
                  f"{one.namespace}/{one.sync_name} (path {ks['spec']['path']}) from spec.sync; {taken}, left to "
                  "the operator to create (not applied)")
            for patch in patched_root_kinds(one):
                notes(f"FluxInstance {one.key}: {patch} may change the root objects; the operator applies it, "
                      "dr-bootstrap's discovery does not")
            _check_pull_secret(one, secret_data)
        age = one.default_age_secret()
        if age and default_age is None:
            default_age = (one.namespace, age, f"kustomize-controller {AGE_FLAG}={age} (FluxInstance {one.key} "
                                               "spec.kustomize.patches)")
    return Review(tuple(found), default_age)


def _check_pull_secret(one: Instance, secret_data: Callable[[str, str], Mapping[str, Any] | None]) -> None:
    name = one.pull_secret
    if name is None:
        return
    data = secret_data(one.namespace, name)
    where = f"FluxInstance {one.key} ({one.found_in}): spec.sync.pullSecret {name}"
    if data is None:
        raise ValidationError(
            f"{where}: Secret {one.namespace}/{name} is neither restored by this run nor in the cluster; "
            f"flux-operator's {one.sync['kind']} could never fetch {one.url}",
            hint="restore the path that holds the deploy-key Secret (cluster-template: bootstrap/, "
                 "github-deploy-key.sops.yaml) with --path, or create it first")
    if one.sync.get("kind") == "GitRepository" and is_ssh(one.url):
        missing = [key for key in SSH_KEYS if key not in data]
        if missing:
            raise ValidationError(
                f"{where}: Secret {one.namespace}/{name} has no {' and no '.join(missing)} for the SSH URL "
                f"{one.url} (source-controller needs {' and '.join(SSH_KEYS)})",
                hint="add known_hosts (ssh-keyscan of the Git host) to the deploy-key Secret")
