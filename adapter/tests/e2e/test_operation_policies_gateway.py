"""APIM's Add Header, Remove Header, Add Query Param, Rewrite Resource Path and Change HTTP Method operation
policies, carried out by a real Envoy on the adapter's answer in gRPC and HTTP modes in front of a real httpbin, and
its access checks (the claim validator, the Regex Policy, the JSON and XML Validators): what the backend receives
and what the client gets back, as APIM's gateway changes them (adapter/src/apim_adapter/mediation.py), and where
Envoy's HTTP client cannot (the query, the path and the method; a response header is appended rather than set)."""

from __future__ import annotations

import base64
import urllib.parse

import pytest
import requests

from harness.adapter_process import Served
from harness.envoy import (
    HTTP_DOWNSTREAM_ON_ALLOW,
    HTTP_UPSTREAM_ON_ALLOW,
    Authz,
    Gateway,
    envoyfilter_patch,
    header_allowlist,
)
from harness.processes import echoed_headers
from harness.sample_catalog import catalog_document
from harness.sample_catalog import operation_policy as _policy

API = "/httpbin/1.0.0"
BACKEND_CREDENTIAL = "Basic YmFja2VuZDpzM2NyZXQ="  # what the API's policy sends its backend instead of the token
# The provider's includeRequestBodyInCheck, as the chart's values example sets it: bodies up to 8 KiB in the check,
# the first 8 KiB of a longer one (allowPartialMessage) rather than Envoy's 413.
INCLUDED_BODY = {"maxRequestBytes": 8192, "allowPartialMessage": True}
XML_REFUSED = "XML Validation Failed: due to "  # XMLAnalyzer's words before Woodstox's


POLICIES = [
    _policy("request", "addHeader", "v2", headerName="X-Env", headerValue="mesh"),  # the API's, on every operation
    _policy("request", "removeHeader", "v1", "GET /headers", headerName="X-Debug"),
    _policy("request", "addHeader", "v2", "GET /headers", headerName="Authorization", headerValue=BACKEND_CREDENTIAL),
    _policy("request", "addQueryParam", "v1", "GET /anything/*", paramKey="team", paramValue="payments"),
    _policy("response", "addHeader", "v2", "GET /response-headers", headerName="X-Served-By", headerValue="mesh"),
    _policy("request", "jsonToXML", "v1", "GET /ip"),  # not applied here: named
    _policy("request", "regexPolicy", "v1", "POST /anything/*"),  # body, headers, path and query
    _policy("request", "jsonValidator", "v1", "POST /anything/*", maxStringLength="64", maxJsonDepth="3"),
    _policy("request", "xmlValidator", "v1", "POST /anything/*"),  # its template's fixed limits, 100 each
    _policy("request", "jwtClaimBasedAccessValidator", "v1", "GET /ip", accessVerificationClaim="aut",
            accessVerificationClaimValue="APPLICATION"),  # only tokens of applications, not of their users
    _policy("request", "rewriteResourcePath", "v3", "GET /get", newResourcePath="/anything/rewritten",
            includeQueryParams="true"),
    _policy("request", "addQueryParam", "v1", "PUT /put", paramKey="dropped", paramValue="1"),  # before the rewrite
    _policy("request", "changeHTTPMethod", "v1", "PUT /put", httpMethod="PATCH"),
    _policy("request", "rewriteResourcePath", "v3", "PUT /put", newResourcePath="anything/patched?from=policy",
            includeQueryParams="false"),
]  # fmt: skip


@pytest.fixture(scope="module")
def mediated(stack, tmp_path_factory):
    """An adapter whose catalog's API has operation policies, and a gateway per mode in front of the session's
    httpbin; the HTTP provider names the policies' headers in its allowlists, as the chart's
    `istio.extensionProvider.extraHeadersToUpstream` / `extraHeadersToDownstream` print them."""
    workdir = tmp_path_factory.mktemp("operation-policies")
    doc = catalog_document()
    doc["apis"][0]["urlMappings"] += [{"httpMethod": "GET", "urlPattern": "/response-headers", "scopes": []},
                                      {"httpMethod": "GET", "urlPattern": "/get", "scopes": []},
                                      {"httpMethod": "PUT", "urlPattern": "/put", "scopes": []}]  # fmt: skip
    doc["apis"][0]["operationPolicies"] = POLICIES
    providers = {"extra_check_headers": ("x-comment",),
                 "upstream_on_allow": (*HTTP_UPSTREAM_ON_ALLOW, "x-env", "authorization"),
                 "downstream_on_allow": (*HTTP_DOWNSTREAM_ON_ALLOW, "x-served-by")}  # fmt: skip
    with stack.own_adapter(workdir, doc, include_request_body=INCLUDED_BODY, **providers) as (adapter, gateways):
        yield Served(gateways, adapter)


def _call(mediated: Served, mode: str, path: str, token: str | None, **headers: str) -> requests.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return requests.get(mediated.gateways[mode].url + API + path, headers=headers, timeout=10)


def test_the_backend_gets_the_request_as_the_policies_change_it(stack, mediated, mode):
    resp = _call(mediated, mode, "/headers", stack.token(), **{"X-Debug": "internal", "X-Env": "forged"})
    assert resp.status_code == 200, resp.text
    seen = echoed_headers(resp)
    assert seen["x-env"] == ["mesh"]  # set, replacing the client's, on every operation of the API
    assert "x-debug" not in seen  # removed on this operation
    assert seen["authorization"] == [BACKEND_CREDENTIAL]  # the policy's, set after the token was taken out
    assert seen["x-apim-application-name"] == ["subscribed"]  # the adapter's own headers as before


def test_an_operations_policies_stay_on_that_operation(stack, mediated, mode):
    resp = _call(mediated, mode, "/anything/x", stack.token(), **{"X-Debug": "internal"})
    assert resp.status_code == 200, resp.text
    seen = echoed_headers(resp)
    assert seen["x-debug"] == ["internal"]  # /headers' removeHeader is not this operation's
    assert "authorization" not in seen  # the token taken out, as on any call; no policy sets one here
    assert seen["x-env"] == ["mesh"]


def test_a_query_parameter_is_set_over_grpc_and_left_alone_in_http_mode(stack, mediated, mode):
    resp = _call(mediated, mode, "/anything/x?team=other&page=2", stack.token())
    assert resp.status_code == 200, resp.text
    args = resp.json()["args"]  # go-httpbin: each parameter's list of values
    assert args["page"] == ["2"]
    # gRPC: Envoy's query_parameters_to_set replaces the client's value (APIM's gateway appends a second one);
    # Envoy's HTTP client has no way to change the query.
    assert args["team"] == (["payments"] if mode == "grpc" else ["other"])
    if mode == "grpc":
        assert _call(mediated, mode, "/anything/y", stack.token()).json()["args"] == {"team": ["payments"]}


def _backend_saw(resp: requests.Response) -> tuple[str, str]:
    """The method and the path (with its query) go-httpbin was asked for, from its echo."""
    echo = resp.json()
    url = urllib.parse.urlsplit(echo["url"])
    return echo["method"], url.path + (f"?{url.query}" if url.query else "")


def test_a_rewritten_path_keeps_each_calls_query_over_grpc(stack, mediated, mode):
    authorization = {"authorization": f"Bearer {stack.token()}"}
    for called, query in (("/httpbin/1.0.0/get", "page=1&tag=a%26b"), ("/httpbin/1.0.0/get", "page=2"),
                          ("/httpbin/get", "page=3")):  # fmt: skip
        resp = requests.get(f"{mediated.gateways[mode].url}{called}?{query}", headers=authorization, timeout=10)
        assert resp.status_code == 200, resp.text
        # gRPC: the API's context (either it is called by) and the policy's path, then this call's query as sent
        # (the second call is answered from the first's prepared allow); HTTP mode: Envoy's HTTP client cannot
        # change the path, and the backend gets the call as the client sent it.
        expected = f"/anything/rewritten?{query}" if mode == "grpc" else f"/get?{query}"
        assert _backend_saw(resp) == ("GET", expected)


def _unapplied(mediated: Served) -> float:
    """apim_adapter_policies_unapplied_total for the API, 0 before its first count."""
    return mediated.adapter.sample('apim_adapter_policies_unapplied_total{api="HttpbinAPI"}')


def test_http_mode_counts_and_names_the_calls_whose_path_it_cannot_change(stack, mediated):
    """The backend got the client's path in HTTP mode (above): the call is counted and the API named in the log, so
    that an operator sees what APIM's gateway would have changed; over gRPC nothing is counted."""
    authorization = {"authorization": f"Bearer {stack.token()}"}
    before = _unapplied(mediated)
    for mode, counted in (("http", 1.0), ("http", 2.0), ("grpc", 2.0)):
        resp = requests.get(mediated.gateways[mode].url + API + "/get?page=1", headers=authorization, timeout=10)
        assert resp.status_code == 200, resp.text
        assert _unapplied(mediated) == before + counted
    logged = [line for line in mediated.adapter.proc.log(200_000).splitlines()
              if "operation policies not applied in HTTP mode" in line]  # fmt: skip
    assert logged
    assert all('"api": "HttpbinAPI"' in line for line in logged)


def test_a_rewritten_path_keeps_its_route_where_the_gateway_picks_the_route_again(stack, mediated, tmp_path):
    """The chart's `clearRouteCache` (tier routing): Envoy recomputes the route after the check, for the new path,
    which stays below the API's context."""
    gateway = Gateway(Authz([mediated.adapter.grpc_port], "grpc"), stack.gateways["grpc"].upstream_port,
                      ext_authz_patch=envoyfilter_patch(clear_route_cache=True, allowlist=True))  # fmt: skip
    proc = gateway.start(tmp_path)
    try:
        resp = requests.get(gateway.url + API + "/get?page=1", headers={"authorization": f"Bearer {stack.token()}"},
                            timeout=10)  # fmt: skip
        assert resp.status_code == 200, resp.text
        assert _backend_saw(resp) == ("GET", "/anything/rewritten?page=1")
    finally:
        proc.stop()


def test_a_changed_method_and_a_path_without_the_query_over_grpc(stack, mediated, mode):
    resp = requests.put(mediated.gateways[mode].url + API + "/put?client=1", json={"order": 7},
                        headers={"authorization": f"Bearer {stack.token()}"}, timeout=10)  # fmt: skip
    assert resp.status_code == 200, resp.text
    if mode == "grpc":
        # The postfix replaced whole: the client's query and the parameter an earlier policy added are gone, the
        # policy's own query stays; joined to the context with one slash; the body goes on with the new method.
        assert _backend_saw(resp) == ("PATCH", "/anything/patched?from=policy")
        assert resp.json()["json"] == {"order": 7}
    else:
        assert _backend_saw(resp) == ("PUT", "/put?client=1")


def test_a_response_header_is_set_on_the_backends_answer(stack, mediated, mode):
    resp = _call(mediated, mode, "/response-headers?X-Served-By=backend", stack.token())
    assert resp.status_code == 200, resp.text
    # gRPC: set, replacing the backend's (Synapse sets the transport header); HTTP mode: Envoy appends it.
    expected = ["mesh"] if mode == "grpc" else ["backend", "mesh"]
    assert [v.strip() for v in ",".join(resp.raw.headers.getlist("x-served-by")).split(",")] == expected


def test_a_denied_call_is_not_mediated(mediated, mode):
    resp = _call(mediated, mode, "/response-headers?X-Served-By=backend", None)
    assert resp.status_code == 401
    assert "x-served-by" not in resp.headers  # APIM runs the policies only on calls its handlers pass


def test_a_claim_validator_refuses_a_token_whose_claim_differs(stack, mediated, mode):
    assert _call(mediated, mode, "/ip", stack.token()).status_code == 200  # aut: APPLICATION, as IS issues it
    refused = _call(mediated, mode, "/ip", stack.token(aut="APPLICATION_USER"))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {"code": "900912", "message": "Claim Mismatch", "description": (
        "The claim configured in the system and the claim provided in the token do not align. Please ensure the "
        "claims match.")}  # fmt: skip


def test_a_regex_policy_refuses_sql_in_the_query_or_a_header_as_apims_gateway_does(stack, mediated, mode):
    url, token = mediated.gateways[mode].url + API + "/anything/orders", stack.token()

    def post(query: str = "", body: str = "{}", **headers: str) -> requests.Response:
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json", **headers}
        return requests.post(url + query, data=body, headers=headers, timeout=10)

    assert post("?customer=alice").status_code == 200
    in_query = post("?customer=x%27%20or%201%3D1")  # x' or 1=1, URL-decoded as APIM's URLDecoder does
    assert in_query.status_code == 400
    assert in_query.json() == {"code": "400", "message": "Bad Request",
                               "description": "SQL-Injection Threat detected in Query Parameters"}  # fmt: skip
    in_header = post(**{"X-Comment": "1; DROP TABLE orders"})
    assert (in_header.status_code, in_header.json()["description"]) == (
        400, "SQL-Injection Threat detected in HTTP Headers")  # fmt: skip


def test_a_regex_policy_searches_the_body_the_gateway_includes_as_apims_builder_reads_it(stack, mediated, mode):
    url, token = mediated.gateways[mode].url + API + "/anything/orders", stack.token()

    def post(body: bytes, content_type: str = "application/json", **more) -> requests.Response:
        headers = {"authorization": f"Bearer {token}", "content-type": content_type}
        return requests.post(url, data=body, headers=headers, timeout=10, **more)

    accepted = post(b'{"customer": "alice", "items": [1, 2]}')
    assert accepted.status_code == 200
    assert accepted.json()["json"] == {"customer": "alice", "items": [1, 2]}  # the body reached the backend whole
    for body in (b'{"note": "select * from users"}', rb'{"customer": "x\u0027 or 1=1"}'):  # an escaped apostrophe
        refused = post(body)
        assert refused.status_code == 400, body
        assert refused.json() == {"code": "400", "message": "Bad Request",
                                  "description": "SQL-Injection Threat detected in Payload"}  # fmt: skip
    assert post(b"q=drop%20table%20orders", "application/x-www-form-urlencoded").status_code == 400
    # A form APIM's builder throws on never reaches the backend, whose form reader may read `q='` in it.
    unbuilt = post(b"q=%27&b", "application/x-www-form-urlencoded")
    assert unbuilt.status_code == 400
    assert unbuilt.json() == {  # APIM's `fault` sequence's code, type, message and first words (its 500 a 400 here)
        "code": "0", "type": "Status report", "message": "Runtime Error", "description": "Error while building message"
    }  # fmt: skip
    chunked = post(iter([b'{"customer": ', b'"it\'s"}']))  # no Content-Length: Envoy buffers it all the same
    assert chunked.status_code == 400
    # Past the provider's maxRequestBytes the adapter gets the first 8 KiB only: not searched whole, refused as
    # APIM refuses a body over the protector's limit.
    too_long = post(b'{"pad": "' + b"x" * 10_000 + b'"}')
    assert too_long.status_code == 400
    assert too_long.json()["description"].startswith("Exceeded Request Payload size limit")


def test_a_regex_policy_searches_an_upload_as_apims_multipart_builder_builds_it(stack, mediated, mode):
    url, token = mediated.gateways[mode].url + API + "/anything/orders", stack.token()

    def upload(filename: str, content: bytes, note: str = "monthly report") -> requests.Response:
        files = {"doc": (filename, content, "text/plain")}
        return requests.post(url, files=files, data={"note": note}, headers={"authorization": f"Bearer {token}"},
                             timeout=10)  # fmt: skip

    # The file's bytes are searched in base64, as APIM's builder hands them over: its apostrophes let it through.
    accepted = upload("report.txt", b"it's the customer's select from the list")
    assert accepted.status_code == 200
    assert accepted.json()["files"] == {"doc": ["it's the customer's select from the list"]}  # reached the backend
    assert accepted.json()["form"] == {"note": ["monthly report"]}
    for refused in (upload("o'brien.txt", b"fine"), upload("report.txt", b"fine", note="x' or 1=1")):
        assert refused.status_code == 400
        assert refused.json() == {"code": "400", "message": "Bad Request",
                                  "description": "SQL-Injection Threat detected in Payload"}  # fmt: skip


def test_a_json_validator_refuses_a_body_past_its_limits_as_apims_gateway_does(stack, mediated, mode):
    url, token = mediated.gateways[mode].url + API + "/anything/orders", stack.token()

    def post(body: bytes, content_type: str = "application/json") -> requests.Response:
        headers = {"authorization": f"Bearer {token}", "content-type": content_type}
        return requests.post(url, data=body, headers=headers, timeout=10)

    assert post(b'{"note": "' + b"n" * 64 + b'"}').status_code == 200
    too_long = post(b'{"note": "' + b"n" * 65 + b'"}')
    assert too_long.status_code == 400
    assert too_long.json() == {"code": "400", "message": "Bad Request", "description": (
        "Request is failed due to a JSON schema validation failure: Max String Length [64] Reached")}  # fmt: skip
    too_deep = post(b'{"a": {"b": {"c": {"d": 1}}}}')
    assert too_deep.json()["description"].endswith(f"Threat Protection-JSON: {API} - Depth Limit [3] Reached")
    assert (
        post(b'{"note": ', "application/json")
        .json()["description"]
        .endswith("Error occurred while parsing the JSON payload")
    )
    assert post(b"n" * 65, "text/plain").status_code == 200  # not JSON: not its to read


def test_an_xml_validator_refuses_a_body_woodstox_refuses_as_apims_gateway_does(stack, mediated, mode):
    url, token = mediated.gateways[mode].url + API + "/anything/orders", stack.token()

    def post(body: bytes, content_type: str = "application/xml") -> requests.Response:
        headers = {"authorization": f"Bearer {token}", "content-type": content_type}
        return requests.post(url, data=body, headers=headers, timeout=10)

    def items(count: int) -> bytes:
        return b"<order>" + b'<item sku="a-1">widget</item>' * count + b"</order>"  # no apostrophe: the Regex Policy's

    document = b"<?xml version='1.0'?>\n" + items(99)  # 100 elements: at the limit
    accepted = post(document, "text/xml; charset=utf-8")
    assert accepted.status_code == 200
    # The body reached the backend whole: go-httpbin echoes an XML body as a base64 data URL of its media type.
    assert accepted.json()["data"] == "data:text/xml;base64," + base64.urlsafe_b64encode(document).decode()
    many = post(items(100))
    assert many.status_code == 400
    assert many.json() == {"code": "400", "message": "Bad Request",
                           "description": f"{XML_REFUSED}Maximum Element Count limit (100) Exceeded"}  # fmt: skip
    deep = post(b"<a>" * 101 + b"</a>" * 101)
    assert deep.json()["description"] == f"{XML_REFUSED}Maximum Element Depth limit (100) Exceeded"
    # DTD support off: an entity is never declared, so never fetched nor expanded (double quotes: an apostrophe
    # would be the Regex Policy's, which runs first).
    entity = post(b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>')
    assert entity.status_code == 400
    assert entity.json()["description"] == (
        f'{XML_REFUSED}Undeclared general entity "e"\n at [row,col {{unknown-source}}]: [1,60]'
    )
    headers = {"authorization": f"Bearer {token}", "content-type": "application/xml"}
    unchecked = requests.get(url, data=items(100), headers=headers, timeout=10)
    assert unchecked.status_code == 200  # GET: XMLSchemaValidator reads no GET's body (and the policy is on POST)
    assert post(items(100), "text/plain").status_code == 200  # not XML: not its to read


def unread(mediated: Served) -> float:
    """The adapter's count of calls refused for a body the gateway did not hand over whole."""
    return mediated.adapter.sample('apim_adapter_bodies_unread_total{api="HttpbinAPI"}')


def test_a_body_a_gateway_does_not_include_is_refused_on_a_regex_policy_resource_only(stack, mediated, tmp_path):
    """A provider without includeRequestBodyInCheck: Envoy checks on the headers alone, so the adapter cannot
    search the body it knows is there (the client's Content-Length, in gRPC mode)."""
    gateway = Gateway(Authz([mediated.adapter.grpc_port], "grpc"), stack.gateways["grpc"].upstream_port,
                      ext_authz_patch=header_allowlist(("x-comment",)))  # fmt: skip
    proc = gateway.start(tmp_path)
    try:
        headers = {"authorization": f"Bearer {stack.token()}", "content-type": "application/json"}
        before = unread(mediated)
        guarded = requests.post(gateway.url + API + "/anything/orders", data=b"{}", headers=headers, timeout=10)
        assert guarded.status_code == 400
        assert guarded.json()["description"].startswith("Exceeded Request Payload size limit")
        assert unread(mediated) == before + 1  # counted apart: ApimAdapterBodiesUnread tells the operator
        # Chunked, no Content-Length: Envoy keeps Transfer-Encoding out of the check, so nothing says a body is
        # there. The gap an included body closes (the test above).
        chunked = requests.post(gateway.url + API + "/anything/orders", data=iter([b"{}"]), headers=headers, timeout=10)
        assert chunked.status_code == 200
        assert requests.post(gateway.url + API + "/anything/orders", headers=headers, timeout=10).status_code == 200
        other = requests.get(gateway.url + API + "/anything/orders", data=b"{}", headers=headers, timeout=10)
        assert other.status_code == 200  # GET: not the operation the policy is on
    finally:
        proc.stop()


def test_the_policies_not_applied_are_named(mediated):
    metrics = requests.get(mediated.adapter.admin + "/metrics", timeout=5).text
    assert "apim_adapter_catalog_unenforced_items 1.0" in metrics  # the API's one note: jsonToXML
