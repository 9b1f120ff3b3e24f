"""Three Argo CD repositories whose SOPS is decrypted by a plugin of Argo CD's repo-server
(tests/support/argocd_plugins.py: KSOPS overlays with Argo CD installed by kustomize `helmCharts`, an install
with config-management-plugin placeholders and a SOPS secret zero, helm-secrets), rendered offline as `plan`
renders them and compared, whole objects, with the real tools over what the real sops decrypts:
- kustomize (Flux's build) for every kustomize path; for KSOPS the same tree with each generator replaced by
  the objects real `sops -d` gives (KSOPS' own rules: `files:` as decrypted, `secretFrom:` as a Secret);
- the real helm (`helm template`) for the charts, with the helm-secrets value files decrypted by real sops.
Objects holding placeholders and Applications whose source names a plugin are left to the plugin and named.
`check` exits 0 on each; no program a generator names ever runs (KSOPS' legacy exec plugin, a plain exec KRM
function, a legacy exec plugin of another kind)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from bootstrap.engines.argocd.helm import find_helm
from bootstrap.engines.argocd.sources import PluginSource
from bootstrap.errors import UsageError
from bootstrap.kustomize.scratch import memory_backed_dir
from tests.integration.conftest import build_repo, clean_env, git, run_cli
from tests.support.argocd_plugins import (CMP_SECRETS, HELM_SECRETS, KSOPS_SECRETS, PluginRepo, cmp_repo,
                                          helm_secrets_repo, ksops_repo)
from tests.support.argocdrepos import by_ref, kustomize_binary, kustomize_build, render, sops_plain
from tests.support.sops import new_age_key, write_key_file

try:
    HELM = find_helm()
except UsageError:
    HELM = None
pytestmark = pytest.mark.skipif(HELM is None, reason="no helm binary (build it: make helm)")
URL = "https://git.example.com/platform/cluster.git"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plugins")
    key = new_age_key()
    key_file = write_key_file(tmp / "age.agekey", key)
    return {"ksops": ksops_repo(tmp / "ksops", key, key_file, URL), "cmp": cmp_repo(tmp / "cmp", key, key_file, URL),
            "helm": helm_secrets_repo(tmp / "helm", key, key_file, URL)}


def rendered_all(repo: PluginRepo, notes=None):
    return render(repo.path, repo.repo.key_file, engine="argocd", paths=repo.paths, selection=("all",),
                  notes=notes or (lambda text: None))


def phases(rendered) -> dict[str, dict[str, dict]]:
    return {p.name: by_ref(m.body for m in p.manifests) for p in rendered.phases}


def files_of(directory: Path) -> list[dict]:
    return [d for f in sorted(directory.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def in_namespace(objects: list[dict], namespace: str) -> list[dict]:
    """Argo CD's destination namespace on the namespaced objects (every kind here) without one."""
    for body in objects:
        if body["kind"] not in ("Namespace", "CustomResourceDefinition"):
            body["metadata"].setdefault("namespace", namespace)
    return objects


def install(repo: PluginRepo) -> dict[str, dict]:
    return by_ref(kustomize_build(repo.path / "bootstrap/argocd", "--enable-helm", "--helm-command", HELM))


# ------------------------------------------------------------------------------------------ KSOPS


def _ksops_objects(config: dict, directory: Path, original: Path, key_file: Path) -> list[dict]:
    """What KSOPS generates for `config`, from what the real sops decrypts (paths relative to `directory`)."""
    def plain(rel: str) -> bytes:
        return sops_plain(original / rel, key_file)

    out = [d for rel in config.get("files") or [] for d in yaml.safe_load_all(plain(rel)) if d]
    for item in config.get("secretFrom") or []:
        string_data, data = {}, {}
        for entry in item.get("files") or []:
            key, _, rel = entry.rpartition("=")
            string_data[key or os.path.basename(rel)] = plain(rel).decode()
        for entry in item.get("binaryFiles") or []:
            key, _, rel = entry.rpartition("=")
            data[key or os.path.basename(rel)] = base64.b64encode(plain(rel)).decode()
        for rel in item.get("envs") or []:
            string_data.update(line.split("=", 1) for line in plain(rel).decode().splitlines() if "=" in line)
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": item["metadata"], "type": item["type"]}
        secret.update({"stringData": string_data} if string_data else {})
        secret.update({"data": data} if data else {})
        out.append(secret)
    return out


def ksops_reference(repo: PluginRepo, overlay: str) -> dict[str, dict]:
    """kustomize build of `overlay` in a copy of the repository (memory-backed) where each KSOPS generator
    of the overlay is replaced by a resource file holding what it generates."""
    with tempfile.TemporaryDirectory(dir=memory_backed_dir()) as plain:
        copy = Path(plain) / "repo"
        shutil.copytree(repo.path, copy, ignore=shutil.ignore_patterns(".git"))
        target = copy / overlay
        kustomization = yaml.safe_load((target / "kustomization.yaml").read_text())
        for index, name in enumerate(kustomization.pop("generators")):
            config = yaml.safe_load((target / name).read_text())
            assert config["kind"] == "ksops"
            objects = _ksops_objects(config, target, repo.path / overlay, repo.repo.key_file)
            (target / f"generated-{index}.yaml").write_text(yaml.safe_dump_all(objects))
            kustomization["resources"].append(f"generated-{index}.yaml")
        (target / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        return by_ref(kustomize_build(target))


def test_ksops_repo_matches_kustomize_over_what_sops_decrypts(made):
    repo = made["ksops"]
    notes: list[str] = []
    ours = phases(rendered_all(repo, notes.append))
    assert list(ours) == ["bootstrap/argocd", "bootstrap/root.yaml", "argocd/root", "argocd/db", "argocd/web"]
    assert ours["bootstrap/argocd"] == install(repo)
    assert ours["bootstrap/root.yaml"] == by_ref(files_of(repo.path / "bootstrap"))
    assert ours["argocd/root"] == by_ref(files_of(repo.path / "argocd/apps"))
    web = ksops_reference(repo, "apps/web/overlays/prod")
    db = ksops_reference(repo, "apps/db/overlays/prod")
    assert ours["argocd/web"] == web
    assert ours["argocd/db"] == db
    s = KSOPS_SECRETS
    assert web["Secret/web/web-secrets"]["stringData"] == {"DATABASE_URL": s["web-database-url"],
                                                          "API_KEY": s["web-api-key"]}
    assert web["Secret/web/web-secrets"]["metadata"]["labels"] == {"environment": "prod"}
    credentials = db["Secret/db/prod-db-credentials"]
    assert credentials["stringData"] == {"password": s["db-password"], "init.enc.sql": s["db-init"] + "\n",
                                         "POSTGRES_USER": "app", "REPLICATION_PASSWORD": s["db-replica"]}
    assert base64.b64decode(credentials["data"]["ca.crt"]).decode() == s["db-ca"]
    assert db["Deployment/db/prod-db"]["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "prod-db-credentials"}}]  # kustomize's name reference reaches the expanded Secret
    assert any("--enable-exec: not passed to kustomize" in n for n in notes), notes


def test_ksops_key_goes_where_the_patched_repo_server_reads_it(made):
    (target,) = rendered_all(made["ksops"]).key_targets
    assert (target.namespace, target.name, target.key) == ("argocd", "sops-age", "age.agekey")
    assert "container repo-server: SOPS_AGE_KEY_FILE=/.config/sops/age/keys.txt" in target.why


# -------------------------------------------------------------------------------------------- CMP


def test_cmp_repo_matches_kustomize_with_placeholders_left_to_the_plugin(made):
    repo = made["cmp"]
    notes: list[str] = []
    rendered = rendered_all(repo, notes.append)
    ours = phases(rendered)
    # the secret zero before the install whose plugin sidecar takes its Vault credentials from it (envFrom)
    assert list(ours) == ["bootstrap/namespaces.yaml", "bootstrap/secrets.sops.yaml", "bootstrap/argocd",
                          "bootstrap/root.yaml", "argocd/root", "argocd/whoami"]
    assert ("bootstrap/secrets.sops.yaml restored before bootstrap/argocd: Deployment/argocd/argocd-repo-server "
            "reads Secret argocd/argocd-vault-plugin-credentials from it") in notes, notes
    expected = install(repo)
    placeholders = {ref: expected.pop(ref) for ref in list(expected) if ref.startswith("Secret/")}
    assert sorted(placeholders) == ["Secret/argocd/argocd-notifications-secret", "Secret/argocd/argocd-oidc",
                                    "Secret/argocd/charts-repo"]
    assert ours["bootstrap/argocd"] == expected
    zero = [d for d in yaml.safe_load_all(sops_plain(repo.path / "bootstrap/secrets.sops.yaml", repo.repo.key_file))
            if d]
    assert ours["bootstrap/secrets.sops.yaml"] == by_ref(zero)
    assert ours["bootstrap/secrets.sops.yaml"]["Secret/vault/vault-unseal"]["stringData"] == {
        "key1": CMP_SECRETS["unseal-key"]}
    whoami = by_ref(in_namespace(kustomize_build(repo.path / "apps/whoami"), "whoami"))
    assert whoami.pop("Secret/whoami/whoami")["data"] == {"TOKEN": "<secret:whoami~token|base64>"}
    whoami.pop("Deployment/whoami/whoami")  # its pods read that Secret: left to Argo CD with it
    assert ours["argocd/whoami"] == whoami == {"Service/whoami/whoami": whoami["Service/whoami/whoami"]}
    needs = "\n".join(rendered.needs_plugin)
    for ref in (*placeholders, "Secret/whoami/whoami"):
        assert f"{ref} (" in needs, needs
    assert ("Deployment/whoami/whoami (apps/whoami/deployment.yaml): reads Secret whoami/whoami, which the plugin "
            "fills") in needs
    assert "Application/argocd/grafana (argocd/apps/grafana.yaml): config-management plugin argocd-vault-plugin" \
        in needs
    (target,) = rendered.key_targets  # the replacer sidecar's subPath mount
    assert (target.namespace, target.name, target.key) == ("argocd", "sops-age", "age.agekey")
    assert "container secret-replacer: SOPS_AGE_KEY_FILE=/sops-age/key" in target.why


def test_an_application_named_that_only_a_plugin_renders_is_refused(made):
    repo = made["cmp"]
    with pytest.raises(PluginSource, match="argocd/grafana: source apps/grafana is rendered by config-management "
                                           "plugin argocd-vault-plugin"):
        render(repo.path, repo.repo.key_file, engine="argocd", paths=repo.paths, selection=("grafana",))


# ------------------------------------------------------------------------------------ helm-secrets


def helm_template(chart: Path, release: str, namespace: str, values: list[Path]) -> list[dict]:
    argv = [HELM, "template", str(chart), "--name-template", release, "--namespace", namespace, "--include-crds"]
    for path in values:
        argv += ["--values", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_helm_secrets_repo_matches_helm_template_over_what_sops_decrypts(made):
    repo = made["helm"]
    rendered = rendered_all(repo)
    ours = phases(rendered)
    assert list(ours) == ["bootstrap/argocd", "bootstrap/root.yaml", "argocd/platform", "argocd/monitoring",
                          "argocd/web", "argocd/api"]
    assert ours["bootstrap/argocd"] == install(repo)
    with tempfile.TemporaryDirectory(dir=memory_backed_dir()) as plain:
        expected = {}
        for name, chart, namespace in (("platform", "charts/platform", "argocd"), ("api", "charts/api", "api")):
            decrypted = Path(plain) / f"{name}-secrets.yaml"
            decrypted.write_bytes(sops_plain(repo.path / chart / "secrets.yaml", repo.repo.key_file))
            expected[name] = by_ref(in_namespace(helm_template(repo.path / chart, name, namespace,
                                                               [repo.path / chart / "values.yaml", decrypted]),
                                                 namespace))
    assert ours["argocd/platform"] == expected["platform"]
    assert ours["argocd/api"] == expected["api"]
    for name in ("web", "monitoring"):
        assert ours[f"argocd/{name}"] == by_ref(in_namespace(files_of(repo.path / "apps" / name), name))
    s = HELM_SECRETS
    assert expected["platform"]["Secret/web/web-credentials"]["stringData"] == {
        "SESSION_KEY": s["web-session"], "SMTP_PASSWORD": s["web-smtp"]}
    assert f"password: {s['api-db']}" in expected["api"]["Secret/api/api-config"]["stringData"]["config.yaml"]
    assert {ref for ref in expected["platform"] if ref.startswith("Application/")} == {
        "Application/argocd/web", "Application/argocd/api", "Application/argocd/monitoring"}
    (target,) = rendered.key_targets  # the repo-server's volume and helm-secrets' age-import-kubernetes agree
    assert (target.namespace, target.name, target.key) == ("argocd", "helm-secrets-private-keys", "key.txt")


def test_the_engine_s_key_file_name_is_not_held_to_flux_s_agekey_rule(made):
    """helm-secrets reads `key.txt`: the install-key stage writes that entry (Flux's *.agekey rule is for Flux's
    key Secret and --key-secret-key); the restore of test_argocd_plugins.py proves the write."""
    from bootstrap.commands.options import RestoreOptions
    from bootstrap.stages.validate import KeyOptions, key_secrets

    rendered = rendered_all(made["helm"])
    (secret,) = key_secrets(KeyOptions.of(RestoreOptions(repo_url="x", engine="argocd")), rendered)
    assert (secret.namespace, secret.name, secret.key, secret.engine_key) == (
        "argocd", "helm-secrets-private-keys", "key.txt", True)
    (given,) = key_secrets(KeyOptions.of(RestoreOptions(repo_url="x", engine="argocd", key_secret="argocd/mine")),
                           rendered)
    assert (given.key, given.engine_key) == ("age.agekey", False)


# -------------------------------------------------------------------------------------- plan, check


@pytest.mark.parametrize("name", ["ksops", "cmp", "helm"])
def test_plan_and_check_on_the_clean_repositories(made, name, tmp_path):
    repo: PluginRepo = made[name]
    args = [a for p in repo.paths for a in ("--path", p)]
    report = tmp_path / "report.json"
    plan = run_cli("plan", str(repo.path), "--engine", "argocd", "--age-key-file", str(repo.repo.key_file), *args,
                   "-k", "all", "--report", str(report))
    assert plan.code == 0, plan
    check = run_cli("check", str(repo.path), "--age-key-file", str(repo.repo.key_file))
    assert check.code == 0, check
    text = plan.stdout + plan.stderr + report.read_text() + check.stdout + check.stderr
    for value in repo.secrets.values():
        assert value not in text
    needs = [line for line in plan.stdout.splitlines() if "needs a config-management plugin" in line]
    if name == "cmp":
        assert len(needs) == 6, plan.stdout
        assert any("Application/argocd/grafana" in line and "argocd-vault-plugin" in line for line in needs)
        assert any("Secret/whoami/whoami (apps/whoami/secret.yaml)" in line for line in needs)
    else:
        assert needs == [], plan.stdout


# ------------------------------------------------------------------------- nothing a repo names runs

EVIL = "#!/bin/sh\ntouch \"$EVIL_MARKER\"\necho 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: evil}'\n"


def _evil_repo(tmp_path: Path, generator: str):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    made = build_repo(tmp_path / "repo", {
        "root.yaml": yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                                     "metadata": {"name": "app", "namespace": "argocd"},
                                     "spec": {"source": {"repoURL": URL, "path": "app"},
                                              "destination": {"namespace": "app"}}}),
        "app/kustomization.yaml": "resources: [cm.yaml]\ngenerators: [generator.yaml]\n",
        "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\n",
        "app/generator.yaml": generator,
        "app/secret.sops.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b-value}\n",
        "app/evil.sh": EVIL}, key, key_file)
    (made.path / "app/evil.sh").chmod(0o755)
    git(made.path, "commit", "-q", "-am", "an executable generator")
    # where kustomize looks for a legacy exec plugin of these kinds (KUSTOMIZE_PLUGIN_HOME, XDG_CONFIG_HOME)
    home = tmp_path / "plugins"
    for kind in ("viaduct.ai/v1/ksops/ksops", "example.com/v1/secretsfromvault/SecretsFromVault"):
        program = home / "kustomize/plugin" / kind
        program.parent.mkdir(parents=True)
        program.write_text(EVIL)
        program.chmod(0o755)
    return made, home


@pytest.mark.parametrize(("generator", "code", "message"), [
    ("apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata: {name: legacy}\nfiles: [secret.sops.yaml]\n", 0, None),
    ("apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: fn\n  annotations:\n"
     "    config.kubernetes.io/function: |\n      exec:\n        path: ./evil.sh\n", 4,
     "app/generator.yaml: generator example.com/v1 Evil is an exec KRM function running ./evil.sh; dr-bootstrap "
     "never runs a program a repository names"),
    ("apiVersion: example.com/v1\nkind: SecretsFromVault\nmetadata: {name: legacy}\n", 4,
     "app/generator.yaml: generator example.com/v1 SecretsFromVault is a legacy kustomize plugin"),
], ids=["ksops-legacy-exec", "exec-krm-function", "legacy-exec-plugin"])
def test_no_program_a_generator_names_ever_runs(tmp_path, generator, code, message):
    """With a kustomize that can run plugins (Flux's build), given the plugins' homes and the program on PATH."""
    made, home = _evil_repo(tmp_path, generator)
    marker = tmp_path / "evil-ran"
    env = clean_env(EVIL_MARKER=str(marker), KUSTOMIZE_PLUGIN_HOME=str(home / "kustomize/plugin"),
                    XDG_CONFIG_HOME=str(home), PATH=f"{made.path / 'app'}:{os.environ['PATH']}")
    done = run_cli("plan", str(made.path), "--engine", "argocd", "--age-key-file", str(made.key_file),
                   "--path", "root.yaml", "-k", "app", "--kustomize-bin", kustomize_binary(), env=env)
    assert done.code == code, done
    if message:
        assert message in done.stderr, done
    else:
        assert "Secret/app/s" in done.stdout, done
    assert not marker.exists(), "a program the repository names ran"
