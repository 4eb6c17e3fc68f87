"""APIM's gateway policies (Publisher: Policies > Gateway Policies): a mapping of common policies to the request,
response and fault flows, deployed to gateway environments, which APIM's gateway runs on every API of the
environment (GatewayPolicyDeployer → APIGatewayAdmin.deployGatewayPolicy), before each API's own sequence
(APIManagerExtensionHandler.mediate). The wso2 control plane reads the mappings deployed to its gateway label
(`/gateway-policy-artifacts`: each flow's rendered Synapse sequence) and follows their deployment events; the
catalog applies the header changes Add Header and Remove Header render to every API, and names what else a mapping
does. A header's value (it may be a secret) is never shown."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from apim_adapter import catalog
from apim_adapter.catalog import GATEWAY_POLICY_NOT_APPLIED
from apim_adapter.mediation import Mediation
from harness.apim_double import ApimDouble, fresh_data
from harness.publisher import Publisher, apply_latest, pull, pulled, wso2_config

SECRET = "s3cr3t-header-value"


def create_mapping(publisher: Publisher, name: str, flows: tuple[str, ...]) -> str:
    stamp = publisher.common_policy("addHeader", "v2", headerName="x-gateway", headerValue=SECRET)
    return publisher.gateway_policy_mapping(name, {f: [stamp] for f in flows})


def built(document: dict[str, Any]) -> catalog.Catalog:
    return catalog.build(document, lenient=True)


def notes(document: dict[str, Any]) -> list[str]:
    return [n for n in built(document).unenforced if GATEWAY_POLICY_NOT_APPLIED in n]


def mediation_of(document: dict[str, Any], api_id: str) -> Mediation | None:
    [resource] = built(document).apis[api_id].resources
    return resource.mediation


def test_a_mapping_deployed_to_the_label_changes_every_apis_headers_until_it_is_removed(
    apim, publisher, credentials, test_ca, tmp_path, caplog
):
    plain = publisher.create("Plain")
    own = publisher.common_policy("addHeader", "v2", headerName="X-Team", headerValue="payments")
    overriding = publisher.common_policy("addHeader", "v2", headerName="X-Gateway", headerValue="api's own")
    stamped = publisher.create("Stamped", apiPolicies={"request": [own, overriding], "response": [], "fault": []})
    for api_id in (plain, stamped):
        publisher.deploy_new_revision(api_id)
    mapping = publisher.gateway_policy_mapping("Stamp", {
        "request": [publisher.common_policy("addHeader", "v2", headerName="X-Gateway", headerValue=SECRET),
                    publisher.common_policy("removeHeader", "v1", headerName="X-Debug")],
        "response": [publisher.common_policy("addHeader", "v2", headerName="X-Served-By", headerValue="mesh")],
    })  # fmt: skip
    publisher.engage(mapping, "Default")
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)

    async def scenario() -> list[dict[str, Any]]:
        async with pulled(cfg) as cp:
            assert cp.snapshot is not None
            first = cp.snapshot.document(time.time())
            publisher.engage(mapping, "Default", deploy=False)
            await apply_latest(cp, apim, "REMOVE_POLICY_MAPPING_FROM_GATEWAY")
            after_removal = cp.snapshot.document(time.time())
            publisher.engage(mapping, "Default")
            await apply_latest(cp, apim, "DEPLOY_POLICY_MAPPING_IN_GATEWAY")
            return [first, after_removal, cp.snapshot.document(time.time())]

    with caplog.at_level(logging.DEBUG):
        first, after_removal, redeployed = asyncio.run(scenario())
    assert mediation_of(first, plain) == Mediation(
        request_headers=(("x-gateway", SECRET),), removed_headers=("x-debug",),
        response_headers=(("x-served-by", "mesh"),),
    )  # fmt: skip
    # The gateway's sequence runs first: the API's own Add Header of the same header wins.
    assert mediation_of(first, stamped) == Mediation(
        request_headers=(("x-gateway", "api's own"), ("x-team", "payments")), removed_headers=("x-debug",),
        response_headers=(("x-served-by", "mesh"),),
    )  # fmt: skip
    assert notes(first) == []  # all of it applied
    assert mediation_of(after_removal, plain) is None
    assert mediation_of(after_removal, stamped).request_headers == (("x-team", "payments"), ("x-gateway", "api's own"))
    assert mediation_of(redeployed, plain) == mediation_of(first, plain)
    assert SECRET not in caplog.text


def test_what_a_mapping_does_that_the_adapter_does_not_run_is_named_without_its_values(
    apim, publisher, credentials, test_ca, tmp_path
):
    """JSON to XML (an axis2-scope property), a header removal on the response (Envoy's authorization answer cannot
    remove one) and the fault flow are APIM's gateway's alone; the mapping's request header is still set."""
    api_id = publisher.create("Served")
    publisher.deploy_new_revision(api_id)
    stamp = publisher.common_policy("addHeader", "v2", headerName="x-gateway", headerValue=SECRET)
    mapping = publisher.gateway_policy_mapping("Mixed", {
        "request": [publisher.common_policy("jsonToXML", "v1"), stamp],
        "response": [publisher.common_policy("removeHeader", "v1", headerName="Server")],
        "fault": [stamp],
    })  # fmt: skip
    publisher.engage(mapping, "Default")
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    document = pull(cfg).document(time.time())
    assert mediation_of(document, api_id) == Mediation(request_headers=(("x-gateway", SECRET),))
    [note] = notes(document)
    assert note == (
        f"gatewayPolicies[0]: {GATEWAY_POLICY_NOT_APPLIED}: a property mediator (request flow), removeHeader v1 "
        "(response, the gateway policy mapping), addHeader v2 (fault, the gateway policy mapping) not applied, as the "
        "adapter runs no Synapse; APIM's gateway runs them on every API of the gateway environment"
    )
    assert SECRET not in " ".join(built(document).unenforced)


def test_a_header_value_apims_template_cannot_render_is_left_out_as_apims_gateway_leaves_it(
    apim, publisher, credentials, test_ca, tmp_path
):
    """Jinjava puts a parameter into the template unescaped: a `"`, `&` or `<` makes the rendered policy not XML, and
    APIM leaves that policy out of the sequence (SynapsePolicyAggregator.renderGatewayPolicyMapping logs and skips
    it); a `'` or `>` is XML, written escaped in the sequence and read back as it was."""
    api_id = publisher.create("Served")
    publisher.deploy_new_revision(api_id)
    broken = publisher.common_policy("addHeader", "v2", headerName="x-quoted", headerValue='say "hi"')
    fine = publisher.common_policy("addHeader", "v2", headerName="x-plain", headerValue="it's > 1")
    publisher.engage(publisher.gateway_policy_mapping("Quoted", {"request": [broken], "response": [fine]}), "Default")
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    document = pull(cfg).document(time.time())
    assert [s["name"] for s in document["gatewayPolicies"][0]["gatewayPolicySequenceToBeAdded"]] == [
        "WSO2AMGW--Ext--Out"
    ]
    assert mediation_of(document, api_id) == Mediation(response_headers=(("x-plain", "it's > 1"),))


def test_a_mapping_of_another_environment_is_not_named(apim_factory, credentials, test_ca, tmp_path):
    """The event names the labels the mapping went to; APIM's gateway acts only on its own (GatewayJMSMessageListener)
    and so does the adapter: one for another environment changes nothing, and the label's pull answers none."""
    environments = {"Default": ("localhost",), "Edge": ("edge.example.com",)}
    apim: ApimDouble = apim_factory(fresh_data(), gateway_environments=environments)
    publisher = Publisher(apim, test_ca.ca)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)

    async def scenario() -> tuple[str | None, list[str], list[str]]:
        async with pulled(cfg) as cp:
            publisher.engage(create_mapping(publisher, "EdgeOnly", ("request",)), "Edge")
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
    publisher.engage(first, "Default")
    assert publisher.engage(second, "Default") == []
    assert [kind for _, kind, _ in apim.events].count("DEPLOY_POLICY_MAPPING_IN_GATEWAY") == 1


def test_gateway_policies_apim_cannot_render_keep_the_apis_and_those_read_before(
    apim, publisher, credentials, test_ca, tmp_path, caplog
):
    """A failure about the gateway policy artifacts alone (APIM answers 500 for them) must not stop the APIs' pull:
    the APIs are served and the mappings read before stay named, with a warning."""
    api_id = publisher.create("Served")
    publisher.deploy_new_revision(api_id)
    publisher.engage(create_mapping(publisher, "Stamp", ("request", "fault")), "Default")
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)

    async def scenario() -> dict[str, Any]:
        async with pulled(cfg) as cp:
            apim.unreadable_gateway_policies = True
            return (await cp.pull()).document(time.time())

    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.wso2"):
        document = asyncio.run(scenario())
    assert [a["uuid"] for a in document["apis"]] == [api_id]
    assert len(notes(document)) == 1  # its fault flow
    assert mediation_of(document, api_id) == Mediation(request_headers=(("x-gateway", SECRET),))
    assert "gateway policies of the gateway label not read; those read before are named until the next pull" in [
        r.getMessage() for r in caplog.records
    ]


def test_a_mapping_naming_no_common_policy_is_refused_404_and_not_made(publisher):
    """ApiMgtDAO.addGatewayPolicyMapping finds no common policy of the id and throws APIMgtResourceNotFoundException,
    answered 404 by GatewayPoliciesApiServiceImpl.addGatewayPoliciesToFlows."""
    unknown = {"policyName": "addHeader", "policyVersion": "v2", "policyId": "no-such-policy",
               "parameters": {"headerName": "x-gateway", "headerValue": SECRET}}  # fmt: skip
    body = {"displayName": "Broken", "policyMapping": {"request": [unknown]}}
    refused = publisher("POST", "/gateway-policies", json=body)
    assert refused.status_code == 404
    assert refused.json()["description"] == (
        "One or more policy IDs in the policy mapping are invalid. Couldn't retrieve an existing common policy with "
        "ID: no-such-policy"
    )
    assert publisher("GET", "/gateway-policies").json()["list"] == []
