"""The flux CLI built by drb_localcluster/data/flux.sh is the pinned release and bundles working manifests for the three
controllers we build (it is the oracle other tests compare against, so it must be the real thing)."""

from __future__ import annotations


import yaml

from drb_localcluster import versions
from tests.support.flux import build_kustomization, install_manifests, run_flux

VERSIONS = versions()


def test_flux_cli_reports_the_pinned_release():
    assert run_flux("version", "--client").stdout.strip() == f"flux: {VERSIONS['FLUX_VERSION']}"


def test_install_export_renders_the_three_controllers_at_the_pinned_versions():
    docs = [d for d in yaml.safe_load_all(install_manifests()) if d]
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in docs if d["kind"] == "Deployment"
    }
    assert images == {
        "source-controller": f"ghcr.io/fluxcd/source-controller:{VERSIONS['FLUX_SOURCE_CONTROLLER_VERSION']}",
        "kustomize-controller": f"ghcr.io/fluxcd/kustomize-controller:{VERSIONS['FLUX_KUSTOMIZE_CONTROLLER_VERSION']}",
        "helm-controller": f"ghcr.io/fluxcd/helm-controller:{VERSIONS['FLUX_HELM_CONTROLLER_VERSION']}",
    }
    crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert {"gitrepositories.source.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io",
            "kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io"} <= crds
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"} == {"flux-system"}
    labels = {d["metadata"]["labels"]["app.kubernetes.io/version"] for d in docs if d["kind"] == "Deployment"}
    assert labels == {VERSIONS["FLUX_VERSION"]}


def test_components_outside_the_build_are_refused():
    done = run_flux("install", "--export", "--components=source-controller,notification-controller", check=False)
    assert done.returncode != 0 and "notification-controller.yaml" in done.stderr


def test_build_kustomization_applies_post_build_substitution(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  greeting: ${GREETING}\n"
    )
    ks = tmp_path / "ks.yaml"
    ks.write_text(yaml.safe_dump({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": "flux-system"},
        "spec": {"interval": "1m", "path": "./app", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                 "postBuild": {"substitute": {"GREETING": "hello"}}},
    }))
    [cm] = [d for d in yaml.safe_load_all(build_kustomization("app", tmp_path / "app", ks)) if d]
    assert cm["data"] == {"greeting": "hello"}
    assert cm["metadata"]["labels"] == {"kustomize.toolkit.fluxcd.io/name": "app",
                                        "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}
