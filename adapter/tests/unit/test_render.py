"""What Envoy is told: the backend's headers and the metadata on an allow, WSO2's status, headers and JSON body
on a denial. Decisions come from the pipeline in process, over a catalog each test builds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apim_adapter import errors
from apim_adapter.backend_jwt import RENEW_BEFORE, BackendJwtSigner
from apim_adapter.config import BackendJwt, Request
from apim_adapter.decision import Decision
from apim_adapter.render import Renderer, header_safe, next_access_time
from apim_adapter.transport.grpc import AuthorizationService
from harness.pipeline import InProcess, token
from harness.sample_catalog import TINY_LIMIT, catalog_document

OWN = ("x-apim-api", "x-apim-api-version", "x-apim-application-id", "x-apim-application-name", "x-apim-tier",
       "x-apim-key-type")  # fmt: skip


def test_an_allow_tells_the_backend_who_calls_and_removes_the_credentials():
    p = InProcess()
    allow = p.renderer.allow(p.check(bearer=token()), p.now)
    assert dict(allow.upstream) == {
        "x-apim-api": "HttpbinAPI",
        "x-apim-api-version": "1.0.0",
        "x-apim-application-id": "app-subscribed",
        "x-apim-application-name": "subscribed",
        "x-apim-key-type": "PRODUCTION",
        "x-apim-tier": "Gold",
    }
    assert allow.remove == ("authorization",)
    assert dict(allow.metadata) == {
        "api": "HttpbinAPI",
        "api_version": "1.0.0",
        "api_context": "/httpbin/1.0.0",
        "application": "subscribed",
        "application_id": "app-subscribed",
        "key_type": "PRODUCTION",
        "subscriber": "admin",
        "tier": "Gold",
    }


def test_context_headers_a_decision_leaves_unset_are_removed_so_a_client_cannot_forge_them():
    p = InProcess()
    unsecured = p.renderer.allow(p.check("/httpbin/1.0.0/uuid", **{"x-apim-tier": "Unlimited"}), p.now)
    assert set(OWN) - {"x-apim-api", "x-apim-api-version"} <= set(unsecured.remove)
    assert "x-apim-tier" not in dict(unsecured.upstream)
    doc = catalog_document()
    doc["apis"][0]["isSubscriptionValidationDisabled"] = True
    p = InProcess(doc)
    no_subscription = p.renderer.allow(p.check(bearer=token("unsubscribed")), p.now)
    assert "x-apim-tier" in no_subscription.remove
    assert dict(no_subscription.upstream)["x-apim-application-name"] == "unsubscribed"


def test_keep_authorization_header_and_the_header_prefix_are_honoured():
    p = InProcess(request=Request(keep_authorization_header=True, header_prefix="x-gw-"))
    allow = p.renderer.allow(p.check(bearer=token()), p.now)
    assert "authorization" not in allow.remove
    assert dict(allow.upstream)["x-gw-application-name"] == "subscribed"
    assert not any(name.startswith("x-apim-") for name, _ in allow.upstream)


@pytest.mark.parametrize(
    ("name", "safe"),
    [("Plain Name-1.0", "Plain Name-1.0"), ("Café", "Caf_"), ("a\r\nX-Admin: yes", "a__X-Admin: yes"), ("日本", "__")],
)
def test_header_safe_keeps_catalog_names_to_one_printable_ascii_line(name, safe):
    assert header_safe(name) == safe


def test_non_ascii_catalog_names_reach_the_backend_as_safe_headers_and_the_metadata_as_they_are():
    doc = catalog_document()
    doc["applications"][0]["name"] = "Café\nX-Injected: 1"
    doc["apis"][0]["name"] = "Données"
    p = InProcess(doc)
    allow = p.renderer.allow(p.check(bearer=token()), p.now)
    headers = dict(allow.upstream)
    assert (headers["x-apim-application-name"], headers["x-apim-api"]) == ("Caf__X-Injected: 1", "Donn_es")
    assert all(v.isascii() and v.isprintable() for v in headers.values())
    assert dict(allow.metadata)["application"] == "Café\nX-Injected: 1"


# ---- denials ----

DESIGN_STATUS = {  # DESIGN.md's status table; deny policies and burst control as WSO2's ThrottleHandler answers,
    # a claim mismatch as the claim validator policy's mediator (Utils.sendFault, SC_FORBIDDEN), an OPA policy's as its
    # failure handler (OPAUtils.handlePolicyFailure: 403 refused, 500 failed)
    "900901": 401, "900902": 401, "900903": 401, "900904": 401, "900907": 401, "900908": 403, "900909": 401,
    "900910": 403, "404": 404, "700700": 503, "900800": 429, "900802": 429, "900803": 429, "900804": 429,
    "900805": 403, "900807": 429, "900809": 429, "405": 405, "900912": 403, "902012": 403, "902011": 500,
    # GraphQL: GraphQLAPIHandler (422), GraphQLQueryAnalysisHandler (400), OAuthAuthenticator's no matching resource
    "900422": 422, "900820": 400, "900821": 400, "900906": 403,
    # an audience JWTValidator refuses (APIAuthenticationHandler.handleAuthFailure: SC_FORBIDDEN)
    "900914": 403,
    # Where the source disagrees with DESIGN.md's table, the source: 900909 is 401 (handleAuthFailure answers 403 for
    # 900906, 900908, 900910 and 900914 only), and an incorrect token type 900905, 401 likewise.
    "900905": 401,
    # An API's backend throughput reached: ThrottleHandler.handleThrottleOut's hard limit, "service not being available"
    "900801": 503,
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(errors.CODES))
def test_every_denial_is_wso2_json_with_its_status(code):
    error = errors.CODES[code]
    deny = Renderer(Request()).deny(Decision(error, "test"), time.time())
    assert deny.status == DESIGN_STATUS[code]
    assert ("content-type", "application/json") in deny.headers
    body = json.loads(deny.body)
    if code.startswith("902"):  # `_opa_policy_failure_handler_`'s payload: code and message
        assert body == {"code": code, "message": error.message}
    elif code in ("404", "405"):  # the `main` and `fault` sequences' payloads: a type after the code
        assert list(body) == ["code", "type", "message", "description"]
        assert body == {
            "code": code,
            "type": "Status report",
            "message": error.message,
            "description": error.description,
        }
    elif code == "700700":  # `_api_blocked_sequence_`'s payload (a type, and its message kept)
        blocked = "This API has been blocked temporarily. Please try again later or contact the system administrators."
        assert body == {"code": code, "type": "API blocked", "message": "API blocked", "description": blocked}
    else:
        assert body == {"code": code, "message": error.message, "description": error.description}
        assert body["description"]
        assert body["message"]
    assert dict(deny.metadata) == {"code": code}
    challenge = [v for k, v in deny.headers if k == "www-authenticate"]
    assert challenge == (['Bearer realm="apim", error="invalid_token"'] if deny.status == 401 else [])


def test_a_throttled_request_is_told_when_to_retry():
    p, t = InProcess(), token("throttled-grpc")  # the Tiny tier: TINY_LIMIT a minute
    assert all(p.check(bearer=t).allowed for _ in range(TINY_LIMIT))
    throttled = p.check(bearer=t)
    assert (throttled.status, throttled.code) == (429, "900804")
    denial = p.renderer.deny(throttled, p.now)
    deny = dict(denial.headers)
    assert deny["ratelimit-limit"] == str(TINY_LIMIT)
    assert deny["ratelimit-remaining"] == "0"
    assert 1 <= int(deny["retry-after"]) <= 60
    assert deny["retry-after"] == deny["ratelimit-reset"]
    # The body as APIM's gateway writes it (ThrottleHandler.handleThrottleOut): when the window ends, twice.
    ends = time.strftime("%Y-%b-%d %H:%M:%S+0000 UTC", time.gmtime((p.now // 60 + 1) * 60))
    assert json.loads(denial.body) == {
        "code": "900804",
        "message": "Message throttled out",
        "description": f"You have exceeded your quota .You can access API after {ends}",
        "nextAccessTime": ends,
    }
    later = p.renderer.deny(throttled, p.now + 60)  # the next window's denial names the next window's end
    assert json.loads(later.body)["nextAccessTime"] == next_access_time((p.now // 60 + 2) * 60)


def test_the_next_access_time_is_written_as_apims_gateway_writes_it():
    # As a WSO2-fronted API answered (a client's test fixture of a real throttle-out): 2026-Sep-05 16:00 UTC.
    assert next_access_time(1_788_624_000.0) == "2026-Sep-05 16:00:00+0000 UTC"


def test_the_grpc_allow_carries_the_context_headers_and_the_remaining_quota():
    p, t = InProcess(), token("throttled-grpc")
    service = AuthorizationService(None, p.renderer, clock=lambda: p.now)
    responses = [service.respond(p.check(bearer=t)) for _ in range(TINY_LIMIT)]
    for left, response in zip(range(TINY_LIMIT - 1, -1, -1), responses, strict=True):
        upstream = {o.header.key: o.header.value for o in response.ok_response.headers}
        to_client = {o.header.key: o.header.value for o in response.ok_response.response_headers_to_add}
        assert upstream["x-apim-tier"] == "Tiny"
        assert to_client["ratelimit-remaining"] == str(left)
        assert to_client["ratelimit-limit"] == str(TINY_LIMIT)
        assert "authorization" in response.ok_response.headers_to_remove


def test_the_decision_reaches_envoy_as_dynamic_metadata_unless_turned_off():
    def answers(request: Request):
        p = InProcess(request=request)
        service = AuthorizationService(None, p.renderer, clock=lambda: p.now)
        return service.respond(p.check(bearer=token())), service.respond(p.check(bearer=token("unsubscribed")))

    allowed, denied = answers(Request())
    assert allowed.dynamic_metadata.fields["application"].string_value == "subscribed"
    assert denied.dynamic_metadata.fields["code"].string_value == "900908"
    allowed, denied = answers(Request(dynamic_metadata=False))
    assert allowed.HasField("ok_response")
    assert denied.HasField("denied_response")
    # Not even an empty Struct: an unset field is nothing for Envoy to merge into the request's metadata.
    assert not allowed.HasField("dynamic_metadata")
    assert not denied.HasField("dynamic_metadata")


def test_with_the_access_log_service_an_allow_carries_its_events_fields_per_resource_and_user():
    p = InProcess()
    p.renderer = Renderer(Request(), analytics_metadata=True)
    ip = p.renderer.allow(p.check(bearer=token()), p.now)
    fields = json.loads(dict(ip.metadata)["analytics"])
    assert fields["apiResourceTemplate"] == "/ip"
    assert (fields["applicationName"], fields["subscriptionTier"]) == ("subscribed", "Gold")
    assert fields["userName"].endswith("@carbon.super")
    headers = p.renderer.allow(p.check("/httpbin/1.0.0/headers", bearer=token()), p.now)
    assert json.loads(dict(headers.metadata)["analytics"])["apiResourceTemplate"] == "/headers"  # not /ip's allow
    assert p.renderer.allow(p.check(bearer=token()), p.now) is ip  # still one per resource and user
    service = AuthorizationService(None, p.renderer, clock=lambda: p.now)
    sent = service.respond(p.check(bearer=token())).dynamic_metadata.fields["analytics"].string_value
    assert json.loads(sent)["apiName"] == "HttpbinAPI"
    plain = Renderer(Request()).allow(p.check(bearer=token()), p.now)
    assert "analytics" not in dict(plain.metadata)  # off: the gateway does not pay for it


# ---- the prepared allow ----


def test_the_same_caller_gets_the_same_prepared_allow_and_another_caller_its_own():
    p = InProcess()
    first = p.renderer.allow(p.check(bearer=token()), p.now)
    assert p.renderer.allow(p.check(bearer=token(scope="scope_ip")), p.now + 3600) is first
    other = p.renderer.allow(p.check(bearer=token("prod-only-blocked", aud="x")), p.now)
    assert other is not first


def signer(tmp_path: Path, ttl: int = 900) -> tuple[BackendJwtSigner, ec.EllipticCurvePublicKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "backend.key"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return BackendJwtSigner(BackendJwt(enabled=True, key_file=str(path), ttl_seconds=ttl), path), key.public_key()


def test_the_prepared_allow_is_renewed_when_its_backend_jwt_nears_expiry(tmp_path):
    sign, public = signer(tmp_path, ttl=900)
    p = InProcess(backend_jwt=sign)
    d = p.check(bearer=token())
    first = p.renderer.allow(d, p.now)
    assertion = dict(first.upstream)["x-jwt-assertion"]
    exp = jwt.decode(assertion, public, algorithms=["ES256"], options={"verify_exp": False, "verify_iat": False})["exp"]
    assert p.renderer.allow(d, exp - RENEW_BEFORE - 1) is first  # signed once, not per request
    renewed = p.renderer.allow(d, exp - RENEW_BEFORE)
    assert renewed is not first
    new_exp = jwt.decode(dict(renewed.upstream)["x-jwt-assertion"], public, algorithms=["ES256"],
                         options={"verify_exp": False, "verify_iat": False})["exp"]  # fmt: skip
    assert new_exp == int(exp - RENEW_BEFORE) + 900


def test_with_a_backend_jwt_each_end_user_gets_their_own_assertion(tmp_path):
    sign, public = signer(tmp_path)
    p = InProcess(backend_jwt=sign)
    alice = p.renderer.allow(p.check(bearer=token(sub="alice")), p.now)
    bob = p.renderer.allow(p.check(bearer=token(sub="bob")), p.now)
    users = [jwt.decode(dict(a.upstream)["x-jwt-assertion"], public, algorithms=["ES256"])["sub"] for a in (alice, bob)]
    assert users == ["alice", "bob"]
