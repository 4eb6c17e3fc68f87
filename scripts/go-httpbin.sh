#!/usr/bin/env bash
# Builds the local stack's and the tests' httpbin into .tools/bin/go-httpbin (idempotent): go-httpbin at the version
# the httpbin chart deploys (GO_HTTPBIN_VERSION, versions.env; the chart's image tag says the same), from the Go
# module proxy, served as the image serves it (harness/go-httpbin/main.go says how, and its one difference).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source versions.env
: "${GO_HTTPBIN_VERSION:?add GO_HTTPBIN_VERSION to versions.env}"
module=github.com/mccutchen/go-httpbin/v2
required=$(cd harness/go-httpbin && go list -m -f '{{.Version}}' "$module")
if [[ "$required" != "$GO_HTTPBIN_VERSION" ]]; then
  echo "harness/go-httpbin/go.mod requires $module $required, versions.env pins $GO_HTTPBIN_VERSION:" \
    "run (cd harness/go-httpbin && go get $module@$GO_HTTPBIN_VERSION && go mod tidy)" >&2
  exit 1
fi
# Go's build cache makes a build with nothing changed take about a second; make runs this when an input moved.
mkdir -p .tools/bin
(cd harness/go-httpbin && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o ../../.tools/bin/go-httpbin .)
