"""`transport.REQUEST_HEADERS` is every request header the adapter reads: the chart's gateway allowlists are made
from it, so a header read but not listed would silently never arrive behind a gateway that uses them.

Each part of a check that reads headers is run here over headers that remember what was read: the transports'
readers, the pipeline (allowed, denied, unauthenticated), the analytics event and the trace context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from apim_adapter import tracing
from apim_adapter.analytics import line
from apim_adapter.config import Tracing
from apim_adapter.decision import CheckInput
from apim_adapter.transport import REQUEST_HEADERS
from apim_adapter.transport.grpc import client_ip, request_fields
from harness.pipeline import PATH, InProcess, in_process_adapter, token

EVERY_HEADER = "(every header)"


class Remembering(Mapping[str, str]):
    """Request headers that remember each name read, and note a walk over all of them (Mapping's `get`, `in`,
    `keys`, `items` and `values` all come through these two)."""

    def __init__(self, headers: dict[str, str]):
        self.headers = headers
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.headers[name]

    def __iter__(self) -> Iterator[str]:
        self.read.add(EVERY_HEADER)
        return iter(self.headers)

    def __len__(self) -> int:
        return len(self.headers)


def browser_headers(**more: str) -> Remembering:
    return Remembering(
        {
            "cookie": "session=s3cr3t",
            "accept": "text/html",
            "x-forwarded-proto": "https",
            "user-agent": "Mozilla/5.0",
            "x-request-id": "r-1",
            "x-forwarded-for": "203.0.113.9",
            **more,
        }
    )


@pytest.mark.parametrize(
    "credential", ["valid", "unsubscribed", "malformed", None], ids=["allowed", "denied", "bad-token", "no-token"]
)
def test_a_check_reads_only_listed_headers(credential):
    adapter = in_process_adapter()
    bearer = {"valid": token(), "unsubscribed": token(app="unsubscribed"), "malformed": "not.a.jwt"}.get(
        credential or ""
    )
    headers = browser_headers(**({"authorization": f"Bearer {bearer}"} if bearer else {}))
    request_id = request_fields(headers, "GET", PATH, "gw", "10.0.0.1")[5]  # what a warm check reads
    req = CheckInput("GET", "gw", PATH, headers, request_id, client_ip(headers, "10.0.0.1"))
    decision = adapter.check_on_thread(req)
    line(req, decision, 0.5)
    assert decision.allowed == (credential == "valid")
    assert headers.read <= set(REQUEST_HEADERS), headers.read - set(REQUEST_HEADERS)
    assert {"authorization", "user-agent", "x-forwarded-for"} <= headers.read


def test_the_trace_context_is_read_from_listed_headers_only():
    exported = InMemorySpanExporter()
    traced = tracing.setup(Tracing(enabled=True), Path, span_exporter=exported)
    assert traced is not None
    try:
        p = InProcess()
        bearer = token()
        headers = browser_headers(
            authorization=f"Bearer {bearer}", traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        )
        req = CheckInput("GET", "gw", PATH, headers)
        decision = asyncio.run(traced.check_async(p.decide, "http")(req))
        assert decision.allowed
    finally:
        traced.shutdown()
    assert headers.read <= set(REQUEST_HEADERS), headers.read - set(REQUEST_HEADERS)
    # Every header the propagators look for is in the list, and nothing else is: B3 (single and multiple) and W3C.
    assert headers.read >= set(tracing.CONTEXT_HEADERS)
