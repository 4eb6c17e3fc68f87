"""APIM's endpoint security carried out by a real Envoy on the adapter's answer, in gRPC and HTTP modes, in front of a
real httpbin: a backend that demands basic authentication (go-httpbin's `/basic-auth/{user}/{password}`) answers
the gateway's callers, who never hold its password; the sandbox endpoint's API key reaches it in the query over gRPC,
and HTTP mode, which cannot change the query, counts the calls it could not give the key; an OAuth-secured
backend gets a token of WSO2 IS 7's token endpoint (its double, harness.oidc.IntrospectionEndpoint), got ahead by
the adapter and renewed before it expires (adapter/src/apim_adapter/endpoint_security.py, backend_tokens.py)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

import pytest
import requests

from apim_adapter.backend_tokens import Token, TokenRefused, request_token
from apim_adapter.endpoint_security import CLIENT_CREDENTIALS, OAuthEndpoint
from apim_adapter.http_client import HttpClient
from harness.adapter_process import Served
from harness.envoy import HTTP_UPSTREAM_ON_ALLOW
from harness.helpers import eventually
from harness.oidc import IntrospectionEndpoint
from harness.processes import echoed_headers
from harness.sample_catalog import KM, catalog_document

API = "/httpbin/1.0.0"
PASSWORD, KEY = "s3cret-of-the-backend", "key of the backend&1"
SECURITY = {
    "production": {"enabled": True, "type": "basic", "username": "backend", "password": PASSWORD},
    "sandbox": {"enabled": True, "type": "apikey", "apiKeyIdentifier": "backend_key",
                "apiKeyIdentifierType": "QUERY_PARAMETER", "apiKeyValue": KEY},
}  # fmt: skip


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
        yield Served(gateways, adapter)


def _call(secured: Served | OAuthSecured, mode: str, path: str, token: str) -> requests.Response:
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


def _unapplied(secured: Served) -> float:
    return secured.adapter.sample('apim_adapter_policies_unapplied_total{api="HttpbinAPI"}')


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


# ---- OAuth: a token from WSO2 IS 7's token endpoint (harness.oidc.IntrospectionEndpoint, IS 7's client
# credentials grant), got ahead by the adapter and sent as the backend's bearer ----

TOKEN_LIFETIME = 2  # seconds: the adapter asks for the next at 80% of it


@dataclass
class OAuthSecured(Served):
    identity_server: IntrospectionEndpoint


@pytest.fixture(scope="module")
def oauth_secured(stack, tmp_path_factory):
    """An adapter whose API's production endpoint is OAuth-secured with IS 7's client credentials grant, started
    after IS (its readiness waits for the first token), and a gateway per mode."""
    identity_server = IntrospectionEndpoint("backend-app", "backend-s3cret", token_lifetime=TOKEN_LIFETIME)
    doc = catalog_document()
    doc["apis"][0]["endpointConfig"] = {"endpoint_type": "http", "endpoint_security": {"production": {
        "enabled": True, "type": "oauth", "grantType": "CLIENT_CREDENTIALS", "tokenUrl": identity_server.token_url,
        "clientId": "backend-app", "clientSecret": "backend-s3cret",
        "customParameters": {"scope": "orders"}}}}  # fmt: skip
    upstream = {"upstream_on_allow": (*HTTP_UPSTREAM_ON_ALLOW, "authorization")}
    try:
        with stack.own_adapter(tmp_path_factory.mktemp("oauth-security"), doc, **upstream) as (adapter, gateways):
            yield OAuthSecured(gateways, adapter, identity_server)
    finally:
        identity_server.stop()


def _bearer_seen(oauth_secured: OAuthSecured, mode: str, token: str) -> str:
    [seen] = echoed_headers(_call(oauth_secured, mode, "/anything/x", token))["authorization"]
    assert seen.startswith("Bearer ")
    return seen.removeprefix("Bearer ")


def test_the_backend_gets_a_token_of_the_identity_server_from_the_first_call(stack, oauth_secured, mode):
    """Ready only once the first token came: the first call through carries it; IS issued it to the endpoint's
    client, and it is the same for each call until the next is due."""
    first = _bearer_seen(oauth_secured, mode, stack.token())
    assert first in oauth_secured.identity_server.bearer  # issued by IS, for the client's credentials
    assert oauth_secured.identity_server.bearer[first] == set()  # `scope=orders` asked, none authorized by IS


def test_the_next_token_is_sent_once_the_adapter_got_it_ahead(stack, oauth_secured):
    first = _bearer_seen(oauth_secured, "grpc", stack.token())
    calls = oauth_secured.identity_server.token_calls
    later = eventually(lambda: _bearer_seen(oauth_secured, "grpc", stack.token()) != first, 3 * TOKEN_LIFETIME)
    assert later, "the adapter kept sending a token past 80% of its lifetime"
    assert oauth_secured.identity_server.token_calls > calls
    assert _bearer_seen(oauth_secured, "http", stack.token()) in oauth_secured.identity_server.bearer


async def _asked(endpoint: OAuthEndpoint) -> Token:
    client = HttpClient()
    try:
        return await request_token(client, endpoint, None, 0.0)
    finally:
        await client.close()


def test_a_token_url_refusing_the_client_is_named_and_its_token_never_logged(stack, oauth_secured):
    url = oauth_secured.identity_server.token_url
    with pytest.raises(TokenRefused, match="HTTP 401"):
        asyncio.run(_asked(OAuthEndpoint(url, "backend-app", "wrong", CLIENT_CREDENTIALS)))
    token = asyncio.run(_asked(OAuthEndpoint(url, "backend-app", "backend-s3cret", CLIENT_CREDENTIALS)))
    assert token.access in oauth_secured.identity_server.bearer
    log = oauth_secured.adapter.proc.log(1_000_000)
    assert "backend-s3cret" not in log
    assert not [t for t in oauth_secured.identity_server.bearer if t in log]
