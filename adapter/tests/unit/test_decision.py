"""The decision pipeline on its own: real tokens and keys, no server, no network."""

from __future__ import annotations

import jwt
import pytest

from apim_adapter import errors
from apim_adapter.catalog import build
from apim_adapter.config import Request
from apim_adapter.decision import Decision, Planned, admit, refusal
from apim_adapter.errors import Unavailable
from apim_adapter.tokens import Principal
from harness.pipeline import InProcess, token
from harness.sample_catalog import KM, OTHER_KM, catalog_document, per_minute


@pytest.mark.parametrize(
    ("app", "status", "code"),
    [
        ("subscribed", 200, ""),
        ("unsubscribed", 403, "900908"),
        ("nobody", 403, "900908"),
        ("blocked", 401, "900907"),
        ("prod-only-blocked", 401, "900907"),
        ("on-hold", 401, "900909"),  # APIAuthenticationHandler.handleAuthFailure: 403 only for 900906/8/10/14
        ("rejected", 401, "900909"),
    ],
)
def test_subscription_rules(app, status, code):
    d = InProcess().check(bearer=token(app))
    assert (d.status, d.code) == (status, code)


SUBSCRIPTION_REFUSED = "User is NOT authorized to access the Resource. API Subscription validation failed."


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("unsubscribed", "Resource forbidden "),  # APISecurityConstants.API_AUTH_FORBIDDEN_MESSAGE, its blank too
        ("nobody", "Resource forbidden "),  # no key mapping: the key manager's validation refuses it alike
        ("blocked", "The requested API is temporarily blocked"),
        ("on-hold", "The subscription to the API is inactive"),
    ],
)
def test_a_refused_subscription_is_worded_as_apims_jwt_validator_words_it(app, message):
    refused = InProcess().check(bearer=token(app))
    assert (refused.error.message, refused.error.description) == (message, SUBSCRIPTION_REFUSED)


def test_a_missing_scope_names_the_resource_as_apims_jwt_validator_does():
    refused = InProcess().check("/httpbin/1.0.0/headers", bearer=token(scope="scope_ip"))
    assert (refused.code, refused.error.description) == (
        "900910", "User is NOT authorized to access the Resource: /headers. Scope validation failed."
    )  # fmt: skip


def test_an_opaque_tokens_refusal_is_worded_as_apims_oauth_authenticator_words_it():
    """OAuthAuthenticator, for a token the key manager's validation refused: "Access failure for API: ..."."""
    p = InProcess()
    api, subpath = p.catalog.resolve("/httpbin/1.0.0/headers")
    res = api.match("GET", subpath)
    opaque = Principal("km", "client-unsubscribed", frozenset(), "alice", p.now + 60, introspected=True)
    subscription, scope = refusal(errors.FORBIDDEN, opaque, api, res), refusal(errors.SCOPE, opaque, api, res)
    assert subscription.description == (
        "Access failure for API: /httpbin/1.0.0, version: 1.0.0 status: (900908) - Resource forbidden "
    )
    assert scope.description == ("Access failure for API: /httpbin/1.0.0, version: 1.0.0 status: (900910) - "
                                 "The access token does not allow you to access the requested resource")  # fmt: skip
    assert (subscription.code, subscription.status, scope.code, scope.status) == ("900908", 403, "900910", 403)


@pytest.mark.parametrize(
    ("listed", "allowed"),
    [(None, True), (["all"], True), ([KM], True), ([KM, OTHER_KM], True), ([OTHER_KM], False), ([], False)],
)
def test_a_token_of_a_key_manager_the_api_does_not_take_is_invalid_credentials(listed, allowed):
    """The Publisher's Key Managers of an API (APIDTO `keyManagers`, `all` by default): OAuthAuthenticator refuses
    a JWT of any other key manager 401 900901; an opaque one only the API's validate."""
    doc = catalog_document()
    if listed is not None:
        doc["apis"][0]["keyManagers"] = listed
    p = InProcess(doc)
    d = p.check(bearer=token())
    assert (
        d.allowed if allowed else (d.status, d.code, d.reason) == (401, "900901", "a key manager the API does not take")
    )
    if not allowed:
        api, subpath = p.catalog.resolve("/httpbin/1.0.0/headers")
        opaque = Principal(KM, "client-subscribed", frozenset(), "alice", p.now + 60, introspected=True)
        worded = refusal(errors.INVALID, opaque, api, api.match("GET", subpath)).description
        assert worded.startswith("Access failure for API: /httpbin/1.0.0, version: 1.0.0 status: (900901)")


@pytest.mark.parametrize(
    ("audiences", "aud", "allowed"),
    [
        (None, None, True),
        (["all"], "other", True),
        (["orders"], "orders", True),
        (["orders", "billing"], ["x", "billing"], True),
        (["orders"], "billing", False),
        (["orders"], None, False),
    ],
)
def test_a_jwt_naming_none_of_the_apis_audiences_is_403_900914(audiences, aud, allowed):
    """JWTValidator.validateAudiences, after the subscription and the scopes (APIDTO `audiences`)."""
    doc = catalog_document()
    if audiences is not None:
        doc["apis"][0]["audiences"] = audiences
    p = InProcess(doc)
    d = p.check(bearer=token(**({"aud": aud} if aud is not None else {})))
    if allowed:
        assert d.allowed, d.reason
    else:
        assert (d.status, d.code, d.error.message, d.error.description) == (
            403, "900914", "Access Denied",
            "Access Denied. The access token does not allow you to access the requested resource",
        )  # fmt: skip
        assert p.check(bearer=token("unsubscribed", aud=aud or "x")).code == "900908"  # the subscription first


@pytest.mark.parametrize(
    ("scheme", "aut", "allowed"),
    [
        ("Application", "APPLICATION", True),
        ("Application", "APPLICATION_USER", False),
        ("Application_User", "APPLICATION_USER", True),
        ("Application_User", "application", False),  # equalsIgnoreCase
        ("Any", "APPLICATION", True),
    ],
)
def test_an_opaque_token_of_the_other_type_than_its_resource_asks_is_401_900905(scheme, aut, allowed):
    """AbstractKeyValidationHandler.hasTokenRequiredAuthLevel, which only the key manager's validation of an opaque
    token runs: in OAuthAuthenticator's words, before the subscription."""
    doc = catalog_document()
    doc["apis"][0]["urlMappings"][0]["authScheme"] = scheme  # GET /ip
    p = InProcess(doc)
    api, subpath = p.catalog.resolve("/httpbin/1.0.0/ip")
    res = api.match("GET", subpath)
    opaque = Principal(KM, "client-subscribed", frozenset({"scope_ip"}), "alice", p.now + 60, claims={"aut": aut},
                       introspected=True)  # fmt: skip
    answer = admit(p.catalog, Planned(api, res, "opaque", "h"), opaque)
    if allowed:
        assert not isinstance(answer, Decision), answer.reason
    else:
        assert (answer.status, answer.code, answer.error.description) == (401, "900905", (
            "Access failure for API: /httpbin/1.0.0, version: 1.0.0 status: (900905) - Incorrect Access Token Type is "
            "provided"))  # fmt: skip
        jwt_user = Principal(KM, "client-subscribed", frozenset({"scope_ip"}), "alice", p.now + 60, claims={"aut": aut})
        assert not isinstance(admit(p.catalog, Planned(api, res, "a.b.c", "h"), jwt_user), Decision)  # JWTs: none


def test_missing_credentials_name_the_api_key_header_as_configured():
    assert errors.missing_credentials("apikey") is errors.MISSING  # APIM's default, ApiKey, in any case
    assert errors.missing_credentials("x-api-key").description.endswith(
        "'Authorization : Bearer ACCESS_TOKEN' or 'Authorization : Basic ACCESS_TOKEN' or 'x-api-key : API_KEY'"
    )


def test_sandbox_keys_pass_a_production_only_block():
    doc = catalog_document()
    for km in doc["applicationKeyMappings"]:
        if km["applicationUUID"] == "app-prod-only-blocked":
            km["keyType"] = "SANDBOX"
    assert InProcess(doc).check(bearer=token("prod-only-blocked")).allowed


def test_subscription_validation_can_be_disabled_per_api():
    doc = catalog_document()
    doc["apis"][0]["isSubscriptionValidationDisabled"] = True
    d = InProcess(doc).check(bearer=token("unsubscribed"))
    assert d.allowed
    assert d.tier == ""


def test_scope_any_of_the_resource_scopes_is_enough():
    p = InProcess()
    assert p.check(bearer=token(scope="scope_ip")).allowed
    assert p.check("/httpbin/1.0.0/headers", token(scope="scope_ip")).code == "900910"
    assert p.check("/httpbin/1.0.0/headers", token(scope=["scope_headers"])).allowed  # scopes as a JSON list


def test_allow_sets_context_headers_removes_credentials_and_unset_context():
    p = InProcess()
    allow = p.renderer.allow(p.check(bearer=token()), p.now)
    headers = dict(allow.upstream)
    assert headers["x-apim-application-name"] == "subscribed"
    assert headers["x-apim-tier"] == "Gold"
    assert "authorization" in allow.remove
    assert dict(allow.metadata)["tier"] == "Gold"
    unsecured = p.check("/httpbin/1.0.0/uuid")
    assert unsecured.allowed
    assert {"x-apim-application-id", "x-apim-tier"} <= set(p.renderer.allow(unsecured, p.now).remove)


def test_the_same_caller_gets_the_same_prepared_allow_until_the_catalog_changes_it():
    p = InProcess()
    first = p.renderer.allow(p.check(bearer=token()), p.now)
    assert p.renderer.allow(p.check(bearer=token()), p.now) is first
    doc = catalog_document()
    doc["applications"][0]["name"] = "renamed"
    p.catalog = build(doc)
    renamed = p.renderer.allow(p.check(bearer=token()), p.now)
    assert dict(renamed.upstream)["x-apim-application-name"] == "renamed"


def test_keep_authorization_header_when_configured():
    p = InProcess(request=Request(keep_authorization_header=True))
    assert "authorization" not in p.renderer.allow(p.check(bearer=token()), p.now).remove


@pytest.mark.parametrize(
    ("where", "code"),
    [("application", "900803"), ("api", "900800"), ("resource", "900802"), ("subscription", "900804")],
)
def test_each_tier_level_throttles_with_its_code(where, code):
    doc = catalog_document()
    doc["applicationPolicies"] = [per_minute("Two", 2)]
    doc["apiPolicies"] = [per_minute("Two", 2)]
    doc["subscriptionPolicies"].append(per_minute("Two", 2))
    if where == "application":
        doc["applications"][0]["policy"] = "Two"
    elif where == "api":
        doc["apis"][0]["policy"] = "Two"
    elif where == "resource":
        doc["apis"][0]["urlMappings"][0]["throttlingPolicy"] = "Two"
    else:
        doc["subscriptions"][0]["policyId"] = "Two"
    p, t = InProcess(doc), token()
    assert [p.check(bearer=t).status for _ in range(2)] == [200, 200]
    d = p.check(bearer=t)
    assert (d.status, d.code) == (429, code)
    headers = dict(p.renderer.deny(d, p.now).headers)
    assert int(headers["retry-after"]) >= 1
    assert headers["ratelimit-remaining"] == "0"


def test_an_apis_own_policy_replaces_its_resources_policies():
    """APIM's gateway counts an API with a policy of its own (not Unlimited) on that policy alone, whatever its
    resources' policies say (ThrottleHandler: apiLevelThrottleKey replaces the resource's key)."""
    doc = catalog_document()
    doc["apiPolicies"] = [per_minute("Three", 3), per_minute("One", 1)]
    doc["apis"][0]["policy"] = "Three"
    doc["apis"][0]["urlMappings"][0]["throttlingPolicy"] = "One"  # GET /ip
    p, t = InProcess(doc), token()
    codes = [p.check(bearer=t).code or "allowed" for _ in range(4)]
    assert codes == ["allowed", "allowed", "allowed", "900800"]  # not 900802 at the second
    doc["apis"][0]["policy"] = "Unlimited"  # no policy of its own: the resources' apply
    p = InProcess(doc)
    assert [p.check(bearer=t).code or "allowed" for _ in range(2)] == ["allowed", "900802"]


def test_subscription_tier_without_stop_on_quota_reach_only_counts():
    doc = catalog_document()
    soft = per_minute("Soft", 1)
    soft["stopOnQuotaReach"] = False
    doc["subscriptionPolicies"].append(soft)
    doc["subscriptions"][0]["policyId"] = "Soft"
    p, t = InProcess(doc), token()
    assert all(p.check(bearer=t).allowed for _ in range(3))


def test_revoked_token_is_denied():
    t = token()
    jti = jwt.decode(t, options={"verify_signature": False})["jti"]
    doc = catalog_document()
    doc["revokedJwts"] = [jti]
    d = InProcess(doc).check(bearer=t)
    assert (d.status, d.code) == (401, "900901")


def test_blocked_api_is_503_700700():
    doc = catalog_document()
    doc["apis"][0]["status"] = "BLOCKED"
    d = InProcess(doc).check(bearer=token())
    assert (d.status, d.code) == (503, "700700")


def test_a_validated_token_is_verified_once_then_cached_until_expiry():
    p, t = InProcess(), token(lifetime=-29)  # expired, but within the 30 s clock skew for one more second
    assert p.check(bearer=t).allowed
    assert len(p.authenticator.cache.valid) == 1
    assert p.check(bearer=t).allowed
    p.now += 1.5
    d = p.check(bearer=t)  # JWTValidator.checkTokenExpiration: 900901, as any invalid JWT
    assert (d.code, d.reason, d.error.description) == ("900901", "expired", errors.INVALID.description)


def test_no_catalog_yet_is_an_error_not_a_denial():
    p = InProcess()
    p.catalog = None
    with pytest.raises(Unavailable):
        p.check(bearer=token())


def test_deny_body_is_wso2_json():
    p = InProcess()
    deny = p.renderer.deny(p.check(), p.now)
    # APIAuthenticationHandler.handleAuthFailure: getError's "Invalid Credentials" and the three headers APIM takes.
    assert deny.body == (
        b'{"code": "900902", "message": "Missing Credentials", "description": "Invalid Credentials. Make sure your '
        b"API invocation call has a header: 'Authorization : Bearer ACCESS_TOKEN' or 'Authorization : Basic "
        b"ACCESS_TOKEN' or 'ApiKey : API_KEY'\"}"
    )
    assert ("www-authenticate", 'Bearer realm="apim", error="invalid_token"') in deny.headers
