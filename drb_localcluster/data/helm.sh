#!/usr/bin/env bash
# Build the real helm CLI (v4) or the CNCF Distribution OCI registry from Go modules only, each into a
# versioned cache dir (DIR/.complete once built). Last line of output: the binary's path. See
# docs/local-cluster.md ("Helm and the OCI registry").
#
#   helm.sh [helm]                     build (or reuse) helm and print its path
#   helm.sh registry                   build (or reuse) the registry and print its path
#   helm.sh --print-path [helm|registry]  print the path without building
#
# The paths are stable for a pin: ~/.cache/dr-bootstrap/helm-<HELM_VERSION>/helm and
# ~/.cache/dr-bootstrap/registry-<DISTRIBUTION_VERSION>/registry ($DRB_HELM_DIR, $DRB_REGISTRY_DIR override).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=build-common.sh
. "$HERE/build-common.sh"
# shellcheck source=versions.env
. "$HERE/versions.env"
HELM_VERSION=${HELM_VERSION:?} DISTRIBUTION_VERSION=${DISTRIBUTION_VERSION:?}

usage() { echo "usage: $0 [--print-path] [helm|registry]" >&2; exit 2; }
PRINT=0
[[ "${1:-}" == --print-path ]] && { PRINT=1; shift; }
[[ $# -le 1 ]] || usage
case "${1:-helm}" in
  helm) WHAT=helm DIR=${DRB_HELM_DIR:-$DRB_CACHE/helm-$HELM_VERSION} ;;
  registry) WHAT=registry DIR=${DRB_REGISTRY_DIR:-$DRB_CACHE/registry-$DISTRIBUTION_VERSION} ;;
  *) usage ;;
esac
if [[ $PRINT == 1 ]]; then echo "$DIR/$WHAT"; exit 0; fi
drb_reuse "$DIR" "$DIR/$WHAT" "$WHAT" "$WHAT"
drb_need_go "building $WHAT"
drb_lock "$DIR"
drb_reuse "$DIR" "$DIR/$WHAT" "$WHAT" "$WHAT"
drb_go_env
drb_work "$WHAT"

# Both modules have no replace directives, so `go install module/cmd@version` builds them with their own
# go.sum. The version variables are the ones each project's Makefile sets for a tagged release.
if [[ $WHAT == helm ]]; then
  PKG=helm.sh/helm/v4
  LDF="-s -w -X $PKG/internal/version.version=$HELM_VERSION -X $PKG/internal/version.metadata="
  LDF+=" -X $PKG/internal/version.gitTreeState=clean"
  step "helm $HELM_VERSION: building"
  GOBIN="$WORK" go install -trimpath -ldflags="$LDF" "$PKG/cmd/helm@$HELM_VERSION"
  "$WORK/helm" version --short >&2
else
  PKG=github.com/distribution/distribution/v3
  LDF="-s -w -X $PKG/version.version=$DISTRIBUTION_VERSION -X $PKG/version.mainpkg=$PKG"
  step "distribution $DISTRIBUTION_VERSION: building the registry"
  GOBIN="$WORK" go install -trimpath -ldflags="$LDF" "$PKG/cmd/registry@$DISTRIBUTION_VERSION"
  "$WORK/registry" --version >&2
fi
mv -f "$WORK/$WHAT" "$DIR/$WHAT"
drb_done "$DIR" "$DIR/$WHAT"
