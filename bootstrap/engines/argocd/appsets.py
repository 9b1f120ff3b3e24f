"""ApplicationSets expanded offline into the Applications the ApplicationSet controller would create
(pure, reading the checkout): generators `list`, `git` directories and files (of this repository), the
local cluster for `clusters`, and `matrix` / `merge` of those; then `template` and `templatePatch`.

Parameters follow applicationset/generators/git.go: directories give `path`, `path.basename`,
`path.basenameNormalized`, `path[N]` (nested `path.path`, `path.segments` … with goTemplate); files give the
file's fields flattened (nested with goTemplate) plus the same `path` family and `path.filename`.
Directory globs match as Go's path.Match (`*` stays inside one directory); hidden directories are skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bootstrap import repofiles
from bootstrap.engines.argocd import templating
from bootstrap.engines.argocd.apps import normalize_url
from bootstrap.errors import ValidationError
from bootstrap.manifests import parse_documents

LOCAL_CLUSTER = {"name": "in-cluster", "server": "https://kubernetes.default.svc", "nameNormalized": "in-cluster"}


class NotExpandable(Exception):
    """A generator that cannot be expanded from this repository alone (its reason is the message)."""


def sanitize(name: str) -> str:
    """SanitizeName: lower case, each character other than [-a-z0-9.] becomes `-`, cut at 253, `-`/`.` trimmed."""
    return re.sub(r"[^-a-z0-9.]", "-", name.lower())[:253].strip("-.")


def _path_match(pattern: str, name: str) -> bool:
    """Go's path.Match: `*` and `?` never cross `/`."""
    regex = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) if c not in "[]^!-" else c
                    for c in pattern)
    regex = regex.replace("[!", "[^")
    try:
        return re.fullmatch(regex, name) is not None
    except re.error:
        return False


def _selected(items: list[Mapping[str, Any]], rel: str, match: Callable[[str, str], bool]) -> bool:
    """A git generator's `directories`/`files` entries take `rel`: at least one matches it, and none of those
    that match is an `exclude` one."""
    excludes = [bool(item.get("exclude")) for item in items if match(str(item.get("path", "")), rel)]
    return bool(excludes) and not any(excludes)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _directories(root: Path) -> list[str]:
    """The checkout's directories as the repo-server lists them for the generator: hidden ones (`.git`
    included) left out, symlinked ones not entered; each directory holding a file (Git keeps no empty one)."""
    found: set[str] = set()
    for rel, _path in repofiles.walk(root, skip_dir=_hidden):
        parts = rel.split("/")[:-1]
        found.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
    return sorted(found)


def _path_params(path: str, go: bool, filename: str | None = None) -> dict[str, Any]:
    base = os.path.basename(path)
    if go:
        nested: dict[str, Any] = {"path": path, "basename": base, "basenameNormalized": sanitize(base),
                                  "segments": path.split("/")}
        if filename is not None:
            nested.update(filename=filename, filenameNormalized=sanitize(filename))
        return {"path": nested}
    flat: dict[str, Any] = {"path": path, "path.basename": base, "path.basenameNormalized": sanitize(base)}
    if filename is not None:
        flat.update({"path.filename": filename, "path.filenameNormalized": sanitize(filename)})
    for index, segment in enumerate(path.split("/")):
        flat[f"path[{index}]"] = segment
    return flat


def _git(gen: Mapping[str, Any], root: Path, repo: str, go: bool, where: str) -> list[dict[str, Any]]:
    url = str(gen.get("repoURL") or "")
    if normalize_url(url) != repo:
        raise NotExpandable(f"git generator of another repository ({url})")
    if gen.get("directories"):
        items = [d for d in gen["directories"] if isinstance(d, Mapping)]
        return [_path_params(rel, go) for rel in _directories(root) if _selected(items, rel, _path_match)]
    if gen.get("files"):
        items = [f for f in gen["files"] if isinstance(f, Mapping)]
        files = sorted(rel for rel in (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
                       if not rel.startswith(".git/") and _selected(items, rel, repofiles.glob_match))
        out = []
        for rel in files:
            fmt = "json" if rel.endswith(".json") else "yaml"
            docs = parse_documents((root / rel).read_bytes(), rel, fmt)
            content = docs[0] if len(docs) == 1 else docs
            for entry in content if isinstance(content, list) else [content]:
                if entry is None:
                    continue
                if not isinstance(entry, Mapping):
                    raise ValidationError(f"{where}: git files generator: {rel} holds no object")
                params = dict(entry) if go else templating.flatten(entry)
                params.update(_path_params(os.path.dirname(rel), go, os.path.basename(rel)))
                out.append(params)
        return out
    raise NotExpandable("git generator without directories or files")


def _list(spec: Mapping[str, Any], go: bool, where: str) -> list[dict[str, Any]]:
    """list.go: with goTemplate each element as it is; else string values only, `values` one level down."""
    elements = spec.get("elements") or []
    if not isinstance(elements, list):
        raise ValidationError(f"{where}: list generator elements is not a list")
    if isinstance(spec.get("elementsYaml"), str) and spec["elementsYaml"].strip():
        extra = parse_documents(spec["elementsYaml"].encode(), f"{where} elementsYaml")
        elements = [*elements, *(extra[0] if extra and isinstance(extra[0], list) else [])]
    out = []
    for element in elements:
        if not isinstance(element, Mapping):
            raise ValidationError(f"{where}: list generator element is not a mapping")
        if go:
            out.append(dict(element))
            continue
        params: dict[str, Any] = {}
        for key, value in element.items():
            if key == "values" and isinstance(value, Mapping):
                for k, v in value.items():
                    if not isinstance(v, str):
                        raise ValidationError(f"{where}: list generator values.{k} is not a string")
                    params[f"values.{k}"] = v
            elif isinstance(value, str):
                params[str(key)] = value
            else:
                raise ValidationError(f"{where}: list generator element {key!r} is not a string (use goTemplate)")
        out.append(params)
    return out


def _deep(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """mergo.Merge WithOverride: maps merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, Mapping) else value
    return out


def _one(gen: Mapping[str, Any], root: Path, repo: str, go: bool, where: str) -> list[dict[str, Any]]:
    if "list" in gen:
        return _list(gen["list"] or {}, go, where)
    if "git" in gen:
        return _git(gen["git"] or {}, root, repo, go, where)
    if "clusters" in gen:
        return [dict(LOCAL_CLUSTER)]
    if "matrix" in gen:
        children = (gen["matrix"] or {}).get("generators") or []
        if len(children) != 2:
            raise ValidationError(f"{where}: a matrix generator takes exactly two generators")
        out = []
        for a in _one(children[0], root, repo, go, where):
            # the second generator may use the first's parameters (matrix.go interpolates it with them)
            second = templating.render(children[1], a, go=go, where=where)
            for b in _one(second, root, repo, go, where):
                if go:
                    out.append(_deep(_deep({}, b), a))
                    continue
                clash = [k for k in a if k in b and a[k] != b[k]]
                if clash:
                    raise ValidationError(f"{where}: matrix generators give {clash[0]!r} two values")
                out.append({**a, **b})
        return out
    if "merge" in gen:
        spec = gen["merge"] or {}
        keys = sorted({str(k) for k in spec.get("mergeKeys") or []})
        children = spec.get("generators") or []
        if len(children) < 2 or not keys:
            raise ValidationError(f"{where}: a merge generator needs two generators and mergeKeys")

        def by_key(sets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
            out: dict[str, dict[str, Any]] = {}
            for params in sets:
                ident = json.dumps({k: params.get(k) for k in keys}, sort_keys=True, default=str)
                if ident in out:
                    raise ValidationError(f"{where}: merge generator: two parameter sets share the key {ident}")
                out[ident] = params
            return out

        base = by_key(_one(children[0], root, repo, go, where))
        for child in children[1:]:
            others = by_key(_one(child, root, repo, go, where))
            for ident, params in base.items():
                if ident in others:
                    base[ident] = _deep(params, others[ident]) if go else {**params, **others[ident]}
        return list(base.values())
    kind = next(iter(gen), "?")
    raise NotExpandable(f"{kind} generator (needs the live Argo CD)")


def expand(body: Mapping[str, Any], found_in: str, root: Path, repo: str) -> list[dict[str, Any]]:
    """The Application bodies the ApplicationSet `body` generates (NotExpandable when a generator needs
    more than this repository)."""
    metadata = body.get("metadata") or {}
    name = metadata.get("name", "?")
    where = f"{found_in}: ApplicationSet {name}"
    spec = body.get("spec") if isinstance(body.get("spec"), Mapping) else {}
    go = bool(spec.get("goTemplate"))
    template = spec.get("template") if isinstance(spec.get("template"), Mapping) else {}
    patch_text = spec.get("templatePatch") if isinstance(spec.get("templatePatch"), str) else None
    out = []
    for gen in spec.get("generators") or []:
        if not isinstance(gen, Mapping):
            continue
        own_template = gen.get("template") if isinstance(gen.get("template"), Mapping) else {}
        for params in _one(gen, root, repo, go, where):
            merged = templating.merge_patch(template, own_template) if own_template else template
            app = templating.render(merged, params, go=go, where=where)
            if patch_text:
                rendered = templating.render(patch_text, params, go=go, where=where)
                patch = parse_documents(rendered.encode(), f"{where} templatePatch")
                if patch and isinstance(patch[0], Mapping):
                    app = templating.merge_patch(app, patch[0])
            app_meta = dict(app.get("metadata") or {})
            app_meta["namespace"] = metadata.get("namespace") or "argocd"
            out.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": app_meta,
                        "spec": app.get("spec") or {}})
    return out

