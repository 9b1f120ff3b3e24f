"""A real local Kubernetes control plane for tests and drills (see README, "Local control plane")."""

from .cluster import LocalCluster, LocalClusterError, find_bin_dir
from .flux import FluxBuildError, find_flux_bin_dir

__all__ = ["FluxBuildError", "LocalCluster", "LocalClusterError", "find_bin_dir", "find_flux_bin_dir"]
