"""A repository in today's onedr0p/cluster-template shape with flux-operator as the root, and the small charts
its Helm releases install, made at run time (by tests/integration/test_template_restore.py and `make
drill-template`).

The helmfile chain of the template, `needs` encoded as the HelmReleases' dependsOn: cilium (kube-system, a
DaemonSet) -> coredns (kube-system, a Deployment and a Service) -> flux-operator (its CRDs from the flux-operator
build in crds/, a Deployment standing in for the operator's) -> flux-instance (a FluxInstance rendered from
`.Values.instance`, as the upstream chart does). Each chart is taken from an OCIRepository (`chartRef`) on a
loopback registry (`insecure`). `bootstrap/` holds the SOPS age key copy and cluster-secrets;
`kubernetes/flux/cluster/ks.yaml` has `cluster-apps` (provider sops, no secretRef); the `demo` app holds an
encrypted Secret.
"""

from __future__ import annotations

from pathlib import Path

from drb_localcluster import fluxoperator
from tests.support.charts import package_chart
from tests.support.fluxrepos import dump, flux_ks, kustomization, namespace, secret
from tests.support.helmchain import helm_release, oci_repository
from tests.support.operatorrepos import PATCHES

NS = "flux-system"
KS = "kube-system"
RELEASES = [f"{KS}/cilium", f"{KS}/coredns", f"{NS}/flux-operator", f"{NS}/flux-instance"]  # the install order
APP_SECRET = "template-secret-" + "7c2e91"
OPERATOR_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: flux-operator
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: flux-operator}}
  template:
    metadata: {labels: {app.kubernetes.io/name: flux-operator}}
    spec:
      containers: [{name: manager, image: "ghcr.io/controlplaneio-fluxcd/flux-operator:{{ .Chart.AppVersion }}"}]
"""
CILIUM_DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: cilium
spec:
  selector: {matchLabels: {k8s-app: cilium}}
  template:
    metadata: {labels: {k8s-app: cilium}}
    spec:
      containers: [{name: cilium-agent, image: "quay.io/cilium/cilium:v{{ .Chart.AppVersion }}"}]
"""
COREDNS_TEMPLATES = {"deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
spec:
  replicas: {{ .Values.replicaCount }}
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      containers: [{name: coredns, image: "registry.k8s.io/coredns/coredns:v{{ .Chart.AppVersion }}"}]
""", "service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: coredns
spec:
  selector: {k8s-app: kube-dns}
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
"""}
INSTANCE_TEMPLATE = """apiVersion: fluxcd.controlplane.io/v1
kind: FluxInstance
metadata:
  name: flux
  namespace: {{ .Release.Namespace }}
spec:
{{ toYaml .Values.instance | indent 2 }}
"""


def push_charts(reg, base: Path, operator_dir: Path) -> None:
    """Package the four charts under `base` and push them to `reg` at oci://HOST/charts/NAME:VERSION."""
    crds = {f"crds/{p.name}": p.read_text() for p in sorted(fluxoperator.crd_dir(operator_dir).glob("*.yaml"))}
    for chart in (package_chart(base, "cilium", "1.18.4", {"daemonset.yaml": CILIUM_DAEMONSET},
                                app_version="1.18.4"),
                  package_chart(base, "coredns", "1.45.0", COREDNS_TEMPLATES, app_version="1.12.4",
                                values={"replicaCount": 1}),
                  package_chart(base, "flux-operator", "0.59.0", {"deployment.yaml": OPERATOR_DEPLOYMENT},
                                app_version="v0.59.0", files=crds),
                  package_chart(base, "flux-instance", "0.59.0", {"instance.yaml": INSTANCE_TEMPLATE},
                                values={"instance": {}})):
        reg.push(chart.package)


def app(files: dict[str, str], name: str, objects: list[dict], ns: str = NS, **ks_spec) -> None:
    base = f"kubernetes/apps/{ns}/{name}"
    ks = flux_ks(name, f"./{base}/app", source_namespace=NS, targetNamespace=ns, **ks_spec)
    del ks["metadata"]["namespace"]  # the namespace's kustomization sets it, as the template has it
    files[f"{base}/ks.yaml"] = dump(ks)
    names = [f"{o['kind'].lower()}.yaml" for o in objects]
    for file, obj in zip(names, objects):
        del obj["metadata"]["namespace"]
        files[f"{base}/app/{file}"] = dump(obj)
    files[f"{base}/app/kustomization.yaml"] = kustomization(resources=[f"./{n}" for n in names])


def template_files(reg, git_url: str, key_text: str, *, instance_tag: str = "0.59.0",
                   flux_version: str = "2.9.x") -> dict[str, str]:
    charts = reg.oci("charts")
    instance = {"distribution": {"version": flux_version, "registry": "ghcr.io/fluxcd"},
                "components": ["source-controller", "kustomize-controller", "helm-controller"],
                "cluster": {"networkPolicy": False}, "kustomize": {"patches": PATCHES},
                "sync": {"kind": "GitRepository", "url": git_url, "ref": "refs/heads/main",
                         "path": "kubernetes/flux/cluster", "interval": "1m"}}
    files = {
        "bootstrap/sops-age.sops.yaml": dump(secret("sops-age", {"age.agekey": key_text}, NS)),
        "bootstrap/cluster-secrets.sops.yaml": dump(secret("cluster-secrets", {"SECRET_DOMAIN": "example.org"}, NS)),
        "kubernetes/flux/cluster/ks.yaml": dump(flux_ks("cluster-apps", "./kubernetes/apps",
                                                        decryption={"provider": "sops"}, timeout="3m")),
        f"kubernetes/apps/{NS}/namespace.yaml": dump(namespace(NS)),
        f"kubernetes/apps/{NS}/kustomization.yaml": kustomization(namespace=NS, resources=[
            "./namespace.yaml", "./flux-operator/ks.yaml", "./flux-instance/ks.yaml", "./demo/ks.yaml"]),
        f"kubernetes/apps/{KS}/kustomization.yaml": kustomization(namespace=KS, resources=[
            "./cilium/ks.yaml", "./coredns/ks.yaml"]),
    }
    app(files, "cilium", [oci_repository("cilium", KS, f"{charts}/cilium", "1.18.4"),
                          helm_release("cilium", KS, "cilium", timeout="5m")], ns=KS)
    app(files, "coredns", [oci_repository("coredns", KS, f"{charts}/coredns", "1.45.0"),
                           helm_release("coredns", KS, "coredns", timeout="5m", dependsOn=[{"name": "cilium"}],
                                        values={"replicaCount": 2})],
        ns=KS, dependsOn=[{"name": "cilium", "namespace": KS}])
    app(files, "flux-operator", [oci_repository("flux-operator", NS, f"{charts}/flux-operator", "0.59.0"),
                                 helm_release("flux-operator", NS, "flux-operator", timeout="5m",
                                              dependsOn=[{"name": "coredns", "namespace": KS}])],
        dependsOn=[{"name": "coredns", "namespace": KS}])
    app(files, "flux-instance", [oci_repository("flux-instance", NS, f"{charts}/flux-instance", instance_tag),
                                 helm_release("flux-instance", NS, "flux-instance", timeout="8m",
                                              dependsOn=[{"name": "flux-operator"}], values={"instance": instance})],
        dependsOn=[{"name": "flux-operator", "namespace": NS}])
    app(files, "demo", [secret("demo", {"token": APP_SECRET}, NS)], decryption={"provider": "sops"})
    files[f"kubernetes/apps/{NS}/demo/app/secret.sops.yaml"] = files.pop(f"kubernetes/apps/{NS}/demo/app/secret.yaml")
    files[f"kubernetes/apps/{NS}/demo/app/kustomization.yaml"] = kustomization(resources=["./secret.sops.yaml"])
    return files
