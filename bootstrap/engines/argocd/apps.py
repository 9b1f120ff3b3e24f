"""Argo CD Applications as found in a rendered set: their sources, destination and wave, whether they come
from this repository, and the `--kustomization` selection read as Application names (pure)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bootstrap.errors import UsageError, ValidationError

GROUP = "argoproj.io"
APPLICATION = "Application"
APPLICATION_SET = "ApplicationSet"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
DEFAULT_NAMESPACE = "argocd"  # where Argo CD's controller looks for Applications unless told otherwise
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.*)$")


def is_argo(body: Mapping[str, Any], kind: str) -> bool:
    api = body.get("apiVersion")
    return body.get("kind") == kind and isinstance(api, str) and api.split("/")[0] == GROUP


def normalize_url(url: str) -> str:
    """A Git URL as Argo CD compares them: scheme, user, a `.git` suffix, a trailing slash and case left out
    (`git@host:org/repo.git`, `ssh://git@host/org/repo` and `https://host/org/repo` are one repository)."""
    raw = url.strip()
    scp = _SCP_LIKE.match(raw) if "://" not in raw else None
    if scp:
        host, path = scp.group(1), scp.group(2)
    elif "://" in raw:
        parts = urlsplit(raw)
        host, path = (parts.hostname or "") + (f":{parts.port}" if parts.port and parts.scheme not in ("ssh",) else ""), parts.path
        if parts.scheme == "file":
            host = ""
    else:
        host, path = "", raw
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host.lower()}/{path.lower()}".strip("/")


@dataclass(frozen=True)
class Source:
    repo_url: str
    path: str | None  # repo-relative, normalised; None for a chart from a Helm repository
    revision: str
    chart: str | None
    ref: str | None  # a `ref` source (value files for another source)
    helm: Mapping[str, Any] = field(default_factory=dict)
    kustomize: Mapping[str, Any] | None = None
    directory: Mapping[str, Any] | None = None
    plugin: Mapping[str, Any] | None = None
    explicit_helm: bool = False


@dataclass(frozen=True)
class Application:
    namespace: str
    name: str
    sources: tuple[Source, ...]
    destination_namespace: str
    destination: str  # server or name, for messages
    wave: int
    found_in: str  # the repository file (or ApplicationSet) it came from
    parent: str | None = None  # the Application whose render holds it
    generated_by: str | None = None  # `namespace/name` of its ApplicationSet

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def ours(self, repo: str) -> bool:
        """Every source that renders manifests comes from this repository (ref sources may come from it) or is a
        chart of a Helm repository or OCI registry (helm pulls it)."""
        rendering = [s for s in self.sources if s.ref is None or s.path]
        return bool(rendering) and all(s.chart is not None or normalize_url(s.repo_url) == repo for s in rendering)

    def origin(self) -> str:
        rendering = [s for s in self.sources if s.ref is None or s.path]
        return ", ".join(f"{s.repo_url}{' chart ' + s.chart if s.chart else ''}" for s in rendering) or "no source"


def normalize_path(raw: Any, where: str) -> str:
    path = posixpath.normpath(str(raw or ".").strip()).lstrip("/")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValidationError(f"{where}: source path {raw!r} leaves the repository")
    return "/".join(parts)


def _source(raw: Any, where: str) -> Source:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{where}: a source is not a mapping")
    repo = raw.get("repoURL")
    if not isinstance(repo, str) or not repo:
        raise ValidationError(f"{where}: a source has no repoURL")
    chart = raw.get("chart") if isinstance(raw.get("chart"), str) else None
    path = normalize_path(raw.get("path"), where) if raw.get("path") is not None and not chart else None
    helm = raw.get("helm") if isinstance(raw.get("helm"), Mapping) else {}
    return Source(repo_url=repo, path=path, revision=str(raw.get("targetRevision") or "HEAD"), chart=chart,
                  ref=raw.get("ref") if isinstance(raw.get("ref"), str) else None, helm=helm,
                  kustomize=raw.get("kustomize") if isinstance(raw.get("kustomize"), Mapping) else None,
                  directory=raw.get("directory") if isinstance(raw.get("directory"), Mapping) else None,
                  plugin=raw.get("plugin") if isinstance(raw.get("plugin"), Mapping) else None,
                  explicit_helm="helm" in raw)


def wave_of(body: Mapping[str, Any], where: str) -> int:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), Mapping) else {}
    raw = annotations.get(SYNC_WAVE, "0")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValidationError(f"{where}: annotation {SYNC_WAVE} {raw!r} is not an integer") from None


def parse(body: Mapping[str, Any], found_in: str, parent: str | None = None,
          generated_by: str | None = None) -> Application:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    name = metadata.get("name")
    where = f"{found_in}: Application {name or '?'}"
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{found_in}: an Application without metadata.name")
    spec = body.get("spec") if isinstance(body.get("spec"), Mapping) else {}
    raw_sources = spec.get("sources") if spec.get("sources") else ([spec["source"]] if spec.get("source") else [])
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ValidationError(f"{where}: neither spec.source nor spec.sources")
    dest = spec.get("destination") if isinstance(spec.get("destination"), Mapping) else {}
    return Application(
        namespace=str(metadata.get("namespace") or DEFAULT_NAMESPACE), name=name,
        sources=tuple(_source(s, where) for s in raw_sources),
        destination_namespace=str(dest.get("namespace") or ""),
        destination=str(dest.get("server") or dest.get("name") or ""),
        wave=wave_of(body, where), found_in=found_in, parent=parent, generated_by=generated_by,
    )


def parse_selection(values: Sequence[str]) -> tuple[bool, list[tuple[str | None, str]]]:
    """`--kustomization` read as Application names: (every, [(namespace or None, name)])."""
    every, wanted = False, []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            if item.lower() == "all":
                every = True
                continue
            namespace, sep, name = item.rpartition("/")
            if sep and (not namespace or not name or "/" in namespace):
                raise UsageError(f"--kustomization {item!r}: expected an Application NAME or NAMESPACE/NAME, or all")
            wanted.append((namespace or None, name))
    return every, wanted


def find(known: Mapping[str, Application], namespace: str | None, name: str) -> Application | None:
    if namespace:
        return known.get(f"{namespace}/{name}")
    return next((a for a in known.values() if a.name == name), None)
