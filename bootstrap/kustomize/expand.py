"""Generator expanders: kustomize `generators:` entries that dr-bootstrap expands itself, in process, so that
kustomize never runs a program a repository names (it is never given `--enable-exec` or
`--enable-alpha-plugins`).

An expander is given each generator config file a build reaches (its documents, the kustomization directory
naming it) and either declines (None) or returns the objects the generator would produce. The entry is then
taken out of `generators:` and a file holding those objects is listed in `resources:` instead, in the same
kustomization, so every transformer of that kustomization (namespace, prefixes, labels, patches) still
applies to them. Objects that ask kustomize for a generator's name hash or merge behaviour
(`kustomize.config.k8s.io/needs-hash`, `…/behavior`) cannot be handed over as resources and are refused by
name. Engines bring the expanders (the Argo CD engine brings KSOPS'); this module knows none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.errors import ValidationError
from bootstrap.manifests import Limits, parse_documents
from bootstrap.yamlread import dump

GENERATED_PREFIX = ".drb-generated-"
GENERATOR_ANNOTATIONS = ("kustomize.config.k8s.io/needs-hash", "kustomize.config.k8s.io/behavior")


@dataclass
class Expansion:
    objects: list[dict[str, Any]]
    decrypted: list[str] = field(default_factory=list)  # repo-relative files decrypted for it
    secret_values: list[str] = field(default_factory=list, repr=False)


# (the config's documents, the kustomization's directory, where it is named) -> what it generates, or None
Expander = Callable[[list[Any], Path, str], "Expansion | None"]


@dataclass
class Expanded:
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # repo-relative path -> new content
    directories: set[str] = field(default_factory=set)
    decrypted: list[str] = field(default_factory=list)
    secret_values: list[str] = field(default_factory=list, repr=False)


def expand(root: Path, directories: Sequence[Path], top: Path, top_kus: dict[str, Any], top_file: str,
           load: Callable[[Path], Any], kustomization_file: Callable[[Path], Path | None],
           expanders: Sequence[Expander], limits: Limits = Limits()) -> Expanded:
    """Expand the generators of every kustomization the build reaches; `top_kus` (the build's own, already
    rewritten) is changed in place, the others are returned as new files."""
    out = Expanded()
    if not expanders:
        return out
    for directory in directories:
        is_top = directory == top.resolve()
        kus_path = None if is_top else kustomization_file(directory)
        kus = top_kus if is_top else (load(kus_path) if kus_path is not None else None)
        if not isinstance(kus, Mapping) or not isinstance(kus.get("generators"), list):
            continue
        rel_dir = directory.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        kept, added = [], []
        for entry in kus["generators"]:
            expansion = None
            target = directory / entry if isinstance(entry, str) and "\n" not in entry else None
            if target is not None and target.is_file():
                rel = target.resolve().relative_to(root).as_posix()
                docs = parse_documents(target.read_bytes(), rel, "yaml", limits)
                where = f"{rel}"
                for expander in expanders:
                    expansion = expander(docs, directory, where)
                    if expansion is not None:
                        break
                if expansion is None:
                    _refuse_plugin(docs, where)
                if expansion is not None:
                    _refuse_generator_options(expansion.objects, where)
                    name = f"{GENERATED_PREFIX}{len(added)}.yaml"
                    text = "".join("---\n" + dump(obj) for obj in expansion.objects)
                    out.files[f"{rel_dir}/{name}" if rel_dir else name] = text.encode()
                    out.decrypted += expansion.decrypted
                    out.secret_values += expansion.secret_values
                    added.append(name)
                    continue
            kept.append(entry)
        if not added:
            continue
        new = dict(kus)
        new["resources"] = [*(kus.get("resources") or []), *added]
        if kept:
            new["generators"] = kept
        else:
            new.pop("generators")
        out.directories.add(rel_dir)
        if is_top:
            top_kus.clear()
            top_kus.update(new)
        else:
            out.files[kus_path.resolve().relative_to(root).as_posix()] = dump(new).encode()
    return out


def _refuse_plugin(docs: list[Any], where: str) -> None:
    """A generator config no expander took and kustomize does not build in (apiVersion `builtin`): an exec
    KRM function or a legacy exec/Go plugin, which kustomize runs only with the plugin flags it never gets.
    Refused here with the file and the program it names, before kustomize fails on it."""
    for doc in docs:
        if not isinstance(doc, Mapping) or doc.get("apiVersion") == "builtin":
            continue
        metadata = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
        annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), Mapping) else {}
        function = str(annotations.get("config.kubernetes.io/function") or "")
        exec_path = next((line.split(":", 1)[1].strip() for line in function.splitlines()
                          if line.strip().startswith("path:")), None)
        how = (f"an exec KRM function running {exec_path}" if exec_path else
               "a KRM function" if function else "a legacy kustomize plugin (a program kustomize would look up)")
        raise ValidationError(f"{where}: generator {doc.get('apiVersion')} {doc.get('kind')} is {how}; "
                              "dr-bootstrap never runs a program a repository names (only KSOPS generators are "
                              "expanded, in process)")


def _refuse_generator_options(objects: list[dict[str, Any]], where: str) -> None:
    for obj in objects:
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
        annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), Mapping) else {}
        for key in GENERATOR_ANNOTATIONS:
            if key in annotations:
                raise ValidationError(
                    f"{where}: {obj.get('kind', 'object')} {metadata.get('name', '?')} asks kustomize for {key}, "
                    "which dr-bootstrap cannot reproduce without running the generator; not restored")
