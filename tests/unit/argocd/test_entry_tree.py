"""An Argo CD entry `--path` that is a plain directory tree (no kustomization anywhere below: the install's
settings and CRDs, the secret zero, the root Application, applied by the README with `kubectl apply -R -f`)
is read file by file, without a kustomize build; the objects are the ones the real kustomize gives for a
kustomization listing the same files, in kubectl's lexical file order. A tree holding a kustomization, or a
hidden entry, is still built by kustomize."""

from __future__ import annotations

import json

import yaml

from bootstrap.kustomize import kustomizer
from tests.integration.conftest import build_repo
from tests.support.argocdrepos import by_ref, kustomize_build, render, sops_plain
from tests.support.sops import new_age_key, write_key_file

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n"
SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  kustomize.buildOptions: --load-restrictor LoadRestrictionsNone
  enabled: "true"
  count: "3"
"""
LIST = {"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "listed-a", "namespace": "argocd"},
     "data": {"a": "1"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "listed-b"},
     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}]}
ROOT = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: root
  namespace: argocd
spec:
  project: default
  source: {repoURL: "https://git.example.com/cluster.git", path: apps, targetRevision: main}
  destination: {server: "https://kubernetes.default.svc", namespace: argocd}
"""
ZERO = """\
apiVersion: v1
kind: Secret
metadata:
  name: store-token
  namespace: external-secrets
stringData:
  token: zero-token-value-3f1
"""
TREE = {
    "bootstrap/namespace.yaml": NAMESPACE,
    "bootstrap/argocd/settings.yaml": SETTINGS,
    "bootstrap/argocd/extra/list.json": json.dumps(LIST),
    "bootstrap/root.yml": ROOT,
    "bootstrap/secret-zero.sops.yaml": ZERO,
    "bootstrap/README.md": "not a manifest\n",
    "apps/empty.yaml": "",
}


def _repo(tmp_path, extra=None):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    return build_repo(tmp_path / "repo", {**TREE, **(extra or {})}, key, key_file)


def _built_by_kustomize(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = kustomizer.Kustomizer.build

    def spy(self, directory, *args, **kwargs):
        calls.append(str(directory))
        return real(self, directory, *args, **kwargs)

    monkeypatch.setattr(kustomizer.Kustomizer, "build", spy)
    return calls


def test_a_plain_tree_is_read_as_kustomize_reads_the_same_files(tmp_path, monkeypatch):
    repo = _repo(tmp_path)
    calls = _built_by_kustomize(monkeypatch)
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap",))
    assert calls == []  # nothing built: the files were read as they are
    phase = rendered.phases[0]
    files = ["argocd/extra/list.json", "argocd/settings.yaml", "namespace.yaml", "root.yml"]
    oracle_dir = tmp_path / "oracle"
    oracle_dir.mkdir()
    for rel in files:
        (oracle_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (oracle_dir / rel).write_bytes((repo.path / "bootstrap" / rel).read_bytes())
    (oracle_dir / "kustomization.yaml").write_text(yaml.safe_dump({"resources": files}))
    expected = by_ref(kustomize_build(oracle_dir))
    expected.update(by_ref(yaml.safe_load_all(sops_plain(repo.path / "bootstrap/secret-zero.sops.yaml",
                                                         repo.key_file))))
    got = by_ref(m.body for m in phase.manifests)
    assert got == expected
    zero = next(m for m in phase.manifests if m.ref.name == "store-token")
    assert zero.encrypted and zero.source == "bootstrap/secret-zero.sops.yaml"
    assert {m.ref.name: m.source for m in phase.manifests}["listed-b"] == "bootstrap/argocd/extra/list.json"


def test_a_tree_holding_a_kustomization_is_built_by_kustomize(tmp_path, monkeypatch):
    repo = _repo(tmp_path, {"bootstrap/argocd/kustomization.yaml": "namePrefix: pre-\nresources:\n- settings.yaml\n"})
    calls = _built_by_kustomize(monkeypatch)
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap",))
    assert len(calls) == 1
    assert {m.ref.name for m in rendered.phases[0].manifests} == {"pre-argocd-cm", "argocd", "root", "store-token"}


def test_a_tree_with_a_hidden_entry_is_built_by_kustomize(tmp_path, monkeypatch):
    repo = _repo(tmp_path, {"bootstrap/.sops.yaml": "creation_rules: []\n"})
    calls = _built_by_kustomize(monkeypatch)
    render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap",))
    assert len(calls) == 1


def test_a_linked_directory_is_not_entered(tmp_path):
    repo = _repo(tmp_path)
    (repo.path / "bootstrap/argocd/loop").symlink_to("..")  # kubectl's walk does not follow it either
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap",))
    assert sorted(m.ref.name for m in rendered.phases[0].manifests) == [
        "argocd", "argocd-cm", "listed-a", "listed-b", "root", "store-token"]
