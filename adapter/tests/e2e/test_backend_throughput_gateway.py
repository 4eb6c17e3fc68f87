"""An API's backend throughput (APIM's `maxTps`) through a real Envoy: the calls past it are refused before they
reach the backend, whoever makes them, with APIM's 900801 body; 503 over gRPC, 403 in HTTP mode (where Envoy's
HTTP client would take a 5xx for the adapter's own failure)."""

from __future__ import annotations

import time

import requests

from harness.sample_catalog import catalog_document


def test_calls_past_the_backend_throughput_never_reach_the_backend(stack, tmp_path):
    doc = catalog_document()
    doc["apis"][0]["maxTps"] = {"production": 2, "productionTimeUnit": "HOUR"}
    with stack.own_adapter(tmp_path, doc) as (_, gateways):
        grpc, http = gateways["grpc"].url, gateways["http"].url

        def get(base: str, app: str) -> tuple[requests.Response, bool]:
            """The answer, and whether the backend was reached (go-httpbin logs each request it serves)."""
            probe = f"probe-{time.time_ns()}"
            resp = requests.get(f"{base}/httpbin/1.0.0/anything/{probe}", timeout=10,
                                headers={"authorization": f"Bearer {stack.token(app)}"})  # fmt: skip
            return resp, probe in (stack.workdir / "httpbin.log").read_text()

        served = [get(grpc, "subscribed"), get(http, "reload")]  # two applications, one backend
        assert [(resp.status_code, reached) for resp, reached in served] == [(200, True), (200, True)]
        expected = {"code": "900801", "message": "API Limit Reached", "description": "API not accepting requests"}
        refused, reached = get(grpc, "subscribed")
        assert (refused.status_code, refused.json(), reached) == (503, expected, False)
        assert "retry-after" not in refused.headers
        refused, reached = get(http, "reload")
        assert (refused.status_code, refused.json(), reached) == (403, expected, False)
