"""Three Argo CD repositories built at test time in the shapes of public ones that decrypt SOPS with a plugin
of Argo CD's repo-server (issue 29). Written for these tests; real repositories were read for their shape only.

- `ksops_repo`: Argo CD installed from a chart of the repository (`bootstrap/argocd/charts/argo-cd`, a small
  stand-in for the argo-cd chart) by kustomize `helmCharts`, with the KSOPS patch of the repo-server (the
  age key Secret `sops-age` mounted at /.config/sops/age, `items` mapping its `age.agekey` to `keys.txt`;
  XDG_CONFIG_HOME / SOPS_AGE_KEY_FILE; an init container that installs ksops) and argocd-cm's
  `kustomize.buildOptions: --enable-alpha-plugins --enable-exec`; a root app-of-apps (`bootstrap/root.yaml`
  -> `argocd/apps`) and two apps as base/overlay, one with a KRM exec KSOPS generator (`files:`), one with
  the legacy form (`secretFrom:` with files, binaryFiles and envs).
- `cmp_repo`: Argo CD installed by kustomize from a vendored install manifest plus patches: two
  config-management-plugin sidecars (argocd-vault-plugin, and a secret replacer reading the age key from
  Secret `sops-age` key `age.agekey` by subPath), Secrets holding `<secret:name~key|base64>` and
  `<path:kv/data/…#key>` placeholders; the secret zero (`bootstrap/secrets.sops.yaml`: the plugin's Vault
  credentials, a repository Secret) SOPS-encrypted; the root's children: a kustomize app whose Secret holds a
  placeholder, and an app whose source names the plugin.
- `helm_secrets_repo`: Argo CD installed from the same stand-in chart with helm-secrets' repo-server
  settings (`helm.valuesFileSchemes`, the key Secret `helm-secrets-private-keys` key `key.txt` mounted, its
  path in SOPS_AGE_KEY_FILE); the root Application renders `charts/platform` of the repository with
  `valueFiles: [values.yaml, secrets://secrets.yaml]`, whose templates build Secrets and child Applications
  from the decrypted values; one child chart reads `secrets+age-import-kubernetes://argocd/
  helm-secrets-private-keys#key.txt?secrets.yaml`.

Each builder returns a `PluginRepo`: the committed repository (`GitOpsRepo`), its entry paths, and the
plaintext values the tests look for. `repo_url` is written into every Application (a Git server's URL for
the cluster tests). `crds`: a directory of real Argo CD CRDs to put in the chart (the cluster tests use the
Argo CD build's, so a restore does not replace the real CRDs with stand-ins).
"""
from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.argocd_chart import (MANIFEST_RULE, NAMESPACE, PluginRepo, application, argo_cd_chart, commit,
                                        deployment, dump_all, helm_charts_install, service)
from tests.support.argocd_helm_secrets import HELM_SECRETS, helm_secrets_repo
from tests.support.sops import AgeKey

__all__ = ["CMP_SECRETS", "HELM_SECRETS", "KSOPS_SECRETS", "PluginRepo", "cmp_repo", "helm_secrets_repo",
           "ksops_repo"]

# ----------------------------------------------------------------------------------------- KSOPS

KSOPS_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
  namespace: argocd
spec:
  template:
    spec:
      volumes:
      - name: custom-tools
        emptyDir: {}
      - name: sops-age
        secret:
          secretName: sops-age
          items:
          - key: age.agekey
            path: keys.txt
      initContainers:
      - name: install-ksops
        image: viaductoss/ksops:v4.5.1
        command: ["/bin/sh", "-c"]
        args: ["mv ksops kustomize /custom-tools/"]
        volumeMounts:
        - mountPath: /custom-tools
          name: custom-tools
      containers:
      - name: repo-server
        env:
        - name: XDG_CONFIG_HOME
          value: /.config
        - name: SOPS_AGE_KEY_FILE
          value: /.config/sops/age/keys.txt
        volumeMounts:
        - mountPath: /usr/local/bin/kustomize
          name: custom-tools
          subPath: kustomize
        - mountPath: /usr/local/bin/ksops
          name: custom-tools
          subPath: ksops
        - mountPath: /.config/sops/age
          name: sops-age
"""

KRM_GENERATOR = """\
apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: web-secrets
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ksops
files:
  - ./secrets.enc.yaml
"""

LEGACY_GENERATOR = """\
# the legacy exec plugin: kustomize finds ksops under $XDG_CONFIG_HOME/kustomize/plugin/viaduct.ai/v1/ksops/
apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: db-secret-generator
secretFrom:
  - metadata:
      name: db-credentials
      labels:
        app.kubernetes.io/name: db
      annotations:
        reloader.stakater.com/match: "true"
    type: Opaque
    files:
      - password=password.enc.txt
      - ./init.enc.sql
    binaryFiles:
      - ca.crt=ca.enc.bin
    envs:
      - db.enc.env
"""

KSOPS_SECRETS = {"web-database-url": "postgres://web:w3b-db-pa55@db.db.svc:5432/web",
                 "web-api-key": "web-api-key-0f3c9", "db-password": "db-pa55word-77",
                 "db-init": "CREATE USER app WITH PASSWORD 'init-pa55';", "db-ca": "-----BEGIN CERT-----ca-bytes",
                 "db-replica": "replica-pa55-31"}


def ksops_repo(dest: Path, key: AgeKey, key_file: Path, repo_url: str, *, crds: Path | None = None) -> PluginRepo:
    s = KSOPS_SECRETS
    values = {"configs": {"cm": {"kustomize.buildOptions": "--enable-alpha-plugins --enable-exec",
                                 "admin.enabled": "false"}},
              "repoServer": {"replicas": 1}}
    files = {
        **helm_charts_install(values, ["repo-server-ksops.yaml"]),
        **argo_cd_chart("bootstrap/argocd/charts/argo-cd", crds),
        "bootstrap/argocd/repo-server-ksops.yaml": KSOPS_PATCH,
        "bootstrap/root.yaml": dump_all(application("root", repo_url, "argocd/apps", NAMESPACE)),
        "argocd/apps/web.yaml": dump_all(application("web", repo_url, "apps/web/overlays/prod", "web", wave=2)),
        "argocd/apps/db.yaml": dump_all(application("db", repo_url, "apps/db/overlays/prod", "db", wave=1)),
        "apps/web/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - service.yaml\n",
        "apps/web/base/deployment.yaml": dump_all(deployment("web", "ghcr.io/example/web:1.4.0", "web-secrets")),
        "apps/web/base/service.yaml": dump_all(service("web")),
        "apps/web/overlays/prod/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: web\n"
            "resources:\n  - ../../base\ngenerators:\n  - ./secret-generator.yaml\n"
            "labels:\n  - pairs:\n      environment: prod\n"
            "images:\n  - name: ghcr.io/example/web\n    newTag: 1.5.2\n"),
        "apps/web/overlays/prod/secret-generator.yaml": KRM_GENERATOR,
        "apps/web/overlays/prod/secrets.enc.yaml": dump_all({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secrets"}, "type": "Opaque",
            "stringData": {"DATABASE_URL": s["web-database-url"], "API_KEY": s["web-api-key"]}}),
        "apps/db/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "apps/db/base/deployment.yaml": dump_all(deployment("db", "docker.io/library/postgres:17", "db-credentials")),
        "apps/db/overlays/prod/kustomization.yaml": (
            "namespace: db\nnamePrefix: prod-\nresources:\n  - ../../base\ngenerators:\n  - ksops.yaml\n"),
        "apps/db/overlays/prod/ksops.yaml": LEGACY_GENERATOR,
        "apps/db/overlays/prod/password.enc.txt": s["db-password"],
        "apps/db/overlays/prod/init.enc.sql": s["db-init"] + "\n",
        "apps/db/overlays/prod/ca.enc.bin": s["db-ca"],
        "apps/db/overlays/prod/db.enc.env": f"POSTGRES_USER=app\nREPLICATION_PASSWORD={s['db-replica']}\n",
    }
    encrypt = {"apps/web/overlays/prod/secrets.enc.yaml": {"encrypted_regex": MANIFEST_RULE},
               "apps/db/overlays/prod/password.enc.txt": {"fmt": "binary"},
               "apps/db/overlays/prod/init.enc.sql": {"fmt": "binary"},
               "apps/db/overlays/prod/ca.enc.bin": {"fmt": "binary"},
               "apps/db/overlays/prod/db.enc.env": {"fmt": "dotenv"}}
    repo = commit(dest, files, encrypt, key, key_file)
    return PluginRepo(repo, ("bootstrap/argocd", "bootstrap/root.yaml"), dict(s))


# ------------------------------------------------------------------------------------------- CMP

UPSTREAM_INSTALL = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "argocd-repo-server",
                                                                "labels": {"app.kubernetes.io/part-of": "argocd"}}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm", "labels": {
        "app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"}}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "argocd-repo-server", "labels": {
        "app.kubernetes.io/name": "argocd-repo-server", "app.kubernetes.io/part-of": "argocd"}},
     "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "argocd-repo-server"}}, "template": {
         "metadata": {"labels": {"app.kubernetes.io/name": "argocd-repo-server"}},
         "spec": {"serviceAccountName": "argocd-repo-server", "automountServiceAccountToken": True,
                  "containers": [{"name": "argocd-repo-server", "image": "quay.io/argoproj/argocd:v3.2.0",
                                  "args": ["/usr/local/bin/argocd-repo-server"],
                                  "volumeMounts": [{"name": "plugins", "mountPath": "/home/argocd/cmp-server/plugins"},
                                                   {"name": "var-files", "mountPath": "/var/run/argocd"}]}],
                  "volumes": [{"name": "plugins", "emptyDir": {}}, {"name": "var-files", "emptyDir": {}}]}}}},
]

CMP_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
spec:
  template:
    spec:
      volumes:
      - name: cmp-plugins
        configMap:
          name: cmp-plugins
      - name: sops-age
        secret:
          secretName: sops-age
      - name: cmp-tmp
        emptyDir: {}
      containers:
      - name: avp
        image: quay.io/argoproj/argocd:v3.2.0
        command: [/var/run/argocd/argocd-cmp-server]
        securityContext: {runAsNonRoot: true, runAsUser: 999}
        envFrom:
        - secretRef:
            name: argocd-vault-plugin-credentials
        volumeMounts:
        - {mountPath: /var/run/argocd, name: var-files}
        - {mountPath: /home/argocd/cmp-server/plugins, name: plugins}
        - {mountPath: /tmp, name: cmp-tmp}
        - {mountPath: /home/argocd/cmp-server/config/plugin.yaml, subPath: avp.yaml, name: cmp-plugins}
      - name: secret-replacer
        image: ghcr.io/example/argocd-secret-replacer:1.4.0
        command: [/var/run/argocd/argocd-cmp-server]
        securityContext: {runAsNonRoot: true, runAsUser: 999}
        env:
        - name: SOPS_AGE_KEY_FILE
          value: /sops-age/key
        volumeMounts:
        - {mountPath: /var/run/argocd, name: var-files}
        - {mountPath: /home/argocd/cmp-server/plugins, name: plugins}
        - {mountPath: /tmp, name: cmp-tmp}
        - {mountPath: /home/argocd/cmp-server/config/plugin.yaml, subPath: secret-replacer.yaml, name: cmp-plugins}
        - {mountPath: /sops-age/key, subPath: age.agekey, name: sops-age}
"""

_PLUGINS = {
    "avp.yaml": yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "ConfigManagementPlugin",
                                "metadata": {"name": "argocd-vault-plugin"}, "spec": {
                                    "allowConcurrency": True,
                                    "generate": {"command": ["sh", "-c", "kustomize build . | argocd-vault-plugin "
                                                                         "generate -"]},
                                    "lockRepo": False}}),
    "secret-replacer.yaml": yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "ConfigManagementPlugin",
                                            "metadata": {"name": "secret-replacer"}, "spec": {
                                                "discover": {"find": {"command": ["sh", "-c", "find . -name "
                                                                                  "kustomization.yaml"]}},
                                                "generate": {"command": ["sh", "-c", "kustomize build . | "
                                                                         "argocd-secret-replacer sops -f "
                                                                         "$ARGOCD_ENV_SOPS_FILE"]}}}),
}

CMP_SECRETS = {"vault-role-id": "4c1d5a8e-role-id", "vault-secret-id": "9f0e-secret-id-cmp",
               "repo-password": "ghp_repoTokenCmp123", "unseal-key": "unseal-key-share-1-cmp"}


def cmp_repo(dest: Path, key: AgeKey, key_file: Path, repo_url: str) -> PluginRepo:
    s = CMP_SECRETS
    placeholder_secrets = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "argocd-notifications-secret", "labels": {
            "app.kubernetes.io/part-of": "argocd"}}, "type": "Opaque",
         "data": {"slack-token": "<secret:argocd-notifications~slack-token|base64>",
                  "github-privateKey": "<secret:argocd-notifications~github-app-key|base64>"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "argocd-oidc", "labels": {
            "app.kubernetes.io/part-of": "argocd"}}, "type": "Opaque",
         "stringData": {"clientID": "argocd", "clientSecret": "<path:kv/data/argocd/oidc#clientSecret>"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "charts-repo", "labels": {"argocd.argoproj.io/secret-type": "repository"},
            "annotations": {"avp.kubernetes.io/path": "kv/data/argocd/charts"}},
         "stringData": {"type": "helm", "url": "https://charts.example.com", "username": "<username>",
                        "password": "<password>"}},
    ]
    secret_zero = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "argocd-vault-plugin-credentials",
                                                            "namespace": NAMESPACE}, "type": "Opaque",
         "stringData": {"AVP_TYPE": "vault", "VAULT_ADDR": "http://vault.vault.svc:8200", "AVP_AUTH_TYPE": "approle",
                        "AVP_ROLE_ID": s["vault-role-id"], "AVP_SECRET_ID": s["vault-secret-id"]}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "cluster-repo", "namespace": NAMESPACE,
            "labels": {"argocd.argoproj.io/secret-type": "repository"}},
         "stringData": {"type": "git", "url": repo_url, "username": "git", "password": s["repo-password"]}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vault-unseal", "namespace": "vault"},
         "type": "Opaque", "stringData": {"key1": s["unseal-key"]}},
    ]
    files = {
        "bootstrap/argocd/kustomization.yaml": (
            "namespace: argocd\nresources:\n  - namespace.yaml\n  - upstream/install.yaml\n  - cmp-plugins.yaml\n"
            "  - argocd-secrets.yaml\npatches:\n  - path: repo-server-cmp.yaml\n  - path: argocd-cm.yaml\n"),
        "bootstrap/argocd/namespace.yaml": dump_all({"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": NAMESPACE}}),
        "bootstrap/argocd/upstream/install.yaml": dump_all(*UPSTREAM_INSTALL),
        "bootstrap/argocd/cmp-plugins.yaml": dump_all({"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": {"name": "cmp-plugins"}, "data": _PLUGINS}),
        "bootstrap/argocd/argocd-secrets.yaml": dump_all(*placeholder_secrets),
        "bootstrap/argocd/repo-server-cmp.yaml": CMP_PATCH,
        "bootstrap/argocd/argocd-cm.yaml": dump_all({"apiVersion": "v1", "kind": "ConfigMap",
                                                  "metadata": {"name": "argocd-cm"},
                                                  "data": {"admin.enabled": "false",
                                                           "kustomize.buildOptions": "--load-restrictor "
                                                                                     "LoadRestrictionsNone"}}),
        "bootstrap/namespaces.yaml": dump_all(*({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                                             for n in ("vault", "external-secrets"))),
        "bootstrap/secrets.sops.yaml": dump_all(*secret_zero),
        "bootstrap/root.yaml": dump_all(application("root", repo_url, "argocd/apps", NAMESPACE)),
        "argocd/apps/whoami.yaml": dump_all(application("whoami", repo_url, "apps/whoami", "whoami")),
        "argocd/apps/grafana.yaml": dump_all(application("grafana", repo_url, "apps/grafana", "monitoring",
                                                      plugin={"name": "argocd-vault-plugin"})),
        "apps/whoami/kustomization.yaml": "resources:\n  - deployment.yaml\n  - service.yaml\n  - secret.yaml\n",
        "apps/whoami/service.yaml": dump_all(service("whoami")),
        "apps/whoami/deployment.yaml": dump_all(deployment("whoami", "docker.io/traefik/whoami:v1.10", "whoami")),
        "apps/whoami/secret.yaml": dump_all({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "whoami"},
                                          "data": {"TOKEN": "<secret:whoami~token|base64>"}}),
        "apps/grafana/kustomization.yaml": "resources:\n  - secret.yaml\n",
        "apps/grafana/secret.yaml": dump_all({"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "grafana-admin", "annotations": {"avp.kubernetes.io/path": "kv/data/grafana"}},
            "stringData": {"admin-user": "admin", "admin-password": "<admin-password>"}}),
    }
    repo = commit(dest, files, {"bootstrap/secrets.sops.yaml": {"encrypted_regex": MANIFEST_RULE}}, key, key_file)
    return PluginRepo(repo, ("bootstrap/namespaces.yaml", "bootstrap/argocd", "bootstrap/secrets.sops.yaml",
                             "bootstrap/root.yaml"), dict(s))
