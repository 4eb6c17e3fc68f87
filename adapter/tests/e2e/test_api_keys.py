"""APIM's API keys behind a real Envoy configured as istiod configures the gateway (harness/envoy.py), in front of
a real httpbin: keys minted as APIM mints them (harness/api_keys.py), on an API whose security scheme takes both
OAuth2 tokens and API keys, through both ext_authz modes."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import requests

from harness import oidc
from harness.api_keys import ApiKeySigner
from harness.envoy import Gateway
from harness.processes import echoed_headers
from harness.sample_catalog import catalog_document

API = "/httpbin/1.0.0"
SUBSCRIBED = {"id": 1, "uuid": "app-subscribed", "name": "subscribed", "tier": "Unlimited", "owner": "admin"}


@dataclass
class Keyed:
    signer: ApiKeySigner
    key: oidc.SigningKey
    jwks: oidc.JwksServer
    gateways: dict[str, Gateway]


@pytest.fixture(scope="module")
def keyed(stack, tmp_path_factory):
    """An adapter taking API keys (APIM's certificate under its alias), its catalog's API taking both kinds of
    credential, and a gateway per mode in front of the session's httpbin."""
    workdir = tmp_path_factory.mktemp("api-keys")
    signer = ApiKeySigner()
    (workdir / "apim-api-key.pem").write_bytes(signer.certificate_pem())
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = "oauth2,oauth_basic_auth_api_key_mandatory,api_key"  # as APIM stores it
    certificates = [{"alias": signer.alias, "file": "apim-api-key.pem"}]
    config = stack.own_adapter_config(apiKeys={"enabled": True, "certificates": certificates})
    with stack.own_adapter(workdir, doc, config) as (_, gateways):
        yield Keyed(signer, stack.key, stack.jwks, gateways)


def test_an_api_key_in_its_header_reaches_the_backend_as_the_application_not_as_the_key(keyed, mode):
    resp = requests.get(
        keyed.gateways[mode].url + API + "/headers", headers={"apikey": keyed.signer.mint(SUBSCRIBED)}, timeout=10
    )
    assert resp.status_code == 200, resp.text
    seen = echoed_headers(resp)
    assert "apikey" not in seen  # taken out, as APIM's gateway takes it out
    assert seen["x-apim-application-name"] == ["subscribed"]
    assert seen["x-apim-key-type"] == ["PRODUCTION"]
    assert int(resp.headers["ratelimit-remaining"]) >= 0


def test_an_api_key_in_the_query_is_taken_out_of_it_in_grpc_mode(keyed):
    key = keyed.signer.mint(SUBSCRIBED)
    resp = requests.get(keyed.gateways["grpc"].url + API + "/anything", params={"a": "1", "apikey": key}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["args"] == {"a": ["1"]}  # Envoy removed the key (OkHttpResponse.query_parameters_to_remove)


def test_http_mode_cannot_take_an_api_key_out_of_the_query(keyed):
    """Envoy's HTTP ext_authz has no way to change the query (docs/wso2-control-plane.md says: use the header)."""
    key = keyed.signer.mint(SUBSCRIBED)
    resp = requests.get(keyed.gateways["http"].url + API + "/anything", params={"apikey": key}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["args"] == {"apikey": [key]}


@pytest.mark.parametrize(
    ("make_key", "status", "code", "description"),
    [
        (lambda s: ApiKeySigner(s.alias).mint(SUBSCRIBED), 401, "900901", "Invalid Credentials. Make sure"),
        # GatewayUtils.validateAPISubscription: API_AUTH_FORBIDDEN with its message, "Resource forbidden ", for words
        (lambda s: s.mint({**SUBSCRIBED, "id": 2}), 403, "900908", "Resource forbidden "),
        (lambda s: s.mint(SUBSCRIBED, permitted_ip="203.0.113.77/32"), 403, "900908", "Access forbidden for the"),
    ],
    ids=["not-signed-by-apim", "unsubscribed-application", "outside-permitted-addresses"],
)
def test_refused_keys_get_wso2s_answers(keyed, mode, make_key, status, code, description):
    resp = requests.get(keyed.gateways[mode].url + API + "/ip", headers={"apikey": make_key(keyed.signer)}, timeout=10)
    assert resp.status_code == status, resp.text
    body = json.loads(resp.text)
    assert body["code"] == code
    assert description in body["description"]


def test_a_bearer_token_still_works_beside_api_keys(keyed, mode):
    token = keyed.key.sign(oidc.claims(keyed.jwks.issuer, "client-subscribed", "scope_ip"))
    resp = requests.get(
        keyed.gateways[mode].url + API + "/ip", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    assert resp.status_code == 200, resp.text
