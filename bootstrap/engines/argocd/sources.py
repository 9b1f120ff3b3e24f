"""One Application source rendered as Argo CD's repo-server renders it (reposerver/repository): its type
(explicit `helm`/`kustomize`/`directory`/`plugin`, else a `kustomization` file at the path, else a
`Chart.yaml`, else a directory), then
- directory: the path's `.yaml`/`.yml`/`.json` files (`recurse` for sub-directories), `include`/`exclude`
  globs on the path-relative name (gobwas' glob without separators: `*` crosses `/`), files holding
  `+argocd:skip-file-rendering` skipped; jsonnet is refused by name;
- kustomize: the real kustomize, with the Application's overrides written into the kustomization as
  `kustomize edit` would (namePrefix, nameSuffix, namespace, images) and KSOPS expanded in process;
- helm: the real helm (`helm.render_chart`); a directory with a Chart.yaml is never read as plain manifests;
  a chart of a Helm repository or OCI registry is pulled by helm first (`charts.render_pulled`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bootstrap.engines.argocd.apps import Application, Source
from bootstrap.engines.argocd.charts import render_pulled
from bootstrap.engines.argocd.helm import find_helm, ref_paths, render_chart
from bootstrap.errors import ValidationError
from bootstrap.kustomize.builder import Builder, Built, BuildSpec, Document
from bootstrap.kustomize.graph import kustomization_file
from bootstrap.manifests import parse_documents

SKIP_MARKER = b"+argocd:skip-file-rendering"
_MANIFEST = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")


def _glob_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(pattern)
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        elif c == "{":
            depth, end = 0, i
            for end in range(i, len(pattern)):
                depth += {"{": 1, "}": -1}.get(pattern[end], 0)
                if depth == 0:
                    break
            if depth:
                raise ValueError(pattern)
            parts, depth, start = [], 0, i + 1
            for j in range(i + 1, end):
                depth += {"{": 1, "}": -1}.get(pattern[j], 0)
                if pattern[j] == "," and depth == 0:
                    parts.append(pattern[start:j])
                    start = j + 1
            parts.append(pattern[start:end])
            out.append("(?:" + "|".join(_glob_regex(part) for part in parts) + ")")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def gobwas_match(pattern: str, text: str) -> bool:
    """gobwas/glob without separators: `*` any run (across `/`), `?` one character, `[…]`/`[!…]`, `{a,b}`
    alternatives (themselves globs); a pattern that does not compile matches nothing, as Argo CD logs it."""
    try:
        return re.fullmatch(_glob_regex(pattern), text, re.DOTALL) is not None
    except (ValueError, re.error):
        return False


class PluginSource(ValidationError):
    """The source names a config-management plugin: only the plugin renders it (its objects, its children)."""

    def __init__(self, where: str, path: str, name: str):
        self.path, self.plugin = path, f"config-management plugin {name}"
        super().__init__(f"{where}: source {path} is rendered by {self.plugin}; only Argo CD's plugin renders it")


def source_type(source: Source, directory: Path, where: str) -> str:
    explicit = [name for name, on in (("helm", source.explicit_helm), ("kustomize", source.kustomize is not None),
                                      ("directory", source.directory is not None),
                                      ("plugin", source.plugin is not None)) if on]
    if len(explicit) > 1:
        raise ValidationError(f"{where}: source has more than one type ({', '.join(explicit)})")
    if explicit:
        return explicit[0]
    if kustomization_file(directory) is not None:
        return "kustomize"
    if (directory / "Chart.yaml").is_file():
        return "helm"
    return "directory"


def _directory(builder: Builder, source: Source, directory: Path, where: str) -> list[Document]:
    spec = source.directory or {}
    recurse, include, exclude = bool(spec.get("recurse")), str(spec.get("include") or ""), str(spec.get("exclude") or "")
    if spec.get("jsonnet"):
        raise ValidationError(f"{where}: directory.jsonnet is not rendered by dr-bootstrap")
    docs: list[Document] = []
    paths = sorted(p for p in (directory.rglob("*") if recurse else directory.glob("*")) if p.is_file())
    for path in paths:
        rel = path.relative_to(directory).as_posix()
        if any(part.startswith(".") and part not in (".", "..") for part in rel.split("/")[:-1]) and recurse:
            pass  # filepath.Walk enters hidden directories too
        if not _MANIFEST.match(path.name):
            continue
        if not path.resolve().is_relative_to(builder.root):
            raise ValidationError(f"{where}: {rel}: symlink points outside the repository; refused")
        if exclude and gobwas_match(exclude, rel) or include and not gobwas_match(include, rel):
            continue
        data = path.read_bytes()
        if SKIP_MARKER in data:
            continue
        repo_rel = builder.rel(path)
        if path.name.endswith(".jsonnet"):
            raise ValidationError(f"{where}: {repo_rel}: jsonnet is not rendered by dr-bootstrap")
        for body in parse_documents(data, repo_rel, "json" if path.name.endswith(".json") else "yaml",
                                    builder.limits):
            if body is None:
                continue
            if not isinstance(body, dict):
                raise ValidationError(f"{repo_rel}: a document is not a Kubernetes object")
            docs.append(Document(text=None, body=body, source=repo_rel))
    return docs


def _images(raw: Any, where: str) -> list[dict[str, str]]:
    """Argo CD's kustomize images (`name=new:tag`, `name:tag`, `name@digest`) as kustomize image entries."""
    out = []
    for item in raw or []:
        text = str(item)
        name, sep, new = text.partition("=")
        image: dict[str, str] = {}
        ref = new if sep else text
        if "@" in ref:
            ref, _, digest = ref.partition("@")
            image["digest"] = digest
        base, colon, tag = ref.rpartition(":")
        if colon and "/" not in tag:
            ref = base
            image["newTag"] = tag
        image["name"] = name if sep else ref
        if sep and ref != name:
            image["newName"] = ref
        out.append(image)
    return out


def kustomize_spec(kustomize: Mapping[str, Any] | None, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Application's kustomize overrides: (what the build merges as a Flux-shaped spec: namePrefix,
    nameSuffix, namespace, images, patches, components; what it sets as `kustomize edit` would:
    commonLabels, commonAnnotations, replicas)."""
    k = dict(kustomize or {})
    spec: dict[str, Any] = {}
    edits: dict[str, Any] = {}
    for ours, theirs in (("namePrefix", "namePrefix"), ("nameSuffix", "nameSuffix"), ("targetNamespace", "namespace")):
        if k.get(theirs):
            spec[ours] = str(k[theirs])
    if k.get("images"):
        spec["images"] = _images(k["images"], where)
    for index, patch in enumerate(k.get("patches") or []):
        if not isinstance(patch, Mapping) or patch.get("path") or not patch.get("patch"):
            raise ValidationError(f"{where}: kustomize.patches[{index}]: only inline `patch` (with `target`) is "
                                  "rendered by dr-bootstrap")
        spec.setdefault("patches", []).append({"patch": patch["patch"], **({"target": patch["target"]}
                                                                           if patch.get("target") else {})})
    if k.get("components"):
        spec["components"] = list(k["components"])
        spec["ignoreMissingComponents"] = bool(k.get("ignoreMissingComponents"))
    for key, force in (("commonLabels", "forceCommonLabels"), ("commonAnnotations", "forceCommonAnnotations")):
        if k.get(key) and not k.get(force):
            edits.setdefault("unforced", []).append(key)
    if k.get("commonLabels"):
        if k.get("labelWithoutSelector"):
            edits["labels"] = [{"pairs": dict(k["commonLabels"]),
                                **({"includeTemplates": True} if k.get("labelIncludeTemplates") else {})}]
        else:
            edits["commonLabels"] = dict(k["commonLabels"])
    if k.get("commonAnnotations"):
        edits["commonAnnotations"] = dict(k["commonAnnotations"])
    if k.get("replicas"):
        edits["replicas"] = [{"name": r.get("name"), "count": r.get("count")} for r in k["replicas"]
                             if isinstance(r, Mapping)]
    if k.get("version") or k.get("commonAnnotationsEnvsubst"):
        raise ValidationError(f"{where}: kustomize.version / commonAnnotationsEnvsubst are not rendered by "
                              "dr-bootstrap")
    return spec, edits


def build_options(raw: str | None, notes: list[str], helm_bin: Callable[[], str] = find_helm) -> tuple[str, ...]:
    """argocd-cm `kustomize.buildOptions` as dr-bootstrap honours them: `--enable-helm` (with the helm
    dr-bootstrap chose); `--enable-alpha-plugins`/`--enable-exec` never (KSOPS is expanded in process);
    `--load-restrictor` is moot (references are checked to stay inside the repository)."""
    options: list[str] = []
    for flag in (raw or "").split():
        name = flag.split("=", 1)[0]
        if name == "--enable-helm":
            options += ["--enable-helm", "--helm-command", helm_bin()]
        elif name in ("--enable-alpha-plugins", "--enable-exec"):
            notes.append(f"argocd-cm kustomize.buildOptions {name}: not passed to kustomize (KSOPS generators are "
                         "expanded in process; no other plugin runs)")
        elif name.startswith("--"):
            notes.append(f"argocd-cm kustomize.buildOptions {name}: ignored by dr-bootstrap")
    return tuple(options)


def render_source(builder: Builder, app: Application, source: Source, *, repo: str,
                  options: tuple[str, ...] = (), helm_bin: Callable[[], str] = find_helm,
                  chart_repos: Mapping[str, Mapping[str, str]] | None = None) -> Built:
    """`chart_repos`: what Argo CD's repository Secrets say of chart repositories (`charts.repository_settings`)."""
    where = f"Application {app.key}"
    if source.chart is not None:
        docs = render_pulled(builder, app, source, ref_paths(builder, app.sources, repo), chart_repos or {},
                             helm_bin=helm_bin)
        return Built(BuildSpec(path="", label=where), docs, [])
    path = source.path or ""
    directory = builder.root / path if path else builder.root
    if not directory.is_dir():
        raise ValidationError(f"{where}: source path {path or '.'} not found in this repository")
    kind = source_type(source, directory, where)
    if kind == "kustomize":
        spec, edits = kustomize_spec(source.kustomize, where)
        return builder.build(BuildSpec(path=path, spec=spec, edits=edits, decrypts=False, label=where,
                                       options=options))
    if kind == "directory":
        return Built(BuildSpec(path=path, label=where), _directory(builder, source, directory, where), [])
    if kind == "helm":
        if not (directory / "Chart.yaml").is_file():
            raise ValidationError(f"{where}: helm source {path or '.'} has no Chart.yaml")
        docs = render_chart(builder, app, source, directory, ref_paths(builder, app.sources, repo), helm_bin=helm_bin)
        return Built(BuildSpec(path=path, label=where), docs, [])
    raise PluginSource(where, path or ".", str((source.plugin or {}).get("name") or "found by discovery"))
