"""Advanced API policies' condition groups: which requests meet a condition as APIM's traffic manager and gateway
read them (conditions.py cites each rule), and the counters a request is counted on in the decision pipeline —
real tokens, the catalog as the control planes build it, no server."""

from __future__ import annotations

import asyncio
import json

import pytest

from apim_adapter.backend_jwt import DIALECT
from apim_adapter.conditions import Facts, condition, flat_claims, query_parameters
from apim_adapter.decision import CheckInput
from apim_adapter.prepared import NEEDS_HEADERS
from apim_adapter.transport.grpc import AuthorizationService, pb, request_fields
from apim_adapter.transport.http import HttpCheck
from harness.pipeline import PATH, InProcess, check_request, in_process_adapter, token, warm, whole
from harness.sample_catalog import advanced_policy, catalog_document
from harness.sample_catalog import condition_group as group


def advanced(*groups: dict, default: int = 3) -> dict:
    """The sample catalog with its API on an advanced policy of these condition groups."""
    doc = catalog_document()
    doc["apiPolicies"] = [advanced_policy("Advanced", default, *groups)]
    doc["apis"][0]["policy"] = "Advanced"
    return doc


def header(name: str, regex: str, inverted: bool = False) -> dict:
    return {"conditionType": "Header", "name": name, "value": regex, "isInverted": inverted}


def ip_range(first: str, last: str) -> dict:
    return {"conditionType": "IPRange", "name": first, "value": last, "isInverted": False}


def decide(p: InProcess, bearer: str, headers: dict | None = None, client_ip: str = "203.0.113.9", query: str = ""):
    req = CheckInput("GET", "gw", "/httpbin/1.0.0/ip" + query, {"authorization": f"Bearer {bearer}", **(headers or {})},
                     client_ip=client_ip)  # fmt: skip
    return asyncio.run(p.pipeline.decide(req, p.now))


def outcomes(p: InProcess, bearer: str, times: int, **request) -> list[str]:
    return [decide(p, bearer, **request).code or "allowed" for _ in range(times)]


def test_requests_meeting_a_group_are_counted_on_its_limit_and_the_others_on_the_policys():
    p, t = InProcess(advanced(group(1, 2, header("X-Tier", "gold")), default=3)), token()
    gold = {"x-tier": "gold"}
    assert outcomes(p, t, 3, headers=gold) == ["allowed", "allowed", "900800"]  # the group's 2 a minute
    assert decide(p, t, gold).usage.limit.count == 2
    assert outcomes(p, t, 4) == ["allowed", "allowed", "allowed", "900800"]  # the policy's 3, counted apart
    assert decide(p, t, {"x-tier": "silver"}).code == "900800"  # meets no group: the policy's count
    p.now += 60  # the next window
    assert decide(p, t, gold).allowed
    assert decide(p, t).allowed


def test_a_request_meeting_two_groups_is_counted_on_both():
    doc = advanced(group(1, 2, header("x-tier", "gold")), group(2, 5, ip_range("10.0.0.0", "10.0.0.255")))
    p, t = InProcess(doc), token()
    both = {"headers": {"x-tier": "gold"}, "client_ip": "10.0.0.9"}
    assert outcomes(p, t, 2, **both) == ["allowed", "allowed"]
    assert decide(p, t, **both).code == "900800"  # over the header group's 2, though under the range's 5
    d = decide(p, t, client_ip="10.0.0.10")  # the range's group alone: the two allowed before were counted on it
    assert d.allowed  # (the refused one was not, as APIM's gateway publishes only what it lets through)
    assert (d.usage.limit.count, d.usage.used) == (5, 3)


def test_a_group_whose_conditions_all_hold_applies_and_one_failing_condition_leaves_it():
    p, t = InProcess(advanced(group(1, 1, header("x-tier", "gold"), ip_range("10.0.0.0", "10.0.0.255")))), token()
    assert outcomes(p, t, 2, headers={"x-tier": "gold"}, client_ip="10.0.0.1") == ["allowed", "900800"]
    assert decide(p, t, {"x-tier": "gold"}, client_ip="10.0.1.1").allowed  # outside the range: the policy's count


def test_a_resource_policy_with_groups_denies_with_the_resource_code():
    doc = advanced(group(1, 1, header("x-tier", "gold")))
    doc["apis"][0]["policy"] = "Unlimited"
    doc["apis"][0]["urlMappings"][0]["throttlingPolicy"] = "Advanced"  # GET /ip
    p, t = InProcess(doc), token()
    assert outcomes(p, t, 2, headers={"x-tier": "gold"}) == ["allowed", "900802"]


def test_a_warm_check_counts_the_groups_its_own_request_meets():
    """A warm check is answered from the previous identical one (same token, method and path): its counters are
    still this request's — the address and the query decide them again."""
    doc = advanced(group(1, 1, ip_range("10.0.0.0", "10.0.0.255")), default=5)
    a, t = in_process_adapter(doc), token()
    assert whole(a, t, client="10.0.0.1").allowed  # the range's 1
    _, usage = warm(a, t, client_ip="198.51.100.7")  # prepared, counted on the policy's own 5
    assert (usage.limit.count, usage.used) == (5, 1)
    denied = warm(a, t, client_ip="10.0.0.2")
    assert (denied.code, denied.usage.limit.count) == ("900800", 1)
    query = {"conditionType": "QueryParameterType", "name": "plan", "value": "^gold$"}
    a = in_process_adapter(advanced(group(1, 1, query), default=5))
    assert whole(a, t, path=PATH + "?plan=gold").allowed
    assert warm(a, t, path=PATH + "?plan=silver")[1].used == 1  # the policy's count
    assert warm(a, t, path=PATH + "?plan=gold").code == "900800"


def test_a_warm_check_on_a_group_reading_a_header_asks_for_the_headers_and_counts_by_them():
    """A warm check's first read has no header but the credential and the user agent: where a group reads one, the
    prepared allow asks for the request's headers (NEEDS_HEADERS) and then counts the groups they meet."""
    a, t = in_process_adapter(advanced(group(1, 1, header("x-tier", "gold")), default=5)), token()
    assert whole(a, t).allowed  # no x-tier: the policy's own count, 1 of 5
    assert warm(a, t) is NEEDS_HEADERS
    _, usage = warm(a, t, headers={"x-tier": "gold"})  # the group's 1
    assert (usage.limit.count, usage.used) == (1, 1)
    assert warm(a, t, headers={"x-tier": "gold"}).code == "900800"
    _, usage = warm(a, t, headers={"x-tier": "silver"})  # the policy's again, 2 of 5
    assert (usage.limit.count, usage.used) == (5, 2)


def test_both_transports_answer_a_header_group_from_the_prepared_allow_and_count_by_the_header():
    """gRPC parses the request for its headers; HTTP mode asks again with the headers its whole check would read.
    Either way the whole check is not run again, and the counts are the header's."""
    doc = advanced(group(1, 2, header("x-tier", "gold")), default=5)
    a, t = in_process_adapter(doc), token()
    whole_checks = []

    def counted(req: CheckInput):
        whole_checks.append(req)
        return a.check_on_thread(req)

    service = AuthorizationService(counted, a.renderer, check_prepared=a.check_prepared)

    def grpc_status(**headers: str) -> int:
        raw = check_request(t, headers={"x-tier": "gold", **headers}).SerializeToString()
        answer = pb.CheckResponse.FromString(service.Check(raw, None))
        return answer.denied_response.status.code or 200

    assert [grpc_status() for _ in range(3)] == [200, 200, 429]  # the group's 2
    assert len(whole_checks) == 1  # the first: the next two from its prepared allow
    http = HttpCheck(a.check_on_loop, a.renderer, check_prepared=a.check_prepared)
    fields = request_fields({"authorization": f"Bearer {t}"}, "GET", PATH, "gw", "198.51.100.7")
    assert http.warm(*fields) is None  # no headers yet: its whole check would read them
    status, _, _ = http.warm_with_headers(fields, {"authorization": f"Bearer {t}", "x-tier": "silver"})
    assert status == 200  # the policy's count
    status, _, body = http.warm_with_headers(fields, {"authorization": f"Bearer {t}", "x-tier": "gold"})
    assert (status, json.loads(body)["code"]) == (429, "900800")


@pytest.mark.parametrize(
    ("raw", "facts", "holds"),
    [
        # Header: the name in any case, the pattern anywhere in the value (regex:find), absent meets nothing.
        (header("X-Tier", "gold"), {"headers": {"x-tier": "golden"}}, True),
        (header("x-tier", "^gold$"), {"headers": {"x-tier": "golden"}}, False),
        (header("x-tier", "gold"), {}, False),
        # Patterns as Java reads them: ASCII classes and case, flags midway, intersections, quoting, Java's `$`.
        (header("x-tier", r"^\d+$"), {"headers": {"x-tier": "\u0663"}}, False),  # an Arabic-Indic three
        (header("x-tier", "(?i)gold"), {"headers": {"x-tier": "GOLD"}}, True),
        (header("x-tier", "g(?i)old"), {"headers": {"x-tier": "gOLD"}}, True),  # Python's re refuses the pattern
        (header("x-tier", "[a-z&&[^aeiou]]{3}"), {"headers": {"x-tier": "gld"}}, True),
        (header("x-tier", "[a-z&&[^aeiou]]{3}"), {"headers": {"x-tier": "gol"}}, False),
        (header("x-tier", r"\Qa.b\E"), {"headers": {"x-tier": "axb"}}, False),
        (header("x-tier", "gold", inverted=True), {}, True),
        (header("x-tier", "gold", inverted=True), {"headers": {"x-tier": "gold"}}, False),
        # Query parameters as the gateway splits them: raw, the last of a name, a bare name keeps the value before.
        ({"conditionType": "QueryParameterType", "name": "q", "value": "^a%20b$"}, {"path": "/p?q=a%20b"}, True),
        ({"conditionType": "QueryParameterType", "name": "q", "value": "^2$"}, {"path": "/p?q=1&q=2"}, True),
        ({"conditionType": "QueryParameterType", "name": "b", "value": "^1$"}, {"path": "/p?a=1&b"}, True),
        ({"conditionType": "QueryParameterType", "name": "q", "value": "x"}, {"path": "/p"}, False),
        # JWT claims: the token's, flattened as the gateway flattens them, and WSO2's claims about the caller.
        ({"conditionType": "JWTClaims", "name": "groups", "value": r"\|admin$"},
         {"claims": {"groups": ["a", "admin"]}}, True),
        ({"conditionType": "JWTClaims", "name": "org.unit", "value": "^sales$"},
         {"claims": {"org": {"unit": "sales"}}}, True),
        ({"conditionType": "JWTClaims", "name": "unit", "value": "^sales$"},
         {"claims": {"unit": "sales\u2028"}}, True),  # Java's `$` before a final line terminator
        ({"conditionType": "JWTClaims", "name": "unit", "value": "^sales.$"},
         {"claims": {"unit": "sales\r"}}, False),  # and its `.` stops at one
        ({"conditionType": "JWTClaims", "name": DIALECT + "applicationname", "value": "^subscribed$"},
         {"claims": {DIALECT + "applicationname": "subscribed"}}, True),
        # Addresses: a range includes both ends; IPv6 too; an address of the other version meets nothing.
        (ip_range("10.0.0.1", "10.0.0.3"), {"client_ip": "10.0.0.3"}, True),
        (ip_range("10.0.0.1", "10.0.0.3"), {"client_ip": "10.0.0.4"}, False),
        (ip_range("2001:db8::1", "2001:db8::ff"), {"client_ip": "2001:db8::1"}, True),
        (ip_range("10.0.0.1", "10.0.0.3"), {"client_ip": "::ffff:10.0.0.2"}, True),
        ({"conditionType": "IPSpecific", "name": "IPSpecific", "value": "10.0.0.1"}, {"client_ip": "10.0.0.1"}, True),
        ({"conditionType": "IPSpecific", "name": "IPSpecific", "value": "10.0.0.1", "isInverted": True},
         {"client_ip": "2001:db8::1"}, True),
        ({"conditionType": "IPSpecific", "name": "IPSpecific", "value": "10.0.0.1"}, {"client_ip": "bogus"}, False),
    ],
)  # fmt: skip
def test_a_condition_holds_as_apim_reads_the_request(raw, facts, holds):
    request = {"headers": {}, "path": "/p", "client_ip": "", "claims": {}, **facts}
    claims = request.pop("claims")
    assert condition(raw, "c").holds(Facts(**request, claims=lambda: claims)) is holds


def test_query_parameters_and_claims_are_read_as_the_gateway_reads_them():
    assert query_parameters("/p?a=1&b=2&a=3&c&d=x=y&=") == {"a": "3", "b": "2", "c": "3", "d": "3"}
    assert query_parameters("/p") == query_parameters("/p?") == {}
    assert flat_claims({"n": 1, "t": True, "l": [1, "x"], "o": {"p": {"q": None}}}) == {
        "n": "1", "t": "true", "l": "1|x", "o.p.q": ""
    }  # fmt: skip


def test_jwt_claim_conditions_read_the_callers_wso2_claims_in_the_pipeline():
    by_app = {"conditionType": "JWTClaims", "name": DIALECT + "applicationname", "value": "^subscribed$"}
    p = InProcess(advanced(group(1, 1, by_app), default=5))
    assert outcomes(p, token(), 2) == ["allowed", "900800"]
    assert decide(p, token(app="throttled-grpc")).allowed  # another application: the policy's count
