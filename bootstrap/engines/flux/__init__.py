"""Flux: its Kustomizations rendered as kustomize-controller would, where its decryption key goes, its
readiness rules and the hand-over to its controllers."""
