#!/usr/bin/env bash
# Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok from Go modules only
# into a versioned cache dir. Skips work when DIR/.complete exists. Last line of output: the bin dir.
# Ships in the wheel (drb_localcluster/data/); needs Go 1.26 or newer and a Go module proxy, nothing else.
#
#   control-plane.sh                 build (or reuse) and print the bin dir
#   control-plane.sh --print-bin-dir print the bin dir without building
# (make control-plane and `python -m drb_localcluster build` run it.)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=build-common.sh
. "$HERE/build-common.sh"
# shellcheck source=versions.env
. "$HERE/versions.env"
KUBE_VERSION=${KUBE_VERSION:?} ETCD_VERSION=${ETCD_VERSION:?} KWOK_VERSION=${KWOK_VERSION:?}

BIN=${DRB_CONTROL_PLANE_BIN:-$DRB_CACHE/control-plane/kube-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}}

if [[ "${1:-}" == "--print-bin-dir" ]]; then echo "$BIN"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "usage: $0 [--print-bin-dir]" >&2; exit 2; fi
drb_reuse "$BIN" "$BIN" "control plane binaries"
drb_need_go "building the local control plane"
drb_go_env
mkdir -p "$BIN"
drb_work control-plane

# kube-*: k8s.io/kubernetes cannot be `go install`ed (replace directives), so build it as a dependency
# of a throwaway module that maps every ./staging module to its published v0.Y.Z.
step "kubernetes ${KUBE_VERSION}: resolving modules"
mkdir "$WORK/k8s" && cd "$WORK/k8s"
go mod init example.local/k8s-bins >/dev/null 2>&1
STAGING="v0.${KUBE_VERSION#v1.}"
UPSTREAM_MOD=$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[[ -f "$UPSTREAM_MOD" ]] || { echo "control-plane.sh: no go.mod for k8s.io/kubernetes@${KUBE_VERSION}" >&2; exit 3; }
go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}"
sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\1#p' "$UPSTREAM_MOD" |
  while read -r m; do go mod edit -replace="${m}=${m}@${STAGING}"; done
GODEBUG_LINE=$(sed -n 's/^godebug[[:space:]]\{1,\}\([a-z0-9]*=[^[:space:]]*\)[[:space:]]*$/\1/p' "$UPSTREAM_MOD" | sed -n 1p)
[[ -n "$GODEBUG_LINE" ]] && go mod edit -godebug="$GODEBUG_LINE"
MINOR=${KUBE_VERSION#v1.}; MINOR=${MINOR%%.*}
LDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF+=" -X $p.gitVersion=${KUBE_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${MINOR} -X $p.gitTreeState=clean"
  LDF+=" -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=1970-01-01T00:00:00Z"
done
step "kubernetes ${KUBE_VERSION}: building kube-apiserver kube-controller-manager kube-scheduler"
go build -mod=mod -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$LDF" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler

# etcd: its server module also has replace directives; build it as a dependency in its own module.
step "etcd ${ETCD_VERSION}: building"
mkdir "$WORK/etcd" && cd "$WORK/etcd"
go mod init example.local/etcd-bin >/dev/null 2>&1
go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
go build -mod=mod -trimpath -ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" \
  -o "$BIN/etcd" go.etcd.io/etcd/server/v3

# kwok: no replace directives upstream, plain go install works.
step "kwok ${KWOK_VERSION}: building"
GOBIN="$BIN" go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"

"$BIN/kube-apiserver" --version >&2
"$BIN/etcd" --version | sed -n 1p >&2  # sed reads it all: head would leave etcd a SIGPIPE (exit 141 under pipefail)
"$BIN/kwok" --version >&2 || true
drb_done "$BIN"
