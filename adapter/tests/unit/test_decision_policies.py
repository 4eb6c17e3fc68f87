"""Revocations, deny policies and burst control in the decision pipeline: the catalog as the wso2 control plane
builds it, real tokens, no server."""

from __future__ import annotations

import asyncio

import pytest

from apim_adapter.catalog import Limit, build
from apim_adapter.decision import CheckInput
from apim_adapter.revocation import Revocations
from apim_adapter.tokens import fingerprint
from harness.pipeline import InProcess, in_process_adapter, token, warm, whole
from harness.sample_catalog import advanced_policy, bandwidth_policy, catalog_document, condition_group, per_minute


def with_revocations(revocations: Revocations) -> dict:
    doc = catalog_document()
    doc["revocations"] = revocations  # as the wso2 control plane's RevocationStore.view() gives them
    return doc


def decide(
    p: InProcess, bearer: str | None = None, client_ip: str = "203.0.113.9", path="/httpbin/1.0.0/ip", size: int = 0
):
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    req = CheckInput("GET", "gw", path, headers, client_ip=client_ip, size=size)
    return asyncio.run(p.pipeline.decide(req, p.now))


def test_every_revocation_kind_denies_401_900901_only_the_tokens_it_names():
    p = InProcess()
    now = p.now
    by_hash = token(iat=int(now))
    cases = {
        "jti": (Revocations(jtis={"jti-1": now + 60}), token(jti="jti-1"), token(jti="jti-2")),
        "hash": (Revocations(token_hashes={fingerprint(by_hash): now + 60}), by_hash, token()),
        "consumer key": (
            Revocations(consumer_keys={"client-subscribed": now - 5}),
            token(iat=int(now) - 10),
            token(iat=int(now)),
        ),
        "subject": (
            Revocations(subjects={"user-7": now - 5}),
            token(iat=int(now) - 10, entity_id="user-7"),
            token(iat=int(now) - 10, entity_id="user-8"),
        ),
    }
    for kind, (revocations, revoked, spared) in cases.items():
        p.catalog = build(with_revocations(revocations))
        d = decide(p, revoked)
        assert (d.status, d.code, d.reason) == (401, "900901", "token revoked"), kind
        # JWTValidator's words for a JWT in its revoked maps, getFailureMessageDetailDescription's sentence after them
        assert d.error.description == "Invalid JWT token. Make sure you have provided the correct security credentials"
        assert decide(p, spared).allowed, kind


def blocked_by(conditions: dict, doc: dict | None = None) -> InProcess:
    doc = doc or catalog_document()
    doc["blockConditions"] = conditions
    return InProcess(doc)


@pytest.mark.parametrize(
    ("conditions", "blocked", "spared"),
    [
        ({"api": ["/httpbin/1.0.0"]}, {}, {"path": "/other/ip"}),
        ({"application": ["admin:subscribed"]}, {}, {"client": "throttled-grpc"}),
        # ThrottleHandler's authorizedUser: a user's token by its `sub`; an application's token (client credentials,
        # `aut` APPLICATION) by the application's owner, `admin`, whatever its `sub` says.
        ({"user": ["alice"]}, {"user": "alice"}, {"client": "subscribed", "sub": "alice"}),
        ({"user": ["admin"]}, {}, {"user": "alice"}),
        ({"ip": [{"type": "IP", "fixedIp": "203.0.113.9", "invert": False}]}, {}, {"client_ip": "203.0.113.10"}),
        (
            {"ip": [{"type": "IPRANGE", "startingIp": "10.0.0.0", "endingIp": "10.0.0.255", "invert": True}]},
            {},
            {"client_ip": "10.0.0.7"},
        ),
    ],
)
def test_a_deny_policy_answers_403_900805_and_spares_the_rest(conditions, blocked, spared):
    doc = catalog_document()
    doc["apis"].append({**doc["apis"][0], "uuid": "api-other", "apiId": 2, "context": "/other", "version": "1",
                        "isDefaultVersion": False})  # fmt: skip
    doc["subscriptions"].append({**doc["subscriptions"][0], "subscriptionUUID": "sub-other", "apiUUID": "api-other"})
    p = blocked_by(conditions, doc)
    d = decide(p, **{"bearer": signed(blocked), **without_token(blocked)})
    assert (d.status, d.code, d.error.message) == (403, "900805", "Message blocked")
    assert d.application is None or d.application.name == "subscribed"  # analytics still know who was blocked
    assert decide(p, **{"bearer": signed(spared), **without_token(spared)}).allowed


TOKEN_FIELDS = ("client", "sub", "user")


def signed(case: dict) -> str:
    """The case's token, signed here, not at collection (a long session would otherwise run it after it expired):
    `user` a user's token with that `sub`, else an application's (`client`'s, default `subscribed`; `sub` to set)."""
    if "user" in case:
        return token(sub=case["user"], aut="APPLICATION_USER")
    return token(case.get("client", "subscribed"), **({"sub": case["sub"]} if "sub" in case else {}))


def without_token(case: dict) -> dict:
    return {k: v for k, v in case.items() if k not in TOKEN_FIELDS}


def test_an_api_or_ip_deny_policy_blocks_unsecured_resources_too():
    p = blocked_by({"ip": [{"type": "IP", "fixedIp": "203.0.113.9"}]})
    assert decide(p, path="/httpbin/1.0.0/uuid").code == "900805"
    assert decide(p, path="/httpbin/1.0.0/uuid", client_ip="198.51.100.1").allowed


def test_a_blocked_request_is_not_counted():
    doc = catalog_document()
    doc["subscriptionPolicies"].append(per_minute("Two", 2))
    doc["subscriptions"][0]["policyId"] = "Two"
    p = blocked_by({"ip": [{"type": "IP", "fixedIp": "203.0.113.9"}]}, doc)
    assert all(decide(p, token()).code == "900805" for _ in range(3))
    assert [decide(p, token(), client_ip="198.51.100.1").status for _ in range(3)] == [200, 200, 429]


def test_burst_control_throttles_429_900807_before_the_quota_and_resets_with_its_window():
    doc = catalog_document()
    doc["subscriptionPolicies"].append({**per_minute("Bursty", 1000), "rateLimitCount": 2, "rateLimitTimeUnit": "sec"})
    doc["subscriptions"][0]["policyId"] = "Bursty"
    p, t = InProcess(doc), token()
    p.now = float(int(p.now)) + 0.1  # the start of a second
    assert [decide(p, t).status for _ in range(2)] == [200, 200]
    d = decide(p, t)
    assert (d.status, d.code) == (429, "900807")
    assert dict(p.renderer.deny(d, p.now).headers)["retry-after"] == "1"
    p.now += 1
    assert decide(p, t).allowed  # the next second: the burst window restarted, the quota still has room


def test_burst_control_is_not_enforced_without_stop_on_quota_reach():
    doc = catalog_document()
    soft = {**per_minute("Soft", 1000), "rateLimitCount": 1, "rateLimitTimeUnit": "min", "stopOnQuotaReach": False}
    doc["subscriptionPolicies"].append(soft)
    doc["subscriptions"][0]["policyId"] = "Soft"
    p, t = InProcess(doc), token()
    assert all(decide(p, t).allowed for _ in range(3))


ONE_KIB = bandwidth_policy("OneKiB", 1, "KB")


def test_a_bandwidth_tier_counts_request_bodies_and_throttles_429_900804_once_reached():
    """A bandwidth tier (APIM: `bandwidthVolume`) counts each request's body, as APIM's gateway publishes its size
    to the traffic manager: the request that reaches the limit passes, the next ones are throttled with the
    subscription tier's code, bodiless ones included, until the window ends."""
    doc = catalog_document()
    doc["subscriptionPolicies"].append(ONE_KIB)
    doc["subscriptions"][0]["policyId"] = "OneKiB"
    doc["applicationPolicies"] = [per_minute("Hundred", 100)]
    doc["applications"][0]["policy"] = "Hundred"
    p, t = InProcess(doc), token()
    p.now = float(int(p.now // 60) * 60) + 1  # early in a minute window
    decisions = [decide(p, t, size=n) for n in (600, 600, 0, 10)]
    assert [(d.status, d.code) for d in decisions] == [(200, ""), (200, ""), (429, "900804"), (429, "900804")]
    assert decisions[0].usage.limit.count == 100  # RateLimit-* count requests: the application's 100 per minute
    assert decisions[2].usage.limit == Limit(1024, 60, data=True)  # a denial names the counter that denied
    p.now += 60
    assert decide(p, t, size=5000).allowed  # a new window


def test_a_bandwidth_tier_is_never_answered_from_a_prepared_allow():
    """Each request's size counts: a check on a bandwidth tier always runs whole, even when repeated."""
    doc = catalog_document()
    doc["subscriptionPolicies"].append(ONE_KIB)
    doc["subscriptions"][0]["policyId"] = "OneKiB"
    a, t = in_process_adapter(doc), token()
    assert whole(a, t).allowed
    assert warm(a, t) is None  # no prepared allow: the transport runs the whole check
    # Nor where a condition group of the API's advanced policy counts bytes.
    doc = catalog_document()
    group = condition_group(3, 0, {"conditionType": "IPSpecific", "name": "IPSpecific", "value": "10.0.0.1"})
    group["defaultLimit"] = ONE_KIB["defaultLimit"]
    doc["apiPolicies"] = [advanced_policy("Advanced", 100, group)]
    doc["apis"][0]["policy"] = "Advanced"
    a = in_process_adapter(doc)
    assert whole(a, t).allowed
    assert warm(a, t) is None


def application_tier(doc: dict, name: str, count: int, burst: tuple[int, str] | None = None) -> None:
    """The subscribed application on an application policy as the data API serves it (ApplicationPolicyDTO, its
    burst control under `burstLimit`)."""
    policy = per_minute(name, count)
    if burst:
        policy["burstLimit"] = {"rateLimitCount": burst[0], "rateLimitTimeUnit": burst[1]}
    doc["applicationPolicies"] = [policy]
    doc["applications"][0]["policy"] = name


def test_an_application_tier_limits_each_user_of_the_application_apart():
    """APIM's gateway keys the application tier by application and end user (ThrottleHandler's authorizedUser): two
    users of one application each have the whole tier; a third token of the first user shares that user's count;
    the application's own tokens (client credentials) all count as its owner's, whatever their `sub`
    (GatewayUtils.getEndUserFromJWTValidationInfo)."""
    doc = catalog_document()
    application_tier(doc, "Two", 2)
    p = InProcess(doc)
    alice, bob = token(sub="alice", aut="APPLICATION_USER"), token(sub="bob", aut="APPLICATION_USER")
    assert [decide(p, alice).status for _ in range(3)] == [200, 200, 429]
    assert decide(p, alice).code == "900803"
    assert [decide(p, bob).status for _ in range(2)] == [200, 200]  # bob's own two
    assert decide(p, token(sub="alice", aut="APPLICATION_USER", jti="another")).code == "900803"  # alice again
    assert [decide(p, token(sub=f"client-{n}")).status for n in range(3)] == [200, 200, 429]  # the owner's two


def test_a_reset_in_the_developer_portal_restarts_that_users_quota_alone():
    """POLICY_RESET names the application by its numeric id and the user as `user@tenant`, the key APIM's traffic
    manager restarts: the adapter restarts that user's count of the application's quota, warm checks too (a prepared
    allow counts on the same counter); another user's count and the application's own tokens' (its owner's) stay."""
    doc = catalog_document()
    application_tier(doc, "Two", 2)
    a = in_process_adapter(doc)
    alice, bob = token(sub="alice", aut="APPLICATION_USER"), token(sub="bob", aut="APPLICATION_USER")
    assert [whole(a, alice).status for _ in range(2)] + [whole(a, bob).status for _ in range(2)] == [200] * 4
    assert (whole(a, alice).code, whole(a, bob).code) == ("900803", "900803")
    app_id = doc["applications"][0]["id"]
    asyncio.run(a._reset_quota(app_id, "alice@carbon.super", "reset-1"))
    assert whole(a, alice).allowed
    _, usage = warm(a, alice)  # answered from its prepared allow, on the restarted counter: the second of two
    assert usage.used == 2
    assert warm(a, alice).code == "900803"
    assert whole(a, bob).code == "900803"  # bob's count is his own
    asyncio.run(a._reset_quota(app_id + 100, "bob@carbon.super", "reset-2"))  # an application the catalog lacks
    assert whole(a, bob).code == "900803"


def test_application_burst_control_throttles_429_900809_per_user():
    doc = catalog_document()
    application_tier(doc, "Bursty", 1000, burst=(2, "sec"))
    p = InProcess(doc)
    p.now = float(int(p.now)) + 0.1  # the start of a second
    alice = token(sub="alice", aut="APPLICATION_USER")
    assert [decide(p, alice).status for _ in range(2)] == [200, 200]
    d = decide(p, alice)
    assert (d.status, d.code) == (429, "900809")
    assert dict(p.renderer.deny(d, p.now).headers)["retry-after"] == "1"
    assert decide(p, token(sub="bob", aut="APPLICATION_USER")).allowed  # another user's burst window
    p.now += 1
    assert decide(p, alice).allowed


def test_the_tiers_answer_in_apims_order_subscription_quota_before_its_burst():
    """ThrottleHandler checks a subscription's spike arrest only when its quota is not reached: a request over both
    is answered with the quota's 900804."""
    doc = catalog_document()
    doc["subscriptionPolicies"].append({**per_minute("TwoBursty", 2), "rateLimitCount": 2, "rateLimitTimeUnit": "sec"})
    doc["subscriptions"][0]["policyId"] = "TwoBursty"
    p, t = InProcess(doc), token()
    p.now = float(int(p.now // 60) * 60) + 1.1
    assert [decide(p, t).code for _ in range(3)] == ["", "", "900804"]  # over the quota and the burst: the quota


def test_an_application_policy_without_burst_control_is_served_with_a_zero_burst_limit():
    """The data API serves every application policy's `burstLimit`: without burst control, count 0 and unit null."""
    doc = catalog_document()
    application_tier(doc, "Ten", 10)
    doc["applicationPolicies"][0]["burstLimit"] = {"rateLimitCount": 0, "rateLimitTimeUnit": None}
    assert build(doc).application_policies["Ten"].burst is None
