"""The `Unauthenticated` subscription tier, as APIM's gateway applies it to callers that bring no application: a
caller of an unsecured resource is counted by client address on it, per API (APIAuthenticationHandler
.setAuthenticationContext for `AUTH_NO_AUTHENTICATION`: tier Unauthenticated, application id the client's address;
ThrottleHandler's subscription key), after the API or resource tier; a user admitted by name and password is counted
by user (test_basic_auth.py)."""

from __future__ import annotations

import asyncio

from apim_adapter.decision import CheckInput
from harness.pipeline import InProcess, token
from harness.sample_catalog import catalog_document, per_minute

LIMIT = 3
OPEN = "/httpbin/1.0.0/uuid"  # authScheme None


def pipeline(unauthenticated: bool = True) -> InProcess:
    doc = catalog_document()
    if unauthenticated:
        doc["subscriptionPolicies"].append(per_minute("Unauthenticated", LIMIT))
    return InProcess(doc)


def check(p: InProcess, client_ip: str, path: str = OPEN, bearer: str | None = None):
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    return asyncio.run(p.decide(CheckInput("GET", "gw", path, headers, client_ip=client_ip)))


def test_each_client_address_has_the_unauthenticated_tier_on_an_unsecured_resource():
    p = pipeline()
    codes = [check(p, "198.51.100.7").code for _ in range(LIMIT + 1)]
    assert codes == [""] * LIMIT + ["900804"]
    assert check(p, "198.51.100.8").allowed  # another address: a quota of its own
    assert check(p, "198.51.100.7", "/httpbin/1.0.0/anything/open/x").code == "900804"  # one quota per API


def test_the_window_ending_lets_the_address_in_again():
    p = pipeline()
    for _ in range(LIMIT + 1):
        check(p, "198.51.100.7")
    p.now += 60
    assert check(p, "198.51.100.7").allowed


def test_secured_resources_and_catalogs_without_the_tier_are_not_counted_on_it():
    p = pipeline()
    assert all(check(p, "198.51.100.9", "/httpbin/1.0.0/ip", token()).allowed for _ in range(LIMIT + 2))
    bare = pipeline(unauthenticated=False)
    assert all(check(bare, "198.51.100.7").allowed for _ in range(LIMIT + 2))
