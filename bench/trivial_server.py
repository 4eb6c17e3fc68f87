"""A trivial ext_authz v3 server: every Check is allowed with a prebuilt OK and no work at all.

It is the yardstick of the benchmark: what Python and grpcio cost before any policy runs. Transports:
`aio` (grpc.aio on asyncio's loop), `uvloop` (grpc.aio on uvloop), `threads` (the sync grpc server with a thread
pool, the adapter's `grpcio` transport), `compiled` (the adapter's compiled transport, apim_adapter_native's
GrpcServer, calling a Python function that returns the answer); for Envoy's HTTP mode, answering 200: `http`
(aiohttp on uvloop, the adapter's `aiohttp` HTTP transport) and `compiled-http` (the adapter's compiled HTTP
transport, apim_adapter_native's HttpServer, calling a Python function that returns the answer).

    python -m bench.trivial_server --port 50051 --transport uvloop
    python -m bench.trivial_server --port 50051 --transport threads --response allow.bin
    python -m bench.trivial_server --port 50051 --transport threads --processes 2
    python -m bench.trivial_server --port 50051 --transport threads --response allow.bin --warm-path
    python -m bench.trivial_server --port 8080 --transport compiled-http --response allow.json

`--response FILE` answers every check with a recorded allow instead of the empty OK: for gRPC a serialized
CheckResponse, for `http` and `compiled-http` a JSON list of [header, value] pairs. The benchmark records the
adapter's own allow (its upstream headers, metadata and RateLimit-* headers), so that one row shows what the answer
alone costs the transport and Envoy, apart from the adapter's work.

`--warm-path` (sync grpc or compiled, with `--response`) does the least work a warm check of the adapter must do before
answering (`MinimalWarmPath`): the yardstick of how far a Python warm path can go, beside the adapter.

`--processes N` (sync grpc only) serves the port from N processes, as the adapter's `server.workers` does: each
binds it with SO_REUSEPORT and the kernel spreads connections over them. It is the yardstick of the adapter's
worker scaling: what two processes give on this box, where they share their cores with Envoy and the load.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import hashlib
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from google.rpc import code_pb2, status_pb2

TRANSPORTS = ("aio", "uvloop", "threads", "compiled", "http", "compiled-http")
HTTP_TRANSPORTS = ("http", "compiled-http")  # Envoy's HTTP mode: the recorded allow is a list of headers
ALLOW = pb.CheckResponse(status=status_pb2.Status(code=code_pb2.OK), ok_response=pb.OkHttpResponse())


class SyncAllow(pb_grpc.AuthorizationServicer):
    def __init__(self, allow: pb.CheckResponse = ALLOW):
        self.allow = allow

    def Check(self, request, context):
        return self.allow


class AsyncAllow(pb_grpc.AuthorizationServicer):
    def __init__(self, allow: pb.CheckResponse = ALLOW):
        self.allow = allow

    async def Check(self, request, context):
        return self.allow


class MinimalWarmPath:
    """The least a warm check of the adapter must do, written as one function: the yardstick of how far a Python
    warm path can go (bench/README.md, "The warm path at the Python floor"). Not the adapter's code and not a
    policy: every request is allowed. Per check: read the fields the adapter reads (authorization, method, path,
    host, user agent, request id, forwarded-for or the peer); key the Authorization header by SHA-256 with the
    method and the path without its query; one dict lookup (the prepared allow: version, expiry, window,
    counter); count the window; two tallies (decision, duration bucket); queue the analytics tuple (bounded, and
    dropped: the adapter's writer thread also formats each line); answer the recorded allow's bytes with the
    three RateLimit-* headers encoded as the adapter encodes them."""

    LIMIT = 10**9  # per minute: counted, never reached (the adapter's benchmark tier)

    def __init__(self, allow: pb.CheckResponse):
        # The adapter's own definitions (imported here, not by every trivial server): its duration buckets, its
        # window arithmetic and its RateLimit-* encoding.
        from apim_adapter.catalog import Limit
        from apim_adapter.metrics import DURATION_BOUNDS
        from apim_adapter.ratelimit import Usage
        from apim_adapter.transport.grpc import _rate_headers_bytes

        answer = pb.CheckResponse()
        answer.CopyFrom(allow)
        del answer.ok_response.response_headers_to_add[:]  # added per check, as the adapter adds them
        self.answer = answer.SerializeToString()
        self.limit, self.bounds = Limit(self.LIMIT, 60), DURATION_BOUNDS
        self.usage, self.rate_headers = Usage, _rate_headers_bytes
        self.kept: dict[tuple[bytes, str, str], list] = {}
        self.tally: dict[object, float] = {}
        self.pending: collections.deque = collections.deque(maxlen=10_000)

    def Check(self, request: pb.CheckRequest, context) -> bytes:
        started = time.perf_counter()
        attrs = request.attributes
        http = attrs.request.http
        headers = http.headers
        method, path = http.method, http.path
        key = (hashlib.sha256(headers.get("authorization", "").encode()).digest(), method, path.partition("?")[0])
        now = time.time()
        window = int(now // 60)
        prepared = self.kept.get(key)
        if prepared is None or prepared[0] <= now:  # (expiry, window, counter, tally key)
            prepared = self.kept[key] = [now + 3600, window, itertools.count(1), ("allow", len(self.kept))]
        if prepared[1] != window:
            prepared[1:3] = [window, itertools.count(1)]
        used = next(prepared[2])
        client = headers.get("x-forwarded-for") or attrs.source.address.socket_address.address
        user_agent, request_id = headers.get("user-agent", ""), headers.get("x-request-id", "")
        elapsed = time.perf_counter() - started
        tally = self.tally
        tally[prepared[3]] = tally.get(prepared[3], 0) + 1
        bucket = bisect.bisect_left(self.bounds, elapsed)
        tally[bucket] = tally.get(bucket, 0) + 1
        self.pending.append((prepared, method, http.host, user_agent, request_id, client, elapsed, now))
        return self.answer + self.rate_headers(self.usage(self.limit, used, self.limit.reset(now)))


def until_signalled() -> None:
    """Block until SIGTERM or SIGINT (the benchmark stops its servers so)."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()


def serve_threads(address: str, threads: int, allow: pb.CheckResponse = ALLOW, warm_path: bool = False) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads), options=[("grpc.so_reuseport", 1)])
    if warm_path:
        from apim_adapter.transport.grpc import SERVICE

        check = MinimalWarmPath(allow).Check
        handlers = {"Check": grpc.unary_unary_rpc_method_handler(check, pb.CheckRequest.FromString, None)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    else:
        pb_grpc.add_AuthorizationServicer_to_server(SyncAllow(allow), server)
    server.add_insecure_port(address)
    server.start()
    until_signalled()
    server.stop(1).wait()


def serve_compiled(port: int, allow: pb.CheckResponse = ALLOW, warm_path: bool = False) -> None:
    from apim_adapter.transport.grpc import CHECK_METHOD, GrpcServer

    if GrpcServer is None:
        raise SystemExit("--transport compiled needs apim-adapter-native (make native)")
    answer = allow.SerializeToString()
    if warm_path:
        sketch, parse = MinimalWarmPath(allow).Check, pb.CheckRequest.FromString
        server = GrpcServer(
            "127.0.0.1", port, {CHECK_METHOD: lambda request, metadata, reply: sketch(parse(request), None)}
        )
    else:
        server = GrpcServer("127.0.0.1", port, {CHECK_METHOD: lambda request, metadata, reply: answer})
    server.start()
    until_signalled()
    server.stop(1)


def serve_compiled_http(port: int, headers: tuple[tuple[str, str], ...] = ()) -> None:
    from apim_adapter.transport.http import HttpServer

    if HttpServer is None:
        raise SystemExit("--transport compiled-http needs apim-adapter-native with its HTTP transport (make native)")
    answer = (200, headers, b"")
    # Every request is answered by `warm` on the transport's thread; `whole` (every header as a dict, then the
    # answer or None to reply later) is never reached, but answers the same if it were.
    server = HttpServer("127.0.0.1", port, lambda fields, given, body, reply: answer, lambda *fields: answer)
    server.start()
    until_signalled()
    server.stop(1)


async def serve_aio(address: str, allow: pb.CheckResponse = ALLOW) -> None:
    server = grpc.aio.server()
    pb_grpc.add_AuthorizationServicer_to_server(AsyncAllow(allow), server)
    server.add_insecure_port(address)
    await server.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await server.stop(1)


async def serve_http(port: int, headers: tuple[tuple[str, str], ...] = ()) -> None:
    from aiohttp import web

    async def allow(request: web.BaseRequest) -> web.Response:
        return web.Response(status=200, headers=headers)

    runner = web.ServerRunner(web.Server(allow), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="uvloop",
        help="gRPC: aio, uvloop, threads, compiled; Envoy's HTTP mode: http (aiohttp), compiled-http (see above)",
    )
    parser.add_argument("--threads", type=int, default=8, help="thread pool size of the sync server")
    parser.add_argument("--response", type=Path, help="a recorded allow to answer with (see above)")
    parser.add_argument("--processes", type=int, default=1, help="processes sharing the port (sync grpc only)")
    parser.add_argument("--warm-path", action="store_true", help="do a minimal warm check's work (see above)")
    args = parser.parse_args(argv)
    if args.processes > 1 and args.transport != "threads":
        parser.error("--processes needs --transport threads")
    if args.warm_path and (args.transport not in ("threads", "compiled") or not args.response or args.processes > 1):
        parser.error("--warm-path needs --transport threads or compiled, --response and one process")
    # The others are children of this one, so the benchmark meters and pins them with it; they stop with it.
    one = [sys.executable, "-m", "bench.trivial_server", "--port", str(args.port), "--transport", args.transport]
    one += ["--threads", str(args.threads)] + (["--response", str(args.response)] if args.response else [])
    others = [subprocess.Popen(one) for _ in range(args.processes - 1)]
    address = f"127.0.0.1:{args.port}"
    recorded = args.response.read_bytes() if args.response else None
    http_mode = args.transport in HTTP_TRANSPORTS
    allow = pb.CheckResponse.FromString(recorded) if recorded and not http_mode else ALLOW
    headers = tuple(tuple(pair) for pair in json.loads(recorded)) if recorded and http_mode else ()
    if args.transport == "threads":
        try:
            serve_threads(address, args.threads, allow, args.warm_path)
        finally:
            for other in others:
                other.terminate()
                other.wait()
    elif args.transport == "compiled":
        serve_compiled(args.port, allow, args.warm_path)
    elif args.transport == "compiled-http":
        serve_compiled_http(args.port, headers)
    elif args.transport in ("uvloop", "http"):
        import uvloop

        uvloop.run(serve_http(args.port, headers) if args.transport == "http" else serve_aio(address, allow))
    else:
        asyncio.run(serve_aio(address, allow))


if __name__ == "__main__":
    main()
