"""APIM's gateway policies (Publisher: Policies > Gateway Policies): a mapping of common policies to the request,
response and fault flows, deployed to gateway environments, which APIM's gateway runs on every API of the
environment (GatewayPolicyDeployer → APIGatewayAdmin.deployGatewayPolicy). The adapter runs no Synapse: the wso2
control plane reads the mappings deployed to its gateway label (`/gateway-policy-artifacts`) and follows their
deployment events, and the catalog names each as not applied, so that an operator moving APIs off APIM's gateway
sees what is no longer run. What the policies hold (a header's value may be a secret) is not kept."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from apim_adapter import catalog
from apim_adapter.catalog import GATEWAY_POLICY_NOT_APPLIED
from harness.apim_double import ApimDouble, fresh_data
from harness.publisher import Publisher, apply_latest, pulled, wso2_config

SECRET = "s3cr3t-header-value"


def add_header(publisher: Publisher) -> dict[str, Any]:
    """The shipped Add Header policy, applied as the Publisher's UI applies it: by its id, with parameters."""
    listed = publisher("GET", "/operation-policies", params={"query": "name:addHeader&version:v2"})
    [policy] = listed.json()["list"]
    return {"policyName": "addHeader", "policyVersion": "v2", "policyId": policy["id"],
            "parameters": {"headerName": "x-gateway", "headerValue": SECRET}}  # fmt: skip


def create_mapping(publisher: Publisher, name: str, flows: tuple[str, ...]) -> str:
    policy = add_header(publisher)
    body = {"displayName": name, "description": "on every API", "policyMapping": {f: [policy] for f in flows}}
    created = publisher("POST", "/gateway-policies", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def engage(publisher: Publisher, mapping_id: str, label: str, deploy: bool = True) -> list[dict[str, Any]]:
    answer = publisher("POST", f"/gateway-policies/{mapping_id}/deploy",
                       json=[{"gatewayLabel": label, "gatewayDeployment": deploy}])  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


def notes(document: dict[str, Any]) -> list[str]:
    return [n for n in catalog.build(document, lenient=True).unenforced if GATEWAY_POLICY_NOT_APPLIED in n]


def test_a_mapping_deployed_to_the_label_is_named_until_it_is_removed(apim, publisher, credentials, test_ca, tmp_path):
    mapping = create_mapping(publisher, "Stamp", ("request", "response"))
    engage(publisher, mapping, "Default")
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)

    async def scenario() -> tuple[dict[str, Any], list[str], list[str]]:
        async with pulled(cfg) as cp:
            assert cp.snapshot is not None
            first = cp.snapshot.document(time.time())
            engage(publisher, mapping, "Default", deploy=False)
            await apply_latest(cp, apim, "REMOVE_POLICY_MAPPING_FROM_GATEWAY")
            after_removal = notes(cp.snapshot.document(time.time()))
            engage(publisher, mapping, "Default")
            await apply_latest(cp, apim, "DEPLOY_POLICY_MAPPING_IN_GATEWAY")
            return first, after_removal, notes(cp.snapshot.document(time.time()))

    first, after_removal, redeployed = asyncio.run(scenario())
    sequences = [{"name": "WSO2AMGW--Ext--In"}, {"name": "WSO2AMGW--Ext--Out"}]
    assert first["gatewayPolicies"] == [{"tenantDomain": "carbon.super", "gatewayPolicySequenceToBeAdded": sequences}]
    [note] = notes(first)
    assert note.startswith("gatewayPolicies[0]: a gateway policy mapping is not applied (its request, response flow")
    assert SECRET not in json.dumps(first["gatewayPolicies"])  # the rendered sequences are not kept
    assert after_removal == []
    assert redeployed == [note]


def test_a_mapping_of_another_environment_is_not_named(apim_factory, credentials, test_ca, tmp_path):
    """The event names the labels the mapping went to; APIM's gateway acts only on its own (GatewayJMSMessageListener)
    and so does the adapter: one for another environment changes nothing, and the label's pull answers none."""
    environments = {"Default": ("localhost",), "Edge": ("edge.example.com",)}
    apim: ApimDouble = apim_factory(fresh_data(), gateway_environments=environments)
    publisher = Publisher(apim, test_ca.ca)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)

    async def scenario() -> tuple[str | None, list[str], list[str]]:
        async with pulled(cfg) as cp:
            engage(publisher, create_mapping(publisher, "EdgeOnly", ("request",)), "Edge")
            plan = await apply_latest(cp, apim, "DEPLOY_POLICY_MAPPING_IN_GATEWAY")
            assert cp.snapshot is not None
            followed = notes(cp.snapshot.document(time.time()))
            return plan.ignored, followed, notes((await cp.pull()).document(time.time()))

    assert asyncio.run(scenario()) == ("other gateway environment", [], [])


def test_a_label_holds_one_mapping_as_apim_drops_a_second(apim, publisher):
    """engageGlobalPolicy drops a deployment to a label that already has a mapping (hasExistingDeployments): no
    second event, and the label's artifact stays the first mapping's."""
    first = create_mapping(publisher, "First", ("request",))
    second = create_mapping(publisher, "Second", ("fault",))
    engage(publisher, first, "Default")
    assert engage(publisher, second, "Default") == []
    assert [kind for _, kind, _ in apim.events].count("DEPLOY_POLICY_MAPPING_IN_GATEWAY") == 1


def test_gateway_policies_apim_cannot_render_keep_the_apis_and_those_read_before(
    apim, publisher, credentials, test_ca, tmp_path, caplog
):
    """A failure about the gateway policy artifacts alone (APIM answers 500 for them) must not stop the APIs' pull:
    the APIs are served and the mappings read before stay named, with a warning."""
    api_id = publisher.create("Served")
    publisher.deploy_new_revision(api_id)
    engage(publisher, create_mapping(publisher, "Stamp", ("request",)), "Default")
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)

    async def scenario() -> dict[str, Any]:
        async with pulled(cfg) as cp:
            apim.unreadable_gateway_policies = True
            return (await cp.pull()).document(time.time())

    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.wso2"):
        document = asyncio.run(scenario())
    assert [a["uuid"] for a in document["apis"]] == [api_id]
    assert len(notes(document)) == 1
    assert "gateway policies of the gateway label not read; those read before are named until the next pull" in [
        r.getMessage() for r in caplog.records
    ]
