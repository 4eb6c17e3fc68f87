#!/usr/bin/env bash
# Builds a Go program of the harness, harness/NAME, into .tools/bin/NAME (idempotent): `go-harness.sh NAME MODULE
# VERSION_VARIABLE` first checks that harness/NAME/go.mod requires MODULE at the version versions.env pins in
# VERSION_VARIABLE, so that one pin says what the tests run. Modules come from the Go module proxy; nothing else is
# downloaded. Used for go-httpbin (the gateways' backend at the httpbin chart's image version, GO_HTTPBIN_VERSION),
# promql (Prometheus's query engine at PROMETHEUS_VERSION, for the tests of the chart's alerts and dashboard) and
# grafana-schema (Grafana's dashboard schema at GRAFANA_FOUNDATION_SDK_VERSION, for the test of the dashboard).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: go-harness.sh NAME MODULE VERSION_VARIABLE}
module=${2:?usage: go-harness.sh NAME MODULE VERSION_VARIABLE}
variable=${3:?usage: go-harness.sh NAME MODULE VERSION_VARIABLE}
# shellcheck source-path=SCRIPTDIR/..
source versions.env
pinned=${!variable:?add $variable to versions.env}
required=$(cd "harness/$name" && go list -m -f '{{.Version}}' "$module")
if [[ "$required" != "$pinned" ]]; then
  echo "harness/$name/go.mod requires $module $required, versions.env pins $pinned:" \
    "run (cd harness/$name && go get $module@$pinned && go mod tidy)" >&2
  exit 1
fi
# Go's build cache makes a build with nothing changed take about a second; make runs this when an input moved.
mkdir -p .tools/bin
(cd "harness/$name" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "../../.tools/bin/$name" .)
