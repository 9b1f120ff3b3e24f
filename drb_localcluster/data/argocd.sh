#!/usr/bin/env bash
# Build Argo CD's controllers of ONE release (ARGOCD_VERSION in versions.env) from Go modules only, into a
# versioned cache dir (DIR/.complete once done). Last line of output: the bin dir. See docs/local-cluster.md.
#
#   argocd.sh                  build (or reuse) and print the bin dir
#   argocd.sh --print-bin-dir  print the bin dir without building
#
# The bin dir holds `argocd` (one binary that picks its component from argv[0] or $ARGOCD_BINARY_NAME, as
# upstream's does), symlinks argocd-application-controller, argocd-repo-server,
# argocd-applicationset-controller and argocd-git-ask-pass to it, and crds/ (the release's manifests/crds).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=build-common.sh
. "$HERE/build-common.sh"
# shellcheck source=versions.env
. "$HERE/versions.env"
V=${ARGOCD_VERSION:?}
BIN=${DRB_ARGOCD_BIN:-$DRB_CACHE/argocd-${V}}
COMPONENTS=(argocd-application-controller argocd-repo-server argocd-applicationset-controller argocd-git-ask-pass)

case "${1:-}" in
  --print-bin-dir) echo "$BIN"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-bin-dir]" >&2; exit 2 ;;
esac
drb_reuse "$BIN" "$BIN" "argocd ${V}"
drb_lock "$BIN"
drb_reuse "$BIN" "$BIN" "argocd ${V}"
drb_go_env
drb_work argocd

step "argo-cd ${V}: downloading the module"
SRC=$(drb_module_dir "github.com/argoproj/argo-cd/v3@${V}")
[[ -d "$SRC" ]] || { echo "argocd.sh: cannot download github.com/argoproj/argo-cd/v3@${V}" >&2; exit 3; }
# Build inside a writable copy, so the module's own go.mod (its replace directives, go.sum) applies.
cp -r "$SRC" "$WORK/argo-cd" && chmod -R u+w "$WORK/argo-cd"

# A main package of our own beside upstream's cmd/main.go: the same argv[0] dispatch, limited to the
# components the local cluster runs (upstream's also links the API server, the UI and the CLI, which we
# do not run), so the build compiles about half as much.
mkdir -p "$WORK/argo-cd/cmd/drb-argocd"
cat >"$WORK/argo-cd/cmd/drb-argocd/main.go" <<'GO'
// Command drb-argocd runs one Argo CD component, chosen by $ARGOCD_BINARY_NAME or the program's name.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	controller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	appset "github.com/argoproj/argo-cd/v3/cmd/argocd-applicationset-controller/commands"
	askpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func main() {
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
	name := os.Getenv("ARGOCD_BINARY_NAME")
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	var cmd *cobra.Command
	switch name {
	case "argocd-application-controller":
		cmd = controller.NewCommand()
	case "argocd-repo-server":
		cmd = reposerver.NewCommand()
	case "argocd-applicationset-controller":
		cmd = appset.NewCommand()
	case "argocd-git-ask-pass":
		cmd = askpass.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "argocd %s: unknown component %q (set ARGOCD_BINARY_NAME)\n", common.GetVersion().Version, name)
		os.Exit(2)
	}
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
GO

step "argo-cd ${V}: building (application-controller, repo-server, applicationset-controller)"
PKG=github.com/argoproj/argo-cd/v3/common
(cd "$WORK/argo-cd" && go build -trimpath -o "$WORK/argocd" \
  -ldflags="-s -w -X ${PKG}.version=${V#v} -X ${PKG}.gitTag=${V} -X ${PKG}.gitTreeState=clean" ./cmd/drb-argocd)
mv -f "$WORK/argocd" "$BIN/argocd"
for c in "${COMPONENTS[@]}"; do ln -sfn argocd "$BIN/$c"; done
rm -rf "$BIN/crds" && mkdir "$BIN/crds"
cp "$SRC"/manifests/crds/*-crd.yaml "$BIN/crds/" && chmod u+w "$BIN"/crds/*
"$BIN/argocd-repo-server" --help >/dev/null  # the binary runs
drb_done "$BIN"
