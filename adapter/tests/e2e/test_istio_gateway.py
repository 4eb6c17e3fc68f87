"""Through Envoy configured as istiod configures the ingress gateway (harness/envoy.py): tier routing with and
without the apim-adapter chart's EnvoyFilter, what the adapter sees of paths, queries and client addresses, and
which request headers reach it."""

from __future__ import annotations

import http.client
import json
import socket
import time
from concurrent import futures
from dataclasses import dataclass

import grpc
import pytest
import requests
import yaml
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from google.rpc import code_pb2, status_pb2

from apim_adapter.transport import REQUEST_HEADERS
from harness.adapter_process import AdapterProcess
from harness.envoy import BROWSER_HEADERS, CLEAR_ROUTE_CACHE, HEADER_ALLOWLIST, Authz, Gateway, TierRouting
from harness.processes import go_httpbin
from harness.sample_catalog import catalog_document

API = "/httpbin/1.0.0"


@dataclass
class Tiered:
    gateways: dict[str, Gateway]  # (mode, with the EnvoyFilter?) -> gateway


@pytest.fixture(scope="module")
def tiered(stack, tmp_path_factory):
    """Its own adapter (premium on Gold, standard on Tiny), httpbin v1 and v2, and a gateway per ext_authz mode,
    with and without the EnvoyFilter that clears the route cache."""
    workdir = tmp_path_factory.mktemp("tiers")
    (workdir / "catalog.yaml").write_text(
        yaml.safe_dump(catalog_document({"premium": ("UNBLOCKED", "Gold"), "standard": ("UNBLOCKED", "Tiny")}))
    )
    processes = []
    try:
        adapter = AdapterProcess(workdir, stack.own_adapter_config())
        processes.append(adapter.proc)
        adapter.wait_ready()
        v1, v1_port = go_httpbin(workdir, "httpbin-v1")
        v2, v2_port = go_httpbin(workdir, "httpbin-v2")
        processes += [v1, v2]
        authz = {"grpc": Authz([adapter.grpc_port]), "http": Authz([adapter.http_port], "http", path_prefix="/check")}
        gateways = {
            (mode, patched): Gateway(
                authz[mode],
                v1_port,
                tier_routing=TierRouting(v2_port),
                ext_authz_patch=CLEAR_ROUTE_CACHE if patched else None,
            )
            for mode in authz
            for patched in (True, False)
        }
        for gateway in gateways.values():
            processes.append(gateway.start(workdir))
        yield Tiered(gateways)
    finally:
        for proc in reversed(processes):
            proc.stop()


def answered_by(stack, gateway: Gateway, app: str) -> tuple[int, str]:
    token = stack.token(app=app, scope="")
    resp = requests.get(gateway.url + API + "/hostname", headers={"authorization": f"Bearer {token}"}, timeout=10)
    return resp.status_code, resp.json()["hostname"].removeprefix("httpbin-") if resp.ok else ""


@pytest.mark.parametrize("mode", ["grpc", "http"])
def test_with_the_envoyfilter_a_premium_consumer_reaches_v2_and_a_default_one_v1(stack, tiered, mode):
    gateway = tiered.gateways[(mode, True)]
    assert answered_by(stack, gateway, "premium") == (200, "v2")
    assert answered_by(stack, gateway, "standard") == (200, "v1")


def test_without_it_as_istiod_alone_builds_the_filter_everyone_stays_on_v1(stack, tiered):
    """clearRouteCache in meshConfig is dropped by istiod: the route was chosen before the adapter set the tier."""
    assert answered_by(stack, tiered.gateways[("grpc", False)], "premium") == (200, "v1")


def test_a_client_sent_tier_header_never_picks_the_route(stack, tiered):
    """The adapter overwrites x-apim-tier; with the route recomputed after the check, the client's copy loses."""
    gateway = tiered.gateways[("grpc", True)]
    token = stack.token(app="subscribed")  # not in this adapter's catalog: refused before any route is used
    resp = requests.get(
        gateway.url + API + "/hostname",
        headers={"authorization": f"Bearer {token}", "x-apim-tier": "Gold"},
        timeout=10,
    )
    assert resp.status_code == 403
    assert "hostname" not in resp.text


# ---- what the adapter sees through istiod's connection manager (the shared stack's adapter and gateways) ----


def seen_by_adapter(stack, gateway: Gateway, path: str, scope: str = "scope_ip scope_headers", **headers) -> dict:
    """The analytics event the adapter wrote for one request (its path template, client address), and the
    answer's status. The tests run one at a time: the event is the first one written after the request was sent
    (the client's x-request-id cannot find it: the gateway regenerates it)."""
    log = stack.workdir / "analytics.log"
    offset = log.stat().st_size if log.exists() else 0
    # http.client sends the path byte for byte (requests would resolve dot segments itself).
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.request("GET", path, headers={"authorization": f"Bearer {stack.token(scope=scope)}", **headers})
        resp = conn.getresponse()
        status, body = resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with log.open() as f:
            f.seek(offset)
            line = f.readline()
        if line.endswith("\n"):
            return {"status": status, "body": body, **json.loads(line.split("properties :", 1)[1])}
        time.sleep(0.05)
    raise AssertionError(f"no analytics event for {path}")


def test_dot_segments_are_resolved_before_the_check(stack, gateway):
    """normalize_path (meshConfig pathNormalization BASE): the adapter judges the path httpbin serves."""
    seen = seen_by_adapter(stack, gateway, API + "/headers/../ip", scope="scope_headers")
    assert seen["apiResourceTemplate"] == "/ip"
    assert seen["status"] == 403  # the token lacks scope_ip: /headers/../ip is /ip, not /headers


def test_double_slashes_are_kept_and_never_judged_as_the_single_slash_path(stack, gateway):
    """merge_slashes is off by default on istiod's gateways: the adapter sees `//ip`, which is no resource."""
    seen = seen_by_adapter(stack, gateway, API + "//ip")
    assert (seen["status"], seen["apiResourceTemplate"], seen["errorCode"]) == (404, "", 404)


def test_encoded_slashes_are_not_decoded_into_another_resource(stack, gateway):
    """path_with_escaped_slashes_action KEEP_UNCHANGED: `status%2F200` stays one segment, not /status/{code}."""
    seen = seen_by_adapter(stack, gateway, API + "/status%2F200")
    assert (seen["status"], seen["apiResourceTemplate"], seen["errorCode"]) == (404, "", 404)


def test_the_query_string_is_not_part_of_the_matched_path(stack, gateway):
    seen = seen_by_adapter(stack, gateway, API + "/ip?next=/headers", scope="scope_ip")
    assert (seen["status"], seen["apiResourceTemplate"]) == (200, "/ip")
    assert '"origin"' in seen["body"]  # httpbin's /ip answered


@pytest.mark.parametrize(
    "forged",
    [{"x-forwarded-for": "6.6.6.6"}, {"x-forwarded-for": "6.6.6.6, 7.7.7.7"}, {"x-envoy-external-address": "6.6.6.6"}],
)
def test_a_forged_client_address_never_reaches_analytics(stack, gateway, forged):
    """use_remote_address with numTrustedProxies 0: Envoy appends the peer it saw to x-forwarded-for, and the
    adapter takes that entry. (For a loopback peer Envoy appends its own host address instead of 127.0.0.1.)"""
    honest = seen_by_adapter(stack, gateway, API + "/ip")
    seen = seen_by_adapter(stack, gateway, API + "/ip", **forged)
    assert (seen["status"], honest["status"]) == (200, 200)
    assert seen["userIp"] == honest["userIp"]
    assert seen["userIp"] not in ("6.6.6.6", "7.7.7.7", "")


def test_the_client_user_agent_reaches_analytics(stack, gateway):
    """Both modes send the adapter user-agent: HTTP mode's includeRequestHeadersInCheck and the gRPC allowlist are
    the adapter's own list (before it, HTTP mode's analytics had no user agent). Analytics name its browser and
    OS families, as WSO2's reporter does."""
    seen = seen_by_adapter(stack, gateway, API + "/ip", **{"User-Agent": "E2eAllowlistBot/1.0 (X11; Linux x86_64)"})
    assert (seen["status"], seen["userAgent"], seen["platform"]) == (200, "E2eAllowlistBot", "Linux")


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Recording(pb_grpc.AuthorizationServicer):
    """An ext_authz gRPC server that keeps the headers of every check it is sent and allows it."""

    def __init__(self):
        self.seen: list[pb.AttributeContext.HttpRequest] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(2))
        pb_grpc.add_AuthorizationServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def Check(self, request: pb.CheckRequest, context) -> pb.CheckResponse:
        self.seen.append(request.attributes.request.http)
        return pb.CheckResponse(status=status_pb2.Status(code=code_pb2.OK), ok_response=pb.OkHttpResponse())


@pytest.mark.parametrize("allowlist", [True, False], ids=["allowlist", "istiod-alone"])
def test_with_the_allowlist_only_the_headers_the_adapter_reads_reach_it(stack, tmp_path, allowlist):
    """The chart's headerAllowlist merged into istiod's gRPC filter, judged by what a real Envoy sends: the
    client's cookie and other credentials stay at the gateway; the method, host and path still arrive as the
    check's attributes. Without it (istiod alone) Envoy sends every header, and this test would see them."""
    recording = Recording()
    upstream = stack.gateways["grpc"].upstream_port
    gateway = Gateway(Authz([recording.port]), upstream, ext_authz_patch=HEADER_ALLOWLIST if allowlist else None)
    proc = gateway.start(tmp_path)
    try:
        client = {"authorization": "Bearer t", "traceparent": TRACEPARENT, **BROWSER_HEADERS}
        resp = requests.get(gateway.url + API + "/headers?x=1", headers=client, timeout=10)
        assert resp.status_code == 200
    finally:
        proc.stop()
        recording.server.stop(0)
    [http] = recording.seen
    assert (http.method, http.host, http.path) == ("GET", f"127.0.0.1:{gateway.port}", API + "/headers?x=1")
    sent = set(http.headers)
    if allowlist:
        assert sent <= set(REQUEST_HEADERS)
        # The client's credential, agent and trace context; the request id and x-forwarded-for Envoy sets.
        assert {"authorization", "user-agent", "traceparent", "x-request-id", "x-forwarded-for"} <= sent
        assert http.headers["user-agent"] == BROWSER_HEADERS["User-Agent"]
    else:
        assert {"cookie", "x-api-key", "referer", ":path", ":authority"} <= sent


def raw_status(port: int, target: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return int(s.recv(64).split()[1])


def test_paths_climbing_above_the_root_are_answered_without_reaching_the_backend(gateway):
    assert raw_status(gateway.port, API + "/../../../etc/passwd") in (400, 401, 403, 404)
