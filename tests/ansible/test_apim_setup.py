"""The apim_setup stage converged twice with the dev inventory against the APIM double's product REST APIs
(harness/apim_rest.py, carbon-apimgt 9.31.86's behaviour): the first run creates everything, the second changes
nothing, and what a user would then find in APIM is there.

Why here and not in tests/cluster: the role talks only to APIM over HTTPS (DCR, token, Admin, Publisher and
DevPortal APIs) and never to the Kubernetes API, so its play runs on this machine, outside the cluster tests'
network namespace, against a double started by the test on the host's loopback. The switch is the role's own
inventory variables, given as extra vars: `apim_setup_base_url` (the double's URL), `apim_setup_ca_path` (its test
CA) and the admin credentials (`apim_setup_admin_username`/`_password`); everything else is inventories/dev as a
kind user has it. A real APIM cannot run here (no Docker); this proves the requests, their order, the lookups the
role's idempotence relies on and the answers it parses, against an implementation that validates each body against
WSO2's OpenAPI specs.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import json
import sys
import time

import pytest
import requests
import yaml
from apim_double_vars import (  # tests/ansible
    DEV_GATEWAY_ENVIRONMENTS,
    PARTNER,
    deployed_certificates,
    deployed_cors,
    extra_vars,
    partner_pem,
    recap,
)
from dev_stack import dev_inventory_vars  # likewise
from local_play import run_local_play  # likewise

from apim_adapter import catalog, config, decision, errors
from apim_adapter.catalog import Limit
from apim_adapter.conditions import Facts
from apim_adapter.controlplane.user_store import RemoteUserStore
from apim_adapter.controlplane.wso2 import Wso2ControlPlane
from apim_adapter.cors import Settings as CorsSettings
from apim_adapter.http_client import basic_authorization
from apim_adapter.mediation import JsonCheck, PathChange, RequestBody, SchemaCheck, ThreatCheck, XmlCheck
from apim_adapter.render import Renderer
from harness import apim_rest
from harness.apim_double import ApimDouble, fresh_data, make_test_ca
from harness.certificates import CertificateAuthority
from harness.helpers import ROOT, run_ansible
from harness.pipeline import InProcess, token
from harness.sample_catalog import KM

PUBLISHER = "/api/am/publisher/v4"
DEVPORTAL = "/api/am/devportal/v3"
KEY_MANAGER = "WSO2-IS-7"  # inventories/dev: stack_key_manager_name
# inventories/dev: each application's tier on the API (StandardApp on Silver, and to the API Product).
APPS = {"SubscribedApp": "Gold", "ThrottledApp": "Tiny", "UnsubscribedApp": None, "StandardApp": "Silver"}
ADMIN = "/api/am/admin/v4"
API_KEYS = "/applications/{applicationId}/api-keys/{keyType}/generate"
LIST_ENDPOINTS = {"applications": "applications", "subscriptions": "subscriptions",
                  "subscriptionPolicies": "subscription-policies", "apiPolicies": "api-policies",
                  "applicationPolicies": "application-policies"}  # fmt: skip
# An advanced policy as a user declares it (roles/apim_setup/defaults/main.yml), on one resource of the dev
# inventory's API: 1000 a minute, 100 for callers sending x-plan gold, 10 for those from 10.0.0.0-10.0.0.255
# calling with ?debug, 5 for Trial applications calling from anywhere but 192.0.2.10: every kind of condition.
ADVANCED = {
    "name": "GoldPlanHeader",
    "description": "Gold plan callers get less.",
    "request_count": 1000, "unit_time": 1, "time_unit": "min",
    "condition_groups": [
        {"description": "Gold plan", "request_count": 100, "unit_time": 1, "time_unit": "min",
         "conditions": [{"type": "header", "name": "x-plan", "value": "^gold$"}]},
        {"description": "Office debugging", "request_count": 10, "unit_time": 1, "time_unit": "min",
         "conditions": [{"type": "query_parameter", "name": "debug", "value": ".*"},
                        {"type": "ip_range", "start": "10.0.0.0", "end": "10.0.0.255"}]},
        {"description": "Trial applications but from the office", "request_count": 5, "unit_time": 1,
         "time_unit": "min",
         "conditions": [{"type": "jwt_claim", "name": "http://wso2.org/claims/applicationname", "value": "^Trial"},
                        {"type": "ip", "address": "192.0.2.10", "invert": True}]},
    ],
}  # fmt: skip
LIMITED = "/status/{status_code}"
# Subscription tiers as a user declares them besides the dev inventory's Tiny: a bandwidth tier with burst control,
# and a soft tier (stop_on_quota_reach false) that has a burst too.
FIVE_MEGS = {"name": "FiveMegs", "description": "5 MB of request bodies a minute, 10 requests a second at most.",
             "data_amount": 5, "data_unit": "MB", "unit_time": 1, "time_unit": "min",
             "burst": {"count": 10, "time_unit": "sec"}}  # fmt: skip
SOFT = {"name": "SoftHundred", "description": "100 requests a minute, counted, never refused.", "request_count": 100,
        "unit_time": 1, "time_unit": "min", "burst": {"count": 5, "time_unit": "sec"},
        "stop_on_quota_reach": False}  # fmt: skip


# An application policy as a user declares it (roles/apim_setup/defaults/main.yml), with burst control; the subscribed
# application names it here only (the dev inventory's applications keep APIM's Unlimited: the secured flow's
# throttled application must be limited by its subscription tier alone).
PER_USER = {"name": "PerUserHundred", "description": "100 requests a minute for each user, at most 10 a second.",
            "request_count": 100, "unit_time": 1, "time_unit": "min",
            "burst": {"count": 10, "time_unit": "sec"}}  # fmt: skip


def applications_naming_per_user() -> dict:
    """inventories/dev's apim_setup_applications, the subscribed one on PER_USER."""
    apps = yaml.safe_load((ROOT / "inventories/dev/group_vars/all/wso2.yml").read_text())["apim_setup_applications"]
    apps["subscribed"]["throttling_policy"] = PER_USER["name"]
    return apps


def dev_subscription_policies() -> list[dict]:
    """inventories/dev's apim_setup_subscription_policies (Tiny, the throttled application's tier)."""
    return yaml.safe_load((ROOT / "inventories/dev/group_vars/all/wso2.yml").read_text())[
        "apim_setup_subscription_policies"
    ]


def dev_api_with_advanced_policy() -> dict:
    """inventories/dev's apim_setup_api (its templates left for Ansible to render) with LIMITED on ADVANCED."""
    api = yaml.safe_load((ROOT / "inventories/dev/group_vars/all/wso2.yml").read_text())["apim_setup_api"]
    for resource in api["resources"]:
        if resource["target"] == LIMITED:
            resource["throttling_policy"] = ADVANCED["name"]
    return api


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory):
    """The double, and the two runs: `playbooks/apim_setup.yml` itself, then again with the clients used."""
    directory = tmp_path_factory.mktemp("apim-setup")
    tls = make_test_ca(directory / "ca")
    double = ApimDouble(fresh_data(), tls=tls, gateway_environments=DEV_GATEWAY_ENVIRONMENTS).start()
    # The role's own API (inventories/dev exports it from the httpbin Service instead:
    # test_apim_setup_exported.py).
    extra = extra_vars(double, tls, directory, apim_setup_retries=1, apim_setup_delay=0,
                       stack_api_from_service=False, apim_setup_advanced_policies=[ADVANCED],
                       apim_setup_subscription_policies=[*dev_subscription_policies(), FIVE_MEGS, SOFT],
                       apim_setup_application_policies=[PER_USER],
                       apim_setup_applications=applications_naming_per_user(),
                       apim_setup_api=dev_api_with_advanced_policy())  # fmt: skip
    env = {"ANSIBLE_NOCOLOR": "1"}
    runs = []
    for playbook in ("playbooks/apim_setup.yml", "tests/ansible/apim_setup_clients.yml"):
        started = time.monotonic()
        result = run_ansible("ansible-playbook", "-i", "inventories/dev", playbook, "-e", f"@{extra}", env=env)
        assert result.returncode == 0, f"{playbook}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        runs.append((result.stdout, time.monotonic() - started))
    yield double, tls.ca, runs, extra
    double.stop()


def test_first_run_creates_everything_and_the_second_changes_nothing(converged) -> None:
    _, _, [(first, _), (second, _)], _ = converged
    # Key manager, the subscription, advanced and application policies (a change per task, whatever the items), API,
    # its definition (the resources' request bodies and parameters), the inventory's client certificate
    # (apim_setup_api_client_certificates), revision, deployment, publish, 3 applications, 3 keys; the GraphQL API
    # (apim_setup_graphql_apis): its creation from the schema, complexity values, revision, deployment, publish; the
    # further REST API (apim_setup_apis): its creation, revision, deployment, publish; the subscriptions, one task for
    # each application with any: SubscribedApp's to the API, the GraphQL API and the further REST API,
    # ThrottledApp's to the API, StandardApp's to the API and the API Product.
    assert recap(first)["changed"] == 34, first[-4000:]
    assert recap(first)["failed"] == 0
    assert recap(second)["changed"] == 0, [b.splitlines()[0] for b in second.split("TASK [") if "changed:" in b]


def test_every_request_and_answer_matched_wso2s_specs(converged) -> None:
    double, _, _, _ = converged
    served = [s for s in double.responses if s.operation is not None]
    assert len(served) > 20
    assert [s for s in served if s.status >= 400] == []
    for answer in served:
        apim_rest.validate_served(*answer.operation, answer.status, answer.body)


def product_session(double: ApimDouble, ca, scopes: str) -> requests.Session:
    """A session on the double's product APIs with an admin token of those scopes."""
    out = requests.Session()
    out.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
    out.verify = str(ca)
    out.headers["Authorization"] = "Bearer " + double.admin_token(scopes)
    return out


@pytest.fixture(scope="module")
def session(converged) -> requests.Session:
    double, ca, _, _ = converged
    return product_session(double, ca, "apim:api_view apim:subscribe apim:admin")


def test_the_api_is_published_and_deployed_to_the_gateway_environment(converged, session) -> None:
    double, _, _, _ = converged
    [api] = session.get(double.url + PUBLISHER + "/apis", params={"query": 'name:"HttpbinAPI"'}).json()["list"]
    assert (api["version"], api["context"], api["lifeCycleStatus"]) == ("1.0.0", "/httpbin", "PUBLISHED")
    deployments = session.get(f"{double.url}{PUBLISHER}/apis/{api['id']}/deployments").json()
    assert [(d["name"], d["vhost"], d["status"]) for d in deployments] == [("Default", "api.istio-apim.local",
                                                                            "APPROVED")]  # fmt: skip
    full = session.get(f"{double.url}{PUBLISHER}/apis/{api['id']}").json()
    # Its own tiers and every subscription policy the role declares.
    assert set(full["policies"]) == {"Gold", "Silver", "Bronze", "Unlimited", "Tiny", "TenMegs", "GraphQLGold",
                                     "FiveMegs", "SoftHundred"}  # fmt: skip
    assert {op["target"]: op["scopes"] for op in full["operations"]}["/ip"] == ["scope_ip"]
    # What the gateways and the adapter read: the internal data API, for the environment deployed to.
    [row] = internal_apis(double, gatewayLabel="Default")
    assert (row["uuid"], row["context"], row["status"]) == (api["id"], "/httpbin/1.0.0", "PUBLISHED")
    kinds = [kind for _, kind, event in double.events if event.get("uuid") == api["id"]]
    assert kinds.count("DEPLOY_API_IN_GATEWAY") == 1
    assert kinds.count("API_LIFECYCLE_CHANGE") == 1


def test_an_api_declaring_no_cors_keeps_apims_default_configuration_in_its_deployed_revision(converged) -> None:
    """inventories/dev's API declares no `cors`: the role sends none, so APIM gives the new API its default (off, the
    global lists copied in: APIUtil.getDefaultCorsConfiguration), which the deployed revision exports; the second run
    changed nothing (test_first_run_...), so that default does not count as a difference."""
    double, _, _, _ = converged
    item = next(a for a in double.data["apis"] if a["name"] == "HttpbinAPI")
    assert double.products.api_dto(item)["corsConfiguration"] == apim_rest.default_cors_configuration()
    assert deployed_cors(double, item["uuid"])["corsConfiguration"] == apim_rest.default_cors_configuration()


def test_the_applications_are_subscribed_with_their_tiers_and_have_keys(converged, session) -> None:
    double, _, _, _ = converged
    apps = {a["name"]: a for a in session.get(double.url + DEVPORTAL + "/applications").json()["list"]}
    assert set(apps) == set(APPS)
    api_id = session.get(double.url + DEVPORTAL + "/apis").json()["list"][0]["id"]
    for name, tier in APPS.items():
        app_id = apps[name]["applicationId"]
        subs = session.get(double.url + DEVPORTAL + "/subscriptions", params={"applicationId": app_id}).json()
        on_api = [s for s in subs["list"] if s["apiInfo"]["name"] == "HttpbinAPI"]  # products: test_api_product_*
        assert [(s["apiId"], s["throttlingPolicy"], s["status"]) for s in on_api] == (
            [(api_id, tier, "UNBLOCKED")] if tier else []
        ), name
        keys = session.get(f"{double.url}{DEVPORTAL}/applications/{app_id}/oauth-keys").json()["list"]
        assert [(k["keyType"], k["keyManager"]) for k in keys] == [("PRODUCTION", KEY_MANAGER)], name
    key_managers = session.get(double.url + "/api/am/admin/v4/key-managers").json()["list"]
    assert KEY_MANAGER in {km["name"] for km in key_managers}


def test_the_api_takes_api_keys_and_the_subscribed_application_gets_one_the_adapter_accepts(converged) -> None:
    """inventories/dev: security_scheme lists api_key, and apim_setup_api_keys names the subscribed application."""
    double, _, _, _ = converged
    [single] = internal(double, "apis", gatewayLabel="Default", apiId=double.data["apis"][0]["uuid"])
    assert single["securityScheme"].split(",") == ["oauth2", "api_key", "basic_auth", "mutualssl"]
    generated = [r for r in double.responses if r.operation == ("devportal", API_KEYS, "post")]
    assert [r.status for r in generated] == [200, 200]  # one a run; nothing in APIM changed, so changed stays 0
    # What the adapter then does with such a key, on the catalog the data API now serves.
    app = next(a for a in double.data["applications"] if a["name"] == "SubscribedApp")
    lists = ("applications", "subscriptions", "subscriptionPolicies", "apiPolicies", "applicationPolicies")
    doc = {"apis": [single], **{name: internal(double, LIST_ENDPOINTS[name]) for name in lists}}
    d = InProcess(doc, api_keys=double.api_key_signer).check(apikey=double.generate_api_key(app["uuid"]))
    assert d.allowed, d.reason
    assert (d.application.name, d.tier) == ("SubscribedApp", "Gold")


def test_the_api_takes_apims_users_with_the_scopes_the_role_bound_to_roles(converged, tmp_path) -> None:
    """inventories/dev: security_scheme lists basic_auth (the secured flow then calls as APIM's admin). The API's local
    scopes reach the data API's /scopes with their role bindings, and the adapter admits a user of APIM's user
    store, asked over SOAP as it would be, on the catalog the data API now serves."""
    double, ca, _, _ = converged
    [single] = internal(double, "apis", gatewayLabel="Default", apiId=double.data["apis"][0]["uuid"])
    scopes = {s["name"]: s["roles"] for s in internal(double, "scopes")}
    assert set(scopes) >= {"scope_ip", "scope_headers"}
    admin, password = double.admin_credentials
    double.set_user(admin, password, ("admin",))  # APIM's admin is a user of its own store
    user_file, password_file = tmp_path / "user", tmp_path / "password"
    user_file.write_text(admin)
    password_file.write_text(password)
    plane = {"type": "wso2", "url": double.url, "caBundle": str(ca), "gatewayLabel": "Default",
             "usernameFile": str(user_file), "passwordFile": str(password_file)}  # fmt: skip
    cfg = config.parse({"controlPlane": plane, "basicAuth": {"enabled": True}})
    lists = ("applications", "subscriptions", "subscriptionPolicies", "apiPolicies", "applicationPolicies")
    doc = {"apis": [single], "scopes": internal(double, "scopes"),
           **{name: internal(double, LIST_ENDPOINTS[name]) for name in lists}}  # fmt: skip
    assert isinstance(cfg.control_plane, config.ControlPlaneWso2)
    p = InProcess(doc, users=RemoteUserStore(cfg.control_plane, cfg))
    context, users = single["context"], p.users
    assert users is not None

    async def calls():  # one event loop: the user store's HTTPS client lives on it
        try:
            return [await p.decide(p.request(context + path, authorization=basic_authorization(admin, secret)))
                    for path, secret in (("/headers", password), ("/ip", "wrong"))]  # fmt: skip
        finally:
            await users.close()

    d, refused = asyncio.run(calls())
    assert d.allowed, d.reason
    assert (d.application.name, d.principal.subject) == ("BasicAuthApplication", f"{admin}@carbon.super")
    assert (refused.status, refused.code) == (401, "900901")


def test_the_exposed_clients_get_tokens_at_the_token_endpoint(converged) -> None:
    double, _, _, _ = converged
    mapped = {m["consumerKey"] for m in double.data["applicationKeyMappings"] if m["keyManager"] == KEY_MANAGER}
    granted = [t for t in double.products.tokens.values() if t.user is None]  # client_credentials grants
    assert sorted(t.client_id for t in granted) == sorted(mapped)
    assert len(mapped) == len(APPS)
    assert all(t.scopes == ("default",) for t in granted)


def test_the_role_never_logs_a_secret(converged) -> None:
    double, _, runs, _ = converged
    secrets = [m["_consumerSecret"] for m in double.data["applicationKeyMappings"]] + [double.admin_credentials[1]]
    for stdout, _ in runs:
        assert not [s for s in secrets if s in stdout]


def internal(double: ApimDouble, endpoint: str, **params: str) -> list[dict]:
    """An internal data API list, as the adapter and APIM's gateways read it."""
    answer = double.data_api(endpoint, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()["list"]


def internal_apis(double: ApimDouble, **params: str) -> list[dict]:
    """The data API's rows of the httpbin API (apim_setup_api), without the others it serves (the API Product, the
    GraphQL API, the further REST API: test_api_product_*, test_the_graphql_api_*, test_a_further_rest_api_*)."""
    return [row for row in internal(double, "apis", **params) if row["name"] == "HttpbinAPI"]


def test_the_advanced_policy_is_created_and_the_resource_limited_by_it(converged, session) -> None:
    double, _, _, _ = converged
    listed = session.get(double.url + ADMIN + "/throttling/policies/advanced").json()["list"]
    # APIM's own four, and the role's.
    assert [p["policyName"] for p in listed] == ["10KPerMin", "20KPerMin", "50KPerMin", "GoldPlanHeader", "Unlimited"]
    [mine] = [p for p in listed if p["policyName"] == ADVANCED["name"]]
    policy = session.get(f"{double.url}{ADMIN}/throttling/policies/advanced/{mine['policyId']}").json()
    assert policy["defaultLimit"]["requestCount"] == {"requestCount": 1000, "unitTime": 1, "timeUnit": "min"}
    assert [(g["description"], g["limit"]["requestCount"]["requestCount"]) for g in policy["conditionalGroups"]] == [
        ("Gold plan", 100), ("Office debugging", 10), ("Trial applications but from the office", 5)]  # fmt: skip
    # APIM answers a group's conditions table by table: the IP range before the query parameter.
    office_conditions = policy["conditionalGroups"][1]["conditions"]
    assert [c["type"] for c in office_conditions] == ["IPCONDITION", "QUERYPARAMETERCONDITION"]
    # What the adapter reads: the policy in the data API's shape, and the resource naming it.
    [served] = internal(double, "api-policies", policyName=ADVANCED["name"])
    assert [[(c["conditionType"], c["name"], c["value"], c["isInverted"]) for c in g["condition"]]
            for g in served["conditionGroups"]] == [
        [("Header", "x-plan", "^gold$", False)],
        [("QueryParameterType", "debug", ".*", False), ("IPRange", "10.0.0.0", "10.0.0.255", False)],
        [("JWTClaims", "http://wso2.org/claims/applicationname", "^Trial", False),
         ("IPSpecific", "IPSpecific", "192.0.2.10", True)]]  # fmt: skip
    [api] = internal_apis(double, gatewayLabel="Default")
    assert {m["urlPattern"]: m["throttlingPolicy"] for m in api["urlMappings"]}[LIMITED] == ADVANCED["name"]
    # ... which the adapter's catalog reads as APIM's traffic manager counts it: the gold header meets the first
    # group, an office address with ?debug the second, anything else neither.
    built = catalog.build({"apis": [api], "apiPolicies": internal(double, "api-policies")}, lenient=True)
    [resource] = [r for r in built.apis[api["uuid"]].resources if r.pattern == LIMITED]
    first, second, third = built.api_policies[resource.throttling_policy].groups
    gold = Facts({"x-plan": "gold"}, "/httpbin/1.0.0/status/200", "192.0.2.1", dict)
    office = Facts({}, "/httpbin/1.0.0/status/200?debug=1", "10.0.0.7", dict)
    assert (first.applies(gold), second.applies(gold)) == (True, False)
    assert (first.applies(office), second.applies(office)) == (False, True)
    trial = Facts(
        {}, "/httpbin/1.0.0/status/200", "192.0.2.1", lambda: {"http://wso2.org/claims/applicationname": "TrialApp"}
    )
    assert [g.applies(trial) for g in (first, second, third)] == [False, False, True]
    trial_office = Facts(
        {}, "/httpbin/1.0.0/status/200", "192.0.2.10", lambda: {"http://wso2.org/claims/applicationname": "TrialApp"}
    )
    assert third.applies(trial_office) is False
    creates = [e for _, kind, e in double.events if kind == "POLICY_CREATE" and e["policyType"] == "API"]
    assert [(e["policyName"], len(e["addedConditionGroupIds"])) for e in creates] == [("GoldPlanHeader", 3)]


def test_the_bandwidth_tier_and_the_soft_tier_reach_the_adapter_as_declared(converged) -> None:
    """What the adapter reads of the two tiers (the internal data API), and how its catalog enforces them."""
    double, _, _, _ = converged
    [five_megs] = internal(double, "subscription-policies", policyName="FiveMegs")
    assert five_megs["defaultLimit"] == {"quotaType": "bandwidthVolume", "bandwidth": {
        "dataAmount": 5, "dataUnit": "MB", "unitTime": 1, "timeUnit": "min"},
        "requestCount": None, "eventCount": None, "aiApiQuota": None}  # the other kinds: null # fmt: skip
    burst_and_stop = (five_megs["rateLimitCount"], five_megs["rateLimitTimeUnit"], five_megs["stopOnQuotaReach"])
    assert burst_and_stop == (10, "sec", True)
    [soft] = internal(double, "subscription-policies", policyName="SoftHundred")
    assert soft["defaultLimit"]["requestCount"] == {"requestCount": 100, "unitTime": 1, "timeUnit": "min"}
    assert (soft["rateLimitCount"], soft["rateLimitTimeUnit"], soft["stopOnQuotaReach"]) == (5, "sec", False)
    built = catalog.build({"subscriptionPolicies": internal(double, "subscription-policies")}, lenient=True)
    megs = built.subscription_policies["FiveMegs"]
    assert (megs.limit, megs.burst, megs.stop_on_quota_reach) == (Limit(5 << 20, 60, data=True), Limit(10, 1), True)
    # A soft tier counts and lets requests through; APIM's ThrottleHandler spares it burst control too.
    soft_tier = built.subscription_policies["SoftHundred"]
    assert (soft_tier.limit, soft_tier.burst, soft_tier.stop_on_quota_reach) == (Limit(100, 60), None, False)
    assert built.subscription_policies["Tiny"].limit == Limit(5, 60)
    # Each was published as APIM's SubscriptionPolicyEvent: no limit in it, the adapter reads that from the data API.
    creates = [e for _, kind, e in double.events if kind == "POLICY_CREATE" and e["policyType"] == "SUBSCRIPTION"]
    assert [(e["policyName"], e["quotaType"], e["rateLimitCount"], e.get("rateLimitTimeUnit"), e["stopOnQuotaReach"])
            for e in creates] == [("Tiny", "requestCount", 0, None, True),
                                  ("TenMegs", "bandwidthVolume", 20, "sec", True),
                                  ("GraphQLGold", "requestCount", 0, None, True),
                                  ("FiveMegs", "bandwidthVolume", 10, "sec", True),
                                  ("SoftHundred", "requestCount", 5, "sec", False)]  # fmt: skip
    assert not [e for e in creates if "defaultLimit" in e]


def test_the_application_policy_is_created_and_limits_each_user_of_the_application_naming_it(converged, session):
    """The declared application policy in the admin API, the subscribed application on it, and what the adapter
    reads of both (the internal data API): a quota and a burst for each user of the application, as APIM's gateway
    keys them (applicationId:authorizedUser)."""
    double, _, _, _ = converged
    listed = session.get(f"{double.url}{ADMIN}/throttling/policies/application").json()["list"]
    # APIM's own four, and the role's.
    assert [p["policyName"] for p in listed] == ["50PerMin", "20PerMin", "10PerMin", "Unlimited", "PerUserHundred"]
    [mine] = [p for p in listed if p["policyName"] == PER_USER["name"]]
    policy = session.get(f"{double.url}{ADMIN}/throttling/policies/application/{mine['policyId']}").json()
    assert (policy["description"], policy["defaultLimit"], policy["burstLimit"]) == (
        PER_USER["description"],
        {
            "type": "REQUESTCOUNTLIMIT",
            "requestCount": {"requestCount": 100, "unitTime": 1, "timeUnit": "min"},
            "bandwidth": None,
            "eventCount": None,
            "aiApiQuota": None,
        },
        {"rateLimitCount": 10, "rateLimitTimeUnit": "sec"},
    )
    apps = {a["name"]: a for a in session.get(double.url + DEVPORTAL + "/applications").json()["list"]}
    assert {name: a["throttlingPolicy"] for name, a in apps.items()} == {
        "SubscribedApp": "PerUserHundred", "ThrottledApp": "Unlimited", "UnsubscribedApp": "Unlimited",
        "StandardApp": "Unlimited"}  # fmt: skip
    [served] = internal(double, "application-policies", policyName=PER_USER["name"])
    assert (served["quotaType"], served["defaultLimit"], served["burstLimit"]) == (
        "requestCount",
        {
            "quotaType": "requestCount",
            "requestCount": {"requestCount": 100, "unitTime": 1, "timeUnit": "min"},
            "bandwidth": None,
            "eventCount": None,
            "aiApiQuota": None,
        },
        {"rateLimitCount": 10, "rateLimitTimeUnit": "sec"},
    )
    built = catalog.build({"applications": internal(double, "applications"),
                           "applicationPolicies": internal(double, "application-policies")}, lenient=True)  # fmt: skip
    [app] = [a for a in built.applications.values() if a.name == "SubscribedApp"]
    per_user = built.application_policies[app.policy]
    assert (per_user.limit, per_user.burst) == (Limit(100, 60), Limit(10, 1))
    alice, bob = (decision.application_counters(built, app, user) for user in ("alice", "bob"))
    assert [(c.limit, c.error) for c in alice] == [(Limit(100, 60), errors.THROTTLED_APPLICATION),
                                                   (Limit(10, 1), errors.BURST_APPLICATION)]  # fmt: skip
    assert {c.key for c in alice}.isdisjoint(c.key for c in bob)  # each user has the whole tier
    # Published as APIM's ApplicationPolicyEvent, which names the policy for the adapter to pull (no limit in it).
    [create] = [e for _, kind, e in double.events if kind == "POLICY_CREATE" and e["policyType"] == "APPLICATION"]
    assert create == {"policyId": served["id"], "policyName": "PerUserHundred", "quotaType": "requestCount",
                      "rateLimitCount": 10, "rateLimitTimeUnit": "sec", "policyType": "APPLICATION"}  # fmt: skip


def refused_run(double, extra, tmp_path, **changed) -> tuple[str, list]:
    """A run with the converged variables, `changed` laid over them, that must fail: its output and what the double
    answered during it."""
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps({**json.loads(extra.read_text()), **changed}))
    path.chmod(0o600)
    answered = len(double.responses)
    result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e", f"@{path}",
                         env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    assert result.returncode != 0
    return result.stdout, double.responses[answered:]


def refused_before_apim(double, extra, tmp_path, **changed) -> str:
    """A run that must fail before APIM is called: its output."""
    stdout, answers = refused_run(double, extra, tmp_path, **changed)
    assert answers == []
    return stdout


def test_a_policy_declared_with_two_limits_stops_the_role_before_it_calls_apim(converged, tmp_path) -> None:
    double, _, _, extra = converged
    both = {**FIVE_MEGS, "name": "Both", "request_count": 100}
    policies = [*json.loads(extra.read_text())["apim_setup_subscription_policies"], both]
    stdout = refused_before_apim(double, extra, tmp_path, apim_setup_subscription_policies=policies)
    assert ("Subscription policy Both: a limit is either request_count or, for a bandwidth limit, data_amount with "
            "data_unit (KB or MB), exactly one of the two.") in stdout, stdout[-4000:]  # fmt: skip


def test_a_form_body_requiring_fields_stops_the_role_before_it_calls_apim(converged, tmp_path) -> None:
    """With Schema Validation on, a declared form body whose schema requires fields would have APIM refuse every form
    request to the resource (its validator reads the form written as JSON: axis2_forms.py): the role stops, naming
    the API, the resource and the fields (a JSON body requiring the same fields is not named) — here on one of the
    further REST APIs (apim_setup_apis), which the role checks as it does apim_setup_api."""
    double, _, _, extra = converged
    [api] = dev_further_apis()
    order = {"type": "object", "required": ["order", "note"], "properties": {"order": {"type": "integer"}}}
    form = {"target": "/anything/forms", "verb": "post", "request_body": {"content": {
        "application/json": {"schema": order},
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8": {"schema": order}}}}  # fmt: skip
    stdout = refused_before_apim(double, extra, tmp_path, apim_setup_apis=[
        {**api, "schema_validation": True, "resources": [*api["resources"], form]}])  # fmt: skip
    assert ("The resources of the API LimitedAPI: POST /anything/forms requires order, note. APIM's Schema "
            "Validation") in stdout, stdout[-4000:]  # fmt: skip


def dev_further_apis() -> list[dict]:
    """inventories/dev's apim_setup_apis (its templates left for Ansible to render): LimitedAPI."""
    return yaml.safe_load((ROOT / "inventories/dev/group_vars/all/wso2.yml").read_text())["apim_setup_apis"]


def test_apis_sharing_a_name_or_a_context_stop_the_role_before_it_calls_apim(converged, tmp_path) -> None:
    """APIM refuses a new API whose name another API has in any case, or whose context another API or API Product
    has (PublisherCommonUtils.prepareToCreateAPIByDTO), after everything before it was sent: the role stops first,
    listing the names and contexts."""
    double, _, _, extra = converged
    [api] = dev_further_apis()
    for clash in ({"name": "httpbinapi"}, {"context": "/Bundle"}):
        stdout = refused_before_apim(double, extra, tmp_path, apim_setup_apis=[{**api, **clash}])
        named = "each need a name of their own, and they and the API Products a context of their own"
        assert named in stdout, stdout[-4000:]


def test_a_subscription_to_an_undeclared_rest_api_or_tier_stops_the_role_before_it_calls_apim(
    converged, tmp_path
) -> None:
    double, _, _, extra = converged
    apps = json.loads(extra.read_text())["apim_setup_applications"]
    for subscription in ({"api": "OrdersAPI", "tier": "Gold"}, {"api": "LimitedAPI", "tier": "Platinum"}):
        changed = {**apps, "subscribed": {**apps["subscribed"], "api_subscriptions": [subscription]}}
        stdout = refused_before_apim(double, extra, tmp_path, apim_setup_applications=changed)
        assert (f"Application subscribed subscribes to {subscription['api']} on {subscription['tier']}: "
                "api_subscriptions name APIs of apim_setup_apis (LimitedAPI)") in stdout, stdout[-4000:]  # fmt: skip


def test_a_deployment_on_a_vhost_apims_environment_lacks_stops_the_role_before_it_changes_anything(
    converged, tmp_path
) -> None:
    """APIM refuses a revision deployed on a vhost its gateway environment does not have (400 900512), once the
    revision is made: the role reads APIM's environments first (Publisher GET /settings) and stops, naming them."""
    double, _, _, extra = converged
    api = {**json.loads(extra.read_text())["apim_setup_api"], "vhost": "localhost"}
    stdout, answers = refused_run(double, extra, tmp_path, apim_setup_api=api)
    said = " ".join(stdout.split())  # the callback folds long messages
    assert ("APIM's gateway environment Default has the vhosts api.istio-apim.local, not localhost (its environments: "
            "Default): set the API's vhost (or gateway_environment) to one of them.") in said, said[-3000:]  # fmt: skip
    asked = [s.operation for s in answers if s.operation is not None]
    assert asked[-1] == ("publisher", "/settings", "get")  # the last thing asked
    assert [operation for operation in asked if operation[2] != "get"] == []  # nothing changed


def test_a_scope_apim_does_not_grant_stops_the_role_naming_it(converged, tmp_path) -> None:
    """APIM drops a requested scope the user's roles are not mapped to, without an error (SystemScopesIssuer), and
    then answers the calls needing it 401: the role checks the token's scopes and stops, naming the one missing. The
    double's admin holds every scope the product APIs declare, so the role is made to ask for one none declares."""
    double, _, _, extra = converged
    stdout, answers = refused_run(double, extra, tmp_path,
                                  _apim_setup_scopes="apim:api_view apim:api_create apim:not_declared")  # fmt: skip
    said = " ".join(stdout.split())
    assert ("APIM did not grant admin the scopes apim:not_declared: it grants only the scopes the user's roles are "
            "mapped to (Admin Portal, Settings, Scope Assignments).") in said, said[-3000:]  # fmt: skip
    asked = [s.operation for s in answers if s.operation is not None]
    assert [operation for operation in asked if operation[2] != "get"] == []  # nothing changed


PRODUCT = "HttpbinBundle"  # inventories/dev apim_setup_api_products
PRODUCT_OPERATIONS = [("GET", "/ip"), ("GET", "/status/{status_code}")]


def product_of(double: ApimDouble, session: requests.Session) -> dict:
    """The one API Product, as the Publisher answers it."""
    [listed] = session.get(double.url + PUBLISHER + "/api-products").json()["list"]
    return session.get(f"{double.url}{PUBLISHER}/api-products/{listed['id']}").json()


def test_the_api_product_is_created_deployed_published_and_subscribed_by_its_application(converged, session) -> None:
    """inventories/dev's HttpbinBundle: the API's two resources at /bundle, published, a revision recording the
    declaration deployed to the API's environment, and StandardApp, the secured flow's standard client, subscribed
    on Silver; APIM told the gateways as it does for a product (DEPLOY_API_IN_GATEWAY with `prod` as provider)."""
    double, _, _, _ = converged
    product = product_of(double, session)
    assert (product["name"], product["version"], product["context"], product["state"]) == (
        PRODUCT, "1.0.0", "/bundle", "PUBLISHED")  # fmt: skip
    api_id = double.data["apis"][0]["uuid"]
    assert [(a["apiId"], sorted((o["verb"], o["target"]) for o in a["operations"])) for a in product["apis"]] == [
        (api_id, PRODUCT_OPERATIONS)]  # fmt: skip
    assert product["policies"] == ["Silver", "Unlimited"]
    url = f"{double.url}{PUBLISHER}/api-products/{product['id']}"
    deployments = session.get(url + "/deployments").json()
    assert [(d["name"], d["vhost"], d["status"]) for d in deployments] == [
        ("Default", "api.istio-apim.local", "APPROVED")]  # fmt: skip
    [revision] = session.get(url + "/revisions").json()["list"]
    assert revision["description"].startswith("Deployed by the apim_setup role: HttpbinBundle 1.0.0, declared state ")
    apps = {a["name"]: a["applicationId"] for a in session.get(double.url + DEVPORTAL + "/applications").json()["list"]}
    for name, app_id in apps.items():
        subs = session.get(double.url + DEVPORTAL + "/subscriptions", params={"applicationId": app_id}).json()
        on_product = [
            (s["apiId"], s["throttlingPolicy"], s["status"]) for s in subs["list"] if s["apiId"] == product["id"]
        ]
        assert on_product == ([(product["id"], "Silver", "UNBLOCKED")] if name == "StandardApp" else []), name
    events = [(kind, event) for _, kind, event in double.events if event.get("uuid") == product["id"]]
    assert [kind for kind, _ in events] == ["DEPLOY_API_IN_GATEWAY", "API_LIFECYCLE_CHANGE"]
    deployed = events[0][1]
    assert (deployed["provider"], deployed["apiType"], deployed["gatewayLabels"], deployed["context"]) == (
        "prod", "APIProduct", ["Default"], "/bundle/1.0.0")  # fmt: skip


def adapter_on(double: ApimDouble, ca, tmp_path) -> InProcess:
    """The adapter on the catalog its wso2 control plane pulls from the double for Default (Wso2ControlPlane.pull:
    the data API's lists, and each API's fields from the runtime artifact of its deployed revision, operation
    policies among them), each application's production key mapped to the in-process key manager as
    `client-<application name>` (harness/pipeline.py `token`)."""
    user_file, password_file = tmp_path / "user", tmp_path / "password"
    admin, password = double.admin_credentials
    user_file.write_text(admin)
    password_file.write_text(password)
    plane = {"type": "wso2", "url": double.url, "caBundle": str(ca), "gatewayLabel": "Default",
             "usernameFile": str(user_file), "passwordFile": str(password_file)}  # fmt: skip
    cfg = config.parse({"controlPlane": plane})
    assert isinstance(cfg.control_plane, config.ControlPlaneWso2)
    control_plane = Wso2ControlPlane(cfg.control_plane, cfg)

    async def pull() -> dict:
        try:
            return (await control_plane.pull()).document(time.time())
        finally:
            await control_plane.api.close()

    doc = asyncio.run(pull())
    names = {a["uuid"]: a["name"] for a in doc["applications"]}
    doc["applicationKeyMappings"] = [
        {**m, "consumerKey": f"client-{names[m['applicationUUID']]}", "keyManager": KM}
        for m in doc["applicationKeyMappings"] if m["keyManager"] == KEY_MANAGER
    ]  # fmt: skip
    return InProcess(doc)


def test_the_catalog_the_adapter_pulls_serves_the_product_to_its_subscriber_only(converged, tmp_path) -> None:
    """What the adapter reads from the double's internal data API afterwards: the product as one more API (its
    context, the bundled resources with their scopes, the bundled API's uuid in its revision), StandardApp's
    subscription to it; and the secured flow's product rows decided on that catalog: the standard client reaches
    /bundle/1.0.0/status/200, the API's subscriber gets 403 900908."""
    double, ca, _, _ = converged
    [row] = [r for r in internal(double, "apis", gatewayLabel="Default") if r["apiType"] == "APIProduct"]
    assert (row["name"], row["context"], row["isDefaultVersion"], row["status"]) == (
        PRODUCT, "/bundle/1.0.0", True, "PUBLISHED")  # fmt: skip
    assert {(m["httpMethod"], m["urlPattern"]): m["scopes"] for m in row["urlMappings"]} == {
        ("GET", "/ip"): ["scope_ip"], ("GET", "/status/{status_code}"): []}  # fmt: skip
    [item] = [a for a in double.data["apis"] if a["uuid"] == row["uuid"]]
    assert item["_bundledApis"] == [double.data["apis"][0]["uuid"]]
    standard = next(a["uuid"] for a in double.data["applications"] if a["name"] == "StandardApp")
    subscribed = [(s["applicationUUID"], s["policyId"]) for s in internal(double, "subscriptions")
                  if s["apiUUID"] == row["uuid"]]  # fmt: skip
    assert subscribed == [(standard, "Silver")]
    adapter = adapter_on(double, ca, tmp_path)
    allowed = adapter.check("/bundle/1.0.0/status/200", token("StandardApp", ""))
    assert allowed.allowed, allowed.reason
    assert (allowed.api.name, allowed.api.api_type, allowed.tier) == (PRODUCT, "APIProduct", "Silver")
    refused = adapter.check("/bundle/1.0.0/status/200", token("SubscribedApp", ""))
    assert (refused.status, refused.code) == (403, "900908")
    assert adapter.check("/httpbin/1.0.0/status/200", token("SubscribedApp", "")).allowed
    not_taken = adapter.check("/bundle/1.0.0/get", token("StandardApp", ""))
    assert not not_taken.allowed


def test_the_body_reading_policies_reach_the_adapter_and_answer_the_flows_rows(converged, tmp_path) -> None:
    """inventories/dev's Regex Policy, JSON Validator and XML Validator on POST /anything/{segment} (where apim_setup
    creates the API), as the adapter's wso2 control plane reads them from the revision the role deployed, decide the
    kind secured flow's rows: each first body passes to the backend, each second is 400 with the description its row
    expects (roles/secured_flow/vars/main.yml; the XML Validator's followed by Woodstox's location), with the body as
    the gateway includes it (istio.yml)."""
    double, ca, _, _ = converged
    adapter = adapter_on(double, ca, tmp_path)
    regex, json_validator, xml_validator = dev_inventory_vars(
        tmp_path, "secured_flow_regex_policy", "secured_flow_json_validator", "secured_flow_xml_validator",
        api_from_service=False)  # fmt: skip
    resource = adapter.check(f"/httpbin/1.0.0{json_validator['path']}", token("SubscribedApp", ""), "POST").resource
    assert resource is not None
    # APIM's Schema Validation (inventories/dev turns it on) first, as its handler runs before the API's policies.
    assert [type(c) for c in resource.access_checks] == [SchemaCheck, ThreatCheck, JsonCheck, XmlCheck]
    assert resource.access_checks[2].limits.max_string_length == json_validator["max_string_length"] == 64

    def answer(path: str, body: dict | str) -> decision.Decision:
        return posted(adapter, f"/httpbin/1.0.0{path}", body)

    for flow, bodies, description in (
        (regex, ("clean_body", "threat_body"), "SQL-Injection Threat detected in Payload"),
        (json_validator, ("within_limits_body", "past_limit_body"),
         "Request is failed due to a JSON schema validation failure: Max String Length [64] Reached"),
        (xml_validator, ("plain_body", "entity_body"),
         f'XML Validation Failed: due to Undeclared general entity "{xml_validator["entity"]}"\n at '),
    ):  # fmt: skip
        allowed, refused = (answer(flow["path"], flow[name]) for name in bodies)
        assert allowed.allowed, allowed.reason
        assert (refused.status, refused.code) == (400, "400")
        if flow is xml_validator:
            assert refused.error.description.startswith(description), refused.error.description
        else:
            assert refused.error.description == description


def posted(adapter: InProcess, path: str, body: dict | str, anonymous: bool = False) -> decision.Decision:
    """The adapter's answer to the subscribed application (`anonymous`: a caller without a credential) POSTing `body`
    to `path` as Ansible's uri module sends it (body_format json, or an XML string as it is), the body included in
    the check as the gateway includes it."""
    content_type, sent = (("application/xml", body.encode()) if isinstance(body, str)
                          else ("application/json", json.dumps(body).encode()))  # fmt: skip
    request = adapter.request(path, None if anonymous else token("SubscribedApp", ""), "POST",
                              **{"content-type": content_type, "content-length": str(len(sent))})  # fmt: skip
    return asyncio.run(adapter.decide(dataclasses.replace(
        request, size=len(sent), body=RequestBody(sent, True, content_type))))  # fmt: skip


def test_schema_validation_reaches_the_adapter_and_answers_the_flows_row(converged, session, tmp_path) -> None:
    """inventories/dev's Schema Validation (where apim_setup creates the API): the role wrote the request body and
    the query parameter its resources declare into APIM's definition, leaving APIM's scopes and policies in it, and
    the adapter, reading the definition and enableSchemaValidation from the revision the role deployed, answers the
    kind secured flow's row: the order passes, the one whose `order` is a string is 400 with the validator's
    message; /ip still needs its scope, and the path rewrite's declared `page` passes where another query does not."""
    double, ca, _, _ = converged
    [flow] = dev_inventory_vars(tmp_path, "secured_flow_schema_validation", api_from_service=False)
    [api] = session.get(double.url + PUBLISHER + "/apis", params={"query": 'name:"HttpbinAPI"'}).json()["list"]
    full = session.get(f"{double.url}{PUBLISHER}/apis/{api['id']}").json()
    assert full["enableSchemaValidation"] is True
    definition = session.get(f"{double.url}{PUBLISHER}/apis/{api['id']}/swagger").json()
    posting = definition["paths"]["/anything/{segment}"]["post"]
    assert posting["requestBody"]["content"]["application/json"]["schema"]["required"] == ["order"]
    assert posting["x-throttling-tier"] == "Unlimited"
    assert [(p["name"], p["in"]) for p in definition["paths"]["/legacy/orders"]["get"]["parameters"]] == [
        ("page", "query")]  # fmt: skip
    assert {op["target"]: op["scopes"] for op in full["operations"]}["/ip"] == ["scope_ip"]
    assert {op["target"]: bool((op.get("operationPolicies") or {}).get("request")) for op in full["operations"]}[
        "/anything/{segment}"]  # fmt: skip

    adapter = adapter_on(double, ca, tmp_path)
    valid, invalid = (posted(adapter, flow["context"] + flow["path"], flow[name])
                      for name in ("valid_body", "invalid_body"))  # fmt: skip
    assert valid.allowed, valid.reason
    assert (invalid.status, invalid.code) == (400, "400")
    assert invalid.error.description == f"Schema validation failed in the Request: {flow['message']}, "
    scoped = adapter.check("/httpbin/1.0.0/ip", token("SubscribedApp", ""))
    assert (scoped.status, scoped.code) == (403, "900910")
    paged = adapter.check("/httpbin/1.0.0/legacy/orders?page=2", token("SubscribedApp", ""))
    assert paged.allowed, paged.reason
    sorted_ = adapter.check("/httpbin/1.0.0/legacy/orders?sort=asc", token("SubscribedApp", ""))
    assert (sorted_.status, sorted_.code) == (400, "400")
    assert "Query parameter 'sort' is unexpected" in sorted_.error.description


def test_the_path_rewrite_reaches_the_adapter_and_answers_the_flows_row(converged, tmp_path) -> None:
    """inventories/dev's Rewrite Resource Path and Change HTTP Method on GET /legacy/orders (where apim_setup creates
    the API), as the adapter's wso2 control plane reads them from the revision the role deployed (the parameters as
    the role sends them, strings), send the backend where the kind secured flow's row expects: the method, and the
    path below the context called, the client's query following it per call (the gRPC transport's)."""
    double, ca, _, _ = converged
    adapter = adapter_on(double, ca, tmp_path)
    [flow] = dev_inventory_vars(tmp_path, "secured_flow_path_rewrite", api_from_service=False)
    called = f"/httpbin/1.0.0{flow['path']}?{flow['query']}"
    allowed = adapter.check(called, token("SubscribedApp", ""))
    assert allowed.allowed, allowed.reason
    assert allowed.resource is not None
    assert allowed.resource.mediation is not None
    assert allowed.resource.mediation.path == PathChange(flow["backend_path"], keep_query=True)
    assert allowed.resource.mediation.method == flow["backend_method"]
    assert allowed.backend_path == "/httpbin/1.0.0" + flow["backend_path"]  # the route maps the context to httpbin's /


# A CORS configuration the product declares (apim_setup_api_products[].cors): methods and credentials left out.
PRODUCT_CORS = {"allow_origins": ["https://bundle.example.com"], "allow_headers": ["x-trace", "content-type"]}
# ... as APIM then stores it: enabled, every field written, the lists as sent.
PRODUCT_CORS_IN_APIM = {"corsConfigurationEnabled": True, "accessControlAllowOrigins": ["https://bundle.example.com"],
                        "accessControlAllowCredentials": False,
                        "accessControlAllowHeaders": ["x-trace", "content-type"],
                        "accessControlAllowMethods": []}  # fmt: skip


def run_apim_setup(variables_file) -> str:
    """The apim_setup playbook run once more with the dev inventory and these variables; its output."""
    result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e",
                         f"@{variables_file}", env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


@pytest.fixture(scope="module")
def product_changed_runs(converged, session, tmp_path_factory):
    """Before the runs that change the rest of the inventory: the product with GET /get added to its operations and
    PRODUCT_CORS declared, run twice, then the inventory as it was, once. The runs' output, and the product (its id,
    its revisions, what the data API served for it, its CORS configuration in the Publisher and in the deployed
    revision's runtime artifact) after the changed runs and after the last."""
    double, _, _, extra = converged
    variables = json.loads(extra.read_text())
    products = yaml.safe_load((ROOT / "inventories/dev/group_vars/all/wso2.yml").read_text())["apim_setup_api_products"]
    products[0]["operations"].append({"target": "/get", "verb": "GET"})
    products[0]["cors"] = PRODUCT_CORS
    path = tmp_path_factory.mktemp("product-changed") / "product-changed.json"
    path.write_text(json.dumps(variables | {"apim_setup_api_products": products}))
    path.chmod(0o600)

    def state() -> dict:
        product = product_of(double, session)
        [row] = [r for r in internal(double, "apis", gatewayLabel="Default") if r["apiType"] == "APIProduct"]
        revisions = session.get(f"{double.url}{PUBLISHER}/api-products/{product['id']}/revisions").json()["list"]
        return {"id": product["id"], "state": product["state"],
                "operations": sorted((o["verb"], o["target"]) for a in product["apis"] for o in a["operations"]),
                "served": sorted((m["httpMethod"], m["urlPattern"]) for m in row["urlMappings"]),
                "deployed": [r["description"] for r in revisions if r["deploymentInfo"]],
                "revisions": len(revisions), "cors": product["corsConfiguration"],
                "deployed_cors": deployed_cors(double, product["id"])["corsConfiguration"]}  # fmt: skip

    before = state()
    changed = [run_apim_setup(path), run_apim_setup(path)]
    after_change = state()
    restored = run_apim_setup(extra)
    return before, changed, after_change, restored, state()


def test_a_changed_operation_list_updates_the_product_and_deploys_a_revision_of_it(converged, product_changed_runs):
    """The product is updated in place (same id, still published), a revision of the new declaration deployed, and
    the gateways' catalog serves the added resource; the next run changes nothing. Back to the inventory as it was,
    the product loses the resource again, in one more revision (the role's first one is no longer deployed)."""
    double, _, _, _ = converged
    before, [first, second], after_change, restored, after_restore = product_changed_runs
    assert recap(first)["changed"] == 3, first[-4000:]  # updated, a revision created and deployed
    assert recap(second)["changed"] == 0, [b.splitlines()[0] for b in second.split("TASK [") if "changed:" in b]
    assert (after_change["id"], after_change["state"]) == (before["id"], "PUBLISHED")
    assert after_change["operations"] == after_change["served"] == sorted([*PRODUCT_OPERATIONS, ("GET", "/get")])
    assert after_change["revisions"] == before["revisions"] + 1
    assert after_change["deployed"] != before["deployed"]
    assert recap(restored)["changed"] == 3, restored[-4000:]
    assert after_restore["operations"] == after_restore["served"] == PRODUCT_OPERATIONS
    assert after_restore["deployed"] == before["deployed"]  # the same declaration, recorded alike
    assert after_restore["revisions"] == before["revisions"] + 2
    updates = [r for r in double.responses if r.operation == ("publisher", "/api-products/{apiProductId}", "put")]
    assert [r.status for r in updates] == [200, 200]
    kinds = [kind for _, kind, event in double.events if event.get("uuid") == before["id"]]
    assert (kinds.count("API_UPDATE"), kinds.count("DEPLOY_API_IN_GATEWAY")) == (2, 3)


def test_a_products_declared_cors_configuration_is_deployed_and_left_as_it_is_once_no_longer_declared(
    product_changed_runs,
) -> None:
    """The product had APIM's default (none declared); PRODUCT_CORS declared, the Publisher and the deployed
    revision's runtime artifact (what the adapter reads) have it, the fields left out filled in, and the run after
    changed nothing (test_a_changed_operation_list_...). The inventory as it was declares none again: the role does
    not manage it then, so the product keeps it, and the revision recording that declaration has the digest the
    first one had (what is undeclared does not count in it)."""
    before, _, after_change, _, after_restore = product_changed_runs
    assert before["cors"] == before["deployed_cors"] == apim_rest.default_cors_configuration()
    assert after_change["cors"] == after_change["deployed_cors"] == PRODUCT_CORS_IN_APIM
    assert after_restore["cors"] == after_restore["deployed_cors"] == PRODUCT_CORS_IN_APIM
    assert after_restore["deployed"] == before["deployed"]


GRAPHQL_API = "StarWarsAPI"  # inventories/dev apim_setup_graphql_apis
STARWARS_SCHEMA = (ROOT / "inventories/starwars.graphql").read_text().rstrip("\n")  # as lookup('file') reads it
GRAPHQL_OPERATIONS = [("MUTATION", "addHero", ["scope_admin"]), ("QUERY", "hero", []), ("QUERY", "heroes", []),
                      ("QUERY", "secret", ["scope_secret"])]  # fmt: skip


def graphql_api_of(double: ApimDouble, session: requests.Session) -> dict:
    """The Publisher's APIDTO of the GraphQL API, with its schema as `schema` and its complexity values."""
    [listed] = session.get(double.url + PUBLISHER + "/apis", params={"query": f'name:"{GRAPHQL_API}"'}).json()["list"]
    url = f"{double.url}{PUBLISHER}/apis/{listed['id']}"
    return session.get(url).json() | {
        "schema": session.get(url + "/graphql-schema").json()["schemaDefinition"],
        "complexity": session.get(url + "/graphql-policies/complexity").json()["list"],
        "deployed": [d["revisionUuid"] for d in session.get(url + "/deployments").json() if d["name"] == "Default"],
        "revisions": session.get(url + "/revisions").json()["list"]}  # fmt: skip


def test_the_graphql_api_is_created_from_its_schema_deployed_published_and_subscribed(converged, session) -> None:
    """inventories/dev's StarWarsAPI: created through import-graphql-schema with the declared operations, scopes
    and complexity values, a revision recording the declaration deployed to Default, published; SubscribedApp
    subscribed on GraphQLGold, a tier whose GraphQL depth limit the role set; the data API serves the API with one
    URL mapping per operation (verb and field), as APIM's gateways and the adapter read it."""
    double, _, _, _ = converged
    api = graphql_api_of(double, session)
    assert (api["type"], api["context"], api["version"], api["lifeCycleStatus"]) == (
        "GRAPHQL", "/starwars", "1.0.0", "PUBLISHED")  # fmt: skip
    assert sorted((o["verb"], o["target"], o["scopes"]) for o in api["operations"]) == GRAPHQL_OPERATIONS
    assert api["schema"].replace("\r\n", "\n") == STARWARS_SCHEMA
    assert api["complexity"] == [{"type": "Character", "field": "friends", "complexityValue": 2}]
    [deployed] = [r for r in api["revisions"] if r["id"] in api["deployed"]]
    assert deployed["description"].startswith(f"Deployed by the apim_setup role: {GRAPHQL_API} 1.0.0, declared state ")
    [row] = [r for r in internal(double, "apis", gatewayLabel="Default") if r["name"] == GRAPHQL_API]
    assert (row["apiType"], row["context"]) == ("GRAPHQL", "/starwars/1.0.0")
    assert sorted((m["httpMethod"], m["urlPattern"], m["scopes"]) for m in row["urlMappings"]) == GRAPHQL_OPERATIONS
    apps = {a["uuid"]: a["name"] for a in double.data["applications"]}
    subscribed = [(apps[s["applicationUUID"]], s["policyId"]) for s in internal(double, "subscriptions")
                  if s["apiUUID"] == row["uuid"]]  # fmt: skip
    assert subscribed == [("SubscribedApp", "GraphQLGold")]
    [tier] = [p for p in internal(double, "subscription-policies") if p["name"] == "GraphQLGold"]
    assert (tier["graphQLMaxDepth"], tier["graphQLMaxComplexity"]) == (3, 0)


def test_a_further_rest_api_is_created_deployed_published_and_subscribed(converged, session) -> None:
    """inventories/dev's LimitedAPI (apim_setup_apis): created through the Publisher API with its declared backend
    throughput, a revision recording its declaration deployed to Default, published, SubscribedApp subscribed on
    Gold; the data API serves it to gateways with its resource."""
    double, _, _, _ = converged
    [listed] = session.get(double.url + PUBLISHER + "/apis", params={"query": 'name:"LimitedAPI"'}).json()["list"]
    url = f"{double.url}{PUBLISHER}/apis/{listed['id']}"
    api = session.get(url).json()
    assert (api["type"], api["context"], api["version"], api["lifeCycleStatus"]) == (
        "HTTP", "/limited", "1.0.0", "PUBLISHED")  # fmt: skip
    assert (api["maxTps"]["production"], api["maxTps"]["productionTimeUnit"]) == (2, "MINUTE")
    deployed = [d["revisionUuid"] for d in session.get(url + "/deployments").json() if d["name"] == "Default"]
    [revision] = [r for r in session.get(url + "/revisions").json()["list"] if r["id"] in deployed]
    assert revision["description"].startswith("Deployed by the apim_setup role: LimitedAPI 1.0.0, declared state ")
    [row] = [r for r in internal(double, "apis", gatewayLabel="Default") if r["name"] == "LimitedAPI"]
    assert (row["apiType"], row["context"]) == ("HTTP", "/limited/1.0.0")
    assert [(m["httpMethod"], m["urlPattern"]) for m in row["urlMappings"]] == [("GET", "/*")]
    apps = {a["uuid"]: a["name"] for a in double.data["applications"]}
    subscribed = [(apps[s["applicationUUID"]], s["policyId"]) for s in internal(double, "subscriptions")
                  if s["apiUUID"] == row["uuid"]]  # fmt: skip
    assert subscribed == [("SubscribedApp", "Gold")]


def test_the_catalog_the_adapter_pulls_answers_the_flows_backend_throughput_row(converged, tmp_path) -> None:
    """The LimitedAPI as the adapter's wso2 control plane reads it from the revision the role deployed decides the
    kind secured flow's backend throughput row (inventories/dev secured_flow_backend_throughput, where mesh-sync
    routes APIs): the subscribed application's first `limit` calls of the minute pass, the next is 503 900801."""
    double, ca, _, _ = converged
    adapter = adapter_on(double, ca, tmp_path)
    [flow] = dev_inventory_vars(tmp_path, "secured_flow_backend_throughput", api_from_service=True)
    assert dev_inventory_vars(tmp_path, "secured_flow_backend_throughput", api_from_service=False) == [None]
    calls = [adapter.check(flow["context"] + "/get", token("SubscribedApp", "")) for _ in range(flow["limit"] + 1)]
    assert [(d.allowed, d.code) for d in calls] == [(True, "")] * flow["limit"] + [(False, "900801")]
    assert (calls[0].api.name, calls[0].tier, calls[-1].status) == ("LimitedAPI", "Gold", 503)


def test_the_catalog_the_adapter_pulls_answers_the_flows_graphql_rows(converged, tmp_path) -> None:
    """The GraphQL API as the adapter's wso2 control plane reads it from the revision the role deployed (its schema
    and complexity values from the revision's project, its operations from the data API) decides the kind secured
    flow's GraphQL rows (inventories/dev secured_flow_graphql, with the API from the httpbin Service, where mesh-sync
    routes its context): the first document passes, the one naming `secret` is 403 900910 naming the call's fields,
    the deep one 400 900820 with the tier's limit."""
    double, ca, _, _ = converged
    adapter = adapter_on(double, ca, tmp_path)
    [flow] = dev_inventory_vars(tmp_path, "secured_flow_graphql", api_from_service=True)
    assert dev_inventory_vars(tmp_path, "secured_flow_graphql", api_from_service=False) == [None]
    allowed = posted(adapter, flow["context"], {"query": flow["query"]})
    assert allowed.allowed, allowed.reason
    assert (allowed.api.name, allowed.tier) == (GRAPHQL_API, "GraphQLGold")
    unscoped = posted(adapter, flow["context"], {"query": flow["unscoped_query"]})
    assert (unscoped.status, unscoped.code) == (403, "900910")
    assert unscoped.error.description == (
        f"User is NOT authorized to access the Resource: {flow['unscoped_fields']}. Scope validation failed."
    )
    deep = posted(adapter, flow["context"], {"query": flow["deep_query"]})
    assert (deep.status, deep.code) == (400, "900820")
    assert deep.error.description == f"[maximum query depth exceeded {flow['depth']} > {flow['max_depth']}]"
    # The declared complexity values, what GraphQLGold's complexity limit would count with.
    [api] = [a for a in adapter.catalog.apis.values() if a.name == GRAPHQL_API]
    assert api.graphql is not None
    assert api.graphql.schema.complexity == {"Character": {"friends": 2}}


@pytest.fixture(scope="module")
def graphql_changed_runs(converged, session, tmp_path_factory):
    """The GraphQL API's schema gains a root field (droids) declared as an operation with a scope, `heroes` takes
    calls without a credential, and the API a backend throughput of one production call a minute, run once, then
    the inventory as it was, once. The runs' output, and the API (graphql_api_of) before, after the change and after
    the last run, with the decisions of the catalog the adapter pulled each time on a call of `droids`, on two calls
    of `hero` and on an anonymous call of `heroes`."""
    double, ca, _, extra = converged
    variables = json.loads(extra.read_text())
    apis = yaml.safe_load((ROOT / "inventories/dev/group_vars/all/wso2.yml").read_text())["apim_setup_graphql_apis"]
    apis[0]["schema"] = STARWARS_SCHEMA.replace("secret: String }", "secret: String droids: [Character] }")
    apis[0]["operations"].append({"target": "droids", "verb": "QUERY", "scopes": ["scope_secret"]})
    apis[0]["backend_throughput"] = {"production": 1, "production_time_unit": "MINUTE"}
    [heroes] = [op for op in apis[0]["operations"] if op["target"] == "heroes"]
    heroes["auth_type"] = "None"
    path = tmp_path_factory.mktemp("graphql-changed") / "graphql-changed.json"
    path.write_text(json.dumps(variables | {"apim_setup_graphql_apis": apis}))
    path.chmod(0o600)

    def state(name: str) -> dict:
        # The two calls of `hero` on one adapter, the others each on its own: the backend throughput counts every
        # call an adapter lets through.
        def call(query: str, adapter: InProcess | None = None, anonymous: bool = False) -> decision.Decision:
            adapter = adapter or adapter_on(double, ca, tmp_path_factory.mktemp(name))
            return posted(adapter, "/starwars/1.0.0", {"query": query}, anonymous)

        twice = adapter_on(double, ca, tmp_path_factory.mktemp(name))
        heroes = [call("{ hero { id } }", twice) for _ in range(2)]
        return graphql_api_of(double, session) | {
            "droids": call("{ droids { id } }"), "heroes": [(d.allowed, d.code) for d in heroes],
            "anonymous": call("{ heroes { id } }", anonymous=True)}  # fmt: skip

    before = state("before")
    changed = run_apim_setup(path)
    after_change = state("after-change")
    restored = run_apim_setup(extra)
    return before, changed, after_change, restored, state("after-restore")


def test_a_graphql_apis_declared_backend_throughput_is_deployed_and_left_as_it_is_once_no_longer_declared(
    graphql_changed_runs,
) -> None:
    """apim_setup_graphql_apis[].backend_throughput, as the REST API's: set in APIM and deployed, the adapter holds the
    API's production calls to it (the second call of the minute 503 900801); no longer declared, not managed: the API
    keeps it."""
    before, _, after_change, _, after_restore = graphql_changed_runs
    assert before.get("maxTps") is None
    assert before["heroes"] == [(True, ""), (True, "")]
    limited = {"production": 1, "sandbox": None, "productionTimeUnit": "MINUTE", "sandboxTimeUnit": "SECOND"}
    assert {k: after_change["maxTps"].get(k) for k in limited} == limited
    assert after_change["heroes"] == after_restore["heroes"] == [(True, ""), (False, "900801")]
    assert after_restore["maxTps"] == after_change["maxTps"]


def test_an_operation_declared_without_authentication_takes_anonymous_calls_and_only_while_declared(
    graphql_changed_runs,
) -> None:
    """apim_setup_graphql_apis[].operations[].auth_type None (as a REST resource's): APIM stores it, and the adapter
    reading the deployed revision lets a call of that field through without a credential (APIM's anonymous GraphQL
    call), where before it was 401 900902; back to the default, 401 again."""
    before, _, after_change, _, after_restore = graphql_changed_runs
    for state, expected in ((before, "Application & Application User"), (after_change, "None"),
                            (after_restore, "Application & Application User")):  # fmt: skip
        assert {o["target"]: o["authType"] for o in state["operations"]}["heroes"] == expected
    assert (before["anonymous"].status, before["anonymous"].code) == (401, "900902")
    assert after_change["anonymous"].allowed, after_change["anonymous"].reason
    assert (after_restore["anonymous"].status, after_restore["anonymous"].code) == (401, "900902")


def test_a_changed_schema_is_sent_its_new_field_scoped_as_declared_and_deployed(graphql_changed_runs) -> None:
    """APIM takes the new schema (and makes its new root field an operation without a scope, keeping the others');
    the role's update then gives the new operation its declared scope, and the revision it deploys carries both to
    the adapter: a call of `droids` is 403 900910 where it was refused as a field the schema lacks. Back to the
    inventory as it was, the field is gone again, and the revision recording that declaration has the digest the
    first one had."""
    before, changed, after_change, restored, after_restore = graphql_changed_runs
    assert (before["droids"].status, before["droids"].code) == (422, "900422")  # not in the schema
    # The schema, then the operations (APIM gave droids none of the scope declared), a revision created and deployed.
    assert recap(changed)["changed"] == 4, [b.splitlines()[0] for b in changed.split("TASK [") if "changed:" in b]
    assert after_change["id"] == before["id"]
    assert "droids: [Character]" in after_change["schema"]
    assert ("QUERY", "droids", ["scope_secret"]) in [(o["verb"], o["target"], o["scopes"])
                                                      for o in after_change["operations"]]  # fmt: skip
    assert (after_change["droids"].status, after_change["droids"].code) == (403, "900910")
    assert len(after_change["revisions"]) == len(before["revisions"]) + 1
    # The schema (APIM drops droids and keeps the other operations as they were), the operations (heroes's auth
    # type back to APIM's default), a revision created and deployed.
    assert recap(restored)["changed"] == 4, [b.splitlines()[0] for b in restored.split("TASK [") if "changed:" in b]
    assert after_restore["schema"].replace("\r\n", "\n") == STARWARS_SCHEMA
    assert sorted((o["verb"], o["target"], o["scopes"]) for o in after_restore["operations"]) == GRAPHQL_OPERATIONS
    assert (after_restore["droids"].status, after_restore["droids"].code) == (422, "900422")
    described = {r["id"]: r["description"] for r in after_restore["revisions"]}
    assert [described[i] for i in after_restore["deployed"]] == [described[i] for i in before["deployed"]]


@pytest.fixture(scope="module")
def changed_run(converged, session, tmp_path_factory):
    """A third run, with the inventory changed: ADVANCED's first group limited to 50, FiveMegs raised to 10 MB a
    minute without burst control, PER_USER's burst control alone changed (30 a minute: what the role compares of an
    application policy includes its burstLimit). The policies' ids before and after, by kind and name, the run's
    output, and its variables."""
    double, _, _, extra = converged
    changed_advanced = copy.deepcopy(ADVANCED)
    changed_advanced["condition_groups"][0]["request_count"] = 50
    ten_megs = {k: v for k, v in FIVE_MEGS.items() if k != "burst"} | {"data_amount": 10}
    variables = json.loads(extra.read_text())
    variables["apim_setup_advanced_policies"] = [changed_advanced]
    variables["apim_setup_subscription_policies"] = [*dev_subscription_policies(), ten_megs, SOFT]
    variables["apim_setup_application_policies"] = [PER_USER | {"burst": {"count": 30, "time_unit": "min"}}]
    path = tmp_path_factory.mktemp("changed") / "changed.json"
    path.write_text(json.dumps(variables))
    path.chmod(0o600)

    def policy_ids() -> dict[str, dict[str, str]]:
        return {kind: {p["policyName"]: p["policyId"] for p in
                       session.get(f"{double.url}{ADMIN}/throttling/policies/{kind}").json()["list"]}
                for kind in ("advanced", "subscription", "application")}  # fmt: skip

    before = policy_ids()
    result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e", f"@{path}",
                         env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:]
    return before, policy_ids(), result.stdout, path


def test_the_changed_policies_are_updated_in_place_and_nothing_else(converged, changed_run) -> None:
    """Last in this module with the next: they change the double. One update task of each kind changed, the
    policies kept their ids, and only the three changed policies were sent again (the runs before sent none)."""
    double, _, _, _ = converged
    before, after, stdout, _ = changed_run
    assert recap(stdout)["changed"] == 3, stdout[-4000:]
    assert after == before
    updates = [(s.operation[1], s.body["policyName"]) for s in double.responses
               if s.operation and s.operation[2] == "put" and s.operation[1].startswith("/throttling/")]  # fmt: skip
    assert updates == [("/throttling/policies/subscription/{policyId}", "FiveMegs"),
                       ("/throttling/policies/advanced/{policyId}", ADVANCED["name"]),
                       ("/throttling/policies/application/{policyId}", PER_USER["name"])]  # fmt: skip


def test_a_changed_advanced_policy_reaches_the_data_api(converged, changed_run) -> None:
    """APIM publishes POLICY_UPDATE with the new groups."""
    double, _, _, _ = converged
    [served] = internal(double, "api-policies", policyName=ADVANCED["name"])
    assert [g["defaultLimit"]["requestCount"]["requestCount"] for g in served["conditionGroups"]] == [50, 10, 5]
    [update] = [e for _, kind, e in double.events if kind == "POLICY_UPDATE" and e["policyType"] == "API"]
    assert update["addedConditionGroupIds"] == [g["conditionGroupId"] for g in served["conditionGroups"]]
    assert set(update["deletedConditionGroupIds"]).isdisjoint(update["addedConditionGroupIds"])


def test_a_changed_subscription_policy_reaches_the_data_api(converged, changed_run) -> None:
    """The new amount, and the burst control the inventory no longer declares gone, where the adapter reads them."""
    double, _, _, _ = converged
    [served] = internal(double, "subscription-policies", policyName="FiveMegs")
    assert served["defaultLimit"]["bandwidth"]["dataAmount"] == 10
    assert (served["rateLimitCount"], served.get("rateLimitTimeUnit")) == (0, None)
    built = catalog.build({"subscriptionPolicies": [served]}, lenient=True)
    assert (built.subscription_policies["FiveMegs"].limit, built.subscription_policies["FiveMegs"].burst) == (
        Limit(10 << 20, 60, data=True), None)  # fmt: skip
    [update] = [e for _, kind, e in double.events if kind == "POLICY_UPDATE" and e["policyType"] == "SUBSCRIPTION"]
    assert (update["policyName"], update["policyId"], update["rateLimitCount"]) == ("FiveMegs", served["id"], 0)


def test_a_changed_application_policy_reaches_the_data_api(converged, changed_run) -> None:
    """The new burst control, and the quota kept, where the adapter reads them; published as POLICY_UPDATE of the
    same policy."""
    double, _, _, _ = converged
    [served] = internal(double, "application-policies", policyName=PER_USER["name"])
    assert (served["defaultLimit"]["requestCount"]["requestCount"], served["burstLimit"]) == (
        100, {"rateLimitCount": 30, "rateLimitTimeUnit": "min"})  # fmt: skip
    built = catalog.build({"applicationPolicies": [served]}, lenient=True)
    per_user = built.application_policies[PER_USER["name"]]
    assert (per_user.limit, per_user.burst) == (Limit(100, 60), Limit(30, 60))
    [update] = [e for _, kind, e in double.events if kind == "POLICY_UPDATE" and e["policyType"] == "APPLICATION"]
    assert (update["policyName"], update["policyId"], update["rateLimitCount"], update["rateLimitTimeUnit"]) == (
        PER_USER["name"], served["id"], 30, "min")  # fmt: skip


# A CORS configuration the API declares (apim_setup_api.cors): one origin, with credentials, two methods in an order
# APIM keeps (the role compares them in any order), the headers left out (the global ones).
API_BACKEND_THROUGHPUT = {"production": 2, "production_time_unit": "HOUR", "sandbox": 1}
API_BACKEND_THROUGHPUT_IN_APIM = {"production": 2, "productionTimeUnit": "HOUR", "sandbox": 1,
                                  "sandboxTimeUnit": "SECOND"}  # fmt: skip
API_CORS = {"allow_origins": ["https://app.example.com"], "allow_methods": ["POST", "GET"], "allow_credentials": True}
API_CORS_IN_APIM = {"corsConfigurationEnabled": True, "accessControlAllowOrigins": ["https://app.example.com"],
                    "accessControlAllowCredentials": True, "accessControlAllowHeaders": [],
                    "accessControlAllowMethods": ["POST", "GET"]}  # fmt: skip
# APIM 4.5's shipped [apim.cors], as the adapter's config defaults give it: the global configuration.
GLOBAL_CORS = config.parse({"controlPlane": {"type": "file", "path": "c.yaml"}}).cors
GLOBAL_CORS_SETTINGS = CorsSettings(GLOBAL_CORS.allow_origins, GLOBAL_CORS.allow_methods, GLOBAL_CORS.allow_headers,
                                    GLOBAL_CORS.allow_credentials)  # fmt: skip


def preflight_headers(double: ApimDouble, api_id: str, path: str, origin: str) -> dict[str, str]:
    """The adapter's answer to a browser's preflight (GET) from `origin`, with the global configuration APIM ships, on
    the API as the data API serves it with the CORS settings of its deployed revision's runtime artifact (as the wso2
    control plane puts them together)."""
    [single] = internal(double, "apis", gatewayLabel="Default", apiId=api_id)
    doc = {"apis": [single | deployed_cors(double, api_id)], "apiPolicies": internal(double, "api-policies")}
    adapter = InProcess(doc, cors=GLOBAL_CORS_SETTINGS)
    d = adapter.check(single["context"] + path, method="OPTIONS", origin=origin,
                      **{"access-control-request-method": "GET"})  # fmt: skip
    assert (d.preflight, d.status) == (True, 200), (d.status, d.code)
    return dict(Renderer(config.Request()).preflight(d).headers)


@pytest.fixture(scope="module")
def api_changed_runs(converged, changed_run, tmp_path_factory):
    """After the runs above (last in this module: they change the double's API), three more: (1) the inventory's API
    changed (a new resource, another description, API keys dropped from its security scheme, API_CORS and
    API_BACKEND_THROUGHPUT declared)
    while APIM holds five revisions of it, four deployed nowhere, as a user clicking "Create revision" leaves them;
    (2) the same inventory
    after someone deployed the first revision again by hand; (3) once more, unchanged. Their output, and the API's
    revisions after the first."""
    double, ca, _, _ = converged
    api_id = next(a["uuid"] for a in double.data["apis"] if a["name"] == "HttpbinAPI")
    revisions_url = f"{double.url}{PUBLISHER}/apis/{api_id}/revisions"
    creator = product_session(double, ca, "apim:api_view apim:api_create apim:api_publish")
    for _ in range(4):
        assert creator.post(revisions_url, json={"description": "by hand"}).status_code == 201
    variables = json.loads(changed_run[3].read_text())  # its policies as the run before left them
    api = variables["apim_setup_api"]
    api["description"] = "httpbin, now with /uuid."
    api["resources"].append({"target": "/uuid", "verb": "GET", "scopes": []})
    api["security_scheme"] = ["oauth2", "oauth_basic_auth_api_key_mandatory"]
    api["cors"] = API_CORS
    api["backend_throughput"] = API_BACKEND_THROUGHPUT
    path = tmp_path_factory.mktemp("api-changed") / "api-changed.json"
    path.write_text(json.dumps(variables))
    path.chmod(0o600)

    def run() -> str:
        result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e",
                             f"@{path}", env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
        assert result.returncode == 0, result.stdout[-6000:]
        return result.stdout

    first = run()
    after_first = creator.get(revisions_url).json()["list"]
    [by_hand] = [r for r in after_first if r["displayName"] == "Revision 1"]
    deployment = [{"name": "Default", "vhost": "api.istio-apim.local", "displayOnDevportal": True}]
    rollback = creator.post(f"{double.url}{PUBLISHER}/apis/{api_id}/deploy-revision",
                            params={"revisionId": by_hand["id"]}, json=deployment)  # fmt: skip
    assert rollback.status_code == 201, rollback.text
    return api_id, after_first, [first, run(), run()], path


def test_a_changed_api_is_updated_and_a_revision_of_it_deployed_making_room_at_apims_limit(
    converged, api_changed_runs
) -> None:
    """The update, the oldest idle revision deleted, a new revision deployed: what gateways and the adapter read
    now has /uuid and no API keys; every call matched WSO2's specs and APIM refused none."""
    double, _, _, _ = converged
    api_id, revisions, [first, _, _], _ = api_changed_runs
    assert recap(first)["changed"] == 4, first[-4000:]
    assert [(r["displayName"], bool(r["deploymentInfo"])) for r in revisions] == [
        ("Revision 1", False), ("Revision 3", False), ("Revision 4", False), ("Revision 5", False),
        ("Revision 6", True)]  # fmt: skip
    [single] = internal(double, "apis", gatewayLabel="Default", apiId=api_id)
    assert "/uuid" in {m["urlPattern"] for m in single["urlMappings"]}
    assert single["securityScheme"].split(",") == ["oauth2", "oauth_basic_auth_api_key_mandatory"]
    assert double.products.api_dto(next(a for a in double.data["apis"] if a["uuid"] == api_id))["description"] == (
        "httpbin, now with /uuid.")  # fmt: skip
    served = [s for s in double.responses if s.operation is not None]
    assert [s for s in served if s.status >= 400] == []
    for answer in served:
        apim_rest.validate_served(*answer.operation, answer.status, answer.body)


def test_a_revision_deployed_by_hand_is_replaced_by_the_declared_one_and_then_nothing_changes(
    converged, api_changed_runs
) -> None:
    """The rolled-back environment serves the declared API again (no update: the API as saved already is), and a
    run after that changes nothing."""
    double, _, _, _ = converged
    api_id, _, [_, second, third], _ = api_changed_runs
    assert recap(second)["changed"] == 3, second[-4000:]  # room made, a revision created and deployed
    assert recap(third)["changed"] == 0, third[-4000:]
    [single] = internal(double, "apis", gatewayLabel="Default", apiId=api_id)
    assert "/uuid" in {m["urlPattern"] for m in single["urlMappings"]}


def test_a_declared_cors_configuration_is_set_deployed_and_answers_browsers(converged, api_changed_runs) -> None:
    """API_CORS in the Publisher, every field written, and in the runtime artifact of the revision the first run
    deployed (the runs after it changed nothing: test_a_revision_deployed_by_hand_...); the adapter reading it
    answers a browser's preflight from https://app.example.com with that origin and credentials (APIM's default
    would answer `*`, without credentials), and names no other origin."""
    double, _, _, _ = converged
    api_id, _, _, _ = api_changed_runs
    item = next(a for a in double.data["apis"] if a["uuid"] == api_id)
    assert double.products.api_dto(item)["corsConfiguration"] == API_CORS_IN_APIM
    assert deployed_cors(double, api_id)["corsConfiguration"] == API_CORS_IN_APIM
    app = preflight_headers(double, api_id, "/uuid", "https://app.example.com")
    assert {k: v for k, v in app.items() if k != "access-control-allow-headers"} == {
        "access-control-allow-origin": "https://app.example.com", "access-control-allow-methods": "GET",
        "access-control-allow-credentials": "true"}  # fmt: skip
    assert app["access-control-allow-headers"].startswith(",".join(GLOBAL_CORS.allow_headers))  # none declared
    assert "access-control-allow-origin" not in preflight_headers(double, api_id, "/uuid", "https://evil.example")


def test_a_declared_backend_throughput_is_deployed_and_limits_the_apis_calls_in_the_adapter(
    converged, api_changed_runs, tmp_path
) -> None:
    """API_BACKEND_THROUGHPUT in the Publisher as APIM answers it and in the revision the first run deployed (the
    runs after it changed nothing); the adapter pulling it holds the API's production calls to it."""
    double, ca, _, _ = converged
    api_id, _, _, _ = api_changed_runs
    item = next(a for a in double.data["apis"] if a["uuid"] == api_id)
    assert double.products.api_dto(item)["maxTps"] == API_BACKEND_THROUGHPUT_IN_APIM
    adapter = adapter_on(double, ca, tmp_path)
    api = adapter.catalog.apis[api_id]
    assert api.backend_limits == {"PRODUCTION": Limit(2, 3600), "SANDBOX": Limit(1, 1)}


CLIENT_CERTS = "/apis/{apiId}/client-certs/{keyType}"


@pytest.fixture(scope="module")
def certificate_runs(converged, api_changed_runs, tmp_path_factory):
    """After the runs above (last in this module), the same inventory with two other client certificates declared (a
    PRODUCTION one on Gold, a SANDBOX one on Tiny) instead of the dev inventory's partner, which the first run
    uploaded and the role leaves on the API; run twice. The API's id, the runs' output, the three certificates' PEM by
    alias, the description of the revision deployed before, and the runs' variables."""
    double, ca, _, extra = converged
    api_id, _, _, changed_path = api_changed_runs
    directory = tmp_path_factory.mktemp("client-certs")
    partners = CertificateAuthority(directory, "partners")
    pems = {alias: partners.issue(alias, f"{alias}.example").cert for alias in ("partner-a", "partner-b")}
    variables = json.loads(changed_path.read_text())
    variables["apim_setup_api_client_certificates"] = [
        {"alias": "partner-a", "tier": "Gold", "certificate_file": str(pems["partner-a"])},
        {"alias": "partner-b", "tier": "Tiny", "key_type": "SANDBOX", "certificate_file": str(pems["partner-b"])},
    ]
    path = directory / "client-certs.json"
    path.write_text(json.dumps(variables))
    path.chmod(0o600)
    reader = product_session(double, ca, "apim:api_view")
    before = deployed_revision(double, reader, api_id)["description"]

    def run() -> str:
        result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e",
                             f"@{path}", env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
        assert result.returncode == 0, result.stdout[-6000:]
        return result.stdout

    pems_read = {PARTNER: partner_pem(extra)} | {a: p.read_text() for a, p in pems.items()}
    return api_id, [run(), run()], pems_read, before, path


def deployed_revision(double: ApimDouble, session: requests.Session, api_id: str) -> dict:
    """The API's revision deployed to the Default environment, as the Publisher lists it."""
    url = f"{double.url}{PUBLISHER}/apis/{api_id}"
    [deployment] = [d for d in session.get(url + "/deployments").json() if d["name"] == "Default"]
    [revision] = [r for r in session.get(url + "/revisions").json()["list"] if r["id"] == deployment["revisionUuid"]]
    return revision


def test_declared_client_certificates_are_uploaded_and_a_revision_holding_them_deployed(
    converged, session, certificate_runs
) -> None:
    """The first run uploads both certificates (one change), makes room at APIM's revision limit, creates and
    deploys a revision; the second changes nothing. The Publisher lists each under its key type, and the runtime
    artifact of the deployed revision, which gateways and the adapter read, carries both (and the dev inventory's
    partner, uploaded by the first run of all)."""
    double, _, _, _ = converged
    api_id, [first, second], pems, before, _ = certificate_runs
    assert recap(first)["changed"] == 4, first[-4000:]  # upload, oldest idle revision deleted, created, deployed
    assert recap(second)["changed"] == 0, [b.splitlines()[0] for b in second.split("TASK [") if "changed:" in b]
    uploads = [s.status for s in double.responses if s.operation == ("publisher", CLIENT_CERTS, "post")]
    assert uploads == [201, 201, 201]  # the partner's at the first run of all; the second run here left them
    for key_type, aliases in (("PRODUCTION", [(PARTNER, "Gold"), ("partner-a", "Gold")]),
                              ("SANDBOX", [("partner-b", "Tiny")])):  # fmt: skip
        listed = session.get(f"{double.url}{PUBLISHER}/apis/{api_id}/client-certs/{key_type}").json()
        assert [(c["alias"], c["tier"]) for c in listed["certificates"]] == aliases, key_type
    revision = deployed_revision(double, session, api_id)
    assert revision["description"] != before
    assert revision["description"].startswith("Deployed by the apim_setup role: HttpbinAPI 1.0.0, declared state ")
    assert deployed_certificates(double, api_id) == [
        (PARTNER, "Gold", "PRODUCTION", pems[PARTNER]),
        ("partner-a", "Gold", "PRODUCTION", pems["partner-a"]),
        ("partner-b", "Tiny", "SANDBOX", pems["partner-b"]),
    ]
    served = [s for s in double.responses if s.operation is not None]
    assert [s for s in served if s.status >= 400] == []
    for answer in served:
        apim_rest.validate_served(*answer.operation, answer.status, answer.body)


def test_a_client_certificate_on_a_tier_the_api_does_not_offer_stops_the_role_before_it_calls_apim(
    converged, certificate_runs, tmp_path
) -> None:
    double, _, _, extra = converged
    _, _, pems, _, _ = certificate_runs
    pem = tmp_path / "partner-c.crt"
    pem.write_text(pems["partner-a"])
    declared = [{"alias": "partner-c", "tier": "Platinum", "certificate_file": str(pem)}]
    stdout = refused_before_apim(double, extra, tmp_path, apim_setup_api_client_certificates=declared)
    named = "Client certificate PRODUCTION partner-c of the API HttpbinAPI: declared once per key type and alias"
    assert named in stdout, stdout[-4000:]


@pytest.fixture(scope="module")
def cors_changed_run(converged, certificate_runs):
    """After the runs above (last in this module), the same inventory with only the API's CORS configuration
    changed (another origin, no credentials, the methods in another order): the run's output."""
    _, _, _, _, path = certificate_runs
    variables = json.loads(path.read_text())
    variables["apim_setup_api"]["cors"] = {**API_CORS, "allow_origins": ["https://other.example.com"],
                                           "allow_methods": ["GET", "POST"], "allow_credentials": False}  # fmt: skip
    changed = path.with_name("cors-changed.json")
    changed.write_text(json.dumps(variables))
    changed.chmod(0o600)
    result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e", f"@{changed}",
                         env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


def test_a_cors_change_alone_updates_the_api_and_deploys_a_revision_with_it(
    converged, certificate_runs, cors_changed_run
) -> None:
    """The API is updated and a revision of it deployed (room made at APIM's limit first): four changes, for the
    CORS configuration alone. The adapter then answers the new origin, without credentials, and no longer the old
    one."""
    double, _, _, _ = converged
    api_id, _, _, _, _ = certificate_runs
    assert recap(cors_changed_run)["changed"] == 4, cors_changed_run[-4000:]  # updated, room made, created, deployed
    expected = API_CORS_IN_APIM | {"accessControlAllowOrigins": ["https://other.example.com"],
                                   "accessControlAllowCredentials": False,
                                   "accessControlAllowMethods": ["GET", "POST"]}  # fmt: skip
    item = next(a for a in double.data["apis"] if a["uuid"] == api_id)
    assert double.products.api_dto(item)["corsConfiguration"] == expected
    assert deployed_cors(double, api_id)["corsConfiguration"] == expected
    other = preflight_headers(double, api_id, "/ip", "https://other.example.com")
    assert (other["access-control-allow-origin"], "access-control-allow-credentials" in other) == (
        "https://other.example.com", False)  # fmt: skip
    assert "access-control-allow-origin" not in preflight_headers(double, api_id, "/ip", "https://app.example.com")


REVISION_TEMPLATE = ROOT / "roles/apim_setup/templates/revision.json.j2"
CERTIFICATE = {"alias": "partner-a", "tier": "Gold", "key_type": "PRODUCTION", "certificate_file": "/x.crt",
               "fingerprint": "0" * 64}  # fmt: skip
API_STATE = {
    "description": "httpbin",
    "policies": ["Gold"],
    "apiThrottlingPolicy": None,
    "operations": [{"verb": "GET", "target": "/ip", "throttlingPolicy": "Unlimited", "scopes": []}],
}


def revision_descriptions(tmp_path, template_vars: list[str], variables: dict) -> list[str]:
    """The description revision.json.j2 renders with each of `template_vars` (Jinja expressions of a mapping, over
    `variables` and `certificate`, CERTIFICATE), in a local play."""
    renders = ", ".join(
        f"lookup('ansible.builtin.template', '{REVISION_TEMPLATE}', template_vars={t})" for t in template_vars
    )
    out = tmp_path / "revisions.json"
    task = {"ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": f"{{{{ [{renders}] | to_json }}}}"}}
    playbook = tmp_path / "revision.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    result = run_local_play(playbook, {**variables, "certificate": CERTIFICATE,
                                       "apim_setup_api": {"name": "HttpbinAPI", "version": "1.0.0"},
                                       "ansible_python_interpreter": sys.executable})  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    return [json.loads(body)["description"] for body in json.loads(out.read_text())]


def test_without_client_certificates_the_revision_digest_is_the_api_states_alone(tmp_path) -> None:
    """Revisions deployed before the role managed client certificates recorded the digest of the API state alone
    (the SHA-256 of its JSON, keys sorted): with none declared it is still that, so such a revision still matches
    and an upgrade deploys nothing; a declared certificate (its fingerprint included) changes it."""
    declared = ("[]", "[certificate]", "[certificate | combine({'fingerprint': '1' * 64})]")
    renders = [f"{{'_apim_setup_client_certificates': {d}}}" for d in declared]
    none, one, other = revision_descriptions(tmp_path, renders, {"_apim_setup_api_state": API_STATE})
    digest = hashlib.sha256(json.dumps(API_STATE, sort_keys=True).encode()).hexdigest()[:16]
    assert none == f"Deployed by the apim_setup role: HttpbinAPI 1.0.0, declared state {digest}"
    assert len({none, one, other}) == 3


def test_on_an_exported_api_the_revision_digest_is_the_client_certificates_alone(tmp_path) -> None:
    """An API mesh-sync exports (apim_setup_api_create false): the role manages none of its fields, so whatever the
    declared API, the description records the certificates alone (the SHA-256 of their JSON, keys sorted), and
    another certificate changes it."""
    other_state = {**API_STATE, "description": "httpbin, another"}
    renders = [
        "{'_apim_setup_client_certificates': [certificate], 'apim_setup_api_create': false}",
        "{'_apim_setup_client_certificates': [certificate], 'apim_setup_api_create': false, "
        "'_apim_setup_api_state': other_state}",
        "{'_apim_setup_client_certificates': [certificate | combine({'fingerprint': '1' * 64})], "
        "'apim_setup_api_create': false}",
    ]
    one, same, other = revision_descriptions(tmp_path, renders, {"_apim_setup_api_state": API_STATE,
                                                                 "other_state": other_state})  # fmt: skip
    recorded = [{"alias": "partner-a", "fingerprint": "0" * 64, "keyType": "PRODUCTION", "tier": "Gold"}]
    digest = hashlib.sha256(json.dumps(recorded, sort_keys=True).encode()).hexdigest()[:16]
    assert one == same == f"Deployed by the apim_setup role: HttpbinAPI 1.0.0, client certificates {digest}"
    assert other != one


TEMPLATES = ROOT / "roles/apim_setup/templates"


def declared_states_and_revisions(tmp_path, apis: list[dict]) -> list[tuple[dict, str]]:
    """For each declared apim_setup_api, what the role renders from it (tasks/render.yml, in a local play): the state
    it compares and records (api_state.json.j2 over the api.json.j2 body), and the description of the revision it
    deploys for that state (revision.json.j2, no client certificates)."""
    out = tmp_path / "states.json"
    body = f"lookup('ansible.builtin.template', '{TEMPLATES}/api.json.j2') | ansible.builtin.from_json"
    state = (f"lookup('ansible.builtin.template', '{TEMPLATES}/api_state.json.j2', "
             "template_vars={'_apim_setup_api_dto': _body}) | ansible.builtin.from_json")  # fmt: skip
    revision = (f"lookup('ansible.builtin.template', '{TEMPLATES}/revision.json.j2', "
                "template_vars={'_apim_setup_api_state': _state}) | ansible.builtin.from_json")  # fmt: skip
    tasks = [
        {"ansible.builtin.set_fact": {"rendered": "{{ rendered | default([]) + [[_state, (" + revision
                                      + ").description]] }}"},
         "loop": "{{ apis }}",
         "vars": {"apim_setup_api": "{{ item }}", "_body": "{{ " + body + " }}", "_state": "{{ " + state + " }}"}},
        {"ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": "{{ rendered | to_json }}"}},
    ]  # fmt: skip
    playbook = tmp_path / "states.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    result = run_local_play(playbook, {"apis": apis, "apim_setup_subscription_policies": [],
                                       "_apim_setup_client_certificates": [],
                                       "ansible_python_interpreter": sys.executable})  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    return [(s, d) for s, d in json.loads(out.read_text())]


def test_a_declared_cors_configuration_counts_in_the_revision_digest_and_an_undeclared_one_does_not(tmp_path) -> None:
    """An API declaring no `cors` has no CORS in its state, so its digest is the one revisions deployed before the
    role managed CORS recorded (no new revision on upgrade, APIM's default never a difference); a declared one is
    in it, its lists in any order alike, and any other value makes another digest (a new revision deployed)."""
    api = {"name": "HttpbinAPI", "version": "1.0.0", "context": "/httpbin", "endpoint_url": "http://httpbin:8000",
           "gateway_environment": "Default", "vhost": "localhost", "tiers": ["Gold"], "scopes": [],
           "resources": [{"target": "/ip", "verb": "GET", "scopes": []}]}  # fmt: skip
    declared = {"allow_origins": ["https://b.example.com", "https://a.example.com"], "allow_methods": ["GET"]}
    variants = [
        api,
        api | {"cors": declared},
        api | {"cors": declared | {"allow_origins": ["https://a.example.com", "https://b.example.com"],
                                   "enabled": True, "allow_headers": [], "allow_credentials": False}},
        api | {"cors": declared | {"allow_credentials": True}},
        api | {"cors": declared | {"enabled": False}},
        api | {"cors": declared | {"allow_headers": ["x-trace"]}},
        api | {"cors": {}},
    ]  # fmt: skip
    rendered = declared_states_and_revisions(tmp_path, variants)
    (none, none_digest), (one, one_digest), (same, same_digest) = rendered[:3]
    assert "cors" not in none
    digest = hashlib.sha256(json.dumps(none, sort_keys=True).encode()).hexdigest()[:16]
    assert none_digest == f"Deployed by the apim_setup role: HttpbinAPI 1.0.0, declared state {digest}"
    assert one["cors"] == same["cors"] == {"enabled": True, "origins": ["https://a.example.com", "https://b.example.com"],
                                           "credentials": False, "headers": [], "methods": ["GET"]}  # fmt: skip
    assert {k: v for k, v in one.items() if k != "cors"} == none
    assert one_digest == same_digest
    digests = [d for _, d in rendered]
    assert len({none_digest, one_digest, *digests[3:]}) == 2 + len(digests[3:])
    assert rendered[-1][0]["cors"] == {"enabled": True, "origins": [], "credentials": False, "headers": [],
                                       "methods": []}  # fmt: skip


def test_schema_validation_and_declared_request_definitions_count_in_the_revision_digest(tmp_path) -> None:
    """An API declaring neither `schema_validation` nor a resource's request body or parameters has neither in its
    state, so its digest is the one revisions deployed before the role managed them recorded (no new revision on
    upgrade); declared, each is in it, and another value makes another digest (a new revision deployed, which copies
    the definition and the switch)."""
    api = {"name": "HttpbinAPI", "version": "1.0.0", "context": "/httpbin", "endpoint_url": "http://httpbin:8000",
           "gateway_environment": "Default", "vhost": "localhost", "tiers": ["Gold"], "scopes": [],
           "resources": [{"target": "/ip", "verb": "GET", "scopes": []}]}  # fmt: skip
    (plain, plain_digest), (off, off_digest), (on, on_digest) = declared_states_and_revisions(
        tmp_path, [api, api | {"schema_validation": False}, api | {"schema_validation": True}])  # fmt: skip
    assert "enableSchemaValidation" not in plain
    assert (off["enableSchemaValidation"], on["enableSchemaValidation"]) == (False, True)
    assert len({plain_digest, off_digest, on_digest}) == 3
    body = {"request_body": {"content": {"application/json": {"schema": {"type": "object"}}}}}
    declared = ["{}", f"{{'POST /orders': {body}}}",
                f"{{'POST /orders': {body | {'parameters': [{'name': 'page', 'in': 'query'}]}}}}"]  # fmt: skip
    renders = [f"{{'_apim_setup_client_certificates': [], '_apim_setup_definition_declared': {d}}}" for d in declared]
    none, one, other = revision_descriptions(tmp_path, renders, {"_apim_setup_api_state": API_STATE})
    digest = hashlib.sha256(json.dumps(API_STATE, sort_keys=True).encode()).hexdigest()[:16]
    assert none == f"Deployed by the apim_setup role: HttpbinAPI 1.0.0, declared state {digest}"
    assert len({none, one, other}) == 3


def test_a_declared_backend_throughput_counts_in_the_revision_digest_as_apim_answers_it(tmp_path) -> None:
    """An API declaring no `backend_throughput` has none in its state (the digest revisions deployed before recorded);
    declared, its state is what APIM answers for it (both time units, SECOND where none is given; a count not set as
    null), so that the next run finds nothing to change; `{}` is Unlimited, none."""
    api = {"name": "HttpbinAPI", "version": "1.0.0", "context": "/httpbin", "endpoint_url": "http://httpbin:8000",
           "gateway_environment": "Default", "vhost": "localhost", "tiers": ["Gold"], "scopes": [],
           "resources": [{"target": "/ip", "verb": "GET", "scopes": []}]}  # fmt: skip
    (plain, plain_digest), (limited, limited_digest), (unlimited, unlimited_digest) = declared_states_and_revisions(
        tmp_path, [api, api | {"backend_throughput": {"production": 100, "sandbox_time_unit": "minute"}},
                   api | {"backend_throughput": {}}])  # fmt: skip
    assert "maxTps" not in plain
    assert limited["maxTps"] == {"production": 100, "sandbox": None, "productionTimeUnit": "SECOND",
                                 "sandboxTimeUnit": "MINUTE"}  # fmt: skip
    assert unlimited["maxTps"] is None
    assert len({plain_digest, limited_digest, unlimited_digest}) == 3


def test_a_resources_auth_type_counts_in_the_state_only_where_it_is_not_apims_default(tmp_path) -> None:
    """A resource declaring no `auth_type`, or APIM's default, has none in its state (the digest revisions deployed
    before recorded: no new revision on upgrade); `None` is in it, as APIM answers it."""
    api = {"name": "HttpbinAPI", "version": "1.0.0", "context": "/httpbin", "endpoint_url": "http://httpbin:8000",
           "gateway_environment": "Default", "vhost": "localhost", "tiers": ["Gold"], "scopes": []}  # fmt: skip
    ip = {"target": "/ip", "verb": "GET", "scopes": []}
    declared = [ip, ip | {"auth_type": "Application & Application User"}, ip | {"auth_type": "None"}]
    (plain, plain_digest), (default, default_digest), (public, public_digest) = declared_states_and_revisions(
        tmp_path, [api | {"resources": [resource]} for resource in declared]
    )
    assert plain == default
    assert plain_digest == default_digest
    assert "authType" not in plain["operations"][0]
    assert public["operations"][0]["authType"] == "None"
    assert public_digest != plain_digest


# APIM's definition of an operation on a templated path (OAS3Parser.createOperation: its path parameter a required
# string), with a request body someone set in the Publisher, and another operation the declarations do not name.
APIM_DEFINITION = {
    "openapi": "3.0.1",
    "paths": {
        "/orders/{id}": {"put": {"parameters": [{"name": "id", "in": "path", "required": True,
                                                 "schema": {"type": "string"}}],
                                 "requestBody": {"content": {"text/plain": {}}},
                                 "security": [{"default": ["orders"]}], "x-throttling-tier": "Gold"},
                         "get": {"security": [{"default": []}]}},
    },
}  # fmt: skip


def test_declared_request_bodies_and_parameters_are_laid_over_apims_definition_once(tmp_path) -> None:
    """definition.json.j2: a declared request body replaces the operation's, a declared parameter the one of the same
    name and location (the path's `id`, now a UUID) and another is added after APIM's; the scopes, policy and the
    other operation stay as APIM wrote them; laid over its own result it changes nothing (the role's second run
    sends nothing)."""
    resource = {"target": "/orders/{id}", "verb": "PUT",
                "request_body": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "parameters": [{"name": "dry_run", "in": "query", "schema": {"type": "boolean"}},
                               {"name": "id", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}}]}  # fmt: skip
    out = tmp_path / "definitions.json"
    lay = f"lookup('ansible.builtin.template', '{TEMPLATES}/definition.json.j2', template_vars={{'_apim_setup_definition': %s}}) | ansible.builtin.from_json"  # noqa: E501
    tasks = [
        {"ansible.builtin.set_fact": {"once": "{{ " + lay % "apim" + " }}"}},
        {"ansible.builtin.set_fact": {"twice": "{{ " + lay % "once" + " }}"}},
        {"ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": "{{ [once, twice] | to_json }}"}},
    ]
    playbook = tmp_path / "definition.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    result = run_local_play(playbook, {"apim": APIM_DEFINITION, "apim_setup_api": {"resources": [resource]},
                                       "ansible_python_interpreter": sys.executable})  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    once, twice = json.loads(out.read_text())
    assert once == twice
    put = once["paths"]["/orders/{id}"]["put"]
    assert put["requestBody"] == resource["request_body"]
    assert put["parameters"] == resource["parameters"]  # APIM's `id` replaced, in the declared order
    assert (put["security"], put["x-throttling-tier"]) == ([{"default": ["orders"]}], "Gold")
    assert once["paths"]["/orders/{id}"]["get"] == APIM_DEFINITION["paths"]["/orders/{id}"]["get"]


# An API Product bundling resources of two declared REST APIs (an operation's `api`): HttpbinAPI's GET /ip and
# LimitedAPI's GET /* (inventories/dev), subscribed by StandardApp on Silver. Last in the module: the double then
# holds two products, which the product tests above (product_of) do not expect.
MIXED_OPERATIONS = [{"target": "/ip", "verb": "GET"}, {"target": "/*", "verb": "GET", "api": "LimitedAPI"}]
MIXED = {"name": "MixedBundle", "context": "/mixed", "tiers": ["Silver"], "operations": MIXED_OPERATIONS}


@pytest.fixture(scope="module")
def mixed_product_runs(converged, session, tmp_path_factory):
    """The converged inventory with MIXED added, run twice: the runs' output, and the product as the Publisher
    answers it."""
    double, _, _, extra = converged
    variables = json.loads(extra.read_text())
    dev = yaml.safe_load((ROOT / "inventories/dev/group_vars/all/wso2.yml").read_text())
    apps = variables["apim_setup_applications"]
    standard = apps["standard"]
    standard["product_subscriptions"] = [
        *standard["product_subscriptions"],
        {"product": "MixedBundle", "tier": "Silver"},
    ]
    path = tmp_path_factory.mktemp("mixed-product") / "mixed-product.json"
    products = [*dev["apim_setup_api_products"], MIXED]
    path.write_text(json.dumps(variables | {"apim_setup_api_products": products, "apim_setup_applications": apps}))
    path.chmod(0o600)
    runs = [run_apim_setup(path), run_apim_setup(path)]
    listed = session.get(double.url + PUBLISHER + "/api-products").json()["list"]
    [product_id] = [p["id"] for p in listed if p["name"] == "MixedBundle"]
    return runs, session.get(f"{double.url}{PUBLISHER}/api-products/{product_id}").json()


def test_a_product_bundling_two_apis_is_created_with_each_apis_resources_and_then_left_alone(
    converged, mixed_product_runs
) -> None:
    """The product takes each operation from the API it names (APIProductDTO `apis`, one entry per bundled API with
    its id), is published, and the second run changes nothing."""
    double, _, _, _ = converged
    [first, second], product = mixed_product_runs
    ids = {a["name"]: a["uuid"] for a in double.data["apis"]}
    bundled = sorted(
        (a["name"], a["apiId"], [(o["verb"], o["target"]) for o in a["operations"]]) for a in product["apis"]
    )
    assert bundled == [("HttpbinAPI", ids["HttpbinAPI"], [("GET", "/ip")]),
                       ("LimitedAPI", ids["LimitedAPI"], [("GET", "/*")])]  # fmt: skip
    assert product["state"] == "PUBLISHED"
    assert recap(first)["changed"] > 0
    assert recap(second)["changed"] == 0, [b.splitlines()[0] for b in second.split("TASK [") if "changed:" in b]


def test_the_catalog_the_adapter_pulls_serves_a_product_bundling_two_apis_to_its_subscriber(
    converged, mixed_product_runs, tmp_path
) -> None:
    """The adapter reading the deployed product answers its subscriber on the resources of both APIs, and no one
    else."""
    double, ca, _, _ = converged
    adapter = adapter_on(double, ca, tmp_path)
    for path in ("/mixed/1.0.0/ip", "/mixed/1.0.0/anything/else"):
        allowed = adapter.check(path, token("StandardApp", "scope_ip"))  # HttpbinAPI's GET /ip asks for scope_ip
        assert allowed.allowed, (path, allowed.reason)
        assert (allowed.api.name, allowed.tier) == ("MixedBundle", "Silver")
        refused = adapter.check(path, token("SubscribedApp", "scope_ip"))
        assert (refused.status, refused.code) == (403, "900908")


def test_a_product_operation_of_an_undeclared_api_or_taken_twice_stops_the_role_before_it_calls_apim(
    converged, tmp_path
) -> None:
    """APIM drops a resource the API lacks from a new product without an error, and refuses a verb and target taken
    twice, even from two APIs (900341): the role stops first."""
    double, _, _, extra = converged
    unknown_api = [{"target": "/ip", "verb": "GET", "api": "OrdersAPI"}]
    twice = [{"target": "/ip", "verb": "GET"}, {"target": "/ip", "verb": "get", "api": "HttpbinAPI"}]
    for operations in (unknown_api, twice):
        stdout = refused_before_apim(
            double, extra, tmp_path, apim_setup_api_products=[{**MIXED, "operations": operations}]
        )
        named = "API Product MixedBundle: declared once, with tiers, and with operations, each once, of the declared"
        assert named in stdout, stdout[-4000:]


@pytest.fixture(scope="module")
def further_certificate_runs(converged, tmp_path_factory):
    """The converged inventory with a client certificate declared on LimitedAPI (apim_setup_apis[].client_certificates),
    run twice: the API's id, the runs' output, the certificate's PEM."""
    double, _, _, extra = converged
    directory = tmp_path_factory.mktemp("further-certs")
    pem = CertificateAuthority(directory, "limited").issue("limited-partner", "limited.example").cert
    [api] = dev_further_apis()
    api["client_certificates"] = [{"alias": "limited-partner", "tier": "Gold", "certificate_file": str(pem)}]
    path = directory / "further-certs.json"
    path.write_text(json.dumps(json.loads(extra.read_text()) | {"apim_setup_apis": [api]}))
    path.chmod(0o600)
    runs = [run_apim_setup(path), run_apim_setup(path)]
    return next(a["uuid"] for a in double.data["apis"] if a["name"] == "LimitedAPI"), runs, pem.read_text()


def test_a_further_apis_client_certificate_is_uploaded_to_it_and_a_revision_holding_it_deployed(
    converged, session, further_certificate_runs
) -> None:
    """Declared on LimitedAPI, the certificate goes to that API (and not to HttpbinAPI), a revision recording it is
    deployed, and the second run changes nothing."""
    double, _, _, _ = converged
    api_id, [first, second], pem = further_certificate_runs
    assert recap(first)["changed"] == 3, first[-4000:]  # upload, revision created, deployed
    assert recap(second)["changed"] == 0, [b.splitlines()[0] for b in second.split("TASK [") if "changed:" in b]
    listed = session.get(f"{double.url}{PUBLISHER}/apis/{api_id}/client-certs/PRODUCTION").json()
    assert [(c["alias"], c["tier"]) for c in listed["certificates"]] == [("limited-partner", "Gold")]
    assert deployed_certificates(double, api_id) == [("limited-partner", "Gold", "PRODUCTION", pem)]
    httpbin = next(a["uuid"] for a in double.data["apis"] if a["name"] == "HttpbinAPI")
    assert "limited-partner" not in [alias for alias, *_ in deployed_certificates(double, httpbin)]


def test_a_client_certificate_alias_two_apis_declare_stops_the_role_before_it_calls_apim(
    converged, further_certificate_runs, tmp_path
) -> None:
    """An alias is unique per key type across the tenant's APIs (CertificateMgtDAO.checkWhetherAliasExist): the
    dev inventory's partner declared on LimitedAPI too stops the role first."""
    double, _, _, extra = converged
    _, _, pem = further_certificate_runs
    certificate = tmp_path / "partner.crt"
    certificate.write_text(pem)
    [api] = dev_further_apis()
    api["client_certificates"] = [{"alias": PARTNER, "tier": "Gold", "certificate_file": str(certificate)}]
    stdout = refused_before_apim(double, extra, tmp_path, apim_setup_apis=[api])
    named = (
        f"Client certificate PRODUCTION {PARTNER} of the API LimitedAPI: declared once per key type and alias across"
    )
    assert named in stdout, stdout[-4000:]


def subscriptions_of(double: ApimDouble, application: str) -> dict[str, tuple[str, str]]:
    """The application's subscriptions as the internal data API serves them to gateways: API name → (tier, state)."""
    app = next(a["uuid"] for a in double.data["applications"] if a["name"] == application)
    names = {a["uuid"]: a["name"] for a in double.data["apis"]}
    return {names[s["apiUUID"]]: (s["policyId"], s["subscriptionState"]) for s in internal(double, "subscriptions")
            if s["applicationUUID"] == app}  # fmt: skip


def subscription_tasks_changed(stdout: str) -> list[str]:
    """The run's tasks sending subscriptions that reported a change."""
    sending = ("apim_setup : Subscribe the application", "apim_setup : Move the application")
    return [block.splitlines()[0].rstrip(" *") for block in stdout.split("TASK [")[1:]
            if "changed:" in block and block.startswith(sending)]  # fmt: skip


@pytest.fixture(scope="module")
def retiered_runs(converged, tmp_path_factory) -> dict:
    """SubscribedApp declared on APIM's 50PerMin (PER_USER in this module), on Silver on HttpbinAPI (Gold in the dev
    inventory), on Tiny on LimitedAPI (Gold) and on Tiny on StarWarsAPI (GraphQLGold), whose subscription an APIM
    admin has blocked; each lookup asks for one subscription (`_apim_setup_subscriptions_page`), so the role must
    read past APIM's first answer. Run twice; then the subscription unblocked and the inventory as it was, once. The
    runs' output; SubscribedApp's subscriptions, the tier the adapter pulling the catalog counts its HttpbinAPI calls
    on, and the subscription PUT answers, after the changed runs and after the last."""
    double, ca, _, extra = converged
    variables = json.loads(extra.read_text())
    apps = copy.deepcopy(variables["apim_setup_applications"])
    apps["subscribed"].update(throttling_policy="50PerMin", subscription_tier="Silver",
                              api_subscriptions=[{"api": "LimitedAPI", "tier": "Tiny"}],
                              graphql_api_subscriptions=[{"api": "StarWarsAPI", "tier": "Tiny"}])  # fmt: skip
    directory = tmp_path_factory.mktemp("retiered")
    path = directory / "retiered.json"
    path.write_text(json.dumps(variables | {"apim_setup_applications": apps, "_apim_setup_subscriptions_page": 1}))
    path.chmod(0o600)
    app = next(a["uuid"] for a in double.data["applications"] if a["name"] == "SubscribedApp")
    star_wars = next(a["uuid"] for a in double.data["apis"] if a["name"] == "StarWarsAPI")

    def block(state: str):
        def mutate(data: dict) -> None:
            [sub] = [s for s in data["subscriptions"] if (s["applicationUUID"], s["apiUUID"]) == (app, star_wars)]
            sub["subscriptionState"] = state

        return mutate

    def state(stage: str) -> dict:
        (directory / stage).mkdir()
        adapter = adapter_on(double, ca, directory / stage)
        decided = adapter.check("/httpbin/1.0.0/status/200", token("SubscribedApp", ""))
        assert decided.allowed, decided.reason
        [pulled] = [a for a in adapter.catalog.applications.values() if a.name == "SubscribedApp"]
        return {"subscriptions": subscriptions_of(double, "SubscribedApp"), "adapter_tier": decided.tier,
                "adapter_application_limit": adapter.catalog.application_policies[pulled.policy].limit,
                "updates": [(s.status, s.body) for s in double.responses
                            if s.operation == ("devportal", "/subscriptions/{subscriptionId}", "put")]}  # fmt: skip

    double.change(block("BLOCKED"))
    changed = [run_apim_setup(path), run_apim_setup(path)]
    after_change = state("changed")
    double.change(block("UNBLOCKED"))
    restored = run_apim_setup(extra)
    return {"changed": changed, "after_change": after_change, "restored": restored, "after_restore": state("restored")}


def test_a_changed_subscription_tier_moves_the_subscription_once_and_back(converged, retiered_runs) -> None:
    """The first changed run moves HttpbinAPI's and LimitedAPI's subscriptions to their declared tiers in place
    (one task changed; APIM publishes SUBSCRIPTIONS_UPDATE with the new tier, which gateways and the adapter's wso2
    control plane apply, and the adapter pulling the catalog counts the application on it), the second changes
    nothing: each lookup reads all three subscriptions though APIM answers one a page (a POST for one it missed
    would be APIM's 409 and fail the run). The restored inventory moves both back. The subscriptions keep their ids
    throughout."""
    double, _, _, _ = converged
    first, second = retiered_runs["changed"]
    after_change, after_restore = retiered_runs["after_change"], retiered_runs["after_restore"]
    # The runs before in this module leave other declarations changed in APIM, which the first run puts back too.
    moving = ["apim_setup : Move the application's subscriptions to the declared tiers]"]
    assert subscription_tasks_changed(first) == moving, first[-4000:]
    assert recap(second)["changed"] == 0, [b.splitlines()[0] for b in second.split("TASK [") if "changed:" in b]
    assert after_change["subscriptions"] == {"HttpbinAPI": ("Silver", "UNBLOCKED"), "LimitedAPI": ("Tiny", "UNBLOCKED"),
                                             "StarWarsAPI": ("GraphQLGold", "BLOCKED")}  # fmt: skip
    assert after_change["adapter_tier"] == "Silver"
    changed_updates = after_change["updates"]
    assert [(status, body["throttlingPolicy"], body["status"]) for status, body in changed_updates] == [
        (200, "Silver", "UNBLOCKED"), (200, "Tiny", "UNBLOCKED")]  # fmt: skip
    moved = {body["subscriptionId"] for _, body in changed_updates}
    app = next(a["uuid"] for a in double.data["applications"] if a["name"] == "SubscribedApp")
    events = [(e["policyId"], e["subscriptionUUID"]) for _, kind, e in double.events
              if kind == "SUBSCRIPTIONS_UPDATE" and e["applicationUUID"] == app]  # fmt: skip
    assert [tier for tier, _ in events] == ["Silver", "Tiny", "Gold", "Gold"]
    assert {uuid for _, uuid in events} == moved
    # The subscriptions, and the application's policy (test_a_changed_application_policy_moves_*).
    assert recap(retiered_runs["restored"])["changed"] == 2, retiered_runs["restored"][-4000:]
    assert subscription_tasks_changed(retiered_runs["restored"]) == moving
    assert after_restore["subscriptions"] == {"HttpbinAPI": ("Gold", "UNBLOCKED"), "LimitedAPI": ("Gold", "UNBLOCKED"),
                                              "StarWarsAPI": ("GraphQLGold", "UNBLOCKED")}  # fmt: skip
    assert after_restore["adapter_tier"] == "Gold"
    assert {body["subscriptionId"] for _, body in after_restore["updates"][len(changed_updates) :]} == moved
    for status, body in after_restore["updates"]:
        apim_rest.validate_served("devportal", "/subscriptions/{subscriptionId}", "put", status, body)


def test_a_subscription_apim_keeps_on_its_tier_is_named_and_left_alone(retiered_runs) -> None:
    """StarWarsAPI's subscription, blocked in APIM, is not sent (APIM refuses a tier change to a blocked
    subscription, 400): each changed run names it, with what to do."""
    named = ("Application SubscribedApp: the subscription to StarWarsAPI stays on GraphQLGold, not Tiny as declared: "
             "APIM changes no tier of a subscription BLOCKED")  # fmt: skip
    for stdout in retiered_runs["changed"]:
        assert named in " ".join(stdout.split()), stdout[-4000:]
    assert len(retiered_runs["after_change"]["updates"]) == 2


def test_a_changed_application_policy_moves_the_application_once_and_back(converged, retiered_runs) -> None:
    """SubscribedApp moved to 50PerMin by the first changed run (the application updated in place: same id, keys
    and subscriptions; APIM publishes APPLICATION_UPDATE, and the internal data API serves it on 50PerMin, which the
    adapter's catalog limits it by), not again by the second, and back to PerUserHundred by the restore."""
    double, _, _, _ = converged
    first, second = retiered_runs["changed"]
    moved = "apim_setup : Apply the declared application policy to application SubscribedApp]"
    for stdout, changed in ((first, True), (second, False), (retiered_runs["restored"], True)):
        blocks = [b for b in stdout.split("TASK [")[1:] if b.startswith(moved.rstrip("]"))]
        # A skipped task prints no header (ansible.cfg: display_skipped_hosts false).
        assert [("changed:" in b) for b in blocks] == ([True] if changed else [False] * len(blocks)), stdout[-4000:]
    [app] = [a for a in double.data["applications"] if a["name"] == "SubscribedApp"]
    updates = [e for _, kind, e in double.events if kind == "APPLICATION_UPDATE" and e["uuid"] == app["uuid"]]
    assert [(e["applicationPolicy"], e["applicationId"]) for e in updates] == [
        ("50PerMin", app["id"]), ("PerUserHundred", app["id"])]  # fmt: skip
    [served] = [a for a in internal(double, "applications") if a["uuid"] == app["uuid"]]
    assert served["policy"] == "PerUserHundred"
    assert retiered_runs["after_change"]["adapter_application_limit"] == Limit(50, 60)
    answers = [s for s in double.responses if s.operation == ("devportal", "/applications/{applicationId}", "put")]
    assert [s.status for s in answers] == [200, 200]
    for answer in answers:
        apim_rest.validate_served(*answer.operation, answer.status, answer.body)
    assert retiered_runs["after_restore"]["adapter_application_limit"] == Limit(100, 60)


def test_an_application_on_an_undeclared_policy_stops_the_role_before_it_calls_apim(converged, tmp_path) -> None:
    double, _, _, extra = converged
    apps = json.loads(extra.read_text())["apim_setup_applications"]
    changed = {**apps, "throttled": {**apps["throttled"], "throttling_policy": "Platinum"}}
    stdout = refused_before_apim(double, extra, tmp_path, apim_setup_applications=changed)
    assert ("Application throttled names the application policy Platinum: one of 50PerMin, 20PerMin, 10PerMin, "
            "Unlimited, PerUserHundred") in " ".join(stdout.split()), stdout[-4000:]  # fmt: skip
