#!/usr/bin/env bash
# Build the sops versions in SOPS_VERSIONS (hack/versions.env) from Go modules only, one binary per
# version (sops-v3.X.Y) in a versioned cache dir. Skips work when DIR/.complete exists.
# Last line of output: the bin dir.
#
#   hack/sops-versions.sh                 build (or reuse) and print the bin dir
#   hack/sops-versions.sh --print-bin-dir print the bin dir without building
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../drb_localcluster/data/build-common.sh
. "$HERE/../drb_localcluster/data/build-common.sh"
# shellcheck source=versions.env
. "$HERE/versions.env"
SOPS_VERSIONS=${SOPS_VERSIONS:?}

BIN=${DRB_SOPS_BIN:-$DRB_CACHE/sops/$(echo "$SOPS_VERSIONS" | tr ' ' '_')}

if [[ "${1:-}" == "--print-bin-dir" ]]; then echo "$BIN"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "usage: $0 [--print-bin-dir]" >&2; exit 2; fi
drb_reuse "$BIN" "$BIN" "sops ${SOPS_VERSIONS}"
drb_go_env
mkdir -p "$BIN"
drb_work sops-versions

# sops' go.mod has no replace directives, so `go install module@version` builds each one as released.
for v in $SOPS_VERSIONS; do
  step "sops ${v}: building"
  GOBIN="$WORK/$v" go install -trimpath -ldflags="-s -w" "github.com/getsops/sops/v3/cmd/sops@${v}"
  mv "$WORK/$v/sops" "$BIN/sops-${v}"
  "$BIN/sops-${v}" --version --disable-version-check 2>/dev/null | sed -n 1p >&2 || "$BIN/sops-${v}" --version | sed -n 1p >&2
done

drb_done "$BIN"
