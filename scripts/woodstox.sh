#!/usr/bin/env bash
# Woodstox (com.fasterxml.woodstox:woodstox-core and its stax2-api) from Maven Central into .tools/woodstox/lib: the
# StAX parser APIM's XML Validator reads request bodies with (carbon-apimgt's XMLAnalyzer, WstxInputFactory), run by
# the parity test (harness/woodstox.py) to hold adapter/src/apim_adapter/xml_protector.py to it. Its own script, not
# a line in qpid-broker.sh's pom: a Woodstox version change then fetches only Woodstox, and the broker's jars stay a
# broker's. Idempotent: nothing is fetched when the pinned version is already there.
set -euo pipefail
: "${WOODSTOX_VERSION:?set in versions.env}"
# shellcheck source=scripts/maven-libs.sh
. "$(dirname "$0")/maven-libs.sh"
maven_libs .tools/woodstox "$WOODSTOX_VERSION" <<DEPS
  <dependencies>
    <dependency><groupId>com.fasterxml.woodstox</groupId><artifactId>woodstox-core</artifactId>
      <version>${WOODSTOX_VERSION}</version></dependency>
  </dependencies>
DEPS
