#!/usr/bin/env bash
# Jars from Maven Central into <dest>/lib, for tools the tests run (sourced by qpid-broker.sh and woodstox.sh):
# `maven_libs DEST VERSION` with the pom's <dependencyManagement>/<dependencies> on standard input. Idempotent:
# nothing is fetched when DEST/lib holds VERSION already (its `.version` stamp).
maven_libs() {
  local dest=$1 version=$2 stamp="$1/lib/.version"
  local body
  body=$(cat)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && return 0
  rm -rf "${dest:?}/lib" && mkdir -p "$dest"
  cat > "$dest/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>istio-apim.tools</groupId>
  <artifactId>$(basename "$dest")-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
${body}
</project>
POM
  mvn -B -q -f "$dest/pom.xml" dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime
  echo "$version" > "$stamp"
}
