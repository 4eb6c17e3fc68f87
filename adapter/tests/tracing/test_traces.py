"""One trace across the edge and the adapter: a real Envoy tracing with its OpenTelemetry tracer and the adapter
exporting OTLP, both to a real OpenTelemetry Collector that writes what it receives to a file."""

from __future__ import annotations

import json
import secrets

import pytest
import requests
import yaml

from harness import oidc
from harness.adapter_process import AdapterProcess
from harness.envoy import Authz, Gateway
from harness.otelcol import Collector
from harness.processes import free_port, go_httpbin
from harness.sample_catalog import KM, catalog_document

SERVER, CLIENT = 2, 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tracing")
    processes = []
    key = oidc.SigningKey("RS256")
    jwks = oidc.JwksServer([key])
    (workdir / "catalog.yaml").write_text(yaml.safe_dump(catalog_document()))
    try:
        collector = Collector().start(workdir)
        processes.append(collector)
        bin_proc, bin_port = go_httpbin(workdir)
        processes.append(bin_proc)
        config = {
            "keyManagers": [{"name": KM, "issuer": jwks.issuer, "jwksUri": jwks.url, "jwksMinRefetchSeconds": 0}],
            "controlPlane": {"type": "file", "path": str(workdir / "catalog.yaml")},
            "analytics": {"enabled": False},
            "server": {"http": {"host": "127.0.0.1", "port": free_port(), "pathPrefix": "/check"}},
            "tracing": {"enabled": True, "endpoint": collector.grpc_endpoint, "serviceName": "apim-adapter"},
        }
        adapter = AdapterProcess(workdir, config)
        processes.append(adapter.proc)
        adapter.wait_ready()
        gateways = {
            "grpc": Gateway(Authz([adapter.grpc_port], "grpc"), bin_port, tracing_port=collector.grpc_port),
            "http": Gateway(
                Authz([adapter.http_port], "http", path_prefix="/check"), bin_port, tracing_port=collector.grpc_port
            ),
        }
        for gw in gateways.values():
            processes.append(gw.start(workdir))
        yield collector, gateways, key, jwks, adapter
    finally:
        for proc in reversed(processes):
            proc.stop()
        jwks.close()


def sign(jwks, key, app="subscribed"):
    return key.sign(oidc.claims(jwks.issuer, f"client-{app}", "scope_ip scope_headers"))


def trace_of(collector, trace_id):
    def complete(spans):
        mine = [s for s in spans if s.trace_id == trace_id]
        return {s.service for s in mine} >= {"gateway", "apim-adapter"} and any(
            s.name == "ext_authz check" for s in mine
        )

    return [s for s in collector.wait_for(complete) if s.trace_id == trace_id]


@pytest.mark.parametrize("mode", ["grpc", "http"])
def test_one_trace_holds_the_gateways_span_and_the_adapters_check(stack, mode):
    collector, gateways, key, jwks, _ = stack
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    token = sign(jwks, key)
    r = requests.get(
        gateways[mode].url + "/httpbin/1.0.0/ip",
        headers={"authorization": f"Bearer {token}", "traceparent": f"00-{trace_id}-{client_span}-01"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    spans = trace_of(collector, trace_id)
    by_id = {s.span_id: s for s in spans}
    [check] = [s for s in spans if s.name == "ext_authz check"]
    assert (check.service, check.kind) == ("apim-adapter", SERVER)
    # The check's parent is the gateway's ext_authz client span, whose parent is the gateway's request span,
    # whose parent is the caller's span.
    authz_call = by_id[check.parent_id]
    assert (authz_call.service, authz_call.kind) == ("gateway", CLIENT)
    ingress = by_id[authz_call.parent_id]
    assert (ingress.service, ingress.kind, ingress.parent_id) == ("gateway", SERVER, client_span)
    assert check.attributes["apim.api.name"] == "HttpbinAPI"
    assert check.attributes["apim.resource"] == "GET /ip"
    assert check.attributes["apim.application.name"] == "subscribed"
    assert check.attributes["apim.decision"] == "allow"
    assert check.attributes["apim.transport"] == mode
    assert token not in collector.raw()


def test_a_key_fetched_inside_a_check_is_a_child_of_the_check(stack):
    collector, gateways, _, jwks, _ = stack
    rotated = oidc.SigningKey("RS256")
    jwks.keys.append(rotated)  # a new kid: the check itself fetches the JWKS again
    trace_id = secrets.token_hex(16)
    r = requests.get(
        gateways["grpc"].url + "/httpbin/1.0.0/ip",
        headers={"authorization": f"Bearer {sign(jwks, rotated)}", "traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    spans = collector.wait_for(lambda s: any(x.trace_id == trace_id and x.name == "JWKS fetch" for x in s))
    [check] = [s for s in spans if s.trace_id == trace_id and s.name == "ext_authz check"]
    [fetch] = [s for s in spans if s.trace_id == trace_id and s.name == "JWKS fetch"]
    assert fetch.parent_id == check.span_id
    assert fetch.attributes["apim.key_manager"] == KM


def test_the_denied_log_line_names_the_trace_and_control_plane_pulls_are_roots(stack):
    collector, gateways, key, jwks, adapter = stack
    trace_id = secrets.token_hex(16)
    token = sign(jwks, key, "unsubscribed")
    r = requests.get(
        gateways["grpc"].url + "/httpbin/1.0.0/ip",
        headers={"authorization": f"Bearer {token}", "traceparent": f"00-{trace_id}-{'2' * 16}-01"},
        timeout=10,
    )
    assert r.status_code == 403
    [check] = [s for s in trace_of(collector, trace_id) if s.name == "ext_authz check"]
    assert (check.attributes["apim.decision"], check.attributes["apim.error.code"]) == ("deny", "900908")
    denied = [json.loads(line) for line in adapter.proc.log(1 << 20).splitlines() if '"denied"' in line]
    assert any(d.get("trace_id") == trace_id and d.get("span_id") == check.span_id for d in denied)
    pulls = [s for s in collector.spans() if s.name == "control-plane pull"]
    assert pulls
    assert all(p.parent_id == "" and p.service == "apim-adapter" for p in pulls)
