"""CORS as APIM 4.5's gateway answers browsers (apim_adapter/cors.py cites CORSRequestHandler and the sequences that
write its headers): preflights answered without a credential, the Origin's headers on calls and on their denials, an
API's own configuration over the global one, 405 for a path served with another method."""

from __future__ import annotations

import copy
import json

import pytest
from envoy.service.auth.v3 import external_auth_pb2 as pb

from apim_adapter import errors
from apim_adapter.catalog import CatalogError
from apim_adapter.config import Request, parse
from apim_adapter.cors import Settings
from apim_adapter.render import Renderer
from apim_adapter.transport.grpc import AuthorizationService, read_native
from harness.pipeline import InProcess, check_request, in_process_adapter, token
from harness.sample_catalog import TINY_LIMIT, api_product, catalog_document

IP = "/httpbin/1.0.0/ip"
PREFLIGHT = {"origin": "https://app.example.com", "access-control-request-method": "GET"}
# APIM 4.5's shipped [apim.cors] (deployment.toml), as the config's defaults give it.
DEFAULTS = parse({"controlPlane": {"type": "file", "path": "c.yaml"}}).cors
SETTINGS = Settings(DEFAULTS.allow_origins, DEFAULTS.allow_methods, DEFAULTS.allow_headers, DEFAULTS.allow_credentials)
SHIPPED_HEADERS = "authorization,Access-Control-Allow-Origin,Content-Type,SOAPAction,apikey,Internal-Key"


def headers_of(d, renderer: Renderer | None = None) -> dict[str, str]:
    renderer = renderer or Renderer(Request())
    if d.preflight:
        return dict(renderer.preflight(d).headers)
    if d.allowed:
        return dict(renderer.allow(d, 0).downstream)
    return dict(renderer.deny(d, 0).headers)


def own_cors(doc: dict, **configuration) -> dict:
    """The sample catalog with httpbin's own CORS configuration (the Publisher's APICorsConfiguration)."""
    doc = copy.deepcopy(doc)
    doc["apis"][0]["corsConfiguration"] = {"corsConfigurationEnabled": True, **configuration}
    return doc


def test_a_preflight_is_answered_at_once_without_a_credential():
    d = InProcess(cors=SETTINGS).check(IP, method="OPTIONS", **PREFLIGHT)
    assert (d.preflight, d.allowed, d.status) == (True, False, 200)
    assert headers_of(d) == {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET",  # the resource's one method (one gateway resource per operation)
        "access-control-allow-headers": SHIPPED_HEADERS + ",ApiKey",  # the API's API key header is added
    }
    rendered = Renderer(Request()).preflight(d)
    assert (rendered.status, rendered.body) == (200, b"")


def test_a_preflight_for_a_method_the_path_lacks_is_405_and_an_unknown_path_404_without_cors_headers():
    p = InProcess(cors=SETTINGS)
    lacking = p.check(IP, method="OPTIONS", **{**PREFLIGHT, "access-control-request-method": "DELETE"})
    assert (lacking.status, lacking.code, lacking.cors) == (405, "405", None)
    assert json.loads(Renderer(Request()).deny(lacking, 0).body) == {  # through APIM's `fault` sequence
        "code": "405", "type": "Status report", "message": "Runtime Error",
        "description": "Method not allowed for given API resource",
    }  # fmt: skip
    spelt_otherwise = p.check(IP, method="OPTIONS", **{**PREFLIGHT, "access-control-request-method": "get"})
    assert spelt_otherwise.status == 405  # Utils.getAcceptableResources compares the method as spelt
    not_a_preflight = p.check(IP, method="OPTIONS", origin="https://app.example.com")
    assert not_a_preflight.status == 405
    unknown = p.check("/httpbin/1.0.0/nowhere", method="OPTIONS", **PREFLIGHT)
    assert (unknown.status, unknown.cors) == (404, None)
    assert json.loads(Renderer(Request()).deny(unknown, 0).body) == {
        "code": "404", "type": "Status report", "message": "Runtime Error",
        "description": "No matching resource found for given API Request",
    }  # fmt: skip


def test_a_path_served_with_another_method_is_405_with_cors_and_404_without():
    with_cors = InProcess(cors=SETTINGS).check(IP, token(), method="DELETE")
    assert (with_cors.status, with_cors.code) == (405, "405")  # CORSRequestHandler.handleResourceNotFound
    without = InProcess().check(IP, token(), method="DELETE")
    assert (without.status, without.code) == (404, "404")
    # No API serves the path: Synapse's `main` sequence answers, whatever the APIs' CORS.
    nowhere = InProcess(cors=SETTINGS).check("/nowhere/1.0.0/ip", token())
    assert json.loads(Renderer(Request()).deny(nowhere, 0).body) == {
        "code": "404", "type": "Status report", "message": "Not Found",
        "description": "The requested resource is not available.",
    }  # fmt: skip


def test_calls_and_their_denials_carry_the_origins_headers_but_a_blocked_apis_do_not():
    p = InProcess(cors=SETTINGS)
    allowed = p.check(IP, token(), origin="https://app.example.com")
    assert allowed.allowed
    # Only the origin's on a call: APIM's sequence writes the methods and headers on OPTIONS answers only.
    assert headers_of(allowed) == {"access-control-allow-origin": "*"}
    missing = p.check(IP, origin="https://app.example.com")
    assert missing.code == "900902"
    assert headers_of(missing)["access-control-allow-origin"] == "*"  # _auth_failure_handler_ calls the sequence
    forbidden = p.check(IP, token("unsubscribed"))
    assert (forbidden.code, headers_of(forbidden)["access-control-allow-origin"]) == ("900908", "*")
    throttled = InProcess(cors=SETTINGS)
    for _ in range(TINY_LIMIT):
        throttled.check(IP, token("throttled-grpc"))
    over = throttled.check(IP, token("throttled-grpc"))
    assert (over.code, headers_of(over)["access-control-allow-origin"]) == ("900804", "*")
    doc = catalog_document()
    doc["apis"][0]["status"] = "BLOCKED"
    blocked = InProcess(doc, cors=SETTINGS).check(IP, token())
    assert (blocked.code, blocked.cors) == ("700700", None)  # _block_api_handler_ does not call it
    preflight = InProcess(doc, cors=SETTINGS).check(IP, method="OPTIONS", **PREFLIGHT)
    assert preflight.preflight  # the CORS handler runs before the API's status is looked at


def test_an_apis_own_configuration_replaces_the_global_one_and_falls_back_where_empty():
    doc = own_cors(
        catalog_document(),
        accessControlAllowOrigins=["https://app.example.com", "https://*.example.org"],
        accessControlAllowCredentials=True,
        accessControlAllowMethods=["GET", "POST"],
        accessControlAllowHeaders=[],  # empty: the global list
    )
    doc["apis"][0]["authorizationHeader"] = "X-Auth"
    p = InProcess(doc, cors=SETTINGS)
    listed = p.check(IP, method="OPTIONS", **PREFLIGHT)
    assert headers_of(listed) == {
        "access-control-allow-origin": "https://app.example.com",  # echoed: a listed origin
        "access-control-allow-methods": "GET",
        "access-control-allow-headers": SHIPPED_HEADERS + ",X-Auth,ApiKey",
        "access-control-allow-credentials": "true",
    }
    matched = p.check(IP, token(), origin="https://shop.example.org")
    assert headers_of(matched)["access-control-allow-origin"] == "https://shop.example.org"
    # The handler's pattern is found anywhere in the Origin, its dots any character: APIM's, kept as it is.
    assert p.check(IP, token(), origin="https://x.example.org.evil.net").cors.origin == "https://x.example.org.evil.net"
    refused = p.check(IP, token(), origin="https://evil.example.com")
    # APIM sends an empty Allow-Origin (and still Allow-Credentials): a browser refuses the answer either way.
    assert headers_of(refused) == {"access-control-allow-credentials": "true"}
    assert headers_of(p.check(IP, token())) == {"access-control-allow-credentials": "true"}  # no Origin at all


def test_an_apis_disabled_configuration_means_the_global_one():
    doc = own_cors(catalog_document(), accessControlAllowOrigins=["https://app.example.com"])
    doc["apis"][0]["corsConfiguration"]["corsConfigurationEnabled"] = False
    d = InProcess(doc, cors=SETTINGS).check(IP, token(), origin="https://elsewhere.example.com")
    assert d.cors.origin == "*"


def test_an_api_whose_configuration_could_not_be_read_answers_no_browser():
    doc = catalog_document()
    doc["apis"][0]["corsConfiguration"] = None  # the control plane could not read its deployed revision
    p = InProcess(doc, cors=SETTINGS)
    preflight = p.check(IP, method="OPTIONS", **PREFLIGHT)
    assert (preflight.preflight, preflight.status) == (False, 404)
    assert p.check(IP, token(), origin="https://app.example.com").cors is None


def test_an_options_resource_of_the_api_takes_the_preflight_as_a_call_without_cors_headers():
    doc = catalog_document()
    doc["apis"][0]["urlMappings"].append({"httpMethod": "OPTIONS", "urlPattern": "/ip", "scopes": []})
    p = InProcess(doc, cors=SETTINGS)
    unauthenticated = p.check(IP, method="OPTIONS", **PREFLIGHT)
    assert (unauthenticated.preflight, unauthenticated.code, unauthenticated.cors) == (False, "900902", None)
    authenticated = p.check(IP, token(), method="OPTIONS", **PREFLIGHT)
    assert authenticated.allowed
    assert authenticated.cors is None


def test_a_products_preflight_names_every_method_of_its_path():
    doc = catalog_document()
    taken = [r for r in doc["apis"][0]["urlMappings"] if r["urlPattern"] == "/anything/*"]
    doc["apis"].append(api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", taken))
    d = InProcess(doc, cors=SETTINGS).check("/bundle/1.0.0/anything/x", method="OPTIONS", **PREFLIGHT)
    # ResourceConfigContext merges a product's operations on one path into one gateway resource.
    assert headers_of(d)["access-control-allow-methods"] == "GET,POST"
    api = InProcess(cors=SETTINGS).check("/httpbin/1.0.0/anything/x", method="OPTIONS", **PREFLIGHT)
    assert headers_of(api)["access-control-allow-methods"] == "GET"


def test_a_malformed_configuration_names_its_key():
    doc = own_cors(catalog_document(), accessControlAllowOrigins="https://app.example.com")
    with pytest.raises(CatalogError, match=r"apis\[0\] \(HttpbinAPI\)\.corsConfiguration\.accessControlAllowOrigins: "):
        InProcess(doc, cors=SETTINGS)


def test_the_method_not_allowed_error_is_apims_fault():
    assert (errors.METHOD_NOT_ALLOWED.status, errors.METHOD_NOT_ALLOWED.message) == (405, "Runtime Error")


def test_a_warm_check_on_an_api_allowing_some_origins_answers_each_callers_origin():
    """Prepared allows (prepared.py) answer the Origin of each warm check, not the first one's."""
    doc = own_cors(catalog_document(), accessControlAllowOrigins=["https://app.example.com", "https://*.example.org"])
    a, t = in_process_adapter(doc), token()
    service = AuthorizationService(a.check_on_thread, a.renderer, check_prepared=a.check_prepared, read=read_native)

    def allow_origin(origin: str | None) -> list[str]:
        headers = {"origin": origin} if origin else {}
        raw = check_request(t, headers=headers).SerializeToString()
        response = pb.CheckResponse.FromString(service.Check(raw, None))
        assert response.HasField("ok_response")
        added = response.ok_response.response_headers_to_add
        return [o.header.value for o in added if o.header.key == "access-control-allow-origin"]

    assert allow_origin("https://app.example.com") == ["https://app.example.com"]  # the whole check
    assert len(a.prepared) == 1
    assert allow_origin("https://app.example.com") == ["https://app.example.com"]  # warm
    assert allow_origin("https://shop.example.org") == ["https://shop.example.org"]  # warm, another origin
    assert allow_origin("https://evil.example.com") == []
    assert allow_origin(None) == []
    assert len(a.prepared) == 1  # one prepared allow served them all


def test_an_origin_no_browser_sends_is_echoed_nowhere():
    doc = own_cors(catalog_document(), accessControlAllowOrigins=["https://*.example.org"])
    p = InProcess(doc, cors=SETTINGS)
    for origin in (
        "https://caf\u00e9.example.org",
        "https://a.example.org\x7f",
        "https://" + "a" * 5000 + ".example.org",
    ):
        d = p.check(IP, token(), origin=origin)
        assert d.allowed
        assert d.cors.origin is None  # not matched, so not written back into a header
    assert (
        p.check(IP, token(), origin="https://xn--caf-dma.example.org").cors.origin == "https://xn--caf-dma.example.org"
    )
