"""The wso2 control plane reads an API's operation policies (APIM's mediation) from the revision deployed to its
gateway label, in the runtime artifact it reads anyway for CORS (harness/apim_double.py writes them where
ExportUtils puts them: APIDTO `apiPolicies` and each operation's `operationPolicies`), and the catalog names them
as not applied. Their parameters, which may hold a secret (opaPolicy's accessKey), are never kept."""

from __future__ import annotations

import json
import time

from apim_adapter.catalog import build
from harness.publisher import pull, wso2_config
from harness.sample_catalog import catalog_document

SECRET = "s3cret-opa-key"
OPA = {"policyName": "opaPolicy", "policyVersion": "v1", "policyType": "common", "policyId": "opa-clone",
       "parameters": {"serverUrl": "https://opa.example.com", "accessKey": SECRET, "policy": "apim"}}  # fmt: skip
ADD_HEADER = {"policyName": "addHeader", "policyVersion": "v2", "policyType": "common", "policyId": "add-clone",
              "parameters": {"headerName": "X-Team", "headerValue": "payments"}}  # fmt: skip


def test_an_apis_operation_policies_reach_the_catalog_named_and_without_their_parameters(
    apim, credentials, test_ca, tmp_path
):
    api = catalog_document()["apis"][0]
    api["_apiPolicies"] = {"request": [OPA]}
    api["_operationPolicies"] = {"GET /ip": {"request": [ADD_HEADER], "response": [ADD_HEADER]}}
    apim.change(lambda data: data["apis"].append(api))

    snapshot = pull(wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=True))
    document = snapshot.document(time.time())
    [item] = [a for a in document["apis"] if a["uuid"] == api["uuid"]]

    assert item["operationPolicies"] == [
        {"flow": "request", "policyName": "opaPolicy", "policyVersion": "v1"},
        {"flow": "request", "policyName": "addHeader", "policyVersion": "v2", "verb": "GET", "target": "/ip"},
        {"flow": "response", "policyName": "addHeader", "policyVersion": "v2", "verb": "GET", "target": "/ip"},
    ]
    assert SECRET not in json.dumps(document["apis"])
    [note] = [n for n in build(document, lenient=True).unenforced if "operation policies" in n]
    assert "opaPolicy v1 (request, the API), addHeader v2 (request, GET /ip)" in note


def test_an_api_without_operation_policies_carries_none(apim, credentials, test_ca, tmp_path):
    api = catalog_document()["apis"][0]
    apim.change(lambda data: data["apis"].append(api))
    snapshot = pull(wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=True))
    [item] = [a for a in snapshot.document(time.time())["apis"] if a["uuid"] == api["uuid"]]
    assert item["operationPolicies"] == []
