"""`restore` of real-shaped Flux repositories onto the local cluster: what lands is what Flux would apply.

Each repo shape gets a cluster of its own (their objects share Flux's fixed names). The gotk components are
the real ones (`flux install --export` from the flux CLI built for the oracle), so Flux's CRDs are there.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from tests.integration.conftest import read_json, run_cli, snapshot
from tests.support import fluxrepos
from tests.support.cluster import started_cluster
from tests.support.flux import install_manifests
from tests.support.sops import new_age_key, write_key_file

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def gotk() -> str:
    return install_manifests()


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("flux-key") / "age.agekey", age)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, control_plane_bin):
    with started_cluster(tmp_path_factory.mktemp("flux-restore"), control_plane_bin) as c:
        yield c


def restore(repo: Path, key_file: Path, kubeconfig: Path, *args: str, report: Path | None = None):
    extra = ["--report", str(report)] if report else []
    return run_cli("restore", str(repo), "--yes", "--age-key-file", str(key_file), "--kubeconfig", str(kubeconfig),
                   "--timeout", "120", *args, *extra)


def get(kubeconfig: Path, kind: str, namespace: str | None, name: str, api_version: str = "v1") -> dict | None:
    with Cluster(str(kubeconfig)) as c:
        return c.get(ObjectRef(api_version, kind, namespace, name))


def decoded(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


# --- fluxcd/flux2-kustomize-helm-example ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm_example(tmp_path_factory, gotk, key, cluster):
    age, key_file = key
    token = "whk-" + base64.b32encode(bytes(8)).decode().lower()
    files = fluxrepos.kustomize_helm_example(gotk, webhook_token=token)
    repo = fluxrepos.write_repo(tmp_path_factory.mktemp("helm-example") / "repo", files, lambda rel: [age.recipient])
    out = tmp_path_factory.mktemp("helm-example-out") / "report.json"
    done = restore(repo.path, key_file, cluster.kubeconfig, "--path", "clusters/staging", "--kustomization", "apps",
                   report=out)
    assert done.code == 0, done
    return repo, read_json(out), token, done


def test_overlay_patch_files_patch_their_target(helm_example, cluster):
    release = get(cluster.kubeconfig, "HelmRelease", "podinfo", "podinfo", "helm.toolkit.fluxcd.io/v2")
    assert release["spec"]["chart"]["spec"]["chart"] == "podinfo"
    assert release["spec"]["values"] == {"ingress": {"enabled": True, "hosts": [{"host": "podinfo.staging"}]},
                                         "replicaCount": 2}


def test_kustomization_namespaces_and_flux_owner_labels_land(helm_example, cluster):
    repo, report, _, _ = helm_example
    applied = [o for o in report["objects"] if o["phase"].endswith(": apply")]
    namespaces = {(o["kind"], o["name"]): o["namespace"] for o in applied}
    assert namespaces[("HelmRepository", "podinfo")] == "podinfo"
    assert namespaces[("HelmRelease", "cert-manager")] == "cert-manager"
    assert not [o for o in applied if o["namespace"] == "default"]
    repository = get(cluster.kubeconfig, "HelmRepository", "podinfo", "podinfo", "source.toolkit.fluxcd.io/v1")
    assert repository["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"


def test_phases_follow_depends_on(helm_example):
    _, report, _, _ = helm_example
    phases = [p["name"] for p in report["phases"] if p["name"].endswith(": apply")]
    assert phases == ["flux-system/flux-system: apply", "flux-system/infra-controllers: apply",
                      "flux-system/infra-configs: apply", "flux-system/apps: apply"]
    assert report["source"] == "flux-system/flux-system" and report["kustomize"].startswith("kubectl kustomize")


def test_a_commented_out_resource_is_not_restored(helm_example, cluster):
    assert get(cluster.kubeconfig, "HorizontalPodAutoscaler", "podinfo", "podinfo", "autoscaling/v2") is None


def test_a_secret_generator_from_a_sops_env_gets_kustomize_s_hash(helm_example, cluster):
    _, report, token, _ = helm_example
    generated = [o["name"] for o in report["objects"] if o["kind"] == "Secret" and o["name"].startswith("webhook-token-")]
    assert len(generated) == 1
    secret = get(cluster.kubeconfig, "Secret", "flux-system", generated[0])
    assert decoded(secret) == {"TOKEN": token, "URL": "https://hooks.example.invalid/x"}


def test_the_key_is_installed_once_where_decryption_points(helm_example, cluster, key):
    age, key_file = key
    secret = get(cluster.kubeconfig, "Secret", "flux-system", "sops-age")
    assert decoded(secret) == {"age.agekey": key_file.read_text()}


def test_the_kms_only_file_outside_the_selection_is_never_read(helm_example):
    _, report, _, done = helm_example
    assert "kms-only" not in done.stdout + done.stderr
    assert report["result"] == "succeeded"


def test_unselected_kustomizations_are_listed_and_rerun_is_unchanged(helm_example, key, cluster):
    repo, _, _, first = helm_example
    assert "left for Flux to reconcile" not in first.stdout  # --kustomization apps pulls the whole chain

    def rerun() -> dict[tuple[str, str, str], str]:
        done = restore(repo.path, key[1], cluster.kubeconfig, "--path", "clusters/staging", "--kustomization",
                       "apps", "--output", "json")
        assert done.code == 0, done
        return {(o["kind"], o["namespace"], o["name"]): o["action"] for o in json.loads(done.stdout)["objects"]
                if o["phase"].endswith(": apply")}

    def content(kind_key) -> dict:
        kind, namespace, name = kind_key
        api = next(o["apiVersion"] for o in first_objects if (o["kind"], o["metadata"]["name"]) == (kind, name))
        body = get(cluster.kubeconfig, kind, namespace or None, name, api)
        body["metadata"].pop("resourceVersion")
        return body

    # The API server rewrites a custom resource once, on the first re-apply after it was created right behind
    # its CRD (resourceVersion moves, the object does not): the first re-run may say `configured` for those,
    # with nothing changed; from then on every re-run is `unchanged`.
    first_objects = [m for m in yaml.safe_load_all((repo.path / "clusters/staging/apps.yaml").read_text()) if m]
    second = rerun()
    custom = {k for k, action in second.items() if action != "unchanged"}
    assert all(kind not in ("Namespace", "Secret", "ConfigMap", "CustomResourceDefinition") for kind, _, _ in custom)
    before = {k: content(k) for k in custom if k[0] == "Kustomization" and k[2] == "apps"}
    third = rerun()
    assert set(third.values()) == {"unchanged"}, sorted(k for k, a in third.items() if a != "unchanged")
    assert {k: content(k) for k in before} == before


# --- onedr0p/cluster-template ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory, gotk, key, control_plane_bin):
    age, key_file = key
    files = fluxrepos.cluster_template("home.example.org")
    files["kubernetes/bootstrap/flux/gotk-components.yaml"] = gotk
    repo = fluxrepos.write_repo(tmp_path_factory.mktemp("template") / "repo", files, lambda rel: [age.recipient])
    out = tmp_path_factory.mktemp("template-out") / "report.json"
    with started_cluster(tmp_path_factory.mktemp("template-cluster"), control_plane_bin) as c:
        done = restore(repo.path, key_file, c.kubeconfig, "--path", "kubernetes/bootstrap/flux",
                       "--path", "kubernetes/flux/vars", "--path", "kubernetes/flux/config", "--kustomization", "all",
                       report=out)
        assert done.code == 0, done
        yield c, read_json(out), done


def test_substitute_from_a_restored_sops_secret_fills_names_and_hosts(template):
    c, _, _ = template
    assert get(c.kubeconfig, "ConfigMap", "cert-manager", "home-example.org-production")["data"] == {
        "commonName": "home.example.org", "tz": "Etc/UTC"}
    ingress = get(c.kubeconfig, "Ingress", "network", "echo", "networking.k8s.io/v1")
    assert ingress["spec"]["rules"][0]["host"] == "echo.home.example.org"


def test_the_component_copies_cluster_secrets_into_every_app_namespace(template):
    c, _, _ = template
    for ns in ("cert-manager", "network"):
        assert decoded(get(c.kubeconfig, "Secret", ns, "cluster-secrets")) == {"SECRET_DOMAIN": "home.example.org"}


def test_the_key_goes_to_every_secret_ref_of_the_restored_kustomizations(template, key):
    c, report, _ = template
    installed = {(o["namespace"], o["name"]) for o in report["objects"] if o["phase"] == "install-key"}
    assert installed == {("flux-system", "sops-age"), ("cert-manager", "sops-age"), ("network", "sops-age")}


def test_generated_names_and_their_references_are_rewritten(template):
    c, report, _ = template
    generated = [o["name"] for o in report["objects"] if o["kind"] == "ConfigMap" and o["name"].startswith("echo-config-")]
    assert len(generated) == 1
    deployment = get(c.kubeconfig, "Deployment", "network", "echo", "apps/v1")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": generated[0]}}]
    assert get(c.kubeconfig, "ConfigMap", "network", generated[0])["data"] == {"MODE": "quiet"}


def test_the_source_is_the_entry_paths_git_repository(template):
    _, report, done = template
    assert report["source"] == "flux-system/home-kubernetes"
    assert "spec.ignore applied" in done.stdout


# --- validation before the first write ------------------------------------------------------------------------


@pytest.fixture
def nothing_written(pristine_cluster):
    before = snapshot(pristine_cluster.kubeconfig)
    yield pristine_cluster
    assert snapshot(pristine_cluster.kubeconfig) == before


def small_flux_repo(tmp_path: Path, age, extra: dict[str, str], gotk: str):
    files = {
        "clusters/prod/flux-system/gotk-components.yaml": gotk,  # a live cluster refuses kinds it has no CRD for
        "clusters/prod/flux-system/gotk-sync.yaml": fluxrepos.dump(
            fluxrepos.git_repository(), fluxrepos.flux_ks("flux-system", "./clusters/prod")),
        "clusters/prod/ns.yaml": fluxrepos.dump(fluxrepos.namespace("shop")),
        **extra,
    }
    return fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])


def test_an_unresolved_variable_in_a_name_exits_4_with_nothing_written(tmp_path, key, gotk, nothing_written):
    # `apps` has no postBuild: Flux leaves `${CLUSTER_NAME}` as it is, and the API would refuse the name
    # after the earlier waves were written.
    age, key_file = key
    repo = small_flux_repo(tmp_path, age, {
        "clusters/prod/apps.yaml": fluxrepos.dump(fluxrepos.flux_ks("apps", "./apps")),
        "apps/cm.yaml": fluxrepos.dump(fluxrepos.configmap("web-${CLUSTER_NAME}", {"a": "b"}, "shop")),
    }, gotk)
    done = restore(repo.path, key_file, nothing_written.kubeconfig, "--path", "clusters/prod", "-k", "apps")
    assert done.code == 4, done
    (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
    assert "apps/cm.yaml" in line and "still holds a variable" in line and "Traceback" not in done.stderr


def test_a_substituted_number_in_a_configmap_exits_4_with_nothing_written(tmp_path, key, gotk, nothing_written):
    # Flux substitutes in the YAML text: `a: ${A}` with A=1 becomes the number 1, which no ConfigMap takes.
    age, key_file = key
    repo = small_flux_repo(tmp_path, age, {
        "clusters/prod/apps.yaml": fluxrepos.dump(fluxrepos.flux_ks("apps", "./apps", postBuild={"substitute": {"A": "1"}})),
        "apps/cm.yaml": fluxrepos.dump(fluxrepos.configmap("web", {"a": "${A}"}, "shop")),
    }, gotk)
    done = restore(repo.path, key_file, nothing_written.kubeconfig, "--path", "clusters/prod", "-k", "apps")
    assert done.code == 4, done
    (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
    assert "apps/cm.yaml" in line and "data.a is int, not a string" in line


def test_an_object_over_the_request_limit_exits_4_before_any_namespace_is_written(tmp_path, key, gotk,
                                                                                    nothing_written):
    age, key_file = key
    repo = small_flux_repo(tmp_path, age, {"clusters/prod/big.yaml": fluxrepos.dump(
        fluxrepos.configmap("big", {"blob": "x" * (3 * 1024 * 1024 + 10)}, "shop"))}, gotk)
    done = restore(repo.path, key_file, nothing_written.kubeconfig, "--path", "clusters/prod")
    assert done.code == 4, done
    assert "more than the API server accepts in one request" in done.stderr


def test_the_repo_s_own_key_copy_holding_another_key_stops_the_restore(tmp_path, key, nothing_written):
    age, key_file = key
    other = new_age_key()
    files = fluxrepos.kustomize_helm_example(repo_key_copy=other.key_file_text)
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    done = restore(repo.path, key_file, nothing_written.kubeconfig, "--path", "clusters/staging")
    assert done.code == 4, done
    assert other.recipient in done.stderr and age.recipient in done.stderr
    assert "AGE-SECRET-KEY" not in done.stdout + done.stderr


def test_the_repo_s_own_copy_of_the_same_key_is_skipped_and_said(tmp_path, key):
    age, key_file = key
    files = fluxrepos.kustomize_helm_example(repo_key_copy=age.key_file_text)
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    done = run_cli("plan", str(repo.path), "--path", "clusters/staging", "--age-key-file", str(key_file))
    assert done.code == 0, done
    assert "holds the same key as --age-key-file" in done.stdout
    assert "Secret/flux-system/sops-age" not in [line.strip().split("  <-")[0] for line in done.stdout.splitlines()]


# --- plan offline, multi-cluster ---------------------------------------------------------------------------


def test_plan_needs_no_cluster_and_prints_objects_with_phase_wave_and_source(tmp_path, key, gotk):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", fluxrepos.kustomize_helm_example(gotk), lambda rel: [age.recipient])
    done = run_cli("plan", str(repo.path), "--path", "clusters/production", "-k", "all", "--age-key-file",
                   str(key_file), "--kubeconfig", str(tmp_path / "no-such-kubeconfig"), "--output", "json")
    assert done.code == 0, done
    objects = json.loads(done.stdout)["objects"]
    release = next(o for o in objects if o["kind"] == "HelmRelease" and o["name"] == "podinfo")
    assert release["phase"] == "flux-system/apps" and release["source"] == "apps/base/podinfo/release.yaml"
    assert isinstance(release["wave"], int) and release["message"] == ""
    assert {o["phase"] for o in objects} == {"flux-system/flux-system", "flux-system/infra-controllers",
                                             "flux-system/infra-configs", "flux-system/apps"}


def test_plan_marks_kinds_whose_crd_is_not_in_the_set(tmp_path, key):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", fluxrepos.kustomize_helm_example(), lambda rel: [age.recipient])
    done = run_cli("plan", str(repo.path), "--path", "clusters/staging", "-k", "apps", "--age-key-file", str(key_file))
    assert done.code == 0, done
    assert any("HelmRelease/podinfo/podinfo" in line and "needs its CRD in the cluster" in line
               for line in done.stdout.splitlines())


def test_multi_cluster_repo_restores_one_environment_with_its_own_key(tmp_path, key, gotk):
    prod, staging = new_age_key(), new_age_key()
    files = fluxrepos.kustomize_helm_example(gotk)
    files["clusters/staging/secrets.sops.yaml"] = fluxrepos.dump(fluxrepos.secret("env", {"who": "staging"}, "flux-system"))
    files["clusters/production/secrets.sops.yaml"] = fluxrepos.dump(fluxrepos.secret("env", {"who": "prod"}, "flux-system"))
    files["clusters/staging/.sops.yaml"] = f"creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n    age: {staging.recipient}\n"
    files["clusters/production/.sops.yaml"] = f"creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n    age: {prod.recipient}\n"
    env_key = lambda rel: [staging.recipient] if rel.startswith("clusters/staging") else [prod.recipient]  # noqa: E731
    repo = fluxrepos.write_repo(tmp_path / "repo", {k: v for k, v in files.items()}, env_key)
    prod_key = write_key_file(tmp_path / "prod.agekey", prod)
    done = run_cli("plan", str(repo.path), "--path", "clusters/production", "--age-key-file", str(prod_key))
    assert done.code == 0, done
    assert "Secret/flux-system/env" in done.stdout


def test_a_cluster_that_is_not_fresh_needs_yes_without_a_terminal(tmp_path, key, gotk, fresh_cluster):
    age, key_file = key
    repo = small_flux_repo(tmp_path, age, {"clusters/prod/cm.yaml": fluxrepos.dump(
        fluxrepos.configmap("settings", {"mode": "safe"}, "shop"))}, gotk)
    args = ["restore", str(repo.path), "--path", "clusters/prod", "--age-key-file", str(key_file),
            "--kubeconfig", str(fresh_cluster.kubeconfig), "--timeout", "60"]
    first = run_cli(*args)
    assert first.code == 0, first
    assert "fresh: none of the" in first.stdout and "context " in first.stdout
    before = snapshot(fresh_cluster.kubeconfig)
    second = run_cli(*args)
    assert second.code == 2, second
    (line,) = second.stderr.splitlines()
    assert "already exist" in line and "--yes" in line
    assert "NOT fresh" in second.stdout
    assert snapshot(fresh_cluster.kubeconfig) == before
    third = run_cli(*args, "--yes")
    assert third.code == 0, third
