#!/usr/bin/env bash
# Build the flux CLI, kustomize and the Flux controllers (source-controller, kustomize-controller,
# helm-controller) of ONE Flux release from Go modules only, into a versioned cache dir
# (DIR/.complete once everything is there). Last line of output: the bin dir. See docs/local-cluster.md.
#
#   flux.sh                  build (or reuse) everything and print the bin dir
#   flux.sh cli              build (or reuse) only flux and kustomize (the test oracle) and print the bin dir
#   flux.sh --print-bin-dir  print the bin dir without building
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=build-common.sh
. "$HERE/build-common.sh"
# shellcheck source=versions.env
. "$HERE/versions.env"
FLUX_VERSION=${FLUX_VERSION:?} KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:?}
SC=${FLUX_SOURCE_CONTROLLER_VERSION:?} KC=${FLUX_KUSTOMIZE_CONTROLLER_VERSION:?} HC=${FLUX_HELM_CONTROLLER_VERSION:?}

BIN=${DRB_FLUX_BIN:-$DRB_CACHE/flux/flux-${FLUX_VERSION}_sc-${SC}_kc-${KC}_hc-${HC}_kustomize-${KUSTOMIZE_VERSION}}
CLI_BINS=(flux kustomize)
CONTROLLER_BINS=(source-controller kustomize-controller helm-controller)

usage() { echo "usage: $0 [cli|--print-bin-dir]" >&2; exit 2; }
[[ $# -le 1 ]] || usage
case "${1:-all}" in
  --print-bin-dir) echo "$BIN"; exit 0 ;;
  cli) WANT=("${CLI_BINS[@]}") ;;
  all) WANT=("${CLI_BINS[@]}" "${CONTROLLER_BINS[@]}") ;;
  *) usage ;;
esac

have_all() { for b in "$@"; do [[ -x "$BIN/$b" ]] || return 1; done; }
if [[ -f "$BIN/.complete" ]] || { [[ "${1:-}" == cli ]] && have_all "${WANT[@]}"; }; then
  echo "cached: flux binaries present" >&2; echo "$BIN"; exit 0
fi

drb_lock "$BIN"
drb_go_env
drb_work flux
mkdir "$WORK/out"

# A writable copy of module $1 in $WORK/$2, to build in: the module's own go.mod (replace directives,
# go.sum) then applies, which `go install mod@version` refuses.
module_copy() {
  local src; src=$(drb_module_dir "$1")
  [[ -d "$src" ]] || { echo "flux.sh: cannot download module $1" >&2; exit 3; }
  cp -r "$src" "$WORK/$2" && chmod -R u+w "$WORK/$2"
}
# Move a finished binary into place (atomic: a binary in BIN is always complete).
install_bin() { mv -f "$1" "$BIN/$(basename "$1")"; }

# kustomize: the release whose api/kyaml modules flux2 links, so the bundled manifests are built as Flux builds.
if [[ ! -x "$BIN/kustomize" ]]; then
  step "kustomize ${KUSTOMIZE_VERSION}: building"
  GOBIN="$WORK/out" go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
  install_bin "$WORK/out/kustomize"
fi
KUSTOMIZE="$BIN/kustomize"

SC_SRC=$(drb_module_dir "github.com/fluxcd/source-controller@${SC}")
KC_SRC=$(drb_module_dir "github.com/fluxcd/kustomize-controller@${KC}")
HC_SRC=$(drb_module_dir "github.com/fluxcd/helm-controller@${HC}")
declare -A CONTROLLER_SRC=([source-controller]="$SC_SRC" [kustomize-controller]="$KC_SRC" [helm-controller]="$HC_SRC")
declare -A CONTROLLER_VERSION=([source-controller]="$SC" [kustomize-controller]="$KC" [helm-controller]="$HC")
declare -A CONTROLLER_REPLACE=([source-controller]="${FLUX_SOURCE_CONTROLLER_REPLACE:-}"
  [kustomize-controller]="${FLUX_KUSTOMIZE_CONTROLLER_REPLACE:-}" [helm-controller]="${FLUX_HELM_CONTROLLER_REPLACE:-}")

# flux CLI: cmd/flux embeds manifests/*.yaml, which upstream's manifests/scripts/bundle.sh makes from the
# controllers' GitHub release assets <controller>.crds.yaml and <controller>.deployment.yaml. Those assets are
# `kustomize build config/crd` and `kustomize build config/manager` of the controller's source, which its
# module zip carries: make them here, then bundle the bases of the three controllers we build, plus rbac and
# policies, the way bundle.sh does.
if [[ ! -x "$BIN/flux" ]]; then
  step "flux ${FLUX_VERSION}: bundling manifests of ${!CONTROLLER_SRC[*]}"
  module_copy "github.com/fluxcd/flux2/v2@${FLUX_VERSION}" flux2
  M="$WORK/flux2/manifests" OUT="$WORK/flux2/cmd/flux/manifests"
  mkdir -p "$OUT"
  for c in "${!CONTROLLER_SRC[@]}"; do
    base="$M/bases/$c" v=${CONTROLLER_VERSION[$c]}
    for asset in crds deployment; do
      url="https://github.com/fluxcd/$c/releases/download/$v/$c.$asset.yaml"
      # versions.env must name the controller versions of this Flux release
      grep -qxF -- "- $url" "$base/kustomization.yaml" ||
        { echo "flux.sh: flux2 ${FLUX_VERSION} does not bundle $c $v (check versions.env beside flux.sh)" >&2; exit 3; }
      dir=crd; [[ $asset == deployment ]] && dir=manager
      "$KUSTOMIZE" build "${CONTROLLER_SRC[$c]}/config/$dir" >"$base/$c.$asset.yaml"
      sed -i "s#^- ${url}\$#- $c.$asset.yaml#" "$base/kustomization.yaml"
    done
    "$KUSTOMIZE" build "$base" >"$OUT/$c.yaml"
  done
  "$KUSTOMIZE" build "$M/rbac" >"$OUT/rbac.yaml"
  "$KUSTOMIZE" build "$M/policies" >"$OUT/policies.yaml"
  step "flux ${FLUX_VERSION}: building the CLI"
  (cd "$WORK/flux2" && go build -trimpath -ldflags="-s -w -X main.VERSION=${FLUX_VERSION#v}" -o "$WORK/out/flux" ./cmd/flux)
  install_bin "$WORK/out/flux"
fi

# controllers: each module replaces its own ./api (a nested module, not in the zip) with a local path; drop
# that replace so the published api module of the same version is used, keep every other replace directive,
# and add the replacements versions.env names (modules the proxy does not serve).
for c in "${WANT[@]}"; do
  [[ " ${CONTROLLER_BINS[*]} " == *" $c "* && ! -x "$BIN/$c" ]] || continue
  v=${CONTROLLER_VERSION[$c]}
  step "$c $v: building${CONTROLLER_REPLACE[$c]:+ (replacing ${CONTROLLER_REPLACE[$c]})}"
  module_copy "github.com/fluxcd/$c@$v" "$c"
  (cd "$WORK/$c" && go mod edit -dropreplace="github.com/fluxcd/$c/api" &&
    for r in ${CONTROLLER_REPLACE[$c]}; do go mod edit -replace="$r"; done &&
    go build -mod=mod -trimpath -ldflags="-s -w" -o "$WORK/out/$c" .)
  install_bin "$WORK/out/$c"
done

"$BIN/flux" version --client >&2
"$BIN/kustomize" version >&2
if have_all "${CLI_BINS[@]}" "${CONTROLLER_BINS[@]}"; then touch "$BIN/.complete"; fi
step "done in $((SECONDS - START))s"
echo "$BIN"
