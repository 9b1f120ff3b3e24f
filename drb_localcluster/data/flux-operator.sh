#!/usr/bin/env bash
# Build flux-operator from its Go module only, into a versioned cache dir (DIR/.complete once done):
#   DIR/flux-operator   the operator (main package cmd/operator)
#   DIR/data/           what the operator image serves from /data: the Flux distribution manifests
#                       (data/flux/<version>/) and image lists (data/flux-images/), from the module's config/data;
#                       run the operator with --storage-path DIR/data
#   DIR/crd/            its CRDs (FluxInstance, FluxReport, ResourceSet, ResourceSetInputProvider), config/crd/bases
# Last line of output: DIR. `--print-bin-dir` prints DIR without building. See docs/local-cluster.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$HERE/versions.env"
V=${FLUX_OPERATOR_VERSION:?} TOOLCHAIN=${FLUX_OPERATOR_GOTOOLCHAIN:?}
BIN=${DRB_FLUX_OPERATOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dr-bootstrap/flux-operator-${V}}

[[ $# -le 1 ]] || { echo "usage: $0 [--print-bin-dir]" >&2; exit 2; }
if [[ "${1:-}" == --print-bin-dir ]]; then echo "$BIN"; exit 0; fi
if [[ -f "$BIN/.complete" ]]; then echo "cached: flux-operator present" >&2; echo "$BIN"; exit 0; fi

mkdir -p "$BIN"
exec 9>"$BIN/.lock"
flock 9
if [[ -f "$BIN/.complete" ]]; then echo "$BIN"; exit 0; fi

# Only the module proxy (no 'direct'); the toolchain the module asks for comes from the proxy too
# (golang.org/toolchain@v0.0.1-<go version>.<os>-<arch>).
GOPROXY=$(go env GOPROXY | tr ',|' '\n\n' | grep -vx 'direct' | paste -sd, -)
GOPROXY=${GOPROXY:-off}
export GOPROXY GOTOOLCHAIN=$TOOLCHAIN CGO_ENABLED=0 GOFLAGS="-modcacherw -buildvcs=false"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/drb-flux-operator.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
step() { printf '[flux-operator] %s %s\n' "$(date +%T)" "$*" >&2; }
START=$SECONDS

step "$V: downloading the module (toolchain $TOOLCHAIN)"
SRC=$(cd "$WORK" && go mod download -json "github.com/controlplaneio-fluxcd/flux-operator@$V" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
[[ -d "$SRC" ]] || { echo "flux-operator.sh: cannot download github.com/controlplaneio-fluxcd/flux-operator@$V" >&2; exit 3; }
cp -r "$SRC" "$WORK/src" && chmod -R u+w "$WORK/src"
# The web UI's bundle (web/dist, embedded by web/embed.go) is built by npm and not in the module zip: an empty
# page stands in (the UI is not used here). Replacements from versions.env: modules the proxy does not serve.
mkdir -p "$WORK/src/web/dist" && echo '<!doctype html><title>flux-operator</title>' >"$WORK/src/web/dist/index.html"
step "$V: building cmd/operator${FLUX_OPERATOR_REPLACE:+ (replacing ${FLUX_OPERATOR_REPLACE})}"
(cd "$WORK/src" && for r in ${FLUX_OPERATOR_REPLACE:-}; do go mod edit -replace="$r"; done &&
  go build -mod=mod -trimpath -ldflags="-s -w -X main.VERSION=${V#v}" -o "$WORK/flux-operator" ./cmd/operator)
rm -rf "$BIN/data" "$BIN/crd"
cp -r "$WORK/src/config/data" "$BIN/data"
mkdir -p "$BIN/crd" && cp "$WORK/src/config/crd/bases/"*.yaml "$BIN/crd/"
mv -f "$WORK/flux-operator" "$BIN/flux-operator"
touch "$BIN/.complete"
step "done in $((SECONDS - START))s"
echo "$BIN"
