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
# shellcheck source=versions.env
. "$HERE/versions.env"
HELM_VERSION=${HELM_VERSION:?} DISTRIBUTION_VERSION=${DISTRIBUTION_VERSION:?}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/dr-bootstrap

usage() { echo "usage: $0 [--print-path] [helm|registry]" >&2; exit 2; }
PRINT=0
[[ "${1:-}" == --print-path ]] && { PRINT=1; shift; }
[[ $# -le 1 ]] || usage
case "${1:-helm}" in
  helm) WHAT=helm DIR=${DRB_HELM_DIR:-$CACHE/helm-$HELM_VERSION} ;;
  registry) WHAT=registry DIR=${DRB_REGISTRY_DIR:-$CACHE/registry-$DISTRIBUTION_VERSION} ;;
  *) usage ;;
esac
if [[ $PRINT == 1 ]]; then echo "$DIR/$WHAT"; exit 0; fi
if [[ -f "$DIR/.complete" && -x "$DIR/$WHAT" ]]; then echo "cached: $WHAT present" >&2; echo "$DIR/$WHAT"; exit 0; fi
command -v go >/dev/null 2>&1 || { echo "helm.sh: building $WHAT needs Go 1.26 or newer on PATH" >&2; exit 3; }

# One build at a time per dir (make and a test may ask together); the second waits, then reuses.
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [[ -f "$DIR/.complete" && -x "$DIR/$WHAT" ]]; then echo "cached: $WHAT present" >&2; echo "$DIR/$WHAT"; exit 0; fi

# Only Go modules, only through the module proxy: drop 'direct' (VCS fetches) from GOPROXY.
GOPROXY=$(go env GOPROXY | tr ',|' '\n\n' | grep -vx 'direct' | paste -sd, -)
GOPROXY=${GOPROXY:-off}
export GOPROXY GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-modcacherw -buildvcs=false"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/drb-helm-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
step() { printf '[%s] %s %s\n' "$WHAT" "$(date +%T)" "$*" >&2; }
START=$SECONDS

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
touch "$DIR/.complete"
step "done in $((SECONDS - START))s"
echo "$DIR/$WHAT"
