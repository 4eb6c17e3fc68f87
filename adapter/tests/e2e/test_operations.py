"""Catalog hot reload, key rotation, key manager outages, fail-open/closed and observability, through Envoy."""

from __future__ import annotations

import copy
import re
import time

import grpc
import pytest
import requests
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness import oidc
from harness.adapter_process import AdapterProcess
from harness.envoy import Authz, Gateway
from harness.helpers import eventually
from harness.processes import echoed_headers
from harness.sample_catalog import APPS, catalog_document

API = "/httpbin/1.0.0"


def status(gateway, token: str, path: str = "/ip") -> int:
    return requests.get(gateway.url + API + path, headers={"authorization": f"Bearer {token}"}, timeout=10).status_code


def test_catalog_changes_apply_without_restart_and_a_broken_file_keeps_the_last_good(stack):
    gw, token = stack.gateways["grpc"], stack.token("reload")
    pid = stack.adapter.proc.proc.pid
    assert status(gw, token) == 200
    blocked = copy.deepcopy(APPS)
    blocked["reload"] = ("BLOCKED", "Gold")
    stack.write_catalog(catalog_document(blocked))
    assert eventually(lambda: status(gw, token) == 401)

    stack.catalog_path.write_text("apis: [ {broken")
    time.sleep(0.6)
    assert status(gw, token) == 401  # still the last good catalog
    assert requests.get(stack.adapter.admin + "/readyz", timeout=5).status_code == 200
    assert 'apim_adapter_catalog_reloads_total{result="error",source="file"}' in stack.metrics()

    bad_item = catalog_document()
    bad_item["subscriptions"][0]["subscriptionState"] = "SOMETIMES"
    stack.write_catalog(bad_item)
    time.sleep(0.6)
    assert status(gw, token) == 401

    stack.write_catalog(catalog_document())
    assert eventually(lambda: status(gw, token) == 200)
    assert stack.adapter.proc.proc.pid == pid


def test_a_rotated_key_is_fetched_on_its_first_token(stack):
    gw = stack.gateways["grpc"]
    new_key = oidc.SigningKey("RS256")
    stack.jwks.keys.append(new_key)
    try:
        time.sleep(1.1)  # refetches on an unknown kid are rate-limited to one per second here
        token = new_key.sign(oidc.claims(stack.jwks.issuer, "client-subscribed", "scope_ip"))
        assert status(gw, token) == 200
    finally:
        stack.jwks.keys.remove(new_key)


def test_jwks_outage_keeps_known_keys_and_recovers(stack):
    gw = stack.gateways["http"]
    stack.jwks.up = False
    later_key = oidc.SigningKey("RS256")
    try:
        assert status(gw, stack.token()) == 200  # known key, endpoint down
        fetches = stack.jwks.fetches
        time.sleep(1.1)
        unknown = later_key.sign(oidc.claims(stack.jwks.issuer, "client-subscribed", "scope_ip"))
        assert status(gw, unknown) == 401
        # a burst of unknown kids spends the refetch budget (3 at once, then one per period), not one per request
        for _ in range(20):
            assert status(gw, later_key.sign(oidc.claims(stack.jwks.issuer, "client-x"))) == 401
        assert stack.jwks.fetches - fetches <= 3 + 1
    finally:
        stack.jwks.up = True
    stack.jwks.keys.append(later_key)
    try:
        time.sleep(1.1)
        fresh = later_key.sign(oidc.claims(stack.jwks.issuer, "client-subscribed", "scope_ip"))
        assert status(gw, fresh) == 200
    finally:
        stack.jwks.keys.remove(later_key)


@pytest.fixture(scope="module")
def not_ready(stack, tmp_path_factory):
    """An adapter with no catalog yet, behind a fail-closed and a fail-open gateway."""
    workdir = tmp_path_factory.mktemp("not-ready")
    adapter = AdapterProcess(
        workdir,
        {
            "keyManagers": [{"name": "KM", "issuer": stack.jwks.issuer, "jwksUri": stack.jwks.url}],
            "controlPlane": {"type": "file", "path": str(workdir / "missing.yaml")},
        },
    )
    adapter.proc.wait_http(adapter.admin + "/readyz", status=503)
    upstream = stack.gateways["grpc"].upstream_port
    closed = Gateway(Authz([adapter.grpc_port]), upstream)
    opened = Gateway(Authz([adapter.grpc_port], failure_mode_allow=True), upstream)
    procs = [closed.start(workdir), opened.start(workdir)]
    yield adapter, closed, opened
    for p in procs:
        p.stop()
    adapter.stop()


def test_internal_errors_fail_closed_unless_the_operator_chose_fail_open(stack, not_ready):
    adapter, closed, opened = not_ready
    token = stack.token()
    assert status(closed, token) == 503
    assert status(opened, token) == 200
    assert requests.get(adapter.admin + "/healthz", timeout=5).status_code == 200


def test_grpc_health_reports_serving_only_with_a_catalog(stack, not_ready):
    def health(port: int) -> tuple[int, int]:
        """Check's status, and the first message of a Watch."""
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            watch = stub.Watch(request, timeout=5)
            try:
                return stub.Check(request, timeout=5).status, next(watch).status
            finally:
                watch.cancel()

    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    assert health(stack.adapter.grpc_port) == (serving, serving)
    assert health(not_ready[0].grpc_port) == (not_serving, not_serving)


def test_metrics_count_decisions_and_latency(stack):
    gw = stack.gateways["grpc"]
    requests.get(gw.url + API + "/ip", timeout=10)
    token = stack.token()
    for _ in range(2):  # verified once, then answered from the cache
        requests.get(gw.url + API + "/ip", headers={"authorization": f"Bearer {token}"}, timeout=10)
    text = stack.metrics()
    assert 'apim_adapter_decisions_total{api="HttpbinAPI",application="",code="900902",outcome="deny",tier=""}' in text
    assert 'apim_adapter_check_duration_seconds_bucket{le="0.001",transport="grpc"}' in text
    assert re.search(r'^apim_adapter_token_cache_total\{result="hit"\} [1-9]', text, re.MULTILINE), "no cache hit"
    assert 'apim_adapter_jwks_fetches_total{key_manager="WSO2-IS-7",result="success"}' in text
    assert 'apim_adapter_catalog_objects{kind="apis"} 1.0' in text
    # Python's collections are timed from the start of serving; checks have made young ones since
    assert re.search(r'^apim_adapter_gc_pause_seconds_count\{generation="0"\} [1-9]', text, re.MULTILINE), "no GC"
    assert "apim_mesh_sync_" not in text  # mesh-sync's series are its own process's (a leader gauge at 0 would mislead)


def test_analytics_events_in_wso2_elk_format_carry_the_request_id(stack):
    gw = stack.gateways["grpc"]
    # Istio's gateway regenerates an external client's x-request-id (use_remote_address, no
    # preserve_external_request_id): the requests are found by user agent, the correlation id is the gateway's.
    # Analytics name a user agent's browser family, which for these is the agent's own name (uap-core's bots).
    rid = f"Analytics{time.time_ns()}"
    requests.get(gw.url + API + "/ip", headers={"user-agent": rid + "Bot/1.0", "x-request-id": rid}, timeout=10)
    token = stack.token()
    requests.get(gw.url + API + "/ip", headers={"user-agent": rid + "OkBot/1.0", "authorization": f"Bearer {token}"})
    log = stack.workdir / "analytics.log"

    def lines():
        text = log.read_text() if log.exists() else ""
        return [line for line in text.splitlines() if rid in line]

    found = eventually(lambda: len(lines()) == 2, timeout=10)
    assert found, lines()
    fault = next(line for line in lines() if f'"userAgent":"{rid}Bot"' in line)
    assert "apimMetrics: apim:faulty, properties :{" in fault
    assert '"errorCode":900902' in fault
    assert re.search(r'"correlationId":"[0-9a-f]{8}-[0-9a-f]{4}-', fault)
    assert f'"correlationId":"{rid}"' not in fault
    ok = next(line for line in lines() if f'"userAgent":"{rid}OkBot"' in line)
    assert "apimMetrics: apim:response, properties :{" in ok
    assert '"applicationName":"subscribed"' in ok
    for written in (log, stack.adapter.proc.log_path):
        assert token not in written.read_text()  # never a raw token in analytics or logs


def test_envoy_access_log_gets_the_decision_as_dynamic_metadata(stack):
    gw = stack.gateways["grpc"]
    rid = f"meta-{time.time_ns()}"
    requests.get(gw.url + API + f"/ip?probe={rid}", headers={"authorization": f"Bearer {stack.token()}"}, timeout=10)
    envoy_log = stack.workdir / f"envoy-{gw.port}.log"
    line = eventually(lambda: next((x for x in envoy_log.read_text().splitlines() if rid in x), None), timeout=5)
    assert line is not None
    assert '"application":"subscribed"' in line
    assert '"tier":"Gold"' in line


@pytest.mark.parametrize("mode", ["grpc", "http"])
def test_the_gateways_access_log_tells_a_decision_from_an_adapter_error(stack, mode):
    """What docs/operations.md tells an engineer to read: a denial is the adapter's decision (`ext_authz_denied`,
    WSO2's JSON body), an adapter error the gateway's statusOnError (`ext_authz_error`, no body)."""
    gw = stack.gateways[mode]
    envoy_log = stack.workdir / f"envoy-{gw.port}.log"
    down = stack.key.sign(oidc.claims("https://down.example.com/oauth2/token", "client-subscribed", "scope_ip"))
    seen = {}
    for case, headers in (("denied", {}), ("error", {"authorization": f"Bearer {down}"})):
        probe = f"{case}-{time.time_ns()}"
        resp = requests.get(gw.url + API + f"/ip?probe={probe}", headers=headers, timeout=10)
        line = eventually(lambda p=probe: next((x for x in envoy_log.read_text().splitlines() if p in x), None),
                          timeout=10)  # fmt: skip
        assert line is not None, probe
        seen[case] = (resp.status_code, resp.text, line.split()[4])  # ACCESS method path code details
    assert seen["denied"][0] == 401
    assert '"code":"900902"' in seen["denied"][1].replace(" ", "")
    assert seen["denied"][2] == "ext_authz_denied"
    assert seen["error"] == (503, "", "ext_authz_error")


def test_without_dynamic_metadata_the_gateway_still_gets_the_allow_and_no_decision(stack, tmp_path):
    """request.dynamicMetadata: false (the allow's costliest part for the gateway, bench.answer_cost): the same
    adapter's allow reaches the backend with its context headers, and Envoy's access log has no decision."""
    config = yaml.safe_load(stack.adapter.config_path.read_text())
    del config["server"]["grpc"], config["server"]["http"], config["server"]["admin"]  # ports of its own
    config["request"] = {**config.get("request", {}), "dynamicMetadata": False}
    config["analytics"] = {"enabled": False}
    adapter = AdapterProcess(tmp_path, config, name="no-metadata")
    gateway = Gateway(Authz([adapter.grpc_port], "grpc"), stack.gateways["grpc"].upstream_port)
    envoy = None
    try:
        adapter.wait_ready()
        envoy = gateway.start(tmp_path)
        rid = f"no-meta-{time.time_ns()}"
        answer = requests.get(gateway.url + API + f"/headers?probe={rid}",
                              headers={"authorization": f"Bearer {stack.token()}"}, timeout=10)  # fmt: skip
        assert answer.status_code == 200
        assert echoed_headers(answer)["x-apim-tier"] == ["Gold"]  # the context headers still go upstream
        envoy_log = tmp_path / f"envoy-{gateway.port}.log"
        line = eventually(lambda: next((x for x in envoy_log.read_text().splitlines() if rid in x), None), timeout=5)
        assert line is not None
        assert line.rstrip().endswith("md=-"), line  # %DYNAMIC_METADATA(...)% of nothing
    finally:
        if envoy is not None:
            envoy.stop()
        adapter.stop()
