#!/usr/bin/env bash
# Apache Qpid Broker-J from Maven Central into .tools/qpid/lib: the Java AMQP 0-9-1 broker WSO2 Andes (APIM's event
# hub) descends from, started by the tests (harness/qpid.py). Only the broker core, the AMQP 0-8/0-9/0-9-1 protocol,
# the in-memory store and logback: qpid-broker's own transitive plugins pull the BDB store (com.sleepycat:je),
# which Maven Central does not serve. Idempotent: nothing is fetched when the pinned version is already there.
set -euo pipefail
: "${QPID_BROKER_VERSION:?set in versions.env}"
# shellcheck source=scripts/maven-libs.sh
. "$(dirname "$0")/maven-libs.sh"
maven_libs .tools/qpid "$QPID_BROKER_VERSION" <<DEPS
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.qpid</groupId><artifactId>qpid-broker-parent</artifactId>
        <version>${QPID_BROKER_VERSION}</version><type>pom</type><scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency><groupId>org.apache.qpid</groupId><artifactId>qpid-broker</artifactId>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>org.apache.qpid</groupId><artifactId>qpid-broker-core</artifactId></dependency>
    <dependency><groupId>org.apache.qpid</groupId><artifactId>qpid-broker-plugins-amqp-0-8-protocol</artifactId></dependency>
    <dependency><groupId>org.apache.qpid</groupId><artifactId>qpid-broker-plugins-memory-store</artifactId></dependency>
    <dependency><groupId>org.apache.qpid</groupId><artifactId>qpid-broker-plugins-logging-logback</artifactId></dependency>
    <dependency><groupId>ch.qos.logback</groupId><artifactId>logback-classic</artifactId></dependency>
    <dependency><groupId>commons-cli</groupId><artifactId>commons-cli</artifactId></dependency>
  </dependencies>
DEPS
