"""How an access log entry becomes an event (Choreo Connect's rules, access_log.py), and the service on either
transport as a gRPC client streams to it. The entries a real Envoy sends are in the e2e suite
(test_access_log_analytics.py); these build the cases a test gateway cannot easily cause."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

import grpc
import pytest
from envoy.data.accesslog.v3.accesslog_pb2 import AccessLogType, HTTPAccessLogEntry
from envoy.service.accesslog.v3.als_pb2 import StreamAccessLogsMessage, StreamAccessLogsResponse
from google.protobuf.struct_pb2 import Struct
from prometheus_client import REGISTRY

from apim_adapter.access_log import STREAM_METHOD, AccessLogReceiver, event_of, server
from apim_adapter.analytics import MAX_FIELD, Analytics
from apim_adapter.transport.grpc import NAMESPACE, GrpcServer
from harness import transports
from harness.helpers import eventually
from harness.processes import free_port


def entry(details="via_upstream", status=200, decided=None, **flags) -> HTTPAccessLogEntry:
    e = HTTPAccessLogEntry()
    e.request.request_method = 1  # GET
    e.request.request_id = "rid-1"
    e.request.user_agent = "curl/8.5.0"
    e.common_properties.start_time.FromSeconds(1_788_624_000)
    e.common_properties.downstream_remote_address.socket_address.address = "10.0.0.7"
    e.common_properties.upstream_cluster = "outbound|8000||httpbin.default.svc.cluster.local"
    for name, millis in (("time_to_first_upstream_tx_byte", 2), ("time_to_last_upstream_rx_byte", 42),
                         ("time_to_last_downstream_tx_byte", 45)):  # fmt: skip
        getattr(e.common_properties, name).FromMilliseconds(millis)
    for name, value in flags.items():
        setattr(e.common_properties.response_flags, name, value)
    e.response.response_code.value = status
    e.response.response_code_details = details
    if decided is not False:
        ours = Struct()
        fields = decided or {"apiName": "HttpbinAPI", "subscriptionTier": "Gold"}
        ours.update({"analytics": fields if isinstance(fields, str) else json.dumps(fields)})
        e.common_properties.metadata.filter_metadata[NAMESPACE].CopyFrom(ours)
    return e


def test_a_served_request_is_a_response_with_apims_four_latencies():
    served, props = event_of(entry(status=500))
    assert served
    assert (props["targetResponseCode"], props["proxyResponseCode"]) == (500, 500)
    assert (props["requestMediationLatency"], props["backendLatency"]) == (2, 40)
    assert (props["responseMediationLatency"], props["responseLatency"]) == (3, 45)
    assert props["destination"] == "httpbin.default.svc.cluster.local:8000"
    assert (props["apiMethod"], props["userIp"], props["correlationId"]) == ("GET", "10.0.0.7", "rid-1")
    assert props["requestTimestamp"] == "2026-09-05T16:00:00.000Z"
    assert props["properties"] == {"subscriptionTier": "Gold"}


def test_a_gateway_fault_takes_the_code_of_its_first_response_flag():
    _, props = event_of(entry("upstream_reset_before_response_started{connection_timeout}", 503,
                              upstream_request_timeout=True, upstream_connection_failure=True))  # fmt: skip
    assert (props["errorType"], props["errorCode"], props["errorMessage"]) == ("TARGET_CONNECTIVITY", 101504,
                                                                             "CONNECTION_TIMEOUT")  # fmt: skip
    assert (props["proxyResponseCode"], props["targetResponseCode"]) == (503, -1)
    _, props = event_of(entry("no_healthy_upstream", 503, no_healthy_upstream=True))
    assert (props["errorCode"], props["errorMessage"]) == (101503, "OTHER")


def test_entries_the_check_answered_or_no_check_decided_write_nothing():
    assert event_of(entry("ext_authz_denied", 401)) is None  # written at the check
    assert event_of(entry("ext_authz_error", 503)) is None  # the adapter failed: no decision to describe
    assert event_of(entry("route_not_found", 404)) is None
    assert event_of(entry("direct_response", 200)) is None  # answered by the gateway itself, not a fault
    assert event_of(entry(decided=False)) is None  # HTTP mode, an unchecked route
    on_its_way = entry()
    on_its_way.common_properties.access_log_type = AccessLogType.DownstreamPeriodic
    assert event_of(on_its_way) is None  # a long request logged periodically: one event, from its last entry
    on_its_way.common_properties.access_log_type = AccessLogType.DownstreamEnd
    assert event_of(on_its_way) is not None


def test_only_the_known_fields_of_an_entrys_metadata_are_taken_and_cut_to_size():
    _, props = event_of(entry(decided={"apiName": "x" * 10_000, "errorCode": "forged", "apiId": 7}))
    assert props["apiName"] == "x" * MAX_FIELD
    assert "apiId" not in props  # not a string
    assert props["eventType"] == "response"  # the entry decides, not its metadata
    for broken in ("not json", "[1, 2]"):
        with pytest.raises(ValueError, match=r"Expecting value|not a JSON object"):  # counted unreadable, then the next
            event_of(entry(decided=broken))


def test_the_receiver_writes_every_event_of_a_message(tmp_path):
    analytics = Analytics(str(tmp_path / "events.log"))
    analytics.start()
    message = StreamAccessLogsMessage()
    message.http_logs.log_entry.extend([entry(), entry("ext_authz_denied", 401), entry("no_healthy_upstream", 503)])
    AccessLogReceiver(analytics, clock=lambda: 1_788_624_000.25).take(message)
    asyncio.run(analytics.close())
    lines = (tmp_path / "events.log").read_text().splitlines()
    assert [line.split("apimMetrics: ")[1].split(",")[0] for line in lines] == ["apim:response", "apim:faulty"]
    assert lines[0].startswith("2026-09-05 16:00:00,250 ")


# -- the service, on either transport, as a gateway's gRPC access logger streams to it ---------------------------

compiled_only = transports.compiled_only(GrpcServer)


class Recorded:
    """An AccessLogReceiver that records the messages it takes, in order."""

    def __init__(self):
        self.taken: list[StreamAccessLogsMessage] = []
        self.receiver = AccessLogReceiver(analytics=None)  # type: ignore[arg-type]  (take is replaced)
        self.receiver.take = self.taken.append  # type: ignore[method-assign]


@contextlib.contextmanager
def serving(transport: str, recorded: Recorded, max_streams: int = 4):
    s = server(recorded.receiver, "127.0.0.1", free_port(), max_streams, transport)
    s.start()
    try:
        yield s
    finally:
        s.stop(0.5)


def stream_to(channel: grpc.Channel):
    return channel.stream_unary(
        STREAM_METHOD,
        request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
        response_deserializer=StreamAccessLogsResponse.FromString,
    )


def message(*request_ids: str) -> StreamAccessLogsMessage:
    m = StreamAccessLogsMessage()
    for rid in request_ids:
        e = m.http_logs.log_entry.add()
        e.request.request_id = rid
        e.request.user_agent = "x" * 40_000  # with a few, a message spans several HTTP/2 frames
    return m


@pytest.mark.parametrize("transport", transports.GRPC_TRANSPORTS)
def test_every_message_of_a_stream_is_taken_in_order_and_the_stream_answered_when_it_ends(transport):
    recorded = Recorded()
    sent = [message("a"), message("b", "c", "d"), message(), message("e")]
    with serving(transport, recorded) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as channel:
        assert stream_to(channel)(iter(sent), timeout=10) == StreamAccessLogsResponse()
        other = stream_to(channel).future(iter([message("f")]), timeout=10)  # another gateway thread's stream
        assert other.result() == StreamAccessLogsResponse()
    ids = [[e.request.request_id for e in m.http_logs.log_entry] for m in recorded.taken]
    assert ids == [["a"], ["b", "c", "d"], [], ["e"], ["f"]]


@pytest.mark.parametrize("transport", transports.GRPC_TRANSPORTS)
def test_streams_beyond_max_streams_are_refused(transport):
    recorded, held = Recorded(), threading.Event()

    def open_stream():
        yield message("open")
        held.wait(10)

    with serving(transport, recorded, max_streams=2) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as channel:
        open_ones = [stream_to(channel).future(open_stream(), timeout=10) for _ in range(2)]
        eventually(lambda: len(recorded.taken) == 2, timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            stream_to(channel)(iter([message("more")]), timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        held.set()
        assert [f.result() for f in open_ones] == [StreamAccessLogsResponse()] * 2


@compiled_only
def test_on_the_compiled_transport_a_message_that_is_not_one_is_counted_and_the_stream_goes_on():
    recorded = Recorded()
    before = REGISTRY.get_sample_value("apim_adapter_access_log_entries_total", {"outcome": "unreadable"}) or 0.0
    with serving("compiled", recorded) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as channel:
        answer = stream_to(channel)(iter([message("a"), b"\xff\xff not protobuf", message("b")]), timeout=10)
    assert answer == StreamAccessLogsResponse()
    assert [[e.request.request_id for e in m.http_logs.log_entry] for m in recorded.taken] == [["a"], ["b"]]
    after = REGISTRY.get_sample_value("apim_adapter_access_log_entries_total", {"outcome": "unreadable"})
    assert after == before + 1


@compiled_only
def test_on_the_compiled_transport_stop_ends_an_open_stream_with_unavailable_once_its_messages_are_taken():
    recorded, held = Recorded(), threading.Event()

    def open_stream():
        yield message("a")
        yield message("b")
        held.wait(10)

    try:
        with serving("compiled", recorded) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as channel:
            open_one = stream_to(channel).future(open_stream(), timeout=10)
            eventually(lambda: len(recorded.taken) == 2, timeout=10)
            started = time.monotonic()
            s.stop(30.0)
            assert time.monotonic() - started < 3  # a stream never ends by itself: it is not waited for
            with pytest.raises(grpc.RpcError) as ended:
                open_one.result()
            assert (ended.value.code(), ended.value.details()) == (grpc.StatusCode.UNAVAILABLE, "stopping")
    finally:
        held.set()
