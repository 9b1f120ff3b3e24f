"""One kustomize build, as kustomize-controller runs it for a Kustomization: generate or rewrite the
kustomization file, decrypt the generator inputs, build with the real kustomize, read the objects back.

The caller decides what to do with the objects (decryption of built objects, substitution, metadata:
`render.objects`); this module only produces them, each with the repository file it came from (kustomize's
`originAnnotations`, added for the build and removed again unless the kustomization asked for them itself).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

from bootstrap.errors import ValidationError
from bootstrap.manifests import Limits, parse_documents
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.expand import Expander, expand
from bootstrap.kustomize.graph import Graph, kustomization_file
from bootstrap.kustomize.kustfile import ORIGIN, apply_edits, generated, merge_spec, round_trip
from bootstrap.kustomize.kustomizer import Kustomizer
from bootstrap.kustomize.scratch import scratch_tree
from bootstrap.kustomize.secrets import SopsFiles
from bootstrap.kustomize.singlefile import read_file_objects
from bootstrap.repofiles import glob_match
from bootstrap.scrub import Scrubber, values_in_env
from bootstrap.yamlread import YamlError, dump, read_all, read_one

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
MAX_OUTPUT_BYTES = 512 * 1024 * 1024
_SEPARATOR = re.compile(r"^---[ \t]*$\n?", re.MULTILINE)


@dataclass(frozen=True)
class BuildSpec:
    """A directory and the Flux spec it is rendered with ({} for a path given on the command line)."""

    path: str  # repo-relative directory, "" for the root
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False)
    decrypts: bool = True  # decrypt SOPS generator inputs (a Kustomization without `decryption` does not)
    edits: Mapping[str, Any] = field(default_factory=dict, compare=False)  # `kustfile.apply_edits` fields
    options: tuple[str, ...] = ()  # extra `kustomize build` flags (only those `kustomizer.BUILD_OPTIONS` allows)
    label: str = ""  # names the build in messages


@dataclass
class Document:
    """One built object: its YAML as kustomize printed it (None when the body was changed after the build:
    the origin annotation we asked for removed), the data, and the file it came from."""

    text: str | None = field(repr=False)
    body: dict[str, Any] = field(repr=False)
    source: str


@dataclass
class Built:
    spec: BuildSpec
    documents: list[Document]
    decrypted_sources: list[str]  # repo-relative generator inputs handed to kustomize decrypted
    generator_inputs: list[str] = field(default_factory=list)  # every input Flux would decrypt if encrypted
    secret_values: list[str] = field(default_factory=list, repr=False)  # their plaintext, for kustomize's messages
    notes: list[str] = field(default_factory=list)


class Builder:
    """Builds directories of one checkout. Holds only what every build shares: the checkout, the artifact
    rules, the kustomize program, the SOPS files and a cache of parsed kustomization files."""

    def __init__(self, root: Path, *, kustomizer: Kustomizer, artifact: Artifact, secrets: SopsFiles,
                 excludes: tuple[str, ...] = (), disk_base: Path | None = None, memory_base: Path | None = None,
                 limits: Limits = Limits(), expanders: tuple[Expander, ...] = ()):
        """`disk_base`: where scratch trees without plaintext go; `memory_base`: a tmpfs directory for those
        holding decrypted generator inputs (None: such builds are refused)."""
        self.root = root.resolve()
        self.kustomizer = kustomizer
        self.artifact = artifact
        self.secrets = secrets
        self.excludes = excludes
        self.disk_base = disk_base
        self.memory_base = memory_base
        self.limits = limits
        self.expanders = expanders  # generator expanders an engine brings (`kustomize.expand`)
        self._parsed: dict[Path, Any] = {}
        self._checked: set[Path] = set()
        self._lock = Lock()

    def with_artifact(self, artifact: Artifact) -> "Builder":
        """The same builder for a checkout whose artifact leaves out other files (GitRepository spec.ignore)."""
        return Builder(self.root, kustomizer=self.kustomizer, artifact=artifact, secrets=self.secrets,
                       excludes=self.excludes, disk_base=self.disk_base, memory_base=self.memory_base,
                       limits=self.limits, expanders=self.expanders)

    def with_expanders(self, *expanders: Expander) -> "Builder":
        """The same builder, expanding these generators in process before kustomize runs."""
        builder = self.with_artifact(self.artifact)
        builder.expanders = (*self.expanders, *expanders)
        return builder

    def rel(self, path: Path) -> str:
        rel = path.resolve().relative_to(self.root).as_posix()
        return "" if rel == "." else rel

    # -- kustomization files --------------------------------------------------------------------------------

    def check_yaml(self, path: Path) -> None:
        """The YAML budget (size, nodes with aliases expanded, depth) for a file kustomize will parse, once per
        run: kustomize expands an alias bomb without bound, so a hostile file must never reach it."""
        with self._lock:
            if path in self._checked:
                return
        try:
            data = path.read_bytes()
        except OSError:
            return  # kustomize reports a file it cannot read in its own words
        rel = self.rel(path)
        parse_documents(data, rel, "json" if path.suffix == ".json" else "yaml", self.limits, construct=False)
        with self._lock:
            self._checked.add(path)

    def load_kustomization(self, path: Path) -> Any:
        with self._lock:
            if path not in self._parsed:
                rel = self.rel(path)
                documents = parse_documents(path.read_bytes(), rel, "yaml", self.limits)
                self._parsed[path] = documents[0] if documents else None
            return self._parsed[path]

    def scan(self, directory: Path) -> list[str]:
        """The resources Flux lists for a directory without a kustomization file: every `.yaml`/`.yml` below
        it in lexical order, a sub-directory holding a kustomization file as one entry (not entered),
        without what the artifact leaves out and what `--exclude` drops."""
        found: list[str] = []

        def visit(here: Path, here_rel: str, prefix: str) -> None:
            for entry in sorted(os.scandir(here), key=lambda e: e.name):
                rel = f"{here_rel}/{entry.name}" if here_rel else entry.name
                logical = f"{prefix}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    if self.artifact.left_out(rel, True):
                        continue  # an excluded directory is entered: a file below it may be taken back
                    unit = kustomization_file(Path(entry.path))
                    if unit is not None and not self.artifact.left_out(f"{rel}/{unit.name}", False):
                        found.append(logical)
                    else:
                        visit(Path(entry.path), rel, logical)
                    continue
                if not entry.name.endswith((".yaml", ".yml")) or self.artifact.left_out(rel, False):
                    continue
                if any(glob_match(pattern, rel) for pattern in self.excludes):
                    continue
                if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(self.root):
                    raise ValidationError(f"{rel}: symlink points outside the repository; refused")
                found.append(logical)

        visit(directory, self.rel(directory), ".")
        return found

    # -- a build --------------------------------------------------------------------------------------------

    def build(self, spec: BuildSpec) -> Built:
        directory = (self.root / spec.path) if spec.path else self.root
        label = spec.label or (spec.path or ".")
        if spec.path and directory.is_file():
            objects = read_file_objects(self.root, spec.path, artifact=self.artifact, limits=self.limits,
                                        label=label)
            return Built(spec, [Document(text=None, body=body, source=spec.path) for body in objects], [])
        if not directory.is_dir() or (spec.path and self.artifact.left_out(self.rel(directory), True)):
            raise ValidationError(f"{label}: kustomization path not found: {spec.path or '.'}")
        existing = kustomization_file(directory)
        if existing is None and (directory / "Chart.yaml").is_file():
            raise ValidationError(f"{label}: {spec.path or '.'} is a Helm chart (Chart.yaml), not a directory of "
                                  "manifests; its templates are rendered by helm, never read as they are")
        if existing is not None:
            kus = round_trip(self.load_kustomization(existing), self.rel(existing))
            file_rel = self.rel(existing)
        else:
            listed = self.scan(directory)
            for entry in listed:
                if not (directory / entry).is_dir():
                    self.check_yaml(directory / entry)
            kus = generated(listed)
            file_rel = f"{spec.path}/kustomization.yaml" if spec.path else "kustomization.yaml"
        kus = merge_spec(kus, spec.spec, kept=existing is not None,
                         component_exists=lambda c: (directory / c).exists(), where=label)
        kus = apply_edits(kus, spec.edits)
        keep_origin = ORIGIN in (kus.get("buildMetadata") or [])
        if not keep_origin:
            kus["buildMetadata"] = [*(kus.get("buildMetadata") or []), ORIGIN]
        walk = Graph(self.root, load=self.load_kustomization, ignored=self.artifact.left_out).walk(
            directory, kus, file_rel)
        for path in walk.parsed_files:
            if path.is_file():
                self.check_yaml(path)
        expanded = expand(self.root, walk.directories, directory, kus, file_rel, self.load_kustomization,
                          kustomization_file, self.expanders, self.limits)
        files: dict[str, bytes] = {file_rel: dump(kus).encode(), **expanded.files}
        built = Built(spec, [], list(expanded.decrypted), secret_values=list(expanded.secret_values),
                      generator_inputs=sorted({self.rel(s.path) for s in walk.sources if s.path.is_file()}))
        if spec.decrypts:
            seen: set[Path] = set()
            for source in walk.sources:
                if source.path in seen or not source.path.is_file():
                    continue
                seen.add(source.path)
                plain = self.secrets.decrypt_source(source.path, source.fmt, source.field)
                if plain is not None:
                    rel = self.rel(source.path)
                    files[rel] = plain
                    built.decrypted_sources.append(rel)
                    built.secret_values += values_in_env(plain)
            for path in walk.singular_env:
                if b"sops_mac=ENC[" in path.read_bytes():
                    built.notes.append(f"warning: {self.rel(path)}: SOPS-encrypted, but named by a secretGenerator "
                                       "`env:` (singular), which Flux does not decrypt; use `envs:`")
        real = {spec.path} | ({self.rel(d) for d in walk.directories} if built.decrypted_sources else set())
        scrub = _scrubber(built.secret_values, self.secrets.learner.public)
        plaintext = bool(built.decrypted_sources)
        base = (self.memory_base if plaintext else self.memory_base or self.disk_base)
        with scratch_tree(self.root, real, files, plaintext=plaintext, base=base) as top:
            build_dir = top / spec.path if spec.path else top

            def name_file(name: str) -> str:
                """A file in kustomize's message, repo-relative (it names them from the build's directory)."""
                path = name if os.path.isabs(name) else os.path.join(str(build_dir), name)
                path = os.path.normpath(path)
                for base in (str(top), str(self.root)):
                    if path == base or path.startswith(base + os.sep):
                        return os.path.relpath(path, base).replace(os.sep, "/")
                return name

            text = self.kustomizer.build(build_dir, scrub=lambda m: scrub(m).replace(f"{top}{os.sep}", ""),
                                         where=label, name_file=name_file, options=spec.options)
        if len(text) > MAX_OUTPUT_BYTES:
            raise ValidationError(f"{label}: kustomize output larger than {MAX_OUTPUT_BYTES} bytes")
        built.documents = list(self._documents(text, spec.path, keep_origin, label))
        return built

    def _documents(self, text: str, base: str, keep_origin: bool, label: str):
        """kustomize's output read as kustomize-controller reads it (`bootstrap.yamlread`), each object with
        the file it came from; the text of each is kept when the kustomization asked for origin annotations
        (no other text has them)."""
        if not keep_origin:  # every object carries the origin annotation we asked for: the text is not kept
            try:
                bodies = read_all(text, self.limits, per_document=True)
            except YamlError as err:
                raise ValidationError(unreadable(text, err, base, label)) from None
            for body in bodies:
                if isinstance(body, dict):
                    yield Document(text=None, body=body, source=origin_source(body, base, keep_origin) or label)
            return
        for chunk in _SEPARATOR.split(text):
            if not chunk.strip():
                continue
            try:
                body = read_one(chunk, self.limits)
            except YamlError as err:
                raise ValidationError(unreadable(chunk, err, base, label)) from None
            if not isinstance(body, dict):
                continue
            source = origin_source(body, base, keep_origin) or label
            yield Document(text=chunk, body=body, source=source)


_CONTENT = re.compile(r"^[ \t]*[^#\s]", re.MULTILINE)
_KIND_LINE = re.compile(r"^kind: *(\S[^\n]*?) *$", re.MULTILINE)
_METADATA_FIELD = re.compile(r"^  (name|namespace): *(\S[^\n]*?) *$", re.MULTILINE)
_ORIGIN_PATH = re.compile(r"^ {4,}(path|configuredIn): *([^\s'\"]+) *$", re.MULTILINE)


def unreadable(text: str, err: YamlError, base: str, label: str) -> str:
    """Which object of kustomize's output cannot be read, and why: its file (from the origin annotation),
    kind and name (its text looked at line by line: YAML cannot read it), the parser's own cause, the line
    within the object."""
    chunks, line = [], 1
    for index, chunk in enumerate(_SEPARATOR.split(text)):
        if index or _CONTENT.search(chunk):  # the documents YAML counts: not what precedes the first `---`
            chunks.append((chunk, line))  # when that is blank or comments
        line += chunk.count("\n") + 1
    chunk, first = chunks[min(err.document, len(chunks) - 1)] if chunks else ("", 1)
    metadata = chunk.split("\nmetadata:\n", 1)[1] if "\nmetadata:\n" in chunk else ""
    metadata = re.split(r"^\S", metadata, maxsplit=1, flags=re.MULTILINE)[0]
    fields = dict(_METADATA_FIELD.findall(metadata))
    kind = _KIND_LINE.search(chunk)
    origin = _ORIGIN_PATH.search(metadata)
    source = os.path.normpath(os.path.join(base or ".", origin.group(2))).replace(os.sep, "/") if origin else label
    name = "/".join(part for part in (fields.get("namespace"), fields.get("name")) if part) or "?"
    where = f" (line {err.line - first + 1} of the object)" if err.line else ""
    return (f"{source}: {kind.group(1) if kind else 'object'} {name}: the built object cannot be read as Flux "
            f"reads it: {err.cause}{where}")


_PLAIN_ORIGIN_LINE = re.compile(r"(path|repo|ref|configuredIn): ([A-Za-z0-9_./@+-]+)")
# a plain scalar YAML reads as something other than a string (bool, null, number): left to YAML
_YAML_TYPED = re.compile(r"(?i)y|n|yes|no|true|false|on|off|null|[-+]?[0-9._]+(e[-+]?[0-9]+)?|[-+]?\.(inf|nan)")


def _simple_origin(raw: str) -> dict[str, str] | None:
    """kustomize's usual origin annotation (`path: a/b.yaml`, one plain `key: value` per line) without a YAML
    parser (one per object is a good part of the render's time); None for anything else, which YAML reads."""
    out: dict[str, str] = {}
    for line in raw.splitlines():
        match = _PLAIN_ORIGIN_LINE.fullmatch(line)
        if match is None or _YAML_TYPED.fullmatch(match.group(2)):
            return None
        out[match.group(1)] = match.group(2)
    return out or None


def origin_source(body: dict[str, Any], base: str, keep: bool) -> str | None:
    """The repository file an object came from, from kustomize's origin annotation (which is removed unless
    the kustomization asked for it): `path` relative to the build's directory, or `configuredIn` for a
    generated object, or `repo` for a remote base."""
    metadata = body.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or ORIGIN_ANNOTATION not in annotations:
        return None
    raw = annotations[ORIGIN_ANNOTATION] if keep else annotations.pop(ORIGIN_ANNOTATION)
    if not keep and not annotations:
        metadata.pop("annotations")
    origin = _simple_origin(str(raw))
    if origin is None:
        try:
            origin = read_one(str(raw))
        except YamlError:
            return None
    if not isinstance(origin, dict):
        return None
    if origin.get("repo"):
        return f"{origin['repo']}{'@' + str(origin['ref']) if origin.get('ref') else ''}:{origin.get('path', '')}"
    for key in ("path", "configuredIn"):
        if isinstance(origin.get(key), str):
            joined = os.path.normpath(os.path.join(base or ".", origin[key])).replace(os.sep, "/")
            generator = origin.get("configuredBy") if key == "configuredIn" else None
            suffix = f"#{generator.get('kind')}" if isinstance(generator, dict) and generator.get("kind") else ""
            return joined + suffix
    return None


def _scrubber(values: list[str], public: Callable[[str], bool]) -> Callable[[str], str]:
    """kustomize's messages scrubbed of these values with the run's one scrubbing rule (`bootstrap.scrub`)."""
    if not values:
        return lambda s: s
    scrubber = Scrubber()
    scrubber.learn(values, public)
    return scrubber
