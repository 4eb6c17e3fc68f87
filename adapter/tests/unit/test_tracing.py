"""Tracing of checks in process: the real OpenTelemetry SDK and propagators, spans kept in memory."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from apim_adapter import logs, tracing
from apim_adapter.config import ConfigError, Tracing, parse
from harness.pipeline import InProcess, token

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def traced():
    exported = InMemorySpanExporter()
    t = tracing.setup(Tracing(enabled=True), Path, span_exporter=exported)
    assert t is not None
    p = InProcess()

    def check(path="/httpbin/1.0.0/ip", bearer=None, **headers):
        decide = t.check_async(p.decide, "http")
        decision = asyncio.run(decide(p.request(path, bearer, **headers)))
        t.provider.force_flush()
        return decision, exported.get_finished_spans()

    yield check
    t.shutdown()


def only_check_span(spans):
    [span] = [s for s in spans if s.name == "ext_authz check"]
    return span


def test_a_check_continues_the_w3c_trace_and_names_its_decision(traced):
    secret = token()
    d, spans = traced(bearer=secret, traceparent=f"00-{TRACE_ID}-{PARENT_ID}-01", tracestate="vendor=x")
    assert d.allowed
    span = only_check_span(spans)
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    assert span.attributes["apim.api.name"] == "HttpbinAPI"
    assert span.attributes["apim.resource"] == "GET /ip"
    assert span.attributes["apim.application.name"] == "subscribed"
    assert span.attributes["apim.decision"] == "allow"
    assert secret not in repr(dict(span.attributes))


def test_a_denied_check_carries_the_wso2_code(traced):
    d, spans = traced(bearer=token("unsubscribed"), traceparent=f"00-{TRACE_ID}-{PARENT_ID}-01")
    span = only_check_span(spans)
    assert (span.attributes["apim.decision"], span.attributes["apim.error.code"]) == ("deny", d.code)
    assert d.code == "900908"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-b3-traceid": TRACE_ID, "x-b3-spanid": PARENT_ID, "x-b3-sampled": "1"},
        {"b3": f"{TRACE_ID}-{PARENT_ID}-1"},
    ],
    ids=["b3-multi", "b3-single"],
)
def test_a_check_continues_a_b3_trace(traced, headers):
    _, spans = traced(bearer=token(), **headers)
    span = only_check_span(spans)
    assert (format(span.context.trace_id, "032x"), format(span.parent.span_id, "016x")) == (TRACE_ID, PARENT_ID)


def test_w3c_wins_over_b3_when_a_request_carries_both(traced):
    other = "1" * 32
    _, spans = traced(bearer=token(), traceparent=f"00-{TRACE_ID}-{PARENT_ID}-01", b3=f"{other}-{PARENT_ID}-1")
    assert format(only_check_span(spans).context.trace_id, "032x") == TRACE_ID


def test_an_unsampled_caller_is_not_traced(traced):
    _, spans = traced(bearer=token(), traceparent=f"00-{TRACE_ID}-{PARENT_ID}-00")
    assert spans == ()


def test_logs_inside_a_check_carry_its_trace_id(traced):
    lines = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(logs.JsonFormatter().format(record)))

    logger = logging.getLogger("apim_adapter.test_tracing")
    logger.addHandler(Keep())
    try:
        with tracing.span("outer"):
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.handlers.clear()
    inside, outside = lines
    assert (len(inside["trace_id"]), len(inside["span_id"])) == (32, 16)
    assert "trace_id" not in outside


def test_tracing_is_off_by_default_and_then_imports_nothing():
    assert parse({"controlPlane": {"type": "file", "path": "c.yaml"}}).tracing == Tracing()
    probe = (
        "import sys\n"
        "from apim_adapter.app import Adapter\n"
        "from apim_adapter.config import parse\n"
        "from apim_adapter import tracing\n"
        "a = Adapter(parse({'controlPlane': {'type': 'file', 'path': 'c.yaml'}}))\n"
        "assert a.tracing is None and a.check_on_thread.__func__ is Adapter.check_on_thread\n"
        "assert tracing.span('x') is tracing.span('y')\n"  # one shared no-op: no span object per call
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tracing_settings_are_checked():
    cp = {"controlPlane": {"type": "file", "path": "c.yaml"}}
    t = parse({**cp, "tracing": {"enabled": True, "protocol": "http/protobuf", "samplerRatio": 0.25}}).tracing
    assert (t.enabled, t.protocol, t.sampler_ratio) == (True, "http/protobuf", 0.25)
    with pytest.raises(ConfigError, match=r"tracing\.protocol"):
        parse({**cp, "tracing": {"protocol": "zipkin"}})
    with pytest.raises(ConfigError, match=r"tracing\.samplerRatio"):
        parse({**cp, "tracing": {"samplerRatio": 2}})
    with pytest.raises(ConfigError, match=r"tracing\.endpointt"):
        parse({**cp, "tracing": {"endpointt": "x"}})


def test_exporter_headers_come_from_a_file(tmp_path):
    path = tmp_path / "headers"
    path.write_text("# the backend's key\nAuthorization: Bearer abc:def\n\nx-tenant: t1\n")
    assert tracing.read_headers(path) == {"authorization": "Bearer abc:def", "x-tenant": "t1"}
    path.write_text("no separator\n")
    with pytest.raises(ValueError, match=":1:"):
        tracing.read_headers(path)
