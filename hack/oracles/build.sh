#!/usr/bin/env bash
# Build the Go oracles (the real upstream code our Python re-implementations are tested against) into a
# versioned cache dir. Skips work when DIR/.complete records the current sources. Last line: the binary.
#
#   hack/oracles/build.sh              build (or reuse) the envsubst oracle and print its path
#   hack/oracles/build.sh kustschema   the same for kustschema (kustomize's Kustomization field tree)
#   hack/oracles/build.sh yamljson     the same for yamljson (YAML read as Flux reads it: sigs.k8s.io/yaml)
#   hack/oracles/build.sh all          all three (prints the kustschema path last)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../drb_localcluster/data/build-common.sh
. "$HERE/../../drb_localcluster/data/build-common.sh"
# shellcheck source=../versions.env
. "$HERE/../versions.env"
ENVSUBST_VERSION=${ENVSUBST_VERSION:?}
KUSTOMIZE_API_VERSION=${KUSTOMIZE_API_VERSION:?}
SIGS_YAML_VERSION=${SIGS_YAML_VERSION:?}
if [[ $# -gt 1 ]]; then echo "usage: $0 [envsubst|kustschema|yamljson|all]" >&2; exit 2; fi
WHAT=${1:-envsubst}

drb_go_env

# build NAME MODULE VERSION: hack/oracles/NAME, whose go.mod must require exactly MODULE VERSION (the pin in
# versions.env), into the cache; prints the binary.
build() {
  local name=$1 module=$2 version=$3
  local src="$HERE/$name" out=$DRB_CACHE/oracles/$name-$version
  local bin="$out/$name-oracle"
  grep -qx "require $module $version" "$src/go.mod" || {
    echo "build.sh: $src/go.mod does not require $module $version (hack/versions.env)" >&2
    exit 3
  }
  local stamp
  stamp=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -d' ' -f1)
  if [[ -x "$bin" && "$(cat "$out/.complete" 2>/dev/null)" == "$stamp" ]]; then echo "$bin"; return; fi
  local start=$SECONDS
  mkdir -p "$out"
  rm -f "$out/.complete"
  (cd "$src" && go build -mod=readonly -trimpath -ldflags="-s -w" -o "$bin.tmp" .)
  mv -f "$bin.tmp" "$bin"
  echo "$stamp" > "$out/.complete"
  echo "[oracles] $name $version built in $((SECONDS - start))s" >&2
  echo "$bin"
}

case "$WHAT" in
  envsubst) build envsubst github.com/fluxcd/pkg/envsubst "$ENVSUBST_VERSION" ;;
  kustschema) build kustschema sigs.k8s.io/kustomize/api "$KUSTOMIZE_API_VERSION" ;;
  yamljson) build yamljson sigs.k8s.io/yaml "$SIGS_YAML_VERSION" ;;
  all) build envsubst github.com/fluxcd/pkg/envsubst "$ENVSUBST_VERSION" >/dev/null
       build yamljson sigs.k8s.io/yaml "$SIGS_YAML_VERSION" >/dev/null
       build kustschema sigs.k8s.io/kustomize/api "$KUSTOMIZE_API_VERSION" ;;
  *) echo "usage: $0 [envsubst|kustschema|yamljson|all]" >&2; exit 2 ;;
esac
