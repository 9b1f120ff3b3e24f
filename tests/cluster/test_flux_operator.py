"""The real flux-operator (built from its Go module by data/flux-operator.sh) on a local cluster, beside the
Flux controllers that run as host processes (LocalCluster(flux=True, flux_operator=True)).

Its CRDs applied (what its chart would install), a FluxInstance with a `spec.sync` pointing at a real Git
server: the operator builds the Flux distribution from the manifests its module carries, applies Flux's CRDs
and the controllers' Deployments (kwok runs their pods; the host-process controllers start once the CRDs
exist and do the reconciling), creates the root GitRepository and Kustomization, and the FluxInstance becomes
Ready. The hand-over's FluxInstance wait (`operatorwait.hand_over_instances`) sees it Ready, then Flux's own
wait sees the root and its child Kustomization Ready. The root objects the operator made are those
`engines.flux.instance` synthesizes offline.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import yaml

from bootstrap.engines.flux import instance
from bootstrap.engines.flux.converge import wait_converged
from bootstrap.engines.flux.operatorwait import hand_over_instances
from bootstrap.kube import Cluster, wait_established
from bootstrap.kube.reads import list_objects
from bootstrap.model import Manifest, ObjectRef
from bootstrap.report.model import RunReport
from bootstrap.report.progress import QuietProgress
from bootstrap.report.run import Run
from drb_localcluster import fluxoperator
from tests.support.cluster import started_cluster
from tests.support.fluxrepos import dump, flux_ks
from tests.support.gitserver import served_files

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

NS = "flux-system"
SOURCE = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE = "kustomize.toolkit.fluxcd.io/v1"


@pytest.fixture(scope="module")
def git(tmp_path_factory) -> Iterator[str]:
    """A repository with the cluster-template root path (kubernetes/flux/cluster: cluster-apps) and its app."""
    files = {
        "kubernetes/flux/cluster/ks.yaml": dump(flux_ks("cluster-apps", "./kubernetes/apps", targetNamespace="apps")),
        "kubernetes/apps/configmap.yaml": dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "from-git"}, "data": {"source": "git"}}),
    }
    with served_files(tmp_path_factory.mktemp("fleet"), files) as (url, _):
        yield url


def flux_instance(url: str) -> dict:
    return {"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance", "metadata": {"name": "flux", "namespace": NS},
            "spec": {"distribution": {"version": "2.9.x", "registry": "ghcr.io/fluxcd"},
                     "components": ["source-controller", "kustomize-controller", "helm-controller"],
                     "cluster": {"networkPolicy": False},
                     "sync": {"kind": "GitRepository", "url": url, "ref": "refs/heads/main",
                              "path": "kubernetes/flux/cluster", "interval": "1m"}}}


def test_flux_instance_becomes_ready_and_flux_reconciles_its_root(tmp_path, control_plane_bin, flux_bin_dir,
                                                                   operator_dir, git):
    with started_cluster(tmp_path / "cluster", control_plane_bin, flux=True, flux_bin_dir=flux_bin_dir,
                         flux_operator=True) as local, Cluster(str(local.kubeconfig)) as kube:
        crds = [yaml.safe_load(p.read_text()) for p in sorted(fluxoperator.crd_dir(operator_dir).glob("*.yaml"))]
        for crd in crds:
            kube.apply(crd)
        wait_established(kube, [c["metadata"]["name"] for c in crds], 60)
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
        body = flux_instance(git)
        kube.apply(body)

        progress = QuietProgress(errors=io.StringIO())
        notes: list[str] = []
        progress.note = notes.append
        run = Run(RunReport("restore", scrubber=progress.scrubber), progress)
        manifest = Manifest(ObjectRef(body["apiVersion"], "FluxInstance", NS, "flux"), body, "flux-instance.yaml")
        try:
            spent = hand_over_instances(kube, run, [manifest], timeout=420)
        except Exception:
            print((local.dir / "logs" / "flux-operator.log").read_text()[-6000:])
            raise
        assert spent > 0 and any(n.startswith("FluxInstance flux-system/flux Ready after") for n in notes), notes
        for name in ("source-controller", "kustomize-controller", "helm-controller"):  # applied by the operator,
            deploy = kube.get(ObjectRef("apps/v1", "Deployment", NS, name))          # its pods run by kwok
            assert deploy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flux-operator", name
            assert deploy["status"].get("availableReplicas") == 1, name

        client = kube.client
        try:
            done = client.run(wait_converged(lambda av, kind: list_objects(client, kube.discovery, av, kind),
                                             timeout=300, now=client.now, sleep=client.sleep))
        except Exception:
            print(yaml.safe_dump(kube.list("fluxcd.controlplane.io/v1", "FluxInstance")))
            print((local.dir / "logs" / "flux-operator.log").read_text()[-8000:])
            print((local.dir / "logs" / "kustomize-controller.log").read_text()[-3000:])
            raise
        assert {r.name for r in done.ready_at} >= {"flux-system", "cluster-apps"}
        assert kube.get(ObjectRef("v1", "ConfigMap", "apps", "from-git"))["data"] == {"source": "git"}

        source, ks = instance.from_object(body, "flux-instance.yaml").root()
        for made in (source, ks):
            live = kube.get(ObjectRef(made["apiVersion"], made["kind"], NS, made["metadata"]["name"]))
            assert live is not None, made["kind"]
            for key, value in made["spec"].items():
                assert live["spec"][key] == value, (made["kind"], key)
            for field in ("labels", "annotations"):
                assert made["metadata"][field].items() <= live["metadata"][field].items(), (made["kind"], field)
