"""The oracle of Schema Validation's parity tests works (harness/oai_validator.py): Atlassian's
swagger-request-validator, driven as APIM's gateway drives it, passes a valid request and refuses a missing
required query parameter, a number under its minimum, an undeclared query parameter and a body without a required
property, with the messages APIM's 400 carries."""

from __future__ import annotations

import json

import pytest

from harness import oai_validator

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not oai_validator.available(), reason="needs javac and .tools/oai-validator (make setup)"),
]

DEFINITION = json.dumps(
    {
        "openapi": "3.0.1",
        "info": {"title": "pets", "version": "1.0.0"},
        "paths": {
            "/pets/{id}": {
                "post": {
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "integer", "maximum": 10},
                        },
                        {"name": "X-Trace", "in": "header", "required": True, "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "age": {"type": "integer", "minimum": 0},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
)


def case(query: dict[str, str] | None = None, body: str = '{"name": "rex", "age": 3}') -> dict:
    return {
        "definition": DEFINITION,
        "method": "POST",
        "path": "/pets/1",
        "headers": {"Content-Type": "application/json", "X-Trace": "t-1"},
        "query": {"limit": "5"} if query is None else query,
        "body": body,
    }


def test_the_validator_passes_and_refuses_requests_as_apims_gateway_does(tmp_path):
    valid, no_limit, negative_age, undeclared, nameless = oai_validator.verdicts(
        [case(), case(query={}), case(body='{"name": "rex", "age": -1}'), case(query={"limit": "5", "foo": "1"}),
         case(body='{"age": 3}')],
        tmp_path,
    )  # fmt: skip
    for name, detail in (("valid", valid), ("limit missing", no_limit), ("age -1", negative_age),
                         ("foo undeclared", undeclared), ("name missing", nameless)):  # fmt: skip
        print(f"{name}: {detail!r}")
    assert valid is None  # X-Trace found: the spec's name lowercased as the request's
    assert no_limit is not None
    assert "Query parameter 'limit' is required on path '/pets/{id}' but not found in request." in no_limit
    assert negative_age is not None
    assert "Numeric instance is lower than the required minimum" in negative_age
    # APIM's levels keep the library's ERROR for validation.request.parameter.query.unexpected.
    assert undeclared is not None
    assert "Query parameter 'foo' is unexpected" in undeclared
    # APIM's INFO for validation.schema.required does not reach the key the body's message is resolved with
    # (validation.request.body.schema.required): the missing property refuses the request.
    assert nameless is not None
    assert 'Object has missing required properties (["name"])' in nameless
