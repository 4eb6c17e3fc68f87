"""Atlassian's swagger-request-validator's own verdict on requests: the validator APIM's Schema Validation runs them
through, driven here as APIM's gateway drives it, to hold the adapter's schema validation to it.

The jars are swagger-request-validator-core and its dependencies (swagger-parser, fge's json-schema-validator,
Guava, Jackson) from Maven Central, fetched by `make setup` (scripts/oai-validator.sh, the versions versions.env
pins: the release nearest the WSO2 orbit build carbon-apimgt's pom pins, on the libraries APIM 4.5 ships).
`harness/java/SchemaValidationVerdicts.java` is compiled once per working directory and mirrors carbon-apimgt's
gateway: APIMgtLatencyStatsHandler.java (the definition parsed and its operations' header parameters lowercased),
SchemaValidator.java (the validator's levels, the 400's description) and OpenAPIRequest.java with
SchemaValidationUtils.java (the request as the validator sees it).

A case is a dict: `definition` (the OpenAPI text, JSON or YAML), `method`, `path` (after the API's context and
version, a query or fragment cut off as APIM cuts it), `headers` and `query` (name -> one value; the query's
decoded), `body` (a string, or None for none).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import java_oracle
from .helpers import ROOT

OAI_VALIDATOR_LIB = ROOT / ".tools" / "oai-validator" / "lib"


# Cases, as the parity tests make them: a definition of one path (`/items`), and a request of it.
JSON = "application/json"


def oas(paths: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": paths, **extra})


def body_api(schema: dict[str, Any], required: bool = True, media: str = JSON, **extra: Any) -> str:
    content = {media: {"schema": schema}}
    return oas({"/items": {"post": {"requestBody": {"required": required, "content": content},
                                    "responses": {"200": {"description": "OK"}}}}}, **extra)  # fmt: skip


def param_api(*parameters: dict[str, Any], path: str = "/items", method: str = "get") -> str:
    return oas({path: {method: {"parameters": list(parameters), "responses": {"200": {"description": "OK"}}}}})


def case(definition: str, path: str = "/items", method: str = "POST", query: dict | None = None,
         headers: dict | None = None, body: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"definition": definition, "method": method, "path": path, "query": query or {},
            "headers": headers or {}, "body": body}  # fmt: skip


def json_case(schema: dict[str, Any], instance: Any, **extra: Any) -> dict[str, Any]:
    return case(body_api(schema, **extra), headers={"Content-Type": JSON}, body=json.dumps(instance))


def available() -> bool:
    return java_oracle.available(OAI_VALIDATOR_LIB, "swagger-request-validator-core-*.jar")


def verdicts(cases: list[dict], workdir: Path) -> list[str | None]:
    """APIM's description of each request's refusal ("Schema validation failed in the Request: " and the report's
    messages, each followed by ", "), None where the report has no errors, "EXCEPTION: <class>: <message>" where
    the validator throws (APIM's handler then fails the request)."""
    given = [json.dumps({key: case.get(key) for key in ("definition", "method", "path", "headers", "query", "body")})
             for case in cases]  # fmt: skip
    out = java_oracle.run(
        "SchemaValidationVerdicts", OAI_VALIDATOR_LIB, given, workdir, timeout=300, java=java_oracle.apim_jvm()
    )
    assert len(out) == len(cases), out[-5:]
    answers: list[str | None] = []
    for line in out:
        kind, _, detail = line.partition(" ")
        if kind == "OK":
            answers.append(None)
        elif kind == "ERR":
            answers.append(json.loads(detail))
        else:
            assert kind == "EXC", line
            answers.append("EXCEPTION: " + json.loads(detail))
    return answers
