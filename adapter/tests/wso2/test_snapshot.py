"""What each APIM event does to the control plane's snapshot: the pure planning and update, no servers."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from apim_adapter.controlplane import snapshot
from apim_adapter.controlplane.events import BadEvent, Event
from apim_adapter.controlplane.snapshot import Context, Plan, Snapshot
from apim_adapter.revocation import RevocationLimits
from apim_adapter.tokens import fingerprint

DOCS = Path(__file__).resolve().parents[3] / "docs" / "wso2-control-plane.md"
NOW = 1_800_000_000.0
LABELLED = Context("Default", False, NOW)
UNLABELLED = Context(None, False, NOW)

SUB = {"subscriptionUUID": "s1", "applicationUUID": "app-1", "apiUUID": "api-1", "subscriptionState": "UNBLOCKED"}
OTHER_SUB = {"subscriptionUUID": "s2", "applicationUUID": "app-2", "apiUUID": "api-1", "subscriptionState": "BLOCKED"}
KEY = {"applicationUUID": "app-1", "consumerKey": "ck-1", "keyManager": "IS7", "keyType": "PRODUCTION"}


def note(kind: str, **data) -> Event:
    return Event("notification", kind, data, NOW - 0.5)


def base() -> Snapshot:
    return Snapshot.from_lists(
        apis=[{"uuid": "api-1", "context": "/a/1"}],
        applications=[{"uuid": "app-1", "id": 1, "name": "one"}, {"uuid": "app-2", "id": 2, "name": "two"}],
        subscriptions=[SUB, OTHER_SUB],
        key_mappings=[KEY, {**KEY, "applicationUUID": "app-2", "consumerKey": "ck-2"}],
        policies={"subscriptionPolicies": [{"name": "Gold"}]},
        revoked_jwts={"revokedJWTList": [{"jwt_signature": "old", "expiry_time": int(NOW * 1000) + 60_000}]},
        key_managers=None,
        previous=None,
        now=NOW,
    )


def run(event: Event, answers: list[dict], ctx: Context = LABELLED) -> tuple[snapshot.Plan, Snapshot]:
    """Plan the event, answer every pull with `answers` (as a server that ignores filters would), apply."""
    plan = snapshot.plan(event, ctx)
    return plan, snapshot.apply(base(), plan, {pull: answers for pull in plan.pulls})


def test_a_subscription_is_re_pulled_with_both_uuids_and_only_the_named_one_is_kept():
    changed = {**SUB, "subscriptionState": "BLOCKED"}
    plan, after = run(note("SUBSCRIPTIONS_UPDATE", applicationUUID="app-1", apiUUID="api-1"), [OTHER_SUB, changed])
    [pull] = plan.pulls
    assert dict(pull.query) == {"apiUUID": "api-1", "applicationUUID": "app-1"}
    assert after.subscriptions[("app-1", "api-1")]["subscriptionState"] == "BLOCKED"
    assert after.subscriptions[("app-2", "api-1")] == OTHER_SUB  # the whole-list answer changed nothing else


def test_a_re_pull_without_the_named_subscription_removes_it():
    _, after = run(note("SUBSCRIPTIONS_DELETE", applicationUUID="app-1", apiUUID="api-1"), [OTHER_SUB])
    assert ("app-1", "api-1") not in after.subscriptions
    assert ("app-2", "api-1") in after.subscriptions


def test_a_key_mapping_is_kept_only_when_consumer_key_and_key_manager_are_the_events():
    wrong_km = {**KEY, "consumerKey": "ck-new", "keyManager": "Resident Key Manager"}
    plan, after = run(note("APPLICATION_REGISTRATION_CREATE", consumerKey="ck-new", keyManager="IS7"), [wrong_km])
    assert ("ck-new", "IS7") not in after.key_mappings
    assert dict(plan.pulls[0].query) == {"consumerKey": "ck-new", "keymanager": "IS7"}
    right = {**wrong_km, "keyManager": "IS7"}
    _, after = run(note("APPLICATION_REGISTRATION_CREATE", consumerKey="ck-new", keyManager="IS7"), [right])
    assert after.key_mappings[("ck-new", "IS7")] == right


def test_a_key_approved_through_a_workflow_names_its_key_manager_by_uuid_and_is_found_by_consumer_key():
    """WorkflowUtils.sendNotificationAfterWFComplete sends the key manager's UUID, which /application-key-mappings
    cannot filter by: the organization's mappings are pulled and the consumer key's kept, under its key manager's
    name as the list gives it."""
    approved = {**KEY, "consumerKey": "ck-approved", "keyManager": "IS7"}
    other = {**KEY, "consumerKey": "ck-other", "keyManager": "IS7"}
    event = note("APPLICATION_REGISTRATION_CREATE", consumerKey="ck-approved",
                 keyManager="4f4bd2a5-6e9c-4a0b-9a55-3d0c8e2b7f10")  # fmt: skip
    plan, after = run(event, [other, approved])
    assert (plan.pulls[0].endpoint, plan.pulls[0].query) == ("application-key-mappings", ())
    assert after.key_mappings[("ck-approved", "IS7")] == approved
    assert ("ck-other", "IS7") not in after.key_mappings


def test_a_deleted_application_takes_its_subscriptions_and_key_mappings_without_a_pull():
    plan, after = run(note("APPLICATION_DELETE", uuid="app-1", applicationId=1), [])
    assert plan.pulls == ()
    assert "app-1" not in after.applications
    assert ("app-1", "api-1") not in after.subscriptions
    assert ("ck-1", "IS7") not in after.key_mappings
    assert ("app-2", "api-1") in after.subscriptions
    assert ("ck-2", "IS7") in after.key_mappings


def test_api_events_pull_one_api_with_a_gateway_label_and_the_whole_list_without():
    event = note("DEPLOY_API_IN_GATEWAY", uuid="api-1", gatewayLabels=["Default"])
    [pull] = snapshot.plan(event, LABELLED).pulls
    assert dict(pull.query) == {"apiId": "api-1", "gatewayLabel": "Default"}
    [pull] = snapshot.plan(event, UNLABELLED).pulls
    assert dict(pull.query) == {}  # APIM ignores apiId without gatewayLabel: the answer is every API
    _, after = run(event, [{"uuid": "api-2"}, {"uuid": "api-1", "context": "/a/2"}], UNLABELLED)
    assert after.apis == {"api-1": {"uuid": "api-1", "context": "/a/2"}}


def test_a_deployment_to_another_gateway_environment_is_ignored():
    plan = snapshot.plan(note("DEPLOY_API_IN_GATEWAY", uuid="api-1", gatewayLabels=["Sandbox"]), LABELLED)
    assert (plan.pulls, plan.ignored) == ((), "other gateway environment")


def test_a_gateway_policy_mapping_event_re_pulls_the_labels_mappings_only_when_it_names_the_label():
    """GatewayPolicyEvent (DEPLOY_POLICY_MAPPING_IN_GATEWAY, REMOVE_POLICY_MAPPING_FROM_GATEWAY): the label's
    mappings replace the snapshot's when the event names the label; without a label none are followed."""
    mapping = {"gatewayPolicyMappingUuid": "m-1"}
    ours = snapshot.plan(note("REMOVE_POLICY_MAPPING_FROM_GATEWAY", **mapping, gatewayLabels=["Default"]), LABELLED)
    pulled = [{"tenantDomain": "carbon.super", "gatewayPolicySequenceToBeAdded": [{"name": "WSO2AMGW--Ext--In"}]}]
    assert (ours.gateway_policies, ours.ignored) == (True, None)
    assert snapshot.apply(base(), ours, {}, gateway_policies=pulled).gateway_policies == tuple(pulled)
    other = snapshot.plan(note("DEPLOY_POLICY_MAPPING_IN_GATEWAY", **mapping, gatewayLabels=["Edge"]), LABELLED)
    unlabelled = snapshot.plan(note("DEPLOY_POLICY_MAPPING_IN_GATEWAY", **mapping, gatewayLabels=["Default"]),
                               UNLABELLED)  # fmt: skip
    assert [(p.gateway_policies, p.ignored) for p in (other, unlabelled)] == [
        (False, "other gateway environment"),
        (False, "gateway policies are followed with a gateway label"),
    ]
    with pytest.raises(BadEvent):
        snapshot.plan(note("DEPLOY_POLICY_MAPPING_IN_GATEWAY", **mapping, gatewayLabels="Default"), LABELLED)


def test_an_api_log_level_event_re_pulls_the_levels_and_the_document_carries_them():
    """APIEvent UDATE_API_LOG_LEVEL (APILoggingImpl.publishLogAPIData): the levels re-pulled replace the snapshot's,
    whatever the event names (an OFF level leaves the list APIM answers), and reach the catalog as `apiLogging`."""
    event = note("UDATE_API_LOG_LEVEL", uuid="api-1", logLevel="FULL", apiContext="/a/1", tenantId=0, timeStamp=0)
    plan = snapshot.plan(event, UNLABELLED)
    assert (plan.api_logging, plan.pulls, plan.ignored) == (True, (), None)
    levels = [{"context": "/a/1", "logLevel": "FULL"}]
    after = snapshot.apply(base(), plan, {}, api_logging=levels)
    assert after.api_logging == tuple(levels)
    assert after.document(NOW)["apiLogging"] == levels
    assert snapshot.apply(after, plan, {}, api_logging=[]).document(NOW)["apiLogging"] == []


def test_an_application_users_quota_reset_names_the_counter_apims_traffic_manager_restarts():
    """ApplicationPolicyResetEvent: `appId` the application's numeric id as a string, `userId` tenant-aware; the key
    is `appId:userId@tenantDomain` (ThrottlePolicyJMSMessageListener). Nothing is pulled."""
    reset = {"uuid": "r-1", "appId": "12", "userId": "alice", "appTier": "50PerMin", "policyType": "APPLICATION",
             "tenantDomain": "carbon.super"}  # fmt: skip
    plan = snapshot.plan(note("POLICY_RESET", **reset), LABELLED)
    assert (plan.pulls, plan.quota_reset, plan.ignored) == ((), (12, "alice@carbon.super", "r-1"), None)
    other = snapshot.plan(note("POLICY_RESET", **{**reset, "tenantDomain": "wso2.com"}), LABELLED)
    assert (other.quota_reset, other.ignored) == (None, "another tenant's application")
    for bad in ({"appId": "12a"}, {"appId": "١٢"}, {"userId": ""}, {"uuid": None}):
        with pytest.raises(BadEvent):
            snapshot.plan(note("POLICY_RESET", **{**reset, **bad}), LABELLED)


def test_a_policy_event_pulls_one_policy_of_its_type_and_a_reset_pulls_nothing():
    plan = snapshot.plan(note("POLICY_UPDATE", policyName="Gold", policyType="SUBSCRIPTION"), LABELLED)
    assert [(p.endpoint, dict(p.query)) for p in plan.pulls] == [("subscription-policies", {"policyName": "Gold"})]
    reset = snapshot.plan(note("POLICY_RESET", policyType="SUBSCRIPTION", isResourceLevel=False), LABELLED)
    assert (reset.pulls, reset.quota_reset, reset.ignored) == ((), None, "policy type not reset")
    # A custom policy is pulled too, to be named as not enforced (catalog._custom_policies).
    [custom] = snapshot.plan(note("POLICY_CREATE", policyName="x", policyType="GLOBAL"), LABELLED).pulls
    assert (custom.table, custom.endpoint, dict(custom.query)) == ("globalPolicies", "global-policies",
                                                                    {"policyName": "x"})  # fmt: skip


def test_scope_events_re_pull_the_named_scope_only_when_basic_authentication_follows_scopes():
    read = {"name": "read", "displayName": "Read", "description": "", "roles": ["reader"]}
    write = {"name": "write", "displayName": "Write", "description": "", "roles": []}
    for kind in ("SCOPE_CREATE", "SCOPE_UPDATE", "SCOPE_DELETE"):  # off: OAuth2 scopes need no roles
        assert snapshot.plan(note(kind, name="read"), LABELLED).ignored == "scopes travel with the API"
    following = Context("Default", False, NOW, follow_scopes=True)
    start = replace(base(), scopes={"read": read, "write": write})
    # The event's own roles are not used: the data API is the truth.
    plan = snapshot.plan(note("SCOPE_UPDATE", name="read", roles=["stale"], mappings={}), following)
    [pull] = plan.pulls
    assert (pull.endpoint, dict(pull.query)) == ("scopes", {"scopeKey": "read"})
    updated = snapshot.apply(start, plan, {pull: [write, {**read, "roles": ["reader", "admin"]}]})
    assert updated.scopes == {"read": {**read, "roles": ["reader", "admin"]}, "write": write}
    [delete] = snapshot.plan(note("SCOPE_DELETE", name="read"), following).pulls
    assert snapshot.apply(updated, Plan(pulls=(delete,)), {delete: []}).scopes == {"write": write}
    with pytest.raises(BadEvent):
        snapshot.plan(note("SCOPE_CREATE", displayName="no key"), following)


def test_an_api_updates_scopes_event_re_pulls_each_scope_it_added():
    added = {"scopes": [{"name": "read", "roles": ["reader"]}, {"name": "write", "roles": []}]}
    assert snapshot.plan(note("SCOPES_UPDATE", **added), LABELLED).ignored == "scopes travel with the API"
    plan = snapshot.plan(note("SCOPES_UPDATE", **added), Context("Default", False, NOW, follow_scopes=True))
    assert [dict(p.query) for p in plan.pulls] == [{"scopeKey": "read"}, {"scopeKey": "write"}]


def test_the_document_names_each_scope_with_its_roles_only_when_scopes_were_pulled():
    assert "scopes" not in base().document(NOW)
    read = {"name": "read", "displayName": "Read", "description": "d", "roles": ["reader", " admin"]}
    pulled = Snapshot.from_lists(
        [], [], [], [], {}, {}, None, None, NOW, scopes=[read, {"name": "open", "displayName": "Open", "roles": []}]
    )
    assert pulled.document(NOW)["scopes"] == [
        {"name": "read", "roles": ["reader", " admin"]},
        {"name": "open", "roles": []},
    ]


def revocation_event(**data) -> Event:
    return Event("tokenRevocation", "tokenRevocation", data)


def test_a_token_revocation_denies_the_jti_until_the_token_expires():
    until_ms = int(NOW * 1000) + 120_000
    plan, after = run(revocation_event(revokedToken="jti-x", expiryTime=until_ms, type="JWT"), [])
    assert plan.revoked_token is None  # a jti: nothing to evict from the introspection cache
    assert after.revocations.jtis["jti-x"] == until_ms / 1000
    assert "jti-x" in after.document(NOW)["revocations"].jtis
    assert "jti-x" not in after.document(until_ms / 1000 + 1)["revocations"].jtis
    assert "jti-x" not in base().revocations.jtis  # the snapshot it was applied to is unchanged


def test_an_opaque_token_is_revoked_by_its_hash_and_named_for_eviction():
    plan, after = run(revocation_event(revokedToken="raw-opaque", expiryTime=int(NOW * 1000) + 60_000,
                                       type="Default"), [])  # fmt: skip
    assert plan.revoked_token == fingerprint("raw-opaque")
    assert set(after.revocations.token_hashes) == {fingerprint("raw-opaque")}
    assert "raw-opaque" not in repr(after.document(NOW))


def test_consumer_key_and_subject_revocations_apply_from_their_base64_events():
    at_ms = int(NOW * 1000) - 1000
    for kind, fields, table in (
        ("consumer_app_revocation_event", {"consumer_key": "ck-1"}, "consumer_keys"),
        ("subject_entity_revocation_event", {"entityId": "user-1", "entityType": "USER_ID"}, "subjects"),
        ("subject_entity_revocation_event", {"entityId": "client-1", "entityType": "CLIENT_ID"}, "subject_apps"),
    ):
        encoded = base64.b64encode(json.dumps({**fields, "revocationTime": str(at_ms)}).encode()).decode()
        plan, after = run(revocation_event(revokedToken=encoded, expiryTime=0, type=kind), [])
        assert (plan.pulls, plan.revoked_token) == ((), None)
        assert getattr(after.revocations, table) == {next(iter(fields.values())): at_ms / 1000}
    with pytest.raises(BadEvent):
        snapshot.plan(revocation_event(revokedToken="%%", type="consumer_app_revocation_event"), LABELLED)


def test_throttle_data_adds_and_removes_blocking_conditions_and_ignores_throttle_decisions():
    def blocking(state: str) -> Event:
        fields = {"id": 4, "blockingCondition": "APPLICATION", "state": state, "conditionValue": "admin:one"}
        return Event("throttleData", "throttleData", {**fields, "tenantDomain": "carbon.super"})

    _, added = run(blocking("true"), [])
    assert added.block_conditions == {"application": ["admin:one"]}
    assert base().block_conditions == {}
    removed = snapshot.apply(added, snapshot.plan(blocking("false"), LABELLED), {})
    assert removed.block_conditions == {"application": []}
    decision = Event("throttleData", "throttleData", {"throttleKey": "k", "isThrottled": "true"})
    assert snapshot.plan(decision, LABELLED).ignored == "not a blocking condition"
    bad = Event("throttleData", "throttleData", {"id": 5, "blockingCondition": "IP", "state": "true",
                                                 "conditionValue": "not json"})  # fmt: skip
    with pytest.raises(BadEvent):
        snapshot.plan(bad, LABELLED)


def test_another_tenants_ip_condition_is_ignored():
    """APIM's gateway files IP conditions by tenant and checks a call against its API's tenant's alone
    (ThrottleDataHolder.isIpLevelBlocked): the adapter serves `controlPlane.tenant`'s APIs."""

    def ip_condition(tenant: str) -> Event:
        return Event("throttleData", "throttleData", {"id": 6, "blockingCondition": "IP", "state": "true",
                     "conditionValue": json.dumps({"fixedIp": "203.0.113.9"}), "tenantDomain": tenant})  # fmt: skip

    assert snapshot.plan(ip_condition("other.com"), LABELLED).ignored == "another tenant's IP condition"
    _, ours = run(ip_condition("carbon.super"), [])
    assert [c["fixedIp"] for c in ours.block_conditions["ip"]] == ["203.0.113.9"]
    tenanted = Context("Default", False, NOW, tenant="other.com")
    assert not snapshot.plan(ip_condition("other.com"), tenanted).ignored


def test_users_changed_in_apims_user_store_are_named_to_the_basic_authenticator():
    def invalidation(kind: str, value: str) -> Event:  # APIAuthenticationAdminClient.invalidateCachedUsernames
        return Event("cacheInvalidation", "cacheInvalidation", {"type": kind, "value": value})

    with_users = Context("Default", False, NOW, follow_scopes=True)
    plan, after = run(
        invalidation("gatewayUsernameCache", '["alice@carbon.super", "bob@carbon.super"]'), [], with_users
    )
    assert (plan.users_changed, plan.ignored, after) == (("alice@carbon.super", "bob@carbon.super"), None, base())
    assert snapshot.plan(invalidation("gatewayUsernameCache", '["alice"]'), LABELLED).ignored == (
        "basic authentication is off"
    )
    assert snapshot.plan(invalidation("resourceCache", "{}"), with_users).ignored
    for bad in ("not json", '{"alice": 1}', "[1]"):
        with pytest.raises(BadEvent):
            snapshot.plan(invalidation("gatewayUsernameCache", bad), with_users)


def test_events_the_adapter_does_not_use_change_nothing():
    for event in (note("API_CREATE", uuid="api-9"), note("SOME_FUTURE_EVENT", x=1),
                  Event("cacheInvalidation", "cacheInvalidation", {"x": 1})):  # fmt: skip
        plan, after = run(event, [])
        assert plan.ignored
        assert plan.pulls == ()
        assert after == base()


@pytest.mark.parametrize(
    "event",
    [note("SUBSCRIPTIONS_CREATE", apiUUID="api-1"), note("APPLICATION_UPDATE", applicationId=1),
     note("REMOVE_APPLICATION_KEYMAPPING", consumerKey="ck"), note("API_UPDATE", uuid=7),
     Event("tokenRevocation", "tokenRevocation", {"expiryTime": 1})],
)  # fmt: skip
def test_an_event_that_does_not_name_what_changed_is_a_bad_event(event):
    with pytest.raises(BadEvent):
        snapshot.plan(event, LABELLED)


def test_the_documented_list_of_event_types_is_the_dispatch_table():
    """docs/wso2-control-plane.md lists every type the adapter applies or deliberately ignores, and no other."""
    text = DOCS.read_text()
    section = text[text.index("### Event types") :]
    section = section[: section.index("\n## ")]
    documented = set(re.findall(r"`([A-Z][A-Z_]+)`", section))
    assert documented == set(snapshot.NOTIFICATIONS)


def test_the_configured_revocation_limits_bound_what_is_kept():
    """`controlPlane.revocationMaxTokenLifetimeSeconds` and `revocationMaxEntries` reach both the events and the
    full pull: a revocation without an expiry lasts the configured lifetime, and the cap keeps the latest ends."""
    limits = RevocationLimits(max_token_lifetime=600, max_entries=2)
    _, after = run(revocation_event(revokedToken="jti-y", type="JWT"), [], Context("Default", False, NOW, limits))
    assert after.revocations.jtis["jti-y"] == NOW + 600
    rows = [{"jwt_signature": f"j{n}", "expiry_time": int(NOW * 1000) + n * 60_000} for n in (1, 2, 3)]
    pulled = Snapshot.from_lists(
        apis=[], applications=[], subscriptions=[], key_mappings=[], policies={},
        revoked_jwts={"revokedJWTList": rows}, key_managers=None, previous=None, now=NOW, revocation_limits=limits,
    )  # fmt: skip
    assert set(pulled.document(NOW)["revocations"].jtis) == {"j2", "j3"}
