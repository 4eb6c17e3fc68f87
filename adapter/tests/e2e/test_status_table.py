"""Every row of DESIGN.md's status table, through a real Envoy, in gRPC and HTTP modes."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from harness import oidc
from harness.processes import echoed_headers

API = "/httpbin/1.0.0"


def call(gateway, path: str, token: str | None = None, method: str = "GET", **headers) -> requests.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return requests.request(method, gateway.url + path, headers=headers, timeout=10)


def assert_denied(resp: requests.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == code
    assert body["message"]
    assert body["description"]
    return body


def test_no_credentials_is_401_900902_with_www_authenticate(stack, gateway):
    resp = call(gateway, API + "/ip")
    assert_denied(resp, 401, "900902")
    assert resp.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Bearer ....", "Bearer e30.e30."],
)
def test_unusable_credentials_are_401_900901(stack, gateway, authorization):
    resp = requests.get(gateway.url + API + "/ip", headers={"authorization": authorization}, timeout=10)
    assert_denied(resp, 401, "900901")


def test_good_token_is_allowed_and_the_backend_sees_context_not_credentials(stack, gateway):
    resp = call(gateway, API + "/headers", stack.token(), **{"x-apim-tier": "Forged"})
    assert resp.status_code == 200, resp.text
    seen = echoed_headers(resp)
    assert "authorization" not in seen
    assert seen["x-apim-api"] == ["HttpbinAPI"]
    assert seen["x-apim-api-version"] == ["1.0.0"]
    assert seen["x-apim-application-name"] == ["subscribed"]
    assert seen["x-apim-application-id"] == ["app-subscribed"]
    assert seen["x-apim-key-type"] == ["PRODUCTION"]
    assert seen["x-apim-tier"] == ["Gold"]  # the client's forged value was overwritten, not kept beside it
    [signed] = seen["x-jwt-assertion"]
    assertion = jwt.decode(signed, stack.backend_public_key, algorithms=["ES256"])
    assert assertion["http://wso2.org/claims/applicationname"] == "subscribed"
    assert assertion["http://wso2.org/claims/tier"] == "Gold"
    assert resp.headers["ratelimit-limit"] == "5000"


@pytest.mark.parametrize("path", ["/ip", "/ip?debug=1", "/delay/0", "/anything/a/b/c"])
def test_resources_match_templates_and_ignore_query_strings(stack, gateway, path):
    assert call(gateway, API + path, stack.token()).status_code == 200


def test_default_version_answers_without_the_version(stack, gateway):
    resp = call(gateway, "/httpbin/ip", stack.token())
    assert resp.status_code == 200, resp.text
    assert "origin" in resp.json()


def test_status_codes_of_the_backend_pass_through(stack, gateway):
    resp = call(gateway, API + "/status/418", stack.token())
    assert resp.status_code == 418


def test_unsecured_resource_needs_no_token_and_cannot_be_given_forged_context(stack, gateway):
    forged = {"x-apim-application-id": "forged", "x-apim-tier": "Unlimited", "x-apim-application-name": "forged"}
    resp = call(gateway, API + "/anything/open/x", **forged)
    assert resp.status_code == 200, resp.text
    seen = set(echoed_headers(resp))
    assert not seen & set(forged), "forged context headers reached the backend"
    assert "x-apim-api" in seen  # the API is known, and said so


def test_expired_token_is_401_900901_as_any_invalid_jwt(stack, gateway):
    """JWTValidatorImpl.validateToken: API_AUTH_INVALID_CREDENTIALS, in getAuthenticationFailureMessage's words."""
    token = stack.key.sign(oidc.claims(stack.jwks.issuer, "client-subscribed", "scope_ip", lifetime=-120))
    body = assert_denied(call(gateway, API + "/ip", token), 401, "900901")
    assert (body["message"], body["description"]) == (
        "Invalid Credentials",
        "Invalid Credentials. Make sure you have provided the correct security credentials",
    )


def test_not_yet_valid_token_is_401_900901(stack, gateway):
    claims = oidc.claims(stack.jwks.issuer, "client-subscribed", "scope_ip")
    claims["nbf"] = int(time.time()) + 600
    assert_denied(call(gateway, API + "/ip", stack.key.sign(claims)), 401, "900901")


def test_unknown_issuer_is_401_900901(stack, gateway):
    token = stack.key.sign(oidc.claims("https://evil.example.com/oauth2/token", "client-subscribed", "scope_ip"))
    assert_denied(call(gateway, API + "/ip", token), 401, "900901")


def test_wrong_audience_is_401_900901(stack, gateway):
    claims = oidc.claims(stack.other_jwks.issuer, "client-other", scp=["scope_ip"])
    assert_denied(call(gateway, API + "/ip", stack.other_key.sign(claims)), 401, "900901")
    claims["aud"] = "https://api.example.com"
    resp = call(gateway, API + "/ip", stack.other_key.sign(claims))
    assert resp.status_code == 200, resp.text  # second key manager: ES256, audience, scopes as a list in `scp`


def test_algorithm_not_allowed_is_401_900901(stack, gateway):
    claims = oidc.claims(stack.other_jwks.issuer, "client-other", aud="https://api.example.com", scp=["scope_ip"])
    rsa = oidc.SigningKey("RS256", kid=stack.other_key.kid)  # that key manager allows ES256 only
    assert_denied(call(gateway, API + "/ip", rsa.sign(claims)), 401, "900901")


def test_unsubscribed_application_is_403_900908(stack, gateway):
    assert_denied(call(gateway, API + "/ip", stack.token("unsubscribed")), 403, "900908")


def test_unknown_consumer_key_is_403_900908(stack, gateway):
    assert_denied(call(gateway, API + "/ip", stack.token("nobody")), 403, "900908")


def test_blocked_subscription_is_401_900907(stack, gateway):
    assert_denied(call(gateway, API + "/ip", stack.token("blocked")), 401, "900907")


def test_production_only_blocked_blocks_production_keys(stack, gateway):
    assert_denied(call(gateway, API + "/ip", stack.token("prod-only-blocked")), 401, "900907")


@pytest.mark.parametrize("app", ["on-hold", "rejected"])
def test_inactive_subscription_is_401_900909(stack, gateway, app):
    # 401 as APIAuthenticationHandler.handleAuthFailure answers it (403 only for 900906, 900908, 900910, 900914)
    assert_denied(call(gateway, API + "/ip", stack.token(app)), 401, "900909")


def test_missing_scope_is_403_900910(stack, gateway):
    assert_denied(call(gateway, API + "/headers", stack.token(scope="scope_ip")), 403, "900910")
    assert call(gateway, API + "/ip", stack.token(scope="scope_ip")).status_code == 200


def test_unknown_resource_is_404(stack, gateway):
    # A path of the API none of its resources serves: CORSRequestHandler's answer through the `fault` sequence.
    resource = assert_denied(call(gateway, API + "/nope", stack.token()), 404, "404")
    assert (resource["message"], resource["description"]) == (
        "Runtime Error", "No matching resource found for given API Request"
    )  # fmt: skip
    # A path no API serves: the `main` sequence's answer.
    api = assert_denied(call(gateway, "/other-api/ip", stack.token()), 404, "404")
    assert (api["message"], api["description"]) == ("Not Found", "The requested resource is not available.")
    assert resource["type"] == api["type"] == "Status report"


def test_a_path_the_api_serves_with_another_method_is_405(stack, gateway):
    # CORSRequestHandler.handleResourceNotFound, engaged on every API while CORS is on (APIM's default and ours).
    resp = call(gateway, API + "/ip", stack.token(), method="DELETE")
    assert assert_denied(resp, 405, "405")["description"] == "Method not allowed for given API resource"
    assert "access-control-allow-origin" not in resp.headers  # the handler's own answer sets none


def test_tier_limit_is_429_with_retry_after_and_ratelimit_headers(stack, gateway):
    token = stack.token(f"throttled-{gateway.authz.mode}")
    statuses = [call(gateway, API + "/delay/0", token).status_code for _ in range(stack.tiny_limit)]
    assert statuses == [200] * stack.tiny_limit
    resp = call(gateway, API + "/delay/0", token)
    body = assert_denied(resp, 429, "900804")
    assert body["message"] == "Message throttled out"
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    assert resp.headers["ratelimit-limit"] == str(stack.tiny_limit)
    assert resp.headers["ratelimit-remaining"] == "0"


def test_key_manager_unreachable_is_an_error_not_a_decision(stack, gateway):
    token = stack.key.sign(oidc.claims("https://down.example.com/oauth2/token", "client-subscribed", "scope_ip"))
    resp = call(gateway, API + "/ip", token)
    assert resp.status_code == 503  # Envoy's status_on_error: the adapter answered with an error
    assert "code" not in resp.text
