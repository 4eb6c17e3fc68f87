"""The catalog: WSO2 internal data API shapes in, validated and indexed for the hot path."""

from __future__ import annotations

import copy

import pytest

from apim_adapter.catalog import CatalogError, Limit, build, compile_template
from harness.sample_catalog import advanced_policy, bandwidth_policy, catalog_document, condition_group


def test_sample_catalog_builds_with_indexes():
    cat = build(catalog_document())
    assert set(cat.contexts) == {"/httpbin/1.0.0", "/httpbin"}
    assert ("client-subscribed", "WSO2-IS-7") in cat.key_mappings
    assert cat.subscription_policies["Gold"].limit == Limit(5000, 60)
    assert cat.subscription_policies["Unlimited"].limit is None


@pytest.mark.parametrize(
    ("api_type", "verb", "protocol"),
    [
        ("SSE", "SUBSCRIBE", "server-sent event topics"),
        ("WS", "SUBSCRIBE", "WebSocket topics"),
        ("MCP", "TOOL", "MCP tools"),
    ],
)
def test_apis_of_another_protocol_are_left_out_saying_so(api_type, verb, protocol):
    """APIM lists them with URL mappings of their own protocol's verbs; before, they were left out as an "unknown
    method", or, had their verbs been HTTP ones, enforced as paths APIM's gateway does not read them as."""
    doc = catalog_document()
    other = {**copy.deepcopy(doc["apis"][0]), "uuid": "api-other", "apiId": 2, "name": "Other",
             "context": "/other/1.0.0", "contextTemplate": "/other/{version}", "isDefaultVersion": False,
             "apiType": api_type, "urlMappings": [{"httpMethod": verb, "urlPattern": "hello"}]}  # fmt: skip
    doc["apis"].append(other)
    cat = build(doc, lenient=True)
    assert set(cat.apis) == {"api-httpbin"}
    assert cat.skipped == (
        f"apis[1] (Other).apiType: a {api_type} API ({protocol}) is enforced by APIM's own gateway, not here: left "
        "out, its calls are answered 404",
    )
    assert cat.resolve("/other/1.0.0") is None
    with pytest.raises(CatalogError, match=f"a {api_type} API"):
        build(doc)


def test_soap_apis_are_http_resources_and_kept():
    doc = catalog_document()
    doc["apis"][0]["apiType"] = "SOAP"
    assert build(doc).apis["api-httpbin"].api_type == "SOAP"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/httpbin/1.0.0/ip", ("/httpbin/1.0.0", "/ip")),
        ("/httpbin/1.0.0/ip?x=1", ("/httpbin/1.0.0", "/ip")),
        ("/httpbin/ip", ("/httpbin/1.0.0", "/ip")),
        ("/httpbin/1.0.0", ("/httpbin/1.0.0", "/")),
        ("/httpbin-other/ip", None),
        ("/", None),
    ],
)
def test_context_resolution_is_segment_wise_longest_prefix(path, expected):
    found = build(catalog_document()).resolve(path)
    assert (found[0].context, found[1]) == expected if expected else found is None


@pytest.mark.parametrize(
    ("pattern", "matches", "rejects"),
    [
        ("/ip", ["/ip", "/ip/"], ["/ipx", "/ip/x"]),
        ("/delay/{delay}", ["/delay/3"], ["/delay", "/delay/3/4"]),
        ("/pets/{id}/photos/*", ["/pets/1/photos", "/pets/1/photos/a/b"], ["/pets/1"]),
        ("/*", ["/", "/anything/at/all"], []),
    ],
)
def test_uri_templates(pattern, matches, rejects):
    regex, _ = compile_template(pattern)
    assert all(regex.fullmatch(p) for p in matches)
    assert not any(regex.fullmatch(p) for p in rejects)


def test_most_specific_resource_wins():
    doc = catalog_document()
    doc["apis"][0]["urlMappings"] = [
        {"httpMethod": "GET", "urlPattern": "/*", "scopes": ["any"]},
        {"httpMethod": "GET", "urlPattern": "/pets/{id}", "scopes": ["template"]},
        {"httpMethod": "GET", "urlPattern": "/pets/mine", "scopes": ["literal"]},
    ]
    api = build(doc).apis["api-httpbin"]
    assert api.match("GET", "/pets/mine").scopes == {"literal"}
    assert api.match("GET", "/pets/7").scopes == {"template"}
    assert api.match("GET", "/else").scopes == {"any"}
    assert api.match("POST", "/pets/7") is None


def broken(mutate) -> str:
    doc = copy.deepcopy(catalog_document())
    mutate(doc)
    with pytest.raises(CatalogError) as err:
        build(doc)
    return str(err.value)


def test_errors_name_the_item_and_field():
    assert broken(lambda d: d["apis"][0].pop("context")) == "apis[0] (HttpbinAPI).context: required"
    msg = broken(lambda d: d["apis"][0]["urlMappings"][1].update(httpMethod="FETCH"))
    assert msg == "apis[0] (HttpbinAPI).urlMappings[1].httpMethod: unknown method 'FETCH'"
    msg = broken(lambda d: d["subscriptions"][0].update(policyId="Platinum"))
    assert msg == "subscriptions[0].policyId: no subscription policy named 'Platinum'"
    msg = broken(lambda d: d["subscriptions"][0].update(subscriptionState="MAYBE"))
    assert msg == "subscriptions[0].subscriptionState: unknown state 'MAYBE'"
    msg = broken(lambda d: d["applications"][0].update(id="one"))
    assert msg == "applications[0] (subscribed).id: expected int"
    msg = broken(lambda d: d["subscriptionPolicies"][0]["defaultLimit"]["requestCount"].update(timeUnit="fortnight"))
    assert "subscriptionPolicies[0] (Gold).defaultLimit.requestCount.timeUnit: unknown unit" in msg
    assert broken(lambda d: d.update(apis={})) == "apis: must be a list"
    assert broken(lambda d: d["apis"].append(copy.deepcopy(d["apis"][0]))).endswith("duplicate 'api-httpbin'")


def test_ids_stand_in_for_uuids_as_in_older_apim_payloads():
    doc = catalog_document()
    for sub in doc["subscriptions"]:
        sub.pop("applicationUUID")
        sub["appId"] = next(a["id"] for a in doc["applications"] if a["uuid"] == f"app-{sub['subscriptionUUID'][4:]}")
    cat = build(doc)
    assert ("app-subscribed", "api-httpbin") in cat.subscriptions


def test_not_a_document():
    with pytest.raises(CatalogError, match="must be an object"):
        build(["apis"])


def test_lenient_build_leaves_out_bad_items_and_says_why():
    doc = catalog_document()
    doc["subscriptions"][0]["policyId"] = "Deleted"  # a policy removed in APIM while a subscription still names it
    doc["apis"].append({"uuid": "broken", "name": "Broken"})
    cat = build(doc, lenient=True)
    assert ("app-subscribed", "api-httpbin") not in cat.subscriptions
    assert ("app-blocked", "api-httpbin") in cat.subscriptions
    assert set(cat.apis) == {"api-httpbin"}
    assert cat.skipped == (
        "apis[1] (Broken).context: required",
        "subscriptions[0].policyId: no subscription policy named 'Deleted'",
    )
    with pytest.raises(CatalogError):
        build(doc)


@pytest.mark.parametrize(
    ("fields", "burst"),
    [
        ({"rateLimitCount": 10, "rateLimitTimeUnit": "sec"}, Limit(10, 1)),
        ({"rateLimitCount": 100, "rateLimitTimeUnit": "min"}, Limit(100, 60)),
        ({"rateLimitCount": 0, "rateLimitTimeUnit": None}, None),  # APIM's "no burst control"
        ({"rateLimitCount": 10, "rateLimitTimeUnit": "sec", "stopOnQuotaReach": False}, None),  # not enforced
    ],
)
def test_burst_control_of_a_subscription_policy_is_an_extra_limit(fields, burst):
    doc = catalog_document()
    doc["subscriptionPolicies"][0].update(fields)
    gold = build(doc).subscription_policies["Gold"]
    assert gold.burst == burst
    assert gold.limit == Limit(5000, 60)  # the quota itself is unchanged


def test_a_burst_unit_apim_does_not_know_is_an_error_naming_the_policy():
    doc = catalog_document()
    doc["subscriptionPolicies"][0].update(rateLimitCount=5, rateLimitTimeUnit="fortnight")
    with pytest.raises(CatalogError, match=r"subscriptionPolicies\[0\] \(Gold\).rateLimitTimeUnit: unknown unit"):
        build(doc)


def test_revoked_jwts_of_a_file_hold_until_the_file_changes():
    doc = catalog_document()
    doc["revokedJwts"] = ["jti-1"]
    assert "jti-1" in build(doc).revoked_jtis
    doc["revocations"] = {"jtis": {}}
    with pytest.raises(CatalogError, match="revocations: only the wso2 control plane sets it"):
        build(doc)


def event_tier(name: str) -> dict:
    """An event-count tier (APIM ships them for async APIs: AsyncGold, ...), as the data API serves it."""
    limit = {"quotaType": "eventCount", "eventCount": {"eventCount": 10, "timeUnit": "min", "unitTime": 1}}
    return {"name": name, "defaultLimit": limit}


@pytest.mark.parametrize(("amount", "unit", "count"), [(2, "MB", 2 << 20), (3, "kb", 3072), (500, "B", 500)])
def test_a_bandwidth_tier_counts_bytes_as_apims_traffic_manager_reads_its_unit(amount, unit, count):
    """`BandwidthLimit.getStandardDataAmount`: MB and KB in any case are powers of 1024, any other unit bytes."""
    doc = catalog_document()
    doc["subscriptionPolicies"].append(bandwidth_policy("Bandwidth", amount, unit))
    doc["subscriptions"][0]["policyId"] = "Bandwidth"
    cat = build(doc)
    assert cat.subscription_policies["Bandwidth"].limit == Limit(count, 60, data=True)
    assert cat.unenforced == ()


def test_a_tier_ext_authz_cannot_enforce_is_served_unlimited_and_said_so():
    """An event-count quota counts what an async API's messages carry, which an authorization check never sees: a
    subscription on such a tier is not limited, and the catalog says which tier (the store logs it and counts it
    in a metric)."""
    doc = catalog_document()
    doc["subscriptionPolicies"].append(event_tier("Events"))
    doc["subscriptions"][0]["policyId"] = "Events"
    cat = build(doc)
    assert cat.subscription_policies["Events"].limit is None
    assert cat.unenforced == (
        "subscriptionPolicies 'Events': its eventCount quota is not enforced; the tier does not limit requests",
    )
    assert build(catalog_document()).unenforced == ()


def test_a_tier_no_subscription_names_is_not_reported():
    """APIM ships event-count tiers for its async APIs (AsyncGold, …) beside the HTTP ones: unless a subscription
    is on one, nothing is enforced otherwise than APIM would, and nothing is said."""
    doc = catalog_document()
    doc["subscriptionPolicies"].append(event_tier("AsyncGold"))
    cat = build(doc)
    assert "AsyncGold" in cat.subscription_policies
    assert cat.unenforced == ()


def test_a_tier_a_lenient_build_leaves_out_is_not_also_reported_as_unenforced():
    doc = catalog_document()
    doc["subscriptionPolicies"].append(bandwidth_policy("Bandwidth") | {"rateLimitCount": 5, "rateLimitTimeUnit": "x"})
    doc["subscriptions"][0]["policyId"] = "Bandwidth"  # left out in turn: it names a policy that is not there
    cat = build(doc, lenient=True)
    assert "Bandwidth" not in cat.subscription_policies
    assert cat.unenforced == ()
    assert cat.skipped == (
        "subscriptionPolicies[2] (Bandwidth).rateLimitTimeUnit: unknown unit 'x'",
        "subscriptions[0].policyId: no subscription policy named 'Bandwidth'",
    )


def test_an_api_policys_condition_groups_are_read_and_a_group_counting_events_is_reported_not_enforced():
    """APIM's advanced API policies limit requests meeting a header, query parameter, JWT claim or IP otherwise than
    the rest (internal data API `ApiPolicy.conditionGroups`; conditions.py): a group counting requests or bytes is
    read, one counting events cannot be (ext_authz never sees them), and one without a limit is no group at all
    (the traffic manager deploys none for it)."""
    doc = catalog_document()
    events = condition_group(8, 0, {"conditionType": "IPSpecific", "name": "IPSpecific", "value": "10.0.0.1"})
    events["defaultLimit"] = event_tier("")["defaultLimit"]
    bandwidth = condition_group(6, 0, {"conditionType": "IPSpecific", "name": "IPSpecific", "value": "10.0.0.2"})
    bandwidth["defaultLimit"] = bandwidth_policy("")["defaultLimit"]
    doc["apiPolicies"] = [
        advanced_policy("Advanced", 100,
                        condition_group(7, 10, {"conditionType": "Header", "name": "X-Tier", "value": "^gold$",
                                                "isInverted": False}),
                        events,
                        bandwidth,
                        {"conditionGroupId": 9, "condition": []}),
    ]  # fmt: skip
    doc["apis"][0]["policy"] = "Advanced"
    cat = build(doc)
    policy = cat.api_policies["Advanced"]
    assert policy.limit == Limit(100, 60)
    assert [(g.id, g.limit) for g in policy.groups] == [(7, Limit(10, 60)), (8, None), (6, Limit(1 << 20, 60, True))]
    header = policy.groups[0].conditions[0]
    assert (header.kind, header.name, header.pattern.source) == ("Header", "x-tier", "^gold$")
    assert cat.unenforced == (
        "apiPolicies 'Advanced': the eventCount quota of its condition group 8 is not enforced; the requests "
        "meeting the group are not limited by the policy",
    )


def test_an_api_policy_without_groups_is_served_with_an_empty_one_which_counts_nothing():
    """The data API reads a policy's groups with a LEFT JOIN (carbon-apimgt 9.31.86 `SubscriptionValidationDAO`,
    `SubscriptionValidationDataUtil`): a policy without any, such as APIM's own 10KPerMin, comes with one group of
    id 0, its quota type and limit null (Jackson writes the nulls). It is no group: the policy's own limit counts
    every request, and nothing is reported."""
    doc = catalog_document()
    served = advanced_policy("10KPerMin", 10000)
    served["conditionGroups"] = [{"policyId": 2, "quotaType": None, "conditionGroupId": 0, "condition": [],
                                  "defaultLimit": None}]  # fmt: skip
    doc["apiPolicies"] = [served]
    doc["apis"][0]["policy"] = "10KPerMin"
    cat = build(doc)
    assert (cat.api_policies["10KPerMin"].limit, cat.api_policies["10KPerMin"].groups) == (Limit(10000, 60), ())
    assert cat.unenforced == ()


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ({"conditionType": "Date", "name": "d", "value": "x"}, "condition[0].conditionType: unknown type 'Date'"),
        ({"conditionType": "Header", "value": "x"}, "condition[0]: a Header condition needs a name and a value"),
        (
            {"conditionType": "QueryParameterType", "name": "q", "value": "("},
            "condition[0].value: Java refuses the regular expression (Unclosed group near index 1",
        ),
        (
            {"conditionType": "QueryParameterType", "name": "q", "value": "\\X"},
            "condition[0].value: the adapter cannot match the regular expression as Java does",
        ),
        ({"conditionType": "IPRange", "name": "10.0.0.1", "value": "::1"}, "needs IP addresses of one version"),
        ({"conditionType": "IPSpecific", "value": "10.0.0.1", "isInverted": "yes"}, "isInverted: expected bool"),
    ],
)
def test_a_condition_that_cannot_be_evaluated_rejects_its_policy_naming_the_field(condition, error):
    doc = catalog_document()
    doc["apiPolicies"] = [advanced_policy("Advanced", 100, condition_group(1, 1, condition))]
    with pytest.raises(CatalogError) as raised:
        build(doc)
    assert str(raised.value).startswith("apiPolicies[0] (Advanced).conditionGroups[0].condition[0]")
    assert error in str(raised.value)
    doc["apis"][0]["policy"] = "Advanced"
    lenient = build(doc, lenient=True)  # what APIM serves: the group is left out, not the policy nor the API
    assert lenient.api_policies["Advanced"].groups == ()
    assert "api-httpbin" in lenient.apis
    (note,) = lenient.unenforced
    assert note.startswith("apiPolicies 'Advanced': its condition group 1 is not enforced (apiPolicies[0] (Advanced)")
    assert error in note


def test_a_custom_policy_is_named_as_not_enforced_and_one_without_a_name_is_refused():
    """catalog._custom_policies: APIM's custom policies (the data API's `/global-policies`) run as Siddhi in its
    traffic manager; the catalog names each, and refuses an item it cannot name."""
    doc = catalog_document()
    doc["globalPolicies"] = [{"name": "FivePerUser", "keyTemplate": "$userId", "siddhiQuery": "FROM RequestStream"}]
    assert [n for n in build(doc).unenforced if "FivePerUser" in n] == [
        "globalPolicies 'FivePerUser' (key template '$userId'): a custom policy is not enforced, as the adapter runs "
        "no Siddhi query; requests it would throttle on APIM's gateway are let through"
    ]
    doc["globalPolicies"] = [{"keyTemplate": "$userId"}]
    with pytest.raises(CatalogError, match=r"globalPolicies\[0\]\.name: required"):
        build(doc)
    assert build(doc, lenient=True).skipped == ("globalPolicies[0].name: required",)
