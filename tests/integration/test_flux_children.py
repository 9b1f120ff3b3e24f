"""Child Kustomizations are the objects their parent applies after postBuild substitution: repos in the shapes
real ones have (a shared component naming a child `${APP}-postgres-db`, a child `spec.path` holding
`${CLUSTER}`, a child's own `postBuild.substitute: {CLUSTER: ${CLUSTER}}`, a child opting out of substitution),
built at test time and rendered by dr-bootstrap and by the real `flux build kustomization --dry-run`
(v2.9.5): every phase's objects, the child Kustomizations included, compared whole.

`flux build --dry-run` reads no `substituteFrom` (no cluster): where the parent reads its variables from a
ConfigMap and a SOPS Secret of the entry path, Flux is handed the same variables inline (`substitute` wins
over `substituteFrom` in Flux, and the values are the same), and our render reads them from the repository;
one cluster test has flux build read them from a local cluster holding what the entry path restores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bootstrap.engines.flux.render import RenderRequest, render_repository
from bootstrap.errors import ValidationError
from bootstrap.kube import Cluster
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder
from bootstrap.kustomize.kustomizer import find_kustomizer
from bootstrap.kustomize.scratch import memory_backed_dir
from bootstrap.kustomize.secrets import SopsFiles
from bootstrap.stages.keys import load_keyring
from tests.support import fluxrepos
from tests.support.flux import apply_install, install_manifests, run_flux
from tests.support.sops import new_age_key, write_key_file

OWNER_LABELS = ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace")
APPS = ("immich", "paperless", "gitea")
CLUSTER_SETTINGS = {"CLUSTER": "main", "TIMEZONE": "Europe/Paris"}
SECRET_DOMAIN = "home.example.org"


def _entry(apps_post: dict, extra: dict[str, str] | None = None) -> dict[str, str]:
    """clusters/main: the GitRepository and the `apps` Kustomization (path ./kubernetes/apps) with `apps_post`."""
    files = {
        "clusters/main/kustomization.yaml": fluxrepos.kustomization(
            resources=["./flux-system.yaml", "./apps.yaml", *sorted(extra or {})]),
        "clusters/main/flux-system.yaml": fluxrepos.dump(fluxrepos.git_repository()),
        "clusters/main/apps.yaml": fluxrepos.dump(fluxrepos.flux_ks("apps", "./kubernetes/apps", postBuild=apps_post)),
    }
    files.update({f"clusters/main/{name}": text for name, text in (extra or {}).items()})
    return files


def component_repo() -> dict[str, str]:
    """Each app's Kustomization substitutes APP; a shared component defines the app's database Kustomization
    `${APP}-postgres-db`, whose own postBuild passes APP on."""
    files = _entry({"substitute": {"CLUSTER": "main"}})
    files["kubernetes/apps/kustomization.yaml"] = fluxrepos.kustomization(resources=[f"./{a}/ks.yaml" for a in APPS])
    for app in APPS:
        files[f"kubernetes/apps/{app}/ks.yaml"] = fluxrepos.dump(fluxrepos.flux_ks(
            app, f"./kubernetes/apps/{app}/app", namespace="default", source_namespace="flux-system",
            postBuild={"substitute": {"APP": app}}))
        files[f"kubernetes/apps/{app}/app/kustomization.yaml"] = fluxrepos.kustomization(
            resources=["./settings.yaml"], components=["../../../components/postgres"])
        files[f"kubernetes/apps/{app}/app/settings.yaml"] = fluxrepos.dump(fluxrepos.configmap(
            "${APP}-settings", {"app": "${APP}"}))
    files["kubernetes/components/postgres/kustomization.yaml"] = fluxrepos.dump({
        "apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", "resources": ["./ks.yaml"]})
    files["kubernetes/components/postgres/ks.yaml"] = fluxrepos.dump(fluxrepos.flux_ks(
        "${APP}-postgres-db", "./kubernetes/databases/postgres", namespace="default", source_namespace="flux-system",
        dependsOn=[{"name": "${APP}"}], postBuild={"substitute": {"APP": "${APP}"}}))
    files["kubernetes/databases/postgres/kustomization.yaml"] = fluxrepos.kustomization(resources=["./db.yaml"])
    files["kubernetes/databases/postgres/db.yaml"] = fluxrepos.dump(fluxrepos.configmap(
        "${APP}-postgres", {"database": "${APP}", "owner": "${APP}"}))
    return files


def _cluster_children(files: dict[str, str]) -> dict[str, str]:
    """`infra` at `./kubernetes/${CLUSTER}/infra`; `settings` with its own `substitute: {CLUSTER: ${CLUSTER}}`;
    `raw`, the same but `kustomize.toolkit.fluxcd.io/substitute: disabled` (Flux leaves it as written)."""
    raw = fluxrepos.flux_ks("raw", "./kubernetes/shared/raw", postBuild={"substitute": {"CLUSTER": "${CLUSTER}"}})
    raw["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}
    files["kubernetes/apps/kustomization.yaml"] = fluxrepos.kustomization(
        resources=["./infra.yaml", "./settings.yaml", "./raw.yaml"])
    files["kubernetes/apps/infra.yaml"] = fluxrepos.dump(fluxrepos.flux_ks("infra", "./kubernetes/${CLUSTER}/infra"))
    files["kubernetes/apps/settings.yaml"] = fluxrepos.dump(fluxrepos.flux_ks(
        "settings", "./kubernetes/shared/settings", postBuild={"substitute": {"CLUSTER": "${CLUSTER}"}}))
    files["kubernetes/apps/raw.yaml"] = fluxrepos.dump(raw)
    for cluster in ("main", "other"):
        files[f"kubernetes/{cluster}/infra/kustomization.yaml"] = fluxrepos.kustomization(resources=["./infra.yaml"])
        files[f"kubernetes/{cluster}/infra/infra.yaml"] = fluxrepos.dump(fluxrepos.configmap(
            "infra", {"cluster": cluster}, "flux-system"))
    for name in ("settings", "raw"):
        files[f"kubernetes/shared/{name}/kustomization.yaml"] = fluxrepos.kustomization(resources=["./cm.yaml"])
        files[f"kubernetes/shared/{name}/cm.yaml"] = fluxrepos.dump(fluxrepos.configmap(
            f"{name}-cluster", {"name": "${CLUSTER}", "tz": "${TIMEZONE:=UTC}"}, "flux-system"))
    return files


def inline_repo() -> dict[str, str]:
    return _cluster_children(_entry({"substitute": {"CLUSTER": "main"}}))


def substitute_from_repo() -> dict[str, str]:
    """The parent reads CLUSTER from a ConfigMap and SECRET_DOMAIN from a SOPS Secret of the entry path."""
    post = {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-settings"},
                               {"kind": "Secret", "name": "cluster-secrets"}]}
    files = _entry(post, {
        "cluster-settings.yaml": fluxrepos.dump(fluxrepos.configmap("cluster-settings", CLUSTER_SETTINGS,
                                                                    "flux-system")),
        "cluster-secrets.sops.yaml": fluxrepos.dump(fluxrepos.secret("cluster-secrets",
                                                                     {"SECRET_DOMAIN": SECRET_DOMAIN}, "flux-system")),
    })
    files["clusters/main/apps.yaml"] = fluxrepos.dump({**fluxrepos.flux_ks(
        "apps", "./kubernetes/apps", postBuild=post,
        decryption={"provider": "sops", "secretRef": {"name": "sops-age"}})})
    files = _cluster_children(files)
    ingress = fluxrepos.flux_ks("ingress-${SECRET_DOMAIN/./-}", "./kubernetes/shared/settings",
                                postBuild={"substitute": {"CLUSTER": "${CLUSTER}-${SECRET_DOMAIN}"}})
    files["kubernetes/apps/ingress.yaml"] = fluxrepos.dump(ingress)
    files["kubernetes/apps/kustomization.yaml"] = fluxrepos.kustomization(
        resources=["./infra.yaml", "./settings.yaml", "./raw.yaml", "./ingress.yaml"])
    return files


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("children-key") / "age.agekey", age)


def render(repo: Path, key_file: Path | None, notes: list[str] | None = None):
    keyring = load_keyring(str(key_file)) if key_file else None
    builder = Builder(repo, kustomizer=find_kustomizer(), artifact=Artifact(repo), secrets=SopsFiles(repo, keyring),
                      disk_base=repo.parent, memory_base=memory_backed_dir())
    return render_repository(RenderRequest(paths=("clusters/main",), kustomizations=("all",)), builder,
                             cluster=None, notes=(notes if notes is not None else []).append)


def as_written(body: dict, inline: dict[str, str] | None = None) -> dict:
    """Our finished copy of a Kustomization as its parent applies it, for `flux build --kustomization-file`:
    without the owner labels Flux adds at apply; `inline` replaces substituteFrom (see the module doc)."""
    body = json.loads(json.dumps(body))
    labels = body["metadata"].get("labels") or {}
    for name in OWNER_LABELS:
        labels.pop(name, None)
    if not labels:
        body["metadata"].pop("labels", None)
    if inline is not None:
        body["spec"]["postBuild"] = {"substitute": inline}
    return body


def identity(body: dict) -> tuple[str, str, str, str]:
    meta = body.get("metadata") or {}
    return body.get("apiVersion", ""), body.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


def flux_build(repo: Path, ks: dict, tmp: Path, kubeconfig: Path | None = None) -> dict:
    """`flux build kustomization` of `ks`: --dry-run, or with `kubeconfig` reading substituteFrom from that
    cluster (where flux build first looks the Kustomization up: it is applied there, no controller runs)."""
    meta = ks["metadata"]
    ks_file = tmp / f"ks-{meta['namespace']}-{meta['name']}.json"
    ks_file.write_text(json.dumps(ks))
    args = ["build", "kustomization", meta["name"], "--namespace", meta["namespace"], "--path",
            str(repo / ks["spec"]["path"]), "--kustomization-file", str(ks_file)]
    if kubeconfig is None:
        args.append("--dry-run")
    else:
        with Cluster(str(kubeconfig)) as kube:
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": meta["namespace"]}})
            kube.apply(ks)
        args += ["--kubeconfig", str(kubeconfig)]
    done = run_flux(*args)
    return {identity(doc): doc for doc in yaml.safe_load_all(done.stdout) if isinstance(doc, dict)}


def compare_with_flux(rendering, repo: Path, tmp: Path, inline: dict[str, dict[str, str]] | None = None,
                      kubeconfig: Path | None = None) -> list[str]:
    """Every phase a Kustomization renders, against `flux build` of that Kustomization as its parent's phase
    applies it (our copy): whole objects. Returns the phases checked."""
    applied = {(m.ref.namespace, m.ref.name): m.body for m in rendering.manifests if m.ref.kind == "Kustomization"}
    checked = []
    for phase in rendering.phases:
        k = phase.kustomization
        if k is None:
            continue
        ks = as_written(applied[(k.key.namespace, k.key.name)], (inline or {}).get(str(k.key)))
        assert ks["spec"]["path"].lstrip("./") == k.path, (str(k.key), ks["spec"]["path"], k.path)
        theirs = flux_build(repo, ks, tmp, kubeconfig)
        ours = {identity(m.body): yaml.safe_load(yaml.safe_dump(m.body)) for m in phase.manifests}
        assert set(ours) == set(theirs), (str(k.key), sorted(set(ours) ^ set(theirs)))
        different = [name for name in ours if ours[name] != theirs[name]]
        assert not different, "\n".join(f"{k.key} {n}:\n ours   {ours[n]}\n theirs {theirs[n]}" for n in different)
        checked.append(str(k.key))
    return checked


def test_a_component_child_named_after_a_variable_is_one_child_per_app(tmp_path):
    repo = fluxrepos.write_repo(tmp_path / "repo", component_repo(), lambda rel: [])
    rendering = render(repo.path, None)
    checked = compare_with_flux(rendering, repo.path, tmp_path)
    assert sorted(checked) == sorted(["flux-system/apps", *(f"default/{a}" for a in APPS),
                                      *(f"default/{a}-postgres-db" for a in APPS)])
    for app in APPS:  # each database child after its app, reading its own APP
        k = rendering.kustomizations[next(key for key in rendering.kustomizations if key.name == f"{app}-postgres-db")]
        assert k.parent is not None and k.parent.name == app and [d.name for d in k.depends_on] == [app]
    dbs = {m.ref.name: m.body["data"] for m in rendering.manifests if m.ref.name.endswith("-postgres")}
    assert dbs == {f"{a}-postgres": {"database": a, "owner": a} for a in APPS}


def test_a_child_path_and_a_child_s_own_postbuild_are_substituted_by_the_parent(tmp_path):
    repo = fluxrepos.write_repo(tmp_path / "repo", inline_repo(), lambda rel: [])
    rendering = render(repo.path, None)
    checked = compare_with_flux(rendering, repo.path, tmp_path)
    assert sorted(checked) == ["flux-system/apps", "flux-system/infra", "flux-system/raw", "flux-system/settings"]
    data = {m.ref.name: m.body["data"] for m in rendering.manifests if m.ref.kind == "ConfigMap"}
    assert data["infra"] == {"cluster": "main"}  # kubernetes/main/infra, not kubernetes/${CLUSTER}/infra
    assert data["settings-cluster"] == {"name": "main", "tz": "UTC"}
    # substitution disabled on the child object: its own variable stays the text `${CLUSTER}`, as in Flux
    assert data["raw-cluster"] == {"name": "${CLUSTER}", "tz": "UTC"}


def test_substitute_from_of_the_parent_reaches_the_children(tmp_path, key):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", substitute_from_repo(), lambda rel: [age.recipient])
    rendering = render(repo.path, key_file)
    variables = {**CLUSTER_SETTINGS, "SECRET_DOMAIN": SECRET_DOMAIN}
    checked = compare_with_flux(rendering, repo.path, tmp_path, inline={"flux-system/apps": variables})
    assert sorted(checked) == ["flux-system/apps", "flux-system/infra", "flux-system/ingress-home-example.org",
                               "flux-system/raw", "flux-system/settings"]
    data = {m.ref.name: m.body["data"] for m in rendering.manifests if m.ref.kind == "ConfigMap"}
    assert data["infra"] == {"cluster": "main"}
    assert data["settings-cluster"] == {"name": "main", "tz": "UTC"}


@pytest.mark.cluster
def test_substitute_from_as_flux_reads_it_from_the_cluster(tmp_path, key, fresh_cluster):
    """The same repository, Flux reading `substituteFrom` from a cluster that holds what the entry path
    restores (the ConfigMap, the decrypted Secret), as kustomize-controller reads it."""
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", substitute_from_repo(), lambda rel: [age.recipient])
    rendering = render(repo.path, key_file)
    with Cluster(str(fresh_cluster.kubeconfig)) as kube:
        apply_install(kube, "\n---\n".join(yaml.safe_dump(d) for d in yaml.safe_load_all(install_manifests())
                                            if d and d["kind"] == "CustomResourceDefinition"))
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}})
        for m in rendering.phases[0].manifests:  # the entry path, restored first
            if m.ref.kind in ("ConfigMap", "Secret"):
                kube.apply(m.body)
    checked = compare_with_flux(rendering, repo.path, tmp_path, kubeconfig=fresh_cluster.kubeconfig)
    assert sorted(checked) == ["flux-system/apps", "flux-system/infra", "flux-system/ingress-home-example.org",
                               "flux-system/raw", "flux-system/settings"]


def test_without_the_parent_s_variables_the_children_are_read_as_written_and_the_parent_says_why(tmp_path):
    """Offline, with no copy of cluster-settings anywhere: discovery notes it, and the parent's phase stops on
    the missing ConfigMap (not on a child's unresolved name)."""
    files = substitute_from_repo()
    del files["clusters/main/cluster-settings.yaml"], files["clusters/main/cluster-secrets.sops.yaml"]
    files["clusters/main/kustomization.yaml"] = fluxrepos.kustomization(resources=["./flux-system.yaml",
                                                                                  "./apps.yaml"])
    files["kubernetes/apps/kustomization.yaml"] = fluxrepos.kustomization(resources=["./settings.yaml"])
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [])
    notes: list[str] = []
    with pytest.raises(ValidationError, match="Kustomization flux-system/apps: substitute from "
                                              "'ConfigMap/cluster-settings': not found"):
        render(repo.path, None, notes)
    assert [n for n in notes if "read before postBuild substitution" in n] == [
        "Kustomization flux-system/apps: the Kustomizations it defines are read before postBuild substitution "
        "(Kustomization flux-system/apps: substitute from 'ConfigMap/cluster-settings': not found in the restored "
        "set nor in the cluster (namespace flux-system))"]


def test_an_entry_path_s_own_kustomization_substitutes_the_kustomizations_beside_it(tmp_path):
    """`--path clusters/main`, which the flux-system Kustomization (with postBuild) points at: the
    Kustomizations of the entry path are read as flux-system applies them."""
    files = inline_repo()
    files["clusters/main/flux-system.yaml"] = fluxrepos.dump(fluxrepos.git_repository(), fluxrepos.flux_ks(
        "flux-system", "./clusters/main", postBuild={"substitute": {"CLUSTER": "main"}}))
    files["clusters/main/apps.yaml"] = fluxrepos.dump(fluxrepos.flux_ks("infra", "./kubernetes/${CLUSTER}/infra"))
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [])
    rendering = render(repo.path, None)
    assert compare_with_flux(rendering, repo.path, tmp_path) == ["flux-system/flux-system", "flux-system/infra"]
    assert [m.body["data"] for m in rendering.manifests
            if m.ref.kind == "ConfigMap" and m.ref.name == "infra"] == [{"cluster": "main"}]
