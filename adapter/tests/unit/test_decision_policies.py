"""Revocations, deny policies and burst control in the decision pipeline: the catalog as the wso2 control plane
builds it, real tokens, no server."""

from __future__ import annotations

import asyncio

import pytest

from apim_adapter.catalog import build
from apim_adapter.decision import CheckInput
from apim_adapter.revocation import Revocations
from apim_adapter.tokens import fingerprint
from harness.pipeline import InProcess, token
from harness.sample_catalog import catalog_document, per_minute


def with_revocations(revocations: Revocations) -> dict:
    doc = catalog_document()
    doc["revocations"] = revocations  # as the wso2 control plane's RevocationStore.view() gives them
    return doc


def decide(p: InProcess, bearer: str | None = None, client_ip: str = "203.0.113.9", path="/httpbin/1.0.0/ip"):
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    return asyncio.run(p.pipeline.decide(CheckInput("GET", "gw", path, headers, client_ip=client_ip), p.now))


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
        ({"user": ["client-subscribed"]}, {}, {"client": "throttled-grpc"}),  # the token's subject
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
    d = decide(p, **{"bearer": token(), **blocked})
    assert (d.status, d.code, d.error.message) == (403, "900805", "Message blocked")
    assert d.application is None or d.application.name == "subscribed"  # analytics still know who was blocked
    # Tokens are signed here, not at collection: a long session would otherwise run the case after they expired.
    spared = dict(spared)
    bearer = token(spared.pop("client")) if "client" in spared else token()
    assert decide(p, **{"bearer": bearer, **spared}).allowed


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
    assert dict(p.renderer.deny(d).headers)["retry-after"] == "1"
    p.now += 1
    assert decide(p, t).allowed  # the next second: the burst window restarted, the quota still has room


def test_burst_control_is_not_enforced_without_stop_on_quota_reach():
    doc = catalog_document()
    soft = {**per_minute("Soft", 1000), "rateLimitCount": 1, "rateLimitTimeUnit": "min", "stopOnQuotaReach": False}
    doc["subscriptionPolicies"].append(soft)
    doc["subscriptions"][0]["policyId"] = "Soft"
    p, t = InProcess(doc), token()
    assert all(decide(p, t).allowed for _ in range(3))
