"""Envoy ext_authz v3 over gRPC: CheckRequest in, CheckResponse out, on grpcio or the compiled transport."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import grpc
from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption, QueryParameter
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.type.v3.http_status_pb2 import HttpStatus
from google.protobuf.message import DecodeError
from google.protobuf.struct_pb2 import Struct
from google.rpc import code_pb2, status_pb2
from grpc_health.v1 import health, health_pb2

from .. import metrics
from ..config import ConfigError
from ..decision import CheckInput, Decision
from ..errors import Unavailable
from ..prepared import NEEDS_HEADERS, NeedsHeaders, credential_of
from ..ratelimit import Usage
from ..render import RATE_LIMIT, RATE_REMAINING, RATE_RESET, Allow, Headers, Renderer, rate_headers
from . import body_size, chosen, request_body

# Adapter.check_prepared: (SHA-256 of the Authorization header, method, path, host, user agent, request id, client
# ip, transport, the request's headers or None: given when it answered NEEDS_HEADERS).
CheckPrepared = Callable[
    [bytes | None, str, str, str, str, str, str, str, Mapping[str, str] | None],
    tuple[Allow, Usage | None] | Decision | NeedsHeaders | None,
]

# What a warm check reads of a request (a CheckRequest, or in HTTP mode the checked request itself): the SHA-256 of
# the Authorization header (None without one), method, path, host, user agent, request id, x-forwarded-for,
# x-envoy-external-address, the peer's address.
RequestFields = tuple[bytes | None, str, str, str, str, str, str, str, str]
ReadCheck = Callable[[bytes], RequestFields | None]

try:  # The compiled reader (adapter/native): the same fields, read from the request's bytes, or None if it declines.
    from apim_adapter_native import read_check as read_native
except ImportError:  # not installed: the protobuf runtime reads every request (`fields_of`)
    read_native = None
try:  # The compiled transport (adapter/native, grpc.rs); older builds of the module have only the reader.
    from apim_adapter_native import GrpcServer
except ImportError:
    GrpcServer = None

if TYPE_CHECKING:
    from ..tracing import Tracing

log = logging.getLogger(__name__)

NAMESPACE = "envoy.filters.http.ext_authz"
SERVICE = "envoy.service.auth.v3.Authorization"
CHECK_METHOD = f"/{SERVICE}/Check"
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
HEALTH_WATCH_METHOD = "/grpc.health.v1.Health/Watch"


class CallError(Exception):
    """A call answered with a gRPC status, not a message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self.code, self.details = code, details

    @property
    def status(self) -> tuple[int, str]:
        """(code, message) as the compiled transport takes a status."""
        return self.code.value[0], self.details


def request_reader(choice: str) -> ReadCheck | None:
    """The reader `server.grpcRequestReader` asks for: the compiled one, or None for the protobuf runtime."""
    if choice == "compiled" and read_native is None:
        raise ConfigError(
            "server.grpcRequestReader: compiled, but apim-adapter-native is not installed (adapter/native; "
            "`auto` falls back to the protobuf runtime)"
        )
    return None if choice == "protobuf" else read_native


def transport_of(choice: str) -> str:
    """The gRPC transport `server.grpcTransport` asks for: `compiled` or `grpcio`."""
    return chosen("grpcTransport", choice, GrpcServer, "grpcio")


def client_ip(headers, source: str, num_trusted_proxies: int = 0) -> str:
    """The client's address as the gateway established it, never an entry the caller wrote.

    The gateway runs with `use_remote_address` (istiod sets it on gateways) and appends the peer it saw to
    `x-forwarded-for`, trusting `numTrustedProxies` hops in front of it (`xff_num_trusted_hops`): the client is
    the entry that many places left of the rightmost one; everything further left is whatever the caller sent.
    `x-envoy-external-address` is Envoy's own answer, but only for peers outside its internal ranges (for those it
    neither sets nor strips it), so it is the fallback when there is no `x-forwarded-for`, then the peer address.
    """
    return client_address(
        headers.get("x-forwarded-for"), headers.get("x-envoy-external-address"), source, num_trusted_proxies
    )


def client_address(forwarded: str | None, external: str | None, source: str, num_trusted_proxies: int = 0) -> str:
    """`client_ip` from the three values it reads: x-forwarded-for, x-envoy-external-address, the peer."""
    if forwarded:
        if "," not in forwarded:  # one hop (most requests): the client, however many proxies are trusted
            hop = forwarded.strip()
            if hop:
                return hop
        xff = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if xff:
            return xff[max(len(xff) - 1 - num_trusted_proxies, 0)]
    return external or source


def fields_of(request: pb.CheckRequest) -> RequestFields:
    """What a warm check reads of a parsed request: the Python reader, and what the compiled one must answer."""
    attrs = request.attributes
    http = attrs.request.http
    return request_fields(http.headers, http.method, http.path, http.host, attrs.source.address.socket_address.address)


def request_fields(headers: Mapping[str, str], method: str, path: str, host: str, peer: str) -> RequestFields:
    """The fields a warm check reads, from a request's headers (lower-case names, or a case-insensitive map)."""
    return (
        credential_of(headers.get("authorization")),
        method,
        path,
        host,
        headers.get("user-agent", ""),
        headers.get("x-request-id", ""),
        headers.get("x-forwarded-for", ""),
        headers.get("x-envoy-external-address", ""),
        peer,
    )


def to_input(request: pb.CheckRequest, num_trusted_proxies: int = 0) -> CheckInput:
    attrs = request.attributes
    http = attrs.request.http
    headers = http.headers
    sent = http.raw_body or http.body.encode()  # packAsBytes: raw_body; else body, the bytes as UTF-8 text
    return CheckInput(
        method=http.method or headers.get(":method", ""),
        host=http.host or headers.get(":authority", ""),
        path=http.path or headers.get(":path", "/"),
        headers=headers,
        request_id=headers.get("x-request-id", ""),
        client_ip=client_ip(headers, attrs.source.address.socket_address.address, num_trusted_proxies),
        size=body_size(headers.get("content-length"), len(sent)),
        body=request_body(headers, sent),
    )


def _options(pairs, action: int = HeaderValueOption.APPEND_IF_EXISTS_OR_ADD) -> list[HeaderValueOption]:
    return [HeaderValueOption(header=HeaderValue(key=k, value=v), append_action=action) for k, v in pairs]


def _struct(pairs) -> Struct | None:
    """Dynamic metadata; None (the field left unset, nothing for Envoy to merge) when there is none."""
    if not pairs:
        return None
    struct = Struct()
    struct.update(dict(pairs))
    return struct


def _routing(allow: Allow) -> Headers:
    """The pseudo-headers an allow sets for every call: the method (Change HTTP Method) and a rewritten path that
    drops the client's query (Rewrite Resource Path); Envoy's ext_authz applies them before the query parameters
    it sets or removes, which then edit the new path (`Filter::onComplete`)."""
    method = ((":method", allow.method),) if allow.method else ()
    return (*method, (":path", allow.path)) if allow.path and not allow.keep_query else method


def _call_path(allow: Allow, path: str) -> list[HeaderValueOption]:
    """The `:path` of an allow whose rewritten path keeps the client's query: this call's (`path` its own)."""
    query = path.partition("?")[2]
    rewritten = allow.path + ("?" + query if query else "")
    return _options(((":path", rewritten),), HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD)


def _path_bytes(allow: Allow, path: str) -> bytes:
    """`CheckResponse{ok_response{headers: [:path]}}` (`_call_path`), serialized: appended to the allow's bytes it is
    merged into them."""
    return pb.CheckResponse(ok_response=pb.OkHttpResponse(headers=_call_path(allow, path))).SerializeToString()


@functools.lru_cache(maxsize=4096)
def _allow_template(allow: Allow) -> pb.CheckResponse:
    """The finished CheckResponse of a prepared allow (one object per caller): copied, never mutated. Its downstream
    headers (CORS) are added to the backend's response only where it has none of that name (a backend's own
    Access-Control-Allow-Origin wins, as over APIM's gateway's `_cors_request_handler_`); an Add Header policy's
    replace the backend's (Synapse sets a transport header: mediation.py)."""
    return pb.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK),
        ok_response=pb.OkHttpResponse(
            headers=_options(allow.upstream) + _options(_routing(allow), HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD),
            headers_to_remove=list(allow.remove),
            query_parameters_to_set=[QueryParameter(key=k, value=v) for k, v in allow.query],
            query_parameters_to_remove=list(allow.remove_query),
            response_headers_to_add=_options(allow.downstream, HeaderValueOption.ADD_IF_ABSENT)
            + _options(allow.downstream_replace, HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD),
        ),
        dynamic_metadata=_struct(allow.metadata),
    )


@functools.lru_cache(maxsize=4096)
def _allow_bytes(allow: Allow) -> bytes:
    return _allow_template(allow).SerializeToString()


def _length_delimited(field: int, payload: bytes) -> bytes:
    """One protobuf field of wire type 2 (string, bytes, message): tag, varint length, payload."""
    size = len(payload)
    if size <= 0x7F:  # a one-byte length: every RateLimit-* entry and their sum in practice
        return bytes(((field << 3) | 2, size)) + payload
    length = bytearray()
    while size > 0x7F:
        length.append(size & 0x7F | 0x80)
        size >>= 7
    length.append(size)
    return bytes(((field << 3) | 2,)) + length + payload


def _header_to_add(name: str, value: str) -> bytes:
    """One `OkHttpResponse.response_headers_to_add` entry: HeaderValueOption{header: HeaderValue{key, value}}."""
    key, val = name.encode(), value.encode()
    header = len(key) + len(val) + 4  # HeaderValue: two fields, a tag and a one-byte length each
    if header + 2 <= 0x7F:  # every length fits in one byte (RateLimit-* headers always do): no varints
        return (
            bytes((RESPONSE_HEADERS_TO_ADD_TAG, header + 2, 0x0A, header, 0x0A, len(key)))
            + key
            + b"\x12"
            + (bytes((len(val),)) + val)
        )
    option = _length_delimited(1, _length_delimited(1, key) + _length_delimited(2, val))
    return _length_delimited(RESPONSE_HEADERS_TO_ADD_FIELD, option)


# Entries whose value repeats: the limit is the same for every check of a caller, the reset for a second.
@functools.lru_cache(maxsize=1024)
def _limit_entry(count: int) -> bytes:
    return _header_to_add(RATE_LIMIT, str(count))


@functools.lru_cache(maxsize=1024)
def _reset_entry(seconds: int) -> bytes:
    return _header_to_add(RATE_RESET, str(seconds))


def _rate_headers_bytes(usage: Usage | None) -> bytes:
    """`CheckResponse{ok_response{response_headers_to_add: the RateLimit-* headers}}`, serialized (the headers
    `render.rate_headers` names). Appended to a prepared allow's bytes it is merged into it (a message field that
    appears twice is merged, its repeated fields concatenated: the protobuf encoding's rule), so only these few
    bytes are encoded per check."""
    if usage is None:
        return b""
    count = usage.limit.count
    left = count - usage.used  # usage.remaining, without a property call on every check
    value = b"%d" % left if left > 0 else b"0"
    limit, reset = _limit_entry(count), _reset_entry(usage.reset)
    size = len(value)
    entry = size + REMAINING_ENTRY_BYTES  # the remaining header's HeaderValueOption
    total = len(limit) + 2 + entry + len(reset)
    if total > 0x7F:  # a limit of ~30 digits or more: lengths as varints
        added = limit + _header_to_add(RATE_REMAINING, value.decode()) + reset
        return _length_delimited(OK_RESPONSE_FIELD, added)
    # ok_response{limit entry, remaining entry (as `_header_to_add` writes it), reset entry}, one-byte lengths
    return b"%c%c%s%c%c\x0a%c%s%c%s%s" % (
        OK_RESPONSE_TAG,
        total,
        limit,
        RESPONSE_HEADERS_TO_ADD_TAG,
        entry,
        entry - 2,
        REMAINING_KEY,
        size,
        value,
        reset,
    )


OK_RESPONSE_FIELD = pb.CheckResponse.DESCRIPTOR.fields_by_name["ok_response"].number
OK_RESPONSE_TAG = (OK_RESPONSE_FIELD << 3) | 2
REMAINING_KEY = bytes((0x0A, len(RATE_REMAINING))) + RATE_REMAINING.encode() + b"\x12"  # key field, value's tag
# HeaderValueOption{header: HeaderValue{key, value}} less the value: header's tag and length, key, value's tag, length
REMAINING_ENTRY_BYTES = 2 + len(REMAINING_KEY) + 1
RESPONSE_HEADERS_TO_ADD_FIELD = pb.OkHttpResponse.DESCRIPTOR.fields_by_name["response_headers_to_add"].number
RESPONSE_HEADERS_TO_ADD_TAG = (RESPONSE_HEADERS_TO_ADD_FIELD << 3) | 2


class AuthorizationService:
    def __init__(
        self,
        check: Callable[[CheckInput], Decision],
        renderer: Renderer,
        num_trusted_proxies: int = 0,
        clock=time.time,
        check_prepared: CheckPrepared | None = None,
        read: ReadCheck | None = read_native,
    ):
        self.check, self.renderer, self.clock = check, renderer, clock
        self.num_trusted_proxies = num_trusted_proxies
        self.check_prepared = check_prepared
        self.read = read  # the compiled reader, or None: the protobuf runtime reads every request

    def respond(self, d: Decision, path: str = "") -> pb.CheckResponse:
        """The answer to a decision on a request for `path` (its `:path`, the query included)."""
        if d.allowed:
            allow = self.renderer.allow(d, self.clock())
            response = pb.CheckResponse()
            response.CopyFrom(_allow_template(allow))
            response.ok_response.response_headers_to_add.extend(_options(rate_headers(d.usage)))
            if allow.keep_query:
                response.ok_response.headers.extend(_call_path(allow, path))
            return response
        deny = self.renderer.preflight(d) if d.preflight else self.renderer.deny(d, self.clock())
        grpc_code = code_pb2.UNAUTHENTICATED if deny.status == 401 else code_pb2.PERMISSION_DENIED
        return pb.CheckResponse(
            status=status_pb2.Status(code=grpc_code, message=d.error.message if d.error else ""),
            denied_response=pb.DeniedHttpResponse(
                status=HttpStatus(code=deny.status), headers=_options(deny.headers), body=deny.body.decode()
            ),
            dynamic_metadata=_struct(deny.metadata),
        )

    def Check(self, raw: bytes, context: grpc.ServicerContext) -> bytes:
        """grpcio's handler of bytes (see `add_to_server`)."""
        try:
            return self.answer(raw)
        except CallError as exc:
            context.abort(exc.code, exc.details)
            raise  # abort raises; this line is for the type checker

    def answer(self, raw: bytes) -> bytes:
        """A serialized CheckRequest in, the serialized CheckResponse out; CallError for a status."""
        warm, request = self.answer_warm(raw)
        return warm if warm is not None else self.answer_whole(raw, request)

    def answer_warm(self, raw: bytes) -> tuple[bytes | None, pb.CheckRequest | None]:
        """The response from a prepared allow (or its counter's denial), else None, and the request if it had to be
        parsed (for the whole check). A warm check reads only the fields it needs (`self.read`); a request the
        compiled reader declines is parsed on the protobuf runtime."""
        if self.check_prepared is None:
            return None, None
        request = None
        fields = self.read(raw) if self.read is not None else None
        if fields is None:
            request = _parse(raw)
            fields = fields_of(request)
        credential, method, path, host, user_agent, request_id, forwarded, external, peer = fields
        address = client_address(forwarded, external, peer, self.num_trusted_proxies)
        try:
            warm = self.check_prepared(credential, method, path, host, user_agent, request_id, address, "grpc", None)
            if warm is NEEDS_HEADERS:
                # A condition group reads a header: the request parsed (as the whole check would parse it), and
                # asked again with its headers.
                request = request or _parse(raw)
                headers = request.attributes.request.http.headers
                warm = self.check_prepared(credential, method, path, host, user_agent, request_id, address, "grpc",
                                           headers)  # fmt: skip
        except Unavailable as exc:
            raise CallError(grpc.StatusCode.UNAVAILABLE, str(exc)) from exc
        if isinstance(warm, tuple):
            allow, usage = warm
            answer = _allow_bytes(allow) + _rate_headers_bytes(usage)
            return (answer + _path_bytes(allow, path) if allow.keep_query else answer), request
        return (self.respond(warm, path).SerializeToString() if isinstance(warm, Decision) else None), request

    def answer_whole(self, raw: bytes, request: pb.CheckRequest | None = None) -> bytes:
        """The whole check of a request with no prepared answer (`request`: already parsed, or None)."""
        req = to_input(request or _parse(raw), self.num_trusted_proxies)
        try:
            decision = self.check(req)
        except Unavailable as exc:
            raise CallError(grpc.StatusCode.UNAVAILABLE, str(exc)) from exc
        return self.respond(decision, req.path).SerializeToString()


def _parse(raw: bytes) -> pb.CheckRequest:
    try:
        return pb.CheckRequest.FromString(raw)
    except DecodeError as exc:  # grpc would answer INTERNAL for a request its deserializer refused
        raise CallError(grpc.StatusCode.INVALID_ARGUMENT, f"not an ext_authz v3 CheckRequest: {exc}") from exc


def add_to_server(server: grpc.Server, service: AuthorizationService) -> None:
    """The Authorization service on grpcio with a handler of bytes: a request is read as far as its check needs (a
    warm check reads a few fields, with the compiled reader without parsing the message), and a prepared allow's
    bytes are kept, not re-encoded per check (the generated servicer would parse every request and serialize a
    CheckResponse object)."""
    handlers = {
        "Check": grpc.unary_unary_rpc_method_handler(service.Check, request_deserializer=None, response_serializer=None)
    }
    # Registered as the generated add_AuthorizationServicer_to_server does it.
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


class PendingChecks:
    """How many checks were handed off the transport's thread (to the check threads, or the event loop in HTTP
    mode) and are not finished, refusing more than `limit`; both transports count what they shed here."""

    def __init__(self, limit: int):
        self.limit, self.count = limit, 0
        self._lock = threading.Lock()  # taken only on the way to and from a check thread, never by a warm check

    def admit(self) -> bool:
        with self._lock:
            if self.count < self.limit:
                self.count += 1
                return True
        metrics.CHECKS_REFUSED.labels("pending_limit").inc()
        return False

    @staticmethod
    def abandoned(reply: Any) -> bool:
        """Whether nobody waits for this handed-off check any more (its deadline passed, its caller reset or hung
        up while it queued): then it is not run, and counted."""
        if reply.pending:
            return False
        metrics.CHECKS_REFUSED.labels("abandoned").inc()
        return True

    def done(self) -> None:
        with self._lock:
            self.count -= 1


OVERLOADED = CallError(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many checks pending (server.maxPendingChecks)")
STOPPING = CallError(grpc.StatusCode.UNAVAILABLE, "stopping")
CRASHED = CallError(grpc.StatusCode.UNKNOWN, "internal error")
# grpc.health.v1 Watch streams open at once, on either transport: a stream lasts as long as its caller wants.
MAX_WATCHES = 100


class GrpcioHealth(health.HealthServicer):
    """grpc.health.v1 on the grpcio transport: grpcio-health-checking's servicer, its Watch streams held to what the
    compiled transport does with them (adapter/native/src/grpc.rs). At most `max_watches` open at once, more
    refused with RESOURCE_EXHAUSTED: on grpcio a stream counts against `maximum_concurrent_rpcs`, the bound of the
    checks themselves (server.maxPendingChecks), for as long as its caller keeps it. `end_watches` (at stop) ends
    each with UNAVAILABLE at once, after the NOT_SERVING that `enter_graceful_shutdown` sent it; grpcio would keep
    them open until its grace period ends. Streams hold no thread: grpcio's server hands the servicer a
    `send_response_callback` (grpc/_server.py, `experimental_non_blocking`, the servicer's default)."""

    def __init__(self, max_watches: int = MAX_WATCHES):
        super().__init__()
        self.max_watches = max_watches
        self._watches: dict[Any, Callable[[Any], None]] = {}  # call context → ends its stream
        self._watches_lock = threading.Lock()
        self._ended = False

    def Watch(self, request, context, send_response_callback=None):
        with self._watches_lock:
            if self._ended:
                context.abort(grpc.StatusCode.UNAVAILABLE, "stopping")
            if len(self._watches) >= self.max_watches:
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"more than {self.max_watches} streams open")
            self._watches[context] = send_response_callback
        if not context.add_callback(lambda: self._forget(context)):
            self._forget(context)  # the call has already ended (its caller cancelled it)
        return super().Watch(request, context, send_response_callback)

    def _forget(self, context) -> None:
        with self._watches_lock:
            self._watches.pop(context, None)

    def end_watches(self) -> None:
        """End every open Watch stream with UNAVAILABLE, and refuse new ones so."""
        with self._watches_lock:
            self._ended = True
            watches, self._watches = self._watches, {}
        for context, send in watches.items():
            if send is not None:  # None: a server without non-blocking streams, which ends them itself
                context.set_code(grpc.StatusCode.UNAVAILABLE)
                context.set_details("stopping")
                send(None)


def compiled_server(
    service: AuthorizationService,
    health: Callable[[str], int | None],
    checks: Executor,
    host: str,
    port: int,
    tracing: Tracing | None = None,
    max_message_bytes: int = 4 << 20,
    max_pending: int = 1000,
    max_watches: int = MAX_WATCHES,
) -> Any:
    """The compiled transport (apim_adapter_native.GrpcServer, bound, not started) serving Check and
    grpc.health.v1's Check and Watch. A warm check is answered on the transport's thread (µs, from memory); any
    other check runs on `checks` (the check threads), as on grpcio, and completes its call from there. With
    `tracing`, the call's metadata is handed to the check for its trace context, as grpcio's interceptor does. At
    most `max_pending` checks wait for or run on the check threads; more are refused with RESOURCE_EXHAUSTED, as
    grpcio's `maximum_concurrent_rpcs` refuses calls. `health` answers a service's status (None: not known); after
    it changes, the server's `notify()` has open Watch streams send it; at most `max_watches` are open at once."""
    assert GrpcServer is not None  # transport_of("compiled") said so
    pending = PendingChecks(max_pending)

    def whole(raw: bytes, request: pb.CheckRequest | None, metadata: Mapping[str, str] | None, reply: Any) -> None:
        try:
            if pending.abandoned(reply):
                return
            if tracing is not None and metadata is not None and (parent := tracing.remote_parent(metadata)):
                answer = tracing.within(parent, service.answer_whole, raw, request)
            else:
                answer = service.answer_whole(raw, request)
            reply.send(answer)
        except Exception as exc:
            reply.fail(*failed(exc).status)
        finally:
            pending.done()

    def check(raw: bytes, metadata: Mapping[str, str] | None, reply: Any) -> bytes | tuple[int, str] | None:
        try:
            warm, request = service.answer_warm(raw)
            if warm is not None:
                return warm
            if not pending.admit():
                return OVERLOADED.status
            try:
                checks.submit(whole, raw, request, metadata, reply)
            except RuntimeError:  # the check threads are shut down: the server is stopping
                pending.done()
                return STOPPING.status
            return None
        except Exception as exc:
            return failed(exc).status

    def health_of(raw: bytes) -> tuple[str, int | None] | tuple[int, str]:
        """The service a HealthCheckRequest names and its status (None: not known), or INVALID_ARGUMENT."""
        try:
            service_name = health_pb2.HealthCheckRequest.FromString(raw).service
        except DecodeError as exc:
            return grpc.StatusCode.INVALID_ARGUMENT.value[0], f"not a HealthCheckRequest: {exc}"
        return service_name, health(service_name)

    def health_check(raw: bytes, metadata: Mapping[str, str] | None, reply: Any) -> bytes | tuple[int, str]:
        # As grpc_health.v1.health.HealthServicer.Check answers (NOT_FOUND for a service it does not know).
        match health_of(raw):
            case (int(), str()) as refused:
                return refused
            case (service_name, None):
                return grpc.StatusCode.NOT_FOUND.value[0], f"unknown service {service_name!r}"
            case (_, status):
                return health_pb2.HealthCheckResponse(status=status).SerializeToString()

    def health_watch(raw: bytes, metadata: Mapping[str, str] | None, stopping: bool) -> bytes | tuple[int, str]:
        # A Watch stream's message now; the transport sends it when it differs from the last one it sent. As
        # grpc_health.v1.health.HealthServicer.Watch: SERVICE_UNKNOWN for a service it does not know (a message, not
        # Check's NOT_FOUND status); once stopping, NOT_SERVING for every service it knows, as its
        # enter_graceful_shutdown sets them.
        match health_of(raw):
            case (int(), str()) as refused:
                return refused
            case (_, None):
                status = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
            case (_, status):
                status = health_pb2.HealthCheckResponse.NOT_SERVING if stopping else status
        return health_pb2.HealthCheckResponse(status=status).SerializeToString()

    methods = {CHECK_METHOD: check, HEALTH_CHECK_METHOD: health_check}
    streams = {HEALTH_WATCH_METHOD: health_watch}
    return GrpcServer(
        host,
        port,
        methods,
        max_message_bytes,
        metadata=tracing is not None,
        streams=streams,
        max_streams=max_watches,
    )


def failed(exc: Exception) -> CallError:
    """The status of a check that raised: its own, or UNKNOWN for a crash (the check guards its own errors, so
    this is the transport's last line), logged."""
    if isinstance(exc, CallError):
        return exc
    log.error("check crashed", exc_info=exc)
    return CRASHED
