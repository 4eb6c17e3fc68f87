"""APIM's Rewrite Resource Path and Change HTTP Method on the local stack (inventories/local): the catalog puts them
on the GET operation the secured flow's "APIM's path rewrite" row calls, the gateway asks the adapter over gRPC (the
provider that can change a path and a method), and the adapter's decision sends the backend where the row expects
(mediation.PathChange, decision.rewritten); `make demo` runs the row through the real gateway and httpbin."""

from __future__ import annotations

import re

import yaml
from render_stack import ext_authz, routes  # tests/local_stack, on sys.path as the tests' own directory

from apim_adapter import catalog as catalog_module
from apim_adapter.decision import Decision, rewritten
from apim_adapter.mediation import PathChange
from harness.helpers import ROOT

FLOW = yaml.safe_load((ROOT / "inventories/local/group_vars/secured_flow/secured_flow.yml").read_text())[
    "secured_flow_path_rewrite"
]


def test_the_policies_are_on_the_operation_the_row_calls_in_order(catalog: dict) -> None:
    api = catalog["apis"][0]
    policies = [p for p in api["operationPolicies"] if (p["verb"], p["target"]) == ("GET", FLOW["path"])]
    assert [(p["policyName"], p["policyVersion"], p["parameters"]) for p in policies] == [
        ("rewriteResourcePath", "v3", {"newResourcePath": FLOW["backend_path"], "includeQueryParams": True}),
        ("changeHTTPMethod", "v1", {"httpMethod": FLOW["backend_method"]}),
    ]


def test_the_backend_gets_the_method_and_path_the_row_expects(catalog: dict, envoy_config: dict) -> None:
    """The allow's path below the context the row calls, its query kept per call (the gRPC transport adds it), and
    its method; the gateway's route then maps the API's context to httpbin's root, as for every call."""
    built = catalog_module.build(catalog)
    api = built.apis[catalog["apis"][0]["uuid"]]
    resource = api.match("GET", FLOW["path"])
    assert resource is not None
    assert resource.mediation is not None
    assert (resource.mediation.path, resource.mediation.method) == (
        PathChange(FLOW["backend_path"], keep_query=True),
        FLOW["backend_method"],
    )
    called = f"{api.context}{FLOW['path']}?{FLOW['query']}"
    allowed = rewritten(Decision(None, "allowed", api, resource), called, built)
    assert allowed.backend_path == api.context + FLOW["backend_path"]
    assert "grpc_service" in ext_authz(envoy_config)  # Envoy's HTTP client could not change the path or the method
    [route] = [r for r in routes(envoy_config) if r["match"] == {"prefix": api.context + "/"}]  # the default tier's
    assert route["route"]["prefix_rewrite"] == "/"


def test_the_curl_make_demo_prints_calls_the_rows_operation() -> None:
    curl = re.search(r'"\$GATEWAY_URL\$API_CONTEXT(/\S+)\?(\S+)"\n\s+# (.*)', (ROOT / "scripts/demo.sh").read_text())
    assert curl is not None
    assert (curl[1], curl[2]) == (FLOW["path"], FLOW["query"])
    assert f'"method": "{FLOW["backend_method"]}"' in curl[3]
    assert f"{FLOW['backend_path']}?{FLOW['query']}" in curl[3]
