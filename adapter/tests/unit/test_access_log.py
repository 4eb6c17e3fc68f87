"""How an access log entry becomes an event (Choreo Connect's rules, access_log.py). The entries a real Envoy sends
are in the e2e suite (test_access_log_analytics.py); these build the cases a test gateway cannot easily cause."""

from __future__ import annotations

import asyncio
import json

import pytest
from envoy.data.accesslog.v3.accesslog_pb2 import AccessLogType, HTTPAccessLogEntry
from envoy.service.accesslog.v3.als_pb2 import StreamAccessLogsMessage
from google.protobuf.struct_pb2 import Struct

from apim_adapter.access_log import AccessLogReceiver, event_of
from apim_adapter.analytics import MAX_FIELD, Analytics
from apim_adapter.transport.grpc import NAMESPACE


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
