"""An Application source that is a chart of a Helm repository (`chart` with an `http(s)://` repoURL) or of an
OCI registry (`oci://HOST/PATH`, or `HOST/PATH` without a scheme, as Argo CD writes OCI Helm repositories),
pulled by the real helm (`helm pull --untar`) into a scratch directory while the repository renders, so
before anything is written; then rendered by `helm.render_chart` as a chart of the repository is (value
files relative to the chart, `$ref/…` from this repository).

Argo CD's repository Secrets among the restored objects (label `argocd.argoproj.io/secret-type` repository
or repo-creds, matched by URL or prefix) say how to reach it: `enableOCI` or `type: oci` (OCI without
`oci://`), `insecureOCIForceHttp` (plain HTTP, as Argo CD documents it; its v3.2 repo-server passes it to
native OCI sources only, not to `helm pull`) and `insecure` (TLS not verified). Their credentials are not
handed to helm (a secret never goes on argv): a registry that needs a login is reached with the operator's
own helm login (`helm registry login`, helm's repository config). A chart helm cannot pull is one error
(exit 3) naming chart, version and repository.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap import helmcli
from bootstrap.engines.argocd.helm import find_helm, render_chart
from bootstrap.errors import SourceError
from bootstrap.kustomize.builder import Document

if TYPE_CHECKING:
    from bootstrap.engines.argocd.apps import Application, Source
    from bootstrap.kustomize.builder import Builder
    from bootstrap.model import Manifest

SECRET_TYPE = "argocd.argoproj.io/secret-type"
SETTINGS = ("type", "url", "enableOCI", "insecureOCIForceHttp", "insecure")  # never a credential
PULL_TIMEOUT = 300.0
LATEST = ("", "HEAD", "*", "latest")


def _bare(url: str) -> str:
    return url.strip().removeprefix("oci://").rstrip("/").lower()


def repository_settings(manifests: Iterable[Manifest]) -> dict[str, dict[str, str]]:
    """URL (without `oci://`, lower case) -> the non-secret settings of Argo CD's repository Secrets
    (`repo-creds` ones under `creds:` + URL, as prefixes)."""
    out: dict[str, dict[str, str]] = {}
    for m in manifests:
        if m.ref.kind != "Secret" or m.ref.api_version != "v1":
            continue
        kind = m.labels.get(SECRET_TYPE)
        if kind not in ("repository", "repo-creds"):
            continue
        fields: dict[str, str] = {}
        for name, value in (m.body.get("data") or {}).items():
            if name in SETTINGS and isinstance(value, str):
                try:
                    fields[name] = base64.b64decode(value).decode()
                except (ValueError, UnicodeDecodeError):
                    continue
        for name, value in (m.body.get("stringData") or {}).items():
            if name in SETTINGS:
                fields[name] = str(value)
        if fields.get("url"):
            out[("creds:" if kind == "repo-creds" else "") + _bare(fields["url"])] = fields
    return out


def _settings_for(url: str, known: Mapping[str, Mapping[str, str]]) -> Mapping[str, str]:
    bare = _bare(url)
    if bare in known:
        return known[bare]
    prefixes = [k for k in known if k.startswith("creds:") and bare.startswith(k[len("creds:"):])]
    return known[max(prefixes, key=len)] if prefixes else {}


def pull_argv(source: Source, settings: Mapping[str, str]) -> list[str]:
    """`helm pull` arguments for the source's chart (without the destination)."""
    url, chart = source.repo_url.strip(), str(source.chart)
    oci = url.startswith("oci://") or "://" not in url or settings.get("enableOCI", "").lower() == "true" \
        or settings.get("type") == "oci"
    argv = ["pull", f"oci://{_bare(url) if url.startswith('oci://') else url.rstrip('/')}/{chart}"] if oci \
        else ["pull", chart, "--repo", url]
    if source.revision not in LATEST:
        argv += ["--version", source.revision]
    if oci and settings.get("insecureOCIForceHttp", "").lower() == "true":
        argv.append("--plain-http")
    if settings.get("insecure", "").lower() == "true":
        argv.append("--insecure-skip-tls-verify")
    return argv


def render_pulled(builder: Builder, app: Application, source: Source, refs: Mapping[str, Path],
                  settings: Mapping[str, Mapping[str, str]], *, helm_bin: Callable[[], str] = find_helm
                  ) -> list[Document]:
    """The source's chart pulled by helm and rendered by `render_chart`. SourceError (exit 3) naming chart,
    version and repository when helm cannot pull it."""
    version = source.revision if source.revision not in LATEST else "latest"
    what = f"chart {source.chart} version {version} from {source.repo_url}"
    argv = pull_argv(source, _settings_for(source.repo_url, settings))
    helm = helmcli.Helm(helm_bin(), "")
    with tempfile.TemporaryDirectory(prefix="drb-chart-", dir=builder.disk_base) as scratch:
        done = helm.run([*argv, "--untar", "--destination", scratch], timeout=PULL_TIMEOUT)
        charts = [p for p in Path(scratch).iterdir() if (p / "Chart.yaml").is_file()]
        if done.returncode != 0 or len(charts) != 1:
            raise SourceError(f"Application {app.key}: cannot pull {what}: {helmcli.message(done)}",
                              hint="check that the version exists in that repository and that helm can reach it "
                                   "(`helm registry login` for a registry that needs one)")
        return render_chart(builder, app, source, charts[0], refs, helm_bin=helm_bin,
                            label=f"{source.chart}-{version}")
