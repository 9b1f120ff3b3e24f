"""Rendering a Flux repository the way Flux's controllers do (kustomize build, postBuild substitution)."""
