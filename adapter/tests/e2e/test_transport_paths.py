"""Every path a check can take behind a real Envoy answers the same checks the same way: in gRPC mode both
transports, the compiled one (adapter/native, what `server.grpcTransport: auto` picks when it is installed, as in
the image) and grpcio, each with both request readers, the compiled one and the protobuf runtime
(`server.grpcRequestReader: protobuf`, and every adapter installed without the extension); in HTTP mode both
transports, the compiled one (`server.httpTransport: auto`) and aiohttp."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from apim_adapter.transport.grpc import GrpcServer, read_native
from apim_adapter.transport.http import HttpServer
from harness.adapter_process import AdapterProcess
from harness.envoy import Authz, Gateway
from harness.processes import echoed_headers, free_port
from harness.sample_catalog import KM, bandwidth_policy, catalog_document

READERS = ["protobuf"] + (["compiled"] if read_native is not None else [])
TRANSPORTS = ["grpcio"] + (["compiled"] if GrpcServer is not None else [])
HTTP_TRANSPORTS = ["aiohttp"] + (["compiled"] if HttpServer is not None else [])

# includeRequestBodyInCheck: up to 8 KiB of the body in the check, the rest passed on (allowPartialMessage).
INCLUDED_BODY = {"maxRequestBytes": 8192, "allowPartialMessage": True}


@contextlib.contextmanager
def behind_envoy(
    stack,
    workdir: Path,
    mode: str,
    server: dict[str, Any],
    body: dict[str, Any] | None = None,
    h2_upgrade: bool = False,
    catalog: dict[str, Any] | None = None,
) -> Iterator[tuple[Gateway, dict[str, Any]]]:
    """An adapter with `server` settings behind its own Envoy in `mode` (`body`: the provider's
    includeRequestBodyInCheck; `h2_upgrade`: the HTTP-mode cluster upgraded to HTTP/2 by istiod; `catalog`: the
    sample one unless given): yields the gateway and the adapter's `serving` log line."""
    (workdir / "catalog.yaml").write_text(yaml.safe_dump(catalog or catalog_document()))
    if mode == "http":
        server["http"] = {"host": "127.0.0.1", "port": free_port(), "pathPrefix": "/check"}
    config = {
        "server": server,
        "keyManagers": [{"name": KM, "issuer": stack.jwks.issuer, "jwksUri": stack.jwks.url}],
        "controlPlane": {"type": "file", "path": "catalog.yaml"},
        "analytics": {"enabled": False},
    }
    adapter = AdapterProcess(workdir, config)
    if mode == "grpc":
        authz = Authz([adapter.grpc_port], include_request_body=body)
    else:
        authz = Authz(
            [adapter.http_port], "http", path_prefix="/check", include_request_body=body, h2_upgrade=h2_upgrade
        )
    gateway = Gateway(authz, stack.gateways[mode].upstream_port)
    envoy = None
    try:
        adapter.wait_ready()
        envoy = gateway.start(workdir)
        yield gateway, next(json.loads(line) for line in adapter.proc.log().splitlines() if '"serving"' in line)
    finally:
        if envoy is not None:
            envoy.stop()
        adapter.stop()


def allows_counts_and_denies(stack, gateway: Gateway) -> None:
    """Warm checks count like the first and carry the same context headers; denials are WSO2's."""
    token = {"authorization": f"Bearer {stack.token()}", "x-forwarded-for": "203.0.113.50"}
    answers = [requests.get(gateway.url + "/httpbin/1.0.0/headers", headers=token, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    remaining = [int(a.headers["ratelimit-remaining"]) for a in answers]
    assert remaining[1:] == [remaining[0] - 1, remaining[0] - 2]  # the warm checks count like the first
    upstream = [echoed_headers(a) for a in answers]
    assert upstream[0]["x-apim-application-name"] == upstream[2]["x-apim-application-name"] == ["subscribed"]
    assert "authorization" not in upstream[2]  # removed before the backend, on a warm check too
    unsubscribed = {"authorization": f"Bearer {stack.token(app='unsubscribed')}"}
    denied = requests.get(gateway.url + "/httpbin/1.0.0/ip", headers=unsubscribed, timeout=10)
    assert denied.status_code == 403
    assert json.loads(denied.content)["code"] == "900908"
    missing = requests.get(gateway.url + "/httpbin/1.0.0/ip", timeout=10)
    assert missing.status_code == 401


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("reader", READERS)
def test_each_grpc_path_allows_counts_and_denies_as_the_others(stack, tmp_path, transport, reader):
    server = {"grpcRequestReader": reader, "grpcTransport": transport}
    with behind_envoy(stack, tmp_path, "grpc", server) as (gateway, serving):
        allows_counts_and_denies(stack, gateway)
    assert (serving["grpc_transport"], serving["request_reader"]) == (transport, reader)


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
def test_each_http_mode_transport_allows_counts_and_denies_as_the_other(stack, tmp_path, transport):
    with behind_envoy(stack, tmp_path, "http", {"httpTransport": transport}) as (gateway, serving):
        allows_counts_and_denies(stack, gateway)
    assert serving["http_transport"] == transport


@pytest.mark.skipif(HttpServer is None, reason="apim-adapter-native is not installed (make native)")
def test_http_mode_serves_a_gateway_whose_cluster_istiod_upgraded_to_http2(stack, tmp_path):
    """Under a mesh-wide `h2UpgradePolicy: UPGRADE` without the chart's DestinationRule, the gateway speaks HTTP/2
    to the HTTP-mode port; the compiled transport answers it as it answers HTTP/1.1."""
    with behind_envoy(stack, tmp_path, "http", {"httpTransport": "compiled"}, h2_upgrade=True) as (gateway, _):
        allows_counts_and_denies(stack, gateway)
        admin = f"http://{gateway.host}:{gateway.admin_port}"
        stats = requests.get(f"{admin}/stats?format=json&filter=upstream_cx_http", timeout=10).json()
    opened = {s["name"].rsplit(".", 1)[1]: s["value"] for s in stats["stats"] if gateway.authz.cluster in s["name"]}
    assert opened["upstream_cx_http1_total"] == 0
    assert opened["upstream_cx_http2_total"] >= 1


@pytest.mark.parametrize(
    ("mode", "transport"), [("grpc", t) for t in TRANSPORTS] + [("http", t) for t in HTTP_TRANSPORTS]
)
def test_checks_that_carry_the_request_body_are_answered_and_the_body_reaches_the_backend(
    stack, tmp_path, mode, transport
):
    """With includeRequestBodyInCheck Envoy buffers the body and sends it in the check (partially, past its
    limit); the adapter does not read it, but must take it and answer as without it."""
    server = {"grpcTransport": transport} if mode == "grpc" else {"httpTransport": transport}
    with behind_envoy(stack, tmp_path, mode, server, body=INCLUDED_BODY) as (gateway, _):
        token = {"authorization": f"Bearer {stack.token()}", "content-type": "text/plain"}
        for size in (100, 64 << 10):  # under and over Envoy's limit
            payload = b"0123456789abcdef" * (size // 16)
            sent = requests.post(
                gateway.url + "/httpbin/1.0.0/anything/upload", data=payload, headers=token, timeout=10
            )
            assert sent.status_code == 200, size
            assert sent.json()["data"] == payload.decode(), sent.json()  # httpbin echoes what reached it
        unauthenticated = requests.post(gateway.url + "/httpbin/1.0.0/anything/upload", data=b"x" * 1000, timeout=10)
        assert unauthenticated.status_code == 401


@pytest.mark.parametrize(
    ("mode", "transport", "body", "chunked"),
    [("grpc", t, None, False) for t in TRANSPORTS]
    + [("grpc", t, INCLUDED_BODY, True) for t in TRANSPORTS]
    + [("http", t, INCLUDED_BODY, False) for t in HTTP_TRANSPORTS],
)
def test_a_bandwidth_tier_counts_the_bodies_the_gateway_reports_and_throttles_once_reached(
    stack, tmp_path, mode, transport, body, chunked
):
    """A subscription on 1 KB a minute: two uploads of 600 bytes pass (the second reaches the limit, as APIM's
    traffic manager counts), the third is throttled with WSO2's subscription code. gRPC mode reads the client's
    Content-Length, which Envoy sends with every header, or, for a chunked upload (no Content-Length), the body
    the gateway includes (includeRequestBodyInCheck); HTTP mode, where Envoy sends the check with a
    Content-Length of its own, counts the body the gateway includes."""
    doc = catalog_document()
    doc["subscriptionPolicies"].append(bandwidth_policy("OneKiB", 1, "KB"))
    doc["subscriptions"][0]["policyId"] = "OneKiB"
    server = {"grpcTransport": transport} if mode == "grpc" else {"httpTransport": transport}
    with behind_envoy(stack, tmp_path, mode, server, body=body, catalog=doc) as (gateway, _):
        token = {"authorization": f"Bearer {stack.token()}", "content-type": "text/plain"}
        answers = [
            requests.post(
                gateway.url + "/httpbin/1.0.0/anything/upload",
                data=iter([b"x" * 300, b"x" * 300]) if chunked else b"x" * 600,  # an iterator: sent chunked
                headers=token,
                timeout=10,
            )
            for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 429], [a.content for a in answers]
    assert json.loads(answers[2].content)["code"] == "900804"
    assert answers[0].json()["data"] == "x" * 600  # the body reached the backend
