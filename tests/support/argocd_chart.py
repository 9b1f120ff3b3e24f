"""Shared pieces of the Argo CD plugin repositories (tests/support/argocd_plugins.py): `PluginRepo`, an
Application, a workload, the argo-cd chart stand-in (`argo_cd_chart`: a repo-server Deployment whose env,
volumes, mounts and init containers come from values as the real chart's do, argocd-cm from
`configs.cm`, the CRDs as templates gated by `crds.install`) installed by kustomize `helmCharts`, and the
commit of a repository with the files the real sops encrypts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.integration.conftest import GitOpsRepo, git
from tests.support.sops import AgeKey, encrypt_file

MANIFEST_RULE = "^(data|stringData)$"
NAMESPACE = "argocd"
KUBE = "https://kubernetes.default.svc"


@dataclass(frozen=True)
class PluginRepo:
    repo: GitOpsRepo
    paths: tuple[str, ...]
    secrets: dict[str, str] = field(default_factory=dict)  # name -> a plaintext value only the SOPS files hold

    @property
    def path(self) -> Path:
        return self.repo.path


def dump_all(*objects: dict) -> str:
    return "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects)


def application(name: str, repo_url: str, path: str, namespace: str, *, wave: int | None = None,
                **source) -> dict:
    meta: dict = {"name": name, "namespace": NAMESPACE}
    if wave is not None:
        meta["annotations"] = {"argocd.argoproj.io/sync-wave": str(wave)}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
            "spec": {"project": "default",
                     "source": {"repoURL": repo_url, "targetRevision": "main", "path": path, **source},
                     "destination": {"server": KUBE, "namespace": namespace},
                     "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                                    "syncOptions": ["CreateNamespace=true"]}}}


def deployment(name: str, image: str, secret: str) -> dict:
    labels = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image, "ports": [{"containerPort": 8080}],
                                         "envFrom": [{"secretRef": {"name": secret}}]}]}}}}


def service(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


# ----------------------------------------------------------------------- the argo-cd chart stand-in

_REPO_SERVER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-repo-server
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: argocd-repo-server
    app.kubernetes.io/part-of: argocd
    helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
spec:
  replicas: {{ .Values.repoServer.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/name: argocd-repo-server
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: argocd-repo-server
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      serviceAccountName: argocd-repo-server
      {{- with .Values.repoServer.initContainers }}
      initContainers:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
      - name: repo-server
        image: {{ .Values.global.image.repository }}:{{ .Values.global.image.tag }}
        args: [/usr/local/bin/argocd-repo-server, --port=8081]
        {{- with .Values.repoServer.env }}
        env:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        volumeMounts:
        - name: plugins
          mountPath: /home/argocd/cmp-server/plugins
        {{- with .Values.repoServer.volumeMounts }}
          {{- toYaml . | nindent 8 }}
        {{- end }}
      volumes:
      - name: plugins
        emptyDir: {}
      {{- with .Values.repoServer.volumes }}
        {{- toYaml . | nindent 6 }}
      {{- end }}
"""

_SERVICE_ACCOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: argocd-repo-server
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/part-of: argocd
"""

_CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
  {{- with .Values.configs.cm }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
"""

#: Argo CD's Application CRD, its schema left open (as the stand-in chart ships it, and a chart's crds/ may)
STANDIN_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applications.argoproj.io
  labels: {app.kubernetes.io/part-of: argocd}
spec:
  group: argoproj.io
  scope: Namespaced
  names: {kind: Application, plural: applications, singular: application, listKind: ApplicationList}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def argo_cd_chart(prefix: str, crds: Path | None) -> dict[str, str]:
    """The stand-in argo-cd chart under `prefix` (CRDs as the real chart ships them: templates gated by
    `crds.install`)."""
    files = {
        f"{prefix}/Chart.yaml": "apiVersion: v2\nname: argo-cd\nversion: 9.1.4\nappVersion: v3.2.0\n",
        f"{prefix}/values.yaml": yaml.safe_dump({
            "crds": {"install": True},
            "global": {"image": {"repository": "quay.io/argoproj/argocd", "tag": "v3.2.0"}},
            "configs": {"cm": {"admin.enabled": "false"}},
            "repoServer": {"replicas": 1, "env": [], "volumes": [], "volumeMounts": [], "initContainers": []}}),
        f"{prefix}/templates/repo-server/deployment.yaml": _REPO_SERVER,
        f"{prefix}/templates/repo-server/serviceaccount.yaml": _SERVICE_ACCOUNT,
        f"{prefix}/templates/argocd-configs/argocd-cm.yaml": _CM,
    }
    texts = {p.name: p.read_text() for p in sorted(crds.glob("*.yaml"))} if crds else {"application-crd.yaml":
                                                                                         STANDIN_CRD}
    for name, text in texts.items():
        files[f"{prefix}/templates/crds/{name}"] = "{{- if .Values.crds.install }}\n" + text + "{{- end }}\n"
    return files


def helm_charts_install(values: dict, patches: list[str]) -> dict[str, str]:
    """bootstrap/argocd: the chart by kustomize `helmCharts` (helmGlobals.chartHome), the namespace, patches."""
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": NAMESPACE,
        "resources": ["namespace.yaml"],
        "helmGlobals": {"chartHome": "charts"},
        "helmCharts": [{"name": "argo-cd", "version": "9.1.4", "releaseName": "argocd", "namespace": NAMESPACE,
                        "includeCRDs": True, "valuesFile": "values.yaml"}],
    }
    if patches:
        kustomization["patches"] = [{"path": p} for p in patches]
    return {
        "bootstrap/argocd/kustomization.yaml": yaml.safe_dump(kustomization, sort_keys=False),
        "bootstrap/argocd/namespace.yaml": dump_all({"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": NAMESPACE}}),
        "bootstrap/argocd/values.yaml": yaml.safe_dump(values, sort_keys=False),
    }


def commit(dest: Path, files: dict[str, str], encrypt: dict[str, dict], key: AgeKey, key_file: Path) -> GitOpsRepo:
    """Write `files`, encrypt those named in `encrypt` (path -> encrypt_file options) with the real sops."""
    dest.mkdir(parents=True)
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, options in encrypt.items():
        encrypt_file(dest / rel, [key.recipient], **options)
    (dest / ".sops.yaml").write_text(yaml.safe_dump({"creation_rules": [
        {"path_regex": r"(^|/)secrets\.yaml$", "age": key.recipient},
        {"path_regex": r"\.(enc|sops)\.[a-z]+$", "encrypted_regex": MANIFEST_RULE, "age": key.recipient}]}))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "cluster state")
    return GitOpsRepo(path=dest, commit=git(dest, "rev-parse", "HEAD"), key=key, key_file=key_file)
