#!/usr/bin/env bash
# Build the sops versions in SOPS_VERSIONS (hack/versions.env) from Go modules only, one binary per
# version (sops-v3.X.Y) in a versioned cache dir. Skips work when DIR/.complete exists.
# Last line of output: the bin dir.
#
#   hack/sops-versions.sh                 build (or reuse) and print the bin dir
#   hack/sops-versions.sh --print-bin-dir print the bin dir without building
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$HERE/versions.env"
SOPS_VERSIONS=${SOPS_VERSIONS:?}

BIN=${DRB_SOPS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/dr-bootstrap/sops/$(echo "$SOPS_VERSIONS" | tr ' ' '_')}

if [[ "${1:-}" == "--print-bin-dir" ]]; then echo "$BIN"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "usage: $0 [--print-bin-dir]" >&2; exit 2; fi
if [[ -f "$BIN/.complete" ]]; then echo "cached: sops ${SOPS_VERSIONS} present" >&2; echo "$BIN"; exit 0; fi

# Only Go modules, only through the module proxy: drop 'direct' (VCS fetches) from GOPROXY.
GOPROXY=$(go env GOPROXY | tr ',|' '\n\n' | grep -vx 'direct' | paste -sd, -)
GOPROXY=${GOPROXY:-off}
export GOPROXY GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-modcacherw -buildvcs=false"

mkdir -p "$BIN"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/drb-sops-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
step() { printf '[sops-versions] %s %s\n' "$(date +%T)" "$*" >&2; }
START=$SECONDS

# sops' go.mod has no replace directives, so `go install module@version` builds each one as released.
for v in $SOPS_VERSIONS; do
  step "sops ${v}: building"
  GOBIN="$WORK/$v" go install -trimpath -ldflags="-s -w" "github.com/getsops/sops/v3/cmd/sops@${v}"
  mv "$WORK/$v/sops" "$BIN/sops-${v}"
  "$BIN/sops-${v}" --version --disable-version-check 2>/dev/null | sed -n 1p >&2 || "$BIN/sops-${v}" --version | sed -n 1p >&2
done

touch "$BIN/.complete"
step "done in $((SECONDS - START))s"
echo "$BIN"
