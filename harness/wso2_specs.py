"""WSO2 APIM 4.5's OpenAPI 3.0 definitions of its product REST APIs (tests/wso2_specs, unmodified copies; see
SOURCES.md there), and the one validator the tests and the APIM double share: a request body against an operation's
`requestBody` schema, an answer against its response schema, and the scopes an operation's `security` asks for."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator

from .helpers import ROOT

SPECS = ROOT / "tests" / "wso2_specs"
# Where each product API is served (each spec's `servers`). The DevOps API declares no OAuth2Security: it is not
# one of RestApiCommonUtil.getURITemplatesForBasePath's APIs, so no scope or role is checked on it (harness/apim_rest.py
# `_devops_user` says how it authenticates).
BASE_PATHS = {
    "publisher": "/api/am/publisher/v4",
    "devportal": "/api/am/devportal/v3",
    "admin": "/api/am/admin/v4",
    "devops": "/api/am/devops/v0",
}


class _NoDates(yaml.SafeLoader):
    """The specs contain example dates YAML would turn into datetimes (and some are invalid)."""


_NoDates.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@functools.cache
def spec(name: str) -> dict[str, Any]:
    """`publisher`, `devportal`, `admin`, `devops` or `internal-data`."""
    return yaml.load((SPECS / f"{name}-api.yaml").read_text(), Loader=_NoDates)  # noqa: S506 - a SafeLoader


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref`s: `#/components/schemas/X` (OpenAPI 3) or `#/definitions/X` (the internal API's Swagger 2.0)."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = (
            document["definitions"][name]
            if "/definitions/" in schema["$ref"]
            else document["components"]["schemas"][name]
        )
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


def _initial_value(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """What a generated DTO field holds until a mapping util sets it: the property's `default`, an empty ArrayList
    for a list, an empty HashMap for a map, null for anything else (e.g. admin.v1 `src/gen/.../dto/
    SubscriptionThrottlePolicyDTO.java`: `rateLimitTimeUnit = null`, `customAttributes = new ArrayList<>()`;
    internal.service `APIDTO.java`: `isSubscriptionValidationDisabled = false`, the spec's default). The internal
    service's Swagger 2.0 generator leaves integer defaults out (`ThrottleLimitBaseDTO.java`: `unitTime = null`
    against `default: 0`), and a property with `items` is a list whatever its `type` (publisher `SettingsDTO.java`:
    `subscriberContactAttributes`). Checked against every generated DTO of the four services at 9.31.86."""
    swagger2 = "definitions" in document
    if "default" in schema and not (swagger2 and schema.get("type") == "integer"):
        return copy.deepcopy(schema["default"])
    resolved = _resolve(document, schema)
    if resolved.get("type") == "array" or "items" in resolved:
        return []
    if (
        resolved.get("type") == "object"
        and not _known_properties(document, resolved)
        and "additionalProperties" in resolved
    ):
        return {}
    return None


def as_written(document: dict[str, Any], schema: dict[str, Any] | None, instance: Any) -> Any:
    """An answer as APIM's REST services put it on the wire. Their DTOs are generated from these specs, a field per
    property (`_initial_value`), and written by CXF's stock `com.fasterxml.jackson.jaxrs.json.JacksonJsonProvider`
    (each service's `src/main/webapp/WEB-INF/beans.xml`: admin.v1, publisher.v1, store.v1, internal.service), whose
    default ObjectMapper writes every field, null ones included (no generated DTO carries `@JsonInclude`). So what
    a double leaves unset reaches the client as its initial value, mostly null, and clients must read it so."""
    if schema is None:
        return instance
    resolved = _resolve(document, schema)
    if isinstance(instance, list) and "items" in resolved:
        return [as_written(document, resolved["items"], item) for item in instance]
    if not isinstance(instance, dict):
        return instance
    properties = _known_properties(document, resolved)
    if not properties:
        return instance
    written = {}
    for key, subschema in properties.items():
        written[key] = (
            as_written(document, subschema, instance[key]) if key in instance else _initial_value(document, subschema)
        )
    written.update({key: value for key, value in instance.items() if key not in properties})
    return written


def _required(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    schema = _resolve(document, schema)
    return set(schema.get("required", [])).union(*(_required(document, part) for part in schema.get("allOf", [])))


def as_read(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> Any:
    """A request body as APIM's Jackson binding reads it into the DTO: a null sets the field to null, which for a
    field initialised to null is the same as leaving the property out, so such nulls are dropped here (a client may
    send back what `as_written` gave it). A null in a required property stays, for bean validation to refuse (the
    `@NotNull` of required fields, enforced by the ValidationInInterceptor each service's beans.xml installs)."""
    resolved = _resolve(document, schema)
    if isinstance(instance, list) and "items" in resolved:
        return [as_read(document, resolved["items"], item) for item in instance]
    properties = _known_properties(document, resolved)
    if not isinstance(instance, dict) or not properties:
        return instance
    required = _required(document, resolved)
    return {
        key: as_read(document, properties[key], value) if key in properties else value
        for key, value in instance.items()
        if value is not None or key in required or key not in properties
    }


def operation(api: str, path: str, method: str) -> dict[str, Any]:
    return spec(api)["paths"][path][method.lower()]


def request_schema(api: str, path: str, method: str) -> dict[str, Any]:
    return operation(api, path, method)["requestBody"]["content"]["application/json"]["schema"]


# A `type: object` declaring no properties is generated as java.lang.Object, which Jackson binds to any JSON value:
# in carbon-apimgt's generated publisher DTOs, OperationPolicy's `parameters` (`additionalProperties: {type: object}`)
# is `Map<String, Object>` (dto/OperationPolicyDTO.java), holding the strings the Publisher sends and answers, and
# OperationPolicyData's `supportedApiTypes` (`items: {type: object, properties: {}}`) is `List<Object>` of strings
# such as "HTTP" (dto/OperationPolicyDataDTO.java), and API's `keyManagers` (`type: object, properties: {}` with a
# description) is `Object`, a list of names as the Publisher sends and answers it (dto/APIDTO.java; APIMappingUtil
# .fromDTOtoAPI reads a List).
ANY_VALUE = ({"type": "object"}, {"type": "object", "properties": {}})
ANNOTATIONS = ("description", "readOnly", "example")  # say nothing of the value's type


def _bound_errors(validator: Any, instance: Any) -> list[ValidationError]:
    """The validator's errors but those APIM's Jackson binding does not have (ANY_VALUE)."""
    return [e for e in validator.iter_errors(instance) if not (e.validator == "type" and _any_value(e.schema))]


def _any_value(schema: Any) -> bool:
    return isinstance(schema, dict) and {k: v for k, v in schema.items() if k not in ANNOTATIONS} in ANY_VALUE


def request_errors(api: str, path: str, method: str, body: Any, read_only_allowed: bool = False) -> list[str]:
    """Why `body` is not a valid request body of the operation (empty when it is): schema violations, then keys the
    schema does not declare. `read_only_allowed`: accept readOnly properties (`id`, ...), as APIM's Jackson binding
    does (the impls then ignore them, so a GET answer can be PUT back); what we send ourselves leaves them out."""
    document = spec(api)
    schema = request_schema(api, path, method)
    validator_class = OAS30ReadValidator if read_only_allowed else OAS30WriteValidator
    validator = validator_class({**schema, "components": document["components"]})
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in _bound_errors(validator, body)]
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


def validate_response(
    api: str, path: str, method: str, status: int, body: Any, schema: dict[str, Any] | None = None
) -> None:
    """Raise ValidationError unless `body` is what the spec declares for that status (or what `schema` says, where
    the implementation answers otherwise than the spec)."""
    if schema is None:
        schema = response_schema(api, path, method, status)
    if schema is None:
        if body not in (None, ""):
            raise ValidationError(f"{method.upper()} {path} {status}: the spec declares no JSON body")
        return
    for error in _bound_errors(OAS30ReadValidator({**schema, "components": spec(api)["components"]}), body):
        raise error


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
        # JAX-RS 2.0 §3.7.3 (CXF's URITemplate): a template's final '/' is dropped and `(/.*)?` appended, and a
        # method matches when that group is empty or '/': the DevOps API's `/tenant-logs/{tenant}/apis/` answers
        # `.../apis` (as its own curl samples call it) and `.../apis/` alike, as every template does with a '/' more.
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path.rstrip("/")))
        out.append((re.compile(f"^{pattern}/?$"), path))
    # Literal segments win over parameters (/apis/change-lifecycle before /apis/{apiId}).
    out.sort(key=lambda pair: pair[1].count("{"))
    return out


def path_template(api: str, path: str) -> str | None:
    """The spec's path template a concrete path (below the API's base path) falls under."""
    return next((template for pattern, template in _templates(api) if pattern.match(path)), None)
