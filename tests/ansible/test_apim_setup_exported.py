"""The dev stack's flow when the httpbin API comes from its annotated Service (inventories/dev
`stack_api_from_service: true`): apim_setup creates the key manager, the Tiny tier and an advanced policy one
resource names in the chart's OpenAPI document (`apimExport.resourcePolicies`), then waits; mesh-sync's export
(its Publisher client and pure core, fed with the httpbin chart's Service and OpenAPI ConfigMap) creates, deploys and
publishes the API once those exist — as its resync does in the cluster; apim_setup then subscribes the
applications to that API. Against the APIM double's product REST APIs (bodies validated against WSO2's specs)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from typing import Any

import pytest
import yaml
from apim_double_vars import extra_vars  # tests/ansible, on sys.path as the tests' own directory

from apim_adapter.meshsync.export import Port, Service, Settings, definition, plan_export, spec
from apim_adapter.meshsync.publisher import Credentials, Publisher
from harness.apim_double import ApimDouble, fresh_data, make_test_ca
from harness.helpers import ROOT, eventually, run_ansible, tool

# The httpbin chart's values as inventories/dev/group_vars/all/adapter.yml sets them (test_rendered.py checks that
# those give the API apim_setup would have created).
TIERS = ["Gold", "Silver", "Bronze", "Unlimited", "Tiny"]
SECURITY_SCHEME = ["oauth2", "oauth_basic_auth_api_key_mandatory", "api_key"]
# One resource on an advanced policy the role creates (apim_setup_advanced_policies), named in the document.
LIMITED = "/status/{status_code}"
GOLD = {"request_count": 100, "unit_time": 1, "time_unit": "min",
        "conditions": [{"type": "header", "name": "x-plan", "value": "^gold$"}]}  # fmt: skip
ADVANCED = {"name": "GoldPlanHeader", "request_count": 1000, "unit_time": 1, "time_unit": "min",
            "condition_groups": [GOLD]}  # fmt: skip
HTTPBIN_VALUES = {"virtualService": {"enabled": False},
                  "apimExport": {"enabled": True, "tiers": TIERS, "securityScheme": SECURITY_SCHEME,
                                 "resourcePolicies": {f"GET {LIMITED}": ADVANCED["name"]}}}  # fmt: skip


def httpbin_release() -> tuple[Service, str]:
    rendered = subprocess.run(
        [tool("helm"), "template", "httpbin", str(ROOT / "charts" / "httpbin"), "-n", "httpbin", "-f", "-"],
        input=json.dumps(HTTPBIN_VALUES), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(rendered) if o}
    svc = objects[("Service", "httpbin")]
    ports = tuple(Port(p["name"], p["port"], p.get("appProtocol")) for p in svc["spec"]["ports"])
    info = Service("httpbin", "httpbin", svc["metadata"]["annotations"], ports)
    return info, objects[("ConfigMap", "httpbin-openapi")]["data"]["openapi.yaml"]


def export_when_the_tier_exists(double: ApimDouble, ca: str, done: dict[str, Any]) -> None:
    """mesh-sync's pass, repeated as its resync would until APIM accepts the tiers (Tiny comes from apim_setup)."""
    info, document = httpbin_release()
    settings = Settings("Default", vhost="api.istio-apim.local")
    want = spec(info, settings)
    text, digest = definition(document)

    def ready() -> bool:
        return "Tiny" in {p["name"] for p in double.data["subscriptionPolicies"]} and ADVANCED["name"] in {
            p["name"] for p in double.data["apiPolicies"]}  # fmt: skip

    if not eventually(ready, timeout=120):
        done["error"] = "the Tiny tier or the advanced policy never appeared"
        return

    async def apply() -> str:
        client = Publisher(double.url, Credentials(user=lambda: double.admin_credentials), ca)
        try:
            return await client.apply(plan_export(want, text, digest, None, [], settings), "Default",
                                      "api.istio-apim.local", 5)  # fmt: skip
        finally:
            await client.close()

    done["api_id"] = asyncio.run(apply())


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("apim-setup-exported")
    tls = make_test_ca(directory / "ca")
    double = ApimDouble(fresh_data(), tls=tls).start()
    extra = extra_vars(double, tls, directory, apim_setup_retries=60, apim_setup_delay=1,
                       apim_setup_advanced_policies=[ADVANCED])  # fmt: skip
    done: dict[str, Any] = {}
    exporter = threading.Thread(target=export_when_the_tier_exists, args=(double, str(tls.ca), done), daemon=True)
    exporter.start()
    result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e", f"@{extra}",
                         env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    exporter.join(30)
    yield double, result, done
    double.stop()


def test_apim_setup_subscribes_to_the_api_exported_from_the_service(converged) -> None:
    double, result, done = converged
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "error" not in done, done
    [api] = [a for a in double.data["apis"] if a["name"] == "HttpbinAPI"]  # the role created none of its own
    assert api["uuid"] == done["api_id"]
    assert (api["status"], api["_gatewayLabels"]) == ("PUBLISHED", ["Default"])
    assert api["_deployments"][0]["vhost"] == "api.istio-apim.local"
    dto = api["_publisher"]
    assert {p["name"]: p["value"] for p in dto["additionalProperties"]}["istio-apim-service"] == "httpbin/httpbin"
    assert {o["target"]: o["scopes"] for o in dto["operations"]} == {
        "/ip": ["scope_ip"], "/headers": ["scope_headers"], "/get": [], "/delay/{delay}": [],
        "/status/{status_code}": []}  # fmt: skip
    # The resource's policy as the document names it (x-throttling-tier), the others APIM's default.
    assert {m["urlPattern"]: m["throttlingPolicy"] for m in api["urlMappings"]} == {
        "/ip": "Unlimited", "/headers": "Unlimited", "/get": "Unlimited", "/delay/{delay}": "Unlimited",
        LIMITED: "GoldPlanHeader"}  # fmt: skip
    subscriptions = {(s["applicationUUID"], s["policyId"]) for s in double.data["subscriptions"]
                     if s["apiUUID"] == api["uuid"]}  # fmt: skip
    apps = {a["name"]: a["uuid"] for a in double.data["applications"]}
    assert subscriptions == {(apps["SubscribedApp"], "Gold"), (apps["ThrottledApp"], "Tiny")}
    # The exported API takes API keys (apimExport.securityScheme), and the role generated the secured flow's one.
    [single] = double.data_api("apis", gatewayLabel="Default", apiId=api["uuid"]).json()["list"]
    assert single["securityScheme"].split(",") == SECURITY_SCHEME
    generated = [r for r in double.responses if r.operation and r.operation[1].endswith("/api-keys/{keyType}/generate")]
    assert [r.status for r in generated] == [200]
    assert not [s for s in double.responses if s.operation and s.status >= 400]
