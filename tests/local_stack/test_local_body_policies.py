"""APIM's Regex Policy, JSON Validator and XML Validator on the local stack (inventories/local): the catalog puts them
on the POST operation the secured flow's rows for them call, the gateway includes request bodies in the check, and
the rows' bodies (and the curls `make demo` prints) get the answers the rows expect from the adapter's own checks
(mediation.ThreatCheck, mediation.JsonCheck, mediation.XmlCheck), as the gateway hands them over."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from render_stack import ext_authz  # tests/local_stack, on sys.path as the tests' own directory

from apim_adapter import catalog as catalog_module
from apim_adapter.errors import ErrorCode
from apim_adapter.mediation import BODY_NOT_SEARCHED, THREAT_IN_BODY, JsonCheck, RequestBody, ThreatCheck, XmlCheck
from apim_adapter.transport import PARTIAL_BODY, request_body
from harness.helpers import ROOT, run_ansible

INVENTORY = ROOT / "inventories/local/group_vars"
FLOWS = yaml.safe_load((INVENTORY / "secured_flow/secured_flow.yml").read_text())
FLOW, JSON_FLOW = FLOWS["secured_flow_regex_policy"], FLOWS["secured_flow_json_validator"]
XML_FLOW = FLOWS["secured_flow_xml_validator"]
DEMO_CURL = re.compile(r"-d '(\{.*?\})' (?:\\\\\n\s*)?\$GATEWAY_URL\$API_CONTEXT/anything/(\S+)(.*\n.*)")
DEMO_XML_CURL = re.compile(r"-d '(<.*?)' (?:\\\\\n\s*)?\$GATEWAY_URL\$API_CONTEXT(/anything/\S+)(.*\n.*)")


def _handed_over(
    body: bytes, included: int | None = None, content_type: str = "application/json"
) -> tuple[dict[str, str], RequestBody]:
    """The headers and body the gateway hands the adapter for a row's POST with `body`: the allowlist's headers
    (Ansible's uri module's values; Authorization is the credential, hidden from the policies) and the body up to
    `included` bytes (the gateway's max_request_bytes; None: all of it), with Envoy's word on whether that is all of
    it."""
    sent = body[:included] if included is not None else body
    headers = {"content-type": content_type, "content-length": str(len(body)), "user-agent": "ansible-httpget",
               "x-forwarded-for": "127.0.0.1", "x-envoy-external-address": "127.0.0.1",
               "x-request-id": "6c1b2f4e-9d0a-4c1e-8f5b-2a7d3e4f5a6b",
               PARTIAL_BODY: str(sent != body).lower()}  # fmt: skip
    return headers, request_body(headers, sent)


def _refusal(body: bytes, included: int | None = None) -> object:
    """The Regex Policy's answer to the row's POST with `body`, the path after the API's context."""
    headers, handed_over = _handed_over(body, included)
    return ThreatCheck().refusal(headers, FLOW["path"], handed_over)


def test_the_regex_policy_guards_the_post_operation_the_flow_calls(catalog: dict) -> None:
    """regexPolicy v1 on the request flow of POST /anything/{segment}, as APIM serves it (no parameters), and in the
    adapter's catalog that operation's first check, the path the row calls being its; GET on the same path (the OPA
    row's) is not searched."""
    api = catalog["apis"][0]
    [regex] = [p for p in api["operationPolicies"] if p["policyName"] == "regexPolicy"]
    assert regex == {"flow": "request", "policyName": "regexPolicy", "policyVersion": "v1", "verb": "POST",
                     "target": "/anything/{segment}", "parameters": {}}  # fmt: skip
    built = catalog_module.build(catalog).apis[api["uuid"]]
    guarded = built.match("POST", FLOW["path"])
    assert guarded is not None
    assert (guarded.pattern, guarded.scopes, guarded.access_checks[0]) == (
        "/anything/{segment}", frozenset(), ThreatCheck())  # fmt: skip
    assert not [c for c in built.match("GET", FLOW["path"]).access_checks if isinstance(c, ThreatCheck)]


def test_the_gateway_includes_request_bodies_in_the_check(envoy_config: dict) -> None:
    """Istio's includeRequestBodyInCheck (gateway.yml), so that the adapter has a body to search: up to 64 KiB, a
    longer one cut rather than answered 413; the allowlist hands over the headers saying what the body is and
    whether it is whole."""
    settings = ext_authz(envoy_config)
    assert settings["with_request_body"] == {"max_request_bytes": 65536, "allow_partial_message": True,
                                             "pack_as_bytes": False}  # fmt: skip
    allowed = {p["exact"] for p in settings["allowed_headers"]["patterns"]}
    assert {"content-type", "content-length", PARTIAL_BODY} <= allowed


def test_the_flows_bodies_get_the_answers_its_row_expects(envoy_config: dict) -> None:
    """The row sends each body as Ansible's uri module does (body_format json: json.dumps): the clean one passes,
    the other is refused for its body, with the code and description the row checks; both fit in what the gateway
    includes, and one past it is refused with APIM's payload-size answer instead of passing unsearched."""
    clean, threat = (json.dumps(FLOW[name]).encode() for name in ("clean_body", "threat_body"))
    assert FLOW["clean_body"].keys() == FLOW["threat_body"].keys()  # only a value differs
    assert _refusal(clean) is None
    refused = _refusal(threat)
    assert refused is THREAT_IN_BODY
    assert (refused.status, refused.code, refused.message, refused.description) == (
        400, "400", "Bad Request", "SQL-Injection Threat detected in Payload")  # fmt: skip
    limit = ext_authz(envoy_config)["with_request_body"]["max_request_bytes"]
    assert (_refusal(clean, limit), _refusal(threat, limit)) == (None, THREAT_IN_BODY)  # both included whole
    longer = json.dumps({**FLOW["clean_body"], "pad": "x" * limit}).encode()
    assert _refusal(longer, limit) is BODY_NOT_SEARCHED  # Envoy cut it: not searched whole, not let through


@pytest.mark.parametrize(("status", "index"), [("200", 0), ("400", 1)])
def test_the_curls_make_demo_prints_get_the_answers_it_names(status: str, index: int) -> None:
    """scripts/demo.sh's two curls on the Regex Policy's operation, the second with an escaped apostrophe (\\u0027,
    decoded as APIM's JSON builder decodes it): 200, then 400 for its body."""
    demo = (ROOT / "scripts/demo.sh").read_text()
    calls = [c for c in DEMO_CURL.findall(demo) if f"/anything/{c[1]}" == FLOW["path"]]
    assert len(calls) == 2, calls
    body, segment, comment = calls[index]
    assert f"/anything/{segment}" == FLOW["path"]
    assert f"# {status}" in comment
    assert _refusal(body.encode()) is (None if status == "200" else THREAT_IN_BODY)


def test_the_rows_argument_spec_names_what_is_missing(tmp_path: Path) -> None:
    """A Regex Policy row without the body to refuse stops the role before its first call, with the spec's words."""
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [secured_flow]\n")
    extra = {"secured_flow_base_url": "http://127.0.0.1:1", "secured_flow_token_url": "http://127.0.0.1:1/token",
             "secured_flow_clients": {},
             "secured_flow_regex_policy": {"path": "/anything/regex", "clean_body": {}}}  # fmt: skip
    result = run_ansible("ansible-playbook", "-i", "localhost,", "-c", "local", "--check", playbook,
                         "-e", json.dumps(extra), env={"ANSIBLE_ROLES_PATH": str(ROOT / "roles")})  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Validation of arguments failed" in output, output[-3000:]
    assert "missing required arguments: threat_body found in secured_flow_regex_policy" in output, output[-3000:]


def _guarded(catalog: dict, path: str):
    """The resource the adapter builds from the rendered catalog for a POST to `path` (after the API's context)."""
    api = catalog["apis"][0]
    guarded = catalog_module.build(catalog).apis[api["uuid"]].match("POST", path)
    assert guarded is not None
    return guarded


def test_the_json_and_xml_validators_follow_the_regex_policy_on_the_same_operation(catalog: dict) -> None:
    """jsonValidator v1 (the JSON row's maxStringLength, APIM's defaults for its other limits) then xmlValidator v1
    (no parameters) after regexPolicy v1 on POST /anything/{segment}; the adapter runs them in that order."""
    api = catalog["apis"][0]
    policies = [p for p in api["operationPolicies"] if (p["verb"], p["target"]) == ("POST", "/anything/{segment}")]
    assert [p["policyName"] for p in policies] == ["regexPolicy", "jsonValidator", "xmlValidator"]
    assert str(policies[1]["parameters"]["maxStringLength"]) == str(JSON_FLOW["max_string_length"])
    checks = _guarded(catalog, JSON_FLOW["path"]).access_checks
    assert [type(c) for c in checks] == [ThreatCheck, JsonCheck, XmlCheck]
    limits = checks[1].limits
    assert (limits.max_string_length, limits.max_json_depth, limits.max_property_count) == (
        JSON_FLOW["max_string_length"], 100, 100)  # fmt: skip


def _answer(catalog: dict, path: str, body: bytes, content_type: str, included: int | None = None) -> object:
    """The operation's policies' answer to a POST of `body` to `path`, in their order (the first refusal is the
    answer; None: the call goes on to the backend)."""
    headers, handed_over = _handed_over(body, included, content_type)
    for check in _guarded(catalog, path).access_checks:
        if isinstance(check, ThreatCheck):
            refused = check.refusal(headers, path, handed_over)
        elif isinstance(check, JsonCheck):
            refused = check.refusal("POST", handed_over, api_context=catalog["apis"][0]["context"])
        else:
            refused = check.refusal("POST", handed_over)
        if refused is not None:
            return refused
    return None


def test_the_json_rows_bodies_get_the_answers_its_row_expects(catalog: dict, envoy_config: dict) -> None:
    """The row's first body passes the operation's policies; the second, only its note longer than maxStringLength,
    is 400 with the description the role expects (roles/secured_flow/vars/main.yml), whole within what the gateway
    includes."""
    within, past = (json.dumps(JSON_FLOW[name]).encode() for name in ("within_limits_body", "past_limit_body"))
    assert JSON_FLOW["within_limits_body"].keys() == JSON_FLOW["past_limit_body"].keys()
    assert len(JSON_FLOW["within_limits_body"]["note"]) <= JSON_FLOW["max_string_length"] < len(
        JSON_FLOW["past_limit_body"]["note"])  # fmt: skip
    assert _answer(catalog, JSON_FLOW["path"], within, "application/json") is None
    limit = ext_authz(envoy_config)["with_request_body"]["max_request_bytes"]
    refused = _answer(catalog, JSON_FLOW["path"], past, "application/json", limit)
    assert (refused.status, refused.code, refused.message, refused.description) == (
        400, "400", "Bad Request", "Request is failed due to a JSON schema validation failure: Max String Length "
        f"[{JSON_FLOW['max_string_length']}] Reached")  # fmt: skip


def test_the_xml_rows_bodies_get_the_answers_its_row_expects(catalog: dict, envoy_config: dict) -> None:
    """The row's plain document passes the operation's policies; the one using the external entity its DTD declares
    is 400, its description the one the role expects (roles/secured_flow/vars/main.yml) followed by Woodstox's
    location, whole within what the gateway includes. demo.sh's curls send the same two documents."""
    plain, entity = (XML_FLOW[name].encode() for name in ("plain_body", "entity_body"))
    assert _answer(catalog, XML_FLOW["path"], plain, "application/xml") is None
    limit = ext_authz(envoy_config)["with_request_body"]["max_request_bytes"]
    refused = _answer(catalog, XML_FLOW["path"], entity, "application/xml", limit)
    assert isinstance(refused, ErrorCode), refused
    assert (refused.status, refused.code, refused.message) == (400, "400", "Bad Request")
    expected = f'XML Validation Failed: due to Undeclared general entity "{XML_FLOW["entity"]}"\n at '
    assert refused.description.startswith(expected), refused.description
    curls = DEMO_XML_CURL.findall((ROOT / "scripts/demo.sh").read_text())
    assert [body for body, _, _ in curls] == [XML_FLOW["plain_body"], XML_FLOW["entity_body"]]


@pytest.mark.parametrize(("status", "index"), [("200", 0), ("400", 1)])
def test_the_json_validator_curls_make_demo_prints_get_the_answers_it_names(catalog: dict, status: str,
                                                                          index: int) -> None:  # fmt: skip
    """scripts/demo.sh's two curls on the JSON Validator's operation: 200, then 400 naming the row's limit."""
    calls = [c for c in DEMO_CURL.findall((ROOT / "scripts/demo.sh").read_text())
             if f"/anything/{c[1]}" == JSON_FLOW["path"]]  # fmt: skip
    assert len(calls) == 2, calls
    body, _, comment = calls[index]
    refused = _answer(catalog, JSON_FLOW["path"], body.encode(), "application/json")
    assert f"# {status}" in comment
    if status == "200":
        assert refused is None
    else:
        assert refused.description.endswith(comment.split("failure: ")[1].strip())


@pytest.mark.parametrize(("status", "index"), [("200", 0), ("400", 1)])
def test_the_xml_validator_curls_make_demo_prints_get_the_answers_it_names(catalog: dict, status: str,
                                                                         index: int) -> None:  # fmt: skip
    """scripts/demo.sh's two XML curls on the same operation: a plain document 200, then one declaring an external
    entity (an XXE attempt) 400: no DTD is read, so the entity it uses is undeclared, as Woodstox says for APIM."""
    calls = DEMO_XML_CURL.findall((ROOT / "scripts/demo.sh").read_text())
    assert len(calls) == 2, calls
    body, path, comment = calls[index]
    assert "application/xml" in (ROOT / "scripts/demo.sh").read_text().split(body)[0].rsplit("curl", 1)[1]
    refused = _answer(catalog, path, body.encode(), "application/xml")
    assert f"# {status}" in comment
    if status == "200":
        assert refused is None
    else:
        assert isinstance(refused, ErrorCode), refused
        assert refused.status == 400
        assert refused.description.startswith(comment.split("# 400: ")[1].strip())
