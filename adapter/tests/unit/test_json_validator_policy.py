"""APIM's JSON Validator (`jsonValidator` v1, JSON threat protection), as carbon-apimgt's JsonSchemaValidator and
JSONAnalyzer run it: a non-GET JSON body within the policy's limits, walked as Jackson's tokens (json_protector.py),
400 with APIM's description at the first limit reached. Behind Envoy: adapter/tests/e2e/
test_operation_policies_gateway.py."""

from __future__ import annotations

import copy

import pytest

from apim_adapter.catalog import CatalogError, build
from apim_adapter.json_protector import PARSE_ERROR, READ_ERROR, JsonLimits, problem
from apim_adapter.mediation import JsonCheck, RequestBody
from apim_adapter.transport import PARTIAL_BODY
from apim_adapter.transport.grpc import to_input
from harness.pipeline import check_request, in_process_adapter, token
from harness.sample_catalog import catalog_document
from harness.sample_catalog import operation_policy as policy

TIGHT = JsonLimits(max_property_count=3, max_string_length=5, max_array_element_count=3, max_key_length=4,
                   max_json_depth=2)  # fmt: skip
PREFIX = "Request is failed due to a JSON schema validation failure: "


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b'{"a": 1, "b": [1, 2, 3], "c": "12345"}', None),  # at every limit, none past
        (b'{"a": {"b": {"c": 1}}}', "Threat Protection-JSON: /httpbin/1.0.0 - Depth Limit [2] Reached"),
        (b'{"abcde": 1}', " Max Key Length [4] Reached"),  # APIM's leading space
        (b'{"a": 1, "b": 2, "c": 3, "d": 4}', "Max Property Count [3] Reached"),
        (b'{"a": {"b": 1}, "c": {"d": 1}}', "Max Property Count [3] Reached"),  # one count for the whole body
        (b'{"a": "123456"}', "Max String Length [5] Reached"),
        ('{"a": "\U0001f600\U0001f600\U0001f600"}'.encode(), "Max String Length [5] Reached"),  # Java: 6 units
        (b"[1, 2, 3, 4]", " Max Array Length [3] Reached"),
        # Inside an array every token is an element, and nothing but strings is looked at: an object's field
        # names and its end count, its key is not measured.
        (b'[{"abcdefgh": 1}]', " Max Array Length [3] Reached"),
        (b'[{"abcdefgh": 1, "b": 2}]', " Max Array Length [3] Reached"),
        (b'[{"abcdefgh": 1}, "x"]', " Max Array Length [3] Reached"),
        (b'[{"k": 1}]', " Max Array Length [3] Reached"),  # {, k, 1, }: four tokens
        (b'[{"k": {"a": {"b": {"c": 1}}}}]', " Max Array Length [3] Reached"),
        (b'[[{"k": {"a": {"b": {}}}}]]', " Max Array Length [3] Reached"),
        # The first nested array's end ends the array's loop: what follows is walked as outside an array.
        (b'[[1], "123456"]', "Max String Length [5] Reached"),
        (b'[[1], {"a": {"b": {"c": 1}}}]', "Threat Protection-JSON: /httpbin/1.0.0 - Depth Limit [2] Reached"),
        (b'{"a": 1} {"b": "123456"}', "Max String Length [5] Reached"),  # root values one after another
        (b'{"a": ', PARSE_ERROR),
        (b"NaN", PARSE_ERROR),  # Jackson's defaults refuse it; Python's json would not
        (b"", None),  # no token at all
        (b"[" * 5000 + b"]" * 5000, READ_ERROR),  # deeper than the parser goes
    ],
)
def test_a_body_is_walked_as_jsonanalyzer_walks_jacksons_tokens(body, refused):
    assert problem(body, TIGHT, "/httpbin/1.0.0") == refused


def test_only_a_json_body_of_a_method_but_get_is_read():
    check = JsonCheck(TIGHT)
    long = RequestBody(b'{"a": "123456"}', True, "application/json; charset=utf-8")
    refused = check.refusal("POST", long, "/httpbin/1.0.0")
    assert refused is not None
    assert (refused.status, refused.code, refused.message) == (400, "400", "Bad Request")
    assert refused.description == PREFIX + "Max String Length [5] Reached"
    assert check.refusal("PUT", RequestBody(long.sent, True, "text/json"), "/c") is not None
    assert check.refusal("GET", long, "/c") is None
    assert check.refusal("POST", RequestBody(long.sent, True, "text/plain"), "/c") is None
    assert check.refusal("POST", RequestBody(long.sent, True, "application/problem+json"), "/c") is None
    # Not handed over whole: it cannot be read, as APIM refuses a body it could not read.
    partial = check.refusal("POST", RequestBody(b'{"a": 1}', False, "application/json"), "/c")
    assert partial is not None
    assert partial.description == PREFIX + READ_ERROR


def guarded(**parameters) -> dict:
    doc = copy.deepcopy(catalog_document())
    doc["apis"][0]["operationPolicies"] = [policy("request", "jsonValidator", "v1", "POST /anything/*", **parameters)]
    return doc


def test_a_grpc_check_past_a_limit_is_refused_after_admission_and_never_prepared():
    a = in_process_adapter(guarded(maxStringLength="5", maxJsonDepth="2"))
    request = check_request(token(), path="/httpbin/1.0.0/anything/orders",
                            headers={"content-type": "application/json", PARTIAL_BODY: "false"})  # fmt: skip
    request.attributes.request.http.method = "POST"
    request.attributes.request.http.raw_body = b'{"customer": "alice-and-bob"}'
    refused = a.check_on_thread(to_input(request))
    assert (refused.status, refused.error.description) == (400, PREFIX + "Max String Length [5] Reached")
    assert refused.subscription is not None  # admitted and counted first, as on APIM's gateway
    request.attributes.request.http.raw_body = b'{"customer": "alice"}'
    assert a.check_on_thread(to_input(request)).allowed
    request.attributes.request.http.raw_body = b'{"a": {"b": {"c": 1}}}'
    deep = a.check_on_thread(to_input(request))
    assert deep.error.description == PREFIX + "Threat Protection-JSON: /httpbin/1.0.0 - Depth Limit [2] Reached"
    request.attributes.request.http.path = "/httpbin/anything/orders"  # the default version's context
    deep = a.check_on_thread(to_input(request))
    assert deep.error.description == PREFIX + "Threat Protection-JSON: /httpbin - Depth Limit [2] Reached"


def test_limits_its_spec_refuses_or_a_custom_mediator_are_named_not_applied():
    for doc in (guarded(maxStringLength="1000"), guarded(jsonSchemaValidator="com.example.MyValidator")):
        with pytest.raises(CatalogError, match="jsonValidator v1"):
            build(doc)
        [note] = [n for n in build(doc, lenient=True).unenforced if "operation policies" in n]
        assert "jsonValidator v1 (request, POST /anything/*)" in note
    assert not [n for n in build(guarded(), lenient=True).unenforced if "operation policies" in n]  # the defaults
