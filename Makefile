# dr-bootstrap — two commands do everything on a fresh machine:
#   make drill   the main job end to end on a throwaway local cluster with a demo repo and key
#                (ENGINE=argocd: a secret-zero Argo CD repo, synced by the real Argo CD on the local cluster)
#   make drill-template   the same for a cluster-template-shaped repo (--helm releases, flux-operator)
#   make test    unit + integration tests against a real local control plane
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
# The suite mostly waits on local clusters: test files run on PYTEST_WORKERS processes (pytest-xdist), each
# with its own session clusters; PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 3
PYTEST_ARGS    ?= $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
CLUSTER_DIR ?= .cluster
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv test test-unit control-plane oracles sops-versions flux helm registry argocd redis sshd debs cluster-up cluster-down drill drill-template bench fuzz clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.stamp: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,bench]'
	@touch $@

venv: $(VENV)/.stamp ## create/update the virtualenv with the project and its test extras

control-plane: ## build (or reuse) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
	bash drb_localcluster/data/control-plane.sh

oracles: ## build (or reuse) the Go programs the tests compare our re-implementations with
	bash hack/oracles/build.sh all

sops-versions: ## build (or reuse) the extra sops versions the SOPS tests compare against (hack/versions.env)
	bash hack/sops-versions.sh

flux: ## build (or reuse) the flux CLI, kustomize, source-, kustomize- and helm-controller (docs/local-cluster.md)
	bash drb_localcluster/data/flux.sh

helm: ## build (or reuse) the helm v4 CLI from Go modules (restore --helm installs with it; docs/local-cluster.md)
	bash drb_localcluster/data/helm.sh helm

registry: ## build (or reuse) the CNCF Distribution OCI registry the Helm tests push charts to
	bash drb_localcluster/data/helm.sh registry

.PHONY: flux-operator
flux-operator: ## build (or reuse) flux-operator, its Flux distribution manifests and CRDs (docs/local-cluster.md)
	nice -n 10 bash drb_localcluster/data/flux-operator.sh

argocd: ## build (or reuse) Argo CD's application-, applicationset-controller and repo-server (docs/local-cluster.md)
	bash drb_localcluster/data/argocd.sh

# Debian packages the local clusters run, installed by one apt-get call (so `make -j` never runs two at once).
DEBS_NEEDED = $(if $(wildcard /usr/bin/redis-server),,redis-server) $(if $(wildcard /usr/sbin/sshd),,openssh-server)
debs: ## install redis-server (Argo CD's cache) and openssh-server (the SSH clone tests' sshd) when missing
	@test -z "$(strip $(DEBS_NEEDED))" || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBS_NEEDED); }

redis sshd: debs

cluster-up: venv control-plane $(if $(FLUX),flux) $(if $(ARGOCD),argocd debs) ## start a local cluster in $(CLUSTER_DIR) (FLUX=1 / ARGOCD=1: with the Flux / Argo CD controllers)
	$(PY) -m drb_localcluster up --dir $(CLUSTER_DIR) $(if $(FLUX),--flux) $(if $(ARGOCD),--argocd)

cluster-down: venv ## stop the local cluster in $(CLUSTER_DIR) and remove its state
	$(PY) -m drb_localcluster down --dir $(CLUSTER_DIR)

test: venv control-plane oracles sops-versions flux helm registry flux-operator argocd debs ## run every test (unit and real-cluster integration)
	DRB_REQUIRE_SOPS_VERSIONS=1 DRB_REQUIRE_ARGOCD=1 $(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv oracles ## run only the tests that need no cluster
	$(PY) -m pytest -m 'not cluster' $(PYTEST_ARGS)

ENGINE ?= flux
drill: venv control-plane $(if $(filter argocd,$(ENGINE)),argocd debs) ## restore a demo repo onto a throwaway local cluster (or kind) and report the RTO (ENGINE=argocd: a secret-zero Argo CD repo, synced by the real Argo CD)
	ENGINE=$(ENGINE) bash hack/drill-demo.sh

drill-template: venv control-plane flux helm registry flux-operator ## restore a cluster-template-shaped demo repo (Helm releases, flux-operator) onto a local cluster and report the RTO
	$(PY) hack/drill_template.py

bench: venv control-plane ## run benchmarks against sops and kubectl; writes bench/results.json
	$(PY) -m bench

fuzz: venv oracles ## long fuzzing run of the SOPS parser, manifest loader and envsubst vs Go (nightly)
	FUZZ_EXAMPLES=20000 $(PY) -m pytest tests/fuzz tests/unit/render/test_envsubst_oracle.py -q

clean: ## remove the virtualenv and local state (not the build cache)
	rm -rf $(VENV) .cluster* .pytest_cache .hypothesis
