"""The dev stack's flow when the httpbin API comes from its annotated Service (inventories/dev
`stack_api_from_service: true`): apim_setup creates the key manager, the Tiny tier and an advanced policy one
resource names in the chart's OpenAPI document (`apimExport.resourcePolicies`), then waits; mesh-sync's export
(its Publisher client and pure core, fed with the httpbin chart's Service and OpenAPI ConfigMap) creates, deploys and
publishes the API once those exist — as its resync does in the cluster; apim_setup then uploads the inventory's
client certificate to that API, deploys a revision holding it, and subscribes the applications to it. Against the
APIM double's product REST APIs (bodies validated against WSO2's specs)."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from apim_double_vars import (  # tests/ansible
    DEV_GATEWAY_ENVIRONMENTS,
    PARTNER,
    deployed_certificates,
    extra_vars,
    partner_pem,
    recap,
)
from dev_stack import httpbin_objects  # likewise

from apim_adapter.meshsync.export import ApiPlan, Port, Service, Settings, definition, plan_export, spec
from apim_adapter.meshsync.publisher import Credentials, Publisher
from harness import apim_rest
from harness.apim_double import ApimDouble, fresh_data, make_test_ca
from harness.helpers import eventually, run_ansible

# The httpbin chart's values as inventories/dev/group_vars/all/adapter.yml sets them (test_rendered.py checks that
# those give the API apim_setup would have created).
TIERS = ["Gold", "Silver", "Bronze", "Unlimited", "Tiny"]
SECURITY_SCHEME = ["oauth2", "api_key", "basic_auth", "mutualssl"]
# One resource on an advanced policy the role creates (apim_setup_advanced_policies), named in the document.
LIMITED = "/status/{status_code}"
GOLD = {"request_count": 100, "unit_time": 1, "time_unit": "min",
        "conditions": [{"type": "header", "name": "x-plan", "value": "^gold$"}]}  # fmt: skip
ADVANCED = {"name": "GoldPlanHeader", "request_count": 1000, "unit_time": 1, "time_unit": "min",
            "condition_groups": [GOLD]}  # fmt: skip
HTTPBIN_VALUES = {"virtualService": {"enabled": False},
                  "apimExport": {"enabled": True, "tiers": TIERS, "securityScheme": SECURITY_SCHEME,
                                 "resourcePolicies": {f"GET {LIMITED}": ADVANCED["name"]}}}  # fmt: skip
SETTINGS = Settings("Default", vhost="api.istio-apim.local")
PUBLISHER_CLIENT_CERTS = ("publisher", "/apis/{apiId}/client-certs/{keyType}", "post")


def httpbin_release() -> tuple[Service, str]:
    objects = httpbin_objects(HTTPBIN_VALUES)
    svc = objects[("Service", "httpbin")]
    ports = tuple(Port(p["name"], p["port"], p.get("appProtocol")) for p in svc["spec"]["ports"])
    info = Service("httpbin", "httpbin", svc["metadata"]["annotations"], ports)
    return info, objects[("ConfigMap", "httpbin-openapi")]["data"]["openapi.yaml"]


def mesh_sync_pass(double: ApimDouble, ca: str, document: str, api_id: str | None = None) -> tuple[ApiPlan, str]:
    """One pass of mesh-sync's export over the httpbin Service with `document` as its OpenAPI ConfigMap
    (meshsync/services.py `Exporter._export`): the plan made from the API APIM holds (`api_id`; None: none yet) and
    its deployments, applied when it has steps. The plan and the API's id."""
    info, _ = httpbin_release()
    want = spec(info, SETTINGS)
    text, digest = definition(document)

    async def run() -> tuple[ApiPlan, str]:
        client = Publisher(double.url, Credentials(user=lambda: double.admin_credentials), ca)
        try:
            api = await client.api(api_id) if api_id else None
            deployed = await client.deployed_to(api_id) if api_id else []
            plan = plan_export(want, text, digest, api, deployed, SETTINGS)
            applied = await client.apply(plan, SETTINGS.environment, SETTINGS.vhost, 5) if plan.steps else api_id
            return plan, str(applied)
        finally:
            await client.close()

    return asyncio.run(run())


def export_when_the_tier_exists(double: ApimDouble, ca: str, done: dict[str, Any]) -> None:
    """mesh-sync's pass, repeated as its resync would until APIM accepts the tiers (Tiny comes from apim_setup)."""
    _, document = httpbin_release()

    def ready() -> bool:
        return "Tiny" in {p["name"] for p in double.data["subscriptionPolicies"]} and ADVANCED["name"] in {
            p["name"] for p in double.data["apiPolicies"]}  # fmt: skip

    if not eventually(ready, timeout=120):
        done["error"] = "the Tiny tier or the advanced policy never appeared"
        return
    done["api_id"] = mesh_sync_pass(double, ca, document)[1]


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("apim-setup-exported")
    tls = make_test_ca(directory / "ca")
    double = ApimDouble(fresh_data(), tls=tls, gateway_environments=DEV_GATEWAY_ENVIRONMENTS).start()
    extra = extra_vars(double, tls, directory, apim_setup_retries=60, apim_setup_delay=1,
                       apim_setup_advanced_policies=[ADVANCED])  # fmt: skip
    done: dict[str, Any] = {}
    exporter = threading.Thread(target=export_when_the_tier_exists, args=(double, str(tls.ca), done), daemon=True)
    exporter.start()
    result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e", f"@{extra}",
                         env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    exporter.join(30)
    yield double, result, done, extra
    double.stop()


def test_apim_setup_subscribes_to_the_api_exported_from_the_service(converged) -> None:
    double, result, done, _ = converged
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
    assert subscriptions == {(apps["SubscribedApp"], "Gold"), (apps["ThrottledApp"], "Tiny"),
                             (apps["StandardApp"], "Silver")}  # fmt: skip
    # The exported API takes API keys (apimExport.securityScheme), and the role generated the secured flow's one.
    [single] = double.data_api("apis", gatewayLabel="Default", apiId=api["uuid"]).json()["list"]
    assert single["securityScheme"].split(",") == SECURITY_SCHEME
    generated = [r for r in double.responses if r.operation and r.operation[1].endswith("/api-keys/{keyType}/generate")]
    assert [r.status for r in generated] == [200]
    assert not [s for s in double.responses if s.operation and s.status >= 400]


def run_apim_setup(extra: Path) -> str:
    result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e", f"@{extra}",
                         env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result.stdout


def deployed_revision(double: ApimDouble, api_id: str) -> dict[str, Any]:
    """The API's revision deployed to Default, with how many revisions it has."""
    [api] = [a for a in double.data["apis"] if a["uuid"] == api_id]
    [deployment] = [d for d in api["_deployments"] if d["name"] == "Default"]
    [revision] = [r for r in api["_revisions"] if r["id"] == deployment["revisionUuid"]]
    return {"id": revision["id"], "description": revision["description"], "revisions": len(api["_revisions"])}


def test_the_declared_client_certificate_goes_onto_the_exported_api_in_a_revision_deployed_to_default(
    converged,
) -> None:
    """inventories/dev declares the partner's certificate: the run uploads it to the API mesh-sync exported (which
    made one revision) and deploys a revision of its own, recording the certificates' digest alone, whose runtime
    artifact carries it."""
    double, result, done, extra = converged
    assert result.returncode == 0, result.stdout[-6000:]
    api_id = done["api_id"]
    uploads = [s for s in double.responses if s.operation == PUBLISHER_CLIENT_CERTS]
    assert [(s.status, s.body["alias"], s.body["tier"]) for s in uploads] == [(201, PARTNER, "Gold")]
    deployed = deployed_revision(double, api_id)
    assert deployed["revisions"] == 2  # mesh-sync's, then the role's
    assert re.fullmatch(r"Deployed by the apim_setup role: HttpbinAPI 1\.0\.0, client certificates [0-9a-f]{16}",
                        deployed["description"]), deployed  # fmt: skip
    assert deployed_certificates(double, api_id) == [(PARTNER, "Gold", "PRODUCTION", partner_pem(extra))]


@pytest.fixture(scope="module")
def later_passes(converged):
    """After the run above: the role again; a mesh-sync pass over the same Service; one after its OpenAPI document
    gained a resource (/uuid); the role once more. What each left deployed to Default (and the revisions' count),
    the mesh-sync passes' plans, the role runs' output, and the uploads answered before them."""
    double, _, done, extra = converged
    api_id, ca = done["api_id"], str(double.tls.ca)
    uploads = len([s for s in double.responses if s.operation == PUBLISHER_CLIENT_CERTS])
    second = run_apim_setup(extra)
    after_second = deployed_revision(double, api_id)
    _, document = httpbin_release()
    unchanged, _ = mesh_sync_pass(double, ca, document, api_id)
    after_unchanged = deployed_revision(double, api_id)
    changed_document = yaml.safe_load(document)
    changed_document["paths"]["/uuid"] = {"get": {"responses": {"200": {"description": "A UUID4."}}}}
    changed, _ = mesh_sync_pass(double, ca, yaml.safe_dump(changed_document), api_id)
    after_changed = deployed_revision(double, api_id)
    third = run_apim_setup(extra)
    after_third = deployed_revision(double, api_id)
    return {"second": second, "third": third, "unchanged": unchanged, "changed": changed, "uploads": uploads,
            "deployed": [after_second, after_unchanged, after_changed, after_third]}  # fmt: skip


def test_a_second_run_changes_nothing_and_mesh_sync_leaves_the_roles_revision_deployed(later_passes) -> None:
    """The role finds the certificate uploaded and the revision deployed holding it; mesh-sync, over an unchanged
    Service, sees a deployment in its environment and writes nothing (it does not redeploy a revision of its own)."""
    assert recap(later_passes["second"])["changed"] == 0, later_passes["second"][-4000:]
    assert later_passes["unchanged"].steps == []
    after_second, after_unchanged, _, _ = later_passes["deployed"]
    assert after_unchanged == after_second
    assert after_second["description"].startswith("Deployed by the apim_setup role: ")


def test_a_revision_mesh_sync_makes_later_still_holds_the_certificate_and_the_role_keeps_it(
    converged, later_passes
) -> None:
    """A changed document makes mesh-sync deploy a revision of its own: APIM copied the API's client certificates
    into it (ApiMgtDAO.addAPIRevision), so its artifact still carries the partner's, and the role's next run,
    seeing a revision made after its own deployed, uploads nothing and makes no revision."""
    double, _, done, extra = converged
    api_id = done["api_id"]
    assert "revise" in [step.op for step in later_passes["changed"].steps]
    after_second, _, after_changed, after_third = later_passes["deployed"]
    assert after_changed["description"] == "HttpbinAPI 1.0.0, exported by apim-adapter mesh-sync"
    assert after_changed["revisions"] == after_second["revisions"] + 1
    assert deployed_certificates(double, api_id) == [(PARTNER, "Gold", "PRODUCTION", partner_pem(extra))]
    [api] = [a for a in double.data["apis"] if a["uuid"] == api_id]
    assert "/uuid" in {m["urlPattern"] for m in api["urlMappings"]}
    assert recap(later_passes["third"])["changed"] == 0, later_passes["third"][-4000:]
    assert after_third == after_changed
    uploads = [s for s in double.responses if s.operation == PUBLISHER_CLIENT_CERTS]
    assert len(uploads) == later_passes["uploads"] == 1
    served = [s for s in double.responses if s.operation is not None]
    assert [s for s in served if s.status >= 400] == []
    for answer in served:
        apim_rest.validate_served(*answer.operation, answer.status, answer.body)
