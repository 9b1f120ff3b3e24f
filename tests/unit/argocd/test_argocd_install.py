"""Argo CD installed from a chart in the repository by kustomize `helmCharts`, with the KSOPS patch real
repositories add to the repo-server (issue 29's first layout): the entry path rendered as the repository's
README renders it (`kustomize build --enable-helm`), whole objects compared; the key target read from the
patched repo-server; argocd-cm's `--enable-alpha-plugins --enable-exec` never reach kustomize."""

from __future__ import annotations

import pytest

from bootstrap.engines.argocd.helm import find_helm
from bootstrap.errors import UsageError, ValidationError
from tests.integration.conftest import build_repo
from tests.support.argocdrepos import by_ref, kustomize_build, render
from tests.support.sops import new_age_key, write_key_file

try:
    HELM = find_helm()
except UsageError:
    HELM = None
pytestmark = pytest.mark.skipif(HELM is None, reason="no helm binary (build it: make helm)")

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applications.argoproj.io
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

REPO_SERVER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.repoServer.replicas }}
  selector: {matchLabels: {app: repo-server}}
  template:
    metadata: {labels: {app: repo-server}}
    spec:
      containers:
      - name: repo-server
        image: quay.io/argoproj/argocd:v3.2.0
"""

CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: {{ .Release.Namespace }}
data:
  kustomize.buildOptions: {{ .Values.buildOptions | quote }}
"""

KSOPS_PATCH = """\
- op: add
  path: /spec/template/spec/containers/0/env
  value:
  - name: XDG_CONFIG_HOME
    value: /.config
  - name: SOPS_AGE_KEY_FILE
    value: /.config/sops/age/keys.txt
- op: add
  path: /spec/template/spec/containers/0/volumeMounts
  value:
  - name: sops-age
    mountPath: /.config/sops/age
- op: add
  path: /spec/template/spec/volumes
  value:
  - name: sops-age
    secret:
      secretName: argocd-sops-age
"""

FILES = {
    "bootstrap/argocd/charts/argo-cd/Chart.yaml": "apiVersion: v2\nname: argo-cd\nversion: 9.1.0\n",
    "bootstrap/argocd/charts/argo-cd/values.yaml": "repoServer: {replicas: 1}\nbuildOptions: ''\n",
    "bootstrap/argocd/charts/argo-cd/crds/applications.yaml": CRD,
    "bootstrap/argocd/charts/argo-cd/templates/repo-server.yaml": REPO_SERVER,
    "bootstrap/argocd/charts/argo-cd/templates/cm.yaml": CM,
    "bootstrap/argocd/values.yaml": "buildOptions: --enable-alpha-plugins --enable-exec\n",
    "bootstrap/argocd/ksops-patch.yaml": KSOPS_PATCH,
    "bootstrap/argocd/kustomization.yaml": (
        "namespace: argocd\nresources: [namespace.yaml]\nhelmCharts:\n- name: argo-cd\n  releaseName: argocd\n"
        "  namespace: argocd\n  includeCRDs: true\n  valuesFile: values.yaml\n  valuesInline:\n    repoServer: {replicas: 2}\n"
        "patches:\n- path: ksops-patch.yaml\n  target: {kind: Deployment, name: argocd-repo-server}\n"),
    "bootstrap/argocd/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    key = new_age_key()
    return build_repo(tmp / "repo", FILES, key, write_key_file(tmp / "age.agekey", key))


def test_install_by_helm_charts_matches_kustomize_enable_helm(repo):
    notes: list[str] = []
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap/argocd",), notes=notes.append)
    expected = by_ref(kustomize_build(repo.path / "bootstrap/argocd", "--enable-helm", "--helm-command", HELM))
    assert by_ref(m.body for m in rendered.manifests) == expected
    assert expected["Deployment/argocd/argocd-repo-server"]["spec"]["replicas"] == 2
    (target,) = rendered.key_targets
    assert (target.namespace, target.name, target.key) == ("argocd", "argocd-sops-age", "keys.txt")
    assert "SOPS_AGE_KEY_FILE=/.config/sops/age/keys.txt" in target.why
    assert any("--enable-exec: not passed to kustomize" in n for n in notes), notes


def test_a_values_file_outside_the_repository_is_refused(tmp_path):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "k", key)
    files = dict(FILES)
    files["bootstrap/argocd/kustomization.yaml"] = ("helmCharts:\n- name: argo-cd\n  releaseName: a\n"
                                                    "  valuesFile: /etc/passwd\n")
    made = build_repo(tmp_path / "r", files, key, key_file)
    with pytest.raises(ValidationError, match="helmCharts valuesFile: '/etc/passwd' points outside"):
        render(made.path, key_file, engine="argocd", paths=("bootstrap/argocd",))
