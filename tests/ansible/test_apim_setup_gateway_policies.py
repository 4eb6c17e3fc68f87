"""apim_setup_gateway_policies against the APIM double (harness/apim_rest.py, carbon-apimgt 9.31.86's behaviour): a
declared mapping is created with the ids of APIM's common policies and deployed to its gateway environment, an
unchanged inventory changes nothing, changed parameters update the mapping (which APIM deploys again where it is),
and a policy APIM does not have, or an environment holding another mapping, stops the role before it changes
anything. The dev inventory's API with one application and no further APIs or products: what the role does with
those is tests/ansible/test_apim_setup.py's."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from apim_double_vars import DEV_GATEWAY_ENVIRONMENTS, extra_vars, recap  # tests/ansible

from harness import apim_rest
from harness.apim_double import ApimDouble, fresh_data, make_test_ca
from harness.helpers import run_ansible
from harness.publisher import Publisher

ADD_MESH = {"name": "addHeader", "version": "v2", "parameters": {"headerName": "X-Mesh", "headerValue": "istio"}}
REMOVE_DEBUG = {"name": "removeHeader", "parameters": {"headerName": "X-Debug"}}  # version v1 by default
ADD_SERVED = {"name": "addHeader", "version": "v2", "parameters": {"headerName": "X-Served-By", "headerValue": "apim"}}
UNKNOWN = {"name": "rewriteEverything"}  # not among APIM 4.5's common policies
DECLARED = {"name": "mesh-headers", "description": "Tag every call, strip the debug header.",
            "request": [ADD_MESH, REMOVE_DEBUG], "response": [ADD_SERVED], "gateway_labels": ["Default"]}  # fmt: skip
# A second gateway environment, where another mapping is deployed before the last run.
EDGE = "Edge"
OTHER = "other-headers"
ONE_APPLICATION = {
    "subscribed": {"name": "SubscribedApp", "throttling_policy": "Unlimited", "subscription_tier": "Gold"}
}
GATEWAY_EVENTS = ("DEPLOY_POLICY_MAPPING_IN_GATEWAY", "REMOVE_POLICY_MAPPING_FROM_GATEWAY")


def with_header_value(value: str, **changed: Any) -> dict:
    """DECLARED with X-Mesh's value changed, `changed` laid over it."""
    mapping = copy.deepcopy(DECLARED)
    mapping["request"][0]["parameters"]["headerValue"] = value
    return mapping | changed


def mapping_named(publisher: Publisher, name: str) -> dict | None:
    """The mapping of that display name as the Publisher answers it (GET /gateway-policies/{id}), None if none."""
    listed = publisher("GET", "/gateway-policies")
    assert listed.status_code == 200, listed.text
    [*ids] = [m["id"] for m in listed.json()["list"] if m["displayName"] == name]
    if not ids:
        return None
    [mapping_id] = ids
    answer = publisher("GET", f"/gateway-policies/{mapping_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    """The role run five times against one double with a second gateway environment (Edge): the mapping declared;
    the same again; X-Mesh's value changed; changed again with a fault policy APIM does not have; changed again and
    declared on Edge as well, where another mapping was deployed just before. Each run's return code, output, the
    mapping after it (as the Publisher answers it), the gateway policy events and the changing calls (POST, PUT,
    DELETE of the product APIs) the run caused. Then the double and its common policies' ids by (name, version)."""
    directory = tmp_path_factory.mktemp("apim-setup-gateway-policies")
    tls = make_test_ca(directory / "ca")
    environments = {**DEV_GATEWAY_ENVIRONMENTS, EDGE: ("edge.istio-apim.local",)}
    double = ApimDouble(fresh_data(), tls=tls, gateway_environments=environments).start()
    publisher = Publisher(double, tls.ca)
    declared = {"declared": DECLARED, "unchanged": DECLARED, "changed": with_header_value("istio-2"),
                "unknown": with_header_value("istio-3", fault=[UNKNOWN]),
                "held": with_header_value("istio-3", gateway_labels=["Default", EDGE])}  # fmt: skip
    after = {}
    for name, mapping in declared.items():
        if name == "held":
            other = publisher.gateway_policy_mapping(OTHER, {"request": [publisher.common_policy(
                "addHeader", "v2", headerName="X-Edge", headerValue="edge")]})  # fmt: skip
            assert publisher.engage(other, EDGE)[0]["gatewayLabel"] == EDGE
        run_directory = directory / name
        run_directory.mkdir()
        events, served = len(double.events), len(double.responses)
        extra = extra_vars(double, tls, run_directory, apim_setup_retries=1, apim_setup_delay=0,
                           stack_api_from_service=False, apim_setup_api_products=[], apim_setup_apis=[],
                           apim_setup_graphql_apis=[], apim_setup_applications=ONE_APPLICATION,
                           apim_setup_api_keys=[], apim_setup_api_client_certificates=[],
                           apim_setup_gateway_policies=[mapping])  # fmt: skip
        result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e",
                             f"@{extra}", env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
        caused = [(kind, payload) for _, kind, payload in double.events[events:] if kind in GATEWAY_EVENTS]
        changes = [s.endpoint for s in double.responses[served:]
                   if s.operation is not None and s.operation[2] in ("post", "put", "delete")]  # fmt: skip
        after[name] = {"returncode": result.returncode, "stdout": result.stdout, "events": caused, "changes": changes,
                       "mapping": mapping_named(publisher, DECLARED["name"])}  # fmt: skip
    common = {(spec["name"], spec["version"]): policy_id for policy_id, spec in double.products.common_policies.items()}
    yield after, double, common
    double.stop()


def policies(mapping: dict) -> dict[str, list[tuple[str, str, str, dict]]]:
    """A GatewayPolicyMappings' policies per flow as (name, version, id, parameters)."""
    return {flow: [(p["policyName"], p["policyVersion"], p["policyId"], p["parameters"]) for p in listed]
            for flow, listed in mapping["policyMapping"].items()}  # fmt: skip


def expected(common: dict, header_value: str) -> dict[str, list[tuple[str, str, str, dict]]]:
    return {
        "request": [("addHeader", "v2", common["addHeader", "v2"],
                     {"headerName": "X-Mesh", "headerValue": header_value}),
                    ("removeHeader", "v1", common["removeHeader", "v1"], {"headerName": "X-Debug"})],
        "response": [("addHeader", "v2", common["addHeader", "v2"],
                      {"headerName": "X-Served-By", "headerValue": "apim"})],
        "fault": [],
    }  # fmt: skip


def test_the_declared_mapping_is_created_with_the_common_policies_and_deployed_to_its_environment(runs) -> None:
    after, _, common = runs
    declared = after["declared"]
    assert declared["returncode"] == 0, declared["stdout"][-6000:]
    mapping = declared["mapping"]
    assert mapping["description"] == DECLARED["description"]
    assert policies(mapping) == expected(common, "istio")
    assert mapping["appliedGatewayLabels"] == ["Default"]
    deployed = {"gatewayPolicyMappingUuid": mapping["id"], "gatewayLabels": ["Default"], "tenantId": 0}
    assert declared["events"] == [("DEPLOY_POLICY_MAPPING_IN_GATEWAY", deployed)]


def test_an_unchanged_mapping_changes_nothing(runs) -> None:
    unchanged = runs[0]["unchanged"]
    assert unchanged["returncode"] == 0, unchanged["stdout"][-6000:]
    assert recap(unchanged["stdout"])["changed"] == 0, unchanged["stdout"][-4000:]
    assert unchanged["changes"] == []
    assert unchanged["events"] == []
    assert unchanged["mapping"] == runs[0]["declared"]["mapping"]


def test_changed_parameters_update_the_mapping_which_apim_deploys_again(runs) -> None:
    """The role updates the mapping in place (same id); APIM publishes its deployment to Default again
    (APIProviderImpl.updateGatewayGlobalPolicies), the role deploys nothing itself."""
    after, _, common = runs
    changed = after["changed"]
    assert changed["returncode"] == 0, changed["stdout"][-6000:]
    assert recap(changed["stdout"])["changed"] == 1, changed["stdout"][-4000:]
    assert changed["changes"] == ["publisher PUT /gateway-policies/{gatewayPolicyMappingId}"]
    mapping = changed["mapping"]
    assert mapping["id"] == after["declared"]["mapping"]["id"]
    assert policies(mapping) == expected(common, "istio-2")
    assert mapping["appliedGatewayLabels"] == ["Default"]
    redeployed = {"gatewayPolicyMappingUuid": mapping["id"], "gatewayLabels": ["Default"], "tenantId": 0}
    assert changed["events"] == [("DEPLOY_POLICY_MAPPING_IN_GATEWAY", redeployed)]


def test_a_policy_apim_does_not_have_stops_the_role_before_it_changes_anything(runs) -> None:
    after = runs[0]
    unknown = after["unknown"]
    assert unknown["returncode"] != 0
    assert (
        "The gateway policy mappings of apim_setup_gateway_policies (mesh-headers) name policies APIM does not have "
        "among its common operation policies (GET /operation-policies): rewriteEverything v1."
    ) in " ".join(unknown["stdout"].split()), unknown["stdout"][-4000:]
    assert unknown["changes"] == []
    assert unknown["events"] == []
    assert unknown["mapping"] == after["changed"]["mapping"]


def test_an_environment_holding_another_mapping_stops_the_role_with_a_message_naming_both(runs) -> None:
    """APIM would answer the deployment to Edge 200 and not make it (one mapping per environment): the role stops
    before it changes anything, naming Edge and the mapping there; the declared one keeps what it had."""
    after = runs[0]
    held = after["held"]
    assert held["returncode"] != 0
    message = " ".join(held["stdout"].split())
    assert f"The gateway environment {EDGE} holds the gateway policy mapping {OTHER} (" in message, message[-4000:]
    assert f"would not deploy mesh-headers there. Undeploy {OTHER} from {EDGE}" in message
    assert held["changes"] == []
    assert held["events"] == []
    assert held["mapping"] == after["changed"]["mapping"]


def test_every_answer_matched_wso2s_specs(runs) -> None:
    _, double, _ = runs
    served = [s for s in double.responses if s.operation is not None and "/gateway-policies" in s.endpoint]
    assert {s.endpoint for s in served} >= {
        "publisher GET /gateway-policies",
        "publisher POST /gateway-policies",
        "publisher GET /gateway-policies/{gatewayPolicyMappingId}",
        "publisher PUT /gateway-policies/{gatewayPolicyMappingId}",
        "publisher POST /gateway-policies/{gatewayPolicyMappingId}/deploy",
    }
    for answer in served:
        apim_rest.validate_served(*answer.operation, answer.status, answer.body)
