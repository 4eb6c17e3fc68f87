"""WSO2 APIM 4.5's OpenAPI 3.0 definitions of its product REST APIs (tests/wso2_specs, unmodified copies; see
SOURCES.md there), and the one validator the tests and the APIM double share: a request body against an operation's
`requestBody` schema, an answer against its response schema, and the scopes an operation's `security` asks for."""

from __future__ import annotations

import functools
import re
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator

from .helpers import ROOT

SPECS = ROOT / "tests" / "wso2_specs"
# Where each product API is served (each spec's `servers`).
BASE_PATHS = {
    "publisher": "/api/am/publisher/v4",
    "devportal": "/api/am/devportal/v3",
    "admin": "/api/am/admin/v4",
}


class _NoDates(yaml.SafeLoader):
    """The specs contain example dates YAML would turn into datetimes (and some are invalid)."""


_NoDates.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@functools.cache
def spec(name: str) -> dict[str, Any]:
    """`publisher`, `devportal` or `admin`."""
    return yaml.load((SPECS / f"{name}-api.yaml").read_text(), Loader=_NoDates)  # noqa: S506 - a SafeLoader


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _known_properties(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(document, schema)
    properties = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        properties.update(_known_properties(document, part))
    return properties


def unknown_keys(document: dict[str, Any], schema: dict[str, Any], instance: Any, where: str = "") -> list[str]:
    """Keys the schema does not declare. The specs allow extra properties, but APIM's Jackson binding does not:
    carbon-apimgt `rest.api.util/.../exception/GlobalThrowableMapper.java` answers an UnrecognizedPropertyException
    with 400 "Unrecognized property 'x'"."""
    schema = _resolve(document, schema)
    if isinstance(instance, list) and "items" in schema:
        return [k for item in instance for k in unknown_keys(document, schema["items"], item, where + "[]")]
    if not isinstance(instance, dict):
        return []
    properties = _known_properties(document, schema)
    if not properties or schema.get("additionalProperties") not in (None, False):
        return []
    found = [f"{where}.{key}" for key in instance if key not in properties]
    for key, value in instance.items():
        if key in properties:
            found += unknown_keys(document, properties[key], value, f"{where}.{key}")
    return found


def operation(api: str, path: str, method: str) -> dict[str, Any]:
    return spec(api)["paths"][path][method.lower()]


def request_schema(api: str, path: str, method: str) -> dict[str, Any]:
    return operation(api, path, method)["requestBody"]["content"]["application/json"]["schema"]


def request_errors(api: str, path: str, method: str, body: Any, read_only_allowed: bool = False) -> list[str]:
    """Why `body` is not a valid request body of the operation (empty when it is): schema violations, then keys the
    schema does not declare. `read_only_allowed`: accept readOnly properties (`id`, ...), as APIM's Jackson binding
    does (the impls then ignore them, so a GET answer can be PUT back); what we send ourselves leaves them out."""
    document = spec(api)
    schema = request_schema(api, path, method)
    validator_class = OAS30ReadValidator if read_only_allowed else OAS30WriteValidator
    validator = validator_class({**schema, "components": document["components"]})
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in validator.iter_errors(body)]
    return errors + [f"{key}: unrecognized property" for key in unknown_keys(document, schema, body)]


def response_schema(api: str, path: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of an answer, None when the spec gives the status no JSON body."""
    answers = operation(api, path, method)["responses"]
    answer = answers.get(status, answers.get(str(status)))  # YAML reads unquoted codes as integers
    if answer is None:
        raise KeyError(f"{method.upper()} {path} declares no {status} answer")
    document = spec(api)
    while "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    content = answer.get("content", {}).get("application/json")
    return None if content is None else content.get("schema")


def validate_response(api: str, path: str, method: str, status: int, body: Any) -> None:
    """Raise ValidationError unless `body` is what the spec declares for that status."""
    schema = response_schema(api, path, method, status)
    if schema is None:
        if body not in (None, ""):
            raise ValidationError(f"{method.upper()} {path} {status}: the spec declares no JSON body")
        return
    OAS30ReadValidator({**schema, "components": spec(api)["components"]}).validate(body)


def required_scopes(api: str, path: str, method: str) -> list[str] | None:
    """The scopes of the operation's (or the spec's) OAuth2Security requirement: any one of them is enough
    (carbon-apimgt `rest.api.common/.../RestApiCommonUtil.java` `validateScopes`). An empty list: a token is
    optional (anonymous access, as the devportal's API listing allows)."""
    security = operation(api, path, method).get("security", spec(api).get("security"))
    if not security:
        return []
    return list(security[0].get("OAuth2Security", []))


@functools.cache
def _templates(api: str) -> list[tuple[re.Pattern[str], str]]:
    out = []
    for path in spec(api)["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
        out.append((re.compile(f"^{pattern}$"), path))
    # Literal segments win over parameters (/apis/change-lifecycle before /apis/{apiId}).
    out.sort(key=lambda pair: pair[1].count("{"))
    return out


def path_template(api: str, path: str) -> str | None:
    """The spec's path template a concrete path (below the API's base path) falls under."""
    return next((template for pattern, template in _templates(api) if pattern.match(path)), None)
