"""APIM's Schema Validation in the adapter: what APIM's gateway hands the validator of a request
(schema_validation.request_of, from OpenAPIRequest and SchemaValidationUtils), an API's definition read into its
catalog (a check on every resource, before its operation policies; or named, where none can be made), and its 400
in the decision, after admission and throttling. The validator itself is held to Atlassian's in
adapter/tests/e2e/test_schema_validation_parity.py; behind Envoy in
adapter/tests/e2e/test_schema_validation_gateway.py."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from apim_adapter.catalog import SCHEMA_VALIDATION_NOT_APPLIED, CatalogError, build
from apim_adapter.mediation import SCHEMA_BODY_NOT_WHOLE, SchemaCheck
from apim_adapter.schema_validation import PREFIX, Definition, request_of
from apim_adapter.transport import PARTIAL_BODY, request_body
from apim_adapter.transport.grpc import to_input
from harness.pipeline import check_request, in_process_adapter, token
from harness.sample_catalog import HTTPBIN_DEFINITION, schema_validated
from harness.sample_catalog import operation_policy as policy


def test_the_request_is_handed_over_as_apims_gateway_hands_it():
    r = request_of(
        "post", "/pets/1?a=1&b=x+y%21&a=2?c=3#f", {"Content-Type": "a/b", "X-Id": "7", "cookie": "s=1"}, "{}"
    )
    assert (r.method, r.path) == ("POST", "/pets/1")
    assert r.query == {"a": "2", "b": "x y!"}  # the last of a name; `+` a space; what follows a second `?` dropped
    assert r.headers == {"Content-Type": "a/b", "x-id": "7", "cookie": "s=1"}  # lower case but Content-Type
    assert request_of("GET", "/a#frag", {}, None).path == "/a"
    broken = request_of("GET", "/ip?verbose", {}, None)
    # getQueryParams' substring(0, -1): APIM's handler fails on it
    assert broken.gateway_failure == "Query parameter 'verbose' has no value (APIM's gateway fails such a request)"
    assert Definition(HTTPBIN_DEFINITION).detail(broken) == (
        PREFIX + "Query parameter 'verbose' has no value (APIM's gateway fails such a request), "
    )
    # getQueryParams' URLDecoder throws IllegalArgumentException, which the handler does not catch either.
    assert request_of("GET", "/ip?q=10%&r=1", {}, None).gateway_failure == (
        "Query parameter 'q' has a malformed % escape (APIM's gateway fails such a request)"
    )
    assert request_of("GET", "/ip?q=%2B%C3%A9+x", {}, None).query == {"q": "+é x"}


def test_an_api_with_schema_validation_checks_every_resource_first():
    doc = schema_validated()
    doc["apis"][0]["operationPolicies"] = [policy("request", "jsonValidator", "v1", "POST /anything/*")]
    for lenient in (False, True):
        catalog = build(doc, lenient=lenient)
        assert catalog.unenforced == ()
        api = catalog.apis["api-httpbin"]
        assert all(isinstance(r.access_checks[0], SchemaCheck) for r in api.resources)
        post = next(r for r in api.resources if (r.method, r.pattern) == ("POST", "/anything/*"))
        assert len(post.access_checks) == 2  # then the JSON Validator, as APIM's handler runs before the policies
        assert post.checks_each_call
        assert post.reads_body
    plain = copy.deepcopy(doc)
    plain["apis"][0]["enableSchemaValidation"] = False
    assert not any(
        isinstance(c, SchemaCheck) for r in build(plain).apis["api-httpbin"].resources for c in r.access_checks
    )
    as_text = schema_validated(json.dumps(HTTPBIN_DEFINITION))
    assert (
        build(as_text).apis["api-httpbin"].resources[0].access_checks[0]
        == (
            build(schema_validated())
            .apis["api-httpbin"]
            .resources[0]
            .access_checks[0]  # equal by the definition's digest
        )
    )


@pytest.mark.parametrize(
    ("definition", "why"),
    [
        (None, "no apiDefinition"),
        ({"openapi": "3.0.1", "paths": {"/a": {"$ref": "#/paths/~1b"}}}, "$ref '#/paths/~1b': not in the definition"),
        ("{not: [json", "not JSON nor YAML"),
        (7, "must be an OpenAPI document or its text"),
    ],
)
def test_a_definition_that_cannot_be_read_refuses_a_catalog_file_and_is_named_where_apim_serves_it(definition, why):
    doc = schema_validated(definition)
    if definition is None:
        del doc["apis"][0]["apiDefinition"]
    with pytest.raises(CatalogError, match=r"apis\[0\] \(HttpbinAPI\)\.apiDefinition: "):
        build(doc)
    catalog = build(doc, lenient=True)
    [note] = catalog.unenforced
    assert note.startswith(
        f"HttpbinAPI 1.0.0: not applied here, only by APIM's gateway: {SCHEMA_VALIDATION_NOT_APPLIED}: "
    )
    assert why in note
    assert "api-httpbin" in catalog.apis  # served, as APIM's other settings the adapter does not apply


@pytest.mark.parametrize("version", [{"openapi": "3.1.0"}])  # Swagger 2.0 is converted (SwaggerConverter)
def test_a_definition_of_another_version_is_named_strict_or_not(version):
    definition = {**{k: v for k, v in HTTPBIN_DEFINITION.items() if k != "openapi"}, **version}
    for lenient in (False, True):
        [note] = build(schema_validated(definition), lenient=lenient).unenforced
        assert note.endswith("definitions are not validated here (Swagger 2.0 and OpenAPI 3.0 only)")


def post(a, body: bytes, path: str = "/httpbin/1.0.0/anything/orders", whole: bool = True):
    headers = {"content-type": "application/json", PARTIAL_BODY: str(not whole).lower()}
    request = check_request(token(), path=path, headers=headers)
    request.attributes.request.http.method = "POST"
    request.attributes.request.http.raw_body = body
    return a.check_on_thread(to_input(request))


def test_a_request_against_the_definition_is_refused_400_after_admission_with_apims_description():
    a = in_process_adapter(schema_validated())
    assert post(a, b'{"customer": "alice", "count": 2}').allowed
    refused = post(a, b'{"customer": "alice-and-bob", "count": 0}')
    assert (refused.status, refused.error.code, refused.error.message) == (400, "400", "Bad Request")
    assert refused.error.description == PREFIX + (
        "[Path '/count'] Numeric instance is lower than the required minimum (minimum: 1, found: 0), "
        "[Path '/customer'] String \"alice-and-bob\" is too long (length: 13, maximum allowed: 8), "
    )
    assert refused.reason == "schema validation failed"
    assert refused.subscription is not None  # admitted and counted first, as on APIM's gateway
    missing = post(a, b"")
    assert missing.error.description == PREFIX + "A request body is required but none found., "
    assert post(a, b'{"customer": "alice"}', whole=False).error is SCHEMA_BODY_NOT_WHOLE
    # A resource APIM serves that the definition does not have: its validator finds no path, as APIM's does.
    from harness.pipeline import whole as whole_check

    headers = whole_check(a, token(), path="/httpbin/1.0.0/headers")
    assert headers.error.description == PREFIX + "No API path found that matches request '/headers'., "
    assert whole_check(a, token(), path="/httpbin/1.0.0/ip?verbose=true").allowed
    bad = whole_check(a, token(), path="/httpbin/1.0.0/ip?verbose=yes&x=1")
    assert bad.error.description.startswith(PREFIX + "Unable to parse JSON - ")
    assert bad.error.description.endswith("Query parameter 'x' is unexpected on path \"/ip\", ")


def test_a_regex_a_client_sends_is_checked_as_rhino_checks_it_and_never_fails_the_check():
    """A value of format `regex` is read as Rhino's parser reads it (APIM's fge asks Rhino), never compiled by Python's
    `re`, whose compiler overflowed on a count past its limit (the check crashed, a check error)."""
    definition = copy.deepcopy(HTTPBIN_DEFINITION)
    body = definition["paths"]["/anything/{segment}"]["post"]["requestBody"]["content"]["application/json"]
    body["schema"]["properties"]["filter"] = {"type": "string", "format": "regex"}
    a = in_process_adapter(schema_validated(definition))
    assert post(a, b'{"customer": "alice", "filter": "^a+$"}').allowed
    refused = post(a, b'{"customer": "alice", "filter": "a{99999999999}"}')
    assert (refused.status, refused.error.description) == (
        400,
        PREFIX + "[Path '/filter'] String \"a{99999999999}\" is not a valid ECMA 262 regular expression, ",
    )
    # Where Rhino's parser reads past the pattern's end, APIM's validation fails as a whole, with its exception.
    failed = post(a, b'{"customer": "alice", "filter": "a{1"}')
    assert (failed.status, failed.error.description) == (
        400,
        PREFIX + "An error occurred during schema validation - Index 3 out of bounds for length 3., ",
    )


def test_an_unauthenticated_call_is_refused_401_before_its_request_is_validated():
    a = in_process_adapter(schema_validated())
    request = check_request("", path="/httpbin/1.0.0/anything/orders", headers={"content-type": "application/json"})
    del request.attributes.request.http.headers["authorization"]
    request.attributes.request.http.method = "POST"
    assert a.check_on_thread(to_input(request)).status == 401


def test_a_body_the_gateway_may_have_left_out_is_not_taken_for_none_where_the_operation_requires_one():
    """Without Envoy's word (x-envoy-auth-partial-body comes only with a body it buffered) nor the client's
    Content-Length (an HTTP check has its own), the adapter cannot tell a body left out from none sent: where the
    operation requires a body it refuses as unread rather than answer "none found"; elsewhere it validates."""
    http_mode = request_body({"content-type": "application/json"}, b"", client_length=False)
    assert not http_mode.known
    assert request_body({PARTIAL_BODY: "false"}, b"{}", client_length=False).known
    assert request_body({"content-length": "0"}, b"").known  # gRPC: the client's Content-Length
    check = build(schema_validated()).apis["api-httpbin"].resources[0].access_checks[0]
    assert isinstance(check, SchemaCheck)
    assert check.refusal("POST", {"content-type": "application/json"}, "/anything/orders", http_mode) is (
        SCHEMA_BODY_NOT_WHOLE
    )
    assert check.refusal("GET", {}, "/ip", http_mode) is None
    known_empty = request_body({"content-length": "0", "content-type": "application/json"}, b"")
    refused = check.refusal("POST", {"content-type": "application/json"}, "/anything/orders", known_empty)
    assert refused.description == PREFIX + "A request body is required but none found., "


def test_a_body_nested_past_what_the_adapter_walks_is_refused_400_not_a_crash():
    """A recursive schema and a body nested 200,000 levels (which a client controls): Jackson refuses past 1,000
    levels on APIM's gateway; here the parser or the schema walk gives up sooner, and either way the call is 400."""
    nested = {"type": "array", "items": {"$ref": "#/components/schemas/Nested"}}
    definition = {**HTTPBIN_DEFINITION, "components": {"schemas": {"Nested": nested}}}
    definition["paths"] = {"/anything/{segment}": {"post": {
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nested"}}}},
        "responses": {"200": {"description": "OK"}}}}}  # fmt: skip
    a = in_process_adapter(schema_validated(definition))
    assert post(a, b"[" * 100 + b"]" * 100).allowed
    for depth in (990, 200_000):
        refused = post(a, b"[" * depth + b"]" * depth)
        assert refused.status == 400, refused
        assert refused.error.description.startswith(PREFIX)


def test_a_yaml_definitions_unquoted_dates_are_text_as_apims_parser_reads_them():
    """A catalog file in YAML, its definition's enum of dates unquoted: YAML's loader makes them dates, Jackson's YAML
    (APIM's parser) text; compared and written as text, never a crash on the first request."""
    definition = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {"/ip": {"get": {
        "parameters": [{"name": "day", "in": "query", "schema": {"type": "string", "enum": ["2024-01-01"]}}],
        "responses": {"200": {"description": "OK"}}}}}}  # fmt: skip
    loaded = yaml.safe_load(json.dumps(definition).replace('"2024-01-01"', "2024-01-01"))
    assert not isinstance(loaded["paths"]["/ip"]["get"]["parameters"][0]["schema"]["enum"][0], str)
    check = build(schema_validated(loaded)).apis["api-httpbin"].resources[0].access_checks[0]
    assert check.definition.detail(request_of("GET", "/ip?day=2024-01-01", {}, None)) is None
    assert check.definition.detail(request_of("GET", "/ip?day=x", {}, None)) == (
        PREFIX + 'Instance value ("x") not found in enum (possible values: ["2024-01-01"]), '
    )


def test_numbers_and_arrays_a_client_sends_cannot_crash_or_stall_the_check():
    """uniqueItems finds duplicates as fge's JsonNumEquals does (1, 1.0 and 1e0 alike, members in any order) by one
    key per element, not by pairs; multipleOf works out a huge number's remainder exactly, or refuses it past
    MAX_QUOTIENT_DIGITS, where Decimal's default context would raise."""
    schema = {"type": "array", "uniqueItems": True, "items": {"type": "number", "multipleOf": 0.5}}
    definition = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"post": {
        "requestBody": {"content": {"application/json": {"schema": schema}}},
        "responses": {"200": {"description": "OK"}}}}}}  # fmt: skip
    d = Definition(definition)

    def detail(body: str) -> str | None:
        return d.detail(request_of("POST", "/a", {"Content-Type": "application/json"}, body))

    assert detail("[1, 1.5, 1e100]") is None  # 1e100 is a multiple of 0.5: Decimal's 28 digits would raise
    assert detail("[1, 1.0]") == PREFIX + "Array must not contain duplicate elements, "
    assert detail("[1e0, 2]") is None
    assert detail("[1.25]") == PREFIX + "[Path '/0'] Remainder of division is not zero (1.25 / 0.5), "
    assert detail("[1e999999]") == PREFIX + "[Path '/0'] Remainder of division is not zero (1E+999999 / 0.5), "
    objects = Definition({**definition, "paths": {"/a": {"post": {
        "requestBody": {"content": {"application/json": {"schema": {"type": "array", "uniqueItems": True}}}},
        "responses": {"200": {"description": "OK"}}}}}})  # fmt: skip
    same = '[{"a": 1, "b": [2]}, {"b": [2.0], "a": 1.0}]'
    assert objects.detail(request_of("POST", "/a", {"Content-Type": "application/json"}, same)) == (
        PREFIX + "Array must not contain duplicate elements, "
    )
    assert d.detail(request_of("POST", "/a", {"Content-Type": "application/json"}, str(list(range(50_000))))) is None
