"""Argo CD installed from a chart in the repository by kustomize `helmCharts`, with the KSOPS patch real
repositories add to the repo-server (issue 29's first layout): the entry path rendered as the repository's
README renders it (`kustomize build --enable-helm`), whole objects compared; the key target read from the
patched repo-server; argocd-cm's `--enable-alpha-plugins --enable-exec` never reach kustomize."""

from __future__ import annotations

import pytest
import yaml

from bootstrap.engines.argocd.helm import find_helm
from bootstrap.errors import UsageError, ValidationError
from tests.support.argocd_chart import STANDIN_CRD, argo_cd_chart
from tests.support.argocdrepos import by_ref, keyed_repo, kustomize_build, render

try:
    HELM = find_helm()
except UsageError:
    HELM = None
pytestmark = pytest.mark.skipif(HELM is None, reason="no helm binary (build it: make helm)")

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
    # the argo-cd chart stand-in (tests/support/argocd_chart.py), its CRD from the chart's crds/ (not its templates)
    **argo_cd_chart("bootstrap/argocd/charts/argo-cd", None),
    "bootstrap/argocd/charts/argo-cd/crds/applications.yaml": STANDIN_CRD,
    "bootstrap/argocd/values.yaml": yaml.safe_dump({"crds": {"install": False}, "configs": {"cm": {
        "kustomize.buildOptions": "--enable-alpha-plugins --enable-exec"}}}),
    "bootstrap/argocd/ksops-patch.yaml": KSOPS_PATCH,
    "bootstrap/argocd/kustomization.yaml": (
        "namespace: argocd\nresources: [namespace.yaml]\nhelmCharts:\n- name: argo-cd\n  releaseName: argocd\n"
        "  namespace: argocd\n  includeCRDs: true\n  valuesFile: values.yaml\n  valuesInline:\n    repoServer: {replicas: 2}\n"
        "patches:\n- path: ksops-patch.yaml\n  target: {kind: Deployment, name: argocd-repo-server}\n"),
    "bootstrap/argocd/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return keyed_repo(tmp_path_factory.mktemp("install"), FILES)


def test_install_by_helm_charts_matches_kustomize_enable_helm(repo):
    notes: list[str] = []
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap/argocd",), notes=notes.append)
    expected = by_ref(kustomize_build(repo.path / "bootstrap/argocd", "--enable-helm", "--helm-command", HELM))
    assert by_ref(m.body for m in rendered.manifests) == expected
    assert expected["Deployment/argocd/argocd-repo-server"]["spec"]["replicas"] == 2
    assert "CustomResourceDefinition//applications.argoproj.io" in expected  # from the chart's crds/
    (target,) = rendered.key_targets
    assert (target.namespace, target.name, target.key) == ("argocd", "argocd-sops-age", "keys.txt")
    assert "SOPS_AGE_KEY_FILE=/.config/sops/age/keys.txt" in target.why
    assert any("--enable-exec: not passed to kustomize" in n for n in notes), notes


def test_a_values_file_outside_the_repository_is_refused(tmp_path):
    files = dict(FILES)
    files["bootstrap/argocd/kustomization.yaml"] = ("helmCharts:\n- name: argo-cd\n  releaseName: a\n"
                                                    "  valuesFile: /etc/passwd\n")
    made = keyed_repo(tmp_path, files)
    with pytest.raises(ValidationError, match="helmCharts valuesFile: '/etc/passwd' points outside"):
        render(made.path, made.key_file, engine="argocd", paths=("bootstrap/argocd",))
