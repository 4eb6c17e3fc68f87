#!/usr/bin/env bash
# Builds the trace backend of the tracing tests into .tools/bin/otelcol-apim (idempotent): an OpenTelemetry
# Collector with only the OTLP receiver and the file exporter, made by the collector's own builder (ocb) from
# the Go module proxy at OTELCOL_VERSION (versions.env).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../versions.env
source versions.env
: "${OTELCOL_VERSION:?add OTELCOL_VERSION to versions.env}"
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
# The builder's own `go mod tidy` also resolves the components' test-only modules, which the module proxy may
# not serve; `go build -mod=mod` resolves only what the binary imports (by minimal version selection: pinned).
"$GOBIN/builder" --config="$tools/otelcol/builder.yaml" --skip-get-modules --skip-compilation
(cd "$tools/otelcol/build" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$GOBIN/otelcol-apim" .)
rm -f "$GOBIN"/.otelcol-apim-* && touch "$stamp"
