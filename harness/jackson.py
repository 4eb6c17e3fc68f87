"""Jackson's own token stream of JSON bodies: the parser APIM's JSON Validator walks (carbon-apimgt's JSONAnalyzer),
run here to hold adapter/src/apim_adapter/json_protector.py to it.

The jar is jackson-core from Maven Central that `make setup` already fetches with Apache Qpid Broker-J
(.tools/qpid/lib; Jackson 3, whose streaming parser reads JSON as the Jackson 2 in APIM 4.5 does: tokens, what it
refuses, NaN and leading zeroes refused by default). `harness/java/JacksonTokens.java` is compiled once per
working directory and reads the bodies as JSONAnalyzer does, through an InputStreamReader.
"""

from __future__ import annotations

import base64
from pathlib import Path

from . import java_oracle
from .qpid import QPID_LIB

# Jackson 3's names for the tokens JSONAnalyzer tells apart (Jackson 2's FIELD_NAME is PROPERTY_NAME).
NAMES = {"START_OBJECT": 0, "END_OBJECT": 1, "START_ARRAY": 2, "END_ARRAY": 3, "PROPERTY_NAME": 4, "VALUE_STRING": 5}
OTHER = 6  # numbers, true, false, null


def available() -> bool:
    return java_oracle.available(QPID_LIB, "jackson-core-*.jar")


def tokens_of(bodies: list[bytes], workdir: Path) -> list[list[tuple[int, str]] | None]:
    """Jackson's tokens of each body (json_protector's kinds; a name's or a string's text, unpaired surrogates as
    U+FFFD), None where Jackson refuses it."""
    lines = [base64.b64encode(body).decode() for body in bodies]
    out = java_oracle.run("JacksonTokens", QPID_LIB, lines, workdir, options=["-Xss16m"], java=java_oracle.apim_jvm())
    answers: list[list[tuple[int, str]] | None] = []
    current: list[tuple[int, str]] = []
    for line in out:
        if line == "END":
            answers.append(current)
            current = []
        elif line.startswith("ERROR "):
            answers.append(None)
            current = []
        else:
            name, _, text = line.partition(" ")
            current.append((NAMES.get(name, OTHER), base64.b64decode(text).decode("utf-16-be", "replace")))
    assert len(answers) == len(bodies), out[-5:]
    return answers
