"""APIM's "Validate Request with OPA" operation policy, carried out behind a real Envoy in gRPC and HTTP modes, with a
real Open Policy Agent (harness/opa.py) deciding: the adapter asks OPA what APIM's gateway asks it
(carbon-apimgt `APIMOPARequestGenerator`, opa.py) after the limits, lets the call through on `result: true`, and
answers as APIM's `_opa_policy_failure_handler_` does otherwise (403 `902012`; 500 `902011` when OPA gives no
decision)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from harness.envoy import Gateway
from harness.opa import OpaServer
from harness.processes import echoed_headers, free_port
from harness.sample_catalog import catalog_document
from harness.sample_catalog import operation_policy as _policy

API = "/httpbin/1.0.0"
OPA_TOKEN = "opa-s3cret"  # OPA runs with token authentication: the policy's accessKey is `Bearer <it>`

# A policy as an operator would write it for APIM's input: the caller's application and JWT, the resource, the
# client's address; never the credential the backend does not see.
HTTPBIN_POLICY = """package httpbin

default allow := false

allow if {
    input.apiContext.apiName == "HttpbinAPI"
    input.apiContext.applicationName == "subscribed"
    input.apiContext.keyType == "PRODUCTION"
    input.electedResource == "/headers"
    input.method == "GET"
    startswith(input.path, "/httpbin/1.0.0/headers")
    input.requestOrigin != ""
    not input.transportHeaders.authorization
    not input.transportHeaders["x-block"]
    [_, claims, _] := io.jwt.decode(input.apiContext.accessToken)
    claims.aut == "APPLICATION"
}
"""


@dataclass
class Guarded:
    gateways: dict[str, Gateway]
    opa: OpaServer


@pytest.fixture(scope="module")
def guarded(stack, tmp_path_factory):
    """An adapter whose API asks OPA on `GET /headers` (sending the caller's JWT, with OPA's access key), asks an
    OPA nothing listens on for `GET /anything/*` and a rule OPA does not define for `GET /uuid`; a gateway per mode,
    both passing the adapter the `X-Block` header the policy reads (the chart's `extraCheckHeaders`)."""
    workdir = tmp_path_factory.mktemp("opa-policy")
    opa = OpaServer(token=OPA_TOKEN).start(workdir, {"httpbin.rego": HTTPBIN_POLICY})
    try:
        doc = catalog_document()
        doc["apis"][0]["operationPolicies"] = [
            _policy("request", "opaPolicy", "v1", "GET /headers", serverUrl=opa.url, policy="httpbin",
                    rule="allow", accessKey=f"Bearer {OPA_TOKEN}", sendAccessToken=True),
            _policy("request", "opaPolicy", "v1", "GET /anything/*", policy="httpbin",
                    serverUrl=f"http://127.0.0.1:{free_port()}/v1/data"),  # nothing there
            _policy("request", "opaPolicy", "v1", "GET /uuid", serverUrl=opa.url, policy="httpbin",
                    rule="undefined", accessKey=f"Bearer {OPA_TOKEN}"),
        ]  # fmt: skip
        # The HTTP provider fails open (`failOpen: true`): an OPA failure must still refuse the call.
        with stack.own_adapter(workdir, doc, extra_check_headers=("x-block",), failure_mode_allow=True) as (
            _,
            gateways,
        ):
            yield Guarded(gateways, opa)
    finally:
        opa.stop()


def _call(guarded: Guarded, mode: str, path: str, token: str | None, **headers: str) -> requests.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return requests.get(guarded.gateways[mode].url + API + path, headers=headers, timeout=10)


def test_a_call_opa_allows_reaches_the_backend(stack, guarded, mode):
    resp = _call(guarded, mode, "/headers", stack.token())
    assert resp.status_code == 200, resp.text
    assert echoed_headers(resp)["x-apim-application-name"] == ["subscribed"]


def test_a_call_opa_refuses_gets_apims_answer(stack, guarded, mode):
    refused = _call(guarded, mode, "/headers", stack.token(), **{"X-Block": "1"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {"code": "902012", "message": "Forbidden"}
    # The policy reads the token OPA was sent: a user's token (aut APPLICATION_USER) is refused by OPA too.
    assert _call(guarded, mode, "/headers", stack.token(aut="APPLICATION_USER")).status_code == 403


def test_no_decision_from_opa_fails_the_call(stack, guarded, mode):
    for path in ("/anything/x", "/uuid"):  # OPA unreachable; a rule OPA does not define (`{}`)
        failed = _call(guarded, mode, path, stack.token())
        # HTTP mode: 403, as Envoy's HTTP client would take a 500 for the adapter's failure (and failOpen let it by)
        assert failed.status_code == (500 if mode == "grpc" else 403), path
        assert failed.json() == {"code": "902011", "message": "Internal Sever Error"}  # APIM's spelling


def test_each_call_is_asked_so_a_changed_policy_decides_the_next_one(stack, guarded, mode):
    token = stack.token()
    assert _call(guarded, mode, "/headers", token).status_code == 200
    guarded.opa.put_policy("httpbin.rego", "package httpbin\n\ndefault allow := false\n")
    try:
        assert _call(guarded, mode, "/headers", token).status_code == 403  # no allow kept from the last call
    finally:
        guarded.opa.put_policy("httpbin.rego", HTTPBIN_POLICY)
    assert _call(guarded, mode, "/headers", token).status_code == 200


def test_a_call_denied_before_the_policy_never_reaches_opa(guarded, mode):
    guarded.opa.put_policy("httpbin.rego", "package httpbin\n\nallow := true\n")  # OPA would let anything in
    try:
        assert _call(guarded, mode, "/headers", None).status_code == 401  # authentication answers first
    finally:
        guarded.opa.put_policy("httpbin.rego", HTTPBIN_POLICY)
