"""A real local Kubernetes control plane (etcd, kube-apiserver, kwok and a simulated kubelet) for restore
drills (`dr-bootstrap drill --cluster local`) and the tests. Its own top-level package, not part of
`bootstrap`: the restore tool never imports it, only the drill does, lazily. See docs/local-cluster.md."""

from .cluster import BUILD_HINT, LocalCluster, LocalClusterError, NotBuiltError, find_bin_dir, versions
from .argocd import ArgoCDError, find_argocd_bin_dir, start_argocd
from .flux import FluxBuildError, find_flux_bin_dir

__all__ = ["ArgoCDError", "BUILD_HINT", "FluxBuildError", "LocalCluster", "LocalClusterError", "NotBuiltError", "find_bin_dir", "find_flux_bin_dir",
           "find_argocd_bin_dir", "start_argocd", "versions"]
