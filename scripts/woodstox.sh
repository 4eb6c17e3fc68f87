#!/usr/bin/env bash
# Woodstox (com.fasterxml.woodstox:woodstox-core and its stax2-api) from Maven Central into .tools/woodstox/lib: the
# StAX parser APIM's XML Validator reads request bodies with (carbon-apimgt's XMLAnalyzer, WstxInputFactory), run by
# the parity test (harness/woodstox.py) to hold adapter/src/apim_adapter/xml_protector.py to it. Its own script, not
# a line in qpid-broker.sh's pom: a Woodstox version change then fetches only Woodstox, and the broker's jars stay a
# broker's. Idempotent: nothing is fetched when the pinned version is already there.
set -euo pipefail
: "${WOODSTOX_VERSION:?set in versions.env}"
dest=.tools/woodstox
stamp="$dest/lib/.version"
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$WOODSTOX_VERSION" ] && exit 0
rm -rf "${dest:?}/lib" && mkdir -p "$dest"
cat > "$dest/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>istio-apim.tools</groupId>
  <artifactId>woodstox-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>com.fasterxml.woodstox</groupId><artifactId>woodstox-core</artifactId>
      <version>${WOODSTOX_VERSION}</version></dependency>
  </dependencies>
</project>
POM
mvn -B -q -f "$dest/pom.xml" dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime
echo "$WOODSTOX_VERSION" > "$stamp"
