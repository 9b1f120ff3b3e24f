"""`check` on every common layout of a Flux repository exits 0 when the repository is clean (files encrypted by
the real sops at test time), and 1 on each finding that would break a restore or leak a secret."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import checkrepos, fluxrepos
from tests.support.sops import new_age_key, write_key_file


def check(repo, key_file, *args: str) -> tuple[int, dict, str]:
    done = subprocess.run([sys.executable, "-m", "bootstrap", "check", str(repo), "--age-key-file", str(key_file),
                           "-o", "json", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("check-key") / "age.agekey", age)


def by_file(doc: dict) -> dict[str, dict]:
    return {f["path"].split("/repo/", 1)[1]: f for f in doc["files"]}


def test_three_clusters_with_same_named_kustomizations_are_each_mapped(tmp_path, key):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", checkrepos.clusters(), lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["findings"] == [], (doc, err)
    files = by_file(doc)
    for name in ("dev", "staging", "prod"):
        entry = files[f"apps/{name}/shop/web/app/secret.sops.yaml"]
        assert entry["kustomizations"] == [f"shop/web (clusters/{name})"] and entry["decryption"] is True, entry
        assert entry["note"] is None, entry


def test_cluster_template_of_today_passes(tmp_path, key):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", checkrepos.cluster_template_operator("home.example.org"),
                                lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["findings"] == [], (doc, err)
    files = by_file(doc)
    assert files["kubernetes/apps/default/echo/app/secret.sops.yaml"]["kustomizations"] == ["default/echo"]
    assert all(f["decryption"] is True for f in doc["files"]), doc["files"]


# --- a clean repository of every layout: exit 0 ------------------------------------------------------------


def _helm_example() -> dict[str, str]:
    files = fluxrepos.kustomize_helm_example()
    files.pop("legacy/kms-only.enc.yaml")  # the KMS-only stand-in: no key here opens it (a real finding)
    return files


LAYOUTS = {
    "flux-bootstrap-base-overlays": _helm_example,  # clusters/<name> from flux bootstrap, apps/base + overlays
    "cluster-template-old": lambda: fluxrepos.cluster_template("home.example.org"),
    "cluster-template-new": lambda: checkrepos.cluster_template_operator("home.example.org"),
    "three-clusters": checkrepos.clusters,
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_clean_repository_of_each_layout_exits_0_without_warnings(tmp_path, key, layout):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", LAYOUTS[layout](), lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["ok"] and doc["findings"] == [] and doc["warnings"] == [], (doc, err)
    assert err == "" and doc["files"] and doc["fluxSource"]
    assert all(f["decryption"] is True and f["macOk"] and f["problem"] is None for f in doc["files"]), doc["files"]


# --- what is only a warning, or nothing at all: exit 0 -----------------------------------------------------


def test_placeholder_secrets_ignored_files_and_a_commented_out_ks_yaml_are_not_reported(tmp_path, key):
    age, key_file = key
    files = fluxrepos.cluster_template("home.example.org")
    # values other tools fill in: Flux substitution, Argo CD's CMP, argocd-vault-plugin (with a generic key)
    files["kubernetes/apps/network/echo/app/templated.yaml"] = fluxrepos.dump(
        fluxrepos.secret("flux", {"password": "${DB_PASSWORD}", "url": "postgres://app:${DB_PASSWORD}@db/app"}),
        fluxrepos.secret("cmp", {"token": "<secret:api-credentials~token|base64>"}),
        fluxrepos.secret("avp", {"key": "<path:kv/data/app#key>"}),
        {**fluxrepos.secret("avp-generic", {"key": "<key>"}),
         "metadata": {"name": "avp-generic", "annotations": {"avp.kubernetes.io/path": "kv/data/app"}}})
    files["kubernetes/apps/network/echo/app/kustomization.yaml"] = fluxrepos.kustomization(
        resources=["./deployment.yaml", "./ingress.yaml", "./secret.sops.yaml", "./templated.yaml"],
        secretGenerator=[{"name": "db", "envs": ["./templated.env"]}])
    files["kubernetes/apps/network/echo/app/templated.env"] = "# filled in by Flux\nPASSWORD=${DB_PASSWORD}\n"
    # left out of the artifact by the GitRepository's spec.ignore (`/*` then `!/kubernetes`): a plaintext
    # Secret and a SOPS file nobody's key opens
    files["ansible/group_vars/secret.yaml"] = fluxrepos.dump(fluxrepos.secret("old", {"password": "pw-1234567"}))
    files["ansible/group_vars/other.sops.yaml"] = fluxrepos.dump(fluxrepos.secret("other", {"a": "b"}))
    # a ks.yaml its namespace's kustomization comments out: Flux never applies it, and it would not build
    files["kubernetes/apps/network/kustomization.yaml"] = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: network\ncomponents:\n"
        "  - ../../components/common\nresources:\n  - ./namespace.yaml\n  - ./echo/ks.yaml\n  # - ./old/ks.yaml\n")
    files["kubernetes/apps/network/old/ks.yaml"] = fluxrepos.dump(fluxrepos.flux_ks(
        "old", "./kubernetes/apps/network/old/app", source="home-kubernetes", namespace="network"))
    files["kubernetes/apps/network/old/app/kustomization.yaml"] = fluxrepos.kustomization(resources=["./gone.yaml"])
    other = new_age_key()
    repo = fluxrepos.write_repo(tmp_path / "repo", files,
                                lambda rel: [other.recipient if "ansible" in rel else age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["findings"] == [] and doc["warnings"] == [] and err == "", (doc, err)
    assert not [f for f in doc["files"] if "/ansible/" in f["path"]], doc["files"]
    assert not [k for f in doc["files"] for k in f["kustomizations"] if k.endswith("/old")], doc["files"]
    # flux bootstrap's layout, with a .sourceignore that leaves an .archive folder out
    files = _helm_example()
    files[".sourceignore"] = ".archive/\n"
    files[".archive/old-secret.yaml"] = fluxrepos.dump(fluxrepos.secret("old", {"password": "pw-7654321"}))
    files[".archive/other.sops.yaml"] = fluxrepos.dump(fluxrepos.secret("other", {"a": "b"}))
    repo = fluxrepos.write_repo(tmp_path / "bootstrap" / "repo", files,
                                lambda rel: [other.recipient if ".archive" in rel else age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["findings"] == [] and doc["warnings"] == [] and err == "", (doc, err)
    assert doc["files"] and not [f for f in doc["files"] if "/.archive/" in f["path"]], doc["files"]


def test_a_plaintext_secret_no_rule_covers_and_a_remote_base_offline_are_warnings(tmp_path, key):
    age, key_file = key
    files = fluxrepos.cluster_template("home.example.org")
    files["kubernetes/apps/network/echo/app/plain.yaml"] = fluxrepos.dump(
        fluxrepos.secret("plain", {"password": "pw-1234567"}))
    files["kubernetes/apps/network/echo/app/kustomization.yaml"] = fluxrepos.kustomization(
        resources=["./deployment.yaml", "./ingress.yaml", "./secret.sops.yaml", "./plain.yaml",
                   "https://example.invalid/acme/podinfo//kustomize?ref=6.5.0"])
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["ok"], (doc, err)
    found = {(f["kind"], f["severity"]) for f in doc["findings"]}
    assert found == {("plaintext-secret", "warning"), ("needs-network", "warning")}, doc["findings"]
    [offline] = [f for f in doc["findings"] if f["kind"] == "needs-network"]
    assert offline["path"] == "network/echo"
    assert offline["detail"].startswith("needs the network: https://example.invalid/acme/podinfo")
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("warning: ") for line in lines), err
    assert doc["summary"].endswith("no problems, 2 warnings")


def two_sources() -> dict[str, str]:
    """A root directory whose Kustomizations use two GitRepositories: which one is this repository?"""
    files = {
        "clusters/prod/flux-system/gotk-sync.yaml": fluxrepos.dump(
            fluxrepos.git_repository("fleet"), fluxrepos.git_repository("platform", "ssh://git@example.invalid/pf"),
            fluxrepos.flux_ks("flux-system", "./clusters/prod", source="fleet"),
            fluxrepos.flux_ks("platform", "./deploy", source="platform")),
        "clusters/prod/apps.yaml": fluxrepos.dump(fluxrepos.flux_ks("apps", "./apps", source="fleet")),
        "apps/kustomization.yaml": fluxrepos.kustomization(resources=["./db.sops.yaml"]),
        "apps/db.sops.yaml": fluxrepos.dump(fluxrepos.secret("db", {"password": "pw-1234567"}, "shop")),
    }
    return files


def test_when_the_gitrepository_cannot_be_told_check_says_so_and_source_chooses_it(tmp_path, key):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", two_sources(), lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 0 and doc["fluxSource"] is None, doc
    [warning] = doc["warnings"]
    assert "cannot tell which GitRepository" in warning and "--source" in warning
    assert "flux-system/fleet" in warning and "flux-system/platform" in warning
    assert err.splitlines() == [f"warning: {warning}"]
    # with --source, the file is seen rendered by `apps`, which has no decryption: the real finding
    code, doc, err = check(repo.path, key_file, "--source", "flux-system/fleet")
    assert code == 1 and doc["fluxSource"] == "flux-system/fleet" and doc["warnings"] == [], (doc, err)
    [entry] = doc["files"]
    assert entry["kustomizations"] == ["flux-system/apps"] and entry["decryption"] is False
    code, doc, err = check(repo.path, key_file, "--source", "flux-system/nope")
    assert code == 0 and "--source flux-system/nope" in doc["warnings"][0], doc


# --- what breaks a restore or leaks a secret: exit 1 -------------------------------------------------------


def test_one_cluster_of_three_without_decryption_is_the_finding_naming_that_cluster(tmp_path, key):
    age, key_file = key
    files = checkrepos.clusters()
    files["clusters/staging/cluster-apps.yaml"] = fluxrepos.dump(fluxrepos.flux_ks("cluster-apps", "./apps/staging"))
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 1, (doc, err)
    bad = [(f["path"].split("/repo/", 1)[1], f["kustomizations"]) for f in doc["files"] if f["problem"]]
    assert bad == [("apps/staging/shop/web/app/secret.sops.yaml", ["shop/web (clusters/staging)"])], doc["files"]
    assert "without spec.decryption" in doc["files"][[f["problem"] is not None for f in doc["files"]].index(True)][
        "problem"]


def test_a_plaintext_secret_the_repos_own_rule_covers_fails(tmp_path, key):
    age, key_file = key
    files = fluxrepos.cluster_template("home.example.org")
    files[".sops.yaml"] = "creation_rules:\n  - path_regex: kubernetes/.*\\.sops\\.ya?ml$\n    age: x\n"
    files["kubernetes/apps/network/echo/app/forgot.sops.yaml"] = fluxrepos.dump(
        fluxrepos.secret("forgot", {"password": "pw-1234567"}))
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    (repo.path / "kubernetes/apps/network/echo/app/forgot.sops.yaml").write_text(fluxrepos.dump(
        fluxrepos.secret("forgot", {"password": "pw-1234567"})))  # written again, now not encrypted
    code, doc, err = check(repo.path, key_file)
    assert code == 1, (doc, err)
    [finding] = doc["findings"]
    assert (finding["kind"], finding["severity"]) == ("plaintext-secret", "error")
    assert "matches a .sops.yaml creation rule" in finding["detail"]


def test_a_file_all_three_clusters_share_fails_when_one_of_them_renders_it_without_decryption(tmp_path, key):
    age, key_file = key
    files = checkrepos.clusters()
    for name in ("dev", "staging", "prod"):  # every cluster's shop/web renders the same base
        ks = fluxrepos.flux_ks("web", "./apps/base/web", namespace="shop", source_namespace="flux-system")
        del ks["metadata"]["namespace"]
        files[f"apps/{name}/shop/web/ks.yaml"] = fluxrepos.dump(ks)
    files["apps/base/web/kustomization.yaml"] = fluxrepos.kustomization(resources=["./secret.sops.yaml"])
    files["apps/base/web/secret.sops.yaml"] = fluxrepos.dump(fluxrepos.secret("web", {"TOKEN": "shared-t0ken"}))
    files["clusters/staging/cluster-apps.yaml"] = fluxrepos.dump(fluxrepos.flux_ks("cluster-apps", "./apps/staging"))
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 1, (doc, err)
    shared = by_file(doc)["apps/base/web/secret.sops.yaml"]
    assert sorted(shared["kustomizations"]) == [f"shop/web (clusters/{n})" for n in ("dev", "prod", "staging")]
    assert shared["decryption"] is False
    assert "shop/web (clusters/staging) without spec.decryption" in shared["problem"], shared


def test_only_a_network_failure_reads_as_needing_the_network():
    from bootstrap.kustomize.kustomizer import needs_network

    offline = ("Kustomization a/b: kustomize build failed: app/https:/example.invalid/x: Get "
               "\"https://example.invalid/acme/x//deploy?ref=v1\": dial tcp: lookup example.invalid: no such host")
    assert needs_network(offline) == "https://example.invalid/acme/x//deploy?ref=v1"
    assert needs_network("Kustomization a/b: kustomize build failed: app/missing.yaml: no such file or directory") is None


def test_a_committed_key_fails_even_where_flux_ignores_it_and_so_does_a_file_the_key_cannot_open(tmp_path, key):
    age, key_file = key
    files = _helm_example()
    files[".sourceignore"] = ".archive/\n"
    leaked = new_age_key()
    files[".archive/old.agekey"] = leaked.key_file_text  # in Git, whatever Flux reads
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 1, (doc, err)
    assert [(f["kind"], f["severity"]) for f in doc["findings"]] == [("committed-age-key", "error")]
    assert leaked.identity not in json.dumps(doc) + err
    other = new_age_key()  # the configs' webhook secret encrypted for another key only
    repo = fluxrepos.write_repo(tmp_path / "other" / "repo", _helm_example(),
                                lambda rel: [other.recipient if rel.startswith("infrastructure/") else age.recipient])
    code, doc, err = check(repo.path, key_file)
    assert code == 1, (doc, err)
    [bad] = [f for f in doc["files"] if f["problem"]]
    assert bad["path"].endswith("infrastructure/configs/webhook.sops.env") and bad["recipientMatch"] is False
