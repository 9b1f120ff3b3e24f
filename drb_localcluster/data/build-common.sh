# shellcheck shell=bash
# What every Go build script beside it (control-plane.sh, flux.sh, helm.sh, flux-operator.sh, argocd.sh) and
# hack/'s share; sourced, never run. Each script builds into a versioned cache dir under $DRB_CACHE and stamps
# DIR/.complete once everything is there; its last line of output is the path a caller reads.

DRB_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/dr-bootstrap

# drb_reuse DIR PRINT LABEL [BIN...]: when DIR is complete (DIR/.complete, and each BIN executable in it), say so
# on stderr, print PRINT and exit 0; otherwise return.
drb_reuse() {
  local dir=$1 print=$2 label=$3 b
  shift 3
  [[ -f "$dir/.complete" ]] || return 0
  for b in "$@"; do [[ -x "$dir/$b" ]] || return 0; done
  echo "cached: $label present" >&2
  echo "$print"
  exit 0
}

# drb_need_go WHAT: exit 3, naming WHAT, when there is no go on PATH.
drb_need_go() {
  command -v go >/dev/null 2>&1 && return 0
  echo "$(basename "$0"): $1 needs Go 1.26 or newer on PATH (https://go.dev/dl/)" >&2
  exit 3
}

# drb_lock DIR: one build at a time per dir (make and a test may ask together); a second caller waits here,
# then finds the first one's build (call drb_reuse again).
drb_lock() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  flock 9
}

# drb_go_env [TOOLCHAIN]: only Go modules, only through the module proxy: 'direct' (VCS fetches) is dropped
# from GOPROXY (off when nothing is left: a warm module cache proves the build needs nothing else); the Go on
# PATH unless the module names a TOOLCHAIN (golang.org/toolchain, from the proxy too); no cgo.
drb_go_env() {
  GOPROXY=$(go env GOPROXY | tr ',|' '\n\n' | grep -vx 'direct' | paste -sd, -)
  GOPROXY=${GOPROXY:-off}
  export GOPROXY GOTOOLCHAIN=${1:-local} CGO_ENABLED=0 GOFLAGS="-modcacherw -buildvcs=false"
}

# drb_work LABEL: a scratch dir $WORK, removed on exit; `step` lines on stderr tagged [LABEL]; $START for the
# total `drb_done` reports.
drb_work() {
  DRB_LABEL=$1
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/drb-$1-build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  START=$SECONDS
}
step() { printf '[%s] %s %s\n' "$DRB_LABEL" "$(date +%T)" "$*" >&2; }

# drb_module_dir MODULE@VERSION: the extracted source of a module (read-only, in the module cache).
drb_module_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'; }

# drb_done DIR [PRINT]: stamp DIR complete, say how long the build took, print PRINT (default DIR) last.
drb_done() {
  touch "$1/.complete"
  step "done in $((SECONDS - START))s"
  echo "${2:-$1}"
}
