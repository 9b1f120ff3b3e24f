"""Load Kubernetes objects from a checked-out repository and validate them before anything is written.

Loading walks `root/subdir` in sorted order, parses YAML/JSON with a node budget (YAML bombs, deep
nesting and huge files are refused fast), hands SOPS-encrypted files to the caller's `decrypt`
callable (this module never imports the decryptor) and expands kustomize `secretGenerator`s into
Secrets.  Everything that is not a Kubernetes object is listed in `LoadResult.skipped` with a reason.

Bad input only ever raises `ValidationError` (exit 4).  Messages name the file, object and key,
never a value.

Kustomize hash suffixes are not computed: a secretGenerator must set `disableNameSuffixHash: true`
(in `options` or `generatorOptions`), because references to hashed names are not rewritten here.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from bootstrap.errors import ValidationError
from bootstrap.model import Manifest, ObjectRef

Decryptor = Callable[[str, bytes, str], list[dict]]  # (repo-relative path, file bytes, fmt) -> documents
EncryptedCheck = Callable[[bytes, str], bool]  # (file bytes, fmt) -> is it SOPS-encrypted?
KnownKind = Callable[[str, str], "bool | None"]  # (apiVersion, kind) -> known to the cluster? None: cannot tell

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
PLAYBOOK_NAMES = ("dr-bootstrap.yaml", ".dr-bootstrap.yaml")
_ENV_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader (C when available) that keeps timestamps as strings, as kubectl does."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


@dataclass(frozen=True)
class Limits:
    """Per-file bounds that make hostile input fail fast with bounded memory."""

    max_file_bytes: int = 8 * 1024 * 1024
    max_nodes: int = 500_000  # YAML nodes visited, every alias expansion counted again
    max_depth: int = 100


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class LoadResult:
    manifests: list[Manifest] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    encrypted_files: list[str] = field(default_factory=list)


# --- parsing ---------------------------------------------------------------------------------------------


def file_format(path: str) -> str:
    """SOPS store for a file name: yaml, json, dotenv, ini or binary."""
    suffix = PurePosixPath(path).suffix.lower()
    return {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv", ".ini": "ini"}.get(suffix, "binary")


def _check_budget(nodes: Iterable[Any], where: str, limits: Limits, spent: int = 0) -> int:
    """Walk composed YAML nodes (or plain data) with a budget; aliases are counted at every use.

    Returns the nodes counted so far (`spent` included), so a multi-document file shares one budget.
    """
    stack = [(node, 1) for node in nodes]
    seen = spent
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > limits.max_nodes:
            raise ValidationError(
                f"{where}: more than {limits.max_nodes} nodes after alias expansion (YAML bomb or huge document)"
            )
        if depth > limits.max_depth:
            raise ValidationError(f"{where}: nested deeper than {limits.max_depth} levels")
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend((part, depth + 1) for pair in node.value for part in pair)
        elif isinstance(node, dict):
            stack.extend((part, depth + 1) for pair in node.items() for part in pair)
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return seen


def parse_documents(data: bytes, where: str, fmt: str = "yaml", limits: Limits = Limits(), *,
                    construct: bool = True) -> list[Any]:
    """Parse YAML (multi-document) or JSON text safely; any problem is a ValidationError naming `where`.

    `construct=False` only checks (syntax, size, node budget) and returns []: for a file that the SOPS
    store parses anyway, a YAML bomb is refused before it does, without building the documents twice."""
    if len(data) > limits.max_file_bytes:
        raise ValidationError(f"{where}: larger than {limits.max_file_bytes} bytes")
    try:
        text = data.decode("utf-8-sig")
        if fmt == "json":
            documents = [json.loads(text)]
            _check_budget(documents, where, limits)
            return documents
        loader = _Loader(text)
        try:
            nodes, spent = [], 0
            while loader.check_node():
                nodes.append(loader.get_node())
                spent = _check_budget(nodes[-1:], where, limits, spent)
            return [loader.construct_document(node) for node in nodes] if construct else []
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise ValidationError(f"{where}: not UTF-8 text") from None
    except (yaml.YAMLError, ValueError) as err:
        raise ValidationError(f"{where}: not valid {fmt.upper()}: {_first_line(err)}") from None
    except RecursionError:
        raise ValidationError(f"{where}: nested too deeply") from None


def _first_line(err: Exception) -> str:
    """The parser's complaint without the quoted source snippet (which could hold a value)."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{err.problem or err.context or 'syntax error'}{where}"
    if isinstance(err, json.JSONDecodeError):
        return f"{err.msg} at line {err.lineno}, column {err.colno}"
    return type(err).__name__


def has_sops_metadata(documents: Iterable[Any]) -> bool:
    """A top-level `sops` mapping carrying `mac` or `lastmodified` (YAML/JSON/binary stores)."""
    return any(
        isinstance(doc, dict)
        and isinstance(doc.get("sops"), dict)
        and ("mac" in doc["sops"] or "lastmodified" in doc["sops"])
        for doc in documents
    )


def _looks_encrypted(data: bytes, fmt: str, where: str, limits: Limits) -> bool:
    """Default SOPS detection for files that are not YAML/JSON manifests (env, ini, binary)."""
    if fmt == "dotenv":
        return bool(re.search(rb"^sops_(mac|lastmodified)=", data, re.MULTILINE))
    if fmt == "ini":
        return bool(re.search(rb"^\[sops\]", data, re.MULTILINE))
    if fmt in ("yaml", "json") or data.lstrip()[:1] == b"{":
        try:
            return has_sops_metadata(parse_documents(data, where, "json" if fmt == "binary" else fmt, limits))
        except ValidationError:
            return False if fmt == "binary" else True  # unparsable YAML/JSON is reported when it is loaded
    return False


# --- walking ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    root: Path
    decrypt: Decryptor
    is_encrypted: EncryptedCheck | None
    limits: Limits

    def rel(self, path: Path) -> str:
        text, root = str(path), str(self.root)
        if text.startswith(root) and text[len(root):len(root) + 1] == os.sep:  # the walk's paths: no pathlib cost
            return text[len(root) + 1:].replace(os.sep, "/")
        return path.relative_to(self.root).as_posix()

    def read(self, path: Path) -> bytes:
        """File bytes, refusing symlinks that leave the repository and oversized files."""
        rel = self.rel(path)
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(self.root):
                raise ValidationError(f"{rel}: symlink points outside the repository; refused")
            path = target
        try:
            if path.stat().st_size > self.limits.max_file_bytes:
                raise ValidationError(f"{rel}: larger than {self.limits.max_file_bytes} bytes")
            return path.read_bytes()
        except OSError as err:
            raise ValidationError(f"{rel}: cannot read ({err.strerror or type(err).__name__})") from None

    def encrypted(self, data: bytes, fmt: str, rel: str) -> bool:
        if self.is_encrypted is not None:
            return self.is_encrypted(data, fmt)
        return _looks_encrypted(data, fmt, rel, self.limits)

    def decrypted(self, rel: str, data: bytes, fmt: str, *, checked: bool = False) -> list[Any]:
        """The file's documents, decrypted. `checked`: its bytes already passed `parse_documents`, whose node
        budget (aliases expanded) bounds the decrypted documents too, since decryption changes scalars only."""
        documents = self.decrypt(rel, data, fmt)
        if not isinstance(documents, list):
            raise ValidationError(f"{rel}: decryption returned no documents")
        if not checked:
            _check_budget(documents, rel, self.limits)
        return documents


def _walk(top: Path, ctx: _Context, skipped: list[Skipped]) -> Iterator[Path]:
    """Files under `top` in sorted order; `.git` ignored, symlinked directories listed and not entered."""
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                skipped.append(Skipped(ctx.rel(here / name), "symlinked directory not followed"))
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and not (here / d).is_symlink())
        yield from (here / name for name in sorted(filenames))


def load_manifests(
    root: Path,
    *,
    decrypt: Decryptor,
    subdir: str = ".",
    is_encrypted: EncryptedCheck | None = None,
    limits: Limits = Limits(),
) -> LoadResult:
    """Every Kubernetes object under `root/subdir`, decrypted, plus what was skipped and why."""
    root = Path(root).resolve()
    top = (root / subdir).resolve()
    if not top.is_relative_to(root) or not top.is_dir():
        raise ValidationError(f"{subdir}: not a directory inside the repository")
    ctx = _Context(root=root, decrypt=decrypt, is_encrypted=is_encrypted, limits=limits)
    result = LoadResult()
    for path in _walk(top, ctx, result.skipped):
        name, rel = path.name, ctx.rel(path)
        if name in KUSTOMIZATION_NAMES:
            result.manifests += _generated_secrets(path, ctx, result)
            result.skipped.append(Skipped(rel, "kustomization file (only secretGenerator is used)"))
        elif name == ".sops.yaml":
            result.skipped.append(Skipped(rel, "SOPS configuration"))
        elif name in PLAYBOOK_NAMES:
            result.skipped.append(Skipped(rel, "dr-bootstrap playbook"))
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            _load_file(path, ctx, result)
    return result


def _load_file(path: Path, ctx: _Context, result: LoadResult) -> None:
    rel, fmt = ctx.rel(path), file_format(path.name)
    data = ctx.read(path)
    # The cheap byte check when there is one; otherwise the parsed documents tell.
    encrypted = ctx.is_encrypted(data, fmt) if ctx.is_encrypted is not None else None
    documents = parse_documents(data, rel, fmt, ctx.limits, construct=not encrypted)
    if encrypted is None:
        encrypted = has_sops_metadata(documents)
    if encrypted:
        documents = ctx.decrypted(rel, data, fmt, checked=True)
        result.encrypted_files.append(rel)
    numbered = len(documents) > 1
    for index, doc in enumerate(documents, start=1):
        source = f"{rel}#{index}" if numbered else rel
        for item_source, item in _expand_lists(source, doc):
            reason = _not_an_object(item)
            if reason:
                if item is not None:
                    result.skipped.append(Skipped(item_source, reason))
                continue
            result.manifests.append(Manifest(ref=ref_of(item), body=item, source=item_source, encrypted=encrypted))


def _expand_lists(source: str, doc: Any) -> Iterator[tuple[str, Any]]:
    """A `kind: List` (as `kubectl get -o yaml` writes) stands for its items."""
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        for index, item in enumerate(doc["items"], start=1):
            yield f"{source}[{index}]", item
    else:
        yield source, doc


def _not_an_object(doc: Any) -> str | None:
    if doc is None:
        return "empty document"
    if not isinstance(doc, dict):
        return "not a mapping"
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not api_version or not kind:
        return "not a Kubernetes object (no apiVersion/kind)"
    if isinstance(api_version, str) and api_version.startswith("kustomize.config.k8s.io/"):
        return "kustomize configuration"
    if isinstance(api_version, str) and api_version.startswith("dr-bootstrap.io/") and kind == "Playbook":
        return "dr-bootstrap playbook"
    return None


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


# --- kustomize secretGenerator ---------------------------------------------------------------------------

_GENERATOR_KEYS = {"name", "namespace", "type", "behavior", "envs", "env", "files", "literals", "options"}
_OPTION_KEYS = {"disableNameSuffixHash", "labels", "annotations", "immutable"}


def _generated_secrets(path: Path, ctx: _Context, result: LoadResult) -> list[Manifest]:
    rel = ctx.rel(path)
    documents = parse_documents(ctx.read(path), rel, "yaml", ctx.limits)
    kustomization = documents[0] if documents else None
    if not isinstance(kustomization, dict):
        return []
    generators = kustomization.get("secretGenerator") or []
    defaults = kustomization.get("generatorOptions") or {}
    if not isinstance(generators, list) or not isinstance(defaults, dict):
        raise ValidationError(f"{rel}: secretGenerator must be a list and generatorOptions a mapping")
    namespace = kustomization.get("namespace")
    return [_generate(rel, path.parent, gen, defaults, namespace, ctx, result) for gen in generators]


def _generate(
    rel: str, base: Path, gen: Any, defaults: dict, namespace: Any, ctx: _Context, result: LoadResult
) -> Manifest:
    if not isinstance(gen, dict) or not isinstance(gen.get("name"), str) or not gen["name"]:
        raise ValidationError(f"{rel}: every secretGenerator entry needs a name")
    where = f"{rel}: secretGenerator {gen['name']!r}"
    unknown = sorted(set(map(str, gen)) - _GENERATOR_KEYS)
    if unknown:
        raise ValidationError(f"{where}: unknown field(s) {', '.join(unknown)}")
    if gen.get("behavior", "create") != "create":
        raise ValidationError(f"{where}: behavior {gen['behavior']!r} is not supported (only create)")
    options = {**defaults, **(gen.get("options") or {})}
    if set(map(str, options)) - _OPTION_KEYS:
        raise ValidationError(f"{where}: unknown option(s) {', '.join(sorted(set(map(str, options)) - _OPTION_KEYS))}")
    if options.get("disableNameSuffixHash") is not True:
        raise ValidationError(
            f"{where}: needs options.disableNameSuffixHash: true "
            "(dr-bootstrap does not add kustomize's hash suffix nor rewrite references to it)"
        )
    values: dict[str, bytes] = {}
    encrypted = False

    def put(key: str, value: bytes, origin: str) -> None:
        if not isinstance(key, str) or not _ENV_KEY.match(key):
            raise ValidationError(f"{where}: invalid key {key!r} from {origin}")
        if key in values:
            raise ValidationError(f"{where}: key {key!r} defined twice (again in {origin})")
        values[key] = value

    envs = list(_str_list(gen.get("envs"), f"{where}: envs")) + ([gen["env"]] if gen.get("env") else [])
    for env_file in envs:
        path, file_rel = _resolve_inside(base, str(env_file), where, ctx)
        data = ctx.read(path)
        if ctx.encrypted(data, "dotenv", file_rel):
            encrypted = True
            result.encrypted_files.append(file_rel)
            pairs = _dotenv_documents(ctx.decrypted(file_rel, data, "dotenv"), file_rel)
        else:
            pairs = _parse_env(data, file_rel)
        for key, value in pairs:
            put(key, value.encode(), file_rel)
    for entry in _str_list(gen.get("files"), f"{where}: files"):
        key, _, file_name = entry.rpartition("=")
        path, file_rel = _resolve_inside(base, file_name, where, ctx)
        data = ctx.read(path)
        fmt = file_format(file_name)
        if ctx.encrypted(data, fmt, file_rel):
            encrypted = True
            result.encrypted_files.append(file_rel)
            data = _render(ctx.decrypted(file_rel, data, fmt), fmt, file_rel)
        put(key or PurePosixPath(file_name).name, data, file_rel)
    for literal in _str_list(gen.get("literals"), f"{where}: literals"):
        key, sep, value = literal.partition("=")
        if not sep:
            raise ValidationError(f"{where}: literal {key!r} has no '='")
        put(key.strip(), _unquote(value).encode(), "literals")

    metadata: dict[str, Any] = {"name": gen["name"]}
    ns = gen.get("namespace") or namespace
    if ns:
        metadata["namespace"] = ns
    for meta_key in ("labels", "annotations"):
        if options.get(meta_key):
            metadata[meta_key] = dict(options[meta_key])
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": gen.get("type") or "Opaque",
        "data": {key: base64.b64encode(value).decode() for key, value in values.items()},
    }
    if options.get("immutable"):
        body["immutable"] = True
    return Manifest(ref=ref_of(body), body=body, source=f"{rel}#secretGenerator/{gen['name']}", encrypted=encrypted)


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(f"{where} must be a list of strings")
    return value


def _resolve_inside(base: Path, name: str, where: str, ctx: _Context) -> tuple[Path, str]:
    path = base / name
    try:
        inside = path.resolve().is_relative_to(ctx.root)
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        raise ValidationError(f"{where}: {name} is outside the repository; refused")
    if not path.is_file():
        raise ValidationError(f"{where}: file {name} not found")
    return path, ctx.rel(path)


def _parse_env(data: bytes, rel: str) -> list[tuple[str, str]]:
    """kustomize `envs` file: KEY=VALUE lines, `#` comments and blank lines ignored, values taken as is."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{rel}: not UTF-8 text") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValidationError(f"{rel}: line {number} has no '=' (values from the environment are not supported)")
        pairs.append((key, value))
    return pairs


def _dotenv_documents(documents: list[Any], rel: str) -> list[tuple[str, str]]:
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ValidationError(f"{rel}: decrypted dotenv is not one mapping")
    return [(str(key), "" if value is None else str(value)) for key, value in documents[0].items()]


def _render(documents: list[Any], fmt: str, rel: str) -> bytes:
    """Plaintext file content from decrypted documents (sops re-renders YAML/JSON the same way)."""
    if fmt == "binary":
        data = documents[0].get("data") if len(documents) == 1 and isinstance(documents[0], dict) else None
        if not isinstance(data, (str, bytes)):
            raise ValidationError(f"{rel}: decrypted binary file has no data")
        return data.encode() if isinstance(data, str) else data
    if fmt == "dotenv":
        return "".join(f"{key}={value}\n" for key, value in _dotenv_documents(documents, rel)).encode()
    if fmt == "json":
        return (json.dumps(documents[0], indent=4) + "\n").encode()
    if fmt == "yaml":
        return yaml.safe_dump_all(documents, sort_keys=False).encode()
    raise ValidationError(f"{rel}: encrypted {fmt} files are not supported in a secretGenerator")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


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


def _object_problems(manifest: Manifest) -> Iterator[str]:
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
    if "sops" in body:
        yield f"{where}: SOPS metadata left in the object (file not decrypted?)"
    for path in sorted(_encrypted_paths(body)):
        yield f"{where}: {path} is still encrypted (ENC[...])"
    if body.get("kind") == "Secret" and body.get("apiVersion") == "v1":
        yield from _secret_problems(body, where)


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
                base64.b64decode(value if isinstance(value, str) else b"!", validate=True)
            except (binascii.Error, ValueError):
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


def _kind_problems(manifests: list[Manifest], known_kind: KnownKind) -> Iterator[str]:
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
            yield f"{manifest.source}: {ref}: CRD for {ref.group_kind} does not serve version {version}"
        elif "." in ref.group:
            yield f"{manifest.source}: {ref}: no CRD defines {ref.group_kind}"
        else:
            yield f"{manifest.source}: {ref}: unknown apiVersion/kind {ref.api_version} {ref.kind}"


def validate_manifests(manifests: list[Manifest], *, known_kind: KnownKind | None = None) -> None:
    """Refuse the set (ValidationError, one problem per line) unless every object is fit to apply."""
    problems: list[str] = []
    seen: dict[tuple[str, str, str, str], Manifest] = {}
    for manifest in manifests:
        problems.extend(_object_problems(manifest))
        ref = manifest.ref
        identity = (ref.group, ref.kind, ref.namespace or "default", ref.name)
        if identity in seen and ref.name:
            problems.append(f"{ref}: defined twice, in {seen[identity].source} and {manifest.source}")
        seen.setdefault(identity, manifest)
    if known_kind is not None:
        problems.extend(_kind_problems(manifests, known_kind))
    if len(problems) == 1:
        raise ValidationError(problems[0])
    if problems:  # one line (the CLI prints errors on one line), every problem named
        raise ValidationError(f"manifests are not valid ({len(problems)} problems): " + "; ".join(problems))
