"""Apache Qpid Broker-J, the Java AMQP broker WSO2 Andes (APIM 4.5's event hub) descends from, as a real broker for
tests: jars from Maven Central under `.tools/qpid/` (`make setup`, scripts/qpid-broker.sh), started on a free
loopback port with an in-memory virtual host and one PLAIN user (reference/wso2-istio-runtime-facts.md, "Apache Qpid
Broker-J as the test broker").

Like Andes, and unlike RabbitMQ, it sends no `capabilities` in `Connection.Start`; unlike Andes it offers more SASL
mechanisms and accepts `Confirm.Select` (harness/andes_double.py reproduces Andes' handshake exactly)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from .apim_double import TestCa
from .processes import ROOT, Process

QPID_LIB = ROOT / ".tools" / "qpid" / "lib"
READY = "BRK-1004"  # "Qpid Broker Ready"
LISTENING = re.compile(r"BRK-1002 : Starting : Listening on TCP port (\d+)")
LISTENING_TLS = re.compile(r"BRK-1002 : Starting : Listening on SSL port (\d+)")
USER, PASSWORD = "apim-hub", "apim-hub-secret"

# Initial configuration (Broker-J's JSON model, `${...}` substituted from -prop): PLAIN over plain TCP needs
# `secureOnlyMechanisms: []` (by default PLAIN is offered only over TLS); the AMQP port binds loopback only;
# the one Memory virtual host is named `carbon` as Andes' is: `nameAlias` opens it as `carbon`, `defaultAlias` as
# `/` or none.
CONFIG = {
    "name": "istio-apim-test",
    "modelVersion": "8.0",
    "authenticationproviders": [
        {"name": "plain", "type": "Plain", "secureOnlyMechanisms": [],
         "users": [{"name": "${qpid.user}", "type": "managed", "password": "${qpid.password}"}]}
    ],
    "brokerloggers": [
        {"name": "console", "type": "Console", "brokerloginclusionrules": [
            {"name": "Root", "type": "NameAndLevel", "level": "WARN", "loggerName": "ROOT"},
            {"name": "Operational", "type": "NameAndLevel", "level": "INFO", "loggerName": "qpid.message.*"}]}
    ],
    "ports": [
        {"name": "AMQP", "port": "${qpid.amqp_port}", "bindingAddress": "127.0.0.1", "authenticationProvider": "plain",
         "protocols": ["AMQP_0_9_1"],
         "virtualhostaliases": [{"name": "nameAlias", "type": "nameAlias"},
                                {"name": "defaultAlias", "type": "defaultAlias"}]}
    ],
    "virtualhostnodes": [
        {"name": "carbon", "type": "Memory", "defaultVirtualHostNode": "true",
         "virtualHostInitialConfiguration": json.dumps({"type": "Memory"})}
    ],
}  # fmt: skip


def _config(tls: TestCa | None) -> dict:
    """CONFIG, plus with `tls` an AMQPS port (the role of Andes' 8672) serving its PEM key and certificate."""
    config = json.loads(json.dumps(CONFIG))
    if tls is not None:
        config["keystores"] = [{"name": "tls", "type": "NonJavaKeyStore", "privateKeyUrl": tls.key.as_uri(),
                                "certificateUrl": tls.cert.as_uri()}]  # fmt: skip
        amqps = {**config["ports"][0], "name": "AMQPS", "port": "${qpid.amqps_port}", "transports": ["SSL"],
                 "keyStore": "tls"}  # fmt: skip
        config["ports"].append(amqps)
    return config


class QpidBroker:
    """One broker process; `start(port)` again after `stop()` restarts it on the same port (a broker restart).
    With `tls` (an RSA server key: `make_test_ca(..., rsa_key=True)`) it also listens for AMQPS on `tls_port`."""

    def __init__(self, workdir: Path, name: str = "qpid", tls: TestCa | None = None):
        self.workdir, self.name, self.tls = workdir, name, tls
        self.port = self.tls_port = 0
        self.process: Process | None = None
        self.started_in = 0.0
        self._starts = 0

    @property
    def url(self) -> str:
        return f"amqp://{USER}:{PASSWORD}@127.0.0.1:{self.port}/"

    def start(self, port: int = 0, timeout: float = 90) -> QpidBroker:
        """Start, and wait for BRK-1004: the port accepts ~100 ms earlier but refuses connections until then."""
        if not QPID_LIB.is_dir():
            raise RuntimeError(f"no Qpid Broker-J jars in {QPID_LIB}: run `make setup`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "qpid-config.json"
        config.write_text(json.dumps(_config(self.tls)))
        self._starts += 1
        name = f"{self.name}-{self._starts}"
        java = shutil.which("java") or "java"
        started = time.monotonic()
        self.process = Process(
            name,
            [java, "-Xmx256m", "-XX:MaxDirectMemorySize=64m", "-cp", f"{QPID_LIB}/*", "org.apache.qpid.server.Main",
             "-st", "Memory", "-icp", str(config), "-prop", f"qpid.amqp_port={port}",
             "-prop", f"qpid.work_dir={self.workdir / 'work'}", "-prop", f"qpid.user={USER}",
             "-prop", f"qpid.password={PASSWORD}", "-prop", f"qpid.amqps_port={self.tls_port}"],
            self.workdir,
        )  # fmt: skip
        deadline = started + timeout
        while time.monotonic() < deadline:
            log = self.process.log_path.read_text(errors="replace")
            if READY in log:
                self.port = int(LISTENING.search(log).group(1))  # type: ignore[union-attr]
                if self.tls is not None:
                    self.tls_port = int(LISTENING_TLS.search(log).group(1))  # type: ignore[union-attr]
                self.started_in = time.monotonic() - started
                return self
            if not self.process.alive:
                raise RuntimeError(f"Qpid Broker-J exited:\n{self.process.log()}")
            time.sleep(0.05)
        self.process.stop()
        raise TimeoutError(f"Qpid Broker-J not ready after {timeout}s:\n{self.process.log()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=20)

    def restart(self) -> None:
        """Stop and start again on the same port: every client connection is dropped."""
        self.stop()
        self.start(self.port)
