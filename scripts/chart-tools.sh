#!/usr/bin/env bash
# Installs the chart tooling pinned in versions.env into .tools/bin (idempotent): helm-docs, which generates
# each chart's README values table (tests/charts checks the committed READMEs are up to date).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source versions.env
export GOBIN="$PWD/.tools/bin"
mkdir -p "$GOBIN"

: "${HELM_DOCS_VERSION:?add HELM_DOCS_VERSION to versions.env}"
stamp="$GOBIN/.helm-docs-$HELM_DOCS_VERSION"
if [[ ! -x "$GOBIN/helm-docs" || ! -e "$stamp" ]]; then
  go install "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION"
  rm -f "$GOBIN"/.helm-docs-* && touch "$stamp"
fi
