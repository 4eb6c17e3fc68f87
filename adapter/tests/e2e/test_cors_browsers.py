"""A browser's calls through a real Envoy, in gRPC and HTTP modes, as APIM's gateway answers them with CORS on (its
default, and the adapter's): the preflight answered without a credential, the Origin's header on calls and their
denials, a backend's own Access-Control-Allow-Origin kept in gRPC mode."""

from __future__ import annotations

import requests

API = "/httpbin/1.0.0"
ORIGIN = "https://app.example.com"
SHIPPED_HEADERS = "authorization,Access-Control-Allow-Origin,Content-Type,SOAPAction,apikey,Internal-Key,ApiKey"


def test_a_preflight_is_answered_by_the_gateway_without_a_credential(stack, gateway):
    asked = {
        "origin": ORIGIN,
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
    }
    resp = requests.options(gateway.url + API + "/ip", headers=asked, timeout=10)
    # gRPC: the adapter's 200, as APIM's; HTTP mode: a 204 (Envoy's HTTP client takes a 200 for an allow).
    assert resp.status_code == (200 if gateway.authz.mode == "grpc" else 204), resp.text
    assert resp.headers["access-control-allow-origin"] == "*"
    assert resp.headers["access-control-allow-methods"] == "GET"
    assert resp.headers["access-control-allow-headers"] == SHIPPED_HEADERS
    assert "access-control-allow-credentials" not in resp.headers
    assert resp.content == b""
    assert "x-apim-api" not in resp.text  # never reached httpbin


def test_a_denial_carries_the_origins_header_and_a_backends_own_header_is_kept_in_grpc_mode(stack, gateway):
    denied = requests.get(gateway.url + API + "/ip", headers={"origin": ORIGIN}, timeout=10)
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == "*"  # the browser can read why
    allowed = requests.get(gateway.url + API + "/ip", headers={"origin": ORIGIN,
                           "authorization": f"Bearer {stack.token()}"}, timeout=10)  # fmt: skip
    assert allowed.status_code == 200, allowed.text
    assert "access-control-allow-methods" not in allowed.headers  # a preflight's only, as APIM writes them
    # httpbin answers every call with its own Access-Control-Allow-Origin (the request's Origin). APIM's sequence
    # writes the gateway's only where the response has none: so does Envoy with the gRPC answer's ADD_IF_ABSENT.
    # Envoy's HTTP client has no such choice and appends the adapter's (docs: gRPC mode where backends answer CORS).
    expected = ORIGIN if gateway.authz.mode == "grpc" else ORIGIN + ",*"
    assert allowed.raw.headers.getlist("access-control-allow-origin") == [expected]


def test_an_options_call_without_a_preflights_method_is_405(stack, gateway):
    resp = requests.options(gateway.url + API + "/ip", headers={"origin": ORIGIN}, timeout=10)
    assert resp.status_code == 405
    assert "access-control-allow-origin" not in resp.headers
