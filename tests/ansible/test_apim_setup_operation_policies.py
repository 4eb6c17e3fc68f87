"""apim_setup_api.operation_policies against the APIM double (harness/apim_rest.py, carbon-apimgt 9.31.86's
behaviour): declared policies reach the runtime artifact of the revision the role deploys, an unchanged inventory
changes nothing, a change deploys a new revision, an undeclared key leaves the API's policies as they are, and a
parameter APIM refuses stops the role with APIM's message. The dev inventory's API with one application and no
products: what the role does with those is tests/ansible/test_apim_setup.py's."""

from __future__ import annotations

import copy

import pytest
import yaml
from apim_double_vars import DEV_GATEWAY_ENVIRONMENTS, deployed_project, extra_vars, recap  # tests/ansible

from harness.apim_double import ApimDouble, fresh_data, make_test_ca
from harness.helpers import ROOT, run_ansible

ADD_ENV = {"name": "addHeader", "version": "v2", "parameters": {"headerName": "X-Env", "headerValue": "mesh"}}
REMOVE_DEBUG = {"name": "removeHeader", "parameters": {"headerName": "X-Debug"}}  # version v1 by default
UNKNOWN = {"name": "rewriteEverything"}  # not among APIM 4.5's common policies
ADD_QUERY = {"name": "addQueryParam", "version": "v1", "parameters": {"paramKey": "source", "paramValue": "mesh"}}
DECLARED = {
    "api": {"request": [ADD_ENV], "response": [ADD_ENV]},
    "operations": [{"target": "/ip", "verb": "get", "request": [REMOVE_DEBUG, ADD_QUERY]}],
}
# The role exposes its applications' clients: one, subscribed to the API.
ONE_APPLICATION = {
    "subscribed": {"name": "SubscribedApp", "throttling_policy": "Unlimited", "subscription_tier": "Gold"}
}
# DECLARED as the Publisher answers it: per flow, (name, version, parameters) in order.
API_POLICIES = {
    "request": [("addHeader", "v2", {"headerName": "X-Env", "headerValue": "mesh"})],
    "response": [("addHeader", "v2", {"headerName": "X-Env", "headerValue": "mesh"})],
    "fault": [],
}
IP_POLICIES = {"request": [("removeHeader", "v1", {"headerName": "X-Debug"}),
                           ("addQueryParam", "v1", {"paramKey": "source", "paramValue": "mesh"})],
               "response": [], "fault": []}  # fmt: skip


def dev_api(**changed) -> dict:
    """inventories/dev's apim_setup_api (its templates left for Ansible to render) without the operation policies
    it declares, `changed` laid over it."""
    api = yaml.safe_load((ROOT / "inventories/dev/group_vars/all/wso2.yml").read_text())["apim_setup_api"]
    return {key: value for key, value in api.items() if key != "operation_policies"} | changed


def applied(flows: dict | None) -> dict[str, list[tuple[str, str, dict]]] | None:
    """An APIOperationPoliciesDTO's policies per flow as (name, version, parameters); None for none."""
    if flows is None:
        return None
    return {flow: [(p["policyName"], p["policyVersion"], p["parameters"]) for p in flows[flow]]
            for flow in ("request", "response", "fault")}  # fmt: skip


def policies_of(dto: dict) -> dict:
    """The API's and each resource's operation policies in an APIDTO (the Publisher's, or api.json's)."""
    by_operation = {f"{op['verb']} {op['target']}": applied(op.get("operationPolicies")) for op in dto["operations"]}
    return {"api": applied(dto.get("apiPolicies")), **by_operation}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    """The role run six times against one double: the policies declared; the same again; the API's description
    changed with operation_policies no longer declared; the policies changed (another header value); a
    removeHeader parameter APIM refuses; a policy APIM does not have. Each run's return code, output, and the API
    after it: its policies in the Publisher and in the deployed revision's api.json, and its number of revisions."""
    directory = tmp_path_factory.mktemp("apim-setup-policies")
    tls = make_test_ca(directory / "ca")
    double = ApimDouble(fresh_data(), tls=tls, gateway_environments=DEV_GATEWAY_ENVIRONMENTS).start()
    changed = copy.deepcopy(DECLARED)
    changed["api"]["request"][0]["parameters"]["headerValue"] = "mesh-2"
    refused = copy.deepcopy(changed)
    refused["operations"][0]["request"][0]["parameters"]["headerName"] = "X-Debug!"
    apis = {"declared": dev_api(operation_policies=DECLARED), "unchanged": dev_api(operation_policies=DECLARED),
            "undeclared": dev_api(description="httpbin, its policies left alone."),
            "changed": dev_api(operation_policies=changed), "refused": dev_api(operation_policies=refused),
            "unknown": dev_api(operation_policies=changed | {"api": {"fault": [UNKNOWN]}})}  # fmt: skip
    after = {}
    for name, api in apis.items():
        run_directory = directory / name
        run_directory.mkdir()
        # No products or certificates, one application: the others are test_apim_setup.py's.
        extra = extra_vars(double, tls, run_directory, apim_setup_retries=1, apim_setup_delay=0,
                           stack_api_from_service=False, apim_setup_api=api, apim_setup_api_products=[],
                           apim_setup_applications=ONE_APPLICATION, apim_setup_api_keys=[],
                           apim_setup_api_client_certificates=[])  # fmt: skip
        result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/apim_setup.yml", "-e",
                             f"@{extra}", env={"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
        [item] = [a for a in double.data["apis"] if a["name"] == "HttpbinAPI"]
        after[name] = {"returncode": result.returncode, "stdout": result.stdout,
                       "saved": policies_of(double.products.api_dto(item)),
                       "deployed": policies_of(deployed_project(double, item["uuid"]).api()),
                       "revisions": len(item["_revisions"])}  # fmt: skip
    yield after
    double.stop()


def test_declared_policies_are_set_on_the_api_and_deployed_with_a_revision(runs) -> None:
    """The role's first run creates the API with the declared policies (each named by its common policy's id) and
    deploys a revision of it: the runtime artifact the adapter reads carries them, the resources without any none."""
    declared = runs["declared"]
    assert declared["returncode"] == 0, declared["stdout"][-6000:]
    expected = {"api": API_POLICIES, "GET /ip": IP_POLICIES, "GET /headers": None, "GET /get": None,
                "GET /delay/{delay}": None, "GET /status/{status_code}": None, "GET /hostname": None,
                "POST /anything/{segment}": None, "GET /legacy/orders": None}  # fmt: skip
    assert declared["saved"] == declared["deployed"] == expected
    assert declared["revisions"] == 1


def test_unchanged_policies_change_nothing(runs) -> None:
    unchanged = runs["unchanged"]
    assert unchanged["returncode"] == 0, unchanged["stdout"][-6000:]
    assert recap(unchanged["stdout"])["changed"] == 0, unchanged["stdout"][-4000:]
    assert unchanged["revisions"] == 1


def test_undeclared_policies_are_left_as_the_api_has_them(runs) -> None:
    """operation_policies no longer declared, another description: the update keeps the API's policies (a PUT
    without them would clear them), and the revision deployed for the new state carries them."""
    undeclared = runs["undeclared"]
    assert undeclared["returncode"] == 0, undeclared["stdout"][-6000:]
    assert undeclared["saved"] == undeclared["deployed"] == runs["declared"]["saved"]
    assert undeclared["revisions"] == 2


def test_changed_policies_update_the_api_and_deploy_a_revision_with_them(runs) -> None:
    changed = runs["changed"]
    assert changed["returncode"] == 0, changed["stdout"][-6000:]
    assert recap(changed["stdout"])["changed"] == 3, changed["stdout"][-4000:]  # updated, revision created, deployed
    [(_, _, parameters)] = changed["deployed"]["api"]["request"]
    assert parameters == {"headerName": "X-Env", "headerValue": "mesh-2"}
    assert changed["saved"] == changed["deployed"]


def test_a_parameter_apim_refuses_stops_the_role_with_apims_message(runs) -> None:
    """removeHeader's headerName must match ^([a-zA-Z_][a-zA-Z\\d_\\-\\ ]*)$: APIM answers 903212, which the role
    shows; the API and its deployed revision keep what they had."""
    refused = runs["refused"]
    assert refused["returncode"] != 0
    assert (
        "APIM refused the update of the API HttpbinAPI 1.0.0: 903212 Invalid operation policy parameters: Invalid "
        "value provided for the operation policy parameter headerName" in refused["stdout"]
    ), refused["stdout"][-4000:]
    assert refused["saved"] == refused["deployed"] == runs["changed"]["saved"]
    assert refused["revisions"] == runs["changed"]["revisions"]


def test_a_policy_apim_does_not_have_stops_the_role_before_it_changes_the_api(runs) -> None:
    unknown = runs["unknown"]
    assert unknown["returncode"] != 0
    assert "common operation policies (GET /operation-policies): rewriteEverything v1." in " ".join(
        unknown["stdout"].split()
    ), unknown["stdout"][-4000:]
    assert unknown["saved"] == unknown["deployed"] == runs["changed"]["saved"]
