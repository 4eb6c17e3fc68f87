"""APIM's deny policies on their own: /block answers and throttleData messages in, the pure check out."""

from __future__ import annotations

import json

import pytest

from apim_adapter.blocking import BadCondition, apply_event, blocked, of_tenant, parse
from apim_adapter.catalog import CatalogError, build
from harness.sample_catalog import catalog_document


def request(policies, api="/httpbin/1.0.0", app="admin:subscribed", user="alice", ip="203.0.113.9") -> bool:
    return blocked(policies, api, app, user, ip)


def message(kind: str, value: str, state: str = "true", cid: int = 1) -> dict:
    """A throttleData blocking message (JMSMessageListener.handleBlockingMessage's keys)."""
    return {"id": cid, "blockingCondition": kind, "conditionValue": value, "state": state,
            "tenantDomain": "carbon.super"}  # fmt: skip


def test_nothing_is_blocked_without_conditions():
    assert not request(parse({"api": [], "application": [], "ip": [], "user": [], "custom": [], "subscription": []}))


@pytest.mark.parametrize(
    ("conditions", "blocks"),
    [
        ({"api": ["/httpbin/1.0.0"]}, True),
        ({"api": ["/httpbin/2.0.0"]}, False),  # the context carries the version
        ({"application": ["admin:subscribed"]}, True),
        ({"application": ["bob:subscribed"]}, False),  # owner:name, not the name alone
        ({"user": ["alice"]}, True),
        ({"user": ["alice@carbon.super"]}, True),  # the super tenant's suffix is optional
        ({"user": ["bob"]}, False),
    ],
)
def test_api_application_and_user_conditions_match_exactly(conditions, blocks):
    assert request(parse(conditions)) is blocks


def ip(type_, invert=False, **fields) -> dict:
    """An IPLevel entry of /block (BlockConditionDBUtil.getBlockConditions)."""
    return {"id": 3, "type": type_, "invert": invert, "tenantDomain": "carbon.super", **fields}


@pytest.mark.parametrize(
    ("entry", "client", "blocks"),
    [
        (ip("IP", fixedIp="203.0.113.9"), "203.0.113.9", True),
        (ip("IP", fixedIp="203.0.113.9"), "203.0.113.10", False),
        (ip("IP", True, fixedIp="203.0.113.9"), "203.0.113.9", False),  # inverted: all but this one
        (ip("IP", True, fixedIp="203.0.113.9"), "198.51.100.1", True),
        (ip("IPRANGE", startingIp="10.0.0.1", endingIp="10.0.0.9"), "10.0.0.5", True),
        (ip("IPRANGE", startingIp="10.0.0.1", endingIp="10.0.0.9"), "10.0.0.1", False),  # APIM: bounds exclusive
        (ip("IPRANGE", startingIp="10.0.0.1", endingIp="10.0.0.9"), "10.0.0.9", False),
        (ip("IPRANGE", startingIp="10.0.0.1", endingIp="10.0.0.9"), "10.0.1.5", False),
        (ip("IPRANGE", True, startingIp="10.0.0.1", endingIp="10.0.0.9"), "10.0.1.5", True),
        (ip("IPRANGE", True, startingIp="10.0.0.1", endingIp="10.0.0.9"), "10.0.0.5", False),
        (ip("IPRANGE", startingIp="2001:db8::1", endingIp="2001:db8::ff"), "2001:db8::2", True),
        (ip("IPRANGE", startingIp="2001:db8::1", endingIp="2001:db8::ff"), "10.0.0.5", False),
        (ip("IP", fixedIp="203.0.113.9"), "::ffff:203.0.113.9", True),  # an IPv4 client seen on a v6 socket
        (ip("IP", fixedIp="203.0.113.9"), "", False),  # no client address: IP conditions cannot match
        (ip("IP", True, fixedIp="203.0.113.9"), "not-an-ip", False),
    ],
)
def test_ip_and_ip_range_conditions_inverted_or_not(entry, client, blocks):
    assert request(parse({"ip": [entry]}), ip=client) is blocks


def test_a_bad_ip_entry_is_left_out_and_reported():
    policies = parse({"ip": [ip("IPRANGE", startingIp="10.0.0.1"), ip("IP", fixedIp="203.0.113.9")]})
    assert len(policies.ips) == 1
    assert policies.skipped == ("blockConditions.ip[0]: IP range condition without valid startingIp and endingIp "
                                "of one IP version",)  # fmt: skip


def test_added_disabled_and_deleted_conditions_from_throttle_data_messages():
    """APIM sends "true" (added, enabled), "false" (disabled: publishBlockingEventUpdate) and "delete" (deleted:
    unpublishBlockCondition); its gateway removes the condition on anything but "true"."""
    conditions: dict = {}
    assert apply_event(conditions, message("API", "/httpbin/1.0.0"))
    assert request(parse(conditions))
    assert apply_event(conditions, message("API", "/httpbin/1.0.0", "false"))
    assert not request(parse(conditions))
    apply_event(conditions, message("API", "/httpbin/1.0.0"))
    assert apply_event(conditions, message("API", "/httpbin/1.0.0", "delete"))
    assert not request(parse(conditions))
    apply_event(conditions, message("APPLICATION", "admin:subscribed"))
    apply_event(conditions, message("USER", "bob"))
    assert request(parse(conditions))
    assert not request(parse(conditions), app="admin:other")


def test_ip_conditions_from_messages_are_json_values_removed_by_their_id():
    conditions: dict = {}
    apply_event(conditions, message("IPRANGE", json.dumps({"startingIp": "10.0.0.1", "endingIp": "10.0.0.9",
                                                           "invert": False}), cid=7))  # fmt: skip
    apply_event(conditions, message("IP", json.dumps({"fixedIp": "203.0.113.9", "invert": False}), cid=8))
    assert request(parse(conditions), ip="10.0.0.5")
    assert request(parse(conditions), ip="203.0.113.9")
    apply_event(conditions, message("IPRANGE", "", "delete", cid=7))  # a deletion names only the id
    assert not request(parse(conditions), ip="10.0.0.5")
    assert request(parse(conditions), ip="203.0.113.9")


def test_another_tenants_ip_conditions_are_left_out():
    """`/block` answers every tenant's conditions; APIM's gateway checks a call against its API's tenant's IP
    conditions alone (ThrottleDataHolder.isIpLevelBlocked)."""
    theirs = {**ip("IP", fixedIp="203.0.113.9"), "tenantDomain": "other.com"}
    ours = {**ip("IP", fixedIp="198.51.100.7"), "tenantDomain": "carbon.super"}
    kept = parse(of_tenant({"api": ["/t/other.com/a/1"], "ip": [theirs, ours]}, "carbon.super"))
    assert not request(kept, ip="203.0.113.9")
    assert request(kept, ip="198.51.100.7")
    assert kept.apis == {"/t/other.com/a/1"}  # an API's context names its tenant: kept as it is


def test_throttle_data_messages_that_are_not_blocking_conditions_are_not_applied():
    assert not apply_event({}, {"throttleKey": "k", "isThrottled": "true", "expiryTimeStamp": 1})


@pytest.mark.parametrize(
    "bad",
    [
        {"blockingCondition": "API", "state": "true"},
        {"blockingCondition": "API", "conditionValue": "/x"},
        message("IP", json.dumps({"fixedIp": "not-an-ip"})),
        message("IPRANGE", "[1, 2]"),
    ],
)
def test_a_blocking_message_that_cannot_be_applied_is_an_error_and_changes_nothing(bad):
    conditions: dict = {"api": ["/a"]}
    with pytest.raises(BadCondition):
        apply_event(conditions, bad)
    assert parse(conditions).apis == {"/a"}
    assert not parse(conditions).ips


def test_the_catalog_carries_deny_policies_and_a_file_with_a_bad_one_is_rejected():
    doc = catalog_document()
    doc["blockConditions"] = {"api": ["/httpbin/1.0.0"], "ip": [ip("IP", fixedIp="203.0.113.9")]}
    assert build(doc).deny_policies.apis == {"/httpbin/1.0.0"}
    doc["blockConditions"]["ip"].append(ip("IP", fixedIp="nope"))
    with pytest.raises(CatalogError, match=r"blockConditions.ip\[1\]"):
        build(doc)
    assert build(doc, lenient=True).skipped == ("blockConditions.ip[1]: IP condition without a valid fixedIp",)
    doc["blockConditions"] = {"user": "alice"}
    with pytest.raises(CatalogError, match=r"blockConditions\.user: must be a list of strings"):
        build(doc)
