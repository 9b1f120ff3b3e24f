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
# shellcheck source=build-common.sh
. "$HERE/build-common.sh"
# shellcheck source=versions.env
. "$HERE/versions.env"
V=${FLUX_OPERATOR_VERSION:?} TOOLCHAIN=${FLUX_OPERATOR_GOTOOLCHAIN:?}
BIN=${DRB_FLUX_OPERATOR_DIR:-$DRB_CACHE/flux-operator-${V}}

[[ $# -le 1 ]] || { echo "usage: $0 [--print-bin-dir]" >&2; exit 2; }
if [[ "${1:-}" == --print-bin-dir ]]; then echo "$BIN"; exit 0; fi
drb_reuse "$BIN" "$BIN" flux-operator
drb_lock "$BIN"
drb_reuse "$BIN" "$BIN" flux-operator

# The toolchain the module asks for comes from the proxy too (golang.org/toolchain@v0.0.1-<go version>.<os>-<arch>).
drb_go_env "$TOOLCHAIN"
drb_work flux-operator

step "$V: downloading the module (toolchain $TOOLCHAIN)"
SRC=$(cd "$WORK" && drb_module_dir "github.com/controlplaneio-fluxcd/flux-operator@$V")
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
drb_done "$BIN"
