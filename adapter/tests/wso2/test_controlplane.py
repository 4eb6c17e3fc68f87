"""The wso2 control plane against the APIM double: full pull, events re-pulling one entity, outages."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import json
import time
from types import SimpleNamespace

import jsonschema
import pytest
from prometheus_client import REGISTRY

from apim_adapter import catalog, config
from apim_adapter.controlplane.data_api import ControlPlaneError
from apim_adapter.controlplane.events import BadEvent, Event
from apim_adapter.controlplane.wso2 import Wso2ControlPlane, supervise
from apim_adapter.tokens import fingerprint
from harness.apim_double import Served, sample_data
from harness.helpers import until
from harness.publisher import pull
from harness.sample_catalog import KM, api_product


def make_config(apim, credentials, test_ca, tmp_path, **control_plane) -> config.Config:
    user, password = credentials
    raw = {
        "controlPlane": {"type": "wso2", "url": apim.url, "caBundle": str(test_ca.ca),
                         "usernameFile": str(user), "passwordFile": str(password), **control_plane},
    }  # fmt: skip
    return config.parse(raw, tmp_path)


def control_plane(cfg: config.Config) -> Wso2ControlPlane:
    return Wso2ControlPlane(cfg.control_plane, cfg, min_backoff=0.05, max_backoff=0.2)


def test_full_pull_builds_the_same_catalog_as_the_file_source(apim_factory, credentials, test_ca, tmp_path):
    apim = apim_factory()
    apim.data["apis"][0]["_gatewayLabels"] = ["Default", "Production"]  # without gatewayLabel: a row for each
    now_ms = int(time.time() * 1000)
    apim.data["revokedJWTList"] += [{"jwt_signature": "revoked-jti", "expiry_time": now_ms + 600_000},
                                    {"jwt_signature": "expired-jti", "expiry_time": now_ms - 5000}]  # fmt: skip
    apim.data["revokedJWTConsumerKeyList"].append({"consumer_key": "client-reload", "revocation_time": now_ms})
    apim.data["revokedJWTSubjectEntityList"].append({"entity_id": "user-1", "entity_type": "USER_ID",
                                                      "revocation_time": now_ms})  # fmt: skip
    apim.data["blockConditions"] += [  # rows of AM_BLOCK_CONDITIONS
        {"id": 1, "type": "API", "value": "/httpbin/1.0.0", "enabled": True},
        {"id": 2, "type": "USER", "value": "disabled-user", "enabled": False},
        {"id": 3, "type": "IPRANGE", "value": '{"startingIp": "10.0.0.1", "endingIp": "10.0.0.9", "invert": true}',
         "enabled": True},
        {"id": 4, "type": "IP", "value": '{"fixedIp": "10.0.0.5", "invert": false}', "enabled": True,
         "domain": "other.com"},  # another tenant's: /block answers it, this tenant's gateway checks none of it
    ]  # fmt: skip
    cfg = make_config(apim, credentials, test_ca, tmp_path, keyManagersFromControlPlane=True)

    async def scenario():
        cp = control_plane(cfg)
        try:
            snap = await cp.pull()
        finally:
            await cp.api.close()
        return snap.document(time.time())

    doc = asyncio.run(scenario())
    expected = catalog.build(sample_data())
    built = catalog.build(doc)
    assert built.counts == expected.counts
    assert built.subscriptions == expected.subscriptions
    assert built.key_mappings == expected.key_mappings
    assert built.subscription_policies == expected.subscription_policies
    assert set(built.revoked_jtis) == {"revoked-jti"}
    assert built.revocations.consumer_keys == {"client-reload": now_ms / 1000}
    assert built.revocations.subjects == {"user-1": now_ms / 1000}
    assert built.deny_policies.apis == {"/httpbin/1.0.0"}
    assert not built.deny_policies.users  # a disabled condition is not served
    [ip_range] = built.deny_policies.ips
    assert (str(ip_range.start), str(ip_range.end), ip_range.invert) == ("10.0.0.1", "10.0.0.9", True)
    [km] = doc["keyManagers"]
    assert (km.name, km.issuer, km.jwks_uri, km.consumer_key_claim) == (
        KM, "https://is.example.com/oauth2/token", "https://is.example.com/jwks", "azp")  # fmt: skip
    assert km.ca_bundle == str(test_ca.ca)
    [apis] = [served for served in apim.responses if served.endpoint == "apis"]
    assert apis.body["count"] == 2  # one API, two environments
    assert apis.gzipped  # over 1 KiB, as CXF answers
    assert not any("pagination" in served.body for served in apim.responses if isinstance(served.body, dict))


def test_key_managers_named_in_the_config_win_over_apim(apim_factory, credentials, test_ca, tmp_path):
    apim = apim_factory()
    cfg = make_config(apim, credentials, test_ca, tmp_path, keyManagersFromControlPlane=True)
    mine = config.KeyManager(KM, "https://mine/oauth2/token", "https://mine/jwks")
    cfg = dataclasses.replace(cfg, key_managers=(mine,))
    assert pull(cfg).key_managers == ()


def test_key_managers_whose_tokens_apim_only_exchanges_are_not_trusted(apim_factory, credentials, test_ca, tmp_path):
    """KeyManagerHolder.addKeyManagerConfiguration builds no JWT validator for a key manager whose tokenType is
    EXCHANGED; DIRECT and BOTH ones validate tokens as they are."""
    apim = apim_factory()
    [direct] = apim.data["keyManagers"]
    for name, token_type in (("Exchanged-IdP", "EXCHANGED"), ("Both-IdP", "BOTH")):
        other = copy.deepcopy(direct)
        other.update(uuid=f"km-{name}", name=name, tokenType=token_type)
        other["additionalProperties"]["issuer"] = f"https://{name.lower()}.example.com/oauth2/token"
        apim.data["keyManagers"].append(other)
    cfg = make_config(apim, credentials, test_ca, tmp_path, keyManagersFromControlPlane=True)
    assert [km.name for km in pull(cfg).key_managers] == [KM, "Both-IdP"]


@pytest.mark.parametrize("what", ["password", "tenant", "ca"])
def test_wrong_credentials_tenant_or_ca_fail_the_pull(apim_factory, credentials, test_ca, tmp_path, what):
    apim = apim_factory()
    extra = {}
    if what == "password":
        credentials[1].write_text("wrong\n")
    elif what == "tenant":
        extra["tenant"] = "other.com"
    cfg = make_config(apim, credentials, test_ca, tmp_path, **extra)
    if what == "ca":
        cfg = config.parse(
            {"controlPlane": {"type": "wso2", "url": apim.url, "usernameFile": str(credentials[0]),
                              "passwordFile": str(credentials[1])}}, tmp_path)  # fmt: skip

    async def scenario():
        cp = control_plane(cfg)
        try:
            await cp.pull()
        finally:
            await cp.api.close()

    with pytest.raises(ControlPlaneError):
        asyncio.run(scenario())


def event(kind: str, **data) -> Event:
    topic = kind if kind in ("tokenRevocation", "throttleData") else "notification"
    return Event(topic, kind, data, time.time())


def test_events_replace_exactly_the_entity_they_name(apim_factory, credentials, test_ca, tmp_path):
    apim = apim_factory()
    cfg = make_config(apim, credentials, test_ca, tmp_path)

    async def scenario():
        cp = control_plane(cfg)
        try:
            cp.snapshot = await cp.pull()
            subs = apim.data["subscriptions"]
            late = {"subscriptionUUID": "sub-late", "subscriptionId": 99, "apiUUID": "api-httpbin", "apiId": 1,
                    "applicationUUID": "app-unsubscribed", "appId": 2, "policyId": "Gold",
                    "subscriptionState": "UNBLOCKED"}  # fmt: skip
            subs.append(late)
            await cp.apply(event("SUBSCRIPTIONS_CREATE", applicationUUID="app-unsubscribed", apiUUID="api-httpbin"))
            built = catalog.build(cp.snapshot.document(time.time()))
            assert built.subscriptions[("app-unsubscribed", "api-httpbin")].state == "UNBLOCKED"

            late["subscriptionState"] = "BLOCKED"
            await cp.apply(event("SUBSCRIPTIONS_UPDATE", applicationUUID="app-unsubscribed", apiUUID="api-httpbin"))
            built = catalog.build(cp.snapshot.document(time.time()))
            assert built.subscriptions[("app-unsubscribed", "api-httpbin")].state == "BLOCKED"

            # An event naming one UUID: APIM would answer every subscription; none of them may stand in for it, so
            # the event is refused (the loop skips it as poison) and the snapshot is left as it was.
            before = cp.snapshot
            with pytest.raises(BadEvent):
                await cp.apply(event("SUBSCRIPTIONS_UPDATE", applicationUUID="app-unsubscribed"))
            assert cp.snapshot is before
            first = subs.pop(0)
            await cp.apply(event("SUBSCRIPTIONS_DELETE", applicationUUID=first["applicationUUID"],
                                 apiUUID=first["apiUUID"]))  # fmt: skip
            built = catalog.build(cp.snapshot.document(time.time()))
            assert (first["applicationUUID"], first["apiUUID"]) not in built.subscriptions

            subs.remove(late)
            await cp.apply(event("SUBSCRIPTIONS_DELETE", applicationUUID="app-unsubscribed", apiUUID="api-httpbin"))
            built = catalog.build(cp.snapshot.document(time.time()))
            assert ("app-unsubscribed", "api-httpbin") not in built.subscriptions

            apim.data["applicationKeyMappings"].append(
                {"applicationId": 1, "applicationUUID": "app-subscribed", "consumerKey": "new-key",
                 "keyType": "SANDBOX", "keyManager": KM})  # fmt: skip
            await cp.apply(event("APPLICATION_REGISTRATION_CREATE", consumerKey="new-key", keyManager=KM))
            built = catalog.build(cp.snapshot.document(time.time()))
            assert built.key_mappings[("new-key", KM)].key_type == "SANDBOX"

            apim.data["applications"][0]["name"] = "renamed"
            await cp.apply(event("APPLICATION_UPDATE", uuid="app-subscribed", applicationId=1))
            assert catalog.build(cp.snapshot.document(time.time())).applications["app-subscribed"].name == "renamed"

            await cp.apply(event("APPLICATION_DELETE", uuid="app-blocked", applicationId=3))
            built = catalog.build(cp.snapshot.document(time.time()))
            assert "app-blocked" not in built.applications
            assert ("app-blocked", "api-httpbin") not in built.subscriptions
            assert ("client-blocked", KM) not in built.key_mappings

            apim.data["subscriptionPolicies"][0]["defaultLimit"]["requestCount"]["requestCount"] = 7
            await cp.apply(event("POLICY_UPDATE", policyName="Gold", policyType="SUBSCRIPTION"))
            assert catalog.build(cp.snapshot.document(time.time())).subscription_policies["Gold"].limit.count == 7

            apim.data["apis"][0]["_gatewayLabels"] = ["Other"]
            cp.cp = dataclasses.replace(cp.cp, gateway_label="Default")
            await cp.apply(event("REMOVE_API_FROM_GATEWAY", uuid="api-httpbin", apiId=1, gatewayLabels=["Default"]))
            assert catalog.build(cp.snapshot.document(time.time())).apis == {}

            expiry_ms = int(time.time() + 60) * 1000
            await cp.apply(event("tokenRevocation", revokedToken="jti-x", expiryTime=expiry_ms, type="JWT"))
            await cp.apply(event("tokenRevocation", revokedToken="jti-old", expiryTime=expiry_ms - 120_000, type="JWT"))
            assert set(catalog.build(cp.snapshot.document(time.time())).revoked_jtis) == {"jti-x"}
        finally:
            await cp.api.close()

    asyncio.run(scenario())


def test_an_api_product_deployed_in_apim_arrives_with_its_event_and_leaves_with_its_removal(
    apim_factory, credentials, test_ca, tmp_path
):
    # APIGatewayManager.sendDeploymentEvent(APIProduct, ...): DEPLOY_API_IN_GATEWAY with the product's uuid, its
    # gateway labels, apiType APIProduct and "prod" as provider; the product is then one more row of /apis
    # (sample_catalog.api_product).
    apim = apim_factory()
    cfg = make_config(apim, credentials, test_ca, tmp_path, gatewayLabel="Default")
    bundled = [r for r in apim.data["apis"][0]["urlMappings"] if r["urlPattern"] == "/ip"]

    async def scenario():
        cp = control_plane(cfg)
        try:
            cp.snapshot = await cp.pull()
            apim.data["apis"].append(api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", bundled))
            deployed = {"uuid": "product-bundle", "apiId": 2, "apiType": "APIProduct", "gatewayLabels": ["Default"],
                        "name": "Bundle", "version": "1.0.0", "provider": "prod",
                        "context": "/bundle/1.0.0"}  # fmt: skip
            await cp.apply(event("DEPLOY_API_IN_GATEWAY", **deployed))
            built = catalog.build(cp.snapshot.document(time.time()))
            product = built.apis["product-bundle"]
            assert (product.api_type, product.context, [r.pattern for r in product.resources]) == (
                "APIProduct", "/bundle/1.0.0", ["/ip"])  # fmt: skip
            assert "api-httpbin" in built.apis  # the API it bundles stays as it was

            apim.data["apis"].pop()
            await cp.apply(event("REMOVE_API_FROM_GATEWAY", **deployed))
            assert set(catalog.build(cp.snapshot.document(time.time())).apis) == {"api-httpbin"}
        finally:
            await cp.api.close()

    asyncio.run(scenario())


def test_revocation_and_blocking_events_reach_the_catalog_and_opaque_tokens_are_evicted_by_hash(
    apim_factory, credentials, test_ca, tmp_path
):
    apim = apim_factory()
    cfg = make_config(apim, credentials, test_ca, tmp_path)
    evicted: list[str] = []

    def entity(**fields) -> str:  # TokenRevocationNotifierImpl.sendMessageOnRealtime: these fields alone
        return base64.b64encode(json.dumps(fields).encode()).decode()

    async def scenario():
        cp = control_plane(cfg)
        cp.on_token_revoked = evicted.append
        try:
            cp.snapshot = await cp.pull()
            expiry_ms, now_ms = int(time.time() + 60) * 1000, int(time.time() * 1000)
            await cp.apply(event("tokenRevocation", revokedToken="raw-opaque", expiryTime=expiry_ms, type="Default"))
            await cp.apply(event("tokenRevocation", type="consumer_app_revocation_event", expiryTime=0,
                                 revokedToken=entity(consumer_key="client-reload",
                                                     revocationTime=str(now_ms))))  # fmt: skip
            await cp.apply(event("tokenRevocation", type="subject_entity_revocation_event", expiryTime=0,
                                 revokedToken=entity(entityId="user-1", entityType="USER_ID",
                                                     revocationTime=str(now_ms))))  # fmt: skip
            with pytest.raises(BadEvent):  # skipped as poison by the loop, like any event naming nothing usable
                await cp.apply(event("tokenRevocation", type="consumer_app_revocation_event", revokedToken="%%"))
            await cp.apply(event("throttleData", id=4, blockingCondition="APPLICATION", state="true",
                                 conditionValue="admin:subscribed", tenantDomain="carbon.super"))  # fmt: skip
            await cp.apply(event("throttleData", throttleKey="k", isThrottled="true", expiryTimeStamp=1))
            doc = cp.snapshot.document(time.time())
            built = catalog.build(doc)
            assert built.revocations.token_hashes.keys() == {fingerprint("raw-opaque")}
            assert evicted == [fingerprint("raw-opaque")]  # the adapter drops it from its introspection cache
            assert "raw-opaque" not in repr(doc)
            assert built.revocations.consumer_keys == {"client-reload": now_ms / 1000}
            assert built.revocations.subjects == {"user-1": now_ms / 1000}
            assert built.deny_policies.applications == {"admin:subscribed"}
            await cp.apply(event("throttleData", id=4, blockingCondition="APPLICATION", state="false",
                                 conditionValue="admin:subscribed", tenantDomain="carbon.super"))  # fmt: skip
            assert not catalog.build(cp.snapshot.document(time.time())).deny_policies
        finally:
            await cp.api.close()

    asyncio.run(scenario())


def test_readiness_waits_for_the_first_pull_and_an_outage_keeps_the_last_catalog(
    apim_factory, credentials, test_ca, tmp_path
):
    apim = apim_factory()
    apim.up = False
    cfg = make_config(apim, credentials, test_ca, tmp_path, resyncSeconds=1)
    published: list[dict] = []

    async def scenario():
        cp = control_plane(cfg)
        task = asyncio.ensure_future(cp.run(lambda doc: published.append(doc) or True))
        try:
            await asyncio.sleep(0.5)
            assert published == []  # not ready: nothing to serve yet
            apim.up = True
            await until(lambda: len(published) == 1)
            apim.up = False
            failed = len(apim.responses)
            await until(lambda: len(apim.responses) > failed + 1, within=10)
            assert len(published) == 1  # the outage published nothing: the last good catalog keeps serving
            apim.data["subscriptions"].clear()
            apim.up = True
            await until(lambda: len(published) == 2, within=10)  # the next resync repairs the drift
            assert published[-1]["subscriptions"] == []
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "served",
    [
        Served("subscription-policies", 200, {"list": [{"name": "Gold", "rateLimitCount": "ten"}]}),
        Served("block", 200, {"ip": [{"fixedIp": "10.0.0.1", "invert": "yes"}]}),
        Served("apis", 200, {"count": "one", "list": []}),
        Served("keymanagers", 200, {"list": []}),
        Served("apis", 503, {"code": "unavailable"}),
    ],
)
def test_the_spec_check_rejects_answers_apim_would_not_give(check_answers, served):
    with pytest.raises(jsonschema.ValidationError):
        check_answers(SimpleNamespace(responses=[served]))


@contextlib.asynccontextmanager
async def syncing(cfg: config.Config, published: list[dict]):
    """A control plane publishing into `published` for the block's length, then stopped and closed."""
    cp = control_plane(cfg)
    task = asyncio.ensure_future(cp.sync_forever(lambda doc: published.append(doc) or True))
    try:
        yield cp
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await cp.api.close()


def test_a_reconnection_asks_for_a_full_pull_that_brings_changes_made_while_events_were_lost(
    apim_factory, credentials, test_ca, tmp_path
):
    apim = apim_factory()
    cfg = make_config(apim, credentials, test_ca, tmp_path)
    published: list[dict] = []

    async def scenario():
        async with syncing(cfg, published) as cp:
            await until(lambda: len(published) == 1)
            apim.data["subscriptions"].clear()  # no event: the hub was down
            cp.request_resync()  # what the listener's on_connected does after every (re)connection
            await until(lambda: len(published) == 2)
            assert published[-1]["subscriptions"] == []

    asyncio.run(scenario())


def test_the_supervisor_logs_counts_and_restarts_a_task_that_fails_or_ends(caplog):
    runs, delays = [], []
    restarts = REGISTRY.get_sample_value("apim_adapter_controlplane_task_restarts_total", {"task": "t"}) or 0.0

    async def task():
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a bug")
        if len(runs) == 2:
            return
        await asyncio.Event().wait()

    async def sleep(seconds):
        delays.append(seconds)

    async def scenario():
        supervisor = asyncio.ensure_future(supervise("t", task, sleep))
        await until(lambda: len(runs) == 3)
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)

    asyncio.run(scenario())
    assert delays == [1.0, 2.0]
    assert REGISTRY.get_sample_value("apim_adapter_controlplane_task_restarts_total", {"task": "t"}) == restarts + 2
    messages = [r.getMessage() for r in caplog.records if r.name == "apim_adapter.controlplane.wso2"]
    assert messages == ["control plane task failed; restarting", "control plane task ended; restarting"]


def test_a_bad_event_is_skipped_and_counted_and_the_others_of_its_batch_apply(
    apim_factory, credentials, test_ca, tmp_path
):
    apim = apim_factory()
    cfg = make_config(apim, credentials, test_ca, tmp_path)
    published: list[dict] = []
    labels = {"topic": "notification", "type": "SUBSCRIPTIONS_DELETE", "outcome": "poison"}
    before = REGISTRY.get_sample_value("apim_adapter_controlplane_events_total", labels) or 0.0

    async def scenario():
        async with syncing(cfg, published) as cp:
            await until(lambda: len(published) == 1)
            apim.data["subscriptions"] = [
                s for s in apim.data["subscriptions"] if s["applicationUUID"] != "app-blocked"
            ]
            cp.notify(event("SUBSCRIPTIONS_DELETE", apiUUID="api-httpbin"))  # names no application: skipped
            cp.notify(event("SUBSCRIPTIONS_DELETE", applicationUUID="app-blocked", apiUUID="api-httpbin"))
            await until(lambda: len(published) == 2)
            assert all(s["applicationUUID"] != "app-blocked" for s in published[-1]["subscriptions"])

    asyncio.run(scenario())
    assert REGISTRY.get_sample_value("apim_adapter_controlplane_events_total", labels) == before + 1


def test_an_event_hub_url_that_is_not_amqp_is_refused_naming_the_key(tmp_path):
    raw = {"controlPlane": {"type": "wso2", "url": "https://apim", "usernameFile": "u", "passwordFile": "p",
                            "eventHub": {"url": "https://apim:5672"}}}  # fmt: skip
    with pytest.raises(config.ConfigError, match=r"controlPlane\.eventHub\.url: must be amqp://"):
        config.parse(raw, tmp_path)


def with_basic_auth(cfg: config.Config) -> config.Config:
    return dataclasses.replace(cfg, basic_auth=config.BasicAuth(enabled=True))


def test_with_basic_authentication_scopes_and_their_roles_are_pulled_and_follow_their_events(
    apim_factory, credentials, test_ca, tmp_path
):
    apim = apim_factory()
    apim.data["scopes"] = [
        {"name": "scope_ip", "displayName": "IP", "description": "", "roles": ["admin", "Internal/subscriber"]},
        {"name": "scope_headers", "displayName": "Headers", "description": "Headers", "roles": []},
    ]
    cfg = with_basic_auth(make_config(apim, credentials, test_ca, tmp_path, gatewayLabel="Default"))
    published: list[dict] = []

    async def scenario():
        async with syncing(cfg, published) as cp:
            await until(lambda: len(published) == 1)
            assert published[0]["scopes"] == [
                {"name": "scope_ip", "roles": ["admin", "Internal/subscriber"]},
                {"name": "scope_headers", "roles": []},
            ]
            apim.put_scope("scope_ip", ("writer",))  # recorded as an event: no broker here, the test delivers it
            apim.put_scope("scope_new", ("reader",), "SCOPE_CREATE")
            apim.delete_scope("scope_headers")
            for _, kind, payload in apim.events:
                cp.notify(event(kind, **payload))
            await until(lambda: len(published) == 2)
            assert catalog.build(published[-1]).scope_roles == {
                "scope_ip": frozenset({"writer"}), "scope_new": frozenset({"reader"})
            }  # fmt: skip

    asyncio.run(scenario())
    asked = [query for endpoint, query in apim.requests if endpoint == "scopes"]
    assert asked == [{}, {"scopeKey": "scope_ip"}, {"scopeKey": "scope_new"}, {"scopeKey": "scope_headers"}]


def test_without_basic_authentication_scopes_are_neither_pulled_nor_served(
    apim_factory, credentials, test_ca, tmp_path
):
    apim = apim_factory()
    apim.data["scopes"] = [{"name": "scope_ip", "displayName": "IP", "description": "", "roles": ["admin"]}]
    cfg = make_config(apim, credentials, test_ca, tmp_path, gatewayLabel="Default")

    async def scenario():
        cp = control_plane(cfg)
        try:
            cp.snapshot = await cp.pull()
            plan = await cp.apply(event("SCOPE_UPDATE", name="scope_ip"))
            return plan, cp.snapshot.document(time.time())
        finally:
            await cp.api.close()

    plan, doc = asyncio.run(scenario())
    assert plan.ignored == "scopes travel with the API"
    assert "scopes" not in doc
    assert not any(endpoint == "scopes" for endpoint, _ in apim.requests)
