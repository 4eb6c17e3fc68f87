"""A GraphQL API (harness.sample_catalog's StarWarsAPI) behind a real Envoy in gRPC and HTTP modes in front of a real
httpbin, the provider including bodies in its checks: a document its caller may run reaches the backend as sent;
one asking a field the token has no scope for, one the schema refuses and one deeper than the tier allows are
answered by the gateway with APIM's codes and never reach the backend; and a gateway that does not include bodies
gets every call refused as unread, never let through."""

from __future__ import annotations

import time

import pytest
import requests

from harness.adapter_process import Served
from harness.envoy import HTTP_UPSTREAM_ON_ALLOW
from harness.processes import echoed_headers
from harness.sample_catalog import graphql_catalog, operation_policy

# Served at a context go-httpbin echoes (`/anything/...`): what reaches the backend comes back in the answer.
API = "/anything/swapi/1.0.0"
INCLUDED_BODY = {"maxRequestBytes": 8192, "allowPartialMessage": True}  # the chart's values example
# The API's own policy runs on every call; an operation's runs nowhere, as on APIM's gateway.
POLICIES = [
    operation_policy("request", "addHeader", "v2", headerName="X-Env", headerValue="mesh"),
    operation_policy("request", "addHeader", "v2", "QUERY hero", headerName="X-Hero", headerValue="yes"),
]


@pytest.fixture(scope="module")
def served(stack, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("graphql")
    doc = graphql_catalog(context=API, operationPolicies=POLICIES)
    upstream = (*HTTP_UPSTREAM_ON_ALLOW, "x-env", "x-hero")  # the chart's extraHeadersToUpstream, both named
    with stack.own_adapter(workdir, doc, include_request_body=INCLUDED_BODY, upstream_on_allow=upstream) as (
        adapter,
        gateways,
    ):
        yield Served(gateways, adapter)


def post(url: str, token: str | None, query: str, **body) -> requests.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return requests.post(url, json={"query": query, **body}, headers=headers, timeout=10)


def test_a_document_the_caller_may_run_reaches_the_backend_as_sent(stack, served, mode):
    query = f"query Probe{time.time_ns()} {{ hero {{ name friends(first: 2) {{ name }} }} name }}"
    probe = f"probe-{time.time_ns()}"
    resp = post(served.gateways[mode].url + API + "/" + probe, stack.token(), query, variables={"episode": 4})
    assert resp.status_code == 200, resp.text
    assert resp.json()["json"] == {"query": query, "variables": {"episode": 4}}  # go-httpbin's echo
    seen = echoed_headers(resp)
    assert seen["x-env"] == ["mesh"]  # the API's policy
    assert "x-hero" not in seen  # the hero operation's: APIM's gateway runs it nowhere either
    # go-httpbin logs each request before its answer ends: what the refused calls' probes are looked for in
    assert probe in (stack.workdir / "httpbin.log").read_text()


@pytest.mark.parametrize(
    ("query", "with_token", "status", "answer"),
    [
        ("{ hero { name } ... on Query { secret } }", True, 403,
         {"code": "900910", "message": "The access token does not allow you to access the requested resource",
          "description": "User is NOT authorized to access the Resource: hero,secret. Scope validation failed."}),
        ("{ hero { height } }", False, 422,
         {"code": "900422", "message": "INVALID QUERY",
          "description": "Cannot query field 'height' on type 'Character'."}),
        ("{ hero { friends { friends { name } } } }", True, 400,
         {"code": "900820", "message": "QUERY TOO DEEP", "description": "[maximum query depth exceeded 4 > 3]"}),
    ],
    ids=["scope", "schema", "depth"],
)  # fmt: skip
def test_a_refused_call_is_answered_with_apims_code_and_never_reaches_the_backend(
    stack, served, mode, query, with_token, status, answer
):
    probe = f"probe-{time.time_ns()}"  # the gateway's one resource is POST /*: any path under the context
    resp = post(served.gateways[mode].url + API + "/" + probe, stack.token() if with_token else None, query)
    assert (resp.status_code, resp.json()) == (status, answer)
    assert probe not in (stack.workdir / "httpbin.log").read_text()


def test_fields_needing_no_authentication_are_served_without_a_token(served, mode):
    resp = post(served.gateways[mode].url + API, None, "{ name }")
    assert resp.status_code == 200, resp.text


def test_a_gateway_that_does_not_include_bodies_gets_every_call_refused_as_unread(stack, served, mode, tmp_path):
    gateway = served.adapter.gateways(stack.gateways["grpc"].upstream_port)[mode]  # include_request_body None
    proc = gateway.start(tmp_path)
    try:
        unread = 'apim_adapter_bodies_unread_total{api="StarWarsAPI"}'
        before = served.adapter.sample(unread)
        resp = post(gateway.url + API, None, "{ name }")
        assert resp.status_code == 422
        assert resp.json()["code"] == "900422"
        assert "include bodies in its check" in resp.json()["description"]
        assert served.adapter.sample(unread) == before + 1  # ApimAdapterBodiesUnread tells the operator
    finally:
        proc.stop()
