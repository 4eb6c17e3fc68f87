"""Whatever a client sends to a resource whose policies read the body (the Regex Policy, the JSON and XML
Validators, Schema Validation), the check answers it: an allow or a 4xx, never an exception nor a 5xx. Thousands of
requests are made at random from the pieces that have broken readers before (charsets Java lacks, malformed
escapes, surrogates, half a multipart body, DTDs, numbers past a double), on every such resource."""

from __future__ import annotations

import collections
import copy
import random
import time

import pytest

from apim_adapter.decision import CheckInput, first_step
from apim_adapter.mediation import RequestBody
from harness.pipeline import InProcess, token
from harness.sample_catalog import catalog_document, schema_validated
from harness.sample_catalog import operation_policy as policy

pytestmark = pytest.mark.unit

API = "/httpbin/1.0.0"
PATHS = [f"{API}/anything/orders", f"{API}/anything/json/orders", f"{API}/anything/xml/orders",
         "/orders/1.0.0/anything/orders", "/orders/1.0.0/ip"]  # fmt: skip
QUERIES = ["", "?a=1", "?a=%", "?a=%zz&b", "?%E9=%FF", "?q=x%27", "#f", "?a=1?b=2", "?a=%C0%80", "?=&&=", "?a=+%2B",
           "?verbose=maybe"]  # fmt: skip
CONTENT_TYPES = [
    "application/json", "application/xml", "text/xml", "application/x-www-form-urlencoded", "text/plain", "",
    "multipart/form-data; boundary=b", "multipart/form-data", "multipart/form-data, boundary=b",
    "application/octet-stream", "application/soap+xml", "text/json", "APPLICATION/JSON", "application/json, x",
    "application/json; charset=utf-16", "application/json; charset=\"", "text/plain; charset=idna",
    "text/plain; charset=punycode", "application/x-www-form-urlencoded; charset=iso-8859-1", "; charset=utf-8",
    "multipart/form-data; boundary=b; charset=utf-16", "multipart/mixed; boundary=b", "text/javascript",
]  # fmt: skip
PIECES = [
    b"{", b"}", b"[", b"]", b'"', b":", b",", b"1", b"-0", b"1e999", b"true", b"null", b"<a>", b"</a>", b"<!DOCTYPE a>",
    b"<?xml version='1.0'?>", b"&amp;", b"&#0;", b"&#xD800;", b"<![CDATA[", b"]]>", b"a=1", b"&", b"%", b"%zz", b"+",
    b"=", b"--b\r\n", b"Content-Disposition: form-data; name=a\r\n\r\n", b'; filename="=?UTF-8?B?J2E=?="',
    b"Content-Type: text/plain; charset=nope\r\n", b"\r\n--b--", b"\x00", b"\xff", b"\xed\xa0\x80", b"\\u0000",
    b"\\ud800", b"'", b"select", b" from ", b"\n", b"\r", b"\t", b"x" * 50, b"\xef\xbb\xbf", b"\\", b"\xc0\x80",
    b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body>", b'{"customer": "alice"}',
]  # fmt: skip


def catalog() -> dict:
    """The httpbin API with the three body policies on its `/anything` resources, and an orders API (the same
    backend, `/orders/1.0.0`) with Schema Validation against the sample definition."""
    doc = catalog_document()
    httpbin = doc["apis"][0]
    httpbin["operationPolicies"] = [
        policy("request", "regexPolicy", "v1", "POST /anything/*"),
        policy("request", "jsonValidator", "v1", "POST /anything/json/*"),
        policy("request", "xmlValidator", "v1", "POST /anything/xml/*"),
    ]
    httpbin["urlMappings"] += [
        {"httpMethod": "POST", "urlPattern": pattern, "scopes": []}
        for pattern in ("/anything/json/*", "/anything/xml/*")
    ]
    orders = copy.deepcopy(schema_validated()["apis"][0])
    orders.update(uuid="api-orders", apiId=99, name="OrdersAPI", context="/orders/1.0.0", isDefaultVersion=False)
    doc["apis"].append(orders)
    doc["subscriptions"].append({**doc["subscriptions"][0], "subscriptionUUID": "sub-orders", "apiUUID": "api-orders",
                                 "apiId": 99})  # fmt: skip
    for subscription in doc["subscriptions"]:
        subscription["policyId"] = "Unlimited"  # every request reaches the body policies
    return doc


def test_every_request_made_at_random_is_answered_never_with_an_exception_or_a_5xx():
    pipeline, bearer = InProcess(catalog()).pipeline, f"Bearer {token()}"
    rng = random.Random(20261206)
    answers: collections.Counter[str] = collections.Counter()
    for _ in range(4000):
        headers = {"authorization": bearer}
        if (content_type := rng.choice(CONTENT_TYPES)) or rng.random() < 0.5:
            headers["content-type"] = content_type
        body = b"".join(rng.choice(PIECES) for _ in range(rng.randrange(25)))
        sent = RequestBody(body, rng.random() > 0.05, headers.get("content-type", ""))
        method = rng.choice(["POST", "POST", "POST", "GET"])
        request = CheckInput(method, "gw", rng.choice(PATHS) + rng.choice(QUERIES), headers, body=sent)
        decision = first_step(pipeline.steps(request, time.time()))
        assert decision.status < 500, (request, decision.error)
        answers[decision.error.description.split(":")[0] if decision.error else "allowed"] += 1
    # Each body policy was reached and refused some, and some requests passed them all.
    for seen in ("allowed", "SQL-Injection Threat detected in Payload", "Request is failed due to a JSON schema "
                 "validation failure", "XML Validation Failed", "Schema validation failed in the Request"):  # fmt: skip
        assert answers[seen] > 20, answers
