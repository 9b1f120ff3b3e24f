"""A real local Kubernetes control plane for tests and drills (see README, "Local control plane")."""

from .cluster import LocalCluster, LocalClusterError, find_bin_dir

__all__ = ["LocalCluster", "LocalClusterError", "find_bin_dir"]
