"""APIM's endpoint security carried out by a real Envoy on the adapter's answer, in gRPC and HTTP modes, in front of a
real httpbin: a backend that demands basic authentication (go-httpbin's `/basic-auth/{user}/{password}`) answers
the gateway's callers, who never hold its password; the sandbox endpoint's API key reaches it in the query over gRPC,
and HTTP mode, which cannot change the query, counts the calls it could not give the key
(adapter/src/apim_adapter/endpoint_security.py)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import pytest
import requests

from harness.adapter_process import AdapterProcess
from harness.envoy import HTTP_UPSTREAM_ON_ALLOW, Gateway
from harness.processes import echoed_headers
from harness.sample_catalog import KM, catalog_document

API = "/httpbin/1.0.0"
PASSWORD, KEY = "s3cret-of-the-backend", "key of the backend&1"
SECURITY = {
    "production": {"enabled": True, "type": "basic", "username": "backend", "password": PASSWORD},
    "sandbox": {"enabled": True, "type": "apikey", "apiKeyIdentifier": "backend_key",
                "apiKeyIdentifierType": "QUERY_PARAMETER", "apiKeyValue": KEY},
}  # fmt: skip


@dataclass
class Secured:
    gateways: dict[str, Gateway]
    adapter: AdapterProcess


@pytest.fixture(scope="module")
def secured(stack, tmp_path_factory):
    """An adapter whose API's endpoints are secured (basic for production, an API key in the query for sandbox), a
    sandbox key of the subscribed application, and a gateway per mode; the HTTP provider passes `authorization`
    upstream, as the chart's `istio.extensionProvider.extraHeadersToUpstream` adds it."""
    doc = catalog_document()
    doc["apis"][0]["urlMappings"] += [{"httpMethod": "GET", "urlPattern": "/basic-auth/*", "scopes": []},
                                      {"httpMethod": "GET", "urlPattern": "/get", "scopes": []}]  # fmt: skip
    doc["apis"][0]["endpointConfig"] = {"endpoint_type": "http", "endpoint_security": SECURITY}
    doc["applicationKeyMappings"].append({"applicationUUID": "app-subscribed", "consumerKey": "client-sandbox",
                                          "keyType": "SANDBOX", "keyManager": KM})  # fmt: skip
    workdir = tmp_path_factory.mktemp("endpoint-security")
    upstream = {"upstream_on_allow": (*HTTP_UPSTREAM_ON_ALLOW, "authorization")}
    with stack.own_adapter(workdir, doc, **upstream) as (adapter, gateways):
        yield Secured(gateways, adapter)


def _call(secured: Secured, mode: str, path: str, token: str) -> requests.Response:
    return requests.get(secured.gateways[mode].url + API + path, headers={"authorization": f"Bearer {token}"},
                        timeout=10)  # fmt: skip


def test_a_backend_demanding_basic_authentication_answers_the_gateways_callers(stack, secured, mode):
    for _ in range(2):  # the second from the first's prepared allow
        resp = _call(secured, mode, f"/basic-auth/backend/{PASSWORD}", stack.token())
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"authorized": True, "user": "backend"}
    # The backend checks what it got: the credential of another password is refused by it, not by the adapter.
    assert _call(secured, mode, "/basic-auth/backend/another", stack.token()).status_code == 401


def test_every_resource_of_the_api_gets_it_in_place_of_the_callers_token(stack, secured, mode):
    seen = echoed_headers(_call(secured, mode, "/anything/x", stack.token()))
    assert seen["authorization"] == ["Basic " + base64.b64encode(f"backend:{PASSWORD}".encode()).decode()]


def _unapplied(secured: Secured) -> float:
    metrics = requests.get(secured.adapter.admin + "/metrics", timeout=5).text
    found = re.search(r'^apim_adapter_policies_unapplied_total\{api="HttpbinAPI"\} (\S+)$', metrics, re.M)
    return float(found[1]) if found else 0.0


def test_the_sandbox_key_reaches_the_backend_in_the_query_over_grpc_and_http_mode_counts_its_calls(stack, secured):
    sandbox, before = stack.token("sandbox"), _unapplied(secured)
    grpc = _call(secured, "grpc", "/get?page=2", sandbox)
    assert grpc.status_code == 200, grpc.text
    assert grpc.json()["args"] == {"page": ["2"], "backend_key": [KEY]}  # decoded once by the backend
    assert "authorization" not in grpc.json()["headers"]  # production's basic credential is not sandbox's
    http = _call(secured, "http", "/get?page=2", sandbox)
    assert http.status_code == 200, http.text
    assert http.json()["args"] == {"page": ["2"]}  # Envoy's HTTP client cannot change the query
    assert _unapplied(secured) == before + 1


def test_the_adapters_log_never_holds_a_credential(stack, secured):
    for mode in ("grpc", "http"):
        _call(secured, mode, f"/basic-auth/backend/{PASSWORD}", stack.token())
        _call(secured, mode, "/get", stack.token("sandbox"))
    log = secured.adapter.proc.log(1_000_000)
    assert PASSWORD not in log
    assert "key of the backend" not in log
    assert "key+of+the+backend" not in log
