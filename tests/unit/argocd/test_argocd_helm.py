"""Argo CD Helm sources (issue 29's helm-secrets shape): a root Application rendering a chart of this
repository with `valueFiles: [secrets://secrets.yaml]`, the chart's templates building a Secret and child
Applications from the decrypted values; compared with the real `helm template` over what the real sops
decrypts. A chart directory is never read as plain manifests; a dependency that cannot be pulled is named."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from bootstrap.engines.argocd.helm import find_helm
from bootstrap.errors import UsageError, ValidationError
from bootstrap.kustomize.scratch import memory_backed_dir
from tests.support.argocdrepos import by_ref, keyed_repo, phase, render, sops_plain

URL = "https://github.com/example/cluster.git"

try:
    HELM = find_helm()
except UsageError as exc:  # the helm build (`make helm`) is not there
    HELM = None
    WHY = str(exc)
pytestmark = pytest.mark.skipif(HELM is None, reason="no helm binary (build it: make helm)")

ROOT = yaml.safe_dump({
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "root", "namespace": "argocd"},
    "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
             "sources": [{"repoURL": URL, "path": "charts/root", "helm": {
                 "releaseName": "platform", "valueFiles": ["values.yaml", "secrets://secrets.sops.yaml",
                                                           "$values/env/prod.yaml"],
                 "parameters": [{"name": "replicas", "value": "3"}],
                 "valuesObject": {"extra": "from-object"}}},
                 {"repoURL": "git@github.com:example/cluster", "ref": "values"}]}})

TEMPLATES = {
    "charts/root/Chart.yaml": "apiVersion: v2\nname: root\nversion: 0.1.0\n",
    "charts/root/values.yaml": "apps: []\nreplicas: 1\nextra: none\nenv: dev\nstringData: {password: none}\n",
    "charts/root/secrets.sops.yaml": "stringData:\n  password: chart-secret-value\n",
    "env/prod.yaml": "env: prod\napps: [web, db]\n",
    "charts/root/templates/secret.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-creds\n"
        "stringData:\n  password: {{ .Values.stringData.password | quote }}\n  env: {{ .Values.env }}\n"
        "  extra: {{ .Values.extra }}\n  replicas: {{ .Values.replicas | quote }}\n"),
    "charts/root/templates/apps.yaml": (
        "{{- range .Values.apps }}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        "metadata:\n  name: {{ . }}\n  namespace: argocd\nspec:\n  project: default\n  source:\n"
        "    repoURL: " + URL + "\n    path: apps/{{ . }}\n  destination:\n    server: https://kubernetes.default.svc\n"
        "    namespace: {{ . }}\n{{- end }}\n"),
    "apps/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata: {a: b}\n",
    "apps/db/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\ndata: {a: b}\n",
    "root.yaml": ROOT,
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return keyed_repo(tmp_path_factory.mktemp("helm"), TEMPLATES)


def test_chart_with_helm_secrets_matches_helm_template(repo):
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("root.yaml",), selection=("all",))
    ours = by_ref(m.body for m in phase(rendered, "argocd/root").manifests)
    with tempfile.TemporaryDirectory(dir=memory_backed_dir()) as plain:
        values = Path(plain) / "secrets.yaml"
        values.write_bytes(sops_plain(repo.path / "charts/root/secrets.sops.yaml", repo.key_file))
        extra = Path(plain) / "extra.yaml"
        extra.write_text("extra: from-object\n")
        chart = repo.path / "charts/root"
        done = subprocess.run([HELM, "template", str(chart), "--name-template", "platform", "--namespace", "argocd",
                               "--set", "replicas=3", "--values", str(chart / "values.yaml"), "--values", str(values),
                               "--values", str(repo.path / "env/prod.yaml"), "--values", str(extra),
                               "--include-crds"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = [d for d in yaml.safe_load_all(done.stdout) if d]
    for body in expected:  # Argo CD sets the destination namespace on namespaced objects without one
        if body["kind"] == "Secret":
            body["metadata"]["namespace"] = "argocd"
    assert ours == by_ref(expected)
    assert ours["Secret/argocd/platform-creds"]["stringData"]["password"] == "chart-secret-value"
    names = [p.name for p in rendered.phases]
    assert names == ["root.yaml", "argocd/root", "argocd/db", "argocd/web"]  # children from the chart's templates


def test_a_chart_is_never_read_as_plain_manifests(repo):
    with pytest.raises(ValidationError, match="Helm chart"):
        render(repo.path, repo.key_file, engine="flux", paths=("charts/root",))
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("charts/root",))
    assert {m.ref.kind for m in rendered.manifests} == {"Secret"}  # values.yaml lists no apps


def test_a_template_error_is_one_line_naming_the_application(tmp_path):
    made = keyed_repo(tmp_path, {
        "c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
        "c/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Values.a.b }}}\n"})
    with pytest.raises(ValidationError, match=r"helm template failed: Error: c/templates/cm.yaml"):
        render(made.path, made.key_file, engine="argocd", paths=("c",))


def test_a_dependency_that_cannot_be_pulled_is_named(tmp_path):
    made = keyed_repo(tmp_path, {
        "c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 19.0.0\n"
                        "  repository: https://charts.example.com/stable\n",
        "c/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"})
    with pytest.raises(ValidationError, match=r"redis 19\.0\.0 from https://charts\.example\.com/stable"):
        render(made.path, made.key_file, engine="argocd", paths=("c",))
