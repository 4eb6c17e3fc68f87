"""The adapter configuration and catalog rendered from inventories/local describe the secured flow."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from render_stack import render_local_stack  # tests/local_stack, on sys.path as the tests' own directory

from apim_adapter import catalog as catalog_module
from apim_adapter.catalog import Limit
from apim_adapter.mediation import RequestBody, SchemaCheck
from harness.helpers import ROOT, VENV_BIN


def test_the_adapter_accepts_the_rendered_configuration(rendered: Path) -> None:
    result = subprocess.run(
        [VENV_BIN / "apim-adapter", "validate", "--config", rendered / "adapter/config.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_keycloak_is_the_key_manager_with_wso2_claims(adapter_config: dict, catalog: dict) -> None:
    [key_manager] = adapter_config["keyManagers"]
    assert key_manager["issuer"] == "http://127.0.0.1:18430/realms/apim"
    assert key_manager["jwksUri"] == key_manager["issuer"] + "/protocol/openid-connect/certs"
    assert (key_manager["consumerKeyClaim"], key_manager["scopesClaim"]) == ("azp", "scope")
    assert {m["keyManager"] for m in catalog["applicationKeyMappings"]} == {key_manager["name"]}


def test_httpbin_api_resources_and_scopes(catalog: dict) -> None:
    api, product, _orders, _limited, _starwars = catalog["apis"]
    assert (api["context"], api["version"], api["isDefaultVersion"], api["apiType"]) == (
        "/httpbin/1.0.0", "1.0.0", True, "HTTP")  # fmt: skip
    assert {(m["httpMethod"], m["urlPattern"]): m["scopes"] for m in api["urlMappings"]} == {
        ("GET", "/ip"): ["scope_ip"],
        ("GET", "/headers"): ["scope_headers"],
        ("GET", "/delay/{delay}"): [],
        ("GET", "/legacy/orders"): [],
        ("GET", "/status/{status_code}"): [],
        ("GET", "/hostname"): [],
        ("GET", "/anything/{segment}"): [],
        ("POST", "/anything/{segment}"): [],
    }
    # An API Product of two of its resources, as APIM's data API lists one: another API of type APIProduct.
    assert (product["name"], product["context"], product["isDefaultVersion"], product["apiType"]) == (
        "HttpbinBundle", "/bundle/1.0.0", True, "APIProduct")  # fmt: skip
    assert {(m["httpMethod"], m["urlPattern"]): m["scopes"] for m in product["urlMappings"]} == {
        ("GET", "/ip"): ["scope_ip"],
        ("GET", "/status/{status_code}"): [],
    }


def test_the_apis_operation_policies_reach_the_adapter_as_apim_would_serve_them(catalog: dict) -> None:
    """The Add Header and Remove Header policies the inventory declares on GET /headers (the secured flow's row) are
    the API's `operationPolicies`, in order, and the adapter's catalog folds them into that resource's mediation
    (GET /legacy/orders' path rewrite: test_local_path_rewrite)."""
    api = catalog["apis"][0]
    assert [p for p in api["operationPolicies"] if p["target"] == "/headers"] == [
        {"flow": "request", "policyName": "addHeader", "policyVersion": "v2", "verb": "GET", "target": "/headers",
         "parameters": {"headerName": "X-Env", "headerValue": "mesh"}},
        {"flow": "request", "policyName": "removeHeader", "policyVersion": "v1", "verb": "GET", "target": "/headers",
         "parameters": {"headerName": "X-Debug"}},
    ]  # fmt: skip
    built = catalog_module.build(catalog)
    mediated = {r.pattern: r.mediation for r in built.apis[api["uuid"]].resources if r.mediation is not None}
    assert list(mediated) == ["/headers", "/legacy/orders"]
    assert (mediated["/headers"].request_headers, mediated["/headers"].removed_headers) == (
        (("x-env", "mesh"),), ("x-debug",))  # fmt: skip
    assert not [n for n in built.unenforced if "operation policies" in n]


def test_subscriptions_and_tiers(catalog: dict) -> None:
    apps = {a["id"]: a["name"] for a in catalog["applications"]}
    names, ids = {a["uuid"]: a["name"] for a in catalog["apis"]}, {a["uuid"]: a["apiId"] for a in catalog["apis"]}
    assert all(ids[s["apiUUID"]] == s["apiId"] for s in catalog["subscriptions"])
    subscribed = {(apps[s["appId"]], names[s["apiUUID"]]): s["policyId"] for s in catalog["subscriptions"]}
    assert subscribed == {
        ("SubscribedApp", "HttpbinAPI"): "Gold",
        ("ThrottledApp", "HttpbinAPI"): "Tiny",
        ("StandardApp", "HttpbinAPI"): "Silver",
        ("StandardApp", "HttpbinBundle"): "Silver",  # the product's only subscriber
        ("SubscribedApp", "OrdersAPI"): "Gold",  # the endpoint security row's caller
        ("SubscribedApp", "StarWarsAPI"): "GraphQLGold",  # the GraphQL rows' caller
        ("SubscribedApp", "LimitedAPI"): "Gold",  # the backend throughput row's caller
    }
    # The unsubscribed application is known (it has a key mapping) but subscribed to nothing: 403, not 401.
    mapped = {apps[m["applicationId"]]: m["consumerKey"] for m in catalog["applicationKeyMappings"]}
    assert mapped == {
        "SubscribedApp": "httpbin-subscribed-app",
        "UnsubscribedApp": "httpbin-unsubscribed-app",
        "ThrottledApp": "httpbin-throttled-app",
        "StandardApp": "httpbin-standard-app",  # the non-Gold consumer of the tier-routing rows
    }
    tiers = {p["name"]: p["defaultLimit"]["requestCount"] for p in catalog["subscriptionPolicies"]}
    assert tiers["Tiny"] == {"requestCount": 3, "timeUnit": "min", "unitTime": 1}
    [graphql_tier] = [p for p in catalog["subscriptionPolicies"] if p["name"] == "GraphQLGold"]
    assert (graphql_tier["graphQLMaxDepth"], graphql_tier["graphQLMaxComplexity"]) == (3, 0)  # the depth row's limit


def test_the_limited_apis_backend_throughput_reaches_the_adapter_as_apims_revision_would_serve_it(
    catalog: dict,
) -> None:
    """The inventory's LimitedAPI: its backend throughput as APIM's DTO carries it (`maxTps`, both time units), the
    limit the secured flow's "backend throughput" row calls past, and nothing of it named as not enforced."""
    flow = yaml.safe_load((ROOT / "inventories/local/group_vars/secured_flow/secured_flow.yml").read_text())
    row = flow["secured_flow_backend_throughput"]
    [limited] = [a for a in catalog["apis"] if a["name"] == "LimitedAPI"]
    assert limited["context"] == row["context"]
    assert limited["maxTps"] == {
        "production": row["limit"],
        "productionTimeUnit": "MINUTE",
        "sandboxTimeUnit": "SECOND",
    }
    built = catalog_module.build(catalog)
    assert built.apis[limited["uuid"]].backend_limits == {"PRODUCTION": Limit(row["limit"], 60)}
    assert built.unenforced == ()


def test_the_graphql_api_reaches_the_adapter_as_apims_data_api_and_its_revision_would_serve_it(catalog: dict) -> None:
    """The inventory's StarWarsAPI: a GraphQL API with its schema and one URL mapping per root field, which the
    adapter's catalog enforces by its operations (the secured flow's GraphQL rows)."""
    [starwars] = [a for a in catalog["apis"] if a["name"] == "StarWarsAPI"]
    assert (starwars["apiType"], starwars["context"]) == ("GRAPHQL", "/anything/starwars/1.0.0")
    assert {(m["httpMethod"], m["urlPattern"]): m["scopes"] for m in starwars["urlMappings"]} == {
        ("QUERY", "hero"): ["scope_ip"],
        ("QUERY", "heroes"): [],
        ("QUERY", "secret"): ["scope_secret"],
        ("MUTATION", "addHero"): ["scope_admin"],
    }
    built = catalog_module.build(catalog).apis[starwars["uuid"]]
    assert built.graphql is not None
    assert sorted(built.graphql.operations) == [("MUTATION", "addhero"), ("QUERY", "hero"), ("QUERY", "heroes"),
                                                ("QUERY", "secret")]  # fmt: skip


def test_tiers_can_count_bytes_have_burst_control_or_be_soft(tmp_path: Path) -> None:
    """What a user of the local stack declares beside its tiers reaches the adapter as APIM's data API would serve
    it: the adapter's catalog (through the role's own validation, `apim-adapter validate`) enforces each."""
    tiers = [
        *(
            {"name": name, "requests": 5000} for name in ("Gold", "Silver", "Tiny", "GraphQLGold")
        ),  # as applications name
        {"name": "OneMeg", "data_amount": 1, "data_unit": "MB", "burst": {"count": 10}},
        {"name": "Soft", "requests": 100, "stop_on_quota_reach": False},
    ]
    result = render_local_stack(tmp_path, local_adapter_tiers=tiers)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    built = catalog_module.build(yaml.safe_load((tmp_path / "adapter/catalog.yaml").read_text()))
    one_meg, soft = built.subscription_policies["OneMeg"], built.subscription_policies["Soft"]
    assert (one_meg.limit, one_meg.burst, one_meg.stop_on_quota_reach) == (
        Limit(1 << 20, 60, data=True),
        Limit(10, 1),
        True,
    )
    assert (soft.limit, soft.stop_on_quota_reach) == (Limit(100, 60), False)
    both = render_local_stack(
        tmp_path / "both", local_adapter_tiers=[{"name": "Both", "requests": 1, "data_amount": 1}]
    )
    assert both.returncode != 0
    assert "Tier Both: either requests or, for a bandwidth tier, data_amount (with data_unit)." in both.stdout


def test_the_api_admits_the_partners_certificate_on_gold_or_a_token(rendered: Path, catalog: dict) -> None:
    """The API's scheme and its one client certificate, the partner's the pki role issued, reach the adapter as a
    catalog it reads (the stranger's, from the same CA, is not on the API)."""
    built = catalog_module.build(catalog)
    api = next(a for a in built.apis.values() if a.name == "HttpbinAPI")
    assert api.certificate_rule is not None
    assert (api.certificate_rule.certificate_mandatory, api.certificate_rule.credential_mandatory) == (False, False)
    [certificate] = api.client_certificates.values()
    assert (certificate.alias, certificate.tier, certificate.key_type) == ("partner", "Gold", "PRODUCTION")
    [declared] = catalog["apis"][0]["clientCertificates"]
    assert declared["certificate"].strip() == (rendered / "pki/partner.crt").read_text().strip()


def test_the_opa_policy_asks_the_stacks_opa_with_its_token(rendered: Path, catalog: dict) -> None:
    """The "Validate Request with OPA" policy on GET /anything/{segment} (the secured flow's OPA row) reaches the
    adapter as APIM would serve it: OPA's data API on the stack's port, the policy the local_opa role serves, and
    OPA's token (generated into the secrets folder) as the accessKey, so the catalog file is its owner's only."""
    api = catalog["apis"][0]
    [opa] = [p for p in api["operationPolicies"] if p["policyName"] == "opaPolicy"]
    token = (rendered / "secrets/opa-token").read_text().strip()
    assert (opa["flow"], opa["policyVersion"], opa["verb"], opa["target"]) == (
        "request", "v1", "GET", "/anything/{segment}")  # fmt: skip
    assert opa["parameters"] == {"serverUrl": "http://127.0.0.1:18440/v1/data", "policy": "apim/httpbin",
                                 "rule": "allow", "accessKey": f"Bearer {token}", "sendAccessToken": True}  # fmt: skip
    built = catalog_module.build(catalog)
    [resource] = [
        r for r in built.apis[api["uuid"]].resources if (r.method, r.pattern) == ("GET", "/anything/{segment}")
    ]
    [check] = resource.access_checks
    assert (check.url, check.access_key, check.send_access_token, check.unusable) == (
        "http://127.0.0.1:18440/v1/data/apim/httpbin/allow", f"Bearer {token}", True, "")  # fmt: skip
    for secret in ("adapter/catalog.yaml", "secrets/opa-token"):
        assert (rendered / secret).stat().st_mode & 0o077 == 0, secret


def test_the_orders_backends_token_is_asked_of_keycloak_with_its_own_client(rendered: Path, catalog: dict) -> None:
    """The OrdersAPI's OAuth endpoint security (the secured flow's "APIM's endpoint security" row) reaches the adapter
    as APIM's artifact carries it: Keycloak's token URL, the orders-backend client Keycloak provisions and its
    generated secret, the client credentials grant; the adapter's catalog names that endpoint for a token."""
    orders = next(a for a in catalog["apis"] if a["name"] == "OrdersAPI")
    secret = (rendered / "secrets/orders-backend").read_text().strip()
    assert orders["endpointConfig"] == {"endpoint_type": "http", "endpoint_security": {"production": {
        "enabled": True, "type": "OAUTH", "grantType": "CLIENT_CREDENTIALS",
        "tokenUrl": "http://127.0.0.1:18430/realms/apim/protocol/openid-connect/token",
        "clientId": "orders-backend", "clientSecret": secret}}}  # fmt: skip
    built = catalog_module.build(catalog)
    [endpoint] = built.oauth_endpoints
    assert (endpoint.client_id, endpoint.client_secret) == ("orders-backend", secret)
    assert not [n for n in built.unenforced if "endpoint security" in n]


def test_the_orders_apis_schema_validation_answers_the_flows_row(catalog: dict) -> None:
    """The OrdersAPI's Schema Validation (the secured flow's "APIM's schema validation" row) reaches the adapter with
    its definition, checking every resource (the endpoint security row's GET too), and the row's two bodies, as the
    gateway hands them over, get the answers the row expects: the valid order passes, the other is 400 with the
    row's description."""
    flow = yaml.safe_load((ROOT / "inventories/local/group_vars/secured_flow/secured_flow.yml").read_text())
    row = flow["secured_flow_schema_validation"]
    orders = next(a for a in catalog["apis"] if a["name"] == "OrdersAPI")
    assert orders["enableSchemaValidation"] is True
    built = catalog_module.build(catalog).apis[orders["uuid"]]
    assert catalog_module.build(catalog).unenforced == ()
    [check] = {c for r in built.resources for c in r.access_checks if isinstance(c, SchemaCheck)}
    assert all(isinstance(r.access_checks[0], SchemaCheck) for r in built.resources)
    headers = {"content-type": "application/json", "user-agent": "ansible-httpget"}

    def answer(body: dict):
        sent = json.dumps(body).encode()
        return check.refusal("POST", headers, row["path"], RequestBody(sent, True, "application/json"))

    assert answer(row["valid_body"]) is None
    refused = answer(row["invalid_body"])
    assert refused is not None
    assert refused.status == 400
    assert refused.description == f"Schema validation failed in the Request: {row['message']}, "
    assert check.refusal("GET", headers, "/anything/orders", RequestBody()) is None  # the endpoint security row
