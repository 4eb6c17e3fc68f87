"""APIM's operation policies (its gateway's mediation: Add Header, JSON threat protection, OPA, ...) are not applied
by the adapter; the catalog names each API's, so that an operator sees what the mesh does not do
(`apim_adapter_catalog_unenforced_items`, the log's "catalog item not enforced as APIM configures it")."""

from __future__ import annotations

from apim_adapter.catalog import build
from harness.sample_catalog import catalog_document

POLICIES = [
    {"flow": "request", "policyName": "opaPolicy", "policyVersion": "v1"},  # API-level
    {"flow": "request", "policyName": "addHeader", "policyVersion": "v2", "verb": "GET", "target": "/ip"},
    {"flow": "response", "policyName": "removeHeader", "policyVersion": "v1", "verb": "GET", "target": "/ip"},
]


def test_an_apis_operation_policies_are_named_as_not_applied():
    doc = catalog_document()
    doc["apis"][0]["operationPolicies"] = POLICIES
    catalog = build(doc)
    [note] = [n for n in catalog.unenforced if "operation policies" in n]
    assert note == (
        "HttpbinAPI 1.0.0: its operation policies are not applied here, only by APIM's gateway: opaPolicy v1 "
        "(request, the API), addHeader v2 (request, GET /ip), removeHeader v1 (response, GET /ip)"
    )
    assert catalog.apis[doc["apis"][0]["uuid"]].name == "HttpbinAPI"  # served all the same


def test_an_api_without_operation_policies_has_no_note():
    assert not [n for n in build(catalog_document()).unenforced if "operation policies" in n]


def test_a_long_list_is_cut_in_its_note():
    doc = catalog_document()
    doc["apis"][0]["operationPolicies"] = [{"flow": "request", "policyName": f"p{i}", "policyVersion": "v1"}
                                           for i in range(25)]  # fmt: skip
    [note] = [n for n in build(doc).unenforced if "operation policies" in n]
    assert note.endswith("p19 v1 (request, the API) and 5 more")
