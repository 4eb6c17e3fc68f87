"""Woodstox's own verdict on XML bodies: the StAX parser APIM's XML Validator reads them with (carbon-apimgt's
XMLAnalyzer), run here to hold adapter/src/apim_adapter/xml_protector.py to it.

The jars are woodstox-core and stax2-api from Maven Central, fetched by `make setup` (scripts/woodstox.sh, the
version versions.env pins: the one carbon-apimgt's pom pins). `harness/java/WoodstoxVerdicts.java` is compiled once
per working directory and reads each body as XMLAnalyzer does.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from . import java_oracle
from .helpers import ROOT

WOODSTOX_LIB = ROOT / ".tools" / "woodstox" / "lib"


def available() -> bool:
    return java_oracle.available(WOODSTOX_LIB, "woodstox-core-*.jar")


def _run(lines: list[str], workdir: Path) -> list[str]:
    return java_oracle.run("WoodstoxVerdicts", WOODSTOX_LIB, lines, workdir, java=java_oracle.apim_jvm())


def verdicts(bodies: list[bytes], workdir: Path) -> list[str | None]:
    """Woodstox's message for each body (XMLStreamException.getMessage(), as XMLAnalyzer quotes it), None where it
    reads the body to its end."""
    out = _run([base64.b64encode(body).decode() for body in bodies], workdir)
    assert len(out) == len(bodies), out[-5:]
    return [None if line == "OK" else "".join(chr(int(unit, 16)) for unit in re.findall("....", line[6:]))
            for line in out]  # fmt: skip


def name_tables(workdir: Path) -> list[str]:
    """Woodstox's XmlChars tables (XML 1.0 name start, name; XML 1.1 name start, name) as `XXXX-YYYY` ranges."""
    return _run(["NAMES"], workdir)
