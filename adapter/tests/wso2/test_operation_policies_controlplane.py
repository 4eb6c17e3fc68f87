"""The wso2 control plane reads an API's operation policies (APIM's mediation) from the revision deployed to its
gateway label, in the runtime artifact (harness/apim_double.py writes them where ExportUtils puts them: APIDTO
`apiPolicies` and each operation's `operationPolicies`), with or without CORS: the catalog applies Add Header, Remove
Header, Add Query Param, the JWT claim validator and OPA, and names the others as not applied. The parameters of the
others, which may hold a secret (a custom policy's), are never kept; OPA's access key is kept in memory to call OPA
with, and never shown."""

from __future__ import annotations

import json
import logging
import time

import pytest

from apim_adapter.catalog import build
from apim_adapter.mediation import ClaimCheck, Mediation, OpaCheck
from harness.publisher import before_and_after_an_unreadable_revision, pull, wso2_config
from harness.sample_catalog import api_product, catalog_document

SECRET, OPA_KEY = "s3cret-backend-key", "Bearer s3cret-opa-key"
CUSTOM = {"policyName": "customAuth", "policyVersion": "v1", "policyType": "api", "policyId": "custom-1",
          "parameters": {"backendKey": SECRET}}  # fmt: skip
OPA = {"policyName": "opaPolicy", "policyVersion": "v1", "policyType": "common", "policyId": "opa-clone",
       "parameters": {"serverUrl": "https://opa.example.com", "accessKey": OPA_KEY, "policy": "apim"}}  # fmt: skip
ADD_HEADER = {"policyName": "addHeader", "policyVersion": "v2", "policyType": "common", "policyId": "add-clone",
              "parameters": {"headerName": "X-Team", "headerValue": "payments"}}  # fmt: skip
CLAIM = {"policyName": "jwtClaimBasedAccessValidator", "policyVersion": "v1", "policyType": "common",
         "policyId": "claim-clone", "parameters": {"accessVerificationClaim": "aut",
                                                   "accessVerificationClaimValue": "APPLICATION"}}  # fmt: skip


@pytest.mark.parametrize("cors", [True, False])
def test_an_apis_operation_policies_reach_the_catalog_the_applied_ones_with_their_parameters(
    apim, credentials, test_ca, tmp_path, cors
):
    api = catalog_document()["apis"][0]
    api["_apiPolicies"] = {"request": [CUSTOM, OPA, CLAIM]}
    api["_operationPolicies"] = {"GET /ip": {"request": [ADD_HEADER], "response": [ADD_HEADER]}}
    apim.change(lambda data: data["apis"].append(api))

    snapshot = pull(wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=cors))
    document = snapshot.document(time.time())
    [item] = [a for a in document["apis"] if a["uuid"] == api["uuid"]]

    header = {"policyName": "addHeader", "policyVersion": "v2", "verb": "GET", "target": "/ip",
              "parameters": ADD_HEADER["parameters"]}  # fmt: skip
    assert item["operationPolicies"] == [
        {"flow": "request", "policyName": "customAuth", "policyVersion": "v1"},
        {"flow": "request", "policyName": "opaPolicy", "policyVersion": "v1", "parameters": OPA["parameters"]},
        {"flow": "request", "policyName": "jwtClaimBasedAccessValidator", "policyVersion": "v1",
         "parameters": CLAIM["parameters"]},
        {"flow": "request", **header},
        {"flow": "response", **header},
    ]  # fmt: skip
    assert SECRET not in json.dumps(document["apis"])
    catalog = build(document, lenient=True)
    [note] = [n for n in catalog.unenforced if "operation policies" in n]
    assert note.endswith("not applied here, only by APIM's gateway: customAuth v1 (request, the API)")
    [ip] = [r for r in catalog.apis[api["uuid"]].resources if r.pattern == "/ip"]
    assert ip.mediation == Mediation(
        request_headers=(("x-team", "payments"),), response_headers=(("x-team", "payments"),)
    )
    opa, claim = ip.access_checks  # the API's, on every resource, in order
    assert isinstance(opa, OpaCheck)
    assert (opa.url, opa.access_key) == ("https://opa.example.com/apim/allow", OPA_KEY)  # the rule's default
    assert isinstance(claim, ClaimCheck)
    assert (claim.claim, claim.value) == ("aut", "APPLICATION")
    assert "s3cret-opa-key" not in repr(ip)  # a resource shown in a log or a traceback does not show the key


def test_an_api_without_operation_policies_carries_none(apim, credentials, test_ca, tmp_path):
    api = catalog_document()["apis"][0]
    apim.change(lambda data: data["apis"].append(api))
    snapshot = pull(wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=True))
    [item] = [a for a in snapshot.document(time.time())["apis"] if a["uuid"] == api["uuid"]]
    assert item["operationPolicies"] == []


def test_an_api_products_policies_are_its_own_operations_and_apply_to_its_resources(
    apim, credentials, test_ca, tmp_path
):
    """A product's policies are attached to its operations (APIProductDTO `apis[].operations[]`); APIM's gateway
    renders them with no API-level part, so the bundled API's own policies are not the product's."""
    httpbin = catalog_document()["apis"][0]
    httpbin["_apiPolicies"] = {"request": [ADD_HEADER]}  # the API's: not the product's
    bundle = api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", httpbin["urlMappings"][:2])
    remove = {"policyName": "removeHeader", "policyVersion": "v1", "policyType": "common", "policyId": "rm-clone",
              "parameters": {"headerName": "X-Debug"}}  # fmt: skip
    bundle.update(_bundledApis=[httpbin["uuid"]], _operationPolicies={"GET /ip": {"request": [remove, CUSTOM]}})
    apim.change(lambda data: data["apis"].extend([httpbin, bundle]))

    document = pull(wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=True)).document(
        time.time()
    )
    [item] = [a for a in document["apis"] if a["uuid"] == "product-bundle"]
    assert [(p["policyName"], p.get("verb"), p.get("target")) for p in item["operationPolicies"]] == [
        ("removeHeader", "GET", "/ip"),
        ("customAuth", "GET", "/ip"),
    ]
    assert SECRET not in json.dumps(item)
    catalog = build(document, lenient=True)
    by_pattern = {r.pattern: r.mediation for r in catalog.apis["product-bundle"].resources}
    assert by_pattern == {"/ip": Mediation(removed_headers=("x-debug",)), "/headers": None}
    [note] = [n for n in catalog.unenforced if n.startswith("Bundle 1.0.0")]
    assert note.endswith("customAuth v1 (request, GET /ip)")


def test_an_artifact_that_cannot_be_read_keeps_the_policies_read_before(
    apim, publisher, credentials, test_ca, tmp_path, caplog
):
    """A claim validator set in the Publisher (by name and version: APIProviderImpl.validatePolicies resolves the
    common policy) reaches the catalog with the revision deployed; when a later revision's artifact cannot be read
    (APIM answers 500 for it), the policies read before stay: the claim validator keeps refusing."""
    claim = {"policyName": "jwtClaimBasedAccessValidator", "policyVersion": "v1",
             "parameters": CLAIM["parameters"]}  # fmt: skip
    api_id = publisher.create("Guarded", apiPolicies={"request": [claim], "response": [], "fault": []})
    publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.wso2"):
        first, after = before_and_after_an_unreadable_revision(cfg, apim, publisher, api_id)
    [read] = first["operationPolicies"]
    assert (read["policyName"], read["parameters"]) == ("jwtClaimBasedAccessValidator", CLAIM["parameters"])
    assert after["operationPolicies"] == first["operationPolicies"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "security scheme of an API not read; the one read before applies until its next pull",
        "operation policies of an API not read; those read before apply until its next pull",
    ]
