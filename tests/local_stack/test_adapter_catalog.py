"""The adapter configuration and catalog rendered from inventories/local describe the secured flow."""

from __future__ import annotations

import subprocess
from pathlib import Path


def test_the_adapter_accepts_the_rendered_configuration(rendered: Path, venv_bin: Path) -> None:
    result = subprocess.run(
        [venv_bin / "apim-adapter", "validate", "--config", rendered / "adapter/config.yaml"],
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
    [api] = catalog["apis"]
    assert (api["context"], api["version"], api["isDefaultVersion"]) == ("/httpbin/1.0.0", "1.0.0", True)
    assert {(m["httpMethod"], m["urlPattern"]): m["scopes"] for m in api["urlMappings"]} == {
        ("GET", "/ip"): ["scope_ip"],
        ("GET", "/headers"): ["scope_headers"],
        ("GET", "/delay/{delay}"): [],
        ("GET", "/status/{status_code}"): [],
    }


def test_subscriptions_and_tiers(catalog: dict) -> None:
    apps = {a["id"]: a["name"] for a in catalog["applications"]}
    [api] = catalog["apis"]
    subscribed = {apps[s["appId"]]: s["policyId"] for s in catalog["subscriptions"]}
    assert subscribed == {"SubscribedApp": "Gold", "ThrottledApp": "Tiny", "StandardApp": "Silver"}
    assert all((s["apiUUID"], s["apiId"]) == (api["uuid"], api["apiId"]) for s in catalog["subscriptions"])
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
