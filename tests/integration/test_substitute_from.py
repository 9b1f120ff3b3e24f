"""`--substitute-from FILE`: a substituteFrom Secret that an ExternalSecret makes (values in 1Password), so not
in Git. Without the flag, `plan -k all` fails before anything is written and names the ExternalSecret; with a
SOPS-encrypted or plaintext FILE it plans, substitutes the values as `flux build kustomization` does with the same
values, never applies the supplied Secret, and never prints a supplied value. A bad FILE is one line and exit 2
(or 4 for a file the key cannot open or whose MAC does not match).

No cluster: plan is offline. The repository, the key and the encrypted file are made at test time with the real
sops; the oracle is the real flux CLI (v2.9.5, built from Go modules).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from bootstrap.errors import InvalidInputError, UsageError
from bootstrap.stages import substitute_from
from bootstrap.stages.keys import load_keyring
from tests.integration.conftest import run_cli
from tests.support import fluxrepos
from tests.support.flux import run_flux
from tests.support.sops import encrypt_bytes, new_age_key, write_key_file

DOMAIN = "qzx7-vault-only.example"  # what only the external store (and the supplied FILE) holds
TOKEN = "tok-9f3kq2vx7wz1"
CLUSTER = "edge-k8s-7731"
SUPPLIED = {"SECRET_DOMAIN": DOMAIN, "API_TOKEN": TOKEN, "CLUSTER_NAME": CLUSTER}
VALUES = (DOMAIN, TOKEN, CLUSTER)

EXTERNAL_SECRET = {
    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
    "metadata": {"name": "cluster-secrets", "namespace": "flux-system"},
    "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "ClusterSecretStore", "name": "onepassword"},
             "target": {"name": "cluster-secrets", "creationPolicy": "Owner"},
             "dataFrom": [{"extract": {"key": "cluster-secrets"}}]},
}


def fleet() -> dict[str, str]:
    """flux bootstrap's layout: clusters/dc holds the GitRepository, the flux-system Kustomization, the
    ExternalSecret that makes cluster-secrets, and `apps`, which substitutes from it (and from an optional
    ConfigMap nobody makes: skipped, as Flux skips it)."""
    apps_ks = fluxrepos.flux_ks("apps", "./apps", postBuild={
        "substitute": {"APP": "web"},
        "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-overrides", "optional": True},
                           {"kind": "Secret", "name": "cluster-secrets"}]})
    settings = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "${CLUSTER_NAME}-settings"},
                "data": {"domain": "${SECRET_DOMAIN}", "token": "${API_TOKEN}", "app": "${APP}",
                         "url": "https://${APP}.${SECRET_DOMAIN}/", "missing": "${NOT_SET:=fallback}"}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "${APP}"},
               "spec": {"rules": [{"host": "${APP}.${SECRET_DOMAIN}", "http": {"paths": [{
                   "path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "${APP}", "port": {"number": 80}}}}]}}]}}
    return {
        "clusters/dc/kustomization.yaml": fluxrepos.kustomization(
            resources=["sync.yaml", "external-secret.yaml", "apps.yaml"]),
        "clusters/dc/sync.yaml": fluxrepos.dump(fluxrepos.git_repository(),
                                                 fluxrepos.flux_ks("flux-system", "./clusters/dc")),
        "clusters/dc/external-secret.yaml": fluxrepos.dump(EXTERNAL_SECRET),
        "clusters/dc/apps.yaml": fluxrepos.dump(apps_ks),
        "apps/kustomization.yaml": fluxrepos.kustomization(namespace="default",
                                                           resources=["settings.yaml", "ingress.yaml"]),
        "apps/settings.yaml": fluxrepos.dump(settings),
        "apps/ingress.yaml": fluxrepos.dump(ingress),
    }


def supplied_secret(values=SUPPLIED, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "cluster-secrets", "namespace": "flux-system", **meta}, "stringData": dict(values)}


def as_data(secret: dict) -> dict:
    """The Secret with its values base64-encoded under `data`, as the API server keeps them."""
    secret = dict(secret)
    secret["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in secret.pop("stringData").items()}
    return secret


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("subst-key") / "age.agekey", age)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, key):
    age, _ = key
    return fluxrepos.write_repo(tmp_path_factory.mktemp("subst") / "repo", fleet(), lambda rel: [age.recipient])


@pytest.fixture(scope="module")
def encrypted_file(tmp_path_factory, key):
    """The Secret, SOPS-encrypted with the real sops (data/stringData), as an operator keeps it in a vault."""
    age, _ = key
    path = tmp_path_factory.mktemp("supplied") / "cluster-secrets.sops.yaml"
    path.write_bytes(encrypt_bytes(yaml.safe_dump(supplied_secret()).encode(), "yaml", [age.recipient],
                                   encrypted_regex="^(data|stringData)$"))
    assert TOKEN not in path.read_text()
    return path


def plan(repo, key_file, *extra: str, report: Path | None = None):
    args = ["plan", str(repo.path), "--path", "clusters/dc", "-k", "all", "--age-key-file", str(key_file), *extra]
    return run_cli(*args, *(["--report", str(report)] if report else []))


def leaks(*texts: str) -> list[str]:
    return [value for value in VALUES if any(value in text for text in texts)]


# --- without the flag: exit 4, naming the ExternalSecret ------------------------------------------------------


def test_without_the_flag_the_error_names_the_external_secret_and_its_store(repo, key):
    done = plan(repo, key[1])
    assert done.code == 4, done
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert ("Secret flux-system/cluster-secrets comes from ExternalSecret flux-system/cluster-secrets "
            "(store onepassword); supply it with --substitute-from FILE") in lines[0]
    assert "Kustomization flux-system/apps" in lines[0]
    assert "cluster-overrides" not in done.stderr  # optional: skipped silently, as Flux does
    assert "Traceback" not in done.stderr


def test_a_target_name_other_than_the_external_secret_s_own(tmp_path, key):
    age, key_file = key
    files = fleet()
    renamed = json.loads(json.dumps(EXTERNAL_SECRET))
    renamed["metadata"]["name"] = "from-1password"
    del renamed["spec"]["secretStoreRef"]
    renamed["spec"]["dataFrom"][0]["sourceRef"] = {"storeRef": {"kind": "SecretStore", "name": "bitwarden"}}
    files["clusters/dc/external-secret.yaml"] = fluxrepos.dump(renamed)
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    done = plan(repo, key_file)
    assert done.code == 4, done
    assert "comes from ExternalSecret flux-system/from-1password (store bitwarden)" in done.stderr


def test_a_source_no_external_secret_makes_says_how_to_supply_it(tmp_path, key):
    age, key_file = key
    files = fleet()
    files["clusters/dc/kustomization.yaml"] = fluxrepos.kustomization(resources=["sync.yaml", "apps.yaml"])
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    done = plan(repo, key_file)
    assert done.code == 4, done
    assert "substitute from 'Secret/cluster-secrets': not found in the restored set nor in the cluster" in done.stderr
    assert "ExternalSecret" not in done.stderr and "--substitute-from FILE" in done.stderr


# --- with the flag ----------------------------------------------------------------------------------------------


def test_an_encrypted_file_plans_substituted_and_masked(repo, key, encrypted_file, tmp_path):
    report = tmp_path / "report.json"
    done = plan(repo, key[1], "--substitute-from", str(encrypted_file), "-v", report=report)
    assert done.code == 0, done
    assert not leaks(done.stdout, done.stderr, report.read_text())
    objects = [(o["kind"], o["namespace"], o["name"]) for o in json.loads(report.read_text())["objects"]]
    # the name was built from a supplied value: substituted, and hidden whole (`bootstrap.scrub`)
    assert ("ConfigMap", "default", "<redacted>") in objects and ("Ingress", "default", "web") in objects
    assert ("Secret", "flux-system", "cluster-secrets") not in objects  # supplied, not applied
    assert f"Secret flux-system/cluster-secrets from --substitute-from {encrypted_file}: read by substituteFrom, " \
           "not applied" in done.stdout


def test_a_plaintext_file_plans_and_its_values_are_masked_too(repo, key, tmp_path):
    plain = tmp_path / "cluster-secrets.yaml"
    plain.write_text(fluxrepos.dump({"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "unrelated", "namespace": "flux-system"}},
                                    as_data(supplied_secret())))
    done = run_cli("plan", str(repo.path), "--path", "clusters/dc", "-k", "all", "--age-key-file", str(key[1]),
                   "--substitute-from", str(plain), "-o", "json")
    assert done.code == 0, done
    assert not leaks(done.stdout, done.stderr)
    names = {o["name"] for o in json.loads(done.stdout)["objects"]}
    assert "<redacted>" in names and "web" in names


def apps_phase(repo, key_file: Path, file: Path):
    """Our `flux-system/apps` objects, rendered in process with FILE supplied."""
    from bootstrap.engines.flux.render import RenderRequest, render_repository
    from bootstrap.kustomize.artifact import Artifact
    from bootstrap.kustomize.builder import Builder
    from bootstrap.kustomize.kustomizer import find_kustomizer
    from bootstrap.kustomize.scratch import memory_backed_dir
    from bootstrap.kustomize.secrets import SopsFiles

    keyring = load_keyring(str(key_file))
    supplied = substitute_from.load([str(file)], keyring)
    builder = Builder(repo.path, kustomizer=find_kustomizer(), artifact=Artifact(repo.path),
                      secrets=SopsFiles(repo.path, keyring), disk_base=repo.path.parent,
                      memory_base=memory_backed_dir())
    rendering = render_repository(RenderRequest(paths=("clusters/dc",), kustomizations=("all",), supplied=supplied),
                                  builder, cluster=None, notes=lambda text: None)
    return next(p for p in rendering.phases if p.name == "flux-system/apps").manifests


def test_the_substituted_objects_are_those_flux_build_makes_with_the_same_values(repo, key, encrypted_file,
                                                                                  tmp_path):
    ours = {(m.ref.kind, m.ref.name): m.body for m in apps_phase(repo, key[1], encrypted_file)}
    # flux build, given the same values inline (offline it cannot read a Secret)
    ks = fluxrepos.flux_ks("apps", "./apps", postBuild={"substitute": {**SUPPLIED, "APP": "web"}})
    ks_file = tmp_path / "apps.yaml"
    ks_file.write_text(yaml.safe_dump(ks))
    out = run_flux("build", "kustomization", "apps", "--namespace", "flux-system", "--path", str(repo.path / "apps"),
                   "--kustomization-file", str(ks_file), "--dry-run").stdout
    theirs = {(b["kind"], b["metadata"]["name"]): b for b in yaml.safe_load_all(out) if b}
    assert set(ours) == set(theirs) == {("ConfigMap", f"{CLUSTER}-settings"), ("Ingress", "web")}
    for key_ in ours:
        assert ours[key_] == theirs[key_], key_
    assert ours[("ConfigMap", f"{CLUSTER}-settings")]["data"]["url"] == f"https://web.{DOMAIN}/"


# --- bad files: one line, exit 2 (4 for the key or the MAC), nothing else -------------------------------------


def bad(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name, text, code, says", [
    ("missing.yaml", None, 2, "cannot read (No such file or directory)"),
    ("broken.yaml", "stringData: [unclosed\n", 2, "not valid YAML"),
    ("deploy.yaml", fluxrepos.dump(fluxrepos.deployment("web")), 2,
     "Deployment (apps/v1) is not a v1 ConfigMap or Secret"),
    ("nons.yaml", fluxrepos.dump(fluxrepos.secret("cluster-secrets", SUPPLIED)), 2, "has no metadata.namespace"),
    ("number.yaml",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: flux-system}\ndata: {PORT: 8080}\n",
     2, "data.PORT is not a string"),
    ("b64.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: flux-system}\ndata: {K: '%%%'}\n",
     2, "data.K is not valid base64"),
    ("empty.yaml", "# nothing\n", 2, "holds no ConfigMap or Secret"),
])
def test_a_bad_file_is_one_line_and_a_usage_error(repo, key, tmp_path, name, text, code, says):
    path = tmp_path / name if text is None else bad(tmp_path, name, text)
    done = plan(repo, key[1], "--substitute-from", str(path))
    assert done.code == code, done
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"--substitute-from {path}" in errors[0] and says in errors[0], done.stderr
    assert "Traceback" not in done.stderr and not leaks(done.stdout, done.stderr)
    assert "cloned" not in done.stdout + done.stderr  # refused before the clone


def test_a_tampered_file_fails_its_mac_and_a_foreign_key_cannot_open_it(repo, key, encrypted_file, tmp_path):
    tampered = bad(tmp_path, "tampered.sops.yaml",
                   encrypted_file.read_text().replace("name: cluster-secrets", "name: cluster-secretz"))
    done = plan(repo, key[1], "--substitute-from", str(tampered))
    assert done.code == 4, done
    assert f"--substitute-from {tampered}" in done.stderr and "MAC" in done.stderr
    other = write_key_file(tmp_path / "other.agekey", new_age_key())
    with pytest.raises(InvalidInputError, match="no identity matches"):
        substitute_from.load([str(encrypted_file)], load_keyring(str(other)))


def test_the_same_object_twice_is_refused(encrypted_file, key, tmp_path):
    again = bad(tmp_path, "again.yaml", fluxrepos.dump(supplied_secret()))
    with pytest.raises(UsageError, match="Secret flux-system/cluster-secrets is also in"):
        substitute_from.load([str(encrypted_file), str(again)], load_keyring(str(key[1])))


def test_drill_and_restore_refuse_a_bad_file_before_any_cluster(repo, key, tmp_path):
    missing = tmp_path / "nope.yaml"
    drill = run_cli("drill", str(repo.path), "--path", "clusters/dc", "--cluster", "kind", "--age-key-file",
                    str(key[1]), "--substitute-from", str(missing))
    restore = run_cli("restore", str(repo.path), "--path", "clusters/dc", "--age-key-file", str(key[1]), "--yes",
                      "--kubeconfig", str(tmp_path / "no-kubeconfig"), "--substitute-from", str(missing))
    for done in (drill, restore):
        assert done.code == 2, done
        assert f"--substitute-from {missing}: cannot read" in done.stderr and "kind" not in done.stderr


# --- restore: substituted as planned, the supplied Secret is not applied (External Secrets makes it) ---------

ESO_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "externalsecrets.external-secrets.io"},
    "spec": {"group": "external-secrets.io", "scope": "Namespaced",
             "names": {"kind": "ExternalSecret", "plural": "externalsecrets", "singular": "externalsecret",
                       "listKind": "ExternalSecretList"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
}


@pytest.mark.cluster
def test_restore_substitutes_and_leaves_the_secret_to_external_secrets(tmp_path, key, encrypted_file,
                                                                        control_plane_bin):
    from bootstrap.kube import Cluster
    from bootstrap.model import ObjectRef
    from tests.support.cluster import started_cluster
    from tests.support.flux import install_manifests

    age, key_file = key
    files = fleet()
    files["clusters/dc/gotk-components.yaml"] = install_manifests()
    files["clusters/dc/eso-crd.yaml"] = fluxrepos.dump(ESO_CRD)
    files["clusters/dc/kustomization.yaml"] = fluxrepos.kustomization(resources=[
        "gotk-components.yaml", "eso-crd.yaml", "sync.yaml", "external-secret.yaml", "apps.yaml"])
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    report = tmp_path / "report.json"
    with started_cluster(tmp_path / "cluster", control_plane_bin) as cluster:
        done = run_cli("restore", str(repo.path), "--path", "clusters/dc", "-k", "all", "--yes", "--age-key-file",
                       str(key_file), "--kubeconfig", str(cluster.kubeconfig), "--timeout", "120",
                       "--substitute-from", str(encrypted_file), "--report", str(report))
        assert done.code == 0, done
        assert not leaks(done.stdout, done.stderr, report.read_text())
        with Cluster(str(cluster.kubeconfig)) as kube:
            settings = kube.get(ObjectRef("v1", "ConfigMap", "default", f"{CLUSTER}-settings"))
            assert settings is not None and settings["data"]["url"] == f"https://web.{DOMAIN}/"
            assert settings["data"]["token"] == TOKEN and settings["data"]["missing"] == "fallback"
            assert kube.get(ObjectRef("v1", "Secret", "flux-system", "cluster-secrets")) is None
            assert kube.get(ObjectRef("external-secrets.io/v1", "ExternalSecret", "flux-system",
                                      "cluster-secrets")) is not None
            # what External Secrets would make from the store; then flux build reads substituteFrom from the
            # cluster (the restored `apps` Kustomization, its optional ConfigMap absent) as kustomize-controller
            kube.apply(as_data(supplied_secret()))
        theirs = {(b["kind"], b["metadata"]["name"]): b for b in yaml.safe_load_all(run_flux(
            "build", "kustomization", "apps", "--namespace", "flux-system", "--path", str(repo.path / "apps"),
            "--kubeconfig", str(cluster.kubeconfig)).stdout) if b}
    ours = {(m.ref.kind, m.ref.name): m.body for m in apps_phase(repo, key_file, encrypted_file)}
    assert set(ours) == set(theirs) == {("ConfigMap", f"{CLUSTER}-settings"), ("Ingress", "web")}
    for key_ in ours:
        assert ours[key_] == theirs[key_], key_


def test_json_and_several_documents_load_and_other_shapes_are_refused(tmp_path):
    as_json = bad(tmp_path, "cs.json", json.dumps(supplied_secret()))
    two = bad(tmp_path, "two.yaml", fluxrepos.dump(supplied_secret(), {"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": "settings", "namespace": "apps"},
                                                   "data": {"TZ": "Etc/UTC"}}))
    (one,) = substitute_from.load([str(as_json)], None)
    assert (one.kind, one.namespace, one.name, one.file) == ("Secret", "flux-system", "cluster-secrets", str(as_json))
    assert [s.describe() for s in substitute_from.load([str(two)], None)] == [
        "Secret flux-system/cluster-secrets", "ConfigMap apps/settings"]
    assert set(substitute_from.values(substitute_from.load([str(two)], None))) == {*VALUES, "Etc/UTC"}
    listed = bad(tmp_path, "list.yaml", "- a\n- b\n")
    with pytest.raises(UsageError, match=r"list.yaml: document 1: not a Kubernetes object"):
        substitute_from.load([str(listed)], None)
    encrypted = bad(tmp_path, "enc.yaml", "a: ENC[x]\nsops:\n  mac: ENC[y]\n")
    with pytest.raises(UsageError, match="SOPS-encrypted, and no age key was given"):
        substitute_from.load([str(encrypted)], None)


# --- the hand-over: Flux waits for the Secret External Secrets makes, and so does --wait-gitops ------------


@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_wait_gitops_waits_for_the_secret_external_secrets_makes(tmp_path, key, fresh_flux_cluster):
    """The handover repository (tests/support/handover.py) with its SOPS cluster-secrets replaced by an
    ExternalSecret. restore -k all --wait-gitops --substitute-from: dr-bootstrap renders `apps` with the supplied
    values; Flux's own `apps` then fails its build ("substitute from 'Secret/cluster-secrets' … not found"). Once
    the gitops phase has seen that (its progress line), the test makes the Secret, as External Secrets would, and
    asks Flux to reconcile: the restore must still be waiting, and end when Flux is Ready."""
    import subprocess
    import sys
    import threading
    import time

    from bootstrap.kube import Cluster
    from bootstrap.model import ObjectRef
    from tests.integration.conftest import REPO_ROOT, clean_env
    from tests.support.flux import install_manifests
    from tests.support.gitserver import publish
    from tests.support.handover import DOMAIN, repo_files, serving

    age, key_file = key
    kubeconfig = fresh_flux_cluster.kubeconfig
    supplied = tmp_path / "cluster-secrets.sops.yaml"
    supplied.write_bytes(encrypt_bytes(yaml.safe_dump(supplied_secret({"DOMAIN": DOMAIN})).encode(), "yaml",
                                       [age.recipient], encrypted_regex="^(data|stringData)$"))
    report = tmp_path / "report.json"
    with serving(tmp_path / "servers") as served:
        url = served.git.url("fleet.git")
        files = repo_files(install_manifests(), url, served.charts.url)
        del files["clusters/local/cluster-secrets.sops.yaml"]
        files["clusters/local/eso-crd.yaml"] = fluxrepos.dump(ESO_CRD)
        files["clusters/local/external-secret.yaml"] = fluxrepos.dump(EXTERNAL_SECRET)
        repo = fluxrepos.write_repo(tmp_path / "work", files, lambda rel: [age.recipient])
        publish(repo.path, served.root, "fleet.git")
        restore = subprocess.Popen(
            [sys.executable, "-m", "bootstrap", "restore", url, "--yes", "--path", "clusters/local", "-k", "all",
             "--age-key-file", str(key_file), "--kubeconfig", str(kubeconfig), "--wait-gitops", "--timeout", "300",
             "--substitute-from", str(supplied), "--report", str(report)],
            cwd=REPO_ROOT, env=clean_env(PYTHONUNBUFFERED="1"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        output: list[str] = []
        watching = threading.Event()

        def read() -> None:
            for line in restore.stdout:
                output.append(line)
                if "[gitops]" in line and "Kustomization/flux-system/apps" in line:
                    watching.set()  # the gitops phase lists `apps`

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        ks = ObjectRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps")
        said = ""
        try:
            watching.wait(timeout=300)
            with Cluster(str(kubeconfig)) as kube:
                while restore.poll() is None and "substitute from 'Secret/cluster-secrets'" not in said:
                    ready = [c for c in ((kube.get(ks) or {}).get("status") or {}).get("conditions") or []
                             if c.get("type") == "Ready"]
                    said = str(ready[0].get("message")) if ready else ""
                    time.sleep(0.5)
                # a few of the wait's polls (3 s apart at most) see the failure; a restore that took it for
                # terminal would end here with exit 6
                time.sleep(10)
                if restore.poll() is None:  # what External Secrets does, then `flux reconcile`
                    kube.apply(as_data(supplied_secret({"DOMAIN": DOMAIN})))
                    kube.merge_patch(ks, {"metadata": {"annotations": {
                        "reconcile.fluxcd.io/requestedAt": str(time.time())}}})
            code = restore.wait(timeout=600)
            reader.join(timeout=30)
        finally:
            if restore.poll() is None:
                restore.kill()
    text = "".join(output)
    # Flux failed its build on the missing Secret, which the restore had not applied; the wait went on
    assert "not found" in said, text
    assert code == 0, text
    with Cluster(str(kubeconfig)) as kube:
        assert kube.get(ObjectRef("v1", "ConfigMap", "shop", "web-config"))["data"] == {"host": f"web.{DOMAIN}"}
    assert DOMAIN not in text + report.read_text()


def test_a_child_kustomization_defined_with_a_supplied_variable_is_found_substituted(tmp_path, key,
                                                                                     encrypted_file):
    """`apps` defines a child whose path holds a supplied variable: discovery reads it after `apps`' postBuild,
    with the supplied Secret, as Flux applies it."""
    age, key_file = key
    files = fleet()
    files["apps/kustomization.yaml"] = fluxrepos.kustomization(
        namespace="default", resources=["settings.yaml", "ingress.yaml", "addons.yaml"])
    files["apps/addons.yaml"] = fluxrepos.dump(fluxrepos.flux_ks("addons", "./addons/${CLUSTER_NAME}",
                                                                 source_namespace="flux-system"))
    files[f"addons/{CLUSTER}/kustomization.yaml"] = fluxrepos.kustomization(resources=["cm.yaml"])
    files[f"addons/{CLUSTER}/cm.yaml"] = fluxrepos.dump(fluxrepos.configmap("addon", {"a": "b"}, "default"))
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    done = run_cli("plan", str(repo.path), "--path", "clusters/dc", "-k", "all", "--age-key-file", str(key_file),
                   "--substitute-from", str(encrypted_file), "-o", "json")
    assert done.code == 0, done
    objects = json.loads(done.stdout)["objects"]
    addon = next(o for o in objects if o["name"] == "addon")
    assert (addon["kind"], addon["phase"]) == ("ConfigMap", "default/addons")
    # CLUSTER_NAME is also a directory of the repo, so anyone who reads the repo reads it: it prints as is (in
    # the source path, and in the names built from it); the other supplied values stay masked
    assert f"addons/{CLUSTER}/cm.yaml" in done.stdout and "<redacted>" not in done.stdout
    assert [value for value in leaks(done.stdout, done.stderr) if value != CLUSTER] == []
