"""Offline preflight of a GitOps tree: will every SOPS file open with this key, and is anything leaking?

For every SOPS file: is the key's recipient among the file's recipients, does it decrypt, does its MAC
verify, and which Flux Kustomization renders it, with or without `decryption` (a file rendered by one
without it would reach the cluster encrypted: Flux users' most common failure). Besides: plaintext Secrets
(a document that is a `v1 Secret` with values, or a `.env` file a secretGenerator reads) and any committed
`AGE-SECRET-KEY-` text (reported by place, never printed). Files that merely name a Secret (an
ExternalSecret, a `substituteFrom`) are not secrets, nor is a Secret whose values are placeholders another
tool fills in (`bootstrap.placeholders`: `${VAR}`, `<secret:NAME~KEY>`, `<path:PATH#KEY>`). `.sops.yaml`
creation rules are honoured (`path_regex` is a Go regexp, evaluated with RE2): a plaintext secret matching a
rule's path_regex is named as such; an encrypted file outside every rule gets a note. In a Flux repository,
files its source artifact leaves out (`.sourceignore`, the GitRepository's `spec.ignore`) are not checked:
Flux never reads them (a committed age key is reported wherever it is: it is in Git).

What fails the check (an `error`): a file the key cannot open or verify, an encrypted file rendered without
decryption, a plaintext secret a `.sops.yaml` rule says must be encrypted, a committed age key. Everything
else is a `warning`: a plaintext Secret no rule covers, a Kustomization that does not build or whose remote
base needs the network, a GitRepository that cannot be told.

This module only finds; what `dr-bootstrap check` prints (human lines, JSON/YAML, the summary) is
`bootstrap.commands.check_output`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from bootstrap import repofiles
from bootstrap.errors import BootstrapError, UsageError
from bootstrap.stages.keys import KeyRing

MAX_BYTES = 5 * 1024 * 1024
_FLUX_KUSTOMIZATION = b"kustomize.toolkit.fluxcd.io"
_KIND_SECRET = re.compile(rb"""(?m)^\s*"?kind"?\s*:\s*["']?Secret["']?\s*,?\s*$""")  # cheap pre-filter


@dataclass(frozen=True)
class FileCheck:
    """One SOPS file. `None` means "not determined" (e.g. no decrypt attempted after a parse error)."""

    path: str
    format: str
    recipients: list[str]
    recipient_match: bool | None
    decrypts: bool | None
    mac_ok: bool | None
    problem: str | None = None
    note: str | None = None
    kustomizations: tuple[str, ...] = ()  # the Flux Kustomizations that render it
    decryption: bool | None = None  # do they all decrypt? (None: no Flux Kustomization renders it)

    @property
    def ok(self) -> bool:
        return self.problem is None


ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """Something found besides the SOPS files: an `error` fails the check, a `warning` is only said."""

    path: str
    kind: str  # "plaintext-secret" | "committed-age-key" | "kustomization-build" | "needs-network"
    detail: str
    severity: str = ERROR


@dataclass(frozen=True)
class CheckReport:
    key_recipients: tuple[str, ...]
    key_source: str
    files: list[FileCheck] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: tuple[str, ...] = ()
    flux_source: str | None = None  # the GitRepository whose Kustomizations were rendered

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings) and all(f.ok for f in self.files)


@dataclass(frozen=True)
class _Rules:
    root: Path
    path_regexes: tuple[Any, ...]  # Go regexps (bootstrap.sops.regex.GoRegex)

    def matches(self, path: Path) -> bool:
        try:
            rel = path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            rel = path.as_posix()
        return any(r.search(rel) for r in self.path_regexes)


@dataclass
class _Found:
    """What a check gathers as it walks; the CheckReport is made from it once, at the end."""

    files: list[FileCheck] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    flux_source: str | None = None
    flux_files: list[tuple[str, Path]] = field(default_factory=list)  # YAML files that may hold a Flux Kustomization


def check_paths(paths: Iterable[str], keyring: KeyRing, source: str | None = None) -> CheckReport:
    """Check every file under `paths` (files or directories) against `keyring`; `source`: the GitRepository
    (`[NAMESPACE/]NAME`) whose Kustomizations say how each SOPS file is rendered."""
    if source is not None:
        from bootstrap.engines.flux.kustomizations import choose_source  # deferred: start-up (only with --source)

        choose_source(source, [])  # a malformed --source is a usage error even where no Kustomization is found
    found = _Found(warnings=list(keyring.warnings))
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{raw}: no such file or directory")
        if path.is_dir():
            _check_tree(path, keyring, found, source)
        else:
            _check_one(path, str(path), _rules_for(path.parent), keyring, found, set())
    return CheckReport(keyring.recipients, keyring.source, found.files, found.findings, tuple(found.warnings),
                       found.flux_source)


def _check_tree(root: Path, keyring: KeyRing, found: _Found, source: str | None) -> None:
    rules = _rules_for(root)
    tree = [(rel, path) for rel, path in repofiles.walk(root) if path.name != ".sops.yaml"]
    generator_inputs = _secret_generator_inputs(root, tree)
    start, findings_start = len(found.files), len(found.findings)
    found.flux_files = []
    for rel, path in tree:
        _check_one(path, str(path), rules, keyring, found, generator_inputs, rel)
    if found.flux_files:
        _add_flux(root, found, start, findings_start, source)


def _check_one(path: Path, display: str, rules: "_Rules | None", keyring: KeyRing, found: _Found,
               generator_inputs: set[Path], rel: str | None = None) -> None:
    try:
        if path.stat().st_size > MAX_BYTES:
            return
        data = path.read_bytes()
    except OSError as err:
        found.files.append(FileCheck(display, "?", [], None, None, None, f"unreadable ({err.strerror})"))
        return
    for number in repofiles.committed_key_lines(data):
        found.findings.append(Finding(display, "committed-age-key", f"AGE-SECRET-KEY text at line {number}"))
    if rel is not None and rel.endswith((".yaml", ".yml")) and _FLUX_KUSTOMIZATION in data and b"Kustomization" in data:
        found.flux_files.append((rel, path))
    if b"ENC[" not in data and b"sops" not in data and not _maybe_secret(path, data, generator_inputs):
        return
    from bootstrap import sops  # deferred: start-up (with the first candidate: a tree without any needs no SOPS)

    fmt = sops.detect_format(path.name)
    if sops.is_encrypted(data, fmt):
        result = _check_file(data, fmt, display, keyring)
        if rules is not None and not rules.matches(path):
            result = replace(result, note="not matched by any .sops.yaml creation rule")
        found.files.append(result)
    elif _plaintext_secret(path, data, generator_inputs):
        ruled = rules is not None and rules.matches(path)
        why = "matches a .sops.yaml creation rule" if ruled else "holds Secret values"
        found.findings.append(Finding(display, "plaintext-secret", f"{why} but is not SOPS-encrypted",
                                      ERROR if ruled else WARNING))


def _add_flux(root: Path, found: _Found, start: int, findings_start: int, source: str | None) -> None:
    """Which Flux Kustomization renders each SOPS file found under `root`, and whether it decrypts: the
    Kustomizations discovered as `plan` discovers them (`engines.flux.checkmap`). Then what the source
    artifact leaves out is dropped."""
    # deferred: start-up (Flux and kustomize: only for a tree with Flux Kustomizations)
    from bootstrap import sops
    from bootstrap.engines.flux import checkmap
    from bootstrap.kustomize.artifact import Artifact
    from bootstrap.kustomize.builder import Builder
    from bootstrap.kustomize.kustomizer import find_kustomizer
    from bootstrap.kustomize.secrets import SopsFiles

    written = checkmap.declared(root, found.flux_files)
    if not written:
        return
    try:
        kustomizer = find_kustomizer()
    except BootstrapError:
        found.warnings.append("no kustomize found: not checked which Flux Kustomization renders each file")
        return
    secrets = SopsFiles(root, None)
    builder = Builder(root, kustomizer=kustomizer, artifact=Artifact(root), secrets=secrets)
    mapped = checkmap.map_checkout(root, builder, sops.mac_token, secrets.files_by_mac(), source, written)
    found.warnings += mapped.warnings
    base = root.resolve()
    # what no artifact of the repository holds (each cluster's GitRepository may ignore other files)
    artifacts = [Artifact(root, ignore) for ignore in dict.fromkeys(mapped.ignores or [None])]

    def outside(display: str) -> bool:
        rel = Path(display).resolve().relative_to(base).as_posix()
        return all(a.left_out(rel, False) for a in artifacts)

    found.files[start:] = [f for f in found.files[start:] if not outside(f.path)]
    found.findings[findings_start:] = [f for f in found.findings[findings_start:]
                                       if f.kind != "plaintext-secret" or not outside(f.path)]
    if mapped.source is None:
        return
    found.flux_source = mapped.source
    for name, why in mapped.failed.items():
        found.findings.append(Finding(name, "kustomization-build", why, WARNING))
    for name, url in mapped.offline.items():
        found.findings.append(Finding(name, "needs-network", f"needs the network: {url}", WARNING))
    for index in range(start, len(found.files)):
        f = found.files[index]
        rel = Path(f.path).resolve().relative_to(base).as_posix()
        renders = mapped.by_file.get(rel, [])
        if not renders:
            found.files[index] = replace(f, note=f.note or f"not rendered by any Flux Kustomization of {mapped.source}")
            continue
        raw = [r.kustomization for r in renders if not r.decrypts]
        found.files[index] = replace(
            f, kustomizations=tuple(r.kustomization for r in renders), decryption=not raw,
            problem=f.problem or (f"rendered by Kustomization {', '.join(raw)} without spec.decryption: Flux would "
                                  "apply it encrypted" if raw else None))


def _check_file(data: bytes, fmt: str, name: str, keyring: KeyRing) -> FileCheck:
    # deferred: start-up (SOPS: only once a file is a candidate, see _check_one)
    from bootstrap import sops
    from bootstrap.sops.datakey import recipient_id
    from bootstrap.sops.mac import MacMismatchError

    ours = {recipient_id(r) for r in keyring.recipients}

    def matches(recipients: list[str]) -> bool:
        return any(recipient_id(r) in ours for r in recipients)

    # Decrypt first: a file that opens carries its recipients in its metadata, so it is parsed once.
    try:
        meta = sops.decrypt(data, keyring, fmt=fmt, name=name).metadata
    except MacMismatchError as err:
        decrypts, mac_ok, failure = True, False, err
    except BootstrapError as err:
        decrypts, mac_ok, failure = False, None, err
    else:
        recipients = meta.age_recipients + [f"<{b}>" for b in meta.other_backends]
        return FileCheck(name, fmt, recipients, matches(recipients), True, True)
    try:
        recipients = sops.file_recipients(data, fmt, name)
    except BootstrapError as err:  # unreadable metadata: nothing else is known
        return FileCheck(name, fmt, [], None, None, None, _cause(err, name))
    return FileCheck(name, fmt, recipients, matches(recipients), decrypts, mac_ok, _cause(failure, name))


def _cause(err: BootstrapError, name: str) -> str:
    """The error without the file name it starts with: the report names the file once, in `path`."""
    text = str(err)
    return text[len(name) + 2:] if text.startswith(f"{name}: ") else text


def _rules_for(directory: Path) -> _Rules | None:
    """The nearest `.sops.yaml` at or above `directory` (as sops finds it), if it has path_regex rules."""
    for parent in [directory.resolve(), *directory.resolve().parents]:
        config = parent / ".sops.yaml"
        if config.is_file():
            # deferred: start-up (only for a .sops.yaml)
            import yaml

            from bootstrap.sops.regex import InvalidGoRegex, compile_go

            try:
                loaded = yaml.safe_load(config.read_bytes()) or {}
                rules = [r.get("path_regex") for r in loaded.get("creation_rules") or [] if isinstance(r, dict)]
                compiled = tuple(compile_go(str(r), field=f".sops.yaml creation_rules[{i}].path_regex")
                                 for i, r in enumerate(rules) if r)
            except InvalidGoRegex as err:
                raise UsageError(f"{config}: {err}") from None
            except (yaml.YAMLError, AttributeError):
                raise UsageError(f"{config}: not a valid .sops.yaml") from None
            return _Rules(parent, compiled) if compiled else None
    return None


def _secret_generator_inputs(root: Path, tree: list[tuple[str, Path]]) -> set[Path]:
    """Files some kustomization's secretGenerator reads (`files`, `envs`, `env`), resolved."""
    candidates = [(rel, path) for rel, path in tree if path.name.lower().startswith("kustomization")]
    if not candidates:
        return set()
    # deferred: start-up (only for a tree with kustomization files: `check FILE` loads them only for a Secret)
    from bootstrap.kustomize.graph import generator_inputs
    from bootstrap.kustomize.kustfile import KUSTOMIZATION_FILES
    from bootstrap.manifests import parse_documents

    found: set[Path] = set()
    for rel, path in candidates:
        if path.name not in KUSTOMIZATION_FILES:
            continue
        try:
            documents = parse_documents(path.read_bytes(), rel)
        except (BootstrapError, OSError):
            continue
        kus = documents[0] if documents and isinstance(documents[0], dict) else {}
        for gen in kus.get("secretGenerator") or []:
            found.update((path.parent / input_path).resolve() for _, _, input_path in generator_inputs(gen))
    return found


def _maybe_secret(path: Path, data: bytes, generator_inputs: set[Path]) -> bool:
    return path.resolve() in generator_inputs or (path.suffix in (".yaml", ".yml", ".json")
                                                   and _KIND_SECRET.search(data) is not None)


def _plaintext_secret(path: Path, data: bytes, generator_inputs: set[Path]) -> bool:
    """A v1 Secret document with values, or a file a secretGenerator reads: plaintext that belongs in SOPS
    (unless its every value is a placeholder another tool fills in)."""
    if path.resolve() in generator_inputs:
        return not _templated_env(data)
    if path.suffix not in (".yaml", ".yml", ".json") or _KIND_SECRET.search(data) is None:
        return False
    from bootstrap.manifests import parse_documents  # deferred: start-up (only for what may be a Secret)

    try:
        documents = parse_documents(data, path.name, "json" if path.suffix == ".json" else "yaml")
    except BootstrapError:
        return False
    return any(_is_secret_with_values(doc) for doc in documents)


def _templated_env(data: bytes) -> bool:
    """A generator input in `KEY=VALUE` lines whose every value holds a placeholder (`PASSWORD=${DB_PASSWORD}`)."""
    values = [line.partition("=")[2] for line in data.decode("utf-8", "replace").splitlines()
              if "=" in line and not line.lstrip().startswith("#")]
    if not values:
        return False
    from bootstrap import placeholders  # deferred: start-up (only for a secretGenerator's input)

    return all(placeholders.is_templated(v) for v in values if v.strip()) and any(v.strip() for v in values)


def _is_secret_with_values(doc: Any) -> bool:
    """A v1 Secret with a value that is not only a placeholder another tool fills in."""
    if not isinstance(doc, dict) or doc.get("kind") != "Secret" or doc.get("apiVersion") != "v1":
        return False
    if not any(isinstance(doc.get(key), dict) and any(v not in (None, "") for v in doc[key].values())
               for key in ("data", "stringData")):
        return False
    from bootstrap import placeholders  # deferred: start-up (only for a Secret with values)

    return not placeholders.secret_is_templated(doc)
