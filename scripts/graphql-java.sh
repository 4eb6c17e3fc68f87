#!/usr/bin/env bash
# graphql-java (com.graphql-java:graphql-java and what it needs) from Maven Central into .tools/graphql-java/lib: the
# GraphQL parser, validator and query traversal APIM's gateway reads GraphQL calls with (carbon-apimgt's
# GraphQLAPIHandler, QueryValidator, QueryAnalyzer), run by the parity test (harness/graphql_java.py) to hold
# adapter/src/apim_adapter/graphql_api.py to it. Idempotent: nothing is fetched when the pinned version is there.
set -euo pipefail
: "${GRAPHQL_JAVA_VERSION:?set in versions.env}"
# shellcheck source=scripts/maven-libs.sh
. "$(dirname "$0")/maven-libs.sh"
maven_libs .tools/graphql-java "$GRAPHQL_JAVA_VERSION" <<DEPS
  <dependencies>
    <dependency><groupId>com.graphql-java</groupId><artifactId>graphql-java</artifactId>
      <version>${GRAPHQL_JAVA_VERSION}</version></dependency>
  </dependencies>
DEPS
