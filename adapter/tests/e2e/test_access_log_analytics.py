"""Analytics events completed by the gateway's access log: a real Envoy, configured as istiod configures a gateway
whose Telemetry resource names an `envoyHttpAls` provider, streams its entries to the adapter's access log service,
and the adapter writes an allowed request's event from the entry, with the backend's answer and the latencies."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from harness.adapter_process import AdapterProcess
from harness.envoy import HEADER_ALLOWLIST, AccessLogService, Authz, Gateway
from harness.processes import echoed_headers, free_port
from harness.sample_catalog import KM, catalog_document
from harness.transports import GRPC_TRANSPORTS

API = "/httpbin/1.0.0"
# APIM's per-API logging on one resource no other test here calls: its calls are written, request and response.
LOGGED = {"context": API, "logLevel": "STANDARD", "resourceMethod": "GET", "resourcePath": "/headers"}


@dataclass
class Logged:
    adapter: AdapterProcess
    grpc: Gateway  # gRPC mode, httpbin behind it
    http: Gateway  # HTTP mode, httpbin behind it
    unreachable: Gateway  # gRPC mode, nothing listening behind it
    log: Path

    def events(self, offset: int = 0) -> list[dict]:
        """Every event written after `offset`: (kind, fields) as a dict with `kind` added."""
        found = []
        with self.log.open() as f:
            f.seek(offset)
            for line in f:
                if not line.endswith("\n"):
                    break
                kind = re.search(r"apimMetrics: (apim:\w+),", line).group(1)
                found.append({"kind": kind, **json.loads(line.split("properties :", 1)[1])})
        return found

    def size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def wait_for(self, offset: int, matches, within: float = 10) -> list[dict]:
        """The events after `offset` once one of them matches (Envoy sends its entries every second)."""
        deadline = time.monotonic() + within
        while True:
            events = self.events(offset)
            if any(matches(e) for e in events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"no such event among {events}")
            time.sleep(0.05)

    def counted(self, outcome: str) -> float:
        text = requests.get(self.adapter.admin + "/metrics", timeout=5).text
        found = re.search(rf'^apim_adapter_access_log_entries_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module", params=GRPC_TRANSPORTS)
def logged(request, stack, tmp_path_factory):
    """The adapter with its access log service on `server.grpcTransport`'s transport (its checks too), on the
    stack's catalog with `LOGGED`'s level."""
    workdir = tmp_path_factory.mktemp("access-log")
    als_port = free_port()
    catalog = workdir / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({**catalog_document(), "apiLogging": [LOGGED]}))
    adapter = AdapterProcess(
        workdir,
        {
            "keyManagers": [{"name": KM, "issuer": stack.jwks.issuer, "jwksUri": stack.jwks.url}],
            "controlPlane": {"type": "file", "path": str(catalog)},
            "analytics": {
                "output": str(workdir / "analytics.log"),
                "accessLogService": {"enabled": True, "host": "127.0.0.1", "port": als_port},
            },
            "server": {"grpcTransport": request.param, "http": {"host": "127.0.0.1", "port": free_port()}},
        },
    )
    processes = [adapter.proc]
    try:
        adapter.wait_ready()
        als = AccessLogService(als_port)  # one provider, one Telemetry resource for every gateway
        backend = stack.gateways["grpc"].upstream_port
        gateways = {
            "grpc": Gateway(Authz([adapter.grpc_port]), backend, ext_authz_patch=HEADER_ALLOWLIST,
                            access_log_service=als),
            "http": Gateway(Authz([adapter.http_port], "http"), backend, access_log_service=als),
            "unreachable": Gateway(Authz([adapter.grpc_port]), free_port(), ext_authz_patch=HEADER_ALLOWLIST,
                                   access_log_service=als),
        }  # fmt: skip
        for gw in gateways.values():
            processes.append(gw.start(workdir))
        yield Logged(adapter, log=workdir / "analytics.log", **gateways)
    finally:
        for proc in reversed(processes):
            proc.stop()


def call(stack, gateway: Gateway, path: str, token: bool = True) -> requests.Response:
    headers = {"authorization": "Bearer " + stack.token(), "user-agent": "AlsProbeBot/2.0 (X11; Linux x86_64)"}
    return requests.get(gateway.url + API + path, headers=headers if token else {}, timeout=10)


def request_id(resp: requests.Response) -> str:
    """The x-request-id the gateway gave the request (it replaces a client's), as httpbin saw it: one value."""
    [rid] = echoed_headers(resp)["x-request-id"]
    return rid


def test_an_allowed_requests_event_has_the_backends_answer_and_the_latencies(stack, logged):
    for attempt in ("whole check", "prepared allow"):  # the second identical check is answered warm
        offset = logged.size()
        resp = call(stack, logged.grpc, "/anything/als")
        assert resp.status_code == 200, resp.text
        rid = request_id(resp)
        events = logged.wait_for(offset, lambda e, rid=rid: e.get("correlationId") == rid)
        mine = [e for e in events if e.get("correlationId") == rid]
        assert len(mine) == 1, (attempt, mine)  # the check wrote none of its own
        event = mine[0]
        assert event["kind"] == "apim:response"
        assert event["eventType"] == "response"
        assert (event["targetResponseCode"], event["proxyResponseCode"]) == (200, 200)
        assert (event["apiName"], event["apiVersion"], event["apiResourceTemplate"]) == (
            "HttpbinAPI",
            "1.0.0",
            "/anything/*",
        )
        assert (event["applicationName"], event["keyType"]) == ("subscribed", "PRODUCTION")
        assert event["userName"].endswith("@carbon.super")
        assert event["properties"]["subscriptionTier"]
        assert (event["apiMethod"], event["userAgent"], event["platform"]) == ("GET", "AlsProbeBot", "Linux")
        assert event["userIp"]
        assert event["destination"].endswith(f":{stack.gateways['grpc'].upstream_port}")
        for name in ("backendLatency", "requestMediationLatency", "responseLatency", "responseMediationLatency"):
            assert event[name] >= 0, (name, event)
        assert event["responseLatency"] >= event["backendLatency"]
        assert "securityLatency" not in event["properties"]  # the check's own time is in its metrics


def test_a_backends_error_status_is_a_response_event_with_that_status(stack, logged):
    """APIM (and Choreo Connect: `via_upstream`) reports what the backend answered as a response, whatever its
    status: a 503 from httpbin is not a gateway fault."""
    offset = logged.size()
    assert call(stack, logged.grpc, "/status/503").status_code == 503
    events = logged.wait_for(offset, lambda e: e.get("apiResourceTemplate") == "/status/{status_code}")
    (event,) = [e for e in events if e.get("apiResourceTemplate") == "/status/{status_code}"]
    assert (event["kind"], event["targetResponseCode"], event["proxyResponseCode"]) == ("apim:response", 503, 503)


def test_a_backend_the_gateway_cannot_reach_is_a_target_connectivity_fault(stack, logged):
    offset = logged.size()
    resp = call(stack, logged.unreachable, "/anything/gone")
    assert resp.status_code == 503  # Envoy's own answer: no connection
    events = logged.wait_for(offset, lambda e: e.get("errorType") == "TARGET_CONNECTIVITY")
    (event,) = events
    assert event["kind"] == "apim:faulty"
    assert (event["errorCode"], event["errorMessage"]) == (101500, "OTHER")  # upstream_connection_failure
    assert (event["proxyResponseCode"], event["targetResponseCode"]) == (503, -1)
    assert (event["apiName"], event["applicationName"]) == ("HttpbinAPI", "subscribed")


def test_a_denial_is_written_once_by_the_check(stack, logged):
    """The denial's entry reaches the adapter too (`ext_authz_denied`) and is left out. Envoy sends one thread's
    entries in order: once the allowed request's event is written, the denial's entry has been read."""
    offset = logged.size()
    assert call(stack, logged.grpc, "/anything/denied", token=False).status_code == 401
    rid = request_id(call(stack, logged.grpc, "/anything/after"))
    events = logged.wait_for(offset, lambda e: e.get("correlationId") == rid)
    denials = [e for e in events if e["kind"] == "apim:faulty"]
    assert [(e["errorType"], e["targetResponseCode"]) for e in denials] == [("AUTH", -1)], events


def test_http_mode_still_writes_an_allowed_requests_event_at_the_check(stack, logged):
    """HTTP mode cannot hand Envoy metadata: its allowed requests are written by the check, and their entries,
    which name no decision, are left out (not written twice)."""
    skipped = logged.counted("skipped")
    offset = logged.size()
    resp = call(stack, logged.http, "/anything/http")
    assert resp.status_code == 200, resp.text
    rid = request_id(resp)
    logged.wait_for(offset, lambda e: e.get("correlationId") == rid)  # the check's event, written by the writer
    deadline = time.monotonic() + 10
    while logged.counted("skipped") <= skipped:  # its entry arrived and became nothing
        assert time.monotonic() < deadline, "the HTTP-mode entry never reached the access log service"
        time.sleep(0.05)
    mine = [e for e in logged.events(offset) if e.get("correlationId") == rid]
    assert [e["targetResponseCode"] for e in mine] == [-1], mine


def test_a_logged_resources_call_is_written_with_the_answer_the_backend_gave(stack, logged):
    """APIM's per-API logging (LogsHandler): the check writes the call's REQUEST_IN, and the gateway's access log
    entry its RESPONSE_OUT with the status the backend answered, under the request id the backend saw."""
    token = stack.token()
    resp = requests.get(logged.grpc.url + API + "/headers", headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    rid = request_id(resp)

    def written() -> list[dict]:
        found = [json.loads(line) for line in logged.adapter.proc.log(tail=1 << 22).splitlines()
                 if '"apim_adapter.api_log"' in line]  # fmt: skip
        return [line for line in found if line["correlationId"] == rid]

    deadline = time.monotonic() + 10  # Envoy sends its entries every second
    while len(written()) < 2:
        assert time.monotonic() < deadline, written()
        time.sleep(0.05)
    request_in, response_out = written()
    assert (request_in["flow"], request_in["apiTo"], request_in["logLevel"]) == ("REQUEST_IN", API + "/headers",
                                                                                  "STANDARD")  # fmt: skip
    assert request_in["headers"]["authorization"] == "Bearer ***"
    assert (response_out["flow"], response_out["statusCode"], response_out["resourceName"]) == (
        "RESPONSE_OUT", 200, "/headers",
    )  # fmt: skip
    assert token.split(".")[2] not in logged.adapter.proc.log(tail=1 << 22)
