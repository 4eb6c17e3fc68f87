"""Envoy's gRPC access log service (ALS): an allowed request's analytics event, written once its response is known.

An ext_authz check ends before the backend answers, so the event a check writes cannot tell the response's code
nor its latencies. WSO2's own Envoy-based gateway closes that gap this way (product-microgateway, Choreo Connect's
enforcer: `AccessLoggingService`, `AnalyticsFilter`, `DefaultAnalyticsEventPublisher`, `ChoreoAnalyticsProvider`,
`FaultCodeClassifier`): the check puts what it decided into Envoy's dynamic metadata (here the `analytics` JSON
object that `render.py` adds under `envoy.filters.http.ext_authz`), Envoy's gRPC access logger sends every entry with
that metadata (`grpc_access_log_utils.cc`, extractCommonAccessLogProperties), and the event is written from the
entry. Denials are written at the check, as the enforcer does, and their entries are left out here.

What an entry becomes (Choreo Connect's rules, with APIM's event fields):
- answered by the backend (`response_code_details` `via_upstream`), whatever its status: an `apim:response` event
  with `targetResponseCode` = `proxyResponseCode` = the status and the four latencies;
- answered by Envoy for want of the backend (a connection failure, a timeout: any other details, and a status
  other than 200 and 204): an `apim:faulty` event, `TARGET_CONNECTIVITY`, its code from the response flags
  (Synapse's NHTTP codes, e.g. 101503 connection failed, 101504 timed out);
- anything else (a denial, ext_authz's own failure, no route, an entry without the check's metadata): nothing.

Nothing here runs on a check. Everything read from an entry is cut to size; an entry's metadata gives only the
known fields. The port takes what a gateway sends: admit only gateways to it (the chart's NetworkPolicy).

The service is served by the transport `server.grpcTransport` names: the compiled one reads every stream on its
own thread and hands each message to one `grpc-ingest` thread (adapter/native, grpc.rs), where grpcio spends a
thread per stream and its own work per message (bench/README.md, "Analytics from the gateway's access log").
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import grpc
from envoy.data.accesslog.v3.accesslog_pb2 import AccessLogType, HTTPAccessLogEntry, ResponseFlags
from envoy.service.accesslog.v3.als_pb2 import StreamAccessLogsMessage, StreamAccessLogsResponse
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError

from . import metrics
from .analytics import GATEWAY_FIELDS, MAX_FIELD, Analytics, client_of, spellings
from .api_log import RANK, ApiLog
from .render import ANALYTICS, API_LOG_LEVEL
from .transport.grpc import NAMESPACE, GrpcServer

log = logging.getLogger(__name__)

SERVICE = "envoy.service.accesslog.v3.AccessLogService"
STREAM_METHOD = f"/{SERVICE}/StreamAccessLogs"
# Every field `analytics.decided` writes: what an entry's metadata may give, nothing else.
DECIDED_FIELDS = (
    "apiName", "apiVersion", "apiContext", "apiId", "apiCreator", "apiCreatorTenantDomain", "apiType",
    "apiResourceTemplate", "applicationId", "applicationName", "applicationOwner", "keyType", "userName",
    "subscriptionTier", "apiMethod",
)  # fmt: skip
VIA_UPSTREAM = "via_upstream"
# Details of entries the check answered, or that no API route served (Choreo Connect's AnalyticsConstants).
NOT_TARGET = frozenset({VIA_UPSTREAM, "ext_authz_denied", "ext_authz_error", "route_not_found"})

# Synapse's transport error codes, as Choreo Connect's FaultCodeClassifier.getErrorCodeFromFlags reads them from
# Envoy's response flags (the first that is set wins; AnalyticsConstants there gives the numbers).
CONNECTION_FAILED, CONNECTION_TIMEOUT, CONNECTION_CLOSED, PROTOCOL_VIOLATION = 101503, 101504, 101505, 101506
SENDING_FAILED, RECEIVING_FAILED, SENDING_TO_CLIENT_FAILED = 101500, 101001, 101000
FLAG_CODES = (
    ("failed_local_healthcheck", CONNECTION_FAILED),
    ("no_healthy_upstream", CONNECTION_FAILED),
    ("upstream_request_timeout", CONNECTION_TIMEOUT),
    ("local_reset", RECEIVING_FAILED),
    ("upstream_remote_reset", CONNECTION_FAILED),
    ("upstream_connection_failure", SENDING_FAILED),
    ("upstream_connection_termination", CONNECTION_CLOSED),
    ("downstream_connection_termination", RECEIVING_FAILED),
    ("stream_idle_timeout", CONNECTION_TIMEOUT),
    ("downstream_protocol_error", PROTOCOL_VIOLATION),
    ("upstream_max_stream_duration_reached", CONNECTION_TIMEOUT),
    ("duration_timeout", SENDING_TO_CLIENT_FAILED),
)
# Entries Envoy writes before a request ends, where the connection manager is told to (access_log_options).
NOT_FINAL = frozenset({AccessLogType.DownstreamStart, AccessLogType.DownstreamPeriodic,
                       AccessLogType.DownstreamTunnelSuccessfullyEstablished})  # fmt: skip
OUTCOMES = ("response", "fault", "skipped", "unreadable")  # apim_adapter_access_log_entries_total's
TIMEOUTS = frozenset({CONNECTION_TIMEOUT, 101508})  # FaultCodeClassifier: CONNECTION_TIMEOUT, else OTHER
# envoy.config.core.v3.RequestMethod by number; METHOD_UNSPECIFIED names none.
_METHODS = {
    value.number: value.name if value.number else ""
    for value in HTTPAccessLogEntry.DESCRIPTOR.fields_by_name["request"]
    .message_type.fields_by_name["request_method"]
    .enum_type.values
}


def event_of(entry: HTTPAccessLogEntry) -> tuple[bool, dict[str, Any]] | None:
    """(served, the event's fields) for an access log entry of a request the adapter allowed; None when the entry
    writes no event."""
    common, request, response = entry.common_properties, entry.request, entry.response
    if common.intermediate_log_entry or common.access_log_type in NOT_FINAL:
        return None  # a long request logged on its way (HCM access_log_options): its final entry writes the event
    ours = common.metadata.filter_metadata.get(NAMESPACE)
    if ours is None or ANALYTICS not in ours.fields:
        return None  # not allowed by a gRPC check: a denial (written at the check), HTTP mode, no API, no check
    details = response.response_code_details
    status = response.response_code.value if response.HasField("response_code") else 0
    served = details == VIA_UPSTREAM
    if not served and (details in NOT_TARGET or status in (0, 200, 204)):
        return None
    decided, tier = _decided(ours.fields[ANALYTICS].string_value)
    props: dict[str, Any] = dict(decided)
    browser, platform = client_of(request.user_agent[:MAX_FIELD])
    start = common.start_time
    props.update(
        apiMethod=props.get("apiMethod") or _METHODS.get(request.request_method, ""),
        correlationId=request.request_id[:MAX_FIELD],
        destination=_destination(common, request.authority),
        requestTimestamp=f"{spellings(start.seconds)[1]}.{start.nanos // 1_000_000:03d}Z",
        userAgent=browser,
        platform=platform,
        userIp=common.downstream_remote_address.socket_address.address[:64],
        **GATEWAY_FIELDS,
    )
    props["properties"] = {"subscriptionTier": tier} if tier else {}
    if served:
        props.update(eventType="response", proxyResponseCode=status, targetResponseCode=status, **_latencies(common))
    else:
        code = _error_code(common.response_flags)
        props.update(
            eventType="fault",
            errorType="TARGET_CONNECTIVITY",
            errorCode=code,
            errorMessage="CONNECTION_TIMEOUT" if code in TIMEOUTS else "OTHER",
            proxyResponseCode=status,
            targetResponseCode=-1,
        )
    return served, props


# An allow's metadata text → its fields and tier: every request of one caller on one resource repeats it.
MAX_DECIDED, MAX_DECIDED_TEXT = 4096, 4096
_DECIDED: dict[str, tuple[dict[str, str], str | None]] = {}


def _decided(text: str) -> tuple[dict[str, str], str | None]:
    """The decision's fields (without the tier) and its tier, from an allow's metadata (`render.py`): only the
    known fields, strings cut to size. ValueError when it is not a JSON object."""
    known = _DECIDED.get(text)
    if known is not None:
        return known
    decided = json.loads(text)
    if not isinstance(decided, dict):
        raise ValueError("the analytics metadata is not a JSON object")
    fields = {name: value[:MAX_FIELD] for name in DECIDED_FIELDS if isinstance(value := decided.get(name), str)}
    known = (fields, fields.pop("subscriptionTier", None))
    if len(text) <= MAX_DECIDED_TEXT:  # what the adapter writes; a longer text is read, never kept
        if len(_DECIDED) >= MAX_DECIDED:
            _DECIDED.clear()
        _DECIDED[text] = known
    return known


def _millis(d: Duration) -> int:
    return d.seconds * 1000 + d.nanos // 1_000_000


def _latencies(common: Any) -> dict[str, int]:
    """ChoreoAnalyticsProvider.getLatencies: from the request's start, the first byte sent to the backend, the last
    received from it, and the last sent to the client, in milliseconds."""
    to_backend = _millis(common.time_to_first_upstream_tx_byte)
    from_backend = _millis(common.time_to_last_upstream_rx_byte)
    to_client = _millis(common.time_to_last_downstream_tx_byte)
    return {
        "backendLatency": from_backend - to_backend,
        "requestMediationLatency": to_backend,
        "responseLatency": to_client,
        "responseMediationLatency": to_client - from_backend,
    }


def _error_code(flags: ResponseFlags) -> int:
    for flag, code in FLAG_CODES:
        if getattr(flags, flag):
            return code
    return -1


def _destination(common: Any, authority: str) -> str:
    """Where the request went, as APIM names its endpoint: the service and port of istiod's outbound cluster
    (`outbound|<port>|<subset>|<host>`), else the backend's address, else the request's host."""
    parts = common.upstream_cluster.split("|")
    if len(parts) == 4 and parts[0] == "outbound":
        return f"{parts[3]}:{parts[1]}"[:MAX_FIELD]
    address = common.upstream_remote_address.socket_address
    if address.address:
        return f"{address.address}:{address.port_value}"[:MAX_FIELD]
    return authority[:MAX_FIELD]


def _log_response(api_log: ApiLog, entry: HTTPAccessLogEntry, props: dict[str, Any]) -> None:
    """The response of a call APIM logs (api_log.py), where the check's metadata names its level."""
    level = entry.common_properties.metadata.filter_metadata[NAMESPACE].fields.get(API_LOG_LEVEL)
    if level is None or level.string_value not in RANK:
        return
    request, response = entry.request, entry.response
    api = (props.get("apiId", ""), props.get("apiName", ""), props.get("apiContext", ""),
           props.get("apiVersion", ""), props.get("apiCreatorTenantDomain", ""))  # fmt: skip
    api_log.response(level.string_value, request.path, request.request_id[:MAX_FIELD], props["apiMethod"],
                     response.response_code.value, dict(response.response_headers), api)  # fmt: skip


class AccessLogReceiver:
    """StreamAccessLogs: every HTTP entry of every message, into the analytics writer."""

    def __init__(self, analytics: Analytics, clock: Callable[[], float] = time.time, api_log: ApiLog | None = None):
        self.analytics, self.clock, self.api_log = analytics, clock, api_log

    def take(self, message: StreamAccessLogsMessage) -> None:
        outcomes = dict.fromkeys(OUTCOMES, 0)
        now = self.clock()
        for entry in message.http_logs.log_entry:
            try:
                found = event_of(entry)
            except ValueError as exc:  # metadata the adapter did not write: the gateway's stream goes on
                log.warning("access log entry not read", extra={"error": str(exc)[:200]})
                outcomes["unreadable"] += 1
                continue
            except Exception:  # a bug must not end the gateway's stream either
                log.exception("access log entry not read")
                outcomes["unreadable"] += 1
                continue
            if found is None:
                outcomes["skipped"] += 1
                continue
            served, props = found
            outcomes["response" if served else "fault"] += 1
            self.analytics.enqueue_event(served, props, now)
            if self.api_log is not None:
                _log_response(self.api_log, entry, props)
        for outcome, count in outcomes.items():
            if count:
                metrics.ACCESS_LOG_ENTRIES.labels(outcome).inc(count)

    def stream(self, messages: Iterable[StreamAccessLogsMessage], context: Any) -> StreamAccessLogsResponse:
        for message in messages:
            self.take(message)
        return StreamAccessLogsResponse()

    def ingest(self, raw: bytes) -> None:
        """One message of a stream, as the compiled transport hands it on: a message that is not one is counted
        and logged, and the stream goes on (grpcio's deserializer would end it)."""
        try:
            message = StreamAccessLogsMessage.FromString(raw)
        except DecodeError as exc:
            log.warning("access log message not read", extra={"error": str(exc)[:200]})
            metrics.ACCESS_LOG_ENTRIES.labels("unreadable").inc()
            return
        self.take(message)


class Server(Protocol):
    port: int  # bound: the configured one, or any free one for 0

    def start(self) -> None: ...
    def stop(self, grace_seconds: float) -> None: ...


def server(receiver: AccessLogReceiver, host: str, port: int, max_streams: int, transport: str) -> Server:
    """The service on its own port, bound, not started, on `transport` (`compiled` or `grpcio`, as
    `grpc_transport.transport_of` chose it). Each gateway thread keeps one stream open for as long as it runs:
    `max_streams` at once, beyond which a stream is refused (RESOURCE_EXHAUSTED) and the gateway's entries wait for
    its next try."""
    if transport == "compiled":
        assert GrpcServer is not None  # transport_of("compiled") said so
        return GrpcServer(host, port, {}, max_streams=max_streams, ingests={STREAM_METHOD: receiver.ingest})
    return _Grpcio(receiver, host, port, max_streams)


class _Grpcio:
    """grpcio's server, a thread per stream, started and stopped as the compiled one is."""

    def __init__(self, receiver: AccessLogReceiver, host: str, port: int, max_streams: int):
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "StreamAccessLogs": grpc.stream_unary_rpc_method_handler(
                    receiver.stream,
                    request_deserializer=StreamAccessLogsMessage.FromString,
                    response_serializer=StreamAccessLogsResponse.SerializeToString,
                )
            },
        )
        self.server = grpc.server(
            ThreadPoolExecutor(max_streams, thread_name_prefix="access-log"),
            handlers=[handler],
            options=[("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", 4 << 20)],
            maximum_concurrent_rpcs=max_streams,
        )
        self.port = self.server.add_insecure_port(f"{host}:{port}")

    def start(self) -> None:
        self.server.start()

    def stop(self, grace_seconds: float) -> None:
        self.server.stop(grace_seconds).wait()
