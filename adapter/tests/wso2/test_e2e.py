"""End to end: two adapter processes with `controlPlane.type: wso2` behind one real Envoy (round robin), fed by the
APIM double over HTTPS and a real Qpid Broker-J event hub (the Java broker APIM's Andes descends from), sharing rate
limits in a real Redis, validating JWTs of a real JWKS endpoint whose key manager they learn from /keymanagers."""

from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import requests
import yaml

from harness import oidc
from harness.adapter_process import AdapterProcess
from harness.apim_double import ApimDouble, resident_key_manager, sample_data
from harness.apim_rest import RESIDENT_KM
from harness.envoy import Authz, Gateway
from harness.helpers import eventually, wait_http
from harness.opa import OpaServer
from harness.processes import echoed_headers, free_port, go_httpbin
from harness.promql import as_sent, evaluate, panel_queries, scrape, scraped
from harness.publisher import Publisher
from harness.qpid import PASSWORD, USER, QpidBroker
from harness.sample_catalog import APPS, KM, advanced_policy, condition_group, per_minute, requests_per_minute

SHARED_LIMIT = 20
GOLD_PLAN_LIMIT = 2  # the "Advanced" policy's condition group: requests with `x-plan: gold`, 2 a minute
BURST_LIMIT = 3  # spike arrest of the "Bursty" policy: 3 a minute beside a quota of 1000 a minute
PER_USER_LIMIT = 2  # the "resettable" application's tier, "TwoPerUser": 2 a minute for each of its users
API = "/httpbin/1.0.0"
CHANGE_WITHIN = 1.0  # seconds from a change in APIM to the decision through Envoy
CONNECTED = r"apim_adapter_controlplane_event_hub_connected 1\.0"
LATE_SUB = {"subscriptionUUID": "sub-late", "subscriptionId": 50, "policyId": "Gold", "subscriptionState": "UNBLOCKED",
            "apiUUID": "api-httpbin", "apiId": 1, "applicationUUID": "app-late", "appId": len(APPS) + 1}  # fmt: skip


# An advanced API policy as `GET /api-policies` serves it (internal.service `SubscriptionValidationDataUtil`, the
# condition from `ApiMgtDAO.createConditionGroupDTO`): a header condition group beside the policy's own limit.
ADVANCED = {
    "id": 1, "tenantId": -1234, "tenantDomain": "carbon.super", "quotaType": "requestCount",
    "applicableLevel": "apiLevel",
    **advanced_policy("Advanced", 1000, {
        "policyId": 1, "quotaType": "requestCount",
        **condition_group(3, GOLD_PLAN_LIMIT,
                          {"conditionType": "Header", "name": "X-Plan", "value": "^gold$", "isInverted": False}),
    }),
}  # fmt: skip


@dataclass
class Wso2Stack:
    workdir: Path
    key: oidc.SigningKey
    jwks: oidc.JwksServer
    introspection: oidc.IntrospectionEndpoint
    apim: ApimDouble
    broker: QpidBroker
    adapters: list[AdapterProcess]
    gateway: Gateway
    config: dict

    def token(self, app: str, **claims) -> str:
        return self.key.sign(oidc.claims(self.jwks.issuer, f"client-{app}", "scope_ip scope_headers", **claims))

    def call(self, token: str, path: str = "/ip") -> requests.Response:
        return requests.get(self.gateway.url + API + path, headers={"authorization": f"Bearer {token}"}, timeout=5)

    def settles(self, token: str, status: int, code: str | None = None, replicas: int = 2) -> float:
        """Seconds until every replica answers `status` (and `code`): consecutive answers over the round robin."""
        started, streak = time.monotonic(), 0
        while streak < 2 * replicas:
            resp = self.call(token)
            ok = resp.status_code == status and (code is None or resp.json().get("code") == code)
            streak = streak + 1 if ok else 0
            if time.monotonic() - started > 10:
                raise AssertionError(f"still {resp.status_code} {resp.text[:200]} after 10s")
        return time.monotonic() - started

    def metrics(self) -> list[str]:
        return [requests.get(a.admin + "/metrics", timeout=5).text for a in self.adapters]

    def wait_metrics(self, pattern: str, within: float) -> None:
        """Until every replica's /metrics matches `pattern`."""
        deadline = time.monotonic() + within
        while not all(re.search(pattern, text) for text in self.metrics()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern} not on every replica after {within}s")
            time.sleep(0.1)


def secret_file(directory: Path, name: str, value: str) -> str:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server, test_ca, check_answers) -> Wso2Stack:
    workdir = tmp_path_factory.mktemp("wso2-e2e")
    broker = QpidBroker(workdir / "qpid").start()  # this module's own: one test restarts it
    key = oidc.SigningKey("RS256")
    jwks = oidc.JwksServer([key])
    introspection = oidc.IntrospectionEndpoint("adapter", "introspection-secret")
    apps = {**APPS, "late": (None, None), "shared": ("UNBLOCKED", "Shared20"), "denied": ("UNBLOCKED", "Gold"),
            "revoked-app": ("UNBLOCKED", "Gold"), "bursty": ("UNBLOCKED", "Bursty"),
            "resettable": ("UNBLOCKED", "Gold")}  # fmt: skip
    bursty = {**per_minute("Bursty", 1000), "rateLimitCount": BURST_LIMIT, "rateLimitTimeUnit": "min"}
    data = sample_data(jwks.issuer, jwks.url, apps, (per_minute("Shared20", SHARED_LIMIT), bursty))
    data["apiPolicies"] = [ADVANCED]
    data["applicationPolicies"].append({
        "id": len(data["applicationPolicies"]) + 1, "tenantId": -1234, "tenantDomain": "carbon.super",
        "name": "TwoPerUser", "quotaType": "requestCount", "defaultLimit": requests_per_minute(PER_USER_LIMIT),
        "burstLimit": {"rateLimitCount": 0}})  # fmt: skip
    next(a for a in data["applications"] if a["name"] == "resettable")["policy"] = "TwoPerUser"
    status = next(m for m in data["apis"][0]["urlMappings"] if m["urlPattern"] == "/status/{status_code}")
    status["throttlingPolicy"] = "Advanced"
    data["apis"][0]["securityScheme"] = "oauth2,oauth_basic_auth_api_key_mandatory,api_key"  # takes API keys too
    data["keyManagers"].append(resident_key_manager())  # every APIM has its own, configured in no adapter
    data["applicationKeyMappings"].append({"applicationUUID": "app-subscribed", "consumerKey": "resident-subscribed",
                                           "keyType": "PRODUCTION", "keyManager": RESIDENT_KM})  # fmt: skip
    apim = ApimDouble(data, tls=test_ca, amqp_url=broker.url).start()
    (workdir / "apim-api-keys.pem").write_bytes(apim.api_key_signer.certificate_pem())
    config = {
        "apiKeys": {"enabled": True, "certificates": [{"alias": apim.api_key_signer.alias,
                                                       "file": str(workdir / "apim-api-keys.pem")}]},
        "controlPlane": {
            "type": "wso2", "url": apim.url, "caBundle": str(test_ca.ca), "tenant": "carbon.super",
            "gatewayLabel": "Default",  # APIM names an API's security scheme only to a gateway environment
            "usernameFile": secret_file(workdir, "apim-user", "admin"),
            "passwordFile": secret_file(workdir, "apim-password", "admin-secret"),
            "keyManagersFromControlPlane": True, "resyncSeconds": 120,  # events, not resyncs, carry changes
            "eventHub": {"url": f"amqp://127.0.0.1:{broker.port}/carbon",
                         "usernameFile": secret_file(workdir, "hub-user", USER),
                         "passwordFile": secret_file(workdir, "hub-password", PASSWORD)},
        },
        "keyManagers": [{  # APIM's key manager, plus introspection for opaque tokens: the configured one wins
            "name": KM, "issuer": jwks.issuer, "jwksUri": jwks.url,
            "introspection": {"url": introspection.url,  # with the adapter's own token, as on a stock IS 7
                              "authentication": "bearer", "tokenUrl": introspection.token_url,
                              "clientIdFile": secret_file(workdir, "introspection-id", "adapter"),
                              "clientSecretFile": secret_file(workdir, "introspection-secret", "introspection-secret")},
        }],
        "rateLimit": {"backend": "redis", "redis": {
            "url": redis_server.url, "onError": "deny", "timeoutSeconds": 0.5,
            "passwordFile": secret_file(workdir, "redis-password", "redis-secret")}},
        "analytics": {"enabled": False},
    }  # fmt: skip
    processes, adapters = [], []
    try:
        bin_proc, bin_port = go_httpbin(workdir)
        processes.append(bin_proc)
        for name in ("adapter-a", "adapter-b"):
            adapter = AdapterProcess(workdir, copy.deepcopy(config), name)
            processes.append(adapter.proc)
            adapters.append(adapter)
        for adapter in adapters:
            adapter.wait_ready()
        gateway = Gateway(Authz([a.grpc_port for a in adapters], "grpc"), bin_port)
        processes.append(gateway.start(workdir))
        stack = Wso2Stack(workdir, key, jwks, introspection, apim, broker, adapters, gateway, config)
        stack.wait_metrics(CONNECTED, 30)
        yield stack
    finally:
        for proc in reversed(processes):
            proc.stop()
        apim.stop()
        broker.stop()
        jwks.close()
        introspection.stop()
    check_answers(apim)


def test_a_subscription_created_blocked_and_removed_in_apim_reaches_the_decision_within_a_second(stack):
    token = stack.token("late")
    assert stack.settles(token, 403, "900908") < CHANGE_WITHIN  # a key mapping, no subscription yet
    sub = LATE_SUB

    stack.apim.put_subscription(sub)
    assert stack.settles(token, 200) < CHANGE_WITHIN

    stack.apim.put_subscription({**sub, "subscriptionState": "BLOCKED"}, "SUBSCRIPTIONS_UPDATE")
    assert stack.settles(token, 401, "900907") < CHANGE_WITHIN

    stack.apim.delete_subscription("app-late", "api-httpbin")
    assert stack.settles(token, 403, "900908") < CHANGE_WITHIN

    for metrics in stack.metrics():
        applied = (
            'apim_adapter_controlplane_events_total{outcome="applied",topic="notification",type="SUBSCRIPTIONS_UPDATE"}'
        )
        assert f"{applied} 1.0" in metrics
        assert re.search(r"apim_adapter_controlplane_sync_lag_seconds_count [1-9]", metrics)


def test_the_dashboards_control_plane_rows_show_both_replicas_following_apim(stack):
    """The chart's dashboard over both replicas' real /metrics, scraped before and after a change in APIM reached
    them through the real broker, evaluated by Prometheus's own engine: consumed, pulled, each event applied once per
    replica, with its lag; APIM's key manager loaded; nothing failed."""
    token, sub = stack.token("late"), LATE_SUB
    stack.apim.put_subscription({**sub, "subscriptionState": "BLOCKED"})
    assert stack.settles(token, 401, "900907") < CHANGE_WITHIN
    pods = {f"rel-apim-adapter-6f7d9-{a.proc.name}": a for a in stack.adapters}
    before = {pod: scrape(adapter.admin) for pod, adapter in pods.items()}
    stack.apim.put_subscription(sub, "SUBSCRIPTIONS_UPDATE")  # unblocked
    assert stack.settles(token, 200) < CHANGE_WITHIN
    applied = ("apim_adapter_controlplane_events_total",
               (("outcome", "applied"), ("topic", "notification"), ("type", "SUBSCRIPTIONS_UPDATE")))  # fmt: skip
    eventually(lambda: all(scrape(a.admin)[applied] > before[pod][applied] for pod, a in pods.items()))
    now = time.time()
    after = {pod: scrape(adapter.admin) for pod, adapter in pods.items()}
    stack.apim.delete_subscription("app-late", "api-httpbin")  # as the first test left it
    assert stack.settles(token, 403, "900908") < CHANGE_WITHIN

    release = {"namespace": "apim", "job": "rel-apim-adapter"}
    series = [s for i, pod in enumerate(pods, 1)
              for s in scraped([(now - 60, before[pod]), (now, after[pod])],
                               {**release, "pod": pod, "instance": f"10.244.{i}.7:9090"})]  # fmt: skip
    rows = ["Event hub consumed", "Since the last full pull from APIM", "Sync lag", "Event hub messages",
            "Control plane failures", "Key managers' signing keys loaded", "Serving catalog"]  # fmt: skip
    queries = [(title, target) for title, target in panel_queries() if title in rows]
    answers = evaluate(series, [(as_sent(t["expr"], **release, rate_interval="61s"), now) for _, t in queries])
    lines: dict[str, dict] = {}
    for (title, _), answer in zip(queries, answers, strict=True):
        assert not answer.error, (title, answer.error)
        lines.setdefault(title, {}).update({tuple(sorted(labels.items())): v for labels, v in answer.series})
    assert lines["Event hub consumed"] == {(): 1}
    ages = lines["Since the last full pull from APIM"]
    assert {dict(labels)["pod"] for labels in ages} == set(pods)
    assert all(0 <= age < 3 * stack.config["controlPlane"]["resyncSeconds"] for age in ages.values())
    # The one event, applied by each replica: two between the scrapes (an increase over the panel's 61 s, which
    # Prometheus extrapolates from the 60 s between them).
    events = {(("outcome", "applied"), ("topic", "notification")): pytest.approx(2 * 61 / 60)}
    assert lines["Event hub messages"] == events
    assert lines["Sync lag"]
    assert all(0 < lag <= CHANGE_WITHIN for lag in lines["Sync lag"].values())
    assert not any(lines["Control plane failures"].values())
    loaded = {(("key_manager", KM),): 1, (("key_manager", RESIDENT_KM),): 1}  # IS 7's, and APIM's own
    assert lines["Key managers' signing keys loaded"] == loaded
    catalog = {dict(labels)["kind"]: count for labels, count in lines["Serving catalog"].items()}
    assert catalog["apis"] >= 1
    assert catalog["subscriptions"] >= 1


def redeploy_httpbin(stack: Wso2Stack, api_policies: dict, operation_policies: dict) -> None:
    """httpbin's API deployed again with these operation policies (the runtime artifact's `apiPolicies` and each
    operation's), and the event the Publisher's deployment publishes (apim_rest deploy_revision)."""

    def mutate(data: dict) -> None:
        api = next(a for a in data["apis"] if a["uuid"] == "api-httpbin")
        api["_apiPolicies"], api["_operationPolicies"] = api_policies, operation_policies

    stack.apim.change(mutate)
    api = next(a for a in stack.apim.data["apis"] if a["uuid"] == "api-httpbin")
    stack.apim.notify("DEPLOY_API_IN_GATEWAY", {
        "apiId": api["apiId"], "uuid": api["uuid"], "name": api["name"], "version": api["version"],
        "provider": api["provider"], "apiType": "HTTP", "gatewayLabels": ["Default"], "context": api["context"],
        "tenantId": 0})  # fmt: skip


def test_operation_policies_deployed_in_apim_reach_the_backend_and_the_decision_within_a_second(stack):
    """A claim validator on the API, and an Add Header and a Rewrite Resource Path policy on GET /headers, deployed
    in APIM: every replica reads them from the new revision's artifact on the deployment event, refuses a token
    whose claim differs, and sends the backend the header on the new path (the gateway's provider is gRPC)."""
    application, user = stack.token("subscribed"), stack.token("subscribed", aut="APPLICATION_USER")
    claim = {"policyName": "jwtClaimBasedAccessValidator", "policyVersion": "v1", "policyType": "common",
             "policyId": "claim-clone", "parameters": {"accessVerificationClaim": "aut",
                                                       "accessVerificationClaimValue": "APPLICATION"}}  # fmt: skip
    header = {"policyName": "addHeader", "policyVersion": "v2", "policyType": "common", "policyId": "header-clone",
              "parameters": {"headerName": "X-Env", "headerValue": "mesh"}}  # fmt: skip
    rewrite = {"policyName": "rewriteResourcePath", "policyVersion": "v3", "policyType": "common",
               "policyId": "rewrite-clone", "parameters": {"newResourcePath": "/anything/headers",
                                                           "includeQueryParams": True}}  # fmt: skip
    assert stack.settles(user, 200) < CHANGE_WITHIN
    try:
        redeploy_httpbin(stack, {"request": [claim]}, {"GET /headers": {"request": [header, rewrite]}})
        assert stack.settles(user, 403, "900912") < CHANGE_WITHIN
        for _ in stack.adapters:  # each replica, over the round robin
            echo = stack.call(application, "/headers?page=2")
            assert echoed_headers(echo)["x-env"] == ["mesh"]
            assert echo.json()["url"].endswith("/anything/headers?page=2")  # go-httpbin's /anything: its URL
    finally:
        redeploy_httpbin(stack, {}, {})
    assert stack.settles(user, 200) < CHANGE_WITHIN


def test_a_gateway_policy_mapping_deployed_in_apim_changes_every_replicas_calls_until_it_is_removed(stack, test_ca):
    """Policies > Gateway Policies in APIM's Publisher: a mapping deployed to the adapters' gateway label reaches
    each replica with its deployment event (the label's rendered sequences, `/gateway-policy-artifacts`), and Envoy
    sets and removes the headers it names on every API's calls; removed, the calls are as before."""
    publisher = Publisher(stack.apim, test_ca.ca)
    token = stack.token("subscribed")
    mapping = publisher.gateway_policy_mapping("Stamp", {
        "request": [publisher.common_policy("addHeader", "v2", headerName="X-Env", headerValue="mesh"),
                    publisher.common_policy("removeHeader", "v1", headerName="X-Debug")],
        "response": [publisher.common_policy("addHeader", "v2", headerName="X-Served-By", headerValue="gateway")],
    })  # fmt: skip

    def stamped(echo: requests.Response) -> bool:
        return echoed_headers(echo).get("x-env") == ["mesh"] and echo.headers.get("x-served-by") == "gateway"

    def calls() -> list[requests.Response]:  # one over each replica, with a header the mapping removes
        headers = {"authorization": f"Bearer {token}", "x-debug": "on"}
        return [requests.get(stack.gateway.url + API + "/headers", headers=headers, timeout=5) for _ in stack.adapters]

    publisher.engage(mapping, "Default")
    try:
        assert eventually(lambda: all(map(stamped, calls())), timeout=CHANGE_WITHIN)
        assert all("x-debug" not in echoed_headers(echo) for echo in calls())
    finally:
        publisher.engage(mapping, "Default", deploy=False)
    assert eventually(lambda: not any(map(stamped, calls())), timeout=CHANGE_WITHIN)
    assert all(echoed_headers(echo).get("x-debug") == ["on"] for echo in calls())


def test_endpoint_security_deployed_in_apim_reaches_the_backend_in_place_of_the_callers_token(stack):
    """Basic endpoint security on httpbin's production endpoint, deployed in APIM: every replica reads it from the new
    revision's artifact on the deployment event (APIM exports the revision with its credentials: APIProviderImpl
    .addAPIRevision → exportAPI with preserveCredentials) and the backend gets it instead of the caller's token."""
    token = stack.token("subscribed")
    credential = "Basic " + base64.b64encode(b"backend:s3cret").decode()

    def secure(security: dict | None) -> None:
        def mutate(data: dict) -> None:
            api = next(a for a in data["apis"] if a["uuid"] == "api-httpbin")
            config = {k: v for k, v in api.get("_endpointConfig", {}).items() if k != "endpoint_security"}
            api["_endpointConfig"] = config | ({"endpoint_security": security} if security else {})

        stack.apim.change(mutate)
        redeploy_httpbin(stack, {}, {})

    def every_replica_sends(expected: list[str] | None) -> bool:
        """Consecutive answers over the round robin, one per replica, all with the backend having got `expected`."""
        seen = [echoed_headers(stack.call(token, "/headers")).get("authorization") for _ in stack.adapters]
        return seen == [expected] * len(stack.adapters)

    assert every_replica_sends(None)  # the token taken out, nothing in its place
    try:
        secure({"production": {"enabled": True, "type": "basic", "username": "backend", "password": "s3cret"}})
        assert eventually(lambda: every_replica_sends([credential]), CHANGE_WITHIN)
    finally:
        secure(None)
    assert eventually(lambda: every_replica_sends(None), CHANGE_WITHIN)


OPA_RULE = """package apim.httpbin

default allow := false

allow if {
    input.apiContext.applicationName == "subscribed"
    [_, claims, _] := io.jwt.decode(input.apiContext.accessToken)
    claims.aut == "APPLICATION"
}
"""


def test_an_opa_policy_deployed_in_apim_is_asked_by_every_replica_within_a_second(stack, tmp_path):
    """APIM's "Validate Request with OPA" on the API, deployed with OPA's access key: every replica reads it from the
    new revision's artifact on the deployment event and asks the real OPA (token authentication on) about each call,
    sending the caller's JWT; OPA refuses a user's token (403 902012)."""
    application, user = stack.token("subscribed"), stack.token("subscribed", aut="APPLICATION_USER")
    opa = OpaServer(token="opa-s3cret").start(tmp_path, {"httpbin.rego": OPA_RULE})
    guard = {"policyName": "opaPolicy", "policyVersion": "v1", "policyType": "common", "policyId": "opa-clone",
             "parameters": {"serverUrl": opa.url, "policy": "apim/httpbin", "rule": "allow",
                            "accessKey": "Bearer opa-s3cret", "sendAccessToken": True}}  # fmt: skip
    assert stack.settles(user, 200) < CHANGE_WITHIN
    try:
        redeploy_httpbin(stack, {"request": [guard]}, {})
        assert stack.settles(user, 403, "902012") < CHANGE_WITHIN
        assert [stack.call(application).status_code for _ in stack.adapters] == [200] * len(stack.adapters)
        opa.stop()  # OPA gone: no decision, and every guarded call fails rather than passes
        assert stack.settles(application, 500, "902011") < CHANGE_WITHIN
    finally:
        opa.stop()
        redeploy_httpbin(stack, {}, {})
    assert stack.settles(user, 200) < CHANGE_WITHIN


def test_a_revoked_token_is_denied_and_other_tokens_of_the_application_are_not(stack):
    revoked, other = stack.token("subscribed"), stack.token("subscribed")
    assert stack.settles(revoked, 200) < CHANGE_WITHIN
    jti = jwt.decode(revoked, options={"verify_signature": False})["jti"]
    stack.apim.revoke_token(jti, int(time.time() + 300) * 1000)
    assert stack.settles(revoked, 401, "900901") < CHANGE_WITHIN
    # JWTValidator's words for a JWT in its revoked maps
    assert stack.call(revoked).json()["description"] == (
        "Invalid JWT token. Make sure you have provided the correct security credentials"
    )
    assert stack.call(other).status_code == 200


def test_an_api_key_works_on_every_replica_until_it_is_revoked_in_apim(stack):
    """The replicas learn the API's security scheme from single-API pulls (the list leaves it out), take the key APIM
    signed, and deny it within a second of its revocation (type API_KEY over the event hub); another key of the same
    application keeps working."""
    revoked = stack.apim.generate_api_key("app-subscribed")
    other = stack.apim.generate_api_key("app-subscribed", validity_seconds=600)

    def call(key: str) -> requests.Response:
        return requests.get(stack.gateway.url + API + "/ip", headers={"apikey": key}, timeout=5)

    assert [call(revoked).status_code for _ in range(4)] == [200] * 4  # round robin: both replicas
    single = [q for endpoint, q in stack.apim.requests if endpoint == "apis" and "apiId" in q]
    assert {"apiId": "api-httpbin", "gatewayLabel": "Default"} in single
    stack.apim.revoke_api_key(revoked)
    started = time.monotonic()
    while call(revoked).status_code != 401 or call(revoked).status_code != 401:
        assert time.monotonic() - started < CHANGE_WITHIN * 5, "still admitted after its revocation"
        time.sleep(0.05)
    assert time.monotonic() - started < CHANGE_WITHIN
    assert call(revoked).json()["code"] == "900901"
    assert call(other).status_code == 200
    unsubscribed = stack.apim.generate_api_key("app-unsubscribed")
    assert call(unsubscribed).json()["code"] == "900908"


def test_an_opaque_token_revoked_in_apim_is_denied_by_its_hash_and_other_tokens_are_not(stack):
    revoked, other = f"opaque-{uuid.uuid4()}", f"opaque-{uuid.uuid4()}"
    for token in (revoked, other):  # IS 7's answer for an opaque token: no jti, no sub
        stack.introspection.tokens[token] = {"active": True, "client_id": "client-subscribed", "token_type": "Bearer",
                                             "scope": "scope_ip scope_headers", "iat": int(time.time()),
                                             "exp": int(time.time() + 600)}  # fmt: skip
    assert stack.settles(revoked, 200) < CHANGE_WITHIN  # now in the introspection cache of both replicas
    stack.apim.revoke_token(revoked, int(time.time() + 600) * 1000, token_type="Default")  # IS sends the raw token
    assert stack.settles(revoked, 401, "900901") < CHANGE_WITHIN
    # OAuthAuthenticator's words for a token the key manager's validation refuses, revoked or never issued alike
    refused = ("Access failure for API: /httpbin/1.0.0, version: 1.0.0 status: (900901) - Invalid Credentials. "
               "Make sure you have provided the correct security credentials")  # fmt: skip
    assert stack.call(revoked).json()["description"] == refused
    unknown = stack.call(f"opaque-{uuid.uuid4()}")  # inactive to the key manager
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["description"]) == (401, "900901", refused)
    assert stack.call(other).status_code == 200
    # each replica asked IS for its own introspection token at start (held for the hour IS gives it), never logs it
    assert stack.introspection.token_calls >= len(stack.adapters)
    for adapter in stack.adapters:
        log = adapter.proc.log(tail=1 << 24)
        assert "introspection token obtained" in log
        assert revoked not in log
        assert not any(bearer in log for bearer in stack.introspection.bearer)


def test_a_consumer_key_revocation_denies_only_that_keys_tokens_issued_before_it(stack):
    now = int(time.time())
    before, after = stack.token("revoked-app", iat=now - 10), stack.token("revoked-app", iat=now)
    other = stack.token("subscribed", iat=now - 10)
    assert stack.settles(before, 200) < CHANGE_WITHIN
    stack.apim.revoke_consumer_key("client-revoked-app", (now - 5) * 1000)
    assert stack.settles(before, 401, "900901") < CHANGE_WITHIN
    assert stack.call(after).status_code == 200  # issued after the revocation
    assert stack.call(other).status_code == 200  # another consumer key


def test_a_subject_revocation_denies_only_that_subjects_tokens_issued_before_it(stack):
    now = int(time.time())
    before = stack.token("subscribed", iat=now - 10, entity_id="user-41", entity_type="USER_ID")
    after = stack.token("subscribed", iat=now, entity_id="user-41", entity_type="USER_ID")
    someone_else = stack.token("subscribed", iat=now - 10, entity_id="user-42", entity_type="USER_ID")
    assert stack.settles(before, 200) < CHANGE_WITHIN
    stack.apim.revoke_subject("user-41", (now - 5) * 1000)
    assert stack.settles(before, 401, "900901") < CHANGE_WITHIN
    assert stack.call(after).status_code == 200
    assert stack.call(someone_else).status_code == 200


def test_an_applications_subject_revocation_denies_its_own_tokens_and_no_user_of_it(stack):
    # IS names an application's own token's subject by its client id (entity_id = azp, entity type CLIENT_ID), a
    # user's by the user's id (USER_ID); APIM's gateway checks each token against its own kind (JWTValidator).
    now = int(time.time())
    own = stack.token("subscribed", iat=now - 10, entity_id="client-subscribed")
    users = stack.token("subscribed", iat=now - 10, entity_id="user-43")
    named_like_the_app = stack.token("reload", iat=now - 10, entity_id="client-subscribed")
    assert stack.settles(own, 200) < CHANGE_WITHIN
    stack.apim.revoke_subject("client-subscribed", (now - 5) * 1000, entity_type="USER_ID")  # a user of that id
    stack.apim.revoke_subject("user-43", (now - 5) * 1000)
    assert stack.settles(users, 401, "900901") < CHANGE_WITHIN  # so the event before it was applied too
    assert stack.call(own).status_code == 200
    stack.apim.revoke_subject("client-subscribed", (now - 5) * 1000, entity_type="CLIENT_ID")
    assert stack.settles(own, 401, "900901") < CHANGE_WITHIN
    assert stack.call(named_like_the_app).status_code == 401  # the user of that id, revoked above
    assert stack.call(stack.token("subscribed", iat=now, entity_id="client-subscribed")).status_code == 200


def test_a_token_of_apims_resident_key_manager_is_admitted_though_no_adapter_config_names_it(stack):
    # APIM fills its Resident Key Manager's issuer and JWKS endpoint in at every read of /keymanagers
    # (APIUtil.getAndSetDefaultKeyManagerConfiguration), where its stored row has neither: the adapter takes them.
    token = stack.apim.resident_token("resident-subscribed", "scope_ip scope_headers")
    assert stack.call(token).status_code == 200
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = oidc.SigningKey("RS256", kid=stack.apim.api_key_signer.key_manager_key.kid).sign(claims)
    assert stack.call(forged).json()["code"] == "900901"  # the same claims, signed by another key
    # An IS 7 consumer key, whose key mapping names IS 7: no application holds it under the Resident Key Manager.
    unmapped = stack.call(stack.apim.resident_token("client-subscribed", "scope_ip scope_headers"))
    assert (unmapped.status_code, unmapped.json()["code"]) == (403, "900908")


def test_a_deny_policy_blocks_with_900805_and_its_removal_unblocks(stack):
    token, bystander = stack.token("denied"), stack.token("subscribed")
    assert stack.settles(token, 200) < CHANGE_WITHIN
    condition = stack.apim.add_block_condition("APPLICATION", "admin:denied")
    try:
        assert stack.settles(token, 403, "900805") < CHANGE_WITHIN
        assert stack.call(token).json()["message"] == "Message blocked"
        assert stack.call(bystander).status_code == 200
    finally:
        stack.apim.delete_block_condition(condition)
    assert stack.settles(token, 200) < CHANGE_WITHIN


def test_an_ip_deny_policy_blocks_the_client_address_the_gateway_saw_until_it_is_deleted(stack):
    token = stack.token("subscribed")
    assert stack.settles(token, 200) < CHANGE_WITHIN
    # The address Istio's gateway reports for this client (for a loopback peer Envoy reports the host's own
    # address), as the backend sees it: the element the gateway appended to x-forwarded-for, the last.
    [forwarded_for] = echoed_headers(stack.call(token, "/headers"))["x-forwarded-for"]
    seen = forwarded_for.split(",")[-1].strip()
    condition = stack.apim.add_block_condition("IP", json.dumps({"fixedIp": seen, "invert": False}))
    try:
        assert stack.settles(token, 403, "900805") < CHANGE_WITHIN
    finally:
        stack.apim.delete_block_condition(condition)
    assert stack.settles(token, 200) < CHANGE_WITHIN


def test_burst_control_throttles_with_900807_before_the_quota(stack):
    if time.time() % 60 > 50:  # keep the calls inside one minute window
        time.sleep(61 - time.time() % 60)
    token = stack.token("bursty")
    statuses = [stack.call(token) for _ in range(BURST_LIMIT + 2)]
    assert [r.status_code for r in statuses] == [200] * BURST_LIMIT + [429, 429]
    assert {r.json()["code"] for r in statuses[BURST_LIMIT:]} == {"900807"}
    assert all(int(r.headers["retry-after"]) >= 1 for r in statuses[BURST_LIMIT:])


def test_an_advanced_policys_condition_group_limits_only_the_requests_meeting_it_across_replicas(stack):
    if time.time() % 60 > 50:  # keep the calls inside one minute window
        time.sleep(61 - time.time() % 60)
    token = stack.token("subscribed")

    def call(**headers: str) -> requests.Response:
        headers["authorization"] = f"Bearer {token}"
        return requests.get(stack.gateway.url + API + "/status/200", headers=headers, timeout=5)

    gold = [call(**{"x-plan": "gold"}) for _ in range(GOLD_PLAN_LIMIT + 2)]  # over both replicas
    assert [r.status_code for r in gold] == [200] * GOLD_PLAN_LIMIT + [429, 429]
    assert {r.json()["code"] for r in gold[GOLD_PLAN_LIMIT:]} == {"900802"}  # the resource's policy
    assert [call(**{"x-plan": "golden"}).status_code, call().status_code] == [200, 200]  # the policy's own count


def test_a_users_quota_reset_in_the_developer_portal_restarts_it_on_every_replica_within_a_second(stack):
    """Devportal: Applications > the application > Reset throttle policy for a user (POST reset-throttle-policy):
    POLICY_RESET through the real broker restarts that user's count in the shared Redis, as APIM's traffic manager
    restarts its own; the application's other user keeps their count."""
    if time.time() % 60 > 45:  # keep the calls inside one minute window
        time.sleep(61 - time.time() % 60)
    alice = stack.token("resettable", sub="alice", aut="APPLICATION_USER")
    bob = stack.token("resettable", sub="bob", aut="APPLICATION_USER")
    for user in (alice, bob):
        assert [stack.call(user).status_code for _ in range(PER_USER_LIMIT + 1)] == [200] * PER_USER_LIMIT + [429]
    assert stack.call(alice).json()["code"] == "900803"
    app = next(a for a in stack.apim.data["applications"] if a["name"] == "resettable")
    reset = requests.post(f"{stack.apim.url}/api/am/devportal/v3/applications/{app['uuid']}/reset-throttle-policy",
                          json={"userName": "alice"}, verify=str(stack.apim.tls.ca), timeout=5,
                          headers={"authorization": f"Bearer {stack.apim.admin_token('apim:app_manage')}"})  # fmt: skip
    assert reset.status_code == 200, reset.text
    started = time.monotonic()
    assert eventually(lambda: stack.call(alice).status_code == 200, CHANGE_WITHIN)  # a 429 counts nowhere
    assert time.monotonic() - started < CHANGE_WITHIN
    assert [stack.call(alice).status_code for _ in range(PER_USER_LIMIT)] == [200, 429]  # the restarted two, shared
    assert stack.call(bob).status_code == 429


def test_a_resources_log_level_set_in_apims_devops_api_makes_every_replica_write_its_calls(stack):
    """APIM's per-API logging (DevOps API: `tenant-logs/{tenant}/apis/{apiId}`): UDATE_API_LOG_LEVEL through the real
    broker, and each replica writes the resource's calls at that level within a second, as APIM's gateway does
    (LogsHandler); a denial beside the answer it got. OFF again ends it."""

    def call(token: str, resource: str = "/headers") -> str:
        """A call marked by a query of its own: the `apiTo` its lines carry."""
        called = f"{API}{resource}?probe={uuid.uuid4()}"
        requests.get(stack.gateway.url + called, headers={"authorization": f"Bearer {token}"}, timeout=5)
        return called

    def written(called: str) -> list[list[dict]]:
        """Each replica's lines of the call."""
        return [
            [line for text in adapter.proc.log(tail=1 << 24).splitlines()
             if '"apim_adapter.api_log"' in text and (line := json.loads(text))["apiTo"] == called]
            for adapter in stack.adapters
        ]  # fmt: skip

    token = stack.token("subscribed")
    stack.apim.set_log_level("api-httpbin", "standard", "GET", "/headers")
    started = time.monotonic()
    # Two calls in a row over the round robin, each written by one replica: both follow the level.
    assert eventually(lambda: all(any(written(call(token))) for _ in stack.adapters), CHANGE_WITHIN)
    assert time.monotonic() - started < CHANGE_WITHIN
    by_replica = [written(call(token)) for _ in stack.adapters]
    assert sorted(len(lines) for calls in by_replica for lines in calls) == [0, 0, 1, 1]
    assert {i for calls in by_replica for i, lines in enumerate(calls) if lines} == {0, 1}  # one call each
    [line] = next(lines for lines in by_replica[0] if lines)
    assert (line["flow"], line["logLevel"], line["verb"]) == ("REQUEST_IN", "STANDARD", "GET")
    assert line["resourceName"] == line["apiTo"].removeprefix(API)  # /headers?probe=…
    assert line["headers"]["authorization"] == "Bearer ***"
    assert all(token not in adapter.proc.log(tail=1 << 24) for adapter in stack.adapters)
    [denied] = [lines for lines in written(call("not-a-token")) if lines]
    assert [(d["flow"], d.get("statusCode"), d.get("errorCode")) for d in denied] == [
        ("REQUEST_IN", None, None), ("RESPONSE_OUT", 401, "900901"),
    ]  # fmt: skip
    assert written(call(token, "/ip")) == [[], []]  # another resource of the API: its own level, none
    stack.apim.set_log_level("api-httpbin", "OFF", "GET", "/headers")
    assert eventually(lambda: not any(any(written(call(token))) for _ in range(4)), CHANGE_WITHIN)


def test_two_replicas_enforce_one_shared_tier_limit_exactly(stack):
    if time.time() % 60 > 50:  # keep the 30 calls inside one minute window
        time.sleep(61 - time.time() % 60)
    token = stack.token("shared")
    statuses = [stack.call(token) for _ in range(30)]
    assert [r.status_code for r in statuses].count(200) == SHARED_LIMIT
    denied = [r for r in statuses if r.status_code != 200]
    assert {(r.status_code, r.json()["code"]) for r in denied} == {(429, "900804")}
    assert all(int(r.headers["retry-after"]) >= 1 for r in denied)
    for adapter in stack.adapters:  # both replicas took part in counting
        metrics = requests.get(adapter.admin + "/metrics", timeout=5).text
        assert re.search(r'apim_adapter_decisions_total\{[^}]*application="shared"[^}]*outcome="allow"', metrics)


def test_readiness_waits_for_apim_and_an_apim_outage_keeps_serving_the_last_catalog(stack):
    token = stack.token("subscribed")
    stack.apim.up = False
    late = AdapterProcess(stack.workdir, copy.deepcopy(stack.config), "adapter-late")
    try:
        wait_http(late.admin + "/healthz", 20, 200, late.proc)
        failed = r'apim_adapter_controlplane_sync_failures_total\{operation="full"\} [2-9]'
        deadline = time.monotonic() + 20
        while not re.search(failed, requests.get(late.admin + "/metrics", timeout=5).text):  # retried, failed again
            assert time.monotonic() < deadline, "the late replica never retried APIM"
            time.sleep(0.1)
        assert requests.get(late.admin + "/readyz", timeout=5).status_code == 503
        assert stack.settles(token, 200) < CHANGE_WITHIN  # the running replicas keep their last good catalog
        stack.apim.up = True
        late.wait_ready(timeout=20)
    finally:
        stack.apim.up = True
        late.stop()


def test_a_broker_restart_is_survived_and_what_changed_meanwhile_arrives_with_a_full_pull(stack):
    token = stack.token("late")
    stack.apim.delete_subscription("app-late", "api-httpbin")
    assert stack.settles(token, 403, "900908") < CHANGE_WITHIN
    stack.broker.stop()
    stack.wait_metrics(r"apim_adapter_controlplane_event_hub_connected 0\.0", 20)
    # Changed in APIM while no adapter listens: the event is lost, as it would be with a real broker outage.
    stack.apim.change(lambda data: data["subscriptions"].append(dict(LATE_SUB)))
    assert stack.call(token).status_code == 403
    stack.broker.start(stack.broker.port)
    stack.wait_metrics(CONNECTED, 60)  # reconnected, with backoff
    assert stack.settles(token, 200) < 5  # the full pull that follows every reconnection brought it
    stack.apim.put_subscription({**LATE_SUB, "subscriptionState": "BLOCKED"}, "SUBSCRIPTIONS_UPDATE")
    assert stack.settles(token, 401, "900907") < CHANGE_WITHIN  # and events flow again
    # The broker's close reached each replica as a counted failure (connection or channel closed by the broker).
    stack.wait_metrics(
        r'apim_adapter_controlplane_event_hub_failures_total\{stage="(connection lost|channel closed)"\} [1-9]', 5
    )


def test_a_broken_message_is_counted_and_skipped_and_the_next_event_still_applies(stack):
    token = stack.token("late")
    stack.apim.put_subscription(LATE_SUB, "SUBSCRIPTIONS_UPDATE")
    assert stack.settles(token, 200) < CHANGE_WITHIN
    stack.apim.publish_raw("notification", b'{"event": {"payloadData": {"eventType": "SUBSCRIPTIONS_UPDATE"}}}')
    stack.apim.publish_raw("notification", b"\xff not json")
    stack.apim.put_subscription({**LATE_SUB, "subscriptionState": "BLOCKED"}, "SUBSCRIPTIONS_UPDATE")
    assert stack.settles(token, 401, "900907") < CHANGE_WITHIN
    poison = r'apim_adapter_controlplane_events_total\{outcome="poison",topic="notification",type="-"\} ([0-9.]+)'
    for metrics in stack.metrics():
        assert float(re.search(poison, metrics).group(1)) >= 2
        assert CONNECTED.replace("\\", "") in metrics


def probed(config: dict, workdir: Path) -> tuple[int, list[str]]:
    """`apim-adapter probe` on `config`, as an engineer runs it: its exit status and its lines."""
    path = workdir / f"probe-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "apim_adapter", "probe", "--config", str(path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.returncode, done.stdout.splitlines()


def test_probe_reaches_every_dependency_and_names_the_one_that_does_not_answer(stack):
    """docs/operations.md's first stop: every dependency the adapters of this stack use, asked once with their own
    clients; then the same config with each dependency's credentials or address wrong, each line saying so."""
    code, lines = probed(stack.config, stack.workdir)
    assert code == 0, lines
    assert [line.split(": ", 1)[0].split(maxsplit=1) for line in lines] == [
        ["ok", f"key manager {KM}"], ["ok", f"key manager {KM}"], ["ok", "control plane"], ["ok", "control plane"],
        ["ok", "rate limits"],
    ]  # fmt: skip
    jwks, introspection, data_api, event_hub, redis = lines
    assert jwks.endswith("1 signing key(s) (" + stack.key.kid + ")")
    assert "credentials are accepted" in introspection
    assert re.search(r"\d+ APIs, \d+ applications, \d+ subscriptions; 1 of them take API keys$", data_api)
    assert "subscribed to notification" in event_hub
    assert redis.endswith("PING answered")
    assert "redis-secret" not in "\n".join(lines)

    broken = copy.deepcopy(stack.config)
    wrong = secret_file(stack.workdir, "wrong-secret", "not-the-secret")
    km, cp = broken["keyManagers"][0], broken["controlPlane"]
    km["jwksUri"] = f"http://127.0.0.1:{free_port()}/jwks"
    km["introspection"]["clientSecretFile"] = wrong
    cp["passwordFile"] = cp["eventHub"]["passwordFile"] = broken["rateLimit"]["redis"]["passwordFile"] = wrong
    code, lines = probed(broken, stack.workdir)
    assert code == 1, lines
    assert [line.split(maxsplit=1)[0] for line in lines] == ["FAILED"] * 5, lines
    jwks, introspection, data_api, event_hub, redis = lines
    assert "Cannot connect" in jwks
    assert "HTTP 401" in introspection
    assert "401" in data_api
    assert "connect" in event_hub
    assert "not-the-secret" not in "\n".join(lines)
