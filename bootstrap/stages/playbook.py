"""Playbooks: which objects are restored in which phase, and in what phase order (pure, no I/O but reading);
and which Helm releases are installed before the phases (`spec.helmReleases`, as `--helm`).

A playbook is a small YAML file (see playbooks/README.md).  Each phase selects objects by path globs
(relative to the restore `--path`) and an optional label selector; an object goes to the first phase
in file order that selects it.  Phases run in a topological order of `dependsOn` that keeps the file
order where it is free.  Every mistake is a ValidationError naming the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bootstrap import toposort
from bootstrap.commands.options import helm_release_problem
from bootstrap.repofiles import glob_match
from bootstrap.errors import ValidationError
from bootstrap.manifests import parse_documents
from bootstrap.model import Manifest

API_VERSION = "dr-bootstrap.io/v1alpha1"
PLAYBOOK_FILES = ("dr-bootstrap.yaml", ".dr-bootstrap.yaml")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


@dataclass(frozen=True)
class VerifySpec:
    rollouts: bool = True
    timeout: float | None = None


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        inside = present and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


@dataclass(frozen=True)
class Selector:
    """A Kubernetes label selector (matchLabels AND matchExpressions)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )


@dataclass(frozen=True)
class Phase:
    name: str
    paths: tuple[str, ...] = ("**",)
    selector: Selector | None = None
    depends_on: tuple[str, ...] = ()
    timeout: float | None = None
    verify: VerifySpec = field(default_factory=VerifySpec)
    kustomizations: tuple[str, ...] = ()  # Flux Kustomizations (`name` or `namespace/name`) whose objects it takes

    def selects(self, manifest: Manifest, base: str = ".") -> bool:
        if self.kustomizations and not any(_origin_matches(k, manifest.origin) for k in self.kustomizations):
            return False
        path = _source_path(manifest.source, base) or _source_path(manifest.source, ".")
        if not any(glob_match(pattern, path) for pattern in self.paths):
            return False
        labels = manifest.labels if isinstance(manifest.labels, dict) else {}
        return self.selector is None or self.selector.matches(labels)


def _origin_matches(wanted: str, origin: str) -> bool:
    """A playbook's `kustomizations:` entry against a manifest's rendered origin (`namespace/name` or a path)."""
    return wanted == origin or ("/" not in wanted and origin.rpartition("/")[2] == wanted and origin.count("/") == 1)


@dataclass(frozen=True)
class Playbook:
    """Phases in file order; `ordered()` gives the run order. `base` is the restore --path in the repo."""

    name: str
    phases: tuple[Phase, ...]
    source: str = "(default)"
    base: str = "."
    helm_releases: tuple[str, ...] = ()  # `namespace/name`: Helm releases installed before the phases

    def phase_for(self, manifest: Manifest) -> Phase | None:
        """The first phase (in file order) that selects `manifest`."""
        return next((phase for phase in self.phases if phase.selects(manifest, self.base)), None)

    def ordered(self) -> list[Phase]:
        return topological_phases(self.phases, self.source)


def default_playbook(base: str = ".") -> Playbook:
    """Everything in one phase, used when the repository has no playbook."""
    return Playbook(name="default", phases=(Phase(name="all"),), base=base)


def rendered_playbook(phases_: Sequence[tuple[str, str]]) -> Playbook:
    """Without a playbook: one phase per rendered path or Flux Kustomization, as (name, origin) pairs in order
    (each after the one before it), taking the objects whose Manifest.origin is that phase's."""
    phases = tuple(Phase(name=name, kustomizations=(origin,), depends_on=(phases_[i - 1][0],) if i else ())
                   for i, (name, origin) in enumerate(phases_))
    return Playbook(name="rendered", phases=phases)


def selected_kustomizations(playbook: Playbook | None) -> tuple[str, ...]:
    """The Flux Kustomizations a playbook's phases name: the restore renders them too."""
    if playbook is None:
        return ()
    return tuple(dict.fromkeys(k for phase in playbook.phases for k in phase.kustomizations))


# --- globbing ----------------------------------------------------------------------------------------------


def _source_path(source: str, base: str) -> str | None:
    """A manifest's file relative to `base` (None when outside it); `#…` suffixes dropped. A playbook's
    globs are relative to its --path; a file rendered from outside it (a `../base`, another Kustomization's
    path) is matched by its repository path."""
    path = PurePosixPath(source.split("#", 1)[0])
    base_path = PurePosixPath(base)
    if str(base_path) in ("", "."):
        return str(path)
    try:
        return str(path.relative_to(base_path))
    except ValueError:
        return None


# --- parsing -----------------------------------------------------------------------------------------------


def parse_duration(value: Any, where: str) -> float:
    """Seconds from `90s`, `5m`, `1h30m`, `500ms` or a plain positive number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str) and _DURATION.match(value.strip()):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
        if seconds > 0:
            return seconds
    raise ValidationError(f"{where}: {value!r} is not a duration (like 90s, 5m, 1h30m)")


def _mapping(value: Any, where: str, allowed: set[str], required: Sequence[str] = ()) -> dict:
    if not isinstance(value, dict):
        raise ValidationError(f"{where}: must be a mapping")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise ValidationError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = [key for key in required if key not in value]
    if missing:
        raise ValidationError(f"{where}: missing {', '.join(missing)}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError(f"{where}: must be a list of non-empty strings")
    return tuple(value)


def _selector(value: Any, where: str) -> Selector:
    data = _mapping(value, where, {"matchLabels", "matchExpressions"})
    labels = data.get("matchLabels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise ValidationError(f"{where}.matchLabels: must map label names to string values")
    expressions = data.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise ValidationError(f"{where}.matchExpressions: must be a list")
    requirements = []
    for index, expr in enumerate(expressions):
        here = f"{where}.matchExpressions[{index}]"
        expr = _mapping(expr, here, {"key", "operator", "values"}, ("key", "operator"))
        op, values = expr["operator"], expr.get("values")
        if op not in _OPERATORS:
            raise ValidationError(f"{here}.operator: {op!r} is not one of {', '.join(sorted(_OPERATORS))}")
        if op in ("In", "NotIn") and not values:
            raise ValidationError(f"{here}.values: required for operator {op}")
        if op in ("Exists", "DoesNotExist") and values:
            raise ValidationError(f"{here}.values: must be empty for operator {op}")
        if not isinstance(expr["key"], str) or not expr["key"]:
            raise ValidationError(f"{here}.key: must be a non-empty string")
        requirements.append(Requirement(expr["key"], op, _strings(values, f"{here}.values") if values else ()))
    return Selector(tuple(sorted(labels.items())), tuple(requirements))


def _phase(value: Any, where: str) -> Phase:
    data = _mapping(value, where, {"name", "paths", "selector", "dependsOn", "timeout", "verify", "kustomizations"},
                    ("name",))
    name = data["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"{where}.name: {name!r} is not a lowercase DNS label")
    verify = _mapping(data.get("verify") or {}, f"{where}.verify", {"rollouts", "timeout"})
    if not isinstance(verify.get("rollouts", True), bool):
        raise ValidationError(f"{where}.verify.rollouts: must be true or false")
    timeout = parse_duration(data["timeout"], f"{where}.timeout") if "timeout" in data else None
    verify_timeout = parse_duration(verify["timeout"], f"{where}.verify.timeout") if "timeout" in verify else None
    return Phase(
        name=name,
        paths=_strings(data.get("paths", ["**"]), f"{where}.paths"),
        selector=_selector(data["selector"], f"{where}.selector") if data.get("selector") else None,
        depends_on=_strings(data.get("dependsOn") or [], f"{where}.dependsOn"),
        kustomizations=_strings(data.get("kustomizations") or [], f"{where}.kustomizations"),
        timeout=timeout,
        verify=VerifySpec(rollouts=verify.get("rollouts", True), timeout=verify_timeout or timeout),
    )


def parse_playbook(data: Any, name: str, *, base: str = ".") -> Playbook:
    """A Playbook from parsed YAML; `name` (the file) prefixes every error."""
    doc = _mapping(data, name, {"apiVersion", "kind", "metadata", "spec"}, ("apiVersion", "kind", "spec"))
    if doc["apiVersion"] != API_VERSION or doc["kind"] != "Playbook":
        raise ValidationError(f"{name}: expected apiVersion {API_VERSION} and kind Playbook")
    metadata = _mapping(doc.get("metadata") or {}, f"{name}: metadata", {"name", "labels", "annotations"})
    spec = _mapping(doc["spec"], f"{name}: spec", {"phases", "helmReleases"}, ("phases",))
    if not isinstance(spec["phases"], list) or not spec["phases"]:
        raise ValidationError(f"{name}: spec.phases: must be a non-empty list")
    phases = tuple(_phase(p, f"{name}: spec.phases[{i}]") for i, p in enumerate(spec["phases"]))
    names = [phase.name for phase in phases]
    for index, phase in enumerate(phases):
        if phase.name in names[:index]:
            raise ValidationError(f"{name}: spec.phases[{index}].name: duplicate phase {phase.name!r}")
        for dep in phase.depends_on:
            if dep not in names:
                raise ValidationError(f"{name}: spec.phases[{index}].dependsOn: unknown phase {dep!r}")
    releases = _strings(spec.get("helmReleases") or [], f"{name}: spec.helmReleases")
    for index, release in enumerate(releases):
        problem = helm_release_problem(release)
        if problem:
            raise ValidationError(f"{name}: spec.helmReleases[{index}]: {release!r}: {problem}")
    playbook = Playbook(name=str(metadata.get("name") or PurePosixPath(name).stem), phases=phases, source=name,
                        base=base, helm_releases=releases)
    playbook.ordered()  # refuse cycles now
    return playbook


def load_playbook(path: Path, *, base: str = ".") -> Playbook:
    """Read and parse a playbook file (budgeted YAML parsing, like manifests)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ValidationError(f"{path}: cannot read playbook ({err.strerror or type(err).__name__})") from None
    documents = [doc for doc in parse_documents(data, str(path)) if doc is not None]
    if len(documents) != 1:
        raise ValidationError(f"{path}: a playbook file holds exactly one YAML document")
    return parse_playbook(documents[0], str(path), base=base)


def find_playbook(directory: Path) -> Path | None:
    """`dr-bootstrap.yaml` (or `.dr-bootstrap.yaml`) at the restore --path root, if present."""
    return next((Path(directory) / n for n in PLAYBOOK_FILES if (Path(directory) / n).is_file()), None)


def topological_phases(phases: Sequence[Phase], source: str) -> list[Phase]:
    """Phases ordered so each follows its dependsOn; file order wherever the graph allows."""
    first: dict[str, int] = {}
    for index, phase in enumerate(phases):
        first.setdefault(phase.name, index)

    def after(index: int) -> list[int]:
        for dep in phases[index].depends_on:
            if dep not in first:
                raise ValidationError(f"{source}: spec.phases[{index}].dependsOn: unknown phase {dep!r}")
        return [first[dep] for dep in phases[index].depends_on]

    try:
        return [phases[i] for i in toposort.order(range(len(phases)), after)]
    except toposort.Cycle as cycle:
        raise ValidationError(f"{source}: spec.phases: dependsOn cycle "
                              f"{cycle.render(lambda i: phases[i].name)}") from None
