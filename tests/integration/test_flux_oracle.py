"""Our rendering of every Flux Kustomization of every test repo, compared with the real Flux CLI's
(`flux build kustomization NAME --path … --kustomization-file …`, built from Go modules): whole objects.

Two things `flux build` does differently from kustomize-controller are evened out on its side, never ours:
it does not decrypt generator inputs (so it is given a copy of the repo where sops has decrypted them, as
kustomize-controller's DecryptSources does), and it masks SOPS-encrypted Secret values (so ours are masked
the same way before comparing). `substituteFrom` is read from the local cluster, where the vars directory was
restored first: both sides see the same ConfigMap and Secret.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
import yaml

from bootstrap.errors import BootstrapError
from bootstrap.stages.keys import load_keyring
from bootstrap.model import Manifest
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder
from bootstrap.kustomize.kustomizer import find_kustomizer
from bootstrap.engines.flux.render import RenderRequest, render_repository
from bootstrap.kustomize.scratch import memory_backed_dir
from bootstrap.kustomize.secrets import SopsFiles
from tests.integration.conftest import run_cli
from tests.support import fluxrepos
from tests.support.flux import apply_install, install_manifests, run_flux
from tests.support.sops import new_age_key, sops_decrypt, write_key_file

pytestmark = pytest.mark.cluster

MASK = "**SOPS**"
FLUX_ADDED = ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace")


def load_all(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def identity(body: dict) -> tuple[str, str, str, str]:
    meta = body.get("metadata") or {}
    return (body.get("apiVersion", ""), body.get("kind", ""), meta.get("namespace") or "", meta.get("name", ""))


def masked(m: Manifest) -> dict:
    """Our object as `flux build` prints it: an encrypted Secret's values masked."""
    body = yaml.safe_load(yaml.safe_dump(m.body))
    if m.encrypted and body.get("kind") == "Secret":
        for key in body.get("data") or {}:
            body["data"][key] = base64.b64encode(MASK.encode()).decode()
        for key in body.get("stringData") or {}:
            body["stringData"][key] = MASK
    return body


@pytest.fixture
def plain_dir():
    """Where the oracle's decrypted copy goes: memory-backed when the machine has it (test secrets, but
    plaintext all the same)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="oracle-plain-", dir=memory_backed_dir()) as tmp:
        yield Path(tmp)


def decrypted_copy(repo: Path, dest: Path, key_file: Path) -> Path:
    """The repo with its SOPS generator inputs decrypted in place (what kustomize-controller hands kustomize)."""
    shutil.copytree(repo, dest, ignore=shutil.ignore_patterns(".git"))
    for path in dest.rglob("*.sops.env"):
        done = sops_decrypt(path.read_bytes(), "dotenv", key_file)
        assert done.returncode == 0, done.stderr
        path.write_bytes(done.stdout)
    return dest


def our_render(repo: Path, keyring, paths: tuple[str, ...], kubeconfig: Path | None):
    lookup = None
    if kubeconfig is not None:
        from bootstrap.kube import Cluster
        from bootstrap.stages.session import cluster_lookup

        cluster = Cluster(str(kubeconfig))
        lookup = cluster_lookup(cluster.get)
    builder = Builder(repo, kustomizer=find_kustomizer(), artifact=Artifact(repo), secrets=SopsFiles(repo, keyring),
                      disk_base=repo.parent, memory_base=memory_backed_dir())
    return render_repository(RenderRequest(paths=paths, kustomizations=("all",)), builder, cluster=lookup,
                             notes=lambda text: None)


def flux_render(plain_repo: Path, ks_body: dict, tmp: Path, kubeconfig: Path | None) -> list[dict]:
    meta, spec = ks_body["metadata"], ks_body["spec"]
    ks_file = tmp / f"{meta['namespace']}-{meta['name']}.yaml"
    ks_file.write_text(yaml.safe_dump(ks_body))
    args = ["build", "kustomization", meta["name"], "--namespace", meta["namespace"],
            "--path", str(plain_repo / (spec.get("path") or ".")), "--kustomization-file", str(ks_file)]
    if kubeconfig is not None:
        # `flux build` with a cluster (for substituteFrom) reads the live Kustomization first: it must exist.
        # No controller runs in this cluster, so the object only sits there.
        from bootstrap.kube import Cluster

        with Cluster(str(kubeconfig)) as kube:
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": meta["namespace"]}})
            kube.apply(ks_body)
        args += ["--kubeconfig", str(kubeconfig)]
    else:
        args.append("--dry-run")
    return load_all(run_flux(*args).stdout)


def compare(rendering, plain_repo: Path, tmp: Path, kubeconfig: Path | None) -> list[str]:
    """Every phase rendered by a Kustomization: our objects against flux build's. Returns what was checked."""
    checked = []
    bodies = {str(k.key): m.body for m in rendering.manifests
              for k in rendering.kustomizations.values()
              if m.ref.kind == "Kustomization" and m.ref.namespace == k.key.namespace and m.ref.name == k.key.name}
    for phase in rendering.phases:
        k = phase.kustomization
        if k is None:
            continue
        ks_body = bodies.get(str(k.key)) or {"apiVersion": fluxrepos.KS_API, "kind": "Kustomization",
                                              "metadata": {"name": k.key.name, "namespace": k.key.namespace},
                                              "spec": dict(k.spec)}
        theirs = {identity(b): b for b in flux_render(plain_repo, _without_owner_labels(ks_body), tmp, kubeconfig)}
        ours = {identity(b): b for b in (masked(m) for m in phase.manifests)}
        assert set(ours) == set(theirs), (str(k.key), sorted(set(ours) ^ set(theirs)))
        for key, body in ours.items():
            assert body == theirs[key], (str(k.key), key)
        checked.append(str(k.key))
        if kubeconfig is not None:
            _provide_substitution_data(phase.manifests, kubeconfig)
    return checked


def _provide_substitution_data(manifests, kubeconfig: Path) -> None:
    """What kustomize-controller would have applied by now: this phase's Namespaces, ConfigMaps and Secrets
    (just shown equal to flux build's), which later Kustomizations read with substituteFrom."""
    from bootstrap.kube import Cluster

    with Cluster(str(kubeconfig)) as kube:
        for kind in ("Namespace", "ConfigMap", "Secret"):
            for m in manifests:
                if m.ref.kind == kind and m.ref.api_version == "v1":
                    kube.apply(m.body)


def _without_owner_labels(body: dict) -> dict:
    """The Kustomization as written in the repository (our rendered copy carries its parent's owner labels)."""
    body = yaml.safe_load(yaml.safe_dump(body))
    labels = body["metadata"].get("labels") or {}
    for key in FLUX_ADDED:
        labels.pop(key, None)
    if not labels:
        body["metadata"].pop("labels", None)
    return body


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("oracle-key") / "age.agekey", age)


def test_kustomize_helm_example_renders_as_flux_build(tmp_path, key, plain_dir):
    age, key_file = key
    repo = fluxrepos.write_repo(tmp_path / "repo", fluxrepos.kustomize_helm_example(), lambda rel: [age.recipient])
    plain = decrypted_copy(repo.path, plain_dir / "repo", key_file)
    for env in ("staging", "production"):
        rendering = our_render(repo.path, load_keyring(str(key_file)), (f"clusters/{env}",), None)
        checked = compare(rendering, plain, tmp_path, None)
        assert checked == ["flux-system/flux-system", "flux-system/infra-controllers", "flux-system/infra-configs",
                           "flux-system/apps"]
        release = next(m.body for m in rendering.manifests if m.ref.kind == "HelmRelease" and m.ref.name == "podinfo")
        assert release["spec"]["chart"]["spec"]["chart"] == "podinfo"  # the patch file patched, not applied whole
        assert release["spec"]["values"]["ingress"]["hosts"] == [{"host": f"podinfo.{env}"}]


def test_cluster_template_renders_as_flux_build(tmp_path, key, fresh_cluster, plain_dir):
    age, key_file = key
    domain = "home.example.org"
    repo = fluxrepos.write_repo(tmp_path / "repo", fluxrepos.cluster_template(domain), lambda rel: [age.recipient])
    plain = decrypted_copy(repo.path, plain_dir / "repo", key_file)
    vars_restore = run_cli("restore", str(repo.path), "--yes", "--path", "kubernetes/flux/vars", "--age-key-file",
                           str(key_file), "--kubeconfig", str(fresh_cluster.kubeconfig), "--timeout", "60")
    assert vars_restore.code == 0, vars_restore
    # `flux build` with a kubeconfig (for substituteFrom) looks the Kustomization up first: it needs the API
    from bootstrap.kube import Cluster

    with Cluster(str(fresh_cluster.kubeconfig)) as kube:
        apply_install(kube, "\n---\n".join(yaml.safe_dump(d) for d in yaml.safe_load_all(install_manifests())
                                            if d and d["kind"] == "CustomResourceDefinition"))
    rendering = our_render(repo.path, load_keyring(str(key_file)), ("kubernetes/flux/config",),
                           fresh_cluster.kubeconfig)
    checked = compare(rendering, plain, tmp_path, fresh_cluster.kubeconfig)
    assert checked == ["flux-system/cluster", "flux-system/cluster-apps", "cert-manager/cert-manager", "network/echo"]
    names = {(m.ref.kind, m.ref.namespace, m.ref.name) for m in rendering.manifests}
    # `${SECRET_DOMAIN/./-}` replaces the first dot only, as Flux's envsubst does (flux build agrees above)
    assert ("ConfigMap", "cert-manager", "home-example.org-production") in names
    assert ("Secret", "network", "cluster-secrets") in names  # the component's copy, in the app's namespace
    ingress = next(m.body for m in rendering.manifests if m.ref.kind == "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == f"echo.{domain}"


def test_errors_are_bootstrap_errors(tmp_path, key):
    age, key_file = key
    files = fluxrepos.kustomize_helm_example()
    files["apps/staging/kustomization.yaml"] = fluxrepos.kustomization(resources=["../base/missing"])
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [age.recipient])
    with pytest.raises(BootstrapError, match="Kustomization flux-system/apps: kustomize build failed"):
        our_render(repo.path, load_keyring(str(key_file)), ("clusters/staging",), None)
