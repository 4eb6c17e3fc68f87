"""graphql-java's own reading of GraphQL documents: the parser, validator and query traversal APIM's gateway reads
GraphQL calls with (carbon-apimgt's GraphQLAPIHandler, QueryValidator and QueryAnalyzer over graphql-java 19.11), run
here to hold adapter/src/apim_adapter/graphql_api.py to it.

The jars come from Maven Central, fetched by `make setup` (scripts/graphql-java.sh, the version versions.env pins).
`harness/java/GraphQLVerdicts.java` is compiled once per working directory and answers each document.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import java_oracle
from .helpers import ROOT

GRAPHQL_JAVA_LIB = ROOT / ".tools" / "graphql-java" / "lib"


def available() -> bool:
    return java_oracle.available(GRAPHQL_JAVA_LIB, "graphql-java-*.jar")


@dataclass(frozen=True)
class Verdict:
    """graphql-java's answer on one document: `syntax` (the parser refused it), `invalid` (the validator's error
    count), else its depth and complexity."""

    syntax: bool = False
    invalid: int = 0
    depth: int = 0
    complexity: int = 0


def verdicts(
    sdl: str, complexity: Mapping[str, Mapping[str, int]], documents: Sequence[str], workdir: Path
) -> list[Verdict]:
    """graphql-java's verdict on each document against the schema `sdl`, with WSO2's complexity values."""
    values = ",".join(f"{t}.{f}={v}" for t, fields in complexity.items() for f, v in fields.items()) or "-"
    schema = base64.b64encode(sdl.encode()).decode()
    lines = [f"{schema}\t{values}\t{base64.b64encode(d.encode()).decode()}" for d in documents]
    out = java_oracle.run("GraphQLVerdicts", GRAPHQL_JAVA_LIB, lines, workdir, java=java_oracle.apim_jvm())
    assert len(out) == len(documents), out[-5:]
    answers = []
    for line in out:
        kind, *numbers = line.split()
        if kind == "SYNTAX":
            answers.append(Verdict(syntax=True))
        elif kind == "INVALID":
            answers.append(Verdict(invalid=int(numbers[0])))
        else:
            answers.append(Verdict(depth=int(numbers[0]), complexity=int(numbers[1])))
    return answers
