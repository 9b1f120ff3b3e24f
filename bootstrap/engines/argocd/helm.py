"""A Helm chart in this repository rendered as Argo CD's repo-server renders it (reposerver `helmTemplate`,
util/helm `Template`): `helm template CHART --name-template RELEASE --namespace NS --include-crds`, then
`--set`/`--set-string`/`--set-file` from `parameters`, `--values` for each value file (relative to the
chart; `$REF/…` from a `ref` source of this repository) and last `values`/`valuesObject`.

helm-secrets value files (`secrets://PATH`, `secrets+age-import://KEY?PATH`, …) are decrypted here, in
process with their MAC verified, and handed to helm from a memory-backed directory: helm never sees a
plugin scheme, and its plugin, cache and config directories point into an empty scratch directory, so no
installed plugin runs. A chart whose dependencies are not vendored in `charts/` cannot be pulled offline:
one error naming each chart, version and repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootstrap import helmcli
from bootstrap.engines.argocd.apps import normalize_url
from bootstrap.errors import ValidationError
from bootstrap.kustomize.builder import Document
from bootstrap.kustomize.graph import sops_format
from bootstrap.kustomize.scratch import PlaintextRefused
from bootstrap.manifests import parse_documents
from bootstrap.scrub import Scrubber, document_values
from bootstrap.yamlread import dump

if TYPE_CHECKING:
    from bootstrap.engines.argocd.apps import Application, Source
    from bootstrap.kustomize.builder import Builder

_SECRETS_SCHEME = re.compile(r"^secrets(\+[a-z-]+)?://(?:[^?]*\?)?(.+)$")
_SOURCE = re.compile(r"^# Source: ([^\n]+)$", re.MULTILINE)
TIMEOUT = 300


def find_helm(explicit: str | None = None) -> str:
    """The helm that renders Argo CD Helm sources: helmcli's one finder (--helm-bin, $DR_BOOTSTRAP_HELM, PATH,
    the helm `make helm` built)."""
    return helmcli.locate(explicit, purpose="to render Argo CD Helm sources with")[0]


def _dependencies(chart_dir: Path, where: str) -> None:
    chart = parse_documents((chart_dir / "Chart.yaml").read_bytes(), f"{where}: Chart.yaml")
    deps = (chart[0] or {}).get("dependencies") if chart and isinstance(chart[0], Mapping) else None
    missing = []
    for dep in deps or []:
        if not isinstance(dep, Mapping):
            continue
        name, repo = str(dep.get("name", "?")), str(dep.get("repository", ""))
        if repo.startswith("file://"):
            continue
        vendored = list((chart_dir / "charts").glob(f"{name}-*.tgz")) + [chart_dir / "charts" / name]
        if not any(p.exists() for p in vendored):
            missing.append(f"{name} {dep.get('version', '?')} from {repo or '?'}")
    if missing:
        raise ValidationError(f"{where}: chart dependencies cannot be pulled offline: {', '.join(missing)} "
                              "(vendor them in charts/)")


def _value_file(builder: Builder, chart_dir: Path, raw: str, refs: Mapping[str, Path], where: str,
                scratch: Path, index: int, secrets: list[str]) -> str | None:
    match = _SECRETS_SCHEME.match(raw)
    path_text = match.group(2) if match else raw
    if path_text.startswith("$"):
        name, _, rest = path_text[1:].partition("/")
        if name not in refs:
            raise ValidationError(f"{where}: value file {raw!r} names ref {name!r}, which no source of this "
                                  "repository defines")
        target = refs[name] / rest
    else:
        target = chart_dir / path_text
    real = target.resolve()
    if not (real.is_relative_to(builder.root) or real.is_relative_to(chart_dir.resolve())):
        raise ValidationError(f"{where}: value file {raw!r} points outside the repository; refused")
    if not real.is_file():
        raise ValidationError(f"{where}: value file {raw!r} not found")
    if not match:
        return str(real)
    if not real.is_relative_to(builder.root):
        raise ValidationError(f"{where}: helm-secrets value file {raw!r} is not in this repository")
    rel = real.relative_to(builder.root).as_posix()
    opened = builder.secrets.open_file(rel, sops_format(rel))
    plain = opened.render("yaml")
    builder.secrets.learner.learn(document_values(opened.documents, plain))
    secrets.extend(document_values(opened.documents, plain))
    out = scratch / f"secrets-{index}.yaml"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(plain)
    return str(out)


def render_chart(builder: Builder, app: Application, source: Source, chart_dir: Path,
                 refs: Mapping[str, Path], *, helm_bin: Callable[[], str] = find_helm,
                 label: str | None = None) -> list[Document]:
    """`label`: how the chart's files are named in messages when it is not in the repository (a pulled chart)."""
    where = f"Application {app.key}"
    _dependencies(chart_dir, where)
    helm: Mapping[str, Any] = source.helm or {}
    release = str(helm.get("releaseName") or app.name)
    namespace = str(helm.get("namespace") or app.destination_namespace or "")
    base = builder.memory_base
    if base is None:
        raise PlaintextRefused(f"{where}: rendering a chart needs a memory-backed directory (tmpfs) for its values")
    secrets: list[str] = []
    with tempfile.TemporaryDirectory(prefix="drb-helm-", dir=base) as scratch_name:
        scratch = Path(scratch_name)
        os.chmod(scratch, 0o700)
        argv = [helm_bin(), "template", str(chart_dir), "--name-template", release]
        if namespace:
            argv += ["--namespace", namespace]
        for p in helm.get("parameters") or []:
            if not isinstance(p, Mapping) or not p.get("name"):
                continue
            flag = "--set-string" if p.get("forceString") else "--set"
            argv += [flag, f"{p['name']}={str(p.get('value', '')).replace(',', chr(92) + ',')}"]
        for p in helm.get("fileParameters") or []:
            if isinstance(p, Mapping) and p.get("name"):
                path = _value_file(builder, chart_dir, str(p.get("path", "")), refs, where, scratch, 1000, secrets)
                argv += ["--set-file", f"{p['name']}={path}"]
        missing_ok = bool(helm.get("ignoreMissingValueFiles"))
        for index, raw in enumerate(helm.get("valueFiles") or []):
            try:
                path = _value_file(builder, chart_dir, str(raw), refs, where, scratch, index, secrets)
            except ValidationError:
                if missing_ok:
                    continue
                raise
            argv += ["--values", path]
        values = helm.get("valuesObject") or helm.get("values")
        if values:
            extra = scratch / "values.yaml"
            extra.write_text(values if isinstance(values, str) else dump(values))
            argv += ["--values", str(extra)]
        if not helm.get("skipCrds"):
            argv.append("--include-crds")
        if helm.get("skipSchemaValidation"):
            argv.append("--skip-schema-validation")
        if helm.get("skipTests"):
            argv.append("--skip-tests")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(scratch), "HELM_CACHE_HOME": str(scratch / "cache"),
               "HELM_CONFIG_HOME": str(scratch / "config"), "HELM_DATA_HOME": str(scratch / "data"),
               "HELM_PLUGINS": str(scratch / "plugins")}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        scrub = Scrubber()
        scrub.learn(secrets, builder.secrets.learner.public)
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip() and "--debug" not in line]
        message = scrub(" ".join(lines[:3]) if lines else f"exit {done.returncode}")
        raise ValidationError(f"{where}: helm template failed: {message.replace(str(builder.root) + '/', '')}")
    return list(_documents(done.stdout, builder, chart_dir, where, label))


def _documents(text: str, builder: Builder, chart_dir: Path, where: str, label: str | None):
    chart_rel = label if label is not None else builder.rel(chart_dir)
    for chunk in re.split(r"^---[ \t]*$", text, flags=re.MULTILINE):
        if not chunk.strip():
            continue
        found = _SOURCE.search(chunk)
        source = where
        if found:
            inside = found.group(1).split("/", 1)[1] if "/" in found.group(1) else found.group(1)
            source = f"{chart_rel}/{inside}" if chart_rel else inside
        for body in parse_documents(chunk.encode(), source, "yaml", builder.limits):
            if isinstance(body, dict):
                yield Document(text=None, body=body, source=source)


def ref_paths(builder: Builder, sources: Sequence[Source], repo: str) -> dict[str, Path]:
    """`ref` name -> the checkout root, for ref sources of this repository."""
    return {s.ref: builder.root for s in sources if s.ref and normalize_url(s.repo_url) == repo}
