#!/usr/bin/env bash
# Builds the policy engine of the "Validate Request with OPA" operation policy tests and of the local stack
# (roles/local_opa) into .tools/bin/opa (idempotent): the real Open Policy Agent server, from the Go module proxy at
# OPA_VERSION (versions.env), as no download site is reachable here. Static (no cgo) and without the wasm build
# tag: both only run `opa run --server`, `opa parse` and `opa eval`, whose Rego evaluator is pure Go.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source versions.env
: "${OPA_VERSION:?add OPA_VERSION to versions.env}"
export GOBIN="$PWD/.tools/bin"
stamp="$GOBIN/.opa-$OPA_VERSION"
[[ -x "$GOBIN/opa" && -e "$stamp" ]] && exit 0

mkdir -p "$GOBIN"
CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" "github.com/open-policy-agent/opa@$OPA_VERSION"
rm -f "$GOBIN"/.opa-* && touch "$stamp"
