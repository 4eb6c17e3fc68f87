"""APIM's API keys through the decision pipeline: keys minted as APIM mints them (harness/api_keys.py), checked as
its gateway checks them (ApiKeyAuthenticator, ApiKeyAuthenticatorUtils, GatewayUtils)."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest

from apim_adapter import errors
from apim_adapter.backend_jwt import end_user
from apim_adapter.catalog import build
from apim_adapter.config import ConfigError, parse
from apim_adapter.decision import CheckInput
from apim_adapter.revocation import RevocationStore
from apim_adapter.tokens import TokenRejected
from apim_adapter.tokens.api_key import REFERERS_BUDGET, ApiKeyValidator, _referers, validator_for
from harness.api_keys import ApiKeySigner
from harness.pipeline import InProcess, token
from harness.sample_catalog import catalog_document

SIGNER = ApiKeySigner()
SUBSCRIBED = {"id": 1, "uuid": "app-subscribed", "name": "subscribed", "tier": "Unlimited", "owner": "admin"}
UNSUBSCRIBED = {"id": 2, "uuid": "app-unsubscribed", "name": "unsubscribed", "tier": "Unlimited", "owner": "admin"}


def keyed_catalog(scheme="oauth2,api_key") -> dict:
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = scheme
    return doc


def pipeline(scheme="oauth2,api_key", doc=None) -> InProcess:
    return InProcess(doc or keyed_catalog(scheme), api_keys=SIGNER)


def test_an_api_key_in_its_header_admits_the_subscribed_application_and_leaves_the_request():
    p = pipeline()
    d = p.check(apikey=SIGNER.mint(SUBSCRIBED))
    assert d.allowed, d.reason
    assert (d.application.name, d.tier, d.key_mapping.key_type) == ("subscribed", "Gold", "PRODUCTION")
    allow = p.renderer.allow(d, p.now)
    assert "apikey" in allow.remove
    assert allow.remove_query == ("apikey",)
    assert dict(allow.upstream)["x-apim-application-name"] == "subscribed"


def test_an_api_key_in_the_query_is_read_when_the_header_is_absent():
    p = pipeline()
    key = SIGNER.mint(SUBSCRIBED)
    assert p.check(f"/httpbin/1.0.0/ip?a=1&apikey={key}").allowed
    # ApiKeyAuthenticator.extractApiKey: a blank query parameter is no key (StringUtils.isNotBlank)
    assert p.check("/httpbin/1.0.0/ip?apikey=").code == "900902"


def test_a_bearer_tokens_allow_removes_no_api_key_and_no_query_parameter():
    p = pipeline()
    allow = p.renderer.allow(p.check(bearer=token()), p.now)
    assert "apikey" not in allow.remove
    assert allow.remove_query == ()


@pytest.mark.parametrize(
    ("app", "key_type", "code"),
    [
        (UNSUBSCRIBED, "PRODUCTION", "900908"),  # no subscription to the API
        ({**SUBSCRIBED, "id": 99}, "PRODUCTION", "900908"),  # no application with that id
    ],
)
def test_the_keys_application_must_be_subscribed(app, key_type, code):
    d = pipeline().check(apikey=SIGNER.mint(app, key_type=key_type))
    assert (d.status, d.code) == (403, code)


def test_a_production_only_block_refuses_production_keys_only():
    doc = keyed_catalog()
    blocked = next(a for a in doc["applications"] if a["name"] == "prod-only-blocked")
    app = {"id": blocked["id"], "uuid": blocked["uuid"], "name": blocked["name"], "tier": "Unlimited", "owner": "x"}
    p = pipeline(doc=doc)
    # ApiKeyAuthenticator (GatewayUtils.validateAPISubscription) answers any subscription the key manager refuses
    # 900908 "Resource forbidden ", whatever its state: a bearer token's blocked subscription is 900907.
    refused = p.check(apikey=SIGNER.mint(app, key_type="PRODUCTION"))
    assert (refused.status, refused.code, refused.error.description) == (403, "900908", "Resource forbidden ")
    assert p.check(apikey=SIGNER.mint(app, key_type="SANDBOX")).allowed


def test_an_api_key_is_not_held_to_the_resources_scopes():
    """/headers needs scope_headers; an API key carries none, and APIM does not check scopes for it."""
    assert pipeline().check("/httpbin/1.0.0/headers", apikey=SIGNER.mint(SUBSCRIBED)).allowed


@pytest.mark.parametrize(
    ("scheme", "bearer", "key", "code"),
    [
        ("oauth2", False, True, "900902"),  # the API takes no keys: as if none were sent
        ("api_key", True, False, "900902"),  # the API takes no OAuth2 tokens: as if none were sent
        ("api_key", True, True, ""),
        ("oauth2,api_key", True, True, ""),
        (None, False, True, "900902"),  # the scheme is not known: OAuth2 only, as before API keys
        (["api_key", "oauth2"], False, True, ""),  # the Publisher API's list form
    ],
)
def test_each_api_takes_the_credentials_its_security_scheme_lists(scheme, bearer, key, code):
    doc = catalog_document()
    if scheme is not None:
        doc["apis"][0]["securityScheme"] = scheme
    d = pipeline(doc=doc).check(
        bearer=token() if bearer else None, **({"apikey": SIGNER.mint(SUBSCRIBED)} if key else {})
    )
    assert d.code == code, d.reason


def test_without_api_keys_the_security_scheme_decides_nothing():
    """APIM names an API's scheme only now and then when the adapter does not ask for it (an API event's pull): an
    API's answers must not change with that."""
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = "api_key"
    p = InProcess(doc)  # API keys off
    assert p.check(bearer=token()).allowed
    assert p.check(apikey=SIGNER.mint(SUBSCRIBED)).code == "900902"


def test_a_failing_bearer_token_falls_back_to_the_api_key_beside_it():
    """APIAuthenticationHandler.isAuthenticate tries OAuth2, then the API key; the bearer token's failure is the
    answer when the key fails too."""
    p = pipeline()
    good_key, bad_bearer = SIGNER.mint(SUBSCRIBED), token(exp=1)
    d = p.check(bearer=bad_bearer, apikey=good_key)
    assert d.allowed
    assert d.principal.api_key is not None
    d = p.check(bearer=bad_bearer, apikey=ApiKeySigner().mint(SUBSCRIBED))  # a key APIM did not sign
    assert (d.code, d.reason) == ("900901", "expired")  # the expired bearer token's answer
    assert d.error.description == errors.INVALID.description


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"headers": {"typ": "at+jwt"}}, "not an API key"),
        ({"token_type": "InternalKey"}, "not an API key"),
        ({"headers": {"kid": "another_alias"}}, "unknown API key signing certificate"),
        ({"validity_seconds": -3600}, "expired API key"),
        ({"application": {"id": 0, "uuid": "x"}}, "API key names no application"),
    ],
)
def test_keys_apim_would_refuse_are_refused(change, reason):
    change = dict(change)
    application = change.pop("application", SUBSCRIBED)
    d = pipeline().check(apikey=SIGNER.mint(application, **change))
    assert (d.status, d.reason) == (401 if "application" not in reason else 403, reason)


def test_a_key_apim_did_not_sign_and_other_algorithms_are_refused():
    p = pipeline()
    assert p.check(apikey=ApiKeySigner().mint(SUBSCRIBED)).code == "900901"
    body = {"sub": "admin@carbon.super", "jti": "j", "application": SUBSCRIBED, "token_type": "apiKey"}
    forged = jwt.encode(body, "a shared secret of enough length 123", "HS256", {"kid": SIGNER.alias, "typ": "JWT"})
    assert p.check(apikey=forged).reason == "algorithm 'HS256' not allowed"


def test_a_key_expires_on_the_checks_clock_with_the_skew():
    p = pipeline()
    key = SIGNER.mint(SUBSCRIBED, validity_seconds=60, issued_at=p.now)
    assert p.check(apikey=key).allowed
    validator = p.authenticator.api_keys
    assert validator.validate(key, p.now + 60 + 29).expires_at == p.now // 1 + 60 + 30
    with pytest.raises(TokenRejected, match="expired API key"):
        validator.validate(key, p.now // 1 + 60 + 30)


def test_a_key_that_expires_once_remembered_is_refused_as_any_invalid_key():
    """ApiKeyAuthenticatorUtils.checkTokenExpired: API_AUTH_INVALID_CREDENTIALS in its message's words (never
    900903), for a key validated before as for a new one."""
    p = pipeline()
    key = SIGNER.mint(SUBSCRIBED, validity_seconds=60, issued_at=p.now)
    assert p.check(apikey=key).allowed  # remembered until it expires
    p.now += 60 + 30 + 1
    d = p.check(apikey=key)
    assert (d.status, d.code, d.reason) == (401, "900901", "expired")
    assert d.error.description == "Invalid Credentials. Make sure you have provided the correct security credentials"


def test_a_key_naming_an_unknown_certificate_is_not_remembered():
    """A rejection that cost nothing is not cached: unique garbage must not crowd the negative cache."""
    p = pipeline()
    for _ in range(20):
        assert p.check(apikey=SIGNER.mint(SUBSCRIBED, headers={"kid": "other"})).reason == (
            "unknown API key signing certificate"
        )
    assert len(p.authenticator.cache.rejected) == 0


def test_a_key_without_expiry_is_valid_until_revoked_by_its_jti():
    p = pipeline()
    key = SIGNER.mint(SUBSCRIBED, validity_seconds=-1)
    assert p.check(apikey=key).allowed
    jti = json.loads(jwt.api_jws.base64url_decode(key.split(".")[1]))["jti"]
    store = RevocationStore()
    # APIConsumerImpl.revokeAPIKey: revokedToken is the key's jti, type API_KEY, expiry Long.MAX_VALUE ms
    store.apply_event({"revokedToken": jti, "type": "API_KEY", "expiryTime": 9223372036854775807}, p.now)
    doc = keyed_catalog()
    doc["revocations"] = store.view(p.now)
    p.catalog = build(doc, version=2)
    d = p.check(apikey=key)
    assert (d.code, d.reason) == ("900901", "token revoked")
    assert d.error.description.startswith("Invalid Credentials. ")  # any invalid key's words, not a JWT's


@pytest.mark.parametrize(
    ("permitted_ip", "permitted_referer", "client_ip", "referer", "allowed"),
    [
        ("203.0.113.0/24, 198.51.100.7", None, "198.51.100.7", None, True),
        ("203.0.113.0/24", None, "203.0.113.9", None, True),
        ("203.0.113.0/24", None, "198.51.100.7", None, False),
        ("2001:db8::/32", None, "2001:db8::1", None, True),
        (None, "https://example.com/*", "198.51.100.7", "https://example.com/app/page", True),
        (None, "https://example.com/*", "198.51.100.7", "https://evil.example/https://example.com/", False),
        (None, "https://example.com/*", "198.51.100.7", None, False),  # a Referer is required
        ("203.0.113.0/24", "https://example.com/*", "203.0.113.9", None, True),  # an address in the list decides
        # Each pattern is a Java regular expression, matched whole, as APIM's gateway matches it: `.` any character,
        # and a pattern Java refuses fails the call where it is reached.
        (None, "https://app.example.com/*", "198.51.100.7", "https://app-example.com/", True),
        (None, r"https://(www\.)?example\.com/*", "198.51.100.7", "https://www.example.com/x", True),
        (None, "https://example.com/(*, https://ok.example/*", "198.51.100.7", "https://ok.example/", False),
        (None, "https://ok.example/*, https://example.com/(*", "198.51.100.7", "https://ok.example/", True),
    ],
)
def test_a_keys_permitted_addresses_and_referers(permitted_ip, permitted_referer, client_ip, referer, allowed):
    p = pipeline()
    key = SIGNER.mint(SUBSCRIBED, permitted_ip=permitted_ip, permitted_referer=permitted_referer)
    headers = {"apikey": key, **({"referer": referer} if referer else {})}
    d = asyncio.run(p.decide(CheckInput("GET", "gw", "/httpbin/1.0.0/ip", headers, client_ip=client_ip)))
    assert d.allowed is allowed
    if not allowed:
        assert (d.status, d.code) == (403, "900908")
        assert json.loads(p.renderer.deny(d, p.now).body)["description"] == "Access forbidden for the invocations"
        # the subscription failure's body is another, though its code is the same (GatewayUtils
        # .validateAPISubscription throws API_AUTH_FORBIDDEN with its message for words)
        other = p.check(apikey=SIGNER.mint(UNSUBSCRIBED))
        assert json.loads(p.renderer.deny(other, p.now).body)["description"] == "Resource forbidden "


def test_a_keys_referer_patterns_are_held_to_a_budget_a_subscriber_cannot_outgrow():
    """A subscriber writes the referers, and a class by name is ~10 KB for Python's engine: past REFERERS_BUDGET a
    key's patterns admit nothing (and the cached validation is weighed with what they hold)."""
    heavy = ",".join([r"https://\p{L}+.example/*"] * 10 + ["https://late-1.example/*"])
    patterns = _referers(heavy)
    assert patterns[0] is not None
    assert patterns[-1] is None
    assert sum(len(p.regex.pattern) for p in patterns if p is not None) <= REFERERS_BUDGET
    p = pipeline()
    key = SIGNER.mint(SUBSCRIBED, permitted_referer=heavy)

    def allowed(referer: str) -> bool:
        headers = {"apikey": key, "referer": referer}
        return asyncio.run(p.decide(CheckInput("GET", "gw", "/httpbin/1.0.0/ip", headers, client_ip="1.2.3.4"))).allowed

    assert allowed("https://\u00fcber.example/x")  # the first pattern: any letters, as Java's \p{L}
    assert not allowed("https://late-1.example/x")  # the last pattern, past the budget


def test_the_backend_jwt_names_the_keys_subject_as_the_end_user():
    d = pipeline().check(apikey=SIGNER.mint(SUBSCRIBED, subject="alice@carbon.super"))
    assert end_user(d.principal, d.application) == "alice@carbon.super"  # not alice@carbon.super@carbon.super


def test_a_string_validated_as_an_api_key_is_not_taken_as_a_bearer_token():
    p = pipeline()
    key = SIGNER.mint(SUBSCRIBED)
    assert p.check(apikey=key).allowed
    assert not p.check(bearer=key).allowed  # the same string as a bearer token: routed by issuer, refused


def test_api_keys_need_a_certificate_and_a_label_for_a_wso2_control_plane():
    with pytest.raises(ConfigError, match=r"apiKeys\.certificates: at least one is required"):
        parse({"controlPlane": {"type": "file", "path": "c.yaml"}, "apiKeys": {"enabled": True}})
    wso2 = {"type": "wso2", "url": "https://apim:9443", "usernameFile": "u", "passwordFile": "p"}
    keys = {"enabled": True, "certificates": [{"alias": "gateway_certificate_alias", "file": "c.pem"}]}
    with pytest.raises(ConfigError, match=r"apiKeys\.enabled: needs controlPlane\.gatewayLabel"):
        parse({"controlPlane": wso2, "apiKeys": keys})
    parse({"controlPlane": {**wso2, "gatewayLabel": "Default"}, "apiKeys": keys})


def test_a_certificate_that_cannot_be_used_is_named_at_start(tmp_path):
    cert = tmp_path / "apim.pem"
    cert.write_text("not a certificate")
    config = parse(
        {
            "controlPlane": {"type": "file", "path": "c.yaml"},
            "apiKeys": {"enabled": True, "certificates": [{"alias": "a", "file": str(cert)}]},
        }
    )
    with pytest.raises(ConfigError, match=r"apiKeys\.certificates: .*apim\.pem: not a PEM certificate"):
        validator_for(config)
    cert.write_bytes(SIGNER.certificate_pem())
    assert isinstance(validator_for(config), ApiKeyValidator)
