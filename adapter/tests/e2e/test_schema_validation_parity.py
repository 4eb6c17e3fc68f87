"""The adapter's Schema Validation (apim_adapter/schema_validation.py) answers every request of its corpus as APIM's
gateway does: the same verdict and the same 400 description as Atlassian's swagger-request-validator, run as APIM
runs it (harness/oai_validator.py). The corpus covers what a definition can ask of a request: the path and method,
security requirements, Content-Type, header, path, query (deep-object, undeclared) and cookie parameters, every
schema keyword of draft 4 and OpenAPI's nullable, readOnly and formats, JSON and form bodies. A form body reaches the
validator as APIM's gateway writes it (Axis2's parameters as JSON, apim_adapter/axis2_forms.py, whose renderings
adapter/tests/unit/test_axis2_forms.py holds to Synapse's own writer): the oracle is handed that, as APIM hands it."""

from __future__ import annotations

import functools
import json
import random
import urllib.parse
from typing import Any

import pytest

from apim_adapter import axis2_forms, axis2_multipart
from apim_adapter.schema_validation import Definition, DefinitionError, request_of
from harness import oai_validator
from harness.oai_validator import JSON, body_api, case, json_case, oas, param_api

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not oai_validator.available(), reason="needs javac and .tools/oai-validator (make setup)"),
]

PERSON = {
    "type": "object",
    "required": ["name", "id"],
    "properties": {
        "id": {"type": "integer", "format": "int64", "readOnly": True},
        "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
        "age": {"type": "integer", "minimum": 0, "maximum": 130, "exclusiveMaximum": True},
        "score": {"type": "number", "multipleOf": 0.5, "format": "float"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 1, "maxItems": 3,
                 "uniqueItems": True},
        "nick": {"type": "string", "nullable": True},
        "born": {"type": "string", "format": "date"},
        "seen": {"type": "string", "format": "date-time"},
        "blob": {"type": "string", "format": "byte"},
        "kind": {"type": "string", "enum": ["x", "y"]},
        "address": {"type": "object", "required": ["city"], "additionalProperties": False,
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}},
    },
}  # fmt: skip

BODIES = [
    {"name": "ann"},
    {"name": "ann", "id": 3},
    {},
    {"name": "a"},
    {"name": "abcdef"},
    {"name": "Ann"},
    {"name": 5},
    {"name": "ann", "age": -1},
    {"name": "ann", "age": 130},
    {"name": "ann", "age": 129},
    {"name": "ann", "age": 1.5},
    {"name": "ann", "age": "3"},
    {"name": "ann", "score": 1.25},
    {"name": "ann", "score": 2},
    {"name": "ann", "tags": []},
    {"name": "ann", "tags": ["a", "a"]},
    {"name": "ann", "tags": ["a", "b", "a", "b"]},
    {"name": "ann", "tags": ["c"]},
    {"name": "ann", "nick": None},
    {"name": "ann", "kind": None},
    {"name": "ann", "kind": "z"},
    {"name": "ann", "born": "2024-02-30"},
    {"name": "ann", "born": "2024-02-03"},
    {"name": "ann", "seen": "2024-02-03T10:00:00Z"},
    {"name": "ann", "seen": "2024-02-03T10:00:00.123+01:00"},
    {"name": "ann", "seen": "2024-02-03 10:00:00"},
    {"name": "ann", "blob": "aGVsbG8="},
    {"name": "ann", "blob": "aGVsbG8"},
    {"name": "ann", "blob": "aGV*bG8="},
    {"name": "ann", "address": {"zip": "1234"}},
    {"name": "ann", "address": {"city": "x", "street": "y"}},
    {"name": "ann", "address": "nowhere"},
    {"name": "ann", "extra": True},
    [1, 2],
    "text",
    None,
]

COMBINED = [
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, [1, "a", 1.5, True]),
    ({"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer", "minimum": 5}]}, ["ab", "abc", 6, 4]),
    ({"allOf": [{"type": "object", "required": ["a"]}, {"type": "object", "required": ["b"]}]},
     [{"a": 1}, {"a": 1, "b": 2}]),
    ({"not": {"type": "string"}}, ["a", 1]),
    ({"type": "object", "minProperties": 1, "maxProperties": 2}, [{}, {"a": 1}, {"a": 1, "b": 2, "c": 3}]),
    ({"type": "integer", "format": "int32"}, [2147483647, 2147483648, -5]),
    ({"type": "number", "minimum": 1, "exclusiveMinimum": True}, [1, 1.0001, 0]),
    ({"type": "array", "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}},
     [[{"id": 1}, {"id": "x"}, {}]]),
    ({"type": "object", "properties": {"a": {"$ref": "#/components/schemas/Leaf"}}},
     [{"a": {"v": 1}}, {"a": {"v": "x"}}, {"a": {}}]),
    ({"type": "string", "format": "email"}, ["a@b.co", "nope"]),
    ({"type": "string", "format": "uuid"}, ["not-a-uuid"]),
    ({"type": "boolean"}, [True, "true", 0]),
]  # fmt: skip
LEAF = {
    "components": {"schemas": {"Leaf": {"type": "object", "required": ["v"], "properties": {"v": {"type": "integer"}}}}}
}


def corpus() -> list[dict[str, Any]]:
    cases = [json_case(PERSON, b) for b in BODIES]
    for schema, instances in COMBINED:
        cases += [json_case(schema, i, **LEAF) for i in instances]
    person = body_api(PERSON)
    cases += [
        case(person, headers={"Content-Type": JSON}, body='{"name": "ann",'),  # not JSON
        case(person, headers={"Content-Type": JSON}, body=" \r\n\t"),  # JSON's white space alone
        case(person, headers={"Content-Type": JSON}, body="truex"),  # a literal running on, which Python would read
        case(person, headers={"Content-Type": JSON}, body=""),  # no body, one required
        case(body_api(PERSON, required=False), headers={"Content-Type": JSON}),
        case(person, headers={"Content-Type": "text/plain"}, body="ann"),
        case(person, headers={"Content-Type": "application/json; charset=utf-8"}, body='{"name": "ann"}'),
        case(person, headers={"content-type": "APPLICATION/JSON"}, body='{"name": "ann"}'),
        case(person, headers={"Content-Type": "application/*"}, body='{"name": "ann"}'),
        case(person, headers={"Content-Type": "not a type"}, body='{"name": "ann"}'),
        case(person, body='{"name": "ann"}'),  # no Content-Type
        case(person, headers={"Content-Type": "application/merge-patch+json"}, body='{"name": 1}'),
        case(body_api(PERSON, media="application/*"), headers={"Content-Type": "application/vnd.x+json"},
             body='{"name": 1}'),
        case(body_api(PERSON, media="application/x-www-form-urlencoded"),
             headers={"Content-Type": "application/x-www-form-urlencoded"}, body="name=ann&age=x"),
        case(person, method="GET"),
        case(person, path="/other"),
        case(person, path="/items/"),
        case(person, path="/ITEMS", headers={"Content-Type": JSON}, body='{"name": "ann"}'),
        case(param_api(), method="GET", body="{}"),
        case(param_api(), method="GET", headers={"Accept": "text/html"}),
    ]  # fmt: skip
    integer = {"type": "integer", "minimum": 1, "maximum": 10}
    params = param_api(
        {"name": "limit", "in": "query", "required": True, "schema": integer},
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
        {"name": "flag", "in": "query", "schema": {"type": "boolean"}},
        {"name": "ids", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}},
        {"name": "when", "in": "query", "schema": {"type": "string", "format": "date-time"}},
        {"name": "q", "in": "query", "allowEmptyValue": True, "required": True, "schema": {"type": "string"}},
        {"name": "X-Tenant", "in": "header", "required": True, "schema": {"type": "string", "pattern": "^t[0-9]+$"}},
        {"name": "Content-Type", "in": "header", "required": True, "schema": {"type": "string"}},
        {"name": "sid", "in": "cookie", "required": False, "schema": {"type": "string"}},
    )
    good = {"limit": "5", "q": "x"}
    tenant = {"X-Tenant": "t1"}
    for query, headers in [
        (good, tenant),
        ({"q": "x"}, tenant),
        ({**good, "limit": "0"}, tenant),
        ({**good, "limit": "abc"}, tenant),
        ({**good, "limit": "2.5"}, tenant),
        ({**good, "limit": ""}, tenant),
        ({**good, "limit": "null"}, tenant),
        ({**good, "sort": "up"}, tenant),
        ({**good, "flag": "yes"}, tenant),
        ({**good, "flag": "true"}, tenant),
        ({**good, "ids": "1,2"}, tenant),
        ({**good, "ids": "1,x"}, tenant),
        ({**good, "ids": "1,2,3,4"}, tenant),
        ({**good, "when": "2024-01-01T00:00:00+02:00"}, tenant),
        ({**good, "when": "yesterday"}, tenant),
        ({**good, "q": ""}, tenant),
        ({**good, "other": "1"}, tenant),
        (good, {}),
        (good, {"x-tenant": "u1"}),
        (good, {"X-TENANT": "t2", "Cookie": "sid=1"}),
    ]:
        cases.append(case(params, method="GET", query=query, headers=headers))
    path_params = param_api({"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
                            {"name": "v", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 2}},
                            path="/items/{id}/v{v}")  # fmt: skip
    cases += [
        case(path_params, method="GET", path=p) for p in ("/items/7/v1", "/items/x/v1", "/items/7/vlong", "/items/7")
    ]
    cases.append(case(param_api({"name": "sid", "in": "cookie", "required": True, "schema": {"type": "string"}}),
                      method="GET", headers={"Cookie": "sid=abc"}))  # fmt: skip
    # `type: array` without `items` is no ArraySchema: its value is read as JSON, not split; `items` alone makes one.
    untyped_items = param_api({"name": "a", "in": "query", "schema": {"type": "array"}},
                              {"name": "b", "in": "query", "schema": {"items": {"type": "integer"}}})  # fmt: skip
    cases += [case(untyped_items, method="GET", query=q)
              for q in ({"a": "1,2"}, {"a": "[1,2]"}, {"a": "true"}, {"a": "x"}, {"a": "[1"}, {"a": ""},
                        {"b": "1,2"}, {"b": "1,x"}, {"b": "[1]"})]  # fmt: skip
    cases.append(case(param_api({"name": "f", "in": "query", "style": "deepObject", "explode": True,
                                 "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}),
                      method="GET", query={"f[n]": "x"}))  # fmt: skip
    secured = oas(
        {"/s": {"get": {"security": [{"key": []}], "responses": {"200": {"description": "OK"}}},
                "put": {"security": [{"bearer": []}], "responses": {"200": {"description": "OK"}}},
                "post": {"security": [{"oauth": []}], "responses": {"200": {"description": "OK"}}}}},
        components={"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "x-key"},
                                        "bearer": {"type": "http", "scheme": "bearer"},
                                        "oauth": {"type": "oauth2", "flows": {"implicit": {
                                            "authorizationUrl": "https://a", "scopes": {}}}}}},
    )  # fmt: skip
    cases += [
        case(secured, path="/s", method="GET"),
        case(secured, path="/s", method="GET", headers={"X-Key": "k"}),
        case(secured, path="/s", method="PUT", headers={"Authorization": "Bearer x"}),
        case(secured, path="/s", method="POST"),
    ]
    host = {"host": {"default": "api.example.com"}}
    served = oas({"/pets": {"get": {"responses": {"200": {"description": "OK"}}}}},
                 servers=[{"url": "https://{host}/v1", "variables": host}])  # fmt: skip
    cases += [case(served, path="/pets", method="GET"), case(served, path="/v1/pets", method="GET")]
    wildcard = oas({"/*": {"get": {"responses": {"200": {"description": "OK"}}}}})
    cases += [case(wildcard, path=p, method="GET") for p in ("/", "/anything")]
    templated = oas({"/a/{x}": {"get": {"responses": {"200": {"description": "OK"}}}},
                     "/a/b": {"post": {"responses": {"200": {"description": "OK"}}}}})  # fmt: skip
    cases += [case(templated, path="/a/b", method="GET"), case(templated, path="/a/c", method="DELETE")]
    numbers = param_api({"name": "n", "in": "query", "schema": {"type": "integer"}},
                        {"name": "x", "in": "query", "schema": {"type": "number", "maximum": 100}},
                        {"name": "tags", "in": "header", "schema": {"type": "array", "items": {"type": "integer"},
                                                                     "minItems": 2}},
                        {"name": "pipes", "in": "query", "style": "pipeDelimited", "explode": False,
                         "schema": {"type": "array", "items": {"type": "string", "maxLength": 1}}},
                        {"name": "obj", "in": "query", "schema": {"type": "object"}},
                        {"name": "d", "in": "query", "schema": {"type": "string", "pattern": "^\\d+$"}})  # fmt: skip
    for query in ({"n": "+5"}, {"n": "5.0"}, {"n": "1e2"}, {"n": " 5"}, {"n": "0x10"}, {"n": "NaN"}, {"n": "5d"},
                  {"n": "07"}, {"n": "5 6"}, {"x": "100.5"}, {"x": "-Infinity"}, {"pipes": "a|bb|c"},
                  {"obj": "{\"a\": 1}"}, {"obj": "[1]"}, {"obj": "nope"}, {"d": "123"}, {"d": "12a"},
                  {"d": "\u0661\u0662"}):  # fmt: skip
        cases.append(case(numbers, method="GET", query=query))
    cases += [case(numbers, method="GET", headers={"Tags": v}) for v in ("1,2", "1", "1,x", "")]
    styled = param_api({"name": "m", "in": "path", "required": True, "style": "label",
                        "schema": {"type": "array", "items": {"type": "integer"}}}, path="/l/{m}")  # fmt: skip
    cases += [case(styled, method="GET", path=p) for p in ("/l/.1.2", "/l/.1.x", "/l/1,2")]
    # A path item's own header parameter: swagger-parser puts it on each operation before APIM lowers the names.
    shared_header = oas({"/items": {"parameters": [{"name": "X-Req", "in": "header", "required": True,
                                                    "schema": {"type": "integer"}}],
                                    "get": {"responses": {"200": {"description": "OK"}}}}})  # fmt: skip
    cases += [case(shared_header, method="GET", headers=h) for h in ({}, {"X-Req": "x"}, {"x-req": "1"})]
    return cases + swagger2_corpus()


def swagger(paths: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": paths, **extra})


OK2 = {"200": {"description": "OK"}}
# PERSON as a Swagger 2.0 definition: `x-nullable` for nullable; the address a definition of its own (a model: its
# properties kept), the home the same object inline (a property with additionalProperties: its properties dropped).
ADDRESS = PERSON["properties"]["address"]
PERSON2 = {**PERSON, "properties": {**PERSON["properties"], "nick": {"type": "string", "x-nullable": True},
                                    "address": {"$ref": "#/definitions/Address"}, "home": ADDRESS}}  # fmt: skip
DEFINITIONS = {"Person": PERSON2, "Address": ADDRESS}


def swagger2_corpus() -> list[dict[str, Any]]:
    """Swagger 2.0 definitions, which APIM's parser converts to OpenAPI 3.0 (SwaggerConverter) before validating."""
    body = {"name": "person", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Person"}}
    person = swagger({"/people": {"post": {"parameters": [body], "responses": OK2}}},
                     definitions=DEFINITIONS, consumes=[JSON])  # fmt: skip
    bodies = [*BODIES, {"name": "ann", "home": {"zip": "1234"}}, {"name": "ann", "home": {"city": 1, "x": 2}}]
    cases = [case(person, path="/people", headers={"Content-Type": JSON}, body=json.dumps(b)) for b in bodies]
    optional = {**body, "required": False}
    consumes = swagger(
        {"/any": {"post": {"parameters": [optional], "responses": OK2}},  # no consumes anywhere: */*
         "/own": {"post": {"consumes": [JSON], "parameters": [optional], "responses": OK2}},
         "/none": {"post": {"consumes": [], "parameters": [optional], "responses": OK2}}},  # the document's
        definitions=DEFINITIONS)  # fmt: skip
    xml = json.loads(consumes)
    xml["consumes"] = ["application/xml", "text/plain"]
    xml = json.dumps(xml)
    cases += [
        case(person, path="/people", headers={"Content-Type": JSON}),  # a body required, none
        case(consumes, path="/any", headers={"Content-Type": JSON}),  # a body not required, none
        case(consumes, path="/any", headers={"Content-Type": "text/plain"}, body="ann"),
        case(consumes, path="/any", headers={"Content-Type": JSON}, body='{"name": 1}'),
        case(consumes, path="/own", headers={"Content-Type": "text/plain"}, body='{"name": 1}'),
        case(consumes, path="/own", headers={"Content-Type": JSON}, body='{"name": 1}'),
        case(xml, path="/none", headers={"Content-Type": JSON}, body='{"name": 1}'),
        case(xml, path="/none", headers={"Content-Type": "application/xml"}, body="<a/>"),
        case(xml, path="/own", headers={"Content-Type": "application/xml"}, body="<a/>"),
    ]
    item = {"type": "integer", "minimum": 1}
    params = swagger(
        {"/items/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "type": "integer", "maximum": 100},
                           {"name": "X-Tenant", "in": "header", "type": "string"}],
            "get": {"parameters": [
                {"$ref": "#/parameters/Limit"},
                {"name": "X-Tenant", "in": "header", "required": True, "type": "string", "pattern": "^t[0-9]+$"},
                {"name": "csv", "in": "query", "type": "array", "items": item, "maxItems": 3},
                {"name": "multi", "in": "query", "type": "array", "items": item, "collectionFormat": "multi"},
                {"name": "pipes", "in": "query", "type": "array", "items": item, "collectionFormat": "pipes"},
                {"name": "ssv", "in": "query", "type": "array", "items": item, "collectionFormat": "ssv"},
                {"name": "tsv", "in": "query", "type": "array", "items": item, "collectionFormat": "tsv"},
                {"name": "X-Ids", "in": "header", "type": "array", "items": item, "collectionFormat": "pipes"},
                {"name": "sort", "in": "query", "type": "string", "enum": ["asc", "desc"]},
                {"name": "level", "in": "query", "type": "integer", "enum": [1, 2], "x-nullable": True},
                {"name": "q", "in": "query", "type": "string", "required": True, "allowEmptyValue": True},
                {"name": "day", "in": "query", "type": "string", "format": "date"}],
                "responses": OK2}}},
        parameters={"Limit": {"name": "limit", "in": "query", "type": "integer", "minimum": 1, "maximum": 10}},
        basePath="/v1", host="api.example.com", schemes=["https"])  # fmt: skip
    good, tenant = {"q": "x"}, {"X-Tenant": "t1"}
    for path, query, headers in [
        ("/items/7", good, tenant),
        ("/v1/items/7", good, tenant),
        ("/items/x", good, tenant),
        ("/items/101", good, tenant),
        ("/items/7", {}, tenant),
        ("/items/7", {"q": ""}, tenant),
        ("/items/7", good, {}),
        ("/items/7", good, {"X-Tenant": "u1"}),
        ("/items/7", {**good, "limit": "11"}, tenant),
        ("/items/7", {**good, "limit": "x"}, tenant),
        ("/items/7", {**good, "csv": "1,2"}, tenant),
        ("/items/7", {**good, "csv": "1,0,x,4"}, tenant),
        ("/items/7", {**good, "multi": "1,2"}, tenant),
        ("/items/7", {**good, "multi": "0"}, tenant),
        ("/items/7", {**good, "pipes": "1|0"}, tenant),
        ("/items/7", {**good, "pipes": "1,2"}, tenant),
        ("/items/7", {**good, "ssv": "1 0"}, tenant),
        ("/items/7", {**good, "tsv": "1\t0"}, tenant),  # no style: split at commas
        ("/items/7", {**good, "tsv": "1,0"}, tenant),
        ("/items/7", good, {**tenant, "X-Ids": "1|2"}),
        ("/items/7", good, {**tenant, "X-Ids": "1,0"}),
        ("/items/7", {**good, "sort": "up"}, tenant),
        ("/items/7", {**good, "level": "3"}, tenant),
        ("/items/7", {**good, "level": "null"}, tenant),
        ("/items/7", {**good, "day": "2024-02-30"}, tenant),
        ("/items/7", {**good, "other": "1"}, tenant),
    ]:
        cases.append(case(params, path=path, method="GET", query=query, headers=headers))
    form = [{"name": "name", "in": "formData", "type": "string", "required": True, "maxLength": 3},
            {"name": "age", "in": "formData", "type": "integer", "maximum": 130},
            {"name": "tags", "in": "formData", "type": "array", "items": {"type": "string"},
             "collectionFormat": "multi"},
            {"$ref": "#/parameters/Level"}]  # fmt: skip
    forms = swagger(
        {"/form": {"post": {"consumes": ["application/x-www-form-urlencoded"], "parameters": form, "responses": OK2}},
         "/multipart": {"post": {"parameters": [{"name": "up", "in": "formData", "type": "file"}], "responses": OK2}}},
        parameters={"Level": {"name": "level", "in": "formData", "type": "integer", "enum": [1, 2]}})  # fmt: skip
    urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    cases += [case(forms, path="/form", headers=urlencoded, body=b)
              for b in ("name=ann&age=30", "age=30", "name=anne&age=x", "name=ann&age=131", "name=ann&tags=a&tags=b",
                        "name=ann&level=1", "name=ann&level=3")]  # fmt: skip
    # What a form definition meets on APIM: its JSON text read as a form, whose one name is the whole text.
    optional = {"type": "object", "properties": {"order": {"type": "integer"}, "note": {"type": "string"}}}
    closed = {**optional, "additionalProperties": False}
    typed = {"type": "object", "additionalProperties": {"type": "integer"}}
    for schema, bodies in [
        (optional, ["order=1&note=x", "order=x", "a b=1", "note=a%26b%3Dc", "order=%25"]),
        # A `%` in a value reaches the library's URLDecoder in the JSON text: its escapes, signs and errors.
        (optional, ["note=%25%2B1", "note=%25-1", "note=%25-0", "note=%25zz", "note=50%25", "note=%25%D9%A4%D9%A1"]),
        (closed, ["order=1", "order=1&order=2", "1a=%22q%22", "x=%2B1", "xml:lang=en"]),
        (typed, ["order=1", "order="]),
        ({"type": "object", "maxProperties": 0}, ["order=1"]),
        ({"type": "string"}, ["order=1"]),
    ]:
        cases += [case(body_api(schema, media="application/x-www-form-urlencoded"), headers=urlencoded, body=b)
                  for b in bodies]  # fmt: skip
    cases += [
        case(
            body_api(closed, media="application/x-www-form-urlencoded"),
            query={"page": "2"},
            headers=urlencoded,
            body="order=1",
        ),
        case(forms, path="/form", headers={"Content-Type": JSON}, body='{"name": "ann"}'),
        case(forms, path="/form", headers=urlencoded),
        case(forms, path="/multipart", headers={"Content-Type": "multipart/form-data; boundary=b"}, body="--b--"),
        case(forms, path="/multipart", headers=urlencoded, body="up=x"),
    ]
    # A multipart body: its content is not validated, whether it is there is (JsonUtil's conversion of the built
    # element can fail, and the builder can throw: then there is none).
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    upload = {"type": "object", "required": ["order"], "properties": {"order": {"type": "integer"}}}
    for body in (
        '--b\r\nContent-Disposition: form-data; name="order"\r\n\r\nnot a number\r\n--b--',
        '--b\r\nContent-Disposition: form-data; name="items[0]"\r\n\r\npen\r\n--b--',
        '--b\r\nContent-Disposition: form-data; name="order"\r\n\r\n1\r\n',
        '{"mediate":{"order":{"@charset":"UTF-8","$":"x"}}}',
        "",
    ):
        cases += [case(body_api(upload, media="multipart/form-data"), headers=multipart, body=body),
                  case(forms, path="/multipart", headers=multipart, body=body)]  # fmt: skip
    secured = swagger(
        {"/s": {"get": {"security": [{"key": []}], "responses": OK2},
                "put": {"security": [{"query": []}, {"basic": []}], "responses": OK2},
                "post": {"security": [{"oauth": ["read"]}], "responses": OK2},
                "delete": {"responses": OK2}}},
        securityDefinitions={"key": {"type": "apiKey", "in": "header", "name": "X-Key"},
                             "query": {"type": "apiKey", "in": "query", "name": "api_key"},
                             "basic": {"type": "basic"},
                             "oauth": {"type": "oauth2", "flow": "implicit", "authorizationUrl": "https://a",
                                       "scopes": {"read": "r"}}},
        security=[{"key": []}])  # fmt: skip
    cases += [
        case(secured, path="/s", method="GET"),
        case(secured, path="/s", method="GET", headers={"X-Key": "k"}),
        case(secured, path="/s", method="PUT"),
        case(secured, path="/s", method="PUT", query={"api_key": "k"}),
        case(secured, path="/s", method="PUT", headers={"Authorization": "Bearer x"}),
        case(secured, path="/s", method="PUT", headers={"Authorization": "Basic eDp5"}),
        case(secured, path="/s", method="POST"),
        case(secured, path="/s", method="DELETE"),  # the document's security is not the operation's
    ]
    models = swagger(
        {"/list": {"post": {"parameters": [{"name": "b", "in": "body", "schema": {
            "type": "array", "items": {"enum": [1, 2]}, "maxItems": 2}}], "responses": OK2}},
         "/kind": {"post": {"parameters": [{"name": "b", "in": "body", "schema": {
             "type": "integer", "enum": [1, 2], "x-nullable": True}}], "responses": OK2}},
         "/cat": {"post": {"parameters": [{"name": "b", "in": "body", "schema": {
             "allOf": [{"$ref": "#/definitions/Address"},
                       {"type": "object", "required": ["claws", "ghost"],
                        "properties": {"claws": {"type": "boolean"}, "any": {}}}]}}], "responses": OK2}}},
        definitions=DEFINITIONS)  # fmt: skip
    cases += [case(models, path="/list", headers={"Content-Type": JSON}, body=json.dumps(b))
              for b in ([1, 3], [1, "x"], [1, 2, 1])]  # fmt: skip
    cases += [case(models, path="/kind", headers={"Content-Type": JSON}, body=b) for b in ("3", "null", '"1"')]
    cats = ({"city": "x", "claws": True}, {"claws": 1}, {"city": "x", "claws": False, "any": 1})
    cases += [case(models, path="/cat", headers={"Content-Type": JSON}, body=json.dumps(b)) for b in cats]
    # A Content-Type header parameter is kept (APIM's handler drops it only from an OpenAPI 3.0 definition).
    typed = swagger({"/t": {"post": {"parameters": [
        {"name": "Content-Type", "in": "header", "required": True, "type": "string", "enum": [JSON]},
        {"name": "b", "in": "body", "schema": {"type": "object"}}], "responses": OK2}}})  # fmt: skip
    cases += [case(typed, path="/t", headers=h, body="{}") for h in ({"Content-Type": "text/plain"}, {})]
    # Enum values the converter reads: a date-time one cannot be written out, a UUID is written in lower case.
    moment = {"type": "string", "format": "date-time", "enum": ["2020-01-01T00:00:00Z"]}
    uuid = {"name": "q", "in": "query", "type": "string", "format": "uuid",
            "enum": ["123E4567-E89B-12D3-A456-426614174000"]}  # fmt: skip
    read = swagger({"/d": {"post": {"parameters": [{"name": "b", "in": "body", "schema": moment}], "responses": OK2}},
                    "/u": {"get": {"parameters": [uuid], "responses": OK2}}})  # fmt: skip
    cases += [case(read, path="/d", headers={"Content-Type": JSON}, body='"y"'),
              case(read, path="/u", method="GET", query={"q": "123e4567-e89b-12d3-a456-426614174000"})]  # fmt: skip
    # The schema as swagger-parser's model keeps it: JSON Schema keywords the model lacks are never checked, `items`
    # makes an array schema (and drops allOf, anyOf, oneOf), additionalProperties an object one, an enum's first
    # value gives a missing type, an empty enum and a multipleOf not above 0 are dropped.
    modelled = [
        ({"type": "object", "patternProperties": {"^a$": {"type": "integer"}}}, {"a": "x"}),
        ({"type": "object", "patternProperties": {"(?<=a)": {}}, "additionalProperties": False}, {"a": 1}),
        ({"type": "object", "dependencies": {"a": ["b"]}}, {"a": 1}),
        ({"type": "object", "dependencies": {"a": {"required": ["b"]}}}, {"a": 1}),
        ({"type": "array", "items": [{"type": "integer"}], "additionalItems": False}, ["x", 2]),
        ({"type": "string", "items": {"type": "integer"}}, "x"),
        ({"items": {"type": "integer"}, "allOf": [{"maxItems": 0}]}, [1]),
        ({"type": "string", "additionalProperties": False}, "x"),
        ({"allOf": [{"type": "string"}], "additionalProperties": False}, 5),
        ({"enum": [1, "a"]}, "a"), ({"enum": ["a", 1]}, 1), ({"enum": [True]}, 1), ({"enum": []}, 1),
        ({"type": "integer", "multipleOf": -2}, 3), ({"type": "integer", "multipleOf": 0}, 3),
        ({"type": ["string", "null"]}, 5), ({"type": "string", "const": "a"}, "b"),
        # Each keyword of the model's type: text read as a boolean, a count only as an int, any scalar as text.
        ({"type": "object", "additionalProperties": "x"}, {"a": 1}),
        ({"type": "object", "additionalProperties": "TRUE"}, {"a": 1}),
        ({"type": "integer", "exclusiveMaximum": "true", "maximum": 1}, 1),
        ({"type": "array", "uniqueItems": "true"}, [1, 1]), ({"type": "string", "maxLength": True}, "xx"),
        ({"type": "string", "maxLength": 2.0}, "xxx"), ({"type": "string", "minLength": "2"}, "x"),
        ({"type": "integer", "minimum": "2"}, 1), ({"type": "string", "pattern": 5}, "x"),
        ({"type": "object", "required": [1]}, {}), ({"type": "object", "required": []}, {}),
        ({"type": "object", "required": "a"}, {}), ({"type": "string", "enum": "a"}, "b"), ({"allOf": []}, 1),
        ({"type": "object", "properties": {"a": 5}}, {"a": 1}),
        # Enum values cast to the schema's class: an integer schema's quoted numbers are numbers, a string schema's
        # numbers texts, a date schema's dates midnight UTC (so no value matches), a UUID schema's in lower case;
        # a date-time enum cannot be written out at all, and bytes fail when a value reaches them.
        ({"type": "integer", "enum": ["1", "2"]}, 1), ({"type": "integer", "enum": ["1", "2"]}, "1"),
        ({"type": "integer", "enum": ["x"]}, 1), ({"type": "integer", "enum": [1.5]}, 1),
        ({"type": "integer", "enum": [1, "+2", "-0", "3.0"]}, "q"),
        ({"type": "integer", "enum": [3000000000]}, 3000000000),
        ({"type": "integer", "format": "int64", "enum": ["5"]}, 5), ({"type": "string", "enum": [1, 2]}, "1"),
        ({"type": "string", "enum": [1.5, 1e20, True, None, [1, "a"], 100]}, 5),
        ({"type": "number", "enum": ["1.5"]}, 1.5),
        ({"type": "number", "enum": [1, 1.5, "2", "2e3", True]}, "q"),
        ({"type": "number", "enum": ["x", 1e20, 0.1]}, "q"),
        ({"type": "boolean", "enum": ["true"]}, True), ({"type": "boolean", "enum": [1]}, True),
        ({"type": "boolean", "enum": ["yes", None]}, "q"), ({"type": "string", "enum": [{"a": 1}]}, "x"),
        ({"type": "string", "format": "date", "enum": ["2020-01-01"]}, "2020-01-01"),
        ({"type": "string", "format": "date", "enum": ["2020-13-45"]}, "2021-02-14"),
        ({"type": "string", "format": "date", "enum": ["2020-02-30", "x", 5]}, "q"),
        ({"type": "string", "format": "uuid", "enum": ["123E4567-E89B-12D3-A456-426614174000", "1-2-3-4-5", "x"]}, "q"),
        ({"type": "string", "format": "email", "enum": [5]}, "q"),
        ({"type": "string", "format": "date-time", "enum": ["x", "2020-01-01T10:00:00Z"]}, "q"),
        ({"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "array", "items": {
            "type": "string", "format": "date-time", "enum": ["2020-01-01T10:00:00+01:00"]}}}}, {}),
        ({"type": "object", "properties": {"a": {"allOf": [{"type": "string", "format": "date-time",
                                                          "enum": ["2020-01-01T10:00:00Z"]}]}}}, {}),
        ({"type": "string", "format": "byte", "enum": ["YQ=="]}, "YQ=="),
        ({"type": "string", "format": "byte", "enum": [None]}, "q"),
        *[({"type": "object", "properties": {"a": {"type": "string", "format": "byte", "enum": ["YQ=="]}}}, body)
          for body in ({}, {"a": "YQ=="})],
        ({"type": "string", "format": "byte", "enum": ["x y"]}, "q"),
        ({"type": "string", "format": "binary", "enum": [5]}, "q"),
    ]  # fmt: skip
    cases += [json_case(schema, instance) for schema, instance in modelled]
    # A parameter is read by its schema as the model holds it (`items` makes an array, an enum a type).
    parameters = [({"enum": [1, 2]}, "1"), ({"enum": [1, 2]}, "3"), ({"type": "integer", "enum": ["1", "2"]}, "1"),
                  ({"items": {"type": "integer"}}, "1,x"), ({"type": "string", "items": {"type": "integer"}}, "1,2"),
                  ({"type": "integer", "minimum": "2"}, "1"), ({"type": "integer", "exclusiveMinimum": False}, "1"),
                  ({"type": "string", "format": "date", "enum": ["2020-01-01"]}, "2020-01-01"),
                  ({"type": "boolean", "enum": ["true"]}, "true"),
                  ({"type": "number", "enum": ["1.50"]}, "1.5")]  # fmt: skip
    cases += [case(param_api({"name": "q", "in": "query", "schema": schema}), method="GET", query={"q": value})
              for schema, value in parameters]  # fmt: skip
    # Patterns as Rhino reads them; one it refuses makes fge report the schema's syntax errors (all of them, in its
    # order, references inlined), whatever the request; one its parser fails on, the exception; so does a value of
    # format regex its parser fails on.
    component = oas(
        {"/items": {"post": {"requestBody": {"required": True, "content": {JSON: {"schema": {
            "$ref": "#/components/schemas/P"}}}}, "responses": {"200": {"description": "OK"}}}}},
        components={"schemas": {
            "P": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/Q"}, "c": {"type": "string"}}},
            "Q": {"type": "object", "properties": {"z": {"type": "string", "pattern": "(", "nullable": True}}},
        }})  # fmt: skip
    cases += [case(component, headers={"Content-Type": JSON}, body=b) for b in ('{"c": "x"}', '{"b": 5}')]
    # A schema that holds itself: validated as deep as the body goes, its faults reported once.
    node = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            "z": {"type": "integer", "minimum": 1}}}  # fmt: skip
    faulty = {**node, "properties": {**node["properties"], "z": {"type": "integer", "exclusiveMaximum": True}}}
    for schema, bodies in ((node, ({"name": "a", "children": [{"name": "b"}, {"name": "c\n"}]},
                                   {"children": [{"children": [{"name": 5}]}]})),
                           (faulty, ({}, {"children": [{"z": 0}]}))):  # fmt: skip
        recursive = oas(
            {"/items": {"post": {"requestBody": {"required": True, "content": {JSON: {"schema": {
                "$ref": "#/components/schemas/Node"}}}}, "responses": {"200": {"description": "OK"}}}}},
            components={"schemas": {"Node": schema}})  # fmt: skip
        cases += [case(recursive, headers={"Content-Type": JSON}, body=json.dumps(b)) for b in bodies]
    nested = {"type": "object", "pattern": ")", "properties": {"b": {"items": {"pattern": "*"}},
              "a": {"pattern": "(", "properties": {"z": {"pattern": "["}}}, "B": {"not": {"pattern": "a{2}+"}}},
              "items": {"pattern": "+"},
              "additionalProperties": {"pattern": "[b-a]", "allOf": [{"pattern": "(?<=a)"}]}}  # fmt: skip
    regex = {"type": "object", "properties": {"a": {"type": "integer"}, "v": {"type": "string", "format": "regex"}}}
    cases += [
        json_case(nested, {}),
        json_case({"type": "object", "properties": {"v": {"type": "string", "pattern": "("}}}, {"w": "x"}),
        json_case({"type": "object", "properties": {"v": {"pattern": "a{1"}, "w": {"pattern": "("}}}, {}),
        json_case({"type": "object", "properties": {"v": {"type": "string", "pattern": '(\\"\u0001\té'}}}, {}),
        json_case({"type": "object", "properties": {"v": {"allOf": [{"type": "string", "pattern": "("}]}}}, {}),
        json_case({"type": "object", "properties": {"v": {"type": "string", "pattern": "^[a-z]+$"}}}, {"v": "abc\n"}),
        json_case({"type": "object", "properties": {"v": {"type": "string", "pattern": "^\\S+$"}}}, {"v": "ab\u00a0"}),
        json_case(regex, {"a": "x", "v": "a{1"}), json_case(regex, {"v": "[\\"}), json_case(regex, {"v": "a{99999}"}),
        json_case(regex, {"v": "(?<=a)"}), json_case(regex, {"v": "\\c"}),
        # fge's other syntax checks a schema of the model can fail, with a pattern's, in its order.
        json_case({"type": "string", "minLength": -1, "pattern": "(", "enum": ["a", "a"], "maxLength": -3}, "x"),
        json_case({"type": "object", "required": ["a", 1, "a"], "properties": {"b": {"type": "strin"}}}, {}),
        json_case({"type": "integer", "exclusiveMinimum": False}, 1), json_case({"type": 5}, "x"),
        json_case({"type": "integer", "exclusiveMaximum": True}, 1), json_case({"enum": [1, 1.0]}, 1),
        json_case({"type": "object", "minProperties": -2}, {}), json_case({"type": "string", "minLength": 0}, ""),
        case(param_api({"name": "q", "in": "query", "schema": {"type": "string", "pattern": "["}}), method="GET",
             query={"q": "x"}),
        case(param_api({"name": "q", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]+$"}}),
             method="GET", query={"q": "12\n"}),
    ]  # fmt: skip
    # A Swagger 2.0 parameter's date, date-time and uuid enum values the converted schema cannot read are null; a date
    # is read leniently.
    for fmt, values in [
        ("date", ["notadate"]),
        ("date", ["2020-01-01", "bad"]),
        ("date", ["2020-13-45"]),
        ("date-time", ["2020"]),
        ("uuid", ["x"]),
        ("uuid", ["123E4567-E89B-12D3-A456-426614174000", "x"]),
    ]:
        enumerated = swagger(
            {
                "/items": {
                    "get": {
                        "parameters": [{"name": "q", "in": "query", "type": "string", "format": fmt, "enum": values}],
                        "responses": OK2,
                    }
                }
            }
        )
        cases += [case(enumerated, method="GET", query={"q": q}) for q in ("x", values[0])]  # fmt: skip
    return cases


def v2_body(schema: dict[str, Any]) -> str:
    """A Swagger 2.0 definition whose POST /items takes a JSON body of `schema`."""
    body = {"name": "b", "in": "body", "schema": schema}
    return swagger({"/items": {"post": {"parameters": [body], "responses": OK2}}}, consumes=[JSON])


def test_a_swagger2_model_apims_parser_cannot_convert_is_a_definition_error(tmp_path):
    """SwaggerConverter converts a body schema with Jackson, which throws on a uuid enum value not in the
    36-character form and on a date or date-time one it cannot read: APIM's gateway then cannot parse the definition
    and fails every call to the API. The adapter refuses such a definition (a catalog file with one; named where the
    control plane is lenient), and converts what APIM converts."""

    def body_case(schema: dict[str, Any], body: str) -> dict[str, Any]:
        return case(v2_body(schema), path="/items", headers={"Content-Type": JSON}, body=body)

    unreadable = [("date-time", ["x"]), ("uuid", ["x"]), ("uuid", ["123e4567-e89b-12d3-a456-426614174000", "1"]),
                  ("date", ["notadate"]), ("date", ["2020-01-01", "bad"])]  # fmt: skip
    read = [("date", ["2020-13-45"]), ("uuid", ["123E4567-E89B-12D3-A456-426614174000"]), ("date", ["2020-01-01"]),
            ("date-time", ["2020-01-01T10:00:00Z"])]  # fmt: skip
    refused = [body_case({"type": "string", "format": f, "enum": v}, '"q"') for f, v in unreadable]
    refused.append(body_case({"type": "array", "items": {"type": "string", "format": "uuid", "enum": ["x"]}}, "[]"))
    converted = [body_case({"type": "string", "format": f, "enum": v}, '"q"') for f, v in read]
    expected = oai_validator.verdicts(refused + converted, tmp_path)
    for c, want in zip(refused, expected[: len(refused)], strict=True):
        assert (want or "").startswith("EXCEPTION: java.lang.IllegalArgumentException"), want
        with pytest.raises(DefinitionError, match="fails every call to the API"):
            Definition.parse(c["definition"])
    for c, want in zip(converted, expected[len(refused) :], strict=True):
        assert adapter_verdict(c) == want


def same(got: str | None, want: str | None) -> bool:
    """The whole description: Jackson's reason after "Unable to parse JSON - " too (apim_adapter/jackson_errors)."""
    return got == want


def postfix_of(c: dict[str, Any]) -> str:
    query = urllib.parse.urlencode(c["query"])
    return c["path"] + (f"?{query}" if query else "")


def adapter_verdict(c: dict[str, Any]) -> str | None:
    return Definition.parse(c["definition"]).detail(request_of(c["method"], postfix_of(c), c["headers"], c["body"]))


def as_apim_hands_it(c: dict[str, Any]) -> dict[str, Any]:
    """The case as APIM's SchemaValidator hands it to the validator (OpenAPIRequest): a form body as the gateway's
    message builder and JsonUtil write it (getMessageContent), none where the builder throws or the conversion
    fails; a multipart body as sent where JsonUtil converts it (the validator reads no multipart content), else
    none; anything else as sent."""
    content_type = next((v for k, v in c["headers"].items() if k.lower() == "content-type"), None)
    if not c["body"] or content_type is None:
        return c
    if axis2_forms.is_form(content_type):
        try:
            return {**c, "body": axis2_forms.validator_body(postfix_of(c), c["body"])}
        except axis2_forms.GatewayFailure:  # RelayUtils rethrows it as an AxisFault, getMessageContent logs it
            return {**c, "body": None}
    if axis2_multipart.is_multipart(content_type) and not axis2_multipart.converts(content_type, c["body"].encode()):
        return {**c, "body": None}
    return c


def test_every_request_of_the_corpus_is_answered_as_apims_validator_answers_it(tmp_path):
    cases = corpus()
    expected = oai_validator.verdicts([as_apim_hands_it(c) for c in cases], tmp_path)
    differ = []
    for c, want in zip(cases, expected, strict=True):
        got = adapter_verdict(c)
        if not same(got, want):
            differ.append(
                f"{c['method']} {c['path']} {c['query']} {c['headers']} {c['body']!r}\n"
                f"  APIM:    {want}\n  adapter: {got}"
            )
    assert not differ, f"{len(differ)} of {len(cases)} differ:\n" + "\n".join(differ)


# Forms made at random from the pieces APIM's builder, its XML round trip and the library's URLDecoder read apart:
# names mostly XML names (else the validator gets no body), values of any piece.
NAME_PIECES = ["a", "x", "1", "_", "$", "-", ".", "e", "true", "é"]
ODD_NAME_PIECES = [" ", "[", ":", "%20", "xml:"]
VALUE_PIECES = ["a", "x", "1", "-", ".", "e", "+", "_", "$", ":", "[", " ", "true", "null", "1.5", "-0", "%20",
                "%25", "%2B", "%3D", "%26", "%0A", "%01", "%C3%A9", "%ED%A0", "%FF", "%25-1", "%252", "%25%D9%A4",
                "%", "="]  # fmt: skip


def _random_form(chosen: random.Random) -> str:
    def name() -> str:
        pieces = NAME_PIECES + ODD_NAME_PIECES if chosen.random() < 0.15 else NAME_PIECES
        return "".join(chosen.choice(pieces) for _ in range(chosen.randint(1, 3)))

    def value() -> str:
        return "".join(chosen.choice(VALUE_PIECES) for _ in range(chosen.randint(0, 4)))

    return "&".join(f"{name()}={value()}" for _ in range(chosen.randint(1, 3)))


def test_forms_made_at_random_are_answered_as_apims_validator_answers_them(tmp_path):
    chosen = random.Random(20261206)
    schemas = [
        {"type": "object", "properties": {"a": {"type": "integer"}}},
        {"type": "object", "additionalProperties": False},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "required": ["a"]},
    ]
    urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = []
    for _ in range(600):
        definition = body_api(chosen.choice(schemas), media="application/x-www-form-urlencoded")
        cases.append(case(definition, headers=urlencoded, body=_random_form(chosen)))
    expected = oai_validator.verdicts([as_apim_hands_it(c) for c in cases], tmp_path)
    differ = [f"{c['body']!r}\n  APIM:    {want}\n  adapter: {adapter_verdict(c)}"
              for c, want in zip(cases, expected, strict=True) if not same(adapter_verdict(c), want)]  # fmt: skip
    assert sum(as_apim_hands_it(c)["body"] is None for c in cases) > 30  # forms the builder throws on among them
    assert not differ, f"{len(differ)} of {len(cases)} differ:\n" + "\n".join(differ[:20])


# Values of a format: by hand (what its Java library reads apart), and made at random from the pieces it treats apart.
def _pieces(chosen: random.Random, pieces: list[str], most: int) -> str:
    """Up to `most` of the pieces, chosen at random."""
    return "".join(chosen.choice(pieces) for _ in range(chosen.randint(0, most)))


def _hostnames(chosen: random.Random) -> str:
    pieces = [*"ab1-_.", "\u3002", "é", "A", "0", "x" * 63, "y" * 64, "\U0001f600", " ", "@", ":"]
    return "".join(chosen.choice(pieces) for _ in range(chosen.randint(0, 8)))


def _emails(chosen: random.Random) -> str:
    """Addresses in the shapes JavaMail parses (a route address, a comment, a group, a list), with local parts and
    domains of the characters it checks, and one stray special here or there."""

    local = [*"ab.", '\\"', '"q q"', "\\", "(c)", " ", "é", "_", "+", "1"]
    domain = [*"ab.-", "é", "1", "[1.2]", "_", " ", "\u0660"]
    stray = [*'<>()";:,@[]\\ \t\n\r', ""]
    shapes = ["{l}@{d}", "N <{l}@{d}>", "<{l}@{d}>", "{l}@{d} (x)", "g: {l}@{d};", "g: {l}@{d}, {l}@{d};",
              "{l}@{d}, {l}@{d}", "<@{d}:{l}@{d}>", "{l}@{d}{x}", "{x}{l}@{d}", '"{l}"@{d}']  # fmt: skip
    return chosen.choice(shapes).format(
        l=_pieces(chosen, local, 4) or "a", d=_pieces(chosen, domain, 5) or "b", x=chosen.choice(stray)
    )


def _uris(chosen: random.Random) -> str:
    """URIs in the shapes java.net.URI parses (hierarchical with a server or registry authority, opaque, relative),
    with hosts it reads apart (IPv4, IPv6 with a scope, labels) and the characters its classes tell apart."""

    hosts = ["a", "b1", "-a", "a-", "1.2.3.4", "256.1.1.1", "01.2.3.4", "[::1]", "[1:2:3:4:5:6:7:8]", "[::1%eth0]",
             "[1::2::3]", "[v1.x]", "a.b.", "é", "a_b", "%41", "%4", "a b", ""]  # fmt: skip
    chars = [*"/?#:@.%-_[]", "a", "é", " ", "%20", "%zz", "\u00a0", "\u0085", "|", "{", "1", "80", "\\"]
    shapes = ["{s}://{h}{p}", "{s}://{u}@{h}:{port}{p}", "{s}:{p}", "{p}", "//{h}{p}", "{s}://{h}{p}?{q}#{f}",
              "{s}:{x}", "{x}"]  # fmt: skip
    return chosen.choice(shapes).format(
        s=chosen.choice(["http", "a", "1a", "a+b", "", "x-y.z"]), h=chosen.choice(hosts),
        p=_pieces(chosen, chars, 4), u=_pieces(chosen, chars, 3), port=_pieces(chosen, ["1", "8", "a", ""], 3),
        q=_pieces(chosen, chars, 3), f=_pieces(chosen, chars, 3), x=_pieces(chosen, chars, 6),
    )  # fmt: skip


def _numbered(chosen: random.Random, width: int, least: int, most: int) -> str:
    """A field of digits, mostly in range, now and then too short, too long, not digits or another script's."""
    if chosen.random() < 0.9:
        return str(chosen.randint(least, most)).zfill(width)
    return chosen.choice(["1", "123", "x", "", "00", "\u0663"])


def _date_times(chosen: random.Random) -> str:
    n = functools.partial(_numbered, chosen)
    zone = ["Z", "z", "+01:00", "-05:30", "+0100", "+1", "", "+24:00", "+01:60", "+14:00", "+01", "+01:00:30",
            "+010030", "+01:00:30,5", "+01:00:30.1234", "Zx"]  # fmt: skip
    fraction = ["", ".5", ".123", ".123456789", ".1234567890123", "."]
    return (f"{n(4, 0, 9999)}-{n(2, 0, 13)}-{n(2, 0, 32)}{chosen.choice(['T', 't', ' '])}{n(2, 0, 25)}:{n(2, 0, 61)}:"
            f"{n(2, 0, 61)}{chosen.choice(fraction)}{chosen.choice(zone)}")  # fmt: skip


def _dates(chosen: random.Random) -> str:
    return f"{_numbered(chosen, 4, 0, 9999)}-{_numbered(chosen, 2, 0, 13)}-{_numbered(chosen, 2, 0, 32)}"


def _ipv4s(chosen: random.Random) -> str:
    octets = [str(chosen.randint(0, 300)), "0", "00", "01", "\u0663", "\uff11", "a", ""]
    return ".".join(chosen.choice(octets) for _ in range(chosen.choice([3, 4, 4, 4, 5]))) + chosen.choice(
        ["", "", "%1"]
    )


def _ipv6s(chosen: random.Random) -> str:
    pieces = [*"0123456789abcdefABCDEFg:", "%eth0", "1.2.3.4", "ffff", " "]
    return chosen.choice([":", "::"]).join(
        "".join(chosen.choice(pieces) for _ in range(chosen.randint(0, 5))) for _ in range(chosen.randint(1, 9))
    )


def _uuids(chosen: random.Random) -> str:
    digits = [*"0123456789abcdefABCDEFg+", "\u0663"]
    return "-".join(
        "".join(chosen.choice(digits) for _ in range(chosen.randint(0, 12))) for _ in range(chosen.choice([4, 5, 5, 6]))
    )


def _base64s(chosen: random.Random) -> str:
    return "".join(chosen.choice([*"ABCab01+/=-_ \n", "===", "QQ==", "\uffff"]) for _ in range(chosen.randint(0, 12)))


FORMAT_VALUES = {
    "hostname": (["a_b.com", "1.2.3.4", "münchen.de", "example.com.", "", ".", "a..b", "-a.com", "a-.com", "a.1com",
                  "a.b1", "com", "a\u3002b", "x" * 63 + ".com", "x" * 64 + ".com", ".".join(["a"] * 128)], _hostnames),
    "email": (["a@b.c", "a@b", "a", "", "@b.c", "a@", "a@.b", "a@b.", "a@b..c", "a b@c.d", '"a b"@c.d',
               "Ann <ann@example.com>", "ann@example.com (Ann)", "team: ann@example.com, bob@x.y;", "team:;",
               "a@b.c, d@e.f", "a@[1.2.3.4]", "a@b_c.d", "a@münchen.de", "a..b@c.d", "<@route,@r2:a@b.c>", "a\\@b@c.d",
               '"a"b@c.d', "a@b@c", "<a@b.c", "a@b-c.d", "a@-b.c", "a@1.2", " x@y.z", "<a@b.c><d@e.f>", "a@\u00a0b",
               "a@b\u0660", "é@b.c", "a@b.\U0001f600"], _emails),
    "uri": (["http://a:99999999999/", "http://[::1", "http://a@", "mailto:a@b", "urn:x", "a:", ":a", "#", "?", "",
             "http://[::1%]/", "http://[fe80::1%25eth0]/", "http://1.2.3.4.5/", "http://1.2.3/", "http://a..b/",
             "http://a.-b/", "http://user@[::1]:8080/p?q#f", "http://exa mple/", "http://a/%7e"], _uris),
    "date-time": (["0000-02-29T00:00:00Z", "\u0662020-01-01T00:00:00Z", "2020-01-01T23:59:60Z"], _date_times),
    "date": (["0000-02-29", "\u0662\u0660\u0662\u0660-01-01", "12345-01-01"], _dates),
    "ipv4": (["1.2.3.4", "::ffff:1.2.3.4", "01.2.3.4", "1.2.3.4%1"], _ipv4s),
    "ipv6": (["::1", "::ffff:1.2.3.4", "fe80::1%eth0", "1::2::3"], _ipv6s),
    "uuid": (["123e4567-e89b-12d3-a456-426614174000", "+1-2-3-4-5", "1-2-3-4", "\u0663-2-3-4-5"], _uuids),
    "byte": (["", "QQ==", "Q===", "a=b0", "\uffffQQQ"], _base64s),
    "base64": (["QQ==", "QQ=\n", "a=b0", "Q==="], _base64s),
}  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(FORMAT_VALUES))
def test_every_value_of_a_format_is_judged_as_apims_validator_judges_it(fmt, tmp_path):
    hand, made = FORMAT_VALUES[fmt]
    chosen = random.Random(fmt)
    values = hand + [made(chosen) for _ in range(1500)]
    cases = [json_case({"type": "string", "format": fmt}, value) for value in values]
    expected = oai_validator.verdicts(cases, tmp_path)
    differ = [f"{v!r}\n  APIM:    {want}\n  adapter: {got}" for v, c, want in zip(values, cases, expected, strict=True)
              if not same(got := adapter_verdict(c), want)]  # fmt: skip
    assert not differ, f"{len(differ)} of {len(values)} differ:\n" + "\n".join(differ)
    assert 10 < expected.count(None) < len(values) - 10  # both verdicts are reached
