"""APIM's endpoint security: the credential APIM's gateway adds to each call it sends an API's backend (basic, or an
API key in a header or the query) is added by the adapter to every allowed call, by the call's key type, after the
operation policies; the types it cannot add (digest, OAuth) are named (endpoint_security.py)."""

from __future__ import annotations

import base64
import copy
import io
import json
import zipfile

import pytest
from envoy.service.auth.v3 import external_auth_pb2 as pb

from apim_adapter.backend_tokens import Token
from apim_adapter.catalog import CatalogError, build
from apim_adapter.controlplane.artifacts import Project
from apim_adapter.endpoint_security import OAuthEndpoint, kept
from apim_adapter.transport.grpc import AuthorizationService
from harness.pipeline import InProcess, check_request, in_process_adapter, token, warm
from harness.sample_catalog import KM, api_product, catalog_document
from harness.sample_catalog import operation_policy as policy

IP, OPEN = "/httpbin/1.0.0/ip", "/httpbin/1.0.0/uuid"
BASIC = {"enabled": True, "type": "basic", "username": "backend", "password": "s3cret:pass"}
HEADER_KEY = {"enabled": True, "type": "apikey", "apiKeyIdentifier": "X-Backend-Key",
              "apiKeyIdentifierType": "HEADER", "apiKeyValue": "k-123"}  # fmt: skip
QUERY_KEY = {"enabled": True, "type": "APIKEY", "apiKeyIdentifier": "api key",
             "apiKeyIdentifierType": "QUERY_PARAMETER", "apiKeyValue": "a b&c=d/é"}  # fmt: skip


def secured(production: dict | None = None, sandbox: dict | None = None, *policies: dict) -> dict:
    """The sample catalog, its API's endpoints secured so, and a sandbox key for the subscribed application."""
    doc = copy.deepcopy(catalog_document())
    security = {k: v for k, v in (("production", production), ("sandbox", sandbox)) if v is not None}
    doc["apis"][0]["endpointConfig"] = {"endpoint_type": "http", "endpoint_security": security}
    doc["apis"][0]["operationPolicies"] = list(policies)
    doc["applicationKeyMappings"].append({"applicationUUID": "app-subscribed", "consumerKey": "client-sandbox",
                                          "keyType": "SANDBOX", "keyManager": KM})  # fmt: skip
    return doc


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_basic_security_sends_the_backend_its_credential_in_place_of_the_callers_token():
    p = InProcess(secured(BASIC))
    allow = p.renderer.allow(p.check(IP, bearer=token()), p.now)
    assert dict(allow.upstream)["authorization"] == basic("backend", "s3cret:pass")
    assert "authorization" not in allow.remove  # the caller's token is replaced, not removed after


def test_each_key_type_gets_its_own_endpoints_credential_and_a_call_without_a_key_the_productions():
    p = InProcess(secured(BASIC, HEADER_KEY))
    production = p.renderer.allow(p.check(IP, bearer=token()), p.now)
    sandbox = p.renderer.allow(p.check(IP, bearer=token("sandbox")), p.now)
    anonymous = p.renderer.allow(p.check(OPEN), p.now)  # authScheme None: APIM's AM_KEY_TYPE is PRODUCTION
    assert dict(production.upstream)["authorization"] == basic("backend", "s3cret:pass")
    assert "x-backend-key" not in dict(production.upstream)
    assert dict(sandbox.upstream)["x-backend-key"] == "k-123"
    assert "authorization" in sandbox.remove  # no basic credential here: the caller's token is taken out
    assert dict(anonymous.upstream)["authorization"] == basic("backend", "s3cret:pass")


def test_an_unsecured_key_type_gets_nothing():
    p = InProcess(secured(None, BASIC))
    allow = p.renderer.allow(p.check(IP, bearer=token()), p.now)
    assert "authorization" not in dict(allow.upstream)
    assert "authorization" in allow.remove


def test_the_credential_is_added_after_the_operation_policies_and_wins_over_theirs():
    p = InProcess(secured(
        BASIC, None,
        policy("request", "addHeader", "v2", headerName="Authorization", headerValue="Bearer policy"),
        policy("request", "removeHeader", "v1", headerName="X-Backend-Key"),
    ))  # fmt: skip
    upstream = dict(p.renderer.allow(p.check(IP, bearer=token()), p.now).upstream)
    assert upstream["authorization"] == basic("backend", "s3cret:pass")


def test_an_api_key_in_the_query_is_form_encoded_and_set_over_grpc_only():
    p = InProcess(secured(QUERY_KEY))
    allow = p.renderer.allow(p.check(IP, bearer=token()), p.now)
    assert allow.query == (("api+key", "a+b%26c%3Dd%2F%C3%A9"),)  # as URIBuilder.addParameter writes them
    assert allow.grpc_only == "HttpbinAPI"  # HTTP mode counts the calls it cannot give the key
    ok = AuthorizationService(None, p.renderer, clock=lambda: p.now).respond(p.check(IP, bearer=token())).ok_response
    assert [(q.key, q.value) for q in ok.query_parameters_to_set] == [("api+key", "a+b%26c%3Dd%2F%C3%A9")]


def test_a_warm_check_carries_the_credential_and_a_new_revisions_credential_replaces_it():
    a, t = in_process_adapter(secured(BASIC)), token()
    service = AuthorizationService(a.check_on_thread, a.renderer, check_prepared=a.check_prepared)

    def authorization() -> str:
        answer = pb.CheckResponse.FromString(service.Check(check_request(t).SerializeToString(), None))
        return {h.header.key: h.header.value for h in answer.ok_response.headers}["authorization"]

    assert authorization() == basic("backend", "s3cret:pass")
    assert warm(a, t) is not None
    assert authorization() == basic("backend", "s3cret:pass")
    assert a.publish(secured(BASIC | {"password": "rotated"}))
    assert authorization() == basic("backend", "rotated")


def test_digest_is_named_and_misspelt_or_disabled_securities_are_nothing():
    catalog = build(secured(None, {"enabled": True, "type": "DIGEST", "username": "u", "password": "p"}))
    [note] = [n for n in catalog.unenforced if "endpoint security" in n]
    assert note == "HttpbinAPI 1.0.0: not applied here, only by APIM's gateway: DIGEST endpoint security (sandbox)"
    for quiet in (BASIC | {"enabled": False}, BASIC | {"type": "Basic"}, BASIC | {"enabled": "no"}):
        catalog = build(secured(quiet))
        assert not catalog.apis["api-httpbin"].backend_credentials
        assert not [n for n in catalog.unenforced if "endpoint security" in n]


OAUTH = {"enabled": True, "type": "oauth", "tokenUrl": "https://is.example.com/oauth2/token", "clientId": "backend-app",
         "clientSecret": "client-s3cret", "grantType": "CLIENT_CREDENTIALS",
         "customParameters": {"scope": "orders:read", "resource": "https://orders"}}  # fmt: skip


def test_an_oauth_endpoint_is_one_per_configuration_and_the_catalog_names_each():
    catalog = build(
        secured(OAUTH, OAUTH | {"customParameters": '{"scope": "orders:read", "resource": "https://orders"}'})
    )
    endpoint = catalog.apis["api-httpbin"].backend_credentials["PRODUCTION"]
    assert isinstance(endpoint, OAuthEndpoint)
    assert (endpoint.token_url, endpoint.client_id, endpoint.grant_type) == (OAUTH["tokenUrl"], "backend-app",
                                                                           "CLIENT_CREDENTIALS")  # fmt: skip
    assert endpoint.custom_parameters == (("scope", "orders:read"), ("resource", "https://orders"))
    assert catalog.oauth_endpoints == {endpoint}  # the stored JSON text reads as the object: one token for both
    assert "client-s3cret" not in repr(endpoint)


def test_the_token_is_sent_while_held_and_the_allow_is_prepared_again_when_the_next_is_due():
    held: dict[OAuthEndpoint, Token] = {}
    p = InProcess(secured(OAUTH))
    p.renderer.backend_tokens = lambda endpoint, now: held.get(endpoint)
    allow = p.renderer.allow(p.check(IP, bearer=token()), p.now)
    assert "authorization" not in dict(allow.upstream)  # none yet: sent without, as APIM's mediator sends it
    assert allow.until == p.now + 1
    [endpoint] = p.catalog.oauth_endpoints
    held[endpoint] = Token("backend-token", p.now + 3600, p.now + 2880)
    assert p.renderer.allow(p.check(IP, bearer=token()), p.now) is allow  # until its second is over
    p.now += 1
    allow = p.renderer.allow(p.check(IP, bearer=token()), p.now)
    assert dict(allow.upstream)["authorization"] == "Bearer backend-token"
    assert allow.until == p.now - 1 + 2880


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (BASIC | {"password": " "}, "password: must be a non-blank string"),
        (HEADER_KEY | {"apiKeyIdentifier": "X Key"}, "is not a header the backend can get"),
        (HEADER_KEY | {"apiKeyIdentifier": "Host"}, "is not a header the backend can get"),
        (HEADER_KEY | {"apiKeyValue": "k\r\nX-Injected: 1"}, "must be one printable line"),
        (HEADER_KEY | {"apiKeyIdentifierType": "header"}, "must be HEADER or QUERY_PARAMETER"),
        (OAUTH | {"grantType": "client_credentials"}, "grantType: must be CLIENT_CREDENTIALS or PASSWORD"),
        (OAUTH | {"grantType": "PASSWORD"}, "username: must be a non-blank string"),
        (OAUTH | {"tokenUrl": "is.example.com/token"}, "tokenUrl: must be an http:// or https:// URL"),
        (OAUTH | {"customParameters": "scope=x"}, "customParameters: not a JSON object"),
    ],
)
def test_a_security_no_gateway_could_send_is_refused_by_a_file_and_left_out_of_what_apim_serves(bad, why):
    with pytest.raises(CatalogError, match=why):
        build(secured(bad))
    lenient = build(secured(bad, HEADER_KEY), lenient=True)
    [note] = [n for n in lenient.unenforced if "endpoint security" in n]
    assert why in note
    assert "production" in note
    assert "k\r\n" not in note
    assert "s3cret" not in note
    assert set(lenient.apis["api-httpbin"].backend_credentials) == {"SANDBOX"}  # the rest applied


def test_a_credential_never_shows_in_its_repr():
    catalog = build(secured(BASIC, HEADER_KEY))
    shown = repr(catalog.apis["api-httpbin"].backend_credentials)
    assert "s3cret" not in shown
    assert "k-123" not in shown
    assert "basic" in shown


def test_what_a_catalog_keeps_of_the_dto_is_what_it_sends():
    config = {"endpoint_type": "http", "production_endpoints": {"url": "http://backend"},
              "endpoint_security": {"production": BASIC | {"clientSecret": "unused", "customParameters": {}},
                                    "sandbox": {"enabled": True, "type": "oauth", "clientSecret": "oauth-secret",
                                                "password": "grant-password", "tokenUrl": "https://t"}}}  # fmt: skip
    assert kept(config) == {"endpoint_security": {"production": BASIC, "sandbox": {
        "enabled": True, "type": "oauth", "clientSecret": "oauth-secret", "password": "grant-password",
        "tokenUrl": "https://t"}}}  # fmt: skip
    digest = {"production": {"enabled": True, "type": "digest", "username": "u", "password": "p"}}
    assert kept({"endpoint_security": digest}) == {"endpoint_security": {"production": {"enabled": True,
                                                                                        "type": "digest"}}}  # fmt: skip
    assert kept({"endpoint_type": "http"}) == {}


def test_the_deployed_revisions_project_gives_its_endpoint_security_and_a_products_none():
    buffer = io.BytesIO()
    config = {"endpoint_type": "http", "endpoint_security": {"production": BASIC}}
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("HttpbinAPI-1.0.0/api.json", json.dumps({"type": "api", "data": {"endpointConfig": config}}))
        z.writestr("Shop-1.0.0/api_product.json", json.dumps({"type": "api_product", "data": {}}))
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    names = frozenset(archive.namelist())
    api = Project("api", archive, names, "HttpbinAPI-1.0.0/")
    product = Project("product", archive, names, "Shop-1.0.0/", "api_product")
    assert api.endpoint_config() == {"endpointConfig": {"endpoint_security": {"production": BASIC}}}
    assert product.endpoint_config() == {}


def test_a_products_resource_gets_the_endpoint_security_of_the_api_it_comes_from():
    """A product (its APIProductDTO's `apis`, each with the `endpointConfig` of the API it bundles): the operations
    taken from a secured API get its credential, the others none; the product has none of its own."""
    doc = secured()
    ip, headers = doc["apis"][0]["urlMappings"][:2]
    security = {"production": BASIC, "sandbox": {"enabled": True, "type": "digest"}}
    doc["apis"].append(api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", [ip, headers]) | {"apis": [
        {"apiId": "api-httpbin", "operations": [{"verb": "GET", "target": "/ip"}],
         "endpointConfig": {"endpoint_security": security}},
        {"apiId": "api-other", "operations": [{"verb": "GET", "target": "/headers"}]},
    ]})  # fmt: skip
    doc["subscriptions"].append({"subscriptionUUID": "sub-bundle", "apiUUID": "product-bundle",
                                 "applicationUUID": "app-subscribed", "policyId": "Gold",
                                 "subscriptionState": "UNBLOCKED"})  # fmt: skip
    p = InProcess(doc)
    through_product = p.renderer.allow(p.check("/bundle/1.0.0/ip", bearer=token()), p.now)
    assert dict(through_product.upstream)["authorization"] == basic("backend", "s3cret:pass")
    other = p.renderer.allow(p.check("/bundle/1.0.0/headers", bearer=token()), p.now)
    assert "authorization" not in dict(other.upstream)
    [note] = [n for n in p.catalog.unenforced if n.startswith("Bundle 1.0.0")]
    assert note.endswith("DIGEST endpoint security (sandbox) of the API api-httpbin")
    bad = copy.deepcopy(doc)
    bad["apis"][1]["apis"][0]["endpointConfig"]["endpoint_security"]["production"]["password"] = ""
    where = r"\(Bundle\)\.apis\[0\]\.endpointConfig\.endpoint_security\.production\.password"
    with pytest.raises(CatalogError, match=where):
        build(bad)
