#!/usr/bin/env bash
# The libraries APIM 4.5's gateway builds a multipart/form-data request body with, from Maven Central into
# .tools/axis2-multipart/lib: commons-fileupload (the parser wso2-axis2's MultipartFormDataBuilder hands the body to),
# Axiom's API and its linked-list implementation (the SOAP envelope the builder fills, and the toString() APIM's Regex
# Policy searches), Woodstox 4 (woodstox-core-asl, the StAX writer Axiom serialises with in APIM), javax.activation
# (the DataHandler of a file part; JDK 11+ has none) and the servlet API (named by ServletFileUpload's signatures;
# javac needs it). Run by the parity test (harness/axis2_multipart.py) to hold
# adapter/src/apim_adapter/axis2_multipart.py to it. wso2-axis2 itself is not on Maven Central: the oracle
# (harness/java/MultipartBuilderRendering.java) mirrors its few methods. Idempotent: nothing is fetched when the
# pinned versions are already there.
set -euo pipefail
: "${COMMONS_FILEUPLOAD_VERSION:?set in versions.env}" "${AXIOM_VERSION:?}" "${WOODSTOX_ASL_VERSION:?}"
: "${JAVAX_ACTIVATION_VERSION:?}" "${SERVLET_API_VERSION:?}"
# shellcheck source=scripts/maven-libs.sh
. "$(dirname "$0")/maven-libs.sh"
stamp="fileupload-$COMMONS_FILEUPLOAD_VERSION+axiom-$AXIOM_VERSION+woodstox-asl-$WOODSTOX_ASL_VERSION"
stamp="$stamp+activation-$JAVAX_ACTIVATION_VERSION+servlet-api-$SERVLET_API_VERSION"
# Left out of Axiom's dependencies: its stand-ins for the StAX API and for activation (geronimo specs; the JDK's
# javax.xml.stream and javax.activation 1.1.1 take their place), and Woodstox 3.2.9, which Axiom was built against:
# two Woodstoxes on one classpath would race for the StAX factories' service entries.
axiom_exclusions="
      <exclusions>
        <exclusion><groupId>org.apache.geronimo.specs</groupId><artifactId>geronimo-activation_1.1_spec</artifactId>
        </exclusion>
        <exclusion><groupId>org.apache.geronimo.specs</groupId><artifactId>geronimo-stax-api_1.0_spec</artifactId>
        </exclusion>
        <exclusion><groupId>org.codehaus.woodstox</groupId><artifactId>wstx-asl</artifactId></exclusion>
      </exclusions>"
maven_libs .tools/axis2-multipart "$stamp" <<DEPS
  <dependencies>
    <dependency><groupId>commons-fileupload</groupId><artifactId>commons-fileupload</artifactId>
      <version>${COMMONS_FILEUPLOAD_VERSION}</version></dependency>
    <dependency><groupId>org.apache.ws.commons.axiom</groupId><artifactId>axiom-api</artifactId>
      <version>${AXIOM_VERSION}</version>${axiom_exclusions}</dependency>
    <dependency><groupId>org.apache.ws.commons.axiom</groupId><artifactId>axiom-impl</artifactId>
      <version>${AXIOM_VERSION}</version>${axiom_exclusions}</dependency>
    <dependency><groupId>org.codehaus.woodstox</groupId><artifactId>woodstox-core-asl</artifactId>
      <version>${WOODSTOX_ASL_VERSION}</version>
      <exclusions>
        <exclusion><groupId>javax.xml.stream</groupId><artifactId>stax-api</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency><groupId>javax.activation</groupId><artifactId>activation</artifactId>
      <version>${JAVAX_ACTIVATION_VERSION}</version></dependency>
    <dependency><groupId>javax.servlet</groupId><artifactId>servlet-api</artifactId>
      <version>${SERVLET_API_VERSION}</version></dependency>
  </dependencies>
DEPS
