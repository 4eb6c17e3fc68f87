"""An API's backend throughput (APIM's "Backend Throughput", APIDTO `maxTps`): how many calls of the API reach its
backend per unit of time, whoever makes them, by key type; checked after every tier, answered 503 `900801` (carbon-
apimgt 9.31.86 gateway ThrottleHandler.isHardLimitThrottled and handleThrottleOut)."""

from __future__ import annotations

import asyncio
import json

import pytest

from apim_adapter.catalog import CatalogError, Limit, build
from apim_adapter.config import Request
from apim_adapter.decision import CheckInput, Decision
from apim_adapter.mediation import RequestBody
from apim_adapter.render import Renderer
from harness.pipeline import InProcess, in_process_adapter, token, warm, whole
from harness.sample_catalog import KM, catalog_document, graphql_catalog, per_minute

pytestmark = pytest.mark.unit

PER_MINUTE = {"production": 2, "productionTimeUnit": "MINUTE"}


def with_max_tps(max_tps: dict, doc: dict | None = None) -> dict:
    doc = doc or catalog_document()
    doc["apis"][0]["maxTps"] = max_tps
    doc["applicationKeyMappings"].append({"applicationUUID": "app-subscribed", "consumerKey": "client-sandbox",
                                          "keyType": "SANDBOX", "keyManager": KM})  # fmt: skip
    return doc


def test_calls_past_the_apis_backend_throughput_are_503_whoever_makes_them():
    p = InProcess(with_max_tps(PER_MINUTE))
    first = p.check(bearer=token("subscribed"))
    second = p.check(bearer=token("reload"))  # another application: the same backend
    refused = p.check(bearer=token("subscribed"))
    assert (first.allowed, second.allowed) == (True, True)
    assert (refused.status, refused.code, refused.reason) == (503, "900801", "throttled")
    deny = Renderer(Request()).deny(refused, p.now)
    assert json.loads(deny.body) == {"code": "900801", "message": "API Limit Reached",
                                     "description": "API not accepting requests"}  # fmt: skip
    assert not any(name == "retry-after" for name, _ in deny.headers)  # APIM sets no next access time for it
    p.now += 60  # the next minute
    assert p.check(bearer=token("subscribed")).allowed


def test_each_key_type_has_its_own_limit_and_one_not_given_has_none():
    p = InProcess(with_max_tps({"production": 1, "sandbox": 2}))
    assert [p.check(bearer=token("sandbox")).status for _ in range(3)] == [200, 200, 503]
    assert [p.check(bearer=token("subscribed")).status for _ in range(2)] == [200, 503]
    unlimited = InProcess(with_max_tps({"sandbox": 1}))
    assert all(unlimited.check(bearer=token("subscribed")).allowed for _ in range(5))


def test_the_tiers_come_first_and_a_call_refused_by_one_is_not_counted():
    doc = with_max_tps(PER_MINUTE)
    next(s for s in doc["subscriptions"] if s["applicationUUID"] == "app-reload")["policyId"] = "Tiny"
    doc["subscriptionPolicies"] = [per_minute("Gold", 5000), per_minute("Tiny", 1)]
    p = InProcess(doc)
    assert p.check(bearer=token("reload")).allowed
    assert p.check(bearer=token("reload")).code == "900804"  # its tier: 429, and not counted on the backend's
    assert p.check(bearer=token("subscribed")).allowed  # the backend's second call
    # Both reached: the tier answers, as ThrottleHandler looks at the hard limit only once the tiers let a call by.
    assert p.check(bearer=token("reload")).code == "900804"
    assert p.check(bearer=token("subscribed")).code == "900801"


def test_zero_refuses_every_call_of_its_key_type():
    """Synapse's CallerContext admits no call where MaximumCount is 0."""
    p = InProcess(with_max_tps({"production": 0, "sandbox": 5}))
    assert p.check(bearer=token("subscribed")).code == "900801"
    assert p.check(bearer=token("sandbox")).allowed


def test_an_unsecured_resources_calls_are_production_and_their_own_quota_comes_first():
    """APIAuthenticationHandler gives an unsecured resource's calls the key type PRODUCTION, and counts them per
    address on the Unauthenticated tier, which ThrottleHandler looks at before the hard limit."""
    doc = with_max_tps(PER_MINUTE)
    doc["subscriptionPolicies"].append(per_minute("Unauthenticated", 1))
    p = InProcess(doc)

    def anonymous() -> Decision:
        return asyncio.run(p.decide(CheckInput("GET", "gw", "/httpbin/1.0.0/uuid", {}, client_ip="198.51.100.7")))

    assert anonymous().allowed
    assert anonymous().code == "900804"  # its address's quota: not counted on the backend's
    assert p.check(bearer=token("subscribed")).allowed  # the backend's second call
    assert anonymous().code == "900804"  # both reached: the quota answers
    assert p.check(bearer=token("subscribed")).code == "900801"


def test_a_graphql_call_counts_once_per_operation():
    """ThrottleHandler checks the hard limit in its loop over a call's operations."""
    doc = graphql_catalog()
    next(a for a in doc["apis"] if a["uuid"] == "api-swapi")["maxTps"] = {
        "production": 4,
        "productionTimeUnit": "MINUTE",
    }
    p = InProcess(doc)
    body = json.dumps({"query": "{ hero { id } heroes { id } name }"}).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {token()}"}
    req = CheckInput("POST", "gw", "/swapi/1.0.0", headers, body=RequestBody(body, True, "application/json", True))
    assert [asyncio.run(p.decide(req)).status for _ in range(3)] == [200, 200, 503]  # 3 < 4 when the second came


def test_a_warm_check_counts_on_it_as_the_whole_check_does():
    a = in_process_adapter(with_max_tps(PER_MINUTE))
    bearer = token("subscribed")
    assert whole(a, bearer).allowed  # 1, and its allow is prepared
    _, usage = warm(a, bearer)  # answered from it: 2
    assert (usage.limit, usage.used) == (Limit(2, 60), 2)  # the tightest counter: the backend's
    refused = warm(a, bearer)
    assert (refused.status, refused.code) == (503, "900801")


@pytest.mark.parametrize(
    ("max_tps", "limits"),
    [
        ({"production": 10}, {"PRODUCTION": Limit(10, 1)}),  # SECOND unless given (APIMaxTpsDTO's default)
        ({"production": 10, "productionTimeUnit": "MINUTE", "sandbox": 5, "sandboxTimeUnit": "HOUR"},
         {"PRODUCTION": Limit(10, 60), "SANDBOX": Limit(5, 3600)}),
        ({"sandbox": 0}, {"SANDBOX": Limit(0, 1)}),
        ({}, {}),
    ],
)  # fmt: skip
def test_max_tps_is_read_as_the_publishers_apidto_gives_it(max_tps, limits):
    assert build(with_max_tps(max_tps)).apis["api-httpbin"].backend_limits == limits


@pytest.mark.parametrize(
    ("max_tps", "named"),
    [
        ({"production": -1}, "maxTps.production: must be 0 or more"),
        ({"production": "10"}, "maxTps.production: expected int"),
        ({"production": 10, "productionTimeUnit": "DAY"}, "maxTps.productionTimeUnit: one of SECOND, MINUTE, HOUR"),
        ({"sandbox": True}, "maxTps.sandbox: expected int"),
    ],
)
def test_a_max_tps_apim_would_not_write_rejects_the_file_naming_the_key(max_tps, named):
    with pytest.raises(CatalogError, match=named):
        build(with_max_tps(max_tps))
