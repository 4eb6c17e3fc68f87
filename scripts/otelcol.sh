#!/usr/bin/env bash
# Builds the trace backend of the tracing tests into .tools/bin/otelcol-apim (idempotent): an OpenTelemetry
# Collector with only the OTLP receiver and the file exporter, made by the collector's own builder (ocb) from
# the Go module proxy at OTELCOL_VERSION (versions.env).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source versions.env
: "${OTELCOL_VERSION:?add OTELCOL_VERSION to versions.env}"
: "${OTELCOL_STABLE_VERSION:?add OTELCOL_STABLE_VERSION to versions.env}"
tools="$PWD/.tools"
export GOBIN="$tools/bin"
stamp="$GOBIN/.otelcol-apim-$OTELCOL_VERSION"
[[ -x "$GOBIN/otelcol-apim" && -e "$stamp" ]] && exit 0

mkdir -p "$GOBIN" "$tools/otelcol"
go install "go.opentelemetry.io/collector/cmd/builder@$OTELCOL_VERSION"
cat > "$tools/otelcol/builder.yaml" <<YAML
dist:
  name: otelcol-apim
  description: OTLP in, OTLP/JSON lines in a file out (istio-apim tracing tests)
  output_path: $tools/otelcol/build
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OTELCOL_VERSION
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $OTELCOL_VERSION
YAML
# The builder's own `go mod tidy` also resolves the components' test-only modules, some of which the module
# proxy does not serve: the builder only generates the sources, the go.mod below names what it would require,
# and `go build -mod=mod` resolves just what the binary imports (minimal version selection: pinned).
"$GOBIN/builder" --config="$tools/otelcol/builder.yaml" --skip-get-modules --skip-compilation
cd "$tools/otelcol/build"
cat > go.mod <<MOD
module otelcol-apim

go 1.25

require (
	github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $OTELCOL_VERSION
	go.opentelemetry.io/collector/confmap/provider/envprovider $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/confmap/provider/fileprovider $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/confmap/provider/httpprovider $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/confmap/provider/httpsprovider $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/confmap/provider/yamlprovider $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/otelcol $OTELCOL_VERSION
	go.opentelemetry.io/collector/receiver/otlpreceiver $OTELCOL_VERSION
	go.opentelemetry.io/collector/service $OTELCOL_VERSION
)
MOD
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$GOBIN/otelcol-apim" .
rm -f "$GOBIN"/.otelcol-apim-* && touch "$stamp"
