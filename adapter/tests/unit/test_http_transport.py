"""The HTTP-mode transports, aiohttp and the compiled one (adapter/native, `server.httpTransport`), as Envoy's
ext_authz HTTP client sees them: the same answers for warm and whole checks, the path prefix, the client's address,
503 for a check that cannot be decided, a slow check that holds up no warm one; and what only the compiled
transport has to do itself: the pending limit, dropping a check nobody waits for, the head limit, bodies dropped,
a graceful stop, and HTTP/2 with prior knowledge (what Envoy speaks to a cluster istiod upgrades to HTTP/2). Real
servers on loopback, a real HTTP/1.1 client (http.client, keep-alive) and a real HTTP/2 one (the h2 package's
connection on a socket); the checks are the adapter's own over a catalog in process, whole checks on a real event
loop."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import copy
import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import h2.config
import h2.connection
import h2.events
import hpack
import hyperframe.frame
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from apim_adapter.config import ConfigError
from apim_adapter.errors import Unavailable
from apim_adapter.mediation import RequestBody
from apim_adapter.transport import MAX_KEPT_BODY, PARTIAL_BODY
from apim_adapter.transport import http as http_transport
from apim_adapter.transport.http import HttpCheck, HttpServer, compiled_server, make_handler, transport_of
from harness import transports
from harness.helpers import eventually
from harness.pipeline import PATH, in_process_adapter, token
from harness.sample_catalog import catalog_document
from harness.sample_catalog import operation_policy as policy

compiled_only = transports.compiled_only(HttpServer)
TRANSPORTS = transports.HTTP_TRANSPORTS
PREFIX = "/check"
# What a transport adds to every answer, not part of the check's answer.
TRANSPORT_HEADERS = {"date", "server", "content-length", "content-type"}


@contextlib.contextmanager
def running_loop():
    """An event loop on a thread of its own, as the adapter's (whole checks run on it)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="loop")
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def serving(transport: str, answer: HttpCheck, max_pending: int = 1000, max_head_bytes: int = 65536):
    """`answer` on `transport` at a free loopback port, as the adapter serves it: yields (port, loop)."""
    with running_loop() as loop:
        if transport == "compiled":
            server = compiled_server(answer, loop, "127.0.0.1", 0, max_head_bytes, max_pending)
            server.start()
            try:
                yield server.port, loop
            finally:
                server.stop(5.0)
            return

        async def start() -> tuple[web.ServerRunner, int]:  # as `serve` sets it up, on the loop
            handler = make_handler(answer)
            runner = web.ServerRunner(
                web.Server(handler, max_line_size=max_head_bytes, max_field_size=max_head_bytes), access_log=None
            )
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return runner, runner.addresses[0][1]

        runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        try:
            yield port, loop
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)


_OPEN: list[http.client.HTTPConnection] = []


@pytest.fixture(autouse=True)
def _closed_after_each_test() -> Iterator[None]:
    """Every connection a test opens (`connect`) is closed after it, whatever the test did with it."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def connect(port: int, timeout: float = 10) -> http.client.HTTPConnection:
    """A client connection to the transport on `port`, as Envoy keeps one, closed after the test."""
    _OPEN.append(http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    return _OPEN[-1]


def adapter_check(check=None, clock: Callable[[], float] | None = None, **overrides) -> HttpCheck:
    a = in_process_adapter()
    a.clock = clock or a.clock
    options = {"check_prepared": a.check_prepared, **overrides}
    return HttpCheck(check or a.check_on_loop, a.renderer, PREFIX, **options)


def get(
    connection: http.client.HTTPConnection, bearer: str | None = None, path: str = PATH, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One check as Envoy sends it (the provider's path prefix before the path): status, headers, body."""
    if bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    connection.request("GET", PREFIX + path, headers={"host": "gw", **headers})
    response = connection.getresponse()
    body = response.read()
    answer = {k.lower(): v for k, v in response.getheaders() if k.lower() not in TRANSPORT_HEADERS}
    return response.status, answer, body


def http2_gets(port: int, requests: Sequence[dict[str, str]]) -> list[tuple[int, dict[str, str], bytes]]:
    """Checks as Envoy sends them to a cluster configured for HTTP/2 (prior knowledge, no upgrade): each of
    `requests` (headers, `authorization` as a bearer token) on its own stream of one connection, all sent at once;
    their answers as `get` gives them, in order."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        conn.initiate_connection()
        streams = []
        for headers in requests:
            pseudo = {":method": "GET", ":scheme": "http", ":path": PREFIX + headers.get(":path", PATH),
                      ":authority": headers.get(":authority", "gw")}  # fmt: skip
            head = {**pseudo, **{k: v for k, v in headers.items() if not k.startswith(":")}}
            if "authorization" in head:
                head["authorization"] = f"Bearer {head['authorization']}"
            streams.append(conn.get_next_available_stream_id())
            conn.send_headers(streams[-1], list(head.items()), end_stream=True)
        sock.sendall(conn.data_to_send())
        heads: dict[int, dict[str, str]] = {}
        bodies = {stream: b"" for stream in streams}
        ended: set[int] = set()
        while len(ended) < len(streams):
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    heads[event.stream_id] = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended.add(event.stream_id)
            sock.sendall(conn.data_to_send())
    answers = []
    for stream in streams:
        head = heads[stream]
        headers = {k: v for k, v in head.items() if k != ":status" and k not in TRANSPORT_HEADERS}
        answers.append((int(head[":status"]), headers, bodies[stream]))
    return answers


class HeldChecks:
    """The adapter's whole checks, each held on the loop until `release` is set there (as a key manager's answer is
    awaited)."""

    def __init__(self):
        self.adapter = in_process_adapter()
        self.started, self.release = threading.Event(), asyncio.Event()

    async def __call__(self, req):
        self.started.set()
        await self.release.wait()
        return await self.adapter.check_on_loop(req)

    def let_go(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_soon_threadsafe(self.release.set)


def whole_checks_seeing(field: str, seen: list[Any], doc: dict | None = None) -> HttpCheck:
    """The adapter's checks (over `doc`, else the sample catalog), all whole (no prepared allows), each noting its
    input's `field` in `seen`; bodies kept as the adapter keeps them (`reads_body_at`)."""
    a = in_process_adapter(doc)

    async def check(req):
        seen.append(getattr(req, field))
        return await a.check_on_loop(req)

    return HttpCheck(check, a.renderer, PREFIX, num_trusted_proxies=0, reads_body_at=a.reads_body_at)


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("apim_adapter_checks_refused_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_warm_and_whole_checks_answer_alike_on_either_transport(transport):
    t = token()
    with serving(transport, adapter_check()) as (port, _):
        client = connect(port, 10)
        answers = [get(client, t) for _ in range(3)]  # whole, then warm (prepared) twice, on one connection
        unauthenticated = get(client)
        unsubscribed = get(client, token(app="unsubscribed"))
    assert [status for status, _, _ in answers] == [200, 200, 200]
    remaining = [int(headers["ratelimit-remaining"]) for _, headers, _ in answers]
    assert remaining == [remaining[0], remaining[0] - 1, remaining[0] - 2]  # every check counted, warm ones too
    whole, warm = answers[0][1], answers[1][1]
    assert whole.keys() == warm.keys()
    assert any(name.startswith("x-apim-") for name in warm)
    assert {k: v for k, v in whole.items() if not k.startswith("ratelimit")} == {
        k: v for k, v in warm.items() if not k.startswith("ratelimit")
    }
    assert unauthenticated[0] == 401
    assert "www-authenticate" in unauthenticated[1]
    assert json.loads(unauthenticated[2])["code"] == "900902"
    assert unsubscribed[0] == 403
    assert json.loads(unsubscribed[2])["code"] == "900908"


@compiled_only
def test_both_transports_give_envoy_the_same_answers():
    now = time.time()  # both runs decide at the same instant: `ratelimit-reset` counts down the wall clock

    def answers(transport: str) -> list[tuple[int, dict[str, str], bytes]]:
        with serving(transport, adapter_check(clock=lambda: now)) as (port, _):
            client = connect(port, 10)
            calls = [
                get(client, t := token()),
                get(client, t),
                get(client),
                get(client, "not-a-jwt"),
                get(client, token(app="unsubscribed")),
                get(client, token(), path="/nowhere"),
            ]
        for _, headers, _ in calls:  # a fresh token per run: the backend JWT and the request id differ
            headers.pop("x-apim-backend-jwt", None)
        return calls

    assert answers("compiled") == answers("aiohttp")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_client_address_is_the_gateways_not_the_callers(transport):
    seen: list[Any] = []
    with serving(transport, whole_checks_seeing("client_ip", seen)) as (port, _):
        client = connect(port, 10)
        get(client, token(), **{"x-forwarded-for": "10.9.9.9, 203.0.113.50"})  # the gateway appended the peer
        get(client, token())  # no x-forwarded-for: the peer
    assert seen == ["203.0.113.50", "127.0.0.1"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_check_that_cannot_be_decided_is_an_error_to_envoy(transport):
    async def unreachable_key_manager(_):
        raise Unavailable("key manager unreachable")

    with serving(transport, adapter_check(unreachable_key_manager)) as (port, _):
        status, _, body = get(connect(port, 10), token())
    assert (status, body) == (503, b"key manager unreachable")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_check_waiting_on_io_holds_up_no_warm_check(transport):
    a = in_process_adapter()
    fast, slow = token(), token(scope="scope_ip")
    waiting, release = threading.Event(), asyncio.Event()

    async def check(req):
        if req.headers["authorization"] == f"Bearer {slow}":
            waiting.set()
            await release.wait()  # as a key manager's answer is awaited
        return await a.check_on_loop(req)

    with serving(transport, adapter_check(check)) as (port, loop):
        get(connect(port, 10), fast)  # prepares the fast caller's allow
        slow_client = connect(port, 10)
        slow_client.request("GET", PREFIX + PATH, headers={"authorization": f"Bearer {slow}"})
        assert waiting.wait(10)
        try:
            assert get(connect(port, 5), fast)[0] == 200
        finally:
            loop.call_soon_threadsafe(release.set)
        assert slow_client.getresponse().status == 200


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_odd_credentials_are_denied_not_crashed_on(transport):
    huge = "x" * 20_000  # over request.maxTokenBytes (8 KiB), under the head limit: the check answers it
    with serving(transport, adapter_check()) as (port, _):
        client = connect(port, 10)
        client.putrequest("GET", PREFIX + PATH)
        client.putheader("authorization", b"Bearer \xff\xfe.\xc3\x28.\x80")  # not UTF-8
        client.endheaders()
        response = client.getresponse()
        response.read()
        assert response.status == 401
        assert get(client, huge)[0] == 401
        assert get(client, token())[0] == 200  # and the connection serves on


# Pieces a garbled request is made of: what has broken HTTP/1.1 servers before (bare CR or LF, NUL, bytes past
# ASCII, broken or conflicting framing, a second protocol's preface, an upgrade) and what the adapter reads.
GARBLE = [
    b"\x00", b"\xff", b"\r", b"\n", b"\r\n", b" ", b":", b"%", b"%00", b"%zz", b"?", b"#", b"//", b"/..", b"\t",
    b"Transfer-Encoding: chunked\r\n", b"Content-Length: 5\r\n", b"Content-Length: -1\r\n",
    b"Content-Length: 99999999999999999999\r\n", b"0\r\n\r\n", b"zz\r\n", b"Authorization: Bearer x\r\n",
    b"Authorization: \r\n", b"Authorization: Basic %%%\r\n", b"Host: \r\n", b"Host: a:b:c\r\n",
    b"X-Forwarded-For: \xff\r\n", b"X-Forwarded-For: ::1, 1.2.3.4\r\n", b"\xc3\x28", b"\xed\xa0\x80",
    b"Expect: 100-continue\r\n", b"Connection: close\r\n", b"Upgrade: h2c\r\n", b"HTTP/1.0", b"HTTP/2.0",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"apikey: \x01\r\n", b"Content-Type: multipart/form-data; boundary=\r\n",
]  # fmt: skip


def garbled(rng: random.Random, bearer: str) -> bytes:
    """A check as Envoy sends one (a GET, or a POST with a body), then cut, spliced and bytes overwritten."""
    head = [f"GET {PREFIX}{PATH}?a=1 HTTP/1.1", "Host: gw", f"Authorization: Bearer {bearer}", "User-Agent: t"]
    body = b""
    if rng.random() < 0.3:
        head[0], body = head[0].replace("GET", "POST"), b'{"a": 1}'
        head.append(f"Content-Length: {len(body)}")
    data = bytearray("\r\n".join(head).encode() + b"\r\n\r\n" + body)
    for _ in range(rng.randint(1, 4)):
        at, what = rng.randint(0, len(data)), rng.random()
        if what < 0.4:
            data[at:at] = rng.choice(GARBLE)
        elif what < 0.6:
            del data[at : at + rng.randint(1, 8)]
        elif what < 0.8 and at < len(data):
            data[at] = rng.randrange(256)
        else:
            data[at:at] = data[rng.randint(0, len(data)) :][: rng.randint(1, 40)]
    return bytes(data)


def statuses_of(port: int, request: bytes) -> list[int]:
    """The statuses of what the transport answers `request` on a connection of its own, read until it closes it or
    is silent for half a second (a request it still waits the rest of)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall(request)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    return [int(line.split(b" ")[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_garbled_requests_are_refused_or_decided_never_a_5xx_and_the_transport_serves_on(transport):
    """Whatever bytes reach the port, the answer is a refusal of the request (4xx), a decision on it, or a closed
    connection: never a server error, never a crash; the next good check is answered. Envoy sends well-formed
    requests, but the port is open to whatever the NetworkPolicy admits."""
    rng, bearer = random.Random(20261206), token()
    with serving(transport, adapter_check()) as (port, _):
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(
                pool.map(lambda request: statuses_of(port, request), [garbled(rng, bearer) for _ in range(200)])
            )
        seen = collections.Counter(status for statuses in answers for status in statuses)
        assert not [status for status in seen if status >= 500], seen
        assert seen[400] > 50  # refused as malformed
        assert seen[200] + seen[401] + seen[404] + seen[405] > 50  # well formed still: decided
        assert get(connect(port, 10), token())[0] == 200


@compiled_only
def test_checks_beyond_the_pending_limit_are_refused_at_once():
    held = HeldChecks()
    before = refused("pending_limit")
    with serving("compiled", adapter_check(held), max_pending=1) as (port, loop):
        first = connect(port, 10)
        first.request("GET", PREFIX + PATH, headers={"authorization": f"Bearer {token()}"})
        assert held.started.wait(10)
        status, _, body = get(connect(port, 10), token(scope="scope_ip"))
        held.let_go(loop)
        assert first.getresponse().status == 200
    assert (status, body) == (503, b"too many checks pending (server.maxPendingChecks)")
    assert refused("pending_limit") == before + 1


@compiled_only
def test_a_check_whose_caller_hung_up_while_it_queued_is_not_run(monkeypatch):
    ran, queued, gate = [], [], threading.Event()
    a = in_process_adapter()

    async def check(req):
        ran.append(req.headers["authorization"])
        return await a.check_on_loop(req)

    def recording(coroutine, loop):
        queued.append(coroutine.cr_frame.f_locals["reply"])  # the request's Reply, as the transport handed it
        return handing_off(coroutine, loop)

    handing_off = asyncio.run_coroutine_threadsafe
    monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", recording)
    before = refused("abandoned")
    with serving("compiled", adapter_check(check)) as (port, loop):
        loop.call_soon_threadsafe(gate.wait, 10)  # the loop is busy: the next check queues behind it
        caller = socket.create_connection(("127.0.0.1", port))
        caller.sendall(f"GET {PREFIX}{PATH} HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {token()}\r\n\r\n".encode())
        try:
            assert eventually(lambda: len(queued) == 1, timeout=10, interval=0.005), "the check was not queued"
            assert queued[0].pending
            caller.close()  # Envoy gives up (its timeout) and closes the connection
            assert eventually(lambda: not queued[0].pending, timeout=10, interval=0.005)  # the server saw it
        finally:
            gate.set()
        assert eventually(lambda: refused("abandoned") == before + 1, timeout=10)
    assert ran == []  # dropped, not checked for nobody


@compiled_only
def test_the_compiled_transport_bounds_heads_drops_bodies_and_keeps_connections():
    with serving("compiled", adapter_check(), max_head_bytes=16384) as (port, _):
        client = connect(port, 10)
        client.request("GET", PREFIX + PATH, body=b"{}" * 50_000, headers={"authorization": f"Bearer {token()}"})
        response = client.getresponse()
        response.read()
        assert response.status == 200  # a body is read and dropped; the connection serves on
        assert get(client, token())[0] == 200
        huge = connect(port, 10)
        assert get(huge, **{"x-filler": "v" * 20_000})[0] == 431
        big = connect(port, 10)
        big.request("GET", PREFIX + PATH, body=b"x" * (8 << 20), headers={"authorization": f"Bearer {token()}"})
        assert big.getresponse().status == 200  # a body is never kept, whatever its size


@compiled_only
def test_the_compiled_transport_answers_http2_as_it_answers_http1():
    # Under a mesh-wide h2UpgradePolicy: UPGRADE istiod makes the provider's cluster HTTP/2, and Envoy then sends
    # checks as HTTP/2 with prior knowledge, several at once on one connection.
    t, unsubscribed = token(), token(app="unsubscribed")
    calls = [{"authorization": t}, {"authorization": t}, {}, {"authorization": "not-a-jwt"},
             {"authorization": unsubscribed}, {"authorization": t, ":path": "/nowhere"}]  # fmt: skip

    def over_http1() -> list[tuple[int, dict[str, str], bytes]]:
        with serving("compiled", adapter_check()) as (port, _):
            client = connect(port, 10)
            return [get(client, c.get("authorization"), c.get(":path", PATH)) for c in calls]

    def over_http2() -> list[tuple[int, dict[str, str], bytes]]:
        with serving("compiled", adapter_check()) as (port, _):
            first = http2_gets(port, calls[:1])  # prepares the caller's allow: the next are warm checks
            return first + http2_gets(port, calls[1:])

    http1, http2 = over_http1(), over_http2()
    for answers in (http1, http2):
        for _, headers, _ in answers:  # the backend JWT and the reset time may differ between runs
            headers.pop("x-apim-backend-jwt", None)
            headers.pop("ratelimit-reset", None)
    assert [status for status, _, _ in http2] == [200, 200, 401, 401, 403, 404]
    assert http2 == http1


@compiled_only
def test_over_http2_the_host_is_the_authority_and_the_header_list_is_bounded():
    seen = []
    a = in_process_adapter()

    async def check(req):
        seen.append(req.host)
        return await a.check_on_loop(req)

    with serving("compiled", HttpCheck(check, a.renderer, PREFIX), max_head_bytes=16384) as (port, _):
        assert http2_gets(port, [{"authorization": token(), ":authority": "api.example.com"}])[0][0] == 200
        assert http2_gets(port, [{"x-filler": "v" * 20_000}])[0][0] == 431
        assert http2_gets(port, [{"authorization": token()}])[0][0] == 200  # and the server serves on
    assert seen == ["api.example.com", "gw"]


def stopped_with_a_check_in_flight(send: Callable[[int], Callable[[], Any]], grace: float) -> Any:
    """The compiled transport stopped while one check is held on the loop: `send(port)` sends the check and returns
    what reads its answer. Once the server refuses new connections the check is let go; its answer, read while the
    stop waits for it, is returned after the stop has ended (within 10 s)."""
    held = HeldChecks()
    with running_loop() as loop:
        server = compiled_server(adapter_check(held), loop, "127.0.0.1", 0)
        server.start()
        read = send(server.port)
        assert held.started.wait(10)
        stopping = threading.Thread(target=server.stop, args=(grace,))
        stopping.start()
        eventually(lambda: _refused(server.port), timeout=5)
        held.let_go(loop)
        answer = read()
        stopping.join(10)
        assert not stopping.is_alive()
    return answer


@compiled_only
def test_stop_lets_a_check_in_flight_finish_and_refuses_new_connections():
    def send(port: int) -> Callable[[], int]:
        client = connect(port, 10)
        client.request("GET", PREFIX + PATH, headers={"authorization": f"Bearer {token()}"})
        return lambda: client.getresponse().status

    # A grace period the stop must not need: a loaded machine slower to refuse new connections than the grace
    # would cut the held check instead of letting it finish.
    assert stopped_with_a_check_in_flight(send, grace=30.0) == 200


@compiled_only
def test_stop_lets_an_http2_check_in_flight_finish():
    # Read frame by frame: the h2 package's connection closes on the first GOAWAY and refuses what follows, while a
    # graceful stop sends GOAWAY first and then the answers of the streams it still serves (RFC 9113, 6.8).
    def send(port: int) -> Callable[[], list[hyperframe.frame.Frame]]:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.initiate_connection()
        head = [(":method", "GET"), (":scheme", "http"), (":path", PREFIX + PATH), (":authority", "gw"),
                ("authorization", f"Bearer {token()}")]  # fmt: skip
        conn.send_headers(1, head, end_stream=True)
        sock.sendall(conn.data_to_send())

        def read() -> list[hyperframe.frame.Frame]:
            with sock:
                return list(frames_until_closed(sock))

        return read

    frames = stopped_with_a_check_in_flight(send, grace=30.0)  # the stop must end before the grace period
    kinds = [type(frame).__name__ for frame in frames]
    assert "GoAwayFrame" in kinds
    [answer] = [frame for frame in frames if isinstance(frame, hyperframe.frame.HeadersFrame)]
    assert answer.stream_id == 1
    assert (b":status", b"200") in hpack.Decoder().decode(answer.data, raw=True)


def frames_until_closed(sock: socket.socket) -> Iterator[hyperframe.frame.Frame]:
    """The HTTP/2 frames the server sends until it closes the connection; its pings acknowledged, as a client
    does (a graceful stop waits for that acknowledgement)."""
    received = b""
    while data := sock.recv(65536):
        received += data
        while len(received) >= 9:
            frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(received[:9]))
            if len(received) < 9 + length:
                break
            frame.parse_body(memoryview(received[9 : 9 + length]))
            received = received[9 + length :]
            if isinstance(frame, hyperframe.frame.PingFrame) and "ACK" not in frame.flags:
                sock.sendall(hyperframe.frame.PingFrame(0, flags=["ACK"], opaque_data=frame.opaque_data).serialize())
            yield frame


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_transport_is_the_one_the_config_asks_for(monkeypatch):
    assert transport_of("aiohttp") == "aiohttp"
    if HttpServer is not None:
        assert transport_of("auto") == transport_of("compiled") == "compiled"
    monkeypatch.setattr(http_transport, "HttpServer", None)
    assert transport_of("auto") == "aiohttp"
    with pytest.raises(ConfigError, match=r"server\.httpTransport: compiled"):
        transport_of("compiled")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_body_is_kept_only_for_an_api_with_a_policy_that_reads_it(transport):
    """The sample catalog's API has no Regex Policy or JSON Validator: its checks' bodies are let go at once (not
    held while a check waits on a key manager), and not whole to any policy that might read one."""
    seen: list[Any] = []
    headers = {"authorization": f"Bearer {token()}", "content-type": "application/json", PARTIAL_BODY: "false"}
    guarded = copy.deepcopy(catalog_document())
    guarded["apis"][0]["operationPolicies"] = [policy("request", "regexPolicy", "v1", "POST /anything/*")]
    for doc in (None, guarded):
        with serving(transport, whole_checks_seeing("body", seen, doc)) as (port, _):
            client = connect(port)
            client.request("POST", PREFIX + "/httpbin/1.0.0/anything/orders", body=b'{"a": 1}', headers=headers)
            response = client.getresponse()
            response.read()
            assert response.status == 200
    assert seen == [RequestBody(b"", False, "application/json"), RequestBody(b'{"a": 1}', True, "application/json")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_checks_body_reaches_the_check_whole_up_to_what_the_transport_keeps(transport):
    """Envoy sends the body it includes (includeRequestBodyInCheck) as the check's; a Regex Policy searches it. A
    body over MAX_KEPT_BODY is read to its end but not kept: the check learns it was not handed over whole."""
    seen: list[Any] = []
    headers = {"authorization": f"Bearer {token()}", "content-type": "application/json", PARTIAL_BODY: "false"}
    # A Regex Policy on another of the API's operations: its bodies are kept, and POST /anything/* has none.
    doc = copy.deepcopy(catalog_document())
    doc["apis"][0]["operationPolicies"] = [policy("request", "regexPolicy", "v1", "GET /headers")]
    with serving(transport, whole_checks_seeing("body", seen, doc)) as (port, _):
        client = connect(port, 30)
        for body in (b'{"a": 1}', b"x" * (MAX_KEPT_BODY + 1)):
            client.request("POST", PREFIX + "/httpbin/1.0.0/anything/orders", body=body, headers=headers)
            response = client.getresponse()
            response.read()
            assert response.status == 200  # no Regex Policy on it: the body does not matter to it
    assert seen == [RequestBody(b'{"a": 1}', True, "application/json"), RequestBody(b"", False, "application/json")]
