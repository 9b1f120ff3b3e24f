"""GitOps engines (Flux; Argo CD next) behind one small interface (docs/architecture.md)."""
