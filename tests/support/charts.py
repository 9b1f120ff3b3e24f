"""Helm charts made at test time and a Helm chart repository served over HTTP on 127.0.0.1, for
helm-controller (through source-controller's HelmRepository and HelmChart).

A chart is packaged as `helm package` lays it out: a gzipped tar whose entries sit under `<name>/`
(Chart.yaml, values.yaml, templates/...). The repository is a directory with the packages and an
index.yaml (apiVersion v1, one entry per chart version, with the package's sha256 digest and URL),
served by the standard library's static file server.
"""

from __future__ import annotations

import functools
import hashlib
import io
import tarfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    package: Path  # the .tgz
    digest: str  # sha256 hex of the package


def package_chart(dest: Path, name: str, version: str, templates: Mapping[str, str],
                  values: Mapping | None = None, app_version: str | None = None,
                  files: Mapping[str, str] | None = None) -> Chart:
    """Write `dest/<name>-<version>.tgz` holding a v2 chart with `templates` (file name -> text) and other
    `files` (chart-relative path -> text, e.g. `crds/widgets.yaml`)."""
    chart_yaml = {"apiVersion": "v2", "name": name, "version": version, "type": "application",
                  "description": f"{name}, made by a dr-bootstrap test"}
    if app_version:
        chart_yaml["appVersion"] = app_version
    extra = files
    files = {"Chart.yaml": yaml.safe_dump(chart_yaml, sort_keys=False), "values.yaml": yaml.safe_dump(dict(values or {}))}
    files.update({f"templates/{file}": text for file, text in templates.items()})
    files.update(extra or {})
    dest.mkdir(parents=True, exist_ok=True)
    package = dest / f"{name}-{version}.tgz"
    stamp = time.time()
    with tarfile.open(package, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, stamp
            tar.addfile(info, io.BytesIO(data))
    return Chart(name, version, package, hashlib.sha256(package.read_bytes()).hexdigest())


def write_index(directory: Path, base_url: str, charts: list[Chart]) -> Path:
    """`directory/index.yaml` listing `charts`, their packages to be fetched from `base_url`."""
    now = datetime.now(timezone.utc).isoformat()
    entries: dict[str, list[dict]] = {}
    for chart in charts:
        with tarfile.open(chart.package) as tar:
            meta = yaml.safe_load(tar.extractfile(f"{chart.name}/Chart.yaml").read())
        entries.setdefault(chart.name, []).append(
            {**meta, "created": now, "digest": chart.digest, "urls": [f"{base_url.rstrip('/')}/{chart.package.name}"]}
        )
    index = directory / "index.yaml"
    index.write_text(yaml.safe_dump({"apiVersion": "v1", "entries": entries, "generated": now}, sort_keys=False))
    return index


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@dataclass(frozen=True)
class ChartRepo:
    directory: Path
    url: str  # http://127.0.0.1:PORT (what a HelmRepository's spec.url names)
    charts: tuple[Chart, ...]


@contextmanager
def serve_chart_repo(directory: Path, charts: Mapping[str, Mapping[str, Mapping[str, str]]]) -> Iterator[ChartRepo]:
    """Package `charts` ({name: {version: {template file: text}}}) into `directory`, index them and serve the
    directory over HTTP for the length of the block."""
    directory.mkdir(parents=True, exist_ok=True)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    httpd.daemon_threads = True
    url = f"http://127.0.0.1:{httpd.server_port}"
    made = [package_chart(directory, name, version, templates)
            for name, versions in charts.items() for version, templates in versions.items()]
    write_index(directory, url, made)
    threading.Thread(target=httpd.serve_forever, name="chart-repo", daemon=True).start()
    try:
        yield ChartRepo(directory, url, tuple(made))
    finally:
        httpd.shutdown()
        httpd.server_close()
