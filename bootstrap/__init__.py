"""dr-bootstrap: rebuild a GitOps-managed cluster from its Git repository and one age key."""

__version__ = "0.1.0"
