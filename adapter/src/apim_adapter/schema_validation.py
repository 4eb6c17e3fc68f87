"""APIM's Schema Validation: each request of an API with `enableSchemaValidation` checked against the API's OpenAPI
definition, and answered 400 where the check finds errors.

APIM 4.5's gateway does it with its `SchemaValidator` handler (carbon-apimgt 9.31.86 `gateway/handlers/security/
SchemaValidator.java`, engaged by velocity_template.xml), which hands Atlassian's swagger-request-validator
(`OpenApiInteractionValidator`, WSO2's build of 2.12.1) the request as `OpenAPIRequest` builds it and the definition
as `APIMgtLatencyStatsHandler.setSwaggerToMessageContext` parsed it. This module is that validator, read top to
bottom in its own order, for what an authorization check sees of a request; the parity tests hold it to the real
library (2.12.0 from Maven Central, run by harness/oai_validator.py) on every case they make.

The definitions validated: OpenAPI 3.0, and Swagger 2.0 as the gateway's parser converts it to 3.0 (OpenAPIParser
hands a document without `openapi` to swagger-parser-v2-converter 2.1.22's SwaggerConverter, which reads it through
the lossy swagger-models 1.x: _from_swagger2), its header parameters then checked twice (not HeaderParameters, APIM's
lowercasing keeps them and adds them again). OpenAPI 3.1 is not (UnsupportedDefinition): APIM's parser reads it, but
the 3.0 validator then loses its schemas' `type`, array `items` and additionalProperties, and checks the rest.

What APIM hands the library (`OpenAPIRequest`, `SchemaValidationUtils`, `APIMgtLatencyStatsHandler`):
- the path after the API's context and version, without its query; `/` becomes `/*` where the definition has `/*`
  and not `/` (`validatePath`);
- the transport headers, one value each, every name in lower case but `Content-Type`, looked up by exact name: so the
  library never finds `Accept` or `Cookie` (it asks for those spellings): no Accept check, and a required cookie
  parameter is always missing. Header parameters' names are lowered in the definition
  (`convertHeadersToLowercase`) and found;
- the query string split at `&`, each pair at its first `=`, both URL-decoded, the last of a repeated name kept
  (`getQueryParams`); a pair without `=` makes APIM's handler fail (`substring(0, -1)`), answered here as a failed
  validation naming the pair;
- the body as a string (`getMessageContent`): a form body not as sent but as the gateway's message builder read it,
  written as JSON (`{"xformValues":{...}}`, axis2_forms), which the library then reads as a form: its one name is
  that whole text, so a form schema's required properties are never found; no body where that writing fails.

What the library checks, in its order (`RequestValidator.validateRequest`): the path and the operation
(`ApiOperationResolver`, after the first server's base path), the operation's security requirements (API keys in
a header or the query, HTTP basic and bearer; OAuth2 and OpenID Connect schemes are not checked), the Content-Type
against the request body's media types, header parameters, path parameters, the body (unexpected, missing, or a
JSON or form body against its schema), query parameters (deep-object ones as an object), query parameters the
operation does not declare (an error: APIM's level resolver keeps the library's ERROR for it), cookie parameters.
Schemas are validated as fge's json-schema-validator 2.2.11 validates JSON Schema draft 4 (its messages, keyword
order, `deepCheck`), with OpenAPI's `nullable`, `readOnly` required properties dropped for requests, and the
library's formats (int32, int64, float, double, date, byte); `additionalProperties` is not injected (APIM ignores
that key).

A schema is read as swagger-parser's model holds it (_model: the keywords OpenAPI 3.0's Schema Object lacks dropped,
the others given the model's types, types inferred), a pattern as Rhino reads and runs it (ecma262), and a schema fge
finds invalid answered with fge's syntax report (_syntax_report). The `email`, `hostname` and `uri` formats are
their Java libraries' (java_formats).

A body that does not parse as JSON is refused with Jackson's own message (jackson_errors).

Approximations, named in docs/wso2-control-plane.md: three defects of Rhino's interpreter (ecma262's docstring)
are not reproduced; a `date` enum's midnight is UTC's (the model's is the JVM's zone); a form body is read as UTF-8
whatever charset its Content-Type names (the builder decodes by it); in a Swagger 2.0 body schema's enum, a `date` or
`date-time` value read here neither as `yyyy-MM-dd` nor as an ISO date-time but holding a digit (Jackson reads
timestamps, RFC 1123 and other forms) is kept as written, and a `date-time` in a definition's model, which APIM's
parser fails on, fails here only at validation. A Swagger 2.0
body schema whose `date`, `date-time` or `uuid` enum value Jackson cannot read fails APIM's parser, so its gateway
fails every call to the API: DefinitionError here.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

from . import axis2_forms, axis2_multipart, ecma262, jackson_errors, java_formats, java_strings

# Why a body nested deeper than Python's parser or the schema walk go is refused (Jackson's limit is 1,000 levels).
TOO_DEEP = "Document nesting depth exceeds the maximum allowed"
# The schemas of one definition whose plans are kept (a definition's schemas are finite: this bounds a huge one).
MAX_PLANS = 10_000
PREFIX = "Schema validation failed in the Request: "  # SchemaValidator.handleRequest's errMessage
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")  # PathItem.readOperationsMap


class DefinitionError(ValueError):
    """A definition that cannot be read as an OpenAPI document (what is wrong with it)."""


def _as_json(value: Any) -> Any:
    """A document as JSON has it: mappings with text keys, lists, and scalars, anything else (a YAML date) as text."""
    if isinstance(value, Mapping):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float | Decimal):
        return value
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


class UnsupportedDefinition(DefinitionError):
    """An OpenAPI document of a version this module does not validate requests against (OpenAPI 3.1)."""


@dataclass(frozen=True, slots=True)
class OpenApiRequest:
    """A request as APIM's `OpenAPIRequest` hands it to the library (`request_of` builds one)."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: str | None = None
    gateway_failure: str | None = None  # why APIM's gateway fails the request before the validator sees it


def request_of(
    method: str, postfix: str, headers: Mapping[str, str], body: str | None, sent: bytes | None = None
) -> OpenApiRequest:
    """`OpenAPIRequest` of a request: `postfix` its path and query after the API's context (REST_SUB_REQUEST_PATH),
    `headers` its transport headers (any case), `body` its body as a string (None: none), `sent` its bytes (by
    default the string's UTF-8).

    `SchemaValidationUtils.getMessageContent` builds a form or multipart body and hands the validator its element
    written as JSON. Whatever the builder throws, RelayUtils.buildMessage rethrows as an AxisFault, which
    getMessageContent logs: the validator then gets no body (as where the JSON conversion fails)."""
    path, has_query, query = postfix.partition("?")
    if not has_query:
        path = postfix.partition("#")[0]
    named = {("Content-Type" if k.lower() == "content-type" else k.lower()): v for k, v in headers.items()}
    failure = None
    content_type = named.get("Content-Type")
    raw = (body or "").encode("utf-8", "surrogatepass") if sent is None else sent
    if body and content_type is not None and axis2_forms.is_form(content_type):
        charset = axis2_forms.message_charset(content_type)
        try:  # the form as Axis2 built it, in the charset the transport gives it, as JSON
            body = axis2_forms.validator_body(postfix, axis2_forms.read_body(raw, charset), charset)
        except axis2_forms.GatewayFailure:
            body = None
    elif body and content_type is not None and axis2_multipart.is_multipart(content_type):
        # The validator reads no multipart content (it has no validator for the type): only whether there is one.
        body = body if axis2_multipart.converts(content_type, raw) else None
    params: dict[str, str] = {}
    if query:
        # SchemaValidationUtils.getQueryParams: the text between the first and a second `?`, split at `&`.
        for pair in query.split("?")[0].split("&"):
            name, eq, value = pair.partition("=")
            if not eq:
                failure = failure or f"Query parameter '{pair}' has no value (APIM's gateway fails such a request)"
                continue
            try:
                params[java_strings.url_decode(name)] = java_strings.url_decode(value)
            except ValueError:  # URLDecoder's IllegalArgumentException: not the UnsupportedEncodingException caught
                # The parameter is named, not its value (an API key's, say).
                malformed = f"Query parameter '{name[:64]}' has a malformed % escape"
                failure = failure or f"{malformed} (APIM's gateway fails such a request)"
    return OpenApiRequest(method.upper(), path, named, params, body, failure)


# ---- the definition ----


class Definition:
    """An OpenAPI 3.0 definition, or a Swagger 2.0 one converted to it (`converted`), as APIM's gateway parses it
    (resolved, header parameter names in lower case)."""

    def __init__(self, document: Mapping[str, Any]):
        # A YAML catalog file's loader reads an unquoted date as a date, where Jackson's YAML reads text: as text here.
        document = _as_json(document)
        # OpenAPIParser.readContents: a Swagger 2.0 document is read as SwaggerConverter converts it (`swagger: 2.0`
        # in YAML is a number, its text the same).
        self.converted = "openapi" not in document and str(document.get("swagger")) == "2.0"
        if self.converted:
            document = _from_swagger2(document)
        version = str(document.get("openapi", ""))
        if not version.startswith("3.0"):
            named = f"Swagger {document['swagger']}" if "swagger" in document else f"OpenAPI {version or '?'}"
            raise UnsupportedDefinition(
                f"{named} definitions are not validated here (Swagger 2.0 and OpenAPI 3.0 only)"
            )
        self.document = document
        self.plans: dict[tuple[int, bool], Any] = {}  # _Validator's, by schema: bounded by MAX_PLANS
        self.syntax: dict[int, str | None] = {}  # _syntax_report's, by schema: bounded by MAX_PLANS
        self.models: dict[int, Any] = {}  # _model's, by schema object: bounded by MAX_PLANS
        self._check_references(document)
        components = document.get("components")
        self.schemes: Mapping[str, Any] = (components or {}).get("securitySchemes") or {}
        self.base = _base_path(document.get("servers"))
        self.paths: list[_ApiPath] = []
        for template, item in (document.get("paths") or {}).items():
            item = self.resolve(item)
            if not isinstance(item, Mapping):
                continue
            shared = [self.resolve(p) for p in item.get("parameters") or []]
            operations = {}
            for method in METHODS:
                operation = item.get(method)
                if isinstance(operation, Mapping):
                    operations[method.upper()] = _Operation.of(self, operation, shared)
            self.paths.append(_ApiPath(str(template), self.base, operations))

    @classmethod
    def parse(cls, text: str | bytes) -> Definition:
        try:
            document = json.loads(text)
        except ValueError:
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise DefinitionError(f"not JSON nor YAML: {type(exc).__name__}") from None
        if not isinstance(document, Mapping):
            raise DefinitionError("not an OpenAPI document")
        return cls(document)

    def resolve(self, node: Any, seen: frozenset[str] = frozenset()) -> Any:
        """`node` with its `$ref` followed (local references only, `#/...`)."""
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                raise DefinitionError(f"$ref {ref!r}: only local, acyclic references are followed")
            seen = seen | {ref}
            target: Any = self.document
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or part not in target:
                    raise DefinitionError(f"$ref {ref!r}: not in the definition")
                target = target[part]
            node = target
        return node

    def _check_references(self, node: Any) -> None:
        """Every `$ref` of the document leads somewhere (swagger-parser resolves them all when the gateway loads the
        definition); DefinitionError naming the first that does not."""
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, Mapping):
                if isinstance(current.get("$ref"), str):
                    self.resolve(current)
                stack.extend(current.values())
            elif isinstance(current, list):
                stack.extend(current)

    def _validated_path(self, request: OpenApiRequest) -> str:
        """OpenAPIRequest.validatePath: `/` is `/*` where the definition has `/*` and not `/`."""
        templates = {p.template for p in self.paths}
        return "/*" if request.path == "/" and "/" not in templates and "/*" in templates else request.path

    def requires_body(self, request: OpenApiRequest) -> bool:
        """Whether the operation `request` is for requires a request body (no such operation: False)."""
        found = _find_operation(self.paths, self._validated_path(request), request.method, self.base)
        return not isinstance(found, str) and found[1].body is not None and found[1].body.get("required") is True

    def problems(self, request: OpenApiRequest) -> list[str]:
        """The library's error messages for `request`, in its order (empty: valid)."""
        path = self._validated_path(request)
        if request.gateway_failure is not None:
            return [request.gateway_failure]
        found = _find_operation(self.paths, path, request.method, self.base)
        if isinstance(found, str):
            return [found]
        api_path, operation, request_path = found
        messages: list[str] = []
        messages += self._security(request, operation, path)
        messages += _content_type(request, operation)
        for p in operation.parameters:
            if p.where == "header":
                messages += _parameter(p, request.headers.get(p.name), "header", api_path.template, self)
        for index, part in enumerate(api_path.parts):
            if "{" not in part:
                continue
            for name, value in _param_values(part, request_path.parts[index]).items():
                declared = [q for q in operation.parameters if q.where == "path" and q.name.lower() == name.lower()]
                if declared:
                    messages += _value(declared[0], value, self)
        messages += _body(request, operation, self)
        for p in operation.parameters:
            if p.where == "query" and p.style != "deepObject":
                messages += _parameter(p, request.query.get(p.name), "query", api_path.template, self)
        for p in operation.parameters:
            if p.where == "query" and p.style == "deepObject":
                messages += _deep_object(request, p, api_path.template, self)
        allowed = {p.name for p in operation.parameters if p.where == "query"}
        allowed |= {
            str(s.get("name")) for s in self.schemes.values() if isinstance(s, Mapping) and s.get("in") == "query"
        }
        for name in request.query:
            if name in allowed or any(re.fullmatch(re.escape(a) + r"\[(\S*)\]", name) for a in allowed if a):
                continue
            messages.append(f"Query parameter '{name}' is unexpected on path \"{api_path.template}\"")
        for p in operation.parameters:
            if p.where == "cookie" and p.required:  # APIM's headers have no `Cookie`, only `cookie`
                messages.append(
                    f"Cookie parameter '{p.name}' is required on path '{api_path.template}' but not found in request."
                )
        return messages

    def detail(self, request: OpenApiRequest) -> str | None:
        """APIM's answer's description for `request` (None: valid): SchemaValidator.handleRequest's message."""
        found = self.problems(request)
        return PREFIX + "".join(f"{m}, " for m in found) if found else None

    def _security(self, request: OpenApiRequest, operation: _Operation, path: str) -> list[str]:
        """SecurityValidator: the operation's own `security` (none: nothing); a requirement fulfilled passes."""
        if not operation.security or not self.schemes:
            return []
        missing = f"{request.method} on path '{path}' requires security parameters. None found."
        invalid = f"{request.method} on path '{path}' has invalid security parameters."
        reports = []
        for requirement in operation.security:
            report: list[str] = []
            for name in requirement if isinstance(requirement, Mapping) else ():
                scheme = self.resolve(self.schemes.get(name))
                if isinstance(scheme, Mapping):
                    report += _scheme_problems(request, scheme, missing, invalid)
            reports.append(report)
        if any(not r for r in reports):
            return []
        if all(all(m == missing for m in r) for r in reports):
            return [missing]
        fewest = [r for r in reports if missing not in r]
        return fewest[0] if fewest else [m for r in reports for m in r]


def _scheme_problems(request: OpenApiRequest, scheme: Mapping[str, Any], missing: str, invalid: str) -> list[str]:
    kind = str(scheme.get("type", "")).lower()
    if kind == "apikey":
        where, name = scheme.get("in"), str(scheme.get("name", ""))
        if where == "header":
            return [] if request.headers.get(name) else [missing]
        if where == "query":
            return [] if name in request.query else [missing]
        if where == "cookie":
            return [missing]  # APIM's headers have no `Cookie`
        return []
    if kind == "http" and str(scheme.get("scheme", "")).lower() in ("basic", "bearer"):
        prefix = "Basic " if str(scheme["scheme"]).lower() == "basic" else "Bearer "
        # Request.getHeaderValue("Authorization"): APIM's headers are keyed in lower case, and its authenticators
        # took the credential out before this handler runs.
        value = request.headers.get("Authorization")
        return [missing] if value is None else ([] if value.startswith(prefix) else [invalid])
    return []


def _base_path(servers: Any) -> str:
    """ApiOperationResolver.getBasePathFrom: the path of the first server's URL (its variables' defaults put in)."""
    if not isinstance(servers, list):
        return "/"
    for server in servers:
        if not isinstance(server, Mapping):
            continue
        url = server.get("url")
        if url is None:
            return "/"
        url = str(url)
        for name, variable in (server.get("variables") or {}).items():
            default = str((variable or {}).get("default") or "").strip()
            url = url.replace("{" + str(name) + "}", default)
        try:
            parsed = urllib.parse.urlsplit(url)
        except ValueError:
            return url
        return parsed.path if (parsed.scheme or url.startswith("/") or parsed.path) else ""
    return "/"


# ---- Swagger 2.0, as APIM's parser converts it ----

# swagger-models 1.6.14 ByteArrayProperty: the pattern PropertyBuilder.Processor.BYTE_ARRAY.merge gives every `byte`
# property in place of its own (and its enum dropped).
_BASE64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


def _from_swagger2(document: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.0 document APIM's gateway validates a Swagger 2.0 definition against. OpenAPIParser.readContents
    hands a document without `openapi` to SwaggerConverter (swagger-parser-v2-converter 2.1.22), which reads it with
    swagger-parser 1.0.70 into swagger-models 1.6.14 (SwaggerDeserializer; SwaggerResolver, which moves the path's
    parameters into its operations and puts `#/parameters/` references in place) and converts that model
    (SwaggerConverter.convert(SwaggerDeserializationResult)). The 1.x model is lossy and the conversion goes through
    it, so a keyword 2.0 allows is not always kept: what is dropped here is what they drop (_v2_model, _v2_property).
    Only what request validation reads is carried over: servers, paths' operations (parameters, request body,
    security), `definitions` as `components.schemas` (references rewritten), `securityDefinitions` as
    `components.securitySchemes`; not responses, produces, examples, descriptions, defaults nor vendor extensions
    but `x-nullable`."""
    root_parameters = document.get("parameters")
    root_parameters = root_parameters if isinstance(root_parameters, Mapping) else {}
    consumes = _v2_strings(document.get("consumes"))
    paths: dict[str, Any] = {}
    for template, item in _v2_object(document.get("paths")).items():
        if str(template).startswith("x-") or not isinstance(item, Mapping):
            continue  # SwaggerDeserializer.paths: unsupported, or not an object
        if isinstance(item.get("$ref"), str):  # a RefPath, converted as it is (SwaggerConverter.convert(Path))
            paths[str(template)] = {"$ref": item["$ref"]}
            continue
        shared = [p for p in _v2_list(item.get("parameters")) if isinstance(p, Mapping)]
        converted: dict[str, Any] = {}
        for method in ("get", "put", "post", "head", "delete", "patch", "options"):  # SwaggerDeserializer.path
            operation = item.get(method)
            if isinstance(operation, Mapping):
                converted[method] = _v2_operation(operation, shared, root_parameters, consumes)
        paths[str(template)] = converted
    # SwaggerConverter.convert(SwaggerDeserializationResult): each definition SwaggerDeserializer.definitions reads (an
    # object) converted by convert(Model), each security definition by convert(SecuritySchemeDefinition).
    definitions = _v2_object(document.get("definitions"))
    schemas = {str(k): _v2_model(v) for k, v in definitions.items() if isinstance(v, Mapping)}
    security_definitions = _v2_object(document.get("securityDefinitions")).items()
    schemes = {str(k): s for k, v in security_definitions if (s := _v2_security_scheme(v)) is not None}
    out: dict[str, Any] = {
        "openapi": "3.0.1",
        "info": document.get("info") if isinstance(document.get("info"), Mapping) else {},
        "servers": _v2_servers(document),
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": schemes},
    }
    security = _v2_security(document.get("security"))
    if security:  # convertSecurityRequirements, where the definition has some
        out["security"] = security
    return out


def _v2_object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _v2_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _v2_strings(value: Any) -> list[str]:
    """SwaggerDeserializer's `consumes`: each value node's text, in order."""
    return [text for v in _v2_list(value) if (text := _v2_text(v)) is not None]


def _v2_text(value: Any) -> str | None:
    """SwaggerDeserializer.getString: a value node's text (JsonNode.asText), else nothing."""
    if value is None or isinstance(value, Mapping | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _v2_bool(value: Any) -> bool | None:
    """SwaggerDeserializer.getBoolean: a boolean, or a string Boolean.parseBoolean reads; else nothing."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    return None


def _v2_number(value: Any) -> Any:
    """SwaggerDeserializer.getBigDecimal and getInteger's number nodes (getInteger keeps their int part)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _v2_int(value: Any) -> int | None:
    number = _v2_number(value)
    return None if number is None else int(number)


def _v2_servers(document: Mapping[str, Any]) -> list[dict[str, str]]:
    """SwaggerConverter.convert(List<Scheme>, host, basePath): `host` and `basePath` (`/` without one) as one URL per
    scheme, or scheme-relative (`//host/base`) without schemes. Only the first's path matters (_base_path)."""
    host, base = _v2_text(document.get("host")), _v2_text(document.get("basePath"))
    url = base or "/"
    if host:
        url = host + url
    schemes = [s for s in _v2_strings(document.get("schemes")) if s in ("http", "https", "ws", "wss")]  # Scheme
    if not url.startswith("/") and schemes:
        return [{"url": f"{scheme}://{url}"} for scheme in schemes]
    if not url.startswith("/") and url != "/":
        url = "//" + url
    return [{"url": url}]


def _v2_security(value: Any) -> list[dict[str, list[str]]]:
    """SwaggerDeserializer.securityRequirements then SwaggerConverter.convertSecurityRequirements(Map): each
    requirement its schemes' scopes (an item that is not an object an empty requirement)."""
    return [
        {str(k): [s for s in _v2_list(v) if isinstance(s, str)] for k, v in _v2_object(item).items()}
        for item in _v2_list(value)
    ]


def _v2_security_scheme(node: Any) -> dict[str, Any] | None:
    """SwaggerDeserializer.securityDefinition then SwaggerConverter.convert(SecuritySchemeDefinition): basic as HTTP
    basic (createBasicSecurityScheme), apiKey in a header or the query (convertApiKeySecurityScheme; elsewhere the
    1.x parser keeps none), oauth2 with its flow (convertOauth2SecurityScheme); another type is dropped."""
    if not isinstance(node, Mapping):
        return None
    kind = _v2_text(node.get("type"))
    if kind == "basic":
        return {"type": "http", "scheme": "basic"}
    if kind == "apiKey":
        where, name = _v2_text(node.get("in")), _v2_text(node.get("name"))
        return {"type": "apiKey", "name": name, "in": where} if name and where in ("header", "query") else None
    if kind == "oauth2":
        flows = {"implicit": "implicit", "password": "password", "application": "clientCredentials",
                 "accessCode": "authorizationCode"}  # fmt: skip
        flow: dict[str, Any] = {"scopes": {str(k): _v2_text(v) for k, v in _v2_object(node.get("scopes")).items()}}
        for key in ("authorizationUrl", "tokenUrl"):
            if _v2_text(node.get(key)) is not None:
                flow[key] = _v2_text(node.get(key))
        named = flows.get(_v2_text(node.get("flow")) or "")
        return {"type": "oauth2", "flows": {named: flow} if named else {}}
    return None


def _v2_schema_ref(ref: str) -> str:
    """A schema reference as SwaggerConverter rewrites it (`#/definitions/` to `#/components/schemas/`); a bare name
    is a definition's (swagger-models' GenericRef, RefFormat.INTERNAL)."""
    if ref.startswith("#/definitions"):
        return "#/components/schemas" + ref[len("#/definitions") :]
    if not any(c in ref for c in "#/") and not ref.startswith((".", "http")):
        return "#/components/schemas/" + ref
    return ref


def _v2_parameter_ref(ref: str, root_parameters: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """ResolverCache.loadRef of a parameter's `$ref`: the root parameter it names (`#/parameters/<name>`, or the bare
    name), else nothing (left a reference)."""
    name = ref[len("#/parameters/") :] if ref.startswith("#/parameters/") else ref
    if name != ref or not any(c in ref for c in "#/."):
        found = root_parameters.get(name)
        if isinstance(found, Mapping) and not isinstance(found.get("$ref"), str) and _v2_read_parameter(found):
            return found
    return None


def _v2_read_parameter(p: Mapping[str, Any]) -> bool:
    """Whether SwaggerDeserializer.parameter makes a parameter of `p`: a `$ref`, or one `in` a place 2.0 has."""
    return isinstance(p.get("$ref"), str) or _v2_text(p.get("in")) in ("query", "header", "path", "formData", "body")


def _v2_operation(
    operation: Mapping[str, Any],
    shared: list[Mapping[str, Any]],
    root_parameters: Mapping[str, Any],
    global_consumes: list[str],
) -> dict[str, Any]:
    """SwaggerConverter.convert(Operation) of an operation as SwaggerResolver leaves it."""
    own = [p for p in _v2_list(operation.get("parameters")) if isinstance(p, Mapping) and _v2_read_parameter(p)]
    shared = [p for p in shared if _v2_read_parameter(p)]

    def same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        inline = not isinstance(a.get("$ref"), str) and not isinstance(b.get("$ref"), str)
        return inline and a.get("in") == b.get("in") and _v2_text(a.get("name")) == _v2_text(b.get("name"))

    # PathsProcessor.processPaths: the path's parameters put first into each operation, but those the operation has
    # (the same `in` and name, neither a reference).
    listed = [p for p in shared if not any(same(p, q) for q in own)] + own
    # ParameterProcessor.processParameters: a reference put in place; one named as a parameter already listed (or
    # inline anywhere in the list) replaces the first of that name instead ("ref param wins").
    parameters: list[Mapping[str, Any]] = []
    winners: list[Mapping[str, Any]] = []
    names = {_v2_text(p.get("name")) for p in listed if not isinstance(p.get("$ref"), str)} - {None}
    for p in listed:
        if not isinstance(p.get("$ref"), str):
            parameters.append(p)
            continue
        resolved = _v2_parameter_ref(p["$ref"], root_parameters)
        if resolved is None:
            parameters.append(p)
            continue
        name = _v2_text(resolved.get("name"))
        matched = name is not None and (name in names or any(_v2_text(q.get("name")) == name for q in parameters))
        (winners if matched else parameters).append(resolved)
    for winner in winners:
        for index, p in enumerate(parameters):
            if _v2_text(p.get("name")) == _v2_text(winner.get("name")):
                parameters[index] = winner
                break
    consumes = _v2_strings(operation.get("consumes")) or global_consumes  # an empty list is the document's
    out: dict[str, Any] = {}
    converted, form = [], []
    for p in parameters:
        where = _v2_text(p.get("in"))
        if isinstance(p.get("$ref"), str):  # not resolved: convert(Parameter) rewrites it to components
            ref = str(p["$ref"])
            converted.append({"$ref": "#/components/parameters" + ref[len("#/parameters") :]
                              if ref.startswith("#/parameters") else ref})  # fmt: skip
        elif where == "formData":
            form.append(p)
        elif where == "body":
            out["requestBody"] = _v2_body(p, consumes)
        else:
            converted.append(_v2_parameter(p))
    if converted:
        out["parameters"] = converted
    if form:
        out["requestBody"] = _v2_form(form, consumes)
    if isinstance(operation.get("security"), list):
        out["security"] = _v2_security(operation["security"])
    return out


def _v2_parameter(p: Mapping[str, Any]) -> dict[str, Any]:
    """SwaggerConverter.convert(Parameter) of a query, header or path parameter, as SwaggerDeserializer.parameter
    reads it: an array's collectionFormat as its style (csv the default: form, not exploded, in the query; simple in
    a header or the path; multi exploded form, ssv and pipes spaceDelimited and pipeDelimited in the query only; tsv
    and the others in a header or path none), its items a property (_v2_property); another type's keywords all kept
    whatever the type, `multipleOf` as a double; `enum` read as text then typed as the parameter's type is; a path
    parameter required, whatever it says."""
    where = str(p.get("in"))
    out: dict[str, Any] = {"name": _v2_text(p.get("name")), "in": where}
    if _v2_bool(p.get("allowEmptyValue")) is not None:
        out["allowEmptyValue"] = _v2_bool(p.get("allowEmptyValue"))
    kind, fmt = _v2_text(p.get("type")), _v2_text(p.get("format"))
    schema: dict[str, Any]
    if kind == "array":
        schema = {"type": "array"}
        collection = _v2_text(p.get("collectionFormat")) or "csv"
        if where == "query" and collection in ("ssv", "pipes", "multi"):
            out["style"] = {"ssv": "spaceDelimited", "pipes": "pipeDelimited", "multi": "form"}[collection]
            if collection == "multi":
                out["explode"] = True
        elif collection not in ("ssv", "pipes", "multi", "tsv") and where in ("query", "header", "path"):
            out["style"], out["explode"] = ("form" if where == "query" else "simple"), False
        _v2_array(p, schema)
    else:
        schema = {"type": kind} if kind is not None else {}
        if fmt is not None:
            schema["format"] = fmt
        _v2_bounds(p, schema, double_multiple=True)
        for key in ("minLength", "maxLength"):
            if _v2_int(p.get(key)) is not None:
                schema[key] = _v2_int(p.get(key))
        if _v2_text(p.get("pattern")) is not None:
            schema["pattern"] = _v2_text(p.get("pattern"))
    if isinstance(p.get("enum"), list) and (kind, fmt) != ("string", "byte"):  # ByteArraySchema casts none
        values = _v2_enum_text(p["enum"])
        typed = [_v2_typed(v, kind or "object", None if kind == "array" else fmt) for v in values]
        if (kind, fmt) in (("number", "float"), ("number", "double")):
            typed = [v if isinstance(v, str) else float(v) for v in typed]
        elif (kind, fmt) == ("string", "binary"):  # BinarySchema: the bytes, written in base64
            typed = [base64.b64encode(v.encode()).decode() for v in typed]
        schema["enum"] = typed
    _v2_nullable(p, schema)
    if _v2_bool(p.get("required")) is True or where == "path":  # OpenAPI 3's Parameter.setIn("path") requires it
        out["required"] = True
    out["schema"] = schema
    return out


def _v2_bounds(node: Mapping[str, Any], schema: dict[str, Any], double_multiple: bool = False) -> None:
    """minimum, maximum, their exclusive flags and multipleOf, as a 2.0 parameter or definition keeps them."""
    for key in ("maximum", "minimum"):
        if _v2_number(node.get(key)) is not None:
            schema[key] = node[key]
    for key in ("exclusiveMaximum", "exclusiveMinimum"):
        if _v2_bool(node.get(key)) is not None:
            schema[key] = _v2_bool(node.get(key))
    multiple = _v2_number(node.get("multipleOf"))
    if multiple is not None:  # a parameter's: AbstractSerializableParameter.setMultipleOf(Double)
        schema["multipleOf"] = float(multiple) if double_multiple else multiple


def _v2_typed(value: str, kind: str, fmt: str | None, *, in_body: bool = False) -> Any:
    """An enum value read as text, as the OpenAPI 3 schema of `kind` holds it: IntegerSchema, NumberSchema and
    BooleanSchema cast it; DateSchema reads a date as midnight UTC (leniently: 2020-13-45 is 2021-02-14) and writes
    it back as a date-time; DateTimeSchema and UUIDSchema read theirs (_model_enum), and a parameter's value they
    cannot read is null (the schema's cast). A body schema's (`in_body`: a model's or a property's) is read by
    Jackson: _v2_body_enum_value."""
    if kind in ("integer", "number") and re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    if kind == "number" and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value):
        return Decimal(value)
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "string" and fmt in ("date", "date-time", "uuid"):
        if in_body:
            return _v2_body_enum_value(value, fmt)
        read = java_formats.uuid_text(value) if fmt == "uuid" else _decoded(_SCHEMA_CLASS[fmt], value)
        return None if read is _SKIPPED else read
    return value


_SCHEMA_CLASS = {"date": "DateSchema", "date-time": "DateTimeSchema"}
_JACKSON_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _v2_body_enum_value(value: str, fmt: str) -> Any:
    """A body schema's date, date-time or uuid enum value, as SwaggerConverter has Jackson read it
    (Json.mapper().convertValue): a UUID must be in the 36-character form (UUIDDeserializer), a date-time is read by
    InstantDeserializer (an ISO date-time, or digits: a timestamp), a date by StdDateFormat. Where Jackson throws,
    APIM's gateway cannot parse the definition and fails every call to the API: DefinitionError. What it reads is
    held as a parameter's is (a date-time Jackson cannot write out); a date StdDateFormat reads other than as
    `yyyy-MM-dd` (a date-time, a timestamp, RFC 1123) is kept as written here."""
    if fmt == "uuid":
        if _JACKSON_UUID.fullmatch(value):
            return value.lower()
        if len(value) == 24:  # UUIDDeserializer's base64 form: kept as written
            return value
    else:
        read = _decoded(_SCHEMA_CLASS[fmt], value)
        if read is not _SKIPPED:
            return read
        if any(c.isdigit() for c in value):  # a form StdDateFormat or InstantDeserializer may read
            return _DATE_TIME_UNWRITABLE if fmt == "date-time" else value
    raise DefinitionError(
        f"a Swagger 2.0 body schema's {fmt} enum value APIM's parser cannot read ({value!r}), so its gateway fails "
        "every call to the API"
    )


def _v2_enum_text(values: list[Any]) -> list[str]:
    """SwaggerDeserializer's `enum`: each value node's text (JsonNode.asText; null's "null"), the others left out."""
    return ["null" if v is None else str(_v2_text(v)) for v in values if not isinstance(v, Mapping | list)]


def _v2_array(node: Mapping[str, Any], schema: dict[str, Any], infer: bool = False) -> None:
    """An array's own keywords, as a parameter's and an ArrayModel's conversions carry them: `items` (converted as a
    property; `infer`: an untyped one's type inferred, as for a model's), `maxItems`, `minItems`, `uniqueItems`."""
    items = _v2_property(node["items"], infer=infer) if isinstance(node.get("items"), Mapping) else None
    if items is not None:
        schema["items"] = items
    for key in ("maxItems", "minItems"):
        if _v2_int(node.get(key)) is not None:
            schema[key] = _v2_int(node.get(key))
    if _v2_bool(node.get("uniqueItems")) is not None:
        schema["uniqueItems"] = _v2_bool(node.get("uniqueItems"))


def _v2_nullable(node: Mapping[str, Any], schema: dict[str, Any]) -> None:
    """`x-nullable` (a boolean) as `nullable`, as each SwaggerConverter.convert reads it."""
    if isinstance(node.get("x-nullable"), bool):
        schema["nullable"] = node["x-nullable"]


def _v2_body(p: Mapping[str, Any], consumes: list[str]) -> dict[str, Any]:
    """SwaggerConverter.convertParameterToRequestBody: the body parameter's schema (a model) for each media type the
    operation consumes, else the document's, else `*/*`; required as the parameter says (not, by default)."""
    schema = _v2_model(p["schema"]) if isinstance(p.get("schema"), Mapping) else None
    media = {"schema": schema} if schema is not None else {}
    return {"content": {m: dict(media) for m in consumes or ["*/*"]}, "required": _v2_bool(p.get("required")) is True}


def _v2_form(parameters: list[Mapping[str, Any]], consumes: list[str]) -> dict[str, Any]:
    """SwaggerConverter.convertFormDataToRequestBody: the formData parameters as an object's properties (the required
    ones its `required`, the body required when there are some), for each media type the operation consumes, else
    the document's, else multipart/form-data."""
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    required = []
    for p in parameters:
        name = _v2_text(p.get("name"))
        if _v2_bool(p.get("required")) is True:
            required.append(name)
        schema["properties"][name] = _v2_form_property(p)
    if required:
        schema["required"] = required
    body: dict[str, Any] = {"content": {m: {"schema": schema} for m in consumes or ["multipart/form-data"]}}
    if required:
        body["required"] = True
    return body


def _v2_form_property(p: Mapping[str, Any]) -> dict[str, Any]:
    """SwaggerConverter.convert(SerializableParameter): a file a binary string, an array its items (a property), else
    PrimitiveType's schema of the type and format (an integer without a format int32); every keyword the parameter
    has then kept whatever the type, `enum` as text."""
    kind, fmt = _v2_text(p.get("type")), _v2_text(p.get("format"))
    schema: dict[str, Any]
    if kind == "file":
        schema = {"type": "string", "format": "binary"}
    elif kind == "array":
        schema = {"type": "array"}
        items = _v2_property(p["items"]) if isinstance(p.get("items"), Mapping) else None
        if items is not None:
            schema["items"] = items
    else:
        schema = {"type": kind} if kind is not None else {}
        if fmt is not None or kind == "integer":
            schema["format"] = fmt or "int32"  # PrimitiveType.INT's IntegerSchema
    if _v2_bool(p.get("readOnly")) is not None:
        schema["readOnly"] = _v2_bool(p.get("readOnly"))
    if isinstance(p.get("enum"), list):
        schema["enum"] = _v2_enum_text(p["enum"])
    for key in ("maxItems", "minItems", "minLength", "maxLength"):
        if _v2_int(p.get(key)) is not None:
            schema[key] = _v2_int(p.get(key))
    if _v2_bool(p.get("uniqueItems")) is not None:
        schema["uniqueItems"] = _v2_bool(p.get("uniqueItems"))
    _v2_bounds(p, schema, double_multiple=True)
    _v2_nullable(p, schema)
    if _v2_text(p.get("pattern")) is not None:
        schema["pattern"] = _v2_text(p.get("pattern"))
    return schema


def _v2_model(node: Mapping[str, Any]) -> dict[str, Any]:
    """A definition or a body's schema as SwaggerDeserializer.definition reads it and SwaggerConverter.convert(Model)
    converts it: a `$ref` alone; `allOf` with its properties and `required` (`x-nullable` lost); an array (`type`
    array or `items`) with its items (a property), min/maxItems, uniqueItems; else any type's numeric and string
    keywords, uniqueItems, `enum` (value nodes as text, typed by the OpenAPI 3 schema), properties, `required`,
    additionalProperties, but not readOnly, min/maxProperties nor min/maxItems, and an untyped one an object
    (ModelDeserializer's default). `required` is what swagger-models' AbstractModel.getRequired derives: the
    properties it names, sorted."""
    if isinstance(node.get("$ref"), str):
        return {"$ref": _v2_schema_ref(node["$ref"])}  # RefModel
    if "allOf" in node:  # allOfModel: a ComposedModel
        out: dict[str, Any] = {"allOf": [_v2_model(m) for m in _v2_list(node.get("allOf")) if isinstance(m, Mapping)]}
        _v2_model_properties(node, out)
        return out
    kind = _v2_text(node.get("type"))
    if kind == "array" or "items" in node:  # an ArrayModel
        out = {"type": "array"}
        _v2_array(node, out, infer=True)
        _v2_nullable(node, out)
        return out
    out = {"type": kind or "object"}  # a ModelImpl
    fmt = _v2_text(node.get("format"))
    if fmt is not None:
        out["format"] = fmt
    _v2_bounds(node, out)
    for key in ("minLength", "maxLength"):
        if _v2_int(node.get(key)) is not None:
            out[key] = _v2_int(node.get(key))
    if _v2_text(node.get("pattern")) is not None:
        out["pattern"] = _v2_text(node.get("pattern"))
    if _v2_bool(node.get("uniqueItems")) is not None:
        out["uniqueItems"] = _v2_bool(node.get("uniqueItems"))
    if isinstance(node.get("enum"), list):
        values = _v2_enum_text(node["enum"])
        if values:
            out["enum"] = [_v2_typed(v, out["type"], fmt, in_body=True) for v in values]
    extra = node.get("additionalProperties")
    if isinstance(extra, bool):
        out["additionalProperties"] = extra
    elif isinstance(extra, Mapping) and (converted := _v2_property(extra)) is not None:
        out["additionalProperties"] = converted
    _v2_model_properties(node, out)
    _v2_nullable(node, out)
    return out


def _v2_model_properties(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    """SwaggerDeserializer.addProperties (each a property, its type inferred from an enum) and `required`: the names
    of those that are properties, sorted (swagger-models' AbstractModel.getRequired)."""
    properties = {}
    for name, value in _v2_object(node.get("properties")).items():
        if isinstance(value, Mapping) and (converted := _v2_property(value, infer=True)) is not None:
            properties[str(name)] = converted
    if properties:
        out["properties"] = properties
    required = sorted({str(r) for r in _v2_list(node.get("required")) if isinstance(r, str)} & set(properties))
    if required:
        out["required"] = required


def _v2_property(node: Mapping[str, Any], infer: bool = False) -> dict[str, Any] | None:
    """A schema inside a model (a property, an array's items, additionalProperties, a parameter's items) as
    swagger-core 1.6.14's PropertyDeserializer.propertyFromNode reads it (PropertyBuilder keeps the keywords of
    its type and format) and SwaggerConverter.convert(Property) converts it; None where it makes no property (an
    unknown type). `infer`: SwaggerDeserializer.property, where an untyped enum's type is its first value's.
    - an object with additionalProperties is a MapProperty: its properties and `required` lost;
    - an object (or a schema with properties) its properties and `required`, without min/maxProperties;
    - allOf without properties a ComposedProperty (an object); a `$ref` the reference alone;
    - a string its min/maxLength, pattern and enum, but a date's or date-time's only its enum, a byte's its lengths
      and the base64 pattern, a binary's nothing;
    - an integer or number its bounds and multipleOf, and its enum only with the format int32, int64, float or
      double; a boolean nothing; an untyped one an object.
    All but a ComposedProperty keep readOnly; all `x-nullable` as nullable."""
    kind, fmt = _v2_text(node.get("type")), _v2_text(node.get("format"))
    enum = node.get("enum")
    if kind is None and infer and isinstance(enum, list):  # inferTypeFromArray: from the first value (twice)
        first = enum[0] if enum else ""
        kind = "boolean" if isinstance(first, bool) else "number" if _v2_number(first) is not None else "string"
    if isinstance(node.get("$ref"), str):
        return {"$ref": _v2_schema_ref(node["$ref"])}
    out: dict[str, Any]
    extra = node.get("additionalProperties")
    if kind == "object" or "properties" in node or "allOf" in node:
        if isinstance(extra, bool) or (isinstance(extra, Mapping) and _v2_property(extra) is not None):
            out = {"type": "object"}  # a MapProperty
            out["additionalProperties"] = extra if isinstance(extra, bool) else _v2_property(extra)
            for key in ("minProperties", "maxProperties"):
                if key in node:
                    out[key] = _v2_int(node[key]) or 0  # JsonNode.intValue
        elif "properties" not in node and "allOf" in node:
            parts = [_v2_property(p) for p in _v2_list(node.get("allOf")) if isinstance(p, Mapping)]
            out = {"type": "object", "allOf": [p for p in parts if p is not None]}  # a ComposedProperty
            _v2_nullable(node, out)
            return out
        else:
            properties = {}
            for name, value in _v2_object(node.get("properties")).items():
                if isinstance(value, Mapping) and (converted := _v2_property(value)) is not None:
                    properties[str(name)] = converted
            out = {"type": "object", "properties": properties}  # an ObjectProperty
            required = sorted(set(_v2_enum_text(_v2_list(node.get("required")))) & set(properties))
            if required:
                out["required"] = required
    elif kind == "array":
        out = {"type": "array"}
        items = _v2_property(node["items"]) if isinstance(node.get("items"), Mapping) else None
        if items is not None:
            out["items"] = items
        for key in ("minItems", "maxItems"):
            if key in node:
                out[key] = _v2_int(node[key]) or 0
        if node.get("uniqueItems") is True:
            out["uniqueItems"] = True
    elif kind is None:
        out = {"type": "object"}  # an UntypedProperty, read as an object
    elif kind in ("string", "integer", "number", "boolean", "file"):
        out = {"type": kind}
        if fmt is not None:
            out["format"] = fmt
        if kind == "file":
            out["format"] = "binary"  # convertValue(FileProperty, FileSchema.class)
        elif kind in ("integer", "number"):
            _v2_bounds(node, out)
        elif kind == "string" and fmt not in ("date", "date-time", "binary"):
            for key in ("minLength", "maxLength"):
                if key in node:
                    out[key] = _v2_int(node[key]) or 0
            if "pattern" in node:
                out["pattern"] = _BASE64 if fmt == "byte" else _v2_text(node["pattern"]) or ""
            elif fmt == "byte":
                out["pattern"] = _BASE64
        enumerated = (kind == "string" and fmt not in ("byte", "binary")) or (
            (kind, fmt) in (("integer", "int32"), ("integer", "int64"), ("number", "float"), ("number", "double"))
        )
        if enumerated and isinstance(enum, list):
            # PropertyDeserializer.getEnum: text and number nodes as text (none: no enum).
            values = [str(v) for v in enum if isinstance(v, str | int | float) and not isinstance(v, bool)]
            typed = [_v2_typed(v, kind, fmt, in_body=True) for v in values]
            if kind == "number":  # FloatProperty's and DoubleProperty's values
                typed = [v if isinstance(v, str) else float(v) for v in typed]
            if typed:
                out["enum"] = typed
    else:
        return None  # PropertyBuilder.build: no property of an unknown type
    if isinstance(node.get("readOnly"), bool):
        out["readOnly"] = node["readOnly"]
    _v2_nullable(node, out)
    return out


# ---- operations and paths ----


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    where: str
    required: bool
    schema: Any
    style: str | None
    allow_empty: bool
    explode: bool | None


@dataclass(frozen=True, slots=True)
class _Operation:
    parameters: tuple[_Parameter, ...]
    body: Mapping[str, Any] | None
    security: Sequence[Any] | None
    responses: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, definition: Definition, operation: Mapping[str, Any], shared: list[Any]) -> _Operation:
        own = [definition.resolve(p) for p in operation.get("parameters") or []]
        keys = {(p.get("name"), p.get("in")) for p in own if isinstance(p, Mapping)}
        merged = own + [p for p in shared if isinstance(p, Mapping) and (p.get("name"), p.get("in")) not in keys]
        if definition.converted:
            # APIMgtLatencyStatsHandler.getLowercaseHeaderParameters keeps what is not a HeaderParameter, and
            # SwaggerConverter.convert(Parameter) makes plain Parameters: each header parameter stays in its place
            # (a Content-Type one too, under its own name) and comes again after the others (so twice reported).
            merged += [p for p in merged if isinstance(p, Mapping) and p.get("in") == "header"
                       and str(p.get("name")).lower() != "content-type"]  # fmt: skip
        parameters = []
        for p in merged:
            if not isinstance(p, Mapping) or not isinstance(p.get("name"), str):
                continue
            where = str(p.get("in", ""))
            if where == "header" and p["name"].lower() == "content-type":
                if not definition.converted:
                    continue  # APIMgtLatencyStatsHandler.getLowercaseHeaderParameters drops it
                name = p["name"]
            else:
                name = p["name"].lower() if where == "header" else p["name"]  # convertHeadersToLowercase
            style = p.get("style")
            if style is None and definition.converted:
                # ArraySeparator.from: a parameter without a style (SwaggerConverter gives tsv none, nor ssv, pipes
                # and multi outside the query; the 3.0 parser defaults every one) is split at commas, as a simple one.
                style = "simple"
            parameters.append(_Parameter(name, where, p.get("required") is True, p.get("schema"), style,
                                         p.get("allowEmptyValue") is True, p.get("explode")))  # fmt: skip
        body = definition.resolve(operation.get("requestBody")) if operation.get("requestBody") is not None else None
        return cls(tuple(parameters), body, operation.get("security"))


@dataclass(frozen=True, slots=True)
class _NormalisedPath:
    original: str
    normalised: str
    parts: tuple[str, ...]

    @classmethod
    def of(cls, path: str, prefix: str) -> _NormalisedPath:
        """NormalisedPathImpl: without the API's base path, with a leading slash, split at `/` as Java splits."""
        lead = "/" + (prefix or "").strip() if not (prefix or "").strip().startswith("/") else (prefix or "").strip()
        trimmed = "/" + path.strip() if not path.strip().startswith("/") else path.strip()
        if trimmed.startswith(lead):
            trimmed = trimmed[len(lead) :]
        normalised = trimmed if trimmed.startswith("/") else "/" + trimmed
        return cls(path, normalised, tuple(java_strings.split(normalised[1:], "/")))


@dataclass(frozen=True, slots=True)
class _ApiPath:
    template: str
    base: str
    operations: Mapping[str, _Operation]

    @property
    def normal(self) -> _NormalisedPath:
        return _NormalisedPath.of(self.template, self.base)

    @property
    def parts(self) -> tuple[str, ...]:
        return self.normal.parts

    def matches(self, request: _NormalisedPath) -> bool:
        return len(self.parts) == len(request.parts) and all(
            _part_pattern(t).fullmatch(r) for t, r in zip(self.parts, request.parts, strict=True)
        )


def _part_pattern(template: str) -> re.Pattern[str]:
    """ApiPathImpl.partMatches: the part quoted, each `{...}` any text (lazily), case-insensitive."""
    pieces = re.split(r"\{.*?}", template)
    return re.compile("(.*?)".join(re.escape(p) for p in pieces), re.IGNORECASE | re.DOTALL)


def _find_operation(
    paths: list[_ApiPath], path: str, method: str, base: str
) -> tuple[_ApiPath, _Operation, _NormalisedPath] | str:
    """ApiOperationResolver.findApiOperation: the path (its message when none matches), then the method."""
    request = _NormalisedPath.of(path, base)
    matching = [p for p in paths if p.matches(request)]
    if not matching:
        return f"No API path found that matches request '{path}'."
    with_method = [p for p in matching if method in p.operations]
    if not with_method:
        return f"{method} operation not allowed on path '{path}'."
    exact = next((p for p in with_method if p.normal.normalised.lower() == request.normalised.lower()), None)
    chosen = exact or max(with_method, key=lambda p: len(re.sub(r"\{.+?}", "", p.normal.normalised)))
    return chosen, chosen.operations[method], request


def _param_values(template: str, part: str) -> dict[str, str | None]:
    """ApiPathImpl.paramValues: each parameter of a path part and its value in the request's part."""
    names = re.findall(r"\{(.*?)}", template)
    if len(names) == 1 and template.startswith("{") and template.index("}") == len(template) - 1:
        return {names[0]: part}
    result: dict[str, str | None] = {}
    t = r = index = 0
    while t < len(template) and r < len(part):
        if template[t] == "{":
            start = r
            while t < len(template) and template[t] != "}":
                t += 1
            if t == len(template):
                break
            if t == len(template) - 1:
                result[names[index]] = part[start:]
                index += 1
                break
            t += 1
            terminal = template[t].lower()
            while r < len(part) and part[r].lower() != terminal:
                r += 1
            if r < len(part):
                result[names[index]] = part[start:r]
                index += 1
            else:
                break
        else:
            if template[t].lower() != part[r].lower():
                break
            t += 1
            r += 1
    for name in names[index:]:
        result.setdefault(name, None)
    return result


# ---- media types (Guava's MediaType, as the library uses it) ----

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True, slots=True)
class _MediaType:
    type: str
    subtype: str

    def is_in(self, other: _MediaType) -> bool:
        """MediaType.is(range), both without parameters."""
        return other.type in ("*", self.type) and other.subtype in ("*", self.subtype)


def _media_type(text: str) -> _MediaType:
    """MediaType.parse: `type/subtype` then `; attribute=value` pairs; ValueError where Guava throws."""
    m = re.match(r"([^/\s;]+)/([^\s;]+)", text)
    if not m or not _TOKEN.fullmatch(m.group(1)) or not _TOKEN.fullmatch(m.group(2)):
        raise ValueError(text)
    rest = text[m.end() :]
    while rest:
        p = re.match(
            r"[ \t\r\n]*;[ \t\r\n]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=(\"(?:[^\"\\]|\\.)*\"|[!#$%&'*+\-.^_`|~0-9A-Za-z]+)",
            rest,
        )
        if not p:
            raise ValueError(text)
        rest = rest[p.end() :]
    kind, subtype = m.group(1).lower(), m.group(2).lower()
    if kind == "*" and subtype != "*":
        raise ValueError(text)
    return _MediaType(kind, subtype)


def _split_header(value: str) -> list[str]:
    """HttpAcceptUtils.splitAcceptHeader: at commas outside quotes, each trimmed, empty ones left out."""
    parts, current, quoted = [], "", False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _content_type(request: OpenApiRequest, operation: _Operation) -> list[str]:
    """RequestValidator.validateContentType: the request's Content-Type among the body's media types."""
    sent = request.headers.get("Content-Type")
    if sent is None:
        return []
    values = _split_header(sent)
    if not values:
        return []
    parsed = []
    for value in values:
        try:
            parsed.append(_media_type(value))
        except ValueError:
            return [f"Request Content-Type header '{value}' is not a valid media type"]
    body = operation.body if isinstance(operation.body, Mapping) else None
    consumes = list((body.get("content") or {}).keys()) if body else []
    if not consumes or all(c == "*/*" for c in consumes):
        return []
    for spec in consumes:
        try:
            spec_type = _media_type(spec)
        except ValueError:
            return [f"An error occurred during schema validation - {spec}"]
        if any(spec_type.is_in(r) for r in parsed):
            return []
    return [f"Request Content-Type header '[{', '.join(values)}]' does not match any allowed types. Must be one of: "
            f"[{', '.join(consumes)}]."]  # fmt: skip


# ---- parameters ----


def _parameter(p: _Parameter, value: str | None, where: str, template: str, definition: Definition) -> list[str]:
    """RequestValidator.validateParameter: a required one missing, else its one value."""
    if value is None:
        if p.required:
            return [
                f"{where.capitalize()} parameter '{p.name}' is required on path '{template}' but not found in request."
            ]
        return []
    return _value(p, value, definition)


def _value(p: _Parameter, value: str | None, definition: Definition) -> list[str]:
    """ParameterValidator.validate(String, Parameter)."""
    node = definition.resolve(p.schema)
    schema = _model(definition, node)
    # `instanceof ArraySchema`: what getSchema made of a schema with `items`; `type: array` alone is a Schema, whose
    # value is read as JSON (validateArrayParam splits only an ArraySchema's).
    array = isinstance(node, Mapping) and isinstance(schema, Mapping) and _model_class(node, schema) == "ArraySchema"
    empty_allowed = (p.allow_empty and p.where == "query" and _is_string_schema(schema)) or array
    if p.required:
        if value is None or (not value.strip() and not empty_allowed):
            return [f"Parameter '{p.name}' is required but is missing."]
    elif value is None or not value.strip():
        return []
    if array:
        return _array_value(p, schema, value, definition)
    return _validate_text(value, schema, "request.parameter", definition)


def _is_string_schema(schema: Any) -> bool:
    return (
        isinstance(schema, Mapping)
        and schema.get("type") == "string"
        and schema.get("format") not in ("date", "date-time", "byte", "binary", "email", "password", "uuid")
    )


def _split_array(p: _Parameter, value: str) -> list[str]:
    """ArraySeparator.split, with the style and explode swagger-parser gives a parameter that names none (form for
    the query and cookies, else simple; explode for form): an exploded form parameter is one value per occurrence,
    so its one value is one item."""
    style = p.style or ("form" if p.where in ("query", "cookie") else "simple")
    explode = p.explode if p.explode is not None else style == "form"
    prefix, separator, leading, embedded = "", ",", False, False
    if style == "matrix":
        prefix, separator, leading, embedded = ";", (";" if explode else ","), not explode, explode
    elif style == "label":
        prefix, separator = ".", "."
    elif style == "form" and explode:
        return [value]
    elif style == "spaceDelimited":
        separator = " "
    elif style == "pipeDelimited":
        separator = "|"
    if not value:
        return []
    text = value[len(prefix) :] if prefix and value.startswith(prefix) else value
    if leading and text.startswith(p.name + "="):
        text = text[len(p.name) + 1 :]
    items = java_strings.split(text, separator)
    return [v[len(p.name) + 1 :] if embedded and v.startswith(p.name + "=") else v for v in items]


def _array_value(p: _Parameter, schema: Mapping[str, Any], value: str, definition: Definition) -> list[str]:
    """ParameterValidator.validateArrayParam: its items as the parameter's style splits them (ArraySeparator)."""
    values = _split_array(p, value)
    out = []
    if schema.get("maxItems") is not None and len(values) > schema["maxItems"]:
        out.append(f"Parameter '{p.name}' accepts a maximum of {schema['maxItems']} items. Found {len(values)}.")
    if schema.get("minItems") is not None and len(values) < schema["minItems"]:
        out.append(f"Parameter '{p.name}' accepts a minimum of {schema['minItems']} items. Found {len(values)}.")
    if schema.get("uniqueItems") is True and len(set(values)) != len(values):
        out.append(f"Parameter '{p.name}' does not allow duplicate values.")
    if schema.get("enum"):
        allowed = [str(e) for e in schema["enum"]]
        for v in values:
            if v not in allowed:
                out.append(
                    f"Value '{v}' for parameter '{p.name}' is not allowed. Allowed values are <[{', '.join(allowed)}]>."
                )
        return out
    items = definition.resolve(schema.get("items"))
    for v in values:
        out += _validate_text(v, items, "request.parameter", definition)
    return out


def _deep_object(request: OpenApiRequest, p: _Parameter, template: str, definition: Definition) -> list[str]:
    """RequestValidator.validateDeepObjectQueryParameter: `name[field]` parameters as one JSON object."""
    pattern = re.compile(re.escape(p.name) + r"\[(\S*)\]")
    found: dict[str, str] = {}
    for name, value in request.query.items():
        m = pattern.fullmatch(name)
        if m:
            found.setdefault(m.group(1), value)
    if not found and not p.required:
        return []
    return _parameter(p, json.dumps(found, separators=(",", ":")), "query", template, definition)


def _validate_text(value: str, schema: Any, prefix: str, definition: Definition) -> list[str]:
    """SchemaValidator.validate(String, Schema): the text read as its schema's type asks (readContent)."""
    schema = _model(definition, definition.resolve(schema))
    if not isinstance(schema, Mapping):
        return []
    kind = schema.get("type")
    instance: Any
    if value.lower() == "null":
        instance = None
    elif kind == "string" and schema.get("format") == "date-time":
        instance = _normalise_date_time(value)
    elif kind == "string":
        instance = value
    elif kind in ("number", "integer") and not _JAVA_DOUBLE.fullmatch(java_strings.trim(value)):
        instance = value  # createNumericNode: what Double.parseDouble refuses is a string
    else:
        try:
            instance = _read_json(value)
        except ValueError as exc:
            return [f"Unable to parse JSON - {exc}."]
    return _schema_messages(instance, schema, definition)


# What Double.parseDouble reads (after trimming characters up to U+0020): a sign, NaN, Infinity, a decimal with an
# optional exponent and an optional type suffix, or a hexadecimal floating-point literal; ASCII digits only.
_JAVA_DOUBLE = re.compile(
    r"[+-]?(NaN|Infinity|(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?)"
)


def _normalise_date_time(value: str) -> str:
    """SchemaValidator.normaliseDateTime: an RFC 3339 date-time rewritten `yyyy-MM-dd'T'HH:mm:ss'Z'` (its local time,
    the offset dropped), else as sent."""
    m = re.fullmatch(
        r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
        value,
    )
    if not m:
        return value
    try:
        datetime.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}")
    except ValueError:
        return value
    return f"{m.group(1)}T{m.group(2)}Z"


# ---- the body ----


def _body(request: OpenApiRequest, operation: _Operation, definition: Definition) -> list[str]:
    """RequestBodyValidator.validateRequestBody."""
    has_body = bool(request.body)
    spec = operation.body
    if spec is None:
        return ["No request body is expected but one was found."] if has_body else []
    if not has_body:
        return ["A request body is required but none found."] if spec.get("required") is True else []
    content = spec.get("content") or {}
    sent = request.headers.get("Content-Type", "*/*")
    match = _most_specific(sent, list(content))
    if match is None:
        return []
    schema = (content.get(match) or {}).get("schema")
    media = _try_media_type(request.headers.get("Content-Type"))
    if media is not None and (
        media == _MediaType("application", "json") or (media.type == "application" and media.subtype.endswith("+json"))
    ):
        if not (request.body or "").strip(" \t\r\n"):  # readTree gives a MissingNode, which fge cannot walk
            return ["An error occurred during schema validation - unhandled token type NOT_AVAILABLE."]
        try:
            instance = _read_json(request.body or "")
        except ValueError as exc:
            return [f"Unable to parse JSON - {exc}."]
        return _schema_messages(instance, schema, definition, request_body=True)
    if media == _MediaType("application", "x-www-form-urlencoded"):
        try:
            form = _form_as_json(request.body or "")
        except ValueError as exc:  # URLDecoder's, which the library reports
            return [f"An error occurred during schema validation - {exc}."]
        return _schema_messages(form, schema, definition, request_body=True)
    return []


def _try_media_type(text: str | None) -> _MediaType | None:
    if text is None:
        return None
    try:
        return _media_type(text)
    except ValueError:
        return None


def _most_specific(sent: str, consumes: list[str]) -> str | None:
    """ContentTypeUtils.findMostSpecificMatch: the body's media types with fewest wildcards first, the first the
    request's Content-Type is in."""
    try:
        parsed = [(c, _media_type(c)) for c in consumes]
        request = _media_type(sent)
    except ValueError:
        return None
    parsed.sort(key=lambda c: (c[1].type == "*") + (c[1].subtype == "*"))
    return next((c for c, m in parsed if request.is_in(m)), None)


def _form_as_json(body: str) -> dict[str, Any]:
    """HttpParsingUtils.parseUrlEncodedFormDataBodyAsJsonNode as 2.12 reads a form: each name its value, several
    values an array, each value a JSON value as toJsonObject guesses it (_form_value)."""
    values: dict[str, list[str | None]] = {}
    for pair in body.split("&"):
        fields = java_strings.split(pair, "=")
        name = java_strings.url_decode(fields[0] if fields else "").strip()
        values.setdefault(name, []).append(java_strings.url_decode(fields[1]) if len(fields) > 1 else None)
    return {k: (_form_value(v[0]) if len(v) == 1 else [_form_value(x) for x in v]) for k, v in values.items()}


def _form_value(value: str | None) -> Any:
    """HttpParsingUtils.toJsonObject: none or `null` null, `true`/`false` (any case) a boolean, what Long.parseLong
    reads an integer, what Double.parseDouble reads a number, else the text; trimmed as String.trim trims."""
    if value is None or value.lower() == "null":
        return None
    trimmed = java_strings.trim(value)
    if trimmed.lower() in ("true", "false"):
        return trimmed.lower() == "true"
    if re.fullmatch(r"[+-]?[0-9]+", trimmed) and -(2**63) <= int(trimmed) < 2**63:
        return int(trimmed)
    if _JAVA_DOUBLE.fullmatch(trimmed):
        number = trimmed[:-1] if trimmed[-1] in "fFdD" else trimmed  # a type suffix (a hex one ends its exponent)
        return float.fromhex(number) if "x" in number.lower() else float(number)
    return trimmed


def _read_json(text: str) -> Any:
    """Jackson's readTree: the first JSON value, what follows it left unread (its default), but a number at the root
    must be followed by whitespace or the end (`_verifyRootSpace`); decimals kept as written. What it refuses is
    refused with Jackson's own message (jackson_errors). Python's decoder reads two things Jackson refuses, so there
    Jackson's reading decides: a number longer than StreamReadConstraints' 1,000 characters, and a literal at the
    root running into more text (`truex`: Jackson reads the token on to its end, `_reportInvalidToken`)."""
    longest = 0

    def number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
        def parse(written: str) -> Any:
            nonlocal longest
            longest = max(longest, len(written))
            return kind(written)

        return parse

    decoder = json.JSONDecoder(parse_float=number(Decimal), parse_int=number(int), parse_constant=_no_constant)
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise ValueError("No content to map due to end-of-input")
    try:
        value, end = decoder.raw_decode(stripped)
    except RecursionError:  # Jackson 2.17 refuses past StreamReadConstraints' 1,000 levels; Python's parser sooner
        raise ValueError(jackson_errors.first_error(text) or TOO_DEEP) from None
    except ValueError as refused:
        raise ValueError(jackson_errors.first_error(text) or str(refused)) from None
    if _kind(value) in ("integer", "number") and end < len(stripped) and stripped[end] not in " \t\r\n":
        raise ValueError(
            jackson_errors.first_error(text)
            or f"Unexpected character ({stripped[end]!r}): Expected space separating root-level values"
        )
    literal_runs_on = (value is None or isinstance(value, bool)) and end < len(stripped)
    # Half the limit: past a read buffer's end Jackson counts a number's length on another path (jackson_errors).
    if longest > jackson_errors.MAX_NUMBER_LENGTH // 2 or literal_runs_on:
        refused_by_jackson = jackson_errors.first_error(text)
        if refused_by_jackson is not None:
            raise ValueError(refused_by_jackson)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


# ---- JSON Schema draft 4, as fge's json-schema-validator validates it ----


class _ValidationFailed(Exception):
    """What makes fge's validation throw: the library then reports validation.schema.unknownError alone."""


def _schema_messages(instance: Any, schema: Any, definition: Definition, request_body: bool = False) -> list[str]:
    """Each error fge reports, as the library writes it: `[Path '<pointer>'] ` and the message, capitalised."""
    schema = definition.resolve(schema)
    if not isinstance(schema, Mapping):
        return []
    refusal = _syntax_report(definition, schema)
    if refusal is not None:
        return [refusal]
    errors: list[tuple[str, str]] = []
    try:
        _Validator(definition, request_body).validate(instance, schema, "", errors)
    except RecursionError:  # a value nested past what this walk goes (the parser let it by): refused, never a crash
        return [f"An error occurred during schema validation - {TOO_DEEP}."]  # validation.schema.unknownError
    except (_ValidationFailed, java_formats.LibraryFailed) as failed:
        return [f"An error occurred during schema validation - {failed}."]
    return [
        (f"[Path '{pointer}'] " if pointer else "") + message[:1].upper() + message[1:] for pointer, message in errors
    ]


# What swagger-parser keeps of an OpenAPI 3.0 schema object: the fields of swagger-core's Schema model
# (OpenAPIDeserializer.getSchema and getCommonSchemaFields, 2.1.22), which the library hands fge. JSON Schema's
# patternProperties, dependencies, additionalItems, definitions and the rest are dropped: APIM never checks them.
_MODEL_KEYS = frozenset({"title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
                         "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties",
                         "minProperties", "required", "enum", "type", "allOf", "anyOf", "oneOf", "not", "items",
                         "properties", "additionalProperties", "description", "format", "default", "nullable",
                         "discriminator", "readOnly", "writeOnly", "xml", "externalDocs", "example",
                         "deprecated"})  # fmt: skip
_COMPOSED = ("allOf", "anyOf", "oneOf")


_MODEL_BOOLEANS = ("exclusiveMaximum", "exclusiveMinimum", "uniqueItems", "nullable", "readOnly", "writeOnly")
_MODEL_COUNTS = ("maxItems", "maxLength", "maxProperties", "minItems", "minLength", "minProperties")
_MODEL_NUMBERS = ("maximum", "minimum", "multipleOf")
_MODEL_TEXTS = ("format", "pattern", "type")
_INT_RANGE = range(-(2**31), 2**31)


def _model_class(node: Mapping[str, Any], model: Mapping[str, Any]) -> str:
    """The swagger-core class getSchema makes of the schema (SchemaTypeUtil.createSchemaByType by type and format,
    unless `items`, allOf/anyOf/oneOf or additionalProperties chose one first)."""
    if isinstance(node.get("items"), Mapping):
        return "ArraySchema"
    if any(isinstance(node.get(k), list) for k in _COMPOSED):
        return "ComposedSchema"
    if "additionalProperties" in model:
        return "ObjectSchema" if model["additionalProperties"] is False else "MapSchema"
    kind, fmt = str(model.get("type")), str(model.get("format"))
    if kind == "string":
        return _STRING_CLASSES.get(fmt, "StringSchema")
    return _TYPED_CLASSES.get(kind, "Schema")


_TYPED_CLASSES = {"integer": "IntegerSchema", "number": "NumberSchema", "boolean": "BooleanSchema",
                  "object": "ObjectSchema"}  # fmt: skip
_STRING_CLASSES = {"byte": "ByteArraySchema", "binary": "BinarySchema", "date": "DateSchema",
                   "date-time": "DateTimeSchema", "password": "PasswordSchema", "email": "EmailSchema",
                   "uuid": "UUIDSchema"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Unwritable:
    """An enum value the library cannot hand fge: a date-time (Jackson cannot write the schema out, so nothing is
    validated against it) or bytes (fge cannot read the enum when a value is validated against that schema)."""

    reason: str


_BYTES_UNWRITABLE = _Unwritable("unhandled token type VALUE_EMBEDDED_OBJECT")
_DATE_TIME_UNWRITABLE = _Unwritable(
    "java.lang.IllegalArgumentException: Java 8 date/time type `java.time.OffsetDateTime` not supported by default: "
    'add Module "com.fasterxml.jackson.datatype:jackson-datatype-jsr310" to enable handling'
)
_SKIPPED = object()  # a value getSchema leaves out (getDecodedObject's ParseException)


def _model_enum(cls: str, values: list[Any]) -> list[Any]:
    """The enum as the model holds it and Jackson writes it: each value through getSchema (getDecodedObject for a
    text, numberValue for a number) and the class's cast (swagger-models 2.2.20): an integer schema's values are
    integers or null (Integer.parseInt, Long.parseLong), a number schema's decimals or null (new BigDecimal), a
    boolean schema's Boolean.parseBoolean, a string schema's texts (Java's toString); a date schema's are dates,
    written out as midnight UTC (Calendar.Builder, lenient: 2020-13-45 is 2021-02-14), a UUID schema's UUIDs in
    lower case or null; the rest as written. A date-time or byte schema's values Jackson cannot write out."""
    cast = []
    for value in values:
        text = _java_text(value)
        if cls in ("DateSchema", "DateTimeSchema", "ByteArraySchema") and isinstance(value, str):
            item = _decoded(cls, value)
        elif cls == "IntegerSchema":
            # NumberFormat.parse must read it (no '+', no space) and Integer/Long.parseInt the whole text.
            whole = text is not None and re.fullmatch(r"-?\d+", text)  # any script's digits, as Character.digit
            item = int(text) if whole and text and -(2**63) <= int(text) < 2**63 else None
        elif cls == "NumberSchema":
            item = _BigDecimal(text) if text is not None and _JAVA_BIG_DECIMAL.fullmatch(text) else None
        elif cls == "BooleanSchema":
            item = None if text is None else text.lower() == "true"
        elif cls in ("StringSchema", "PasswordSchema", "EmailSchema"):
            item = text
        elif cls == "UUIDSchema":
            item = java_formats.uuid_text(text)
        elif cls in ("ByteArraySchema", "BinarySchema"):
            item = None if value is None else _BYTES_UNWRITABLE
        elif cls in ("DateSchema", "DateTimeSchema"):
            item = None  # not a text: the cast gives null
        else:
            item = value
        if item is not _SKIPPED:
            cast.append(item)
    return cast


_JAVA_BIG_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")  # digits of any script


def _java_text(value: Any) -> str | None:
    """What Java's toString gives of the value Jackson made of an enum's JSON value (null for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, int | Decimal | str):
        return str(value)
    return _text(value)  # an array or object: JsonNode.toString


def _java_double(value: float) -> str:
    """Double.toString: plain from 10^-3 to 10^7, else computerized scientific notation (1.0E20), with the shortest
    digits that read back (Python's repr gives those digits)."""
    if not math.isfinite(value):
        return repr(value)
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)  # plain in this range, with its ".0"
    number = Decimal(repr(value))
    sign, digits, _ = number.as_tuple()
    shown = "".join(map(str, digits)).rstrip("0") or "0"
    return f"{'-' if sign else ''}{shown[0]}.{shown[1:] or '0'}E{number.adjusted()}"


def _decoded(cls: str, text: str) -> Any:
    """getDecodedObject for a text: a date (toDate) or date-time (toDateTime) parsed, else the value left out; a
    byte schema's base64 decoded (toBytes), which Jackson then cannot write out."""
    if cls == "ByteArraySchema":
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return _SKIPPED
        return _BYTES_UNWRITABLE
    if cls == "DateTimeSchema":
        try:
            datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return _SKIPPED
        return (
            _DATE_TIME_UNWRITABLE
            if re.fullmatch(
                r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})",
                text,
            )
            else _SKIPPED
        )
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", text)
    if not m:
        return _SKIPPED
    months = int(m.group(1)) * 12 + int(m.group(2)) - 1
    try:
        day = datetime.date(months // 12, months % 12 + 1, 1) + datetime.timedelta(days=int(m.group(3)) - 1)
    except (ValueError, OverflowError):
        return _SKIPPED
    return f"{day.isoformat()}T00:00:00.000+00:00"


def _model(definition: Definition, node: Any) -> Any:
    """An OpenAPI 3.0 schema object as swagger-parser's model holds it (OpenAPIDeserializer.getSchema and its
    getBoolean, getInteger, getBigDecimal, getString and getArray, with the schema types it infers):
    - only the model's fields, each of the type the model gives it: a boolean, or text read as Boolean.parseBoolean;
      a count only as a JSON integer in Java's int range; a bound or divisor only as a number; a type, format or
      pattern from any scalar (`5` is "5"); `required` its texts, kept where there is one; an enum kept where it has
      a value; a multipleOf only above 0;
    - `items` only as an object, and then an array schema (type `array`, whatever the schema says; its allOf, anyOf
      and oneOf dropped); else `additionalProperties` makes an object schema (type `object`) unless allOf, anyOf or
      oneOf make a composed one, whose members are the objects listed;
    - without a type, an enum's first value gives one (inferTypeFromArray);
    - the enum's values cast to the schema's class (_model_enum).
    A Swagger 2.0 document's schemas are already as its converter leaves them."""
    if definition.converted or not isinstance(node, Mapping) or isinstance(node, _Model):
        return node
    known = definition.models.get(id(node))
    if known is not None:
        return known
    model = _new_model(node)
    if len(definition.models) < MAX_PLANS:
        definition.models[id(node)] = model
    return model


class _Model(dict[str, Any]):
    """A schema as the model holds it (made once: a model is not modelled again)."""


def _new_model(node: Mapping[str, Any]) -> _Model:
    model = _Model((k, v) for k, v in node.items() if k in _MODEL_KEYS or k.startswith("x-"))
    for keyword in (*_MODEL_BOOLEANS, "additionalProperties"):
        value = model.get(keyword)
        if isinstance(value, str):
            model[keyword] = value.lower() == "true"
        elif keyword in model and not isinstance(value, bool | Mapping if keyword == "additionalProperties" else bool):
            del model[keyword]
    for keyword in _MODEL_COUNTS:
        if keyword in model and not (type(model[keyword]) is int and model[keyword] in _INT_RANGE):
            del model[keyword]
    for keyword in _MODEL_NUMBERS:
        if keyword in model and (isinstance(model[keyword], bool) or not _is_number(model[keyword])):
            del model[keyword]
    for keyword in _MODEL_TEXTS:
        value = model.get(keyword)
        if isinstance(value, bool):
            model[keyword] = "true" if value else "false"
        elif type(value) is int:
            model[keyword] = str(value)
        elif keyword in model and not isinstance(value, str):
            del model[keyword]
    required = [r for r in model.pop("required", None) or [] if isinstance(r, str)] if isinstance(
        node.get("required"), list) else []  # fmt: skip
    if required:
        model["required"] = required
    if isinstance(model.get("enum"), list):
        model["enum"] = _model_enum(_model_class(node, model), model["enum"])
    if not isinstance(model.get("enum"), list) or not model["enum"]:
        model.pop("enum", None)  # no value added: the model has none
    composed = [k for k in _COMPOSED if isinstance(model.get(k), list)]
    for keyword in _COMPOSED:
        members = [m for m in model.pop(keyword, None) or [] if isinstance(m, Mapping)] if keyword in composed else []
        if members:
            model[keyword] = members
    if not isinstance(model.get("not"), Mapping):
        model.pop("not", None)
    if isinstance(model.get("properties"), Mapping):
        model["properties"] = {k: v for k, v in model["properties"].items() if isinstance(v, Mapping)}
    else:
        model.pop("properties", None)
    if isinstance(model.get("items"), Mapping):
        for keyword in _COMPOSED:
            model.pop(keyword, None)
        model["type"] = "array"
    else:
        model.pop("items", None)
        if "additionalProperties" in model and not composed:
            model["type"] = "object"
    if not model.get("type"):
        model.pop("type", None)
        enum = node.get("enum")
        if isinstance(enum, list):
            first = enum[0] if enum else None
            model["type"] = (
                "boolean"
                if isinstance(first, bool)
                else "number"
                if _kind(first) in ("integer", "number")
                else "string"
            )
    multiple = model.get("multipleOf")
    if multiple is not None and not Decimal(str(multiple)) > 0:
        del model["multipleOf"]
    return model


# fge's syntax check of a schema before it validates anything against it (SyntaxProcessor: each keyword's checker in
# name order, then the subschemas they point to, in that order). A schema that fails it makes every request validated
# against it fail with the whole list (InstanceValidator.collectSyntaxErrors), wherever in the schema the fault sits,
# references followed as the library inlines them. Of its checks, those a schema of swagger-parser's model can fail
# (the model has given every keyword its type): a pattern Rhino refuses, a type that is none of JSON's, a negative
# count, an exclusive bound without its bound, a repeated enum value or required name.
_SUBSCHEMAS = ("additionalProperties", "allOf", "anyOf", "items", "not", "oneOf", "properties")
_SYNTAX_CHECKED = ("enum", "exclusiveMaximum", "exclusiveMinimum", *_MODEL_COUNTS, "pattern", "required", "type")
_PRIMITIVE_TYPES = "[array, boolean, integer, null, number, object, string]"  # NodeType's EnumSet, as Java prints it


@dataclass
class _SyntaxFindings:
    """What the library finds in a schema before validating against it, in the order it looks: a value Jackson cannot
    write out (with its reference chain), then Rhino's parser failing on a pattern, then fge's syntax faults."""

    unwritable: str | None = None
    overrun: ecma262.Overrun | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)


def _syntax_report(definition: Definition, root: Mapping[str, Any]) -> str | None:
    """The library's message where it cannot validate against the schema (see _SyntaxFindings), else None."""
    key = id(root)
    if key in definition.syntax:
        return definition.syntax[key]
    findings = _SyntaxFindings()
    try:
        _syntax_walk(definition, root, "", "", frozenset(), findings)
    except RecursionError:
        findings = _SyntaxFindings()  # nested past this walk: the validation's own guard answers
    report = None
    if findings.unwritable is not None:
        report = f"An error occurred during schema validation - {findings.unwritable}."
    elif findings.overrun is not None:
        report = (
            "An error occurred during schema validation - com.google.common.util.concurrent."
            f"UncheckedExecutionException: {findings.overrun.exception()}."
        )
    elif findings.faults:
        report = "Invalid JSON Schema, cannot continue\nSyntax errors:\n" + _jackson_pretty(findings.faults)
    if len(definition.syntax) < MAX_PLANS:
        definition.syntax[key] = report
    return report


_MODELS = "io.swagger.v3.oas.models.media."


def _syntax_walk(
    definition: Definition, node: Any, pointer: str, chain: str, path: frozenset[int], findings: _SyntaxFindings
) -> None:
    """One schema of the tree and those under it (`chain`: Jackson's reference chain down to it)."""
    raw = definition.resolve(node)
    node = _model(definition, raw)
    if not isinstance(node, Mapping) or id(node) in path:
        return
    cls = _MODELS + _model_class(raw, node)
    for index, value in enumerate(node.get("enum") or []):
        if value is _DATE_TIME_UNWRITABLE and findings.unwritable is None:
            findings.unwritable = (
                f'{value.reason} (through reference chain: {chain}{cls}["enum"]->java.util.ArrayList[{index}])'
            )
    if findings.unwritable is not None:
        return
    for keyword in sorted(k for k in _SYNTAX_CHECKED if k in node):
        value = node[keyword]
        fault: dict[str, Any] = {}
        if keyword in ("enum", "required"):
            value = [v for v in value if not isinstance(v, _Unwritable)]  # bytes: fge meets them later
            if len({_canonical(v) for v in value}) != len(value):
                fault = {"message": "array must not contain duplicate elements"}
        elif keyword.startswith("exclusive"):
            bound = keyword.removeprefix("exclusive").lower()
            if bound not in node:
                fault = {"message": f"{keyword} must be paired with {bound}"}
        elif keyword == "pattern":
            compiled = ecma262.compiled(value)
            if compiled.overrun is not None and findings.overrun is None:
                findings.overrun = compiled.overrun
            elif compiled.regex is None and compiled.overrun is None:
                fault = {"message": f'string "{value}" is not a valid ECMA 262 regular expression', "value": value}
        elif keyword == "type":
            if value not in _KINDS_ORDER:
                fault = {"message": f'"{value}" is not a valid primitive type (valid values are: {_PRIMITIVE_TYPES})',
                         "found": value, "valid": list(_KINDS_ORDER)}  # fmt: skip
        elif value < 0:  # a count
            fault = {"message": "integer value must be strictly positive"}
        if fault:
            message = fault.pop("message")
            schema = {"loadingURI": "#", "pointer": pointer}
            findings.faults.append(
                {
                    "level": "error",
                    "message": message,
                    "domain": "syntax",
                    "schema": schema,
                    "keyword": keyword,
                    **fault,
                }
            )
    path = path | {id(node)}
    for keyword in _SUBSCHEMAS:
        member = node.get(keyword)
        if isinstance(member, list):
            children = [(f"/{i}", f"java.util.ArrayList[{i}]->", m) for i, m in enumerate(member)]
        elif keyword == "properties" and isinstance(member, Mapping):
            children = [("/" + n.replace("~", "~0").replace("/", "~1"), f'java.util.LinkedHashMap["{n}"]->', member[n])
                        for n in sorted(member, key=_utf16)]  # fmt: skip
        else:
            children = [("", "", member)] if isinstance(member, Mapping) else []
        for suffix, link, child in children:
            below = f'{chain}{cls}["{keyword}"]->{link}'
            _syntax_walk(definition, child, f"{pointer}/{keyword}{suffix}", below, path, findings)


def _utf16(text: str) -> bytes:
    """Java's String order (UTF-16 code units)."""
    return text.encode("utf-16-be", "surrogatepass")


def _jackson_pretty(value: Any, indent: str = "") -> str:
    """Jackson's default pretty printer (JacksonUtils.prettyPrint): `[ {`, two-space indents, ` : `."""
    inner = indent + "  "
    if isinstance(value, list):
        return "[ " + ", ".join(_jackson_pretty(v, indent) for v in value) + " ]" if value else "[ ]"
    if isinstance(value, Mapping):
        members = [f"{inner}{_jackson_text(k)} : {_jackson_pretty(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + indent + "}" if members else "{ }"
    return _jackson_text(value)


def _jackson_text(text: str) -> str:
    """A JSON string as Jackson writes it: `"` and `\\` escaped, control characters as \\b, \\t, \\n, \\f, \\r or
    \\u00XX (capitals), everything else as it is."""
    return '"' + "".join(_JACKSON_ESCAPES.get(c) or (f"\\u{ord(c):04X}" if c < " " else c) for c in text) + '"'


_JACKSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


_KINDS_BY_TYPE = {type(None): "null", bool: "boolean", int: "integer", float: "number", Decimal: "number",
                  str: "string", list: "array", dict: "object"}  # fmt: skip


def _kind(value: Any) -> str:
    """fge's NodeType of a JSON value (as parsed here: dicts, lists, str, int, Decimal, bool, None)."""
    kind = _KINDS_BY_TYPE.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True, slots=True)
class _Plan:
    """A schema as the validator walks it, worked out once per schema: its keywords present (in fge's order), its
    required properties (a request's without its readOnly ones), and what its members are validated against."""

    schema: Mapping[str, Any]
    keywords: tuple[str, ...]
    required: tuple[str, ...]
    properties: Mapping[str, Any]
    patterns: tuple[tuple[ecma262.Pattern, Any], ...]
    additional: Any  # additionalProperties as a schema, else None


_KINDS_ORDER = ("array", "boolean", "integer", "null", "number", "object", "string")  # NodeType's order
_APPLIES = {  # the instance types each keyword's digester is registered for (fge's draft v4 dictionaries)
    "additionalItems": {"array"}, "additionalProperties": {"object"}, "dependencies": {"object"},
    "maxItems": {"array"}, "minItems": {"array"}, "uniqueItems": {"array"},
    "maxLength": {"string"}, "minLength": {"string"}, "pattern": {"string"},
    "maxProperties": {"object"}, "minProperties": {"object"}, "required": {"object"},
    "maximum": {"integer", "number"}, "minimum": {"integer", "number"}, "multipleOf": {"integer", "number"},
}  # fmt: skip
_FORMAT_TYPES = {"date-time": {"string"}, "date": {"string"}, "email": {"string"}, "hostname": {"string"},
                 "ipv4": {"string"}, "ipv6": {"string"}, "uri": {"string"}, "regex": {"string"}, "byte": {"string"},
                 "int32": {"integer"}, "int64": {"integer"}, "float": {"integer", "number"},
                 "double": {"integer", "number"}, "uuid": {"string"}, "base64": {"string"}, "md5": {"string"},
                 "sha1": {"string"}, "sha256": {"string"}, "sha512": {"string"}, "mac": {"string"}}  # fmt: skip
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}  # fge's extra formats: hex strings
# fge's order: each keyword's validator by name, then the format's (FormatProcessor appends it).
_KEYWORDS = [*sorted(["additionalItems", "additionalProperties", "allOf", "anyOf", "dependencies", "discriminator",
                      "enum", "maxItems", "maxLength", "maxProperties", "maximum", "minItems", "minLength",
                      "minProperties", "minimum", "multipleOf", "not", "oneOf", "pattern", "required", "type",
                      "uniqueItems"]), "format"]  # fmt: skip


def _text(value: Any) -> str:
    """A JSON value as Jackson's JsonNode.toString writes it."""
    if isinstance(value, _BigDecimal):
        return str(value.normalize()) if value else "0"
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _text(v) for k, v in value.items()) + "}"
    return json.dumps(_plain(value), ensure_ascii=False)


class _BigDecimal(Decimal):
    """A number schema's enum value (NumberSchema.cast: a BigDecimal), which fge's tree holds as a DecimalNode: written
    with its trailing zeros stripped (JsonNodeFactory), in BigDecimal.toString's notation (`2E+3`)."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _number_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


# A quotient of more digits than this is not worked out (a number the client sends can have a million): taken for
# not a multiple, where fge's BigDecimal would answer exactly.
MAX_QUOTIENT_DIGITS = 10_000


def _multiple_of(number: Decimal, divisor: Decimal) -> bool:
    """Whether `number` is an exact multiple of `divisor` (fge's BigDecimal remainder), without Decimal's context
    limits: the quotient's digits are given the precision they need, up to MAX_QUOTIENT_DIGITS."""
    if number == 0:
        return True
    digits = number.adjusted() - divisor.adjusted() + len(divisor.as_tuple().digits) + 2
    if digits > MAX_QUOTIENT_DIGITS:
        return False
    with decimal.localcontext() as context:
        context.prec = max(28, digits)
        context.traps[decimal.InvalidOperation] = False
        remainder = number % divisor
    return remainder == 0


def _canonical(value: Any) -> str:
    """One text for JsonNumEquals-equal values: numbers by value (1, 1.0 and 1e0 alike), members in name order."""
    kind = _kind(value)
    if kind in ("integer", "number"):
        number = Decimal(str(value))
        return "n" + (str(number.normalize()) if number else "0")
    if kind == "array":
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if kind == "object":
        return "{" + ",".join(json.dumps(k) + ":" + _canonical(value[k]) for k in sorted(value)) + "}"
    return json.dumps(value)


def _equal(a: Any, b: Any) -> bool:
    """fge's JsonNumEquals: numbers by value, containers member by member."""
    ka, kb = _kind(a), _kind(b)
    if ka in ("integer", "number") and kb in ("integer", "number"):
        return Decimal(str(a)) == Decimal(str(b))
    if ka != kb:
        return False
    if ka == "array":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if ka == "object":
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


@dataclass
class _Validator:
    definition: Definition
    request_body: bool

    def _plan(self, schema: Any) -> _Plan | None:
        """The schema's plan, from the definition's cache (a definition's schemas live as long as it does)."""
        key = (id(schema), self.request_body)
        plans = self.definition.plans
        if key in plans:
            return plans[key]
        resolved = _model(self.definition, self.definition.resolve(schema))
        plan = None
        if isinstance(resolved, Mapping):
            required = resolved.get("required")
            additional = resolved.get("additionalProperties")
            plan = _Plan(
                resolved,
                tuple(k for k in _KEYWORDS if k in resolved),
                tuple(r for r in required if not (self.request_body and self._read_only(resolved, r)))
                if isinstance(required, list)
                else (),
                resolved.get("properties") or {},
                tuple((ecma262.compiled(p), s) for p, s in (resolved.get("patternProperties") or {}).items()),
                additional if isinstance(additional, Mapping) else None,
            )
        if len(plans) < MAX_PLANS:
            plans[key] = plan
        return plan

    def validate(self, instance: Any, schema: Any, pointer: str, errors: list[tuple[str, str]]) -> None:
        """InstanceValidator.process with deepCheck: every keyword (in name order), then each member."""
        plan = self._plan(schema)
        if plan is None:
            return
        schema = plan.schema
        if _BYTES_UNWRITABLE in (schema.get("enum") or ()):
            raise _ValidationFailed(_BYTES_UNWRITABLE.reason)
        kind = _kind(instance)
        for keyword in plan.keywords:
            applies = _APPLIES.get(keyword)
            if applies is not None and kind not in applies:
                continue
            self._keyword(keyword, plan, instance, kind, pointer, errors)
        if kind == "array":
            items = schema.get("items")
            if isinstance(items, Mapping):  # one schema for every element
                for index, item in enumerate(instance):
                    self.validate(item, items, f"{pointer}/{index}", errors)
            elif isinstance(items, list):  # a schema per position, then additionalItems
                extra = schema.get("additionalItems")
                for index, item in enumerate(instance):
                    sub = items[index] if index < len(items) else (extra if isinstance(extra, Mapping) else None)
                    if sub is not None:
                        self.validate(item, sub, f"{pointer}/{index}", errors)
        elif kind == "object":
            properties = plan.properties
            for name in sorted(instance):
                subs = []
                if name in properties:
                    subs.append(properties[name])
                subs += [s for p, s in plan.patterns if p.test(name)]
                if not subs and plan.additional is not None:
                    subs.append(plan.additional)
                escaped = name.replace("~", "~0").replace("/", "~1")
                for sub in subs:
                    self.validate(instance[name], sub, f"{pointer}/{escaped}", errors)

    def _keyword(self, keyword: str, plan: _Plan, instance: Any, kind: str, pointer: str,
                 errors: list[tuple[str, str]]) -> None:  # fmt: skip
        schema = plan.schema
        value = schema[keyword]

        def error(message: str) -> None:
            errors.append((pointer, message))

        if keyword == "type":
            allowed = {value} if isinstance(value, str) else set(value or [])
            if schema.get("nullable") is True:
                allowed.add("null")
            if "number" in allowed:
                allowed.add("integer")  # TypeValidator: NodeType.NUMBER takes INTEGER in
            if kind in allowed:
                return
            listed = _text([k for k in _KINDS_ORDER if k in allowed])
            error(f"instance type ({kind}) does not match any allowed primitive type (allowed: {listed})")
        elif keyword == "enum" and isinstance(value, list):
            values = list(value) + ([None] if schema.get("nullable") is True and None not in value else [])
            if not any(_equal(v, instance) for v in values):
                error(f"instance value ({_text(instance)}) not found in enum (possible values: {_text(values)})")
        elif keyword == "required" and isinstance(value, list):
            missing = [r for r in sorted(set(plan.required)) if r not in instance]
            if missing:
                error(f"object has missing required properties ({_text(missing)})")
        elif keyword == "additionalProperties" and value is False:
            known = set(schema.get("properties") or {})
            patterns = list((schema.get("patternProperties") or {}).keys())
            unwanted = sorted(
                n for n in instance if n not in known and not any(ecma262.compiled(p).test(n) for p in patterns)
            )
            if unwanted:
                error(f"object instance has properties which are not allowed by the schema: {_text(unwanted)}")
        elif keyword in ("minimum", "maximum") and _is_number(value):
            self._bound(keyword, schema, instance, error)
        elif keyword == "multipleOf" and _is_number(value) and Decimal(str(value)) != 0:
            if not _multiple_of(Decimal(str(instance)), Decimal(str(value))):
                error(f"remainder of division is not zero ({_number_text(instance)} / {_number_text(value)})")
        elif keyword in ("minLength", "maxLength") and isinstance(value, int):
            length = len(instance)
            if keyword == "minLength" and length < value:
                error(f'string "{instance}" is too short (length: {length}, required minimum: {value})')
            if keyword == "maxLength" and length > value:
                error(f'string "{instance}" is too long (length: {length}, maximum allowed: {value})')
        elif keyword == "pattern" and isinstance(value, str):
            # Rhino's RegExp, as fge runs it (a pattern Rhino refuses never gets here: _syntax_report).
            if not ecma262.compiled(value).test(instance):
                error(f'ECMA 262 regex "{value}" does not match input string "{instance}"')
        elif keyword == "minItems" and isinstance(value, int) and len(instance) < value:
            error(f"array is too short: must have at least {value} elements but instance has {len(instance)} elements")
        elif keyword == "maxItems" and isinstance(value, int) and len(instance) > value:
            error(f"array is too long: must have at most {value} elements but instance has {len(instance)} elements")
        elif keyword == "uniqueItems" and value is True:
            # fge's set of JsonNumEquals-equivalent elements: one canonical key each (pairs would be quadratic in
            # an array the client sends).
            if len({_canonical(item) for item in instance}) != len(instance):
                error("array must not contain duplicate elements")
        elif keyword == "additionalItems" and value is False and isinstance(schema.get("items"), list):
            if len(instance) > len(schema["items"]):
                error(
                    f"schema only allows {len(schema['items'])} elements in array but instance has {len(instance)} "
                    "elements"
                )
        elif keyword == "minProperties" and isinstance(value, int) and len(instance) < value:
            error(f"object has too few properties (found {len(instance)} but schema requires at least {value})")
        elif keyword == "maxProperties" and isinstance(value, int) and len(instance) > value:
            error(f"object has too many properties (found {len(instance)} but schema requires at most {value})")
        elif keyword == "dependencies" and isinstance(value, Mapping):
            for name, needs in value.items():
                if name in instance and isinstance(needs, list):
                    missing = [n for n in needs if n not in instance]
                    if missing:
                        error(f'property "{name}" of object has missing property dependencies (schema requires '
                              f"{_text(needs)}; missing: {_text(missing)})")  # fmt: skip
                elif name in instance and isinstance(needs, Mapping):
                    self.validate(instance, needs, pointer, errors)
        elif keyword in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            matched = 0
            for sub in value:
                nested: list[tuple[str, str]] = []
                self.validate(instance, sub, pointer, nested)
                matched += not nested
            total = len(value)
            if keyword == "allOf" and matched < total:
                error(f"instance failed to match all required schemas (matched only {matched} out of {total})")
            if keyword == "anyOf" and matched == 0:
                error(f"instance failed to match at least one required schema among {total}")
            if keyword == "oneOf" and matched != 1:
                error(f"instance failed to match exactly one schema (matched {matched} out of {total})")
        elif keyword == "not" and isinstance(value, Mapping):
            nested = []
            self.validate(instance, value, pointer, nested)
            if not nested:
                error("instance matched a schema which it should not have")
        elif keyword == "format" and isinstance(value, str) and kind in _FORMAT_TYPES.get(value, ()):
            problem = _format_problem(value, instance)
            if problem:
                error(problem)

    def _read_only(self, schema: Mapping[str, Any], name: str) -> bool:
        """RequiredFieldTransformer: a request does not have to send a readOnly property."""
        prop = self.definition.resolve((schema.get("properties") or {}).get(name))
        return isinstance(prop, Mapping) and prop.get("readOnly") is True

    @staticmethod
    def _bound(keyword: str, schema: Mapping[str, Any], instance: Any, error: Any) -> None:
        bound = schema[keyword]
        limit: int | Decimal
        found: int | Decimal
        if type(bound) is int and type(instance) is int:  # the common case, exact without Decimal
            limit, found = bound, instance
        else:
            limit, found = Decimal(str(bound)), Decimal(str(instance))
        exclusive = schema.get("exclusiveMinimum" if keyword == "minimum" else "exclusiveMaximum") is True
        if keyword == "minimum":
            if found < limit:
                error(f"numeric instance is lower than the required minimum (minimum: {_number_text(bound)}, "
                      f"found: {_number_text(instance)})")  # fmt: skip
            elif exclusive and found == limit:
                error(f"numeric instance is not strictly greater than the required minimum {_number_text(bound)}")
        else:
            if found > limit:
                error(f"numeric instance is greater than the required maximum (maximum: {_number_text(bound)}, "
                      f"found: {_number_text(instance)})")  # fmt: skip
            elif exclusive and found == limit:
                error(f"numeric instance is not strictly lower than the required maximum {_number_text(bound)}")


def _is_number(value: Any) -> bool:
    return _kind(value) in ("integer", "number")


_DATE_TIME_FORMATS = "[yyyy-MM-dd'T'HH:mm:ssZ, yyyy-MM-dd'T'HH:mm:ss.[0-9]{1,12}Z]"  # a Java List's toString


def _format_problem(name: str, value: Any) -> str | None:
    """The format attributes fge and the library register (their messages); an unknown format is not checked."""
    if name == "date-time":
        if not java_formats.is_date_time(value):  # Joda-Time, as fge's DateTimeAttribute parses it
            return f'string "{value}" is invalid against requested date format(s) {_DATE_TIME_FORMATS}'
    elif name == "date":
        if not java_formats.is_date(value):
            return f'string "{value}" is invalid against requested date format(s) yyyy-MM-dd'
    elif name == "int32" and not -(2**31) <= int(value) < 2**31:
        return f"value for int32 leads to overflow (found: {value})"
    elif name == "int64" and not -(2**63) <= int(value) < 2**63:
        return f"value for int64 leads to overflow (found: {value})"
    elif name in ("float", "double"):
        converted = float(Decimal(str(value)))
        if (name == "float" and abs(converted) > 3.4028234663852886e38) or math.isinf(converted):
            return f"value for {name} leads to overflow (original: {_number_text(value)}, converted: Infinity)"
    elif name == "byte":
        return java_formats.base64_fault(value)  # the validator's Base64Attribute
    elif name == "ipv4":
        if java_formats.ip_version(value) != 4:  # InetAddresses, as fge asks
            return f'string "{value}" is not a valid IPv4 address'
    elif name == "ipv6":
        if java_formats.ip_version(value) != 6:
            return f'string "{value}" is not a valid IPv6 address'
    elif name == "email":
        if not java_formats.is_email(value):  # new InternetAddress(value, true), as fge asks
            return f'string "{value}" is not a valid email address'
    elif name == "hostname":
        if not java_formats.is_hostname(value):  # InternetDomainName.from(value), as fge asks
            return f'string "{value}" is not a valid hostname'
    elif name == "uri":
        if not java_formats.is_uri(value):  # new URI(value), as fge asks
            return f'string "{value}" is not a valid URI'
    elif name == "uuid":
        if not java_formats.is_uuid(value):  # UUID.fromString, as fge asks
            return f'input string "{value}" is not a valid UUID'
    elif name == "base64":
        if len(value) % 4:
            return f"input has illegal length (must be a multiple of 4, found {len(value)})"
        index = java_formats.base64_illegal_index(value)
        if index is not None:
            return f'illegal character "{value[index]}" at index {index} (not in Base64 alphabet)'
    elif name in _HEX_LENGTHS:
        if len(value) != _HEX_LENGTHS[name]:
            return f"input string has incorrect length ({len(value)}, expected {_HEX_LENGTHS[name]})"
        index = next((i for i, c in enumerate(value) if c not in "0123456789abcdefABCDEF"), None)
        if index is not None:
            return f'illegal character "{value[index]}" in input at index {index}'
    elif name == "mac":
        if not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", value):
            return f'input string "{value}" is not a valid MAC address'
    elif name == "regex":
        # A client's text: checked as Rhino reads it, never compiled nor kept. Where Rhino's parser fails on it,
        # APIM's validation fails as a whole.
        valid, overrun = ecma262.check(value)
        if overrun is not None:
            raise _ValidationFailed(overrun.message())
        if not valid:
            return f'string "{value}" is not a valid ECMA 262 regular expression'
    return None
