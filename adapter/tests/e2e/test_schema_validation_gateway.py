"""APIM's Schema Validation (an API's `enableSchemaValidation` and its OpenAPI 3.0 `apiDefinition`) behind a real
Envoy in gRPC and HTTP modes in front of a real httpbin: a request the definition allows reaches the backend as the
client sent it; one it does not is answered by the gateway with APIM's 400 and the validator's description, and
never reaches the backend; and what a gateway that does not include bodies (no includeRequestBodyInCheck) makes of
a request body on such an API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from apim_adapter.mediation import SCHEMA_BODY_NOT_WHOLE
from harness.adapter_process import Served
from harness.helpers import eventually
from harness.sample_catalog import schema_validated

API = "/httpbin/1.0.0"
# The provider's includeRequestBodyInCheck, as the chart's values example sets it (and the operation policies' e2e
# module): bodies up to 8 KiB in the check, the first 8 KiB of a longer one rather than Envoy's 413.
INCLUDED_BODY = {"maxRequestBytes": 8192, "allowPartialMessage": True}
REFUSED = "Schema validation failed in the Request: "  # SchemaValidator.handleRequest's words before the messages

NO_BODY = REFUSED + "A request body is required but none found., "


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Where the module's adapter and gateways run, and write their logs (Envoy's access log: `envoy-<port>.log`)."""
    return tmp_path_factory.mktemp("schema-validation")


@pytest.fixture(scope="module")
def validated(stack, workdir):
    """An adapter whose catalog's httpbin API has Schema Validation on, and a gateway per mode including bodies."""
    doc = schema_validated()
    with stack.own_adapter(workdir, doc, include_request_body=INCLUDED_BODY) as (adapter, gateways):
        yield Served(gateways, adapter)


def _headers(token: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return headers


def _fault(description: str) -> dict[str, str]:
    """APIM's 400 for a request its validator refuses (GatewayUtils.handleThreat)."""
    return {"code": "400", "message": "Bad Request", "description": description}


def _probe() -> str:
    """A path segment no other call of the session sends, to find the call in the gateway's and httpbin's logs."""
    return f"probe-{time.time_ns()}"


def _access_details(workdir: Path, validated: Served, mode: str, probe: str) -> tuple[str, str, str]:
    """The method, status and response code details (`via_upstream`; `ext_authz_denied`: Envoy's own answer from
    the adapter's denial) of the call whose path has `probe`, from the gateway's access log."""
    log = workdir / f"envoy-{validated.gateways[mode].port}.log"
    line = eventually(lambda: next((x for x in log.read_text().splitlines() if probe in x), None), timeout=5)
    assert line is not None, probe
    _, method, _, status, details = line.split()[:5]
    return method, status, details


def _backend_called(stack, probe: str) -> bool:
    """Whether the session's httpbin logged a request whose path has `probe` (go-httpbin logs each request it
    answers before the gateway's answer ends, so before the gateway logs the call)."""
    return probe in (stack.workdir / "httpbin.log").read_text()


def test_a_request_the_definition_allows_reaches_the_backend(stack, validated, mode, workdir):
    probe = _probe()
    order = {"customer": "alice", "count": 2}
    resp = requests.post(validated.gateways[mode].url + API + f"/anything/{probe}", json=order,
                         headers=_headers(stack.token()), timeout=10)  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.json()["json"] == order  # go-httpbin's echo: the body reached it whole
    assert _access_details(workdir, validated, mode, probe) == ("POST", "200", "via_upstream")
    assert _backend_called(stack, probe)


def test_a_body_against_the_definition_is_refused_400_and_never_reaches_the_backend(stack, validated, mode, workdir):
    probe = _probe()
    resp = requests.post(validated.gateways[mode].url + API + f"/anything/{probe}",
                         json={"customer": "alice-and-bob", "count": 0}, headers=_headers(stack.token()),
                         timeout=10)  # fmt: skip
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == _fault(REFUSED + (
        "[Path '/count'] Numeric instance is lower than the required minimum (minimum: 1, found: 0), "
        "[Path '/customer'] String \"alice-and-bob\" is too long (length: 13, maximum allowed: 8), "))  # fmt: skip
    # Envoy's local reply from the adapter's denial, logged once the call ended: httpbin never got it.
    assert _access_details(workdir, validated, mode, probe) == ("POST", "400", "ext_authz_denied")
    assert not _backend_called(stack, probe)


def test_a_value_ending_in_a_newline_is_refused_by_a_pattern_anchored_at_the_end(stack, validated, mode, workdir):
    """ECMA 262's `$` is the end of the text, where Python's `re` lets a final newline by: APIM's validator refuses
    "alice\\n" for ^[a-z-]+$, and so does the adapter (it once let it reach the backend)."""
    probe = _probe()
    resp = requests.post(validated.gateways[mode].url + API + f"/anything/{probe}", json={"customer": "alice\n"},
                         headers=_headers(stack.token()), timeout=10)  # fmt: skip
    assert resp.status_code == 400
    assert resp.json() == _fault(
        REFUSED + '[Path \'/customer\'] ECMA 262 regex "^[a-z-]+$" does not match input string "alice\n", '
    )
    assert _access_details(workdir, validated, mode, probe) == ("POST", "400", "ext_authz_denied")
    assert not _backend_called(stack, probe)


def test_the_default_versions_context_is_validated_the_same(stack, validated, mode):
    """Called by the API's context without its version (`/httpbin`): the definition's paths are after either."""
    url = validated.gateways[mode].url + "/httpbin/anything/orders"
    assert requests.post(url, json={"customer": "alice"}, headers=_headers(stack.token()), timeout=10).ok
    refused = requests.post(url, json={"count": 1}, headers=_headers(stack.token()), timeout=10)
    assert refused.status_code == 400
    assert refused.json()["description"] == REFUSED + 'Object has missing required properties (["customer"]), '


def test_a_form_order_is_refused_as_apims_validator_refuses_it(stack, validated, mode, workdir):
    """APIM hands its validator a form as its message builder read it, written as JSON, which the validator reads as
    a form of one name: the order's required `customer` is never found (axis2_forms.py). A form whose names are not
    XML names is no body, and so is one the builder throws on (RelayUtils rethrows it, getMessageContent logs it)."""
    form = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {stack.token()}"}
    url = validated.gateways[mode].url + API
    probe = _probe()
    refused = requests.post(url + f"/anything/{probe}", data="customer=alice&count=2", headers=form, timeout=10)
    assert refused.status_code == 400
    assert refused.json() == _fault(REFUSED + 'Object has missing required properties (["customer"]), ')
    assert _access_details(workdir, validated, mode, probe) == ("POST", "400", "ext_authz_denied")
    assert not _backend_called(stack, probe)
    no_body = requests.post(url + "/anything/orders", data="items[0]=pen", headers=form, timeout=10)
    assert no_body.json() == _fault(NO_BODY)
    thrown = requests.post(url + "/anything/orders", data="customer=alice&rush", headers=form, timeout=10)
    assert thrown.json() == _fault(NO_BODY)


def test_a_missing_required_body_is_refused(stack, validated, mode):
    """400 in both modes. Over gRPC the client's Content-Length: 0 comes with the check, and the answer is APIM's.
    An HTTP check carries no word of a body Envoy did not buffer (no Content-Length of the client's, no
    x-envoy-auth-partial-body without a body): the adapter cannot tell "none sent" from "none included", and answers
    as for a body it was not handed."""
    resp = requests.post(validated.gateways[mode].url + API + "/anything/orders", headers=_headers(stack.token()),
                         timeout=10)  # fmt: skip
    assert resp.status_code == 400
    assert resp.json() == _fault(NO_BODY if mode == "grpc" else SCHEMA_BODY_NOT_WHOLE.description)


def test_a_query_parameter_the_definition_does_not_declare_is_refused(stack, validated, mode):
    url, headers = validated.gateways[mode].url + API + "/ip", {"authorization": f"Bearer {stack.token()}"}
    assert requests.get(url + "?verbose=true", headers=headers, timeout=10).status_code == 200
    refused = requests.get(url + "?verbose=true&x=1", headers=headers, timeout=10)
    assert refused.status_code == 400
    assert refused.json() == _fault(REFUSED + "Query parameter 'x' is unexpected on path \"/ip\", ")


def test_a_resource_the_definition_lacks_is_refused_as_apims_validator_answers_it(stack, validated, mode):
    """The catalog serves GET /headers (a URL mapping of the API); its definition has no such path."""
    resp = requests.get(validated.gateways[mode].url + API + "/headers",
                        headers={"authorization": f"Bearer {stack.token()}"}, timeout=10)  # fmt: skip
    assert resp.status_code == 400
    assert resp.json() == _fault(REFUSED + "No API path found that matches request '/headers'., ")


def test_an_unauthenticated_call_is_refused_401_before_its_request_is_validated(validated, mode):
    resp = requests.post(validated.gateways[mode].url + API + "/anything/orders", json={"count": 0},
                         headers=_headers(None), timeout=10)  # fmt: skip
    assert resp.status_code == 401
    assert resp.json()["code"] == "900902"  # missing credentials, not the validator's 400


def test_a_gateway_that_does_not_include_bodies(stack, validated, mode, tmp_path):
    """A provider without includeRequestBodyInCheck: Envoy checks on the headers alone. Over gRPC the client's
    Content-Length tells the adapter a body is there that it was not handed; where nothing says whether one is there
    (a chunked body: Envoy keeps Transfer-Encoding out of the check; any body in HTTP mode: Envoy's check carries its
    own Content-Length), an operation that takes a body cannot be validated either. Both are refused as unread, and
    counted for ApimAdapterBodiesUnread, rather than validated as bodiless ("A request body is required but none
    found" to a client that sent one) or let through; a request to an operation without a body is validated as on a
    gateway that includes bodies."""
    gateway = validated.adapter.gateways(stack.gateways["grpc"].upstream_port)[mode]  # include_request_body None
    proc = gateway.start(tmp_path)
    try:
        url, headers = gateway.url + API + "/anything/orders", _headers(stack.token())
        unread = 'apim_adapter_bodies_unread_total{api="HttpbinAPI"}'
        before = validated.adapter.sample(unread)
        sized = requests.post(url, data=b'{"customer": "alice"}', headers=headers, timeout=10)
        assert sized.status_code == 400
        assert sized.json() == _fault(SCHEMA_BODY_NOT_WHOLE.description)
        assert SCHEMA_BODY_NOT_WHOLE.description.startswith(REFUSED)
        assert NO_BODY not in SCHEMA_BODY_NOT_WHOLE.description
        chunked = requests.post(url, data=iter([b'{"customer": ', b'"alice"}']), headers=headers, timeout=10)
        assert chunked.status_code == 400
        assert chunked.json() == _fault(SCHEMA_BODY_NOT_WHOLE.description)
        assert validated.adapter.sample(unread) == before + 2  # ApimAdapterBodiesUnread tells the operator
        ip = requests.get(gateway.url + API + "/ip?verbose=true", headers=headers, timeout=10)
        assert ip.status_code == 200  # a request without a body is validated as on a gateway that includes bodies
    finally:
        proc.stop()


def test_the_adapters_log_holds_no_body_of_a_refused_request(stack, validated, mode):
    probe, customer = _probe(), f"customer-{time.time_ns()}"  # longer than maxLength 8: refused
    resp = requests.post(validated.gateways[mode].url + API + f"/anything/{probe}", json={"customer": customer},
                         headers=_headers(stack.token()), timeout=10)  # fmt: skip
    assert resp.status_code == 400
    assert customer in resp.json()["description"]  # APIM's gateway tells the client, as here

    def logged() -> str | None:
        text = validated.adapter.proc.log(1_000_000)
        return (
            text if any(probe in line and '"schema validation failed"' in line for line in text.splitlines()) else None
        )

    # The refusal is logged (its reason, method and path), in the adapter's own time: then its log is read whole.
    log = eventually(logged, timeout=5)
    assert log is not None
    assert customer not in log
