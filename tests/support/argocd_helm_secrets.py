"""The helm-secrets repository of tests/support/argocd_plugins.py (see its docstring)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.argocd_chart import (KUBE, NAMESPACE, PluginRepo, argo_cd_chart, commit, deployment, dump_all,
                                        helm_charts_install, service)
from tests.support.sops import AgeKey

# ---------------------------------------------------------------------------------- helm-secrets

HELM_SECRETS_VALUES = {
    "configs": {"cm": {"admin.enabled": "false", "helm.valuesFileSchemes": (
        "secrets+gpg-import, secrets+gpg-import-kubernetes, secrets+age-import, secrets+age-import-kubernetes, "
        "secrets, https")}},
    "repoServer": {
        "replicas": 1,
        "env": [{"name": "HELM_PLUGINS", "value": "/custom-tools/helm-plugins/"},
                {"name": "HELM_SECRETS_CURL_PATH", "value": "/custom-tools/curl"},
                {"name": "HELM_SECRETS_SOPS_PATH", "value": "/custom-tools/sops"},
                {"name": "HELM_SECRETS_KUBECTL_PATH", "value": "/custom-tools/kubectl"},
                {"name": "HELM_SECRETS_BACKEND", "value": "sops"},
                {"name": "HELM_SECRETS_VALUES_ALLOW_SYMLINKS", "value": "false"},
                {"name": "HELM_SECRETS_VALUES_ALLOW_ABSOLUTE_PATH", "value": "false"},
                {"name": "HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL", "value": "false"},
                {"name": "HELM_SECRETS_WRAPPER_ENABLED", "value": "true"},
                {"name": "HELM_SECRETS_HELM_PATH", "value": "/usr/local/bin/helm"},
                {"name": "SOPS_AGE_KEY_FILE", "value": "/helm-secrets-private-keys/key.txt"}],
        "volumes": [{"name": "custom-tools", "emptyDir": {}},
                    {"name": "helm-secrets-private-keys", "secret": {"secretName": "helm-secrets-private-keys"}}],
        "volumeMounts": [{"mountPath": "/custom-tools", "name": "custom-tools"},
                         {"mountPath": "/usr/local/sbin/helm", "subPath": "helm", "name": "custom-tools"},
                         {"mountPath": "/helm-secrets-private-keys/", "name": "helm-secrets-private-keys"}],
        "initContainers": [{"name": "download-tools", "image": "alpine:3.21", "command": ["sh", "-ec"],
                            "args": ["wget -qO- https://example.invalid/helm-secrets.tar.gz | tar -C "
                                     "/custom-tools/helm-plugins -xzf-"],
                            "volumeMounts": [{"mountPath": "/custom-tools", "name": "custom-tools"}]}]}}

PLATFORM_SECRETS_TEMPLATE = """\
{{- range $name, $app := .Values.apps }}
{{- if $app.secrets }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}-credentials
  namespace: {{ $app.namespace }}
  labels:
    app.kubernetes.io/managed-by: {{ $.Release.Name }}
type: Opaque
stringData:
  {{- range $key, $value := $app.secrets }}
  {{ $key }}: {{ $value | quote }}
  {{- end }}
{{- end }}
{{- end }}
"""

PLATFORM_APPS_TEMPLATE = """\
{{- range $name, $app := .Values.apps }}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {{ $name }}
  namespace: argocd
  annotations:
    argocd.argoproj.io/sync-wave: {{ $app.wave | default 0 | quote }}
spec:
  project: default
  source:
    repoURL: {{ $.Values.repoURL }}
    targetRevision: {{ $.Values.revision }}
    path: {{ $app.path }}
    {{- with $app.helm }}
    helm:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  destination:
    server: https://kubernetes.default.svc
    namespace: {{ $app.namespace }}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
{{- end }}
"""

API_TEMPLATE = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-config
type: Opaque
stringData:
  config.yaml: |
    listen: ":{{ .Values.port }}"
    database:
      host: {{ .Values.database.host }}
      password: {{ .Values.database.password }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app.kubernetes.io/name: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ .Release.Name }}}
      annotations:
        checksum/config: {{ .Values.database.password | sha256sum | trunc 16 }}
    spec:
      containers:
      - name: api
        image: ghcr.io/example/api:{{ .Chart.AppVersion }}
"""

HELM_SECRETS = {"web-session": "w3b-sess10n-k3y", "web-smtp": "smtp-pa55-h3lm", "api-db": "api-db-pa55-h3lm",
                "grafana-admin": "gr4fana-admin-h3lm"}


def helm_secrets_repo(dest: Path, key: AgeKey, key_file: Path, repo_url: str, *,
                      crds: Path | None = None) -> PluginRepo:
    s = HELM_SECRETS
    import_url = "secrets+age-import-kubernetes://argocd/helm-secrets-private-keys#key.txt?secrets.yaml"
    values = {"repoURL": repo_url, "revision": "main", "apps": {
        "web": {"namespace": "web", "path": "apps/web", "wave": 1},
        "api": {"namespace": "api", "path": "charts/api", "wave": 2,
                "helm": {"releaseName": "api", "valueFiles": ["values.yaml", import_url]}},
        "monitoring": {"namespace": "monitoring", "path": "apps/monitoring"}}}
    secret_values = {"apps": {"web": {"secrets": {"SESSION_KEY": s["web-session"], "SMTP_PASSWORD": s["web-smtp"]}},
                              "monitoring": {"secrets": {"admin-user": "admin",
                                                         "admin-password": s["grafana-admin"]}}}}
    files = {
        **helm_charts_install(HELM_SECRETS_VALUES, []),
        **argo_cd_chart("bootstrap/argocd/charts/argo-cd", crds),
        "bootstrap/root.yaml": dump_all({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "platform", "namespace": NAMESPACE},
            "spec": {"project": "default", "destination": {"server": KUBE, "namespace": NAMESPACE},
                     "source": {"repoURL": repo_url, "targetRevision": "main", "path": "charts/platform",
                                "helm": {"releaseName": "platform",
                                         "valueFiles": ["values.yaml", "secrets://secrets.yaml"]}},
                     "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}}),
        "charts/platform/Chart.yaml": "apiVersion: v2\nname: platform\nversion: 0.3.0\n",
        "charts/platform/values.yaml": yaml.safe_dump(values, sort_keys=False),
        "charts/platform/secrets.yaml": yaml.safe_dump(secret_values, sort_keys=False),
        "charts/platform/templates/secrets.yaml": PLATFORM_SECRETS_TEMPLATE,
        "charts/platform/templates/applications.yaml": PLATFORM_APPS_TEMPLATE,
        "charts/api/Chart.yaml": "apiVersion: v2\nname: api\nversion: 1.2.0\nappVersion: 2.8.1\n",
        "charts/api/values.yaml": "replicas: 1\nport: 8080\ndatabase:\n  host: db.db.svc\n  password: changeme\n",
        "charts/api/secrets.yaml": f"database:\n  password: {s['api-db']}\n",
        "charts/api/templates/api.yaml": API_TEMPLATE,
        "apps/web/deployment.yaml": dump_all(deployment("web", "ghcr.io/example/web:1.5.2", "web-credentials")),
        "apps/web/service.yaml": dump_all(service("web")),
        "apps/monitoring/configmap.yaml": dump_all({"apiVersion": "v1", "kind": "ConfigMap",
                                                  "metadata": {"name": "grafana-settings"},
                                                  "data": {"GF_SECURITY_ADMIN_USER__FILE": "/secrets/admin-user"}}),
    }
    encrypt = {"charts/platform/secrets.yaml": {}, "charts/api/secrets.yaml": {}}
    repo = commit(dest, files, encrypt, key, key_file)
    return PluginRepo(repo, ("bootstrap/argocd", "bootstrap/root.yaml"), dict(s))
