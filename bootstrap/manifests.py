"""Kubernetes objects before anything is written: safe YAML parsing, identity, and validation.

The render stage (`bootstrap.kustomize`) produces the objects with the real kustomize; this module checks them.
Parsing (`bootstrap.yamlread`, the one YAML reader) is budgeted (YAML bombs, deep nesting and huge files are
refused fast) for the files dr-bootstrap reads itself (kustomization files, playbooks). Bad input only ever
raises `ValidationError` (exit 4); messages name the file, object and key, never a value. Several problems make one error: a summary by cause
(`bootstrap.problems`) with every problem in its details.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bootstrap import placeholders
from bootstrap.gostd import b64decode
from bootstrap.errors import ValidationError
from bootstrap.model import Manifest, ObjectRef
from bootstrap.problems import Problem, in_order, summarize
from bootstrap.yamlread import Limits, YamlError, read_all  # noqa: F401 - Limits is this module's too

KnownKind = Callable[[str, str], "bool | None"]  # (apiVersion, kind) -> known to the cluster? None: cannot tell

_ENV_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MAX_OBJECT_BYTES = 3 * 1024 * 1024  # kube-apiserver refuses a request body larger than this (413)
_UNRESOLVED = re.compile(r"\$\{[^}]*\}?|\$[_a-zA-Z][_a-zA-Z0-9]*")


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


# --- parsing ---------------------------------------------------------------------------------------------


def _check_budget(data: Any, where: str, limits: Limits) -> None:
    """JSON's budget: the nodes and depth of the parsed data (YAML's is counted as it is read)."""
    stack = [(data, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > limits.max_nodes:
            raise ValidationError(f"{where}: more than {limits.max_nodes} nodes (huge document)")
        if depth > limits.max_depth:
            raise ValidationError(f"{where}: nested deeper than {limits.max_depth} levels")
        if isinstance(node, dict):
            stack.extend((part, depth + 1) for pair in node.items() for part in pair)
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def parse_documents(data: bytes, where: str, fmt: str = "yaml", limits: Limits = Limits(), *,
                    construct: bool = True) -> list[Any]:
    """Parse YAML (multi-document, read as Flux reads it: `bootstrap.yamlread`) or JSON text safely; any
    problem is a ValidationError naming `where` and keeping the parser's cause.

    `construct=False` only checks (syntax, size, node budget) and returns []: for a file that the SOPS
    store parses anyway, a YAML bomb is refused before it does, without building the documents twice."""
    if len(data) > limits.max_file_bytes:
        raise ValidationError(f"{where}: larger than {limits.max_file_bytes} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{where}: not UTF-8 text") from None
    if fmt == "json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValidationError(f"{where}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
        except (ValueError, RecursionError):
            raise ValidationError(f"{where}: not valid JSON: nested too deeply or out of range") from None
        _check_budget(document, where, limits)
        return [document]
    try:
        return read_all(text, limits, build=construct)
    except YamlError as err:
        raise ValidationError(f"{where}: {err}" if err.budget else f"{where}: not valid YAML: {err}") from None


def ref_of(body: dict) -> ObjectRef:
    """The object's identity as written (namespace None when absent); types are checked by validation."""
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    namespace = metadata.get("namespace")
    return ObjectRef(
        api_version=str(body.get("apiVersion", "")),
        kind=str(body.get("kind", "")),
        namespace=str(namespace) if namespace else None,
        name=str(metadata.get("name") or ""),
    )


# --- validation ------------------------------------------------------------------------------------------


def _encrypted_paths(body: Any) -> Iterator[str]:
    """Dotted paths of string values still holding `ENC[` (the values themselves are never shown)."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((f"{path}.{key}" if path else str(key), value) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", value) for index, value in enumerate(node))
        elif isinstance(node, str) and "ENC[" in node:
            yield path


def _object_problems(manifest: Manifest) -> Iterator[Problem | str]:
    """The object's problems: a `Problem` when its cause is one `bootstrap.problems` groups, else the line."""
    body, where = manifest.body, f"{manifest.source}: {manifest.ref}"
    for key in ("apiVersion", "kind"):
        if not isinstance(body.get(key), str) or not body.get(key):
            yield f"{manifest.source}: {key} missing or not a string"
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        yield f"{manifest.source}: metadata missing or not a mapping"
        metadata = {}
    if not isinstance(metadata.get("name"), str) or not metadata.get("name"):
        yield f"{manifest.source}: metadata.name missing or not a string"
    if "namespace" in metadata and not isinstance(metadata["namespace"], str):
        yield f"{where}: metadata.namespace is not a string"
    for key in ("name", "namespace"):
        value = metadata.get(key)
        if isinstance(value, str) and _UNRESOLVED.search(value):
            yield Problem(f"{manifest.source}: {body.get('kind')} metadata.{key} {value!r} still holds a variable "
                          "after postBuild substitution (is it defined in substitute/substituteFrom?)", "variable")
    size = len(json.dumps(body, separators=(",", ":"), default=str).encode())
    if size > MAX_OBJECT_BYTES:
        yield f"{where}: {size} bytes, more than the API server accepts in one request ({MAX_OBJECT_BYTES})"
    if "sops" in body:
        yield Problem(f"{where}: SOPS metadata left in the object (file not decrypted?)", "encrypted")
    for path in sorted(_encrypted_paths(body)):
        yield Problem(f"{where}: {path} is still encrypted (ENC[...])", "encrypted")
    if body.get("kind") == "Secret" and body.get("apiVersion") == "v1":
        yield from _secret_problems(body, where)
    if body.get("kind") == "ConfigMap" and body.get("apiVersion") == "v1":
        yield from _configmap_problems(body, where)


def _configmap_problems(body: dict, where: str) -> Iterator[str]:
    """The API server takes only strings in a ConfigMap (a `${VAR}` substituted to `1` or `true` unquoted is
    a number or a boolean, which it refuses at apply time, after earlier waves were written)."""
    for field_name in ("data", "binaryData"):
        values = body.get(field_name)
        if values is None:
            continue
        if not isinstance(values, dict):
            yield f"{where}: {field_name} is not a mapping"
            continue
        for key, value in values.items():
            if not isinstance(value, str):
                yield (f"{where}: {field_name}.{key} is {type(value).__name__}, not a string "
                       "(quote it in the manifest)")


def _secret_problems(body: dict, where: str) -> Iterator[str]:
    for field_name in ("data", "stringData"):
        values = body.get(field_name)
        if values is None:
            continue
        if not isinstance(values, dict):
            yield f"{where}: {field_name} is not a mapping"
            continue
        for key, value in values.items():
            if not isinstance(key, str) or not _ENV_KEY.match(key):
                yield f"{where}: {field_name} key {key!r} is not a valid Secret key"
            if field_name == "stringData":
                if not isinstance(value, str):
                    yield f"{where}: stringData.{key} is not a string"
                continue
            try:
                b64decode(value if isinstance(value, str) else "!")
            except ValueError:
                plugin = placeholders.plugin_of(value, bare=placeholders.bare_allowed(body)) \
                    if isinstance(value, str) else None
                if plugin:
                    yield (f"{where}: data.{key} is a placeholder that {plugin} fills when Argo CD renders it, "
                           "not a value to apply")
                else:
                    yield f"{where}: data.{key} is not valid base64"


def _crd_versions(manifests: Iterable[Manifest]) -> dict[tuple[str, str], set[str]]:
    """(group, kind) -> served versions, for every CRD in the set."""
    defined: dict[tuple[str, str], set[str]] = {}
    for manifest in manifests:
        if manifest.ref.kind != "CustomResourceDefinition":
            continue
        spec = manifest.body.get("spec") if isinstance(manifest.body.get("spec"), dict) else {}
        names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
        versions = spec.get("versions") if isinstance(spec.get("versions"), list) else []
        served = {str(v.get("name")) for v in versions if isinstance(v, dict) and v.get("served", True)}
        if isinstance(spec.get("version"), str):
            served.add(spec["version"])
        defined.setdefault((str(spec.get("group")), str(names.get("kind"))), set()).update(served)
    return defined


def _kind_problems(manifests: list[Manifest], known_kind: KnownKind) -> Iterator[Problem]:
    crds = _crd_versions(manifests)
    verdicts: dict[tuple[str, str], bool | None] = {}
    for manifest in manifests:
        ref = manifest.ref
        if not ref.api_version or not ref.kind:
            continue
        key = (ref.api_version, ref.kind)
        if key not in verdicts:
            verdicts[key] = known_kind(*key)
        if verdicts[key] is not False:
            continue
        version = ref.api_version.rpartition("/")[2]
        served = crds.get((ref.group, ref.kind))
        if served is not None and version in served:
            continue
        if served is not None:
            yield Problem(f"{manifest.source}: {ref}: CRD for {ref.group_kind} does not serve version {version}",
                          "crd-version", ref.group_kind)
        elif "." in ref.group:
            yield Problem(f"{manifest.source}: {ref}: no CRD defines {ref.group_kind}", "no-crd", ref.group_kind)
        else:
            yield Problem(f"{manifest.source}: {ref}: unknown apiVersion/kind {ref.api_version} {ref.kind}",
                          "unknown-kind", ref.group_kind)


def validate_manifests(manifests: list[Manifest], *, known_kind: KnownKind | None = None) -> None:
    """Refuse the set unless every object is fit to apply: a ValidationError naming the one problem, or for
    several a summary by cause and the fix, with every problem in its details."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str, str, str], Manifest] = {}
    for manifest in manifests:
        problems.extend(p if isinstance(p, Problem) else Problem(p) for p in _object_problems(manifest))
        ref = manifest.ref
        # Twice in one phase is an error; in two phases it is how Flux repos are built (a Kustomization that
        # renders the directory holding its own definition and GitRepository): each phase applies it, as
        # each Kustomization does, and the later one's form is what Flux keeps.
        identity = (manifest.origin, ref.group, ref.kind, ref.namespace or "default", ref.name)
        if identity in seen and ref.name:
            problems.append(Problem(f"{ref}: defined twice, in {seen[identity].source} and {manifest.source}",
                                    "duplicate"))
        seen.setdefault(identity, manifest)
    if known_kind is not None:
        problems.extend(_kind_problems(manifests, known_kind))
    if len(problems) == 1:
        raise ValidationError(problems[0].text)
    if problems:
        message, hint = summarize("manifests are not valid", problems)
        raise ValidationError(message, hint=hint, details=[p.text for p in in_order(problems)])
