"""The gRPC transports, grpcio and the compiled one (adapter/native, `server.grpcTransport`), as a gRPC client sees
them: the same answers for warm and whole checks, statuses for what is not a check, a slow check that holds up no
warm one; and what only the compiled transport has to do itself (grpcio does it inside grpc-core): deadlines,
message limits, unknown methods, grpc.health.v1 (Check, and Watch's streams), a graceful stop, the call's metadata
for tracing, the answers of calls that arrived together sent together. Real servers on loopback, a real grpcio
client (a raw HTTP/2 client, the h2 package, where the frames' timing matters); the checks are the adapter's own
over a catalog in process."""

from __future__ import annotations

import contextlib
import fcntl
import queue
import socket
import struct
import termios
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
from envoy.service.auth.v3 import external_auth_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from apim_adapter.config import ConfigError
from apim_adapter.errors import Unavailable
from apim_adapter.transport import grpc as grpc_transport
from apim_adapter.transport.grpc import (
    CHECK_METHOD,
    HEALTH_CHECK_METHOD,
    HEALTH_WATCH_METHOD,
    MAX_WATCHES,
    AuthorizationService,
    GrpcioHealth,
    GrpcServer,
    add_to_server,
    compiled_server,
    read_native,
    transport_of,
)
from harness import transports
from harness.grpc_wire import CHECK_HEADERS, framed
from harness.helpers import eventually
from harness.pipeline import check_request, in_process_adapter, token

compiled_only = transports.compiled_only(GrpcServer)
TRANSPORTS = transports.GRPC_TRANSPORTS
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


@contextlib.contextmanager
def serving(
    transport: str, service: AuthorizationService, threads: int = 4, checks=None, max_pending: int = 1000, **compiled
):
    """`service` on `transport` at a free loopback port, as the adapter serves it: yields (the Check callable of a
    client, the server)."""
    checks = checks or ThreadPoolExecutor(threads, thread_name_prefix="check")
    if transport == "compiled":
        health = compiled.pop("health", lambda service: None)
        server = compiled_server(service, health, checks, "127.0.0.1", 0, max_pending=max_pending, **compiled)
        server.start()
        port, stop = server.port, lambda: server.stop(5.0)
    else:
        server = grpc.server(checks, maximum_concurrent_rpcs=max_pending)
        add_to_server(server, service)
        health_pb2_grpc.add_HealthServicer_to_server(GrpcioHealth(compiled.get("max_watches", MAX_WATCHES)), server)
        port = server.port = server.add_insecure_port("127.0.0.1:0")  # `port`, as the compiled server has it
        server.start()
        stop = lambda: server.stop(None).wait()  # noqa: E731
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel.unary_unary(CHECK_METHOD), server
    finally:
        stop()
        checks.shutdown(wait=True)


def adapter_service(held: float | None = None, **overrides) -> AuthorizationService:
    """The adapter behind the gRPC service; its clock held at `held` where given."""
    a = in_process_adapter()
    if held is not None:
        a.clock = lambda: held
    check = overrides.pop("check", a.check_on_thread)
    options = {"check_prepared": a.check_prepared, "read": read_native, **overrides}
    return AuthorizationService(check, a.renderer, **options)


def raw(bearer: str | None = None) -> bytes:
    request = check_request(bearer or "")
    if bearer is None:
        del request.attributes.request.http.headers["authorization"]
    return request.SerializeToString()


def answered(response: bytes) -> tuple[int, dict[str, str]]:
    """The HTTP status Envoy gives the client (200 on an allow) and the headers added to the client's response."""
    r = pb.CheckResponse.FromString(response)
    if r.HasField("denied_response"):
        return r.denied_response.status.code, {o.header.key: o.header.value for o in r.denied_response.headers}
    return 200, {o.header.key: o.header.value for o in r.ok_response.response_headers_to_add}


def refused(reason: str) -> float:
    """`apim_adapter_checks_refused_total{reason}` as /metrics reports it."""
    return REGISTRY.get_sample_value("apim_adapter_checks_refused_total", {"reason": reason}) or 0.0


class HeldChecks:
    """The adapter's whole checks, each recorded and then held until `release`: keeps a check thread busy."""

    def __init__(self):
        self.adapter = in_process_adapter()
        self.started, self.release, self.ran = threading.Event(), threading.Event(), []

    def __call__(self, req):
        self.ran.append(req.headers["authorization"])
        self.started.set()
        assert self.release.wait(10)
        return self.adapter.check_on_thread(req)

    def service(self) -> AuthorizationService:
        a = self.adapter
        return AuthorizationService(self, a.renderer, check_prepared=a.check_prepared, read=read_native)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_warm_and_whole_checks_answer_alike_on_either_transport(transport):
    t = token()
    # One instant for the three checks: they count in one window however the wall clock turns a minute meanwhile.
    with serving(transport, adapter_service(held=time.time())) as (check, _):
        answers = [answered(check(raw(t), timeout=10)) for _ in range(3)]  # whole, then warm (prepared) twice
        unauthenticated = answered(check(raw(), timeout=10))
    assert [status for status, _ in answers] == [200, 200, 200]
    remaining = [int(headers["ratelimit-remaining"]) for _, headers in answers]
    assert remaining == [remaining[0], remaining[0] - 1, remaining[0] - 2]  # every check counted, warm ones too
    assert unauthenticated[0] == 401


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_what_is_not_a_check_request_is_an_invalid_argument(transport):
    with serving(transport, adapter_service()) as (check, _), pytest.raises(grpc.RpcError) as refused:
        check(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)  # attributes: a length past the end
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "CheckRequest" in refused.value.details()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_check_that_cannot_be_decided_is_unavailable(transport):
    def unreachable_key_manager(_):
        raise Unavailable("key manager unreachable")

    service = adapter_service(check=unreachable_key_manager)
    with serving(transport, service) as (check, _), pytest.raises(grpc.RpcError) as failed:
        check(raw(token()), timeout=10)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert failed.value.details() == "key manager unreachable"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_check_waiting_on_io_holds_up_no_warm_check(transport):
    a = in_process_adapter()
    fast, slow = token(), token(scope="scope_ip")
    waiting, release = threading.Event(), threading.Event()

    def check(req):
        if req.headers["authorization"] == f"Bearer {slow}":
            waiting.set()
            assert release.wait(10)
        return a.check_on_thread(req)

    service = AuthorizationService(check, a.renderer, check_prepared=a.check_prepared, read=read_native)
    with serving(transport, service) as (call, _):
        call(raw(fast), timeout=10)  # prepares the fast caller's allow
        pending = call.future(raw(slow), timeout=10)
        assert waiting.wait(10)
        try:
            assert answered(call(raw(fast), timeout=5))[0] == 200  # answered while the slow check waits
            assert not pending.done()
        finally:
            release.set()
        assert answered(pending.result())[0] == 200


@compiled_only
def test_a_check_whose_deadline_passed_while_queued_is_not_run():
    held, abandoned = HeldChecks(), refused("abandoned")
    with serving("compiled", held.service(), threads=1) as (call, _):
        first = call.future(raw(token()), timeout=10)
        assert held.started.wait(10)  # the only check thread is busy
        with pytest.raises(grpc.RpcError) as late:
            call(raw(token(scope="scope_ip")), timeout=0.2)
        held.release.set()
        assert answered(first.result())[0] == 200
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(held.ran) == 1  # the queued check was dropped, not run for nobody
    assert refused("abandoned") == abandoned + 1  # and counted


@compiled_only
def test_a_check_its_caller_cancelled_while_queued_is_not_run():
    held, queued = HeldChecks(), []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            queued.append(args[-1])  # the call's Reply
            return super().submit(fn, *args, **kwargs)

    with serving("compiled", held.service(), checks=Recording(1)) as (call, _):
        first = call.future(raw(token()), timeout=10)
        assert held.started.wait(10)  # the only check thread is busy
        cancelled = call.future(raw(token(scope="scope_ip")))  # no deadline: only the reset ends it
        assert eventually(lambda: len(queued) == 2, timeout=10, interval=0.005), "the second check was not queued"
        assert cancelled.cancel()
        reset = eventually(lambda: not queued[1].pending, timeout=10, interval=0.005)  # the server read the reset
        held.release.set()
        assert reset, "the reset did not reach the call"
        assert answered(first.result())[0] == 200
    assert len(held.ran) == 1  # the cancelled check was dropped, not run for nobody


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_checks_beyond_the_pending_limit_are_refused_at_once(transport):
    held, over_limit = HeldChecks(), refused("pending_limit")
    with serving(transport, held.service(), max_pending=1) as (call, _):
        first = call.future(raw(token()), timeout=10)
        assert held.started.wait(10)  # one check pending: the limit
        try:
            with pytest.raises(grpc.RpcError) as overloaded:
                call(raw(token(scope="scope_ip")), timeout=10)
        finally:
            held.release.set()
        assert answered(first.result())[0] == 200
        assert answered(call(raw(token(scope="scope_ip")), timeout=10))[0] == 200  # room again
    assert overloaded.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(held.ran) == 2  # the refused check never ran
    if transport == "compiled":  # grpcio refuses inside grpc-core, uncounted
        assert refused("pending_limit") == over_limit + 1


@compiled_only
def test_the_compiled_transport_answers_grpc_statuses_as_grpc_core_does():
    with serving("compiled", adapter_service(), max_message_bytes=1024) as (call, server):
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        with pytest.raises(grpc.RpcError) as unknown:
            channel.unary_unary("/envoy.service.auth.v3.Authorization/Other")(b"", timeout=10)
        with pytest.raises(grpc.RpcError) as oversized:
            call(b"\x00" * 2048, timeout=10)
        assert answered(call(raw(token()), timeout=10))[0] == 200  # and it still serves
        channel.close()
    assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert oversized.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "1024" in oversized.value.details()


@compiled_only
def test_a_client_stream_ends_with_grpc_cores_status_for_a_message_it_cannot_take():
    """Client streams (`ingests`, Envoy's access log service): a message over the limit, a compressed one, a
    stream that ends inside a message; each ends its stream, after the messages before it were handed on."""
    got: list[bytes] = []
    server = GrpcServer("127.0.0.1", 0, {}, max_message_bytes=1024, ingests={"/t.Log/Stream": got.append})
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stream = channel.stream_unary("/t.Log/Stream")
            statuses = []
            for messages, compression in (
                ([b"first", b"\x00" * 2048, b"never"], None),
                ([b"second", b"a" * 1000], grpc.Compression.Gzip),  # grpc-core compresses what gets smaller
            ):
                with pytest.raises(grpc.RpcError) as ended:
                    stream(iter(messages), timeout=10, compression=compression)
                statuses.append((ended.value.code(), ended.value.details()))
            assert stream(iter([b"", b"x" * 1024]), timeout=10) == b""  # at the limit: taken
            with h2_connection(server.port) as (conn, sock):  # a stream that ends inside a message
                conn.send_headers(1, [*CHECK_HEADERS[:2], (":path", "/t.Log/Stream"), *CHECK_HEADERS[3:]])
                conn.send_data(1, framed(b"third")[:-2], end_stream=True)
                sock.sendall(conn.data_to_send())
                trailers = {}
                while "grpc-status" not in trailers:  # Trailers-Only: the status in the only headers
                    for event in conn.receive_data(sock.recv(65536)):
                        if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                            trailers.update(dict(event.headers))
    finally:
        server.stop(0)
    assert statuses == [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "a request message over 1024 bytes"),
        (grpc.StatusCode.UNIMPLEMENTED, "compressed messages are not supported"),
    ]
    assert (trailers["grpc-status"], trailers["grpc-message"]) == ("13", "malformed gRPC message framing")
    assert got == [b"first", b"second", b"", b"x" * 1024]


@compiled_only
def test_a_check_that_crashes_is_unknown_and_the_transport_serves_on():
    def crashing_reader(_):
        raise ZeroDivisionError  # a bug on the transport's own thread, below the check's guard

    service = adapter_service(read=crashing_reader)
    with serving("compiled", service) as (call, _):
        with pytest.raises(grpc.RpcError) as crashed:
            call(raw(token()), timeout=10)
        service.read = read_native  # the bug gone, the same server answers
        assert answered(call(raw(token()), timeout=10))[0] == 200
    assert crashed.value.code() == grpc.StatusCode.UNKNOWN


@compiled_only
def test_grpc_health_answers_as_the_health_servicer_does():
    statuses = {"": SERVING, "envoy.service.auth.v3.Authorization": SERVING}
    with (
        serving("compiled", adapter_service(), health=statuses.get) as (_, server),
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        health = channel.unary_unary(
            HEALTH_CHECK_METHOD,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        assert health(health_pb2.HealthCheckRequest(service=""), timeout=10).status == SERVING
        statuses[""] = health_pb2.HealthCheckResponse.NOT_SERVING
        assert health(health_pb2.HealthCheckRequest(), timeout=10).status == statuses[""]
        with pytest.raises(grpc.RpcError) as unknown:
            health(health_pb2.HealthCheckRequest(service="other"), timeout=10)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


class Watching:
    """A grpc.health.v1 Watch call on `channel`: the statuses it receives, then how it ended (the RpcError, or None
    for OK), read by a thread of its own so that each is awaited with a timeout (`next`)."""

    def __init__(self, channel: grpc.Channel, service: str = "", request: bytes | None = None):
        watch = channel.unary_stream(
            HEALTH_WATCH_METHOD, response_deserializer=health_pb2.HealthCheckResponse.FromString
        )
        self.call = watch(
            health_pb2.HealthCheckRequest(service=service).SerializeToString() if request is None else request
        )
        self.received: queue.Queue[int | grpc.RpcError | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.received.put(response.status)
        except grpc.RpcError as exc:
            self.received.put(exc)
        else:
            self.received.put(None)

    def next(self, timeout: float = 10) -> int | grpc.RpcError | None:
        return self.received.get(timeout=timeout)

    def ended(self, code: grpc.StatusCode) -> grpc.RpcError:
        end = self.next()
        assert isinstance(end, grpc.RpcError), f"received {end} instead of the end of the stream"
        assert end.code() == code, end
        return end


def health_check(channel: grpc.Channel, service: str = "") -> int:
    check = channel.unary_unary(HEALTH_CHECK_METHOD, response_deserializer=health_pb2.HealthCheckResponse.FromString)
    return check(health_pb2.HealthCheckRequest(service=service).SerializeToString(), timeout=10).status


@compiled_only
def test_grpc_health_watch_sends_the_current_status_at_once_and_service_unknown_for_another():
    statuses = {"": SERVING}
    with (
        serving("compiled", adapter_service(), health=statuses.get) as (_, server),
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        overall, other = Watching(channel), Watching(channel, "other")
        assert overall.next() == SERVING
        # As grpcio's HealthServicer.Watch: a message for a service it does not know, not Check's NOT_FOUND status,
        # and the stream stays open: the service may come.
        assert other.next() == SERVICE_UNKNOWN
        statuses["other"] = NOT_SERVING
        server.notify()
        assert other.next() == NOT_SERVING
        Watching(channel, request=b"\x0a\xff").ended(grpc.StatusCode.INVALID_ARGUMENT)  # a length past the end
        assert overall.call.is_active()  # still open
        assert other.call.is_active()


@compiled_only
def test_a_health_change_reaches_the_open_watch_streams_once_beside_unary_calls():
    a = in_process_adapter()
    a._set_health(NOT_SERVING)  # as `serve` starts
    with (
        serving("compiled", adapter_service(), health=a.health_status.get) as (check, server),
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        a.compiled_grpc = server  # as `serve` keeps it
        watches = [Watching(channel), Watching(channel), Watching(channel, "envoy.service.auth.v3.Authorization")]
        assert [w.next() for w in watches] == [NOT_SERVING] * 3
        a._set_health(NOT_SERVING)  # told, but nothing changed: no message
        assert health_check(channel) == NOT_SERVING  # unary calls are answered beside the streams
        assert answered(check(raw(token()), timeout=10))[0] == 200
        a._set_health(SERVING)
        assert [w.next() for w in watches] == [SERVING] * 3  # not a second NOT_SERVING first
        assert health_check(channel) == SERVING
        a._set_health(SERVING)
        a._set_health(NOT_SERVING)
        assert [w.next() for w in watches] == [NOT_SERVING] * 3  # not a second SERVING first


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_watch_streams_beyond_the_limit_are_refused_and_a_cancelled_one_makes_room_at_once(transport):
    # On grpcio too: there a stream would count against maximum_concurrent_rpcs, the checks' own bound, for as long
    # as its caller keeps it (GrpcioHealth).
    with (
        serving(transport, adapter_service(), health={"": SERVING}.get, max_watches=2) as (_, server),
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        first, second = Watching(channel), Watching(channel)
        assert [first.next(), second.next()] == [SERVING, SERVING]
        refused = Watching(channel).ended(grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert "more than 2 streams open" in refused.details()
        assert health_check(channel) == SERVING  # the limit is on streams, not on unary calls
        first.call.cancel()
        first.ended(grpc.StatusCode.CANCELLED)
        assert Watching(channel).next() == SERVING  # the reset went before this call on the connection


def test_on_grpcio_the_watch_streams_end_at_stop_with_not_serving_then_unavailable():
    # The adapter's stop on grpcio (app.py): enter_graceful_shutdown, end_watches, then the server's stop with its
    # grace period, which open streams would otherwise hold to its end.
    health_servicer, grace = GrpcioHealth(), 30.0
    checks = ThreadPoolExecutor(2, thread_name_prefix="check")
    server = grpc.server(checks)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        watching = [Watching(channel), Watching(channel, "other")]
        assert [w.next() for w in watching] == [SERVING, SERVICE_UNKNOWN]
        health_servicer.enter_graceful_shutdown()
        health_servicer.end_watches()
        assert watching[0].next() == NOT_SERVING  # a stopping server is not serving
        assert [w.ended(grpc.StatusCode.UNAVAILABLE).details() for w in watching] == ["stopping"] * 2
        assert Watching(channel).ended(grpc.StatusCode.UNAVAILABLE).details() == "stopping"  # one opened after
        started = time.monotonic()
        server.stop(grace).wait()
        stopped_in = time.monotonic() - started
    checks.shutdown()
    assert stopped_in < grace / 10, f"stop took {stopped_in:.1f} s of its {grace:.0f} s grace period"


def test_on_grpcio_a_watch_whose_call_had_already_ended_takes_no_place():
    class EndedCall:
        """A grpc.ServicerContext whose call has ended: add_callback registers nothing and says so (grpcio
        grpc/_server.py, `_Context.add_callback`: False once the call's callbacks have run)."""

        def add_callback(self, callback) -> bool:
            return False

        def abort(self, code, details):
            raise AssertionError(f"refused: {details}")

    servicer = GrpcioHealth(max_watches=1)
    for _ in range(2):  # the second is not refused: the first, ended, took no place
        servicer.Watch(health_pb2.HealthCheckRequest(), EndedCall(), lambda response: None)


@compiled_only
def test_stop_ends_watch_streams_at_once_with_not_serving_then_unavailable():
    held, grace = HeldChecks(), 30.0
    checks = ThreadPoolExecutor(2, thread_name_prefix="check")
    server = compiled_server(held.service(), {"": SERVING}.get, checks, "127.0.0.1", 0)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        watching = Watching(channel)
        assert watching.next() == SERVING
        in_flight = channel.unary_unary(CHECK_METHOD).future(raw(token()), timeout=60)
        assert held.started.wait(10)
        started = time.monotonic()
        stopping = threading.Thread(target=server.stop, args=(grace,))
        stopping.start()
        try:
            assert watching.next() == NOT_SERVING  # a stopping server is not serving
            assert watching.ended(grpc.StatusCode.UNAVAILABLE).details() == "stopping"
            assert stopping.is_alive()  # waiting for the unary call in flight only
        finally:
            held.release.set()
        assert answered(in_flight.result())[0] == 200
        stopping.join(grace)
        stopped_in = time.monotonic() - started
    checks.shutdown()
    assert not stopping.is_alive()
    assert stopped_in < grace / 10, f"stop took {stopped_in:.1f} s of its {grace:.0f} s grace period"


@compiled_only
def test_the_call_metadata_carries_the_gateways_trace_context_to_the_check():
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    a, seen = in_process_adapter(), []

    def within(parent, fn, *args):
        seen.append(parent)
        return fn(*args)

    service = AuthorizationService(a.check_on_thread, a.renderer)  # tracing on: nothing prepared
    tracing = SimpleNamespace(remote_parent=lambda metadata: metadata.get("traceparent"), within=within)
    with serving("compiled", service, tracing=tracing) as (call, _):
        assert answered(call(raw(token()), metadata=(("traceparent", traceparent),), timeout=10))[0] == 200
    assert seen == [traceparent]


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):  # reset: it reached the backlog as the listener closed
        return True
    return False


@compiled_only
def test_stop_refuses_new_connections_and_lets_calls_in_flight_finish():
    held = HeldChecks()
    checks = ThreadPoolExecutor(2, thread_name_prefix="check")
    server = compiled_server(held.service(), lambda _: None, checks, "127.0.0.1", 0)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        in_flight = channel.unary_unary(CHECK_METHOD).future(raw(token()), timeout=10)
        assert held.started.wait(10)
        stopping = threading.Thread(target=server.stop, args=(10.0,))
        stopping.start()
        refused = eventually(lambda: refuses_connections(server.port), timeout=10, interval=0.005)
        assert refused, "still taking connections after stop"
        assert stopping.is_alive()  # waiting for the call in flight
        held.release.set()
        assert answered(in_flight.result())[0] == 200
        stopping.join(10)
        assert not stopping.is_alive()
    checks.shutdown()


@contextlib.contextmanager
def h2_connection(port: int, receive_buffer: int | None = None, initial_window: int | None = None):
    """A raw HTTP/2 client connection to `port`, past the settings exchange (both sides' SETTINGS acknowledged, so
    the server writes nothing more until it is sent something): yields (the h2 state, the socket). `receive_buffer`:
    the socket's, fixed, and the client's HTTP/2 windows opened wide, so that only the socket holds the server back;
    `initial_window`: the client's streams' flow-control window (0: the server may send no DATA)."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    with socket.socket() as sock:
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            initial_window = 2**31 - 1
        if initial_window is not None:
            window = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window}
            conn.local_settings = h2.settings.Settings(client=True, initial_values=window)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        conn.initiate_connection()
        if receive_buffer:
            conn.increment_flow_control_window(2**31 - 1 - conn.inbound_flow_control_window)
        sock.sendall(conn.data_to_send())
        settled: set[type] = set()
        while len(settled) < 2:
            events = conn.receive_data(sock.recv(65536))
            settled |= {type(e) for e in events} & {h2.events.RemoteSettingsChanged, h2.events.SettingsAcknowledged}
            sock.sendall(conn.data_to_send())  # the acknowledgement of the server's settings
        yield conn, sock


def send_calls(conn, sock, message: bytes, calls: int) -> list[int]:
    """`calls` Check calls sent in one write, as Envoy sends the checks of requests that arrived together: their
    stream ids."""
    streams = [conn.get_next_available_stream_id() + 2 * i for i in range(calls)]
    for stream in streams:
        conn.send_headers(stream, CHECK_HEADERS)
        conn.send_data(stream, framed(message), end_stream=True)
    sock.sendall(conn.data_to_send())
    return streams


def answers_of(conn, sock, streams: list[int]) -> list[bytes]:
    """The response messages of the calls on `streams`, once each has ended."""
    bodies: dict[int, bytes] = {}
    ended: set[int] = set()
    while len(ended) < len(streams):
        for event in conn.receive_data(sock.recv(65536)):
            if isinstance(event, h2.events.DataReceived):
                bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                ended.add(event.stream_id)
        sock.sendall(conn.data_to_send())
    return [bodies[stream][5:] for stream in streams]


def answers_to_calls(conn, sock, message: bytes, calls: int) -> list[bytes]:
    return answers_of(conn, sock, send_calls(conn, sock, message, calls))


@compiled_only
def test_the_answers_of_checks_that_arrive_together_go_out_together():
    # A gateway sends the checks of requests that reach it together in one write; answering each in a write of its
    # own made a syscall and a segment for Envoy to read per check (h2 writes a DATA frame over 256 bytes, which an
    # allow is, on its own: adapter/native/src/grpc.rs, `Gathering`). Counted are the server's writes, not the
    # segments the client received: the kernel may merge writes into one segment, as its timing goes.
    calls = 16
    with serving("compiled", adapter_service()) as (call, server):
        request = raw(token())
        assert answered(call(request, timeout=10))[0] == 200  # the whole check: its allow is prepared
        with h2_connection(server.port) as (conn, sock):
            before = server.socket_writes
            answers = answers_to_calls(conn, sock, request, calls)
            writes = server.socket_writes - before
    assert all(answered(answer)[0] == 200 for answer in answers)
    assert len(answers[0]) > 256  # an allow with its headers and metadata: a frame h2 would write on its own
    assert writes <= calls // 4, f"{writes} writes for {calls} answers"


@compiled_only
def test_answers_over_a_kibibyte_go_out_in_one_write_a_turn():
    # An allow with the backend JWT in its headers is over 1 KiB: h2 keeps such a DATA frame aside and flushes before
    # it buffers anything else (the answer's trailers, the next answer), so unless what it writes is gathered until
    # the connection's turn ends, each such answer takes a write and its trailers another: 17 writes for these 16
    # answers sent together (33 on a socket without vectored writes and nothing gathered), 2 for each alone.
    calls, answer = 16, b"\x0a" * 1500
    server = GrpcServer("127.0.0.1", 0, {CHECK_METHOD: lambda message, metadata, reply: answer})
    server.start()
    try:
        with h2_connection(server.port) as (conn, sock):
            before = server.socket_writes
            answers = answers_to_calls(conn, sock, raw(token()), calls)
            together = server.socket_writes - before
            alone = []
            for _ in range(calls):
                before = server.socket_writes
                assert answers_to_calls(conn, sock, raw(token()), 1) == [answer]
                alone.append(server.socket_writes - before)
    finally:
        server.stop(5.0)
    assert answers == [answer] * calls
    assert together <= calls // 4, f"{together} writes for {calls} answers sent together"
    assert sum(alone) <= calls + 1, f"writes per answer: {alone}"  # and a WINDOW_UPDATE, at the most


@compiled_only
def test_a_client_that_stops_reading_holds_back_its_own_connection_only():
    # Envoy's connection can stall (its worker busy, its buffers full). The server's socket fills, what h2 writes
    # then is gathered up to 64 KiB and h2 is held back (`MAX_GATHERED`, grpc.rs): the stalled connection waits, the
    # others are answered, and once it reads again it gets every answer whole.
    calls, answer = 50, bytes(range(256)) * 960  # 240 KiB each, 12 MB in all: far more than the sockets hold
    server = GrpcServer("127.0.0.1", 0, {CHECK_METHOD: lambda message, metadata, reply: answer})
    server.start()
    try:
        with h2_connection(server.port, receive_buffer=16 << 10) as (conn, sock):
            streams = send_calls(conn, sock, raw(token()), calls)
            assert eventually(lambda: unread(sock) >= 16 << 10, timeout=10, interval=0.01), "the client's buffer full"
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                assert channel.unary_unary(CHECK_METHOD)(raw(token()), timeout=5) == answer
            assert answers_of(conn, sock, streams) == [answer] * calls
    finally:
        server.stop(5.0)


def unread(sock: socket.socket) -> int:
    """Bytes in the socket's receive queue (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


@compiled_only
def test_a_client_that_never_opens_its_window_cannot_have_answers_kept_without_bound():
    # h2 keeps an answer its peer's flow control holds back, and a call stays open until its answer is sent: the
    # server advertises at most 1,000 calls open on a connection (a gateway opens another connection for more) and
    # refuses those of a client that ignores it (`MAX_CALLS_PER_CONNECTION`, grpc.rs). The calls it took are
    # answered, whole, once the window opens.
    calls, bound, answer = 1100, 1000, b"\x0a" * 500
    server = GrpcServer("127.0.0.1", 0, {CHECK_METHOD: lambda message, metadata, reply: answer})
    server.start()
    try:
        with h2_connection(server.port, initial_window=0) as (conn, sock):
            assert conn.remote_settings.max_concurrent_streams == bound
            conn.remote_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = 2**31 - 1  # a client ignoring it
            conn.remote_settings.acknowledge()
            refused: set[int] = set()

            def read() -> None:
                for event in conn.receive_data(sock.recv(65536)):
                    if (
                        isinstance(event, h2.events.StreamReset)
                        and event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
                    ):
                        refused.add(event.stream_id)
                sock.sendall(conn.data_to_send())

            message = framed(raw(token()))
            streams = []
            for _ in range(calls):
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, CHECK_HEADERS)
                streams.append(stream)
                while stream not in refused and conn.local_flow_control_window(stream) < len(message):
                    sock.sendall(conn.data_to_send())
                    read()  # the server's WINDOW_UPDATEs, as it reads the calls
                if stream not in refused:
                    conn.send_data(stream, message, end_stream=True)
            sock.sendall(conn.data_to_send())
            while len(refused) < calls - bound:
                read()
            assert sorted(refused) == streams[bound:], "refused: the calls past the bound, and only those"
            conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})  # the window opens
            sock.sendall(conn.data_to_send())
            assert answers_of(conn, sock, streams[:bound]) == [answer] * bound
    finally:
        server.stop(5.0)


def test_the_transport_is_the_one_the_config_asks_for(monkeypatch):
    assert transport_of("grpcio") == "grpcio"
    assert transport_of("auto") == ("grpcio" if GrpcServer is None else "compiled")
    monkeypatch.setattr(grpc_transport, "GrpcServer", None)
    assert transport_of("auto") == "grpcio"
    with pytest.raises(ConfigError, match=r"server\.grpcTransport: compiled, but apim-adapter-native"):
        transport_of("compiled")
