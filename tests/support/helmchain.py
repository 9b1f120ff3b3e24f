"""A chain of Helm releases made at test time for `restore --helm` (tests/integration/test_helm_install.py,
bench/helm.py): charts pushed to a real OCI registry (tests.support.registry), and a repository holding Flux's
components, a namespace, OCIRepositories (`insecure: true`: plain HTTP) and HelmReleases chained by dependsOn.

`base` ships a CRD in crds/ and a custom resource of it in its templates (it installs only when the CRDs went
in first: helm runs with --skip-crds); `app` takes values inline, from a SOPS Secret and from a ConfigMap key
with a targetPath, and has a Deployment; `broken` holds a ConfigMap the API server rejects; `crash` (timeout 10m)
a Deployment whose pod crash-loops.
"""

from __future__ import annotations

from pathlib import Path

from tests.support import fluxrepos
from tests.support.charts import package_chart
from tests.support.flux import install_manifests

GROUP = "drb-helm.example.com"
CRD = fluxrepos.dump(fluxrepos.crd(GROUP, "Widget", "widgets"))
BASE_TEMPLATES = {
    "info.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base-info\ndata:\n"
                 "  greeting: {{ .Values.greeting | quote }}\n",
    "widget.yaml": f"apiVersion: {GROUP}/v1\nkind: Widget\nmetadata:\n  name: first\nspec:\n  size: 3\n",
}
APP_TEMPLATES = {
    "settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\ndata:\n"
                     "  password: {{ .Values.db.password | quote }}\n  color: {{ .Values.color | quote }}\n"
                     "  replicas: {{ .Values.replicas | quote }}\n",
    "deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: registry.example/app:1.0}]
""",
}
CRASH_TEMPLATES = {"deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: crasher
spec:
  replicas: 1
  selector: {matchLabels: {app: crasher}}
  template:
    metadata:
      labels: {app: crasher}
      annotations: {dr-bootstrap.io/simulate: crashloop}
    spec:
      containers: [{name: crasher, image: registry.example/crasher:1.0}]
"""}  # the local cluster's kubelet reports its pod in CrashLoopBackOff (drb_localcluster/kubelet_sim.py)
BROKEN_TEMPLATES = {"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\ndata: {a: b}\n"}


def push_charts(reg, work: Path) -> None:
    """Package the charts here and push them to `reg` under charts/."""
    for name, version, templates, files in (
            ("drb-base", "0.1.0", BASE_TEMPLATES, {"crds/widgets.yaml": CRD}),
            ("drb-app", "0.2.0", APP_TEMPLATES, None),
            ("drb-broken", "0.1.0", BROKEN_TEMPLATES, None),
            ("drb-crash", "0.1.0", CRASH_TEMPLATES, None)):
        reg.push(package_chart(work, name, version, templates, values={"replicas": 1}, files=files).package)


def oci_repository(name: str, ns: str, url: str, tag: str) -> dict:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "metadata": {"name": name, "namespace": ns},
            "spec": {"interval": "1h", "url": url, "ref": {"tag": tag}, "insecure": True,
                     "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                       "operation": "copy"}}}


def helm_release(name: str, ns: str, chart_source: str, **spec) -> dict:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": name, "namespace": ns},
            "spec": {"interval": "1h", "chartRef": {"kind": "OCIRepository", "name": chart_source}, **spec}}


def helm_repo(tmp: Path, reg, key, ns: str, password: str, *, app_tag: str = "0.2.0", broken: bool = False,
              chart_repo: str | None = None, crash: bool = False, crash_timeout: str = "10m") -> Path:
    """The repository: gotk components, the namespace, the sources and releases, the values objects."""
    age, _ = key
    charts = reg.oci("charts")
    releases = [
        oci_repository("base", ns, f"{charts}/drb-base", "0.1.0"),
        helm_release("base", ns, "base", values={"greeting": "hello"}),
        oci_repository("app", ns, f"{charts}/drb-app", app_tag),
        helm_release("app", ns, "app", dependsOn=[{"name": "base"}], values={"replicas": 2},
                     valuesFrom=[{"kind": "Secret", "name": "app-values"},
                                 {"kind": "ConfigMap", "name": "app-color", "valuesKey": "color",
                                  "targetPath": "color"}]),
    ]
    if chart_repo:  # a chart from a HelmRepository (spec.chart), plain HTTP
        releases += [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                      "metadata": {"name": "charts", "namespace": ns}, "spec": {"interval": "1h", "url": chart_repo}},
                     {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                      "metadata": {"name": "web", "namespace": ns},
                      "spec": {"interval": "1h", "values": {"x": "from-http-repo"}, "chart": {"spec": {
                          "chart": "drb-web", "version": "0.3.x",
                          "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}}]
    if broken:
        releases += [oci_repository("broken", ns, f"{charts}/drb-broken", "0.1.0"),
                     helm_release("broken", ns, "broken", dependsOn=[{"name": "app"}])]
    if crash:  # helm's --wait would wait 10 minutes for it
        releases += [oci_repository("crash", ns, f"{charts}/drb-crash", "0.1.0"),
                     helm_release("crash", ns, "crash", dependsOn=[{"name": "app"}], timeout=crash_timeout)]
    files = {
        "clusters/dr/kustomization.yaml": fluxrepos.kustomization(
            resources=["gotk-components.yaml", "namespace.yaml", "releases.yaml", "values.sops.yaml", "color.yaml"]),
        "clusters/dr/gotk-components.yaml": install_manifests(),
        "clusters/dr/namespace.yaml": fluxrepos.dump(fluxrepos.namespace(ns)),
        "clusters/dr/releases.yaml": fluxrepos.dump(*releases),
        "clusters/dr/values.sops.yaml": fluxrepos.dump(fluxrepos.secret(
            "app-values", {"values.yaml": f"db:\n  password: {password}\n"}, ns)),
        "clusters/dr/color.yaml": fluxrepos.dump(fluxrepos.configmap("app-color", {"color": "teal"}, ns)),
    }
    return fluxrepos.write_repo(tmp / "repo", files, lambda rel: [age.recipient]).path
