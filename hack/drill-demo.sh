#!/usr/bin/env bash
# `make drill`: the main job end to end. Builds the demo GitOps repo (bootstrap/data/demo) with a
# throwaway age key, then runs `dr-bootstrap drill` on a throwaway cluster — kind when a Docker engine
# answers, else the project's local control plane — with reports, and always tears the cluster down.
# ENGINE=argocd: the secret-zero Argo CD demo (bootstrap/data/demo-argocd), served on a loopback Git server,
# restored with --wait-gitops onto a local cluster running Argo CD's controllers (bootstrap/commands/demo_argocd.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-out/drill}
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

if [ "${ENGINE:-flux}" = argocd ]; then
  echo "make drill ENGINE=argocd: secret-zero demo repo with a throwaway key, cluster: local with Argo CD, evidence in $OUT/"
  code=0
  "$PY" -m bootstrap.commands.demo_argocd "$work" \
    --evidence "$OUT/evidence.json" --junit "$OUT/junit.xml" --history "$OUT/history.json" "$@" || code=$?
  exit "$code"
elif [ "${ENGINE:-flux}" != flux ]; then
  echo "make drill: ENGINE=$ENGINE: expected flux or argocd" >&2
  exit 2
fi
"$PY" -m bootstrap.commands.demo "$work" >/dev/null
cluster=local
if command -v kind >/dev/null 2>&1 && docker info >/dev/null 2>&1; then cluster=kind; fi
echo "make drill: demo repo with a throwaway key, cluster: $cluster, evidence in $OUT/"
"$PY" -m bootstrap drill "$work/repo" --age-key-file "$work/age.agekey" --cluster "$cluster" \
  --evidence "$OUT/evidence.json" --junit "$OUT/junit.xml" --history "$OUT/history.json" "$@"
