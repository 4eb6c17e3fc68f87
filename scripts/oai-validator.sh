#!/usr/bin/env bash
# Atlassian's swagger-request-validator (com.atlassian.oai:swagger-request-validator-core, with swagger-parser, fge's
# json-schema-validator and the rest it depends on) from Maven Central into .tools/oai-validator/lib: the validator
# APIM's Schema Validation runs requests through (carbon-apimgt's SchemaValidator, OpenApiInteractionValidator), run
# by the parity tests (harness/oai_validator.py) to hold the adapter's schema validation to it. Its own script, as
# woodstox.sh is: a validator version change then fetches only the validator. Idempotent: nothing is fetched when the
# pinned version is already there.
set -euo pipefail
: "${SWAGGER_REQUEST_VALIDATOR_VERSION:?set in versions.env}" "${OAI_SWAGGER_PARSER_VERSION:?}" "${OAI_SWAGGER_CORE_VERSION:?}"
: "${OAI_JACKSON_VERSION:?}" "${OAI_GUAVA_VERSION:?}"
# shellcheck source=scripts/maven-libs.sh
. "$(dirname "$0")/maven-libs.sh"
stamp="$SWAGGER_REQUEST_VALIDATOR_VERSION+parser-$OAI_SWAGGER_PARSER_VERSION+core-$OAI_SWAGGER_CORE_VERSION"
stamp="$stamp+jackson-$OAI_JACKSON_VERSION+guava-$OAI_GUAVA_VERSION"
maven_libs .tools/oai-validator "$stamp" <<DEPS
  <dependencyManagement>
    <dependencies>
      <dependency><groupId>com.fasterxml.jackson</groupId><artifactId>jackson-bom</artifactId>
        <version>${OAI_JACKSON_VERSION}</version><type>pom</type><scope>import</scope></dependency>
      <dependency><groupId>io.swagger.parser.v3</groupId><artifactId>swagger-parser</artifactId>
        <version>${OAI_SWAGGER_PARSER_VERSION}</version></dependency>
      <dependency><groupId>io.swagger.parser.v3</groupId><artifactId>swagger-parser-v3</artifactId>
        <version>${OAI_SWAGGER_PARSER_VERSION}</version></dependency>
      <dependency><groupId>io.swagger.parser.v3</groupId><artifactId>swagger-parser-core</artifactId>
        <version>${OAI_SWAGGER_PARSER_VERSION}</version></dependency>
      <dependency><groupId>io.swagger.parser.v3</groupId><artifactId>swagger-parser-v2-converter</artifactId>
        <version>${OAI_SWAGGER_PARSER_VERSION}</version></dependency>
      <dependency><groupId>io.swagger.core.v3</groupId><artifactId>swagger-core</artifactId>
        <version>${OAI_SWAGGER_CORE_VERSION}</version></dependency>
      <dependency><groupId>io.swagger.core.v3</groupId><artifactId>swagger-models</artifactId>
        <version>${OAI_SWAGGER_CORE_VERSION}</version></dependency>
      <dependency><groupId>com.google.guava</groupId><artifactId>guava</artifactId>
        <version>${OAI_GUAVA_VERSION}</version></dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency><groupId>com.atlassian.oai</groupId><artifactId>swagger-request-validator-core</artifactId>
      <version>${SWAGGER_REQUEST_VALIDATOR_VERSION}</version></dependency>
  </dependencies>
DEPS
