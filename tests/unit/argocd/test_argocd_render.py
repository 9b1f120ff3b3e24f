"""The Argo CD engine offline (issue 29): KSOPS overlays expanded in process (compared with the real
kustomize over what the real sops decrypts), secret zero plus an ApplicationSet over directories,
config-management-plugin placeholders, Argo CD's sync order and where its repo-server reads the key."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from bootstrap.engines.argocd import appsets, order
from bootstrap.errors import UsageError, ValidationError
from bootstrap.kustomize.scratch import memory_backed_dir
from tests.integration.conftest import build_repo, git
from tests.support.argocdrepos import by_ref, kustomize_build, render, sops_plain
from tests.support.sops import new_age_key, write_key_file

URL = "git@github.com:example/cluster.git"


def app(name, path, *, wave=None, repo=URL, namespace="apps", **source) -> str:
    meta = {"name": name, "namespace": "argocd"}
    if wave is not None:
        meta["annotations"] = {"argocd.argoproj.io/sync-wave": str(wave)}
    return yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
                           "spec": {"project": "default", "source": {"repoURL": repo, "path": path, **source},
                                    "destination": {"server": "https://kubernetes.default.svc",
                                                    "namespace": namespace}}})


def secret(name, **values) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": values})


def deployment(name) -> str:
    return yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                           "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                               "metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": "c", "image": "nginx:1.0"}]}}}})


KSOPS = """\
apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: secrets
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ./evil.sh
files:
  - ./db.sops.yaml
secretFrom:
  - metadata:
      name: web-env
      labels: {team: web}
    type: Opaque
    files:
      - token=token.sops.yaml
    envs:
      - app.sops.env
"""

REPO_SERVER = yaml.safe_dump({
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "argocd-repo-server", "namespace": "argocd"},
    "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
        "containers": [{"name": "repo-server", "image": "argocd:3",
                        "env": [{"name": "SOPS_AGE_KEY_FILE", "value": "/home/argocd/.config/sops/age/keys.txt"}],
                        "volumeMounts": [{"name": "sops-age", "mountPath": "/home/argocd/.config/sops/age"}]}],
        "volumes": [{"name": "sops-age", "secret": {"secretName": "argocd-sops-age"}}]}}}})


def files() -> dict[str, str]:
    return {
        "bootstrap/argocd/kustomization.yaml": "resources: [repo-server.yaml]\n",
        "bootstrap/argocd/repo-server.yaml": REPO_SERVER,
        "bootstrap/secrets.sops.yaml": secret("vault-token", token="zero-token-value").replace(
            "name: vault-token", "name: vault-token\n  namespace: external-secrets"),
        "bootstrap/root.yaml": app("root", "argocd/apps", wave=0, namespace="argocd"),
        "argocd/apps/web.yaml": app("web", "apps/web/overlays/prod", wave=2,
                                    kustomize={"namePrefix": "prod-"}),
        "argocd/apps/external.yaml": app("external", "charts/x", repo="https://charts.example.com/other.git"),
        "argocd/apps/appset.yaml": yaml.safe_dump({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "infra", "namespace": "argocd"},
            "spec": {"goTemplate": True, "generators": [{"git": {
                "repoURL": "https://github.com/example/cluster", "revision": "HEAD",
                "directories": [{"path": "infra/*"}, {"path": "infra/skip", "exclude": True}]}}],
                "template": {"metadata": {"name": "infra-{{.path.basename}}"},
                             "spec": {"project": "default",
                                      "source": {"repoURL": URL, "path": "{{.path.path}}"},
                                      "destination": {"server": "https://kubernetes.default.svc",
                                                      "namespace": "{{.path.basename}}"}}},
                "templatePatch": "metadata:\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\n"}}),
        "apps/web/base/kustomization.yaml": "resources: [deploy.yaml]\n",
        "apps/web/base/deploy.yaml": deployment("web"),
        "apps/web/overlays/prod/kustomization.yaml": "namespace: web\nresources: [../../base]\n"
                                                     "generators: [./secret-generator.yaml]\n",
        "apps/web/overlays/prod/secret-generator.yaml": KSOPS,
        "apps/web/overlays/prod/evil.sh": "#!/bin/sh\ntouch \"$EVIL_MARKER\"\n",
        "apps/web/overlays/prod/db.sops.yaml": secret("db", password="db-password-value"),
        "apps/web/overlays/prod/token.sops.yaml": "api-token-value\n",
        "apps/web/overlays/prod/app.sops.env": "MODE=prod\n",
        "infra/cache/config.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": "cache"}, "data": {"a": "b"}}),
        "infra/cache/creds.yaml": yaml.safe_dump({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cache-creds"},
            "data": {"password": "<secret:cache-creds~password|base64>"}}),
        "infra/cache/hook.yaml": yaml.safe_dump({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "annotations": {
                "argocd.argoproj.io/hook": "PreSync"}}, "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "m", "image": "busybox"}]}}}}),
        "infra/skip/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: skipped\n",
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("argo")
    key = new_age_key()
    key_file = write_key_file(tmp / "age.agekey", key)
    contents = files()
    made = build_repo(tmp / "repo", {k: v for k, v in contents.items() if not k.endswith(".sops.yaml")
                                     or k.startswith("bootstrap/")}, key, key_file)
    # KSOPS inputs: encrypted whole (the generator's own files), then committed
    from tests.support.sops import encrypt_file
    for rel, text in contents.items():
        if rel.endswith((".sops.yaml", ".sops.env")) and not rel.startswith("bootstrap/"):
            path = made.path / rel
            path.write_text(text)
            fmt = "dotenv" if rel.endswith(".env") else ("binary" if "token" in rel else "yaml")
            encrypt_file(path, [key.recipient], fmt=fmt)
    git(made.path, "add", "-A")
    git(made.path, "commit", "-q", "-m", "ksops inputs")
    return made


def test_ksops_overlay_matches_kustomize_over_what_sops_decrypts(repo, tmp_path, monkeypatch):
    marker = tmp_path / "evil-ran"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap/argocd", "bootstrap/secrets.sops.yaml",
                                                                          "bootstrap/root.yaml"), selection=("web",))
    ours = by_ref(m.body for p in rendered.phases if p.name == "argocd/web" for m in p.manifests)
    # the oracle: the overlay with the generator replaced by what the real sops decrypts, built by kustomize
    with tempfile.TemporaryDirectory(dir=memory_backed_dir()) as plain:
        copy = Path(plain) / "repo"
        shutil.copytree(repo.path, copy, ignore=shutil.ignore_patterns(".git"))
        overlay = copy / "apps/web/overlays/prod"
        db = sops_plain(repo.path / "apps/web/overlays/prod/db.sops.yaml", repo.key_file).decode()
        token = sops_plain(repo.path / "apps/web/overlays/prod/token.sops.yaml", repo.key_file).decode()
        env = sops_plain(repo.path / "apps/web/overlays/prod/app.sops.env", repo.key_file).decode()
        web_env = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "web-env", "labels": {"team": "web"}},
                   "stringData": {"token": token, **dict(line.split("=", 1) for line in env.splitlines() if line)}}
        (overlay / "generated.yaml").write_text(db + "---\n" + yaml.safe_dump(web_env))
        (overlay / "kustomization.yaml").write_text("namespace: web\nnamePrefix: prod-\nresources: [../../base, "
                                                    "generated.yaml]\n")
        expected = by_ref(kustomize_build(overlay))
    assert ours == expected
    assert ours["Secret/web/prod-db"]["stringData"] == {"password": "db-password-value"}
    assert not marker.exists()  # the generator's program never ran


def test_discovery_selection_and_order(repo):
    rendered = render(repo.path, repo.key_file, engine="argocd",
                      paths=("bootstrap/argocd", "bootstrap/secrets.sops.yaml", "bootstrap/root.yaml"),
                      selection=("all",))
    names = [p.name for p in rendered.phases]
    assert names[:3] == ["bootstrap/argocd", "bootstrap/secrets.sops.yaml", "bootstrap/root.yaml"]
    # root (wave 0), then the ApplicationSet's infra-cache (wave 1 by templatePatch), then web (wave 2)
    assert names[3:] == ["argocd/root", "argocd/infra-cache (PreSync)", "argocd/infra-cache", "argocd/web"]
    assert rendered.source == "github.com/example/cluster"
    assert rendered.not_restorable == ["Application argocd/external (https://charts.example.com/other.git)"]
    cache = next(p for p in rendered.phases if p.name == "argocd/infra-cache")
    assert [str(m.ref) for m in cache.manifests] == ["ConfigMap/cache/cache"]  # destination namespace set
    assert any("Secret/cache/cache-creds" in line and "config-management plugin" in line for line in rendered.needs_plugin)
    assert not any("skipped" in str(m.ref) for m in rendered.manifests)  # excluded directory
    (target,) = rendered.key_targets
    assert (target.namespace, target.name, target.key) == ("argocd", "argocd-sops-age", "keys.txt")
    assert "SOPS_AGE_KEY_FILE" in target.why


def test_unknown_selection_is_a_usage_error(repo):
    with pytest.raises(UsageError, match="no Argo CD Application"):
        render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap/root.yaml",), selection=("nope",))
    with pytest.raises(UsageError, match="not restorable"):
        render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap/root.yaml",), selection=("external",))


def test_sync_order_and_appset_params():
    objs = [{"kind": k, "metadata": {"name": n, "annotations": a}} for k, n, a in [
        ("Deployment", "a", {}), ("Job", "h", {"argocd.argoproj.io/hook": "PostSync"}),
        ("Widget", "w", {}), ("Namespace", "n", {}), ("Secret", "s", {"argocd.argoproj.io/sync-wave": "-1"}),
        ("Job", "p", {"helm.sh/hook": "pre-install"})]]
    assert [o["metadata"]["name"] for o in sorted(objs, key=order.sort_key)] == ["p", "s", "n", "a", "w", "h"]
    assert appsets.sanitize("My__App.v2-") == "my--app.v2"
    assert appsets._path_match("infra/*", "infra/a") and not appsets._path_match("infra/*", "infra/a/b")


def test_placeholder_is_not_called_invalid_base64():
    from bootstrap.manifests import _secret_problems

    problems = list(_secret_problems({"kind": "Secret", "data": {"p": "<path:kv/data/db#password>"}}, "x"))
    assert problems and "argocd-vault-plugin" in problems[0] and "not valid base64" not in problems[0]


def test_a_broken_ksops_reference_is_refused(tmp_path):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "k", key)
    made = build_repo(tmp_path / "r", {
        "a/kustomization.yaml": "generators: [gen.yaml]\n",
        "a/gen.yaml": "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata: {name: x}\nfiles: [../../../etc/passwd]\n",
        "root.yaml": app("a", "a")}, key, key_file)
    with pytest.raises(ValidationError, match="outside the repository"):
        render(made.path, key_file, engine="argocd", paths=("root.yaml",), selection=("a",))


def test_plan_with_the_argocd_engine(repo, tmp_path):
    from tests.integration.conftest import run_cli

    report = tmp_path / "report.json"
    result = run_cli("plan", str(repo.path), "--engine", "argocd", "--age-key-file", str(repo.key_file),
                     "--path", "bootstrap/argocd", "--path", "bootstrap/secrets.sops.yaml", "--path",
                     "bootstrap/root.yaml", "-k", "all", "--report", str(report))
    assert result.code == 0, result
    assert "Secret/web/prod-db" in result.stdout and "ConfigMap/cache/cache" in result.stdout
    assert "not restorable from this repository: Application argocd/external" in result.stdout
    assert "Secret/cache/cache-creds" in result.stdout and "config-management plugin" in result.stdout
    text = result.stdout + result.stderr + report.read_text()
    for value in ("db-password-value", "api-token-value", "zero-token-value"):
        assert value not in text
    assert "the age key goes to Secret argocd/argocd-sops-age key keys.txt: Deployment argocd/argocd-repo-server" \
        in result.stdout
    bad = run_cli("plan", str(repo.path), "--engine", "nope", "--age-key-file", str(repo.key_file))
    assert bad.code == 2 and "--engine" in bad.stderr


def test_key_secret_given_replaces_the_engine_s_targets(repo):
    from bootstrap.commands.options import RestoreOptions
    from bootstrap.stages.validate import KeyOptions, key_secrets

    rendered = render(repo.path, repo.key_file, engine="argocd", paths=("bootstrap/argocd",))
    default = key_secrets(KeyOptions.of(RestoreOptions(repo_url="x", engine="argocd")), rendered)
    assert [(k.namespace, k.name, k.key) for k in default] == [("argocd", "argocd-sops-age", "keys.txt")]
    given = key_secrets(KeyOptions.of(RestoreOptions(repo_url="x", engine="argocd", key_secret="argocd/mine")),
                        rendered)
    assert [(k.namespace, k.name, k.key) for k in given] == [("argocd", "mine", "age.agekey")]
    flux = key_secrets(KeyOptions.of(RestoreOptions(repo_url="x")), rendered)
    assert [(k.namespace, k.name) for k in flux] == [("flux-system", "sops-age"), ("argocd", "argocd-sops-age")]


def test_ksops_plaintext_never_reaches_a_disk_backed_tree(repo, tmp_path):
    from bootstrap import engines
    from bootstrap.engines.base import RenderInputs
    from bootstrap.kustomize.artifact import Artifact
    from bootstrap.kustomize.builder import Builder
    from bootstrap.kustomize.kustomizer import find_kustomizer
    from bootstrap.kustomize.scratch import PlaintextRefused
    from bootstrap.kustomize.secrets import SopsFiles
    from tests.support.argocdrepos import keyring_of, kustomize_binary

    disk = tmp_path / "disk"
    disk.mkdir()
    builder = Builder(repo.path, kustomizer=find_kustomizer(kustomize_binary()), artifact=Artifact(repo.path),
                      secrets=SopsFiles(repo.path, keyring_of(repo.key_file)), disk_base=disk, memory_base=None)
    with pytest.raises(PlaintextRefused):
        engines.get("argocd").render(RenderInputs(paths=("bootstrap/root.yaml",), selection=("web",)), builder,
                                     lookup=None, notes=lambda text: None)
    assert list(disk.iterdir()) == []
