"""A trivial ext_authz v3 server: every Check is allowed with a prebuilt OK and no work at all.

It is the yardstick of the benchmark: what Python and grpcio cost before any policy runs. Transports:
`aio` (grpc.aio on asyncio's loop), `uvloop` (grpc.aio on uvloop, as the adapter runs), `threads` (the
sync grpc server with a thread pool) and `http` (Envoy's HTTP mode: aiohttp on uvloop answering 200, as the
adapter's HTTP mode does).

    python -m bench.trivial_server --port 50051 --transport uvloop
    python -m bench.trivial_server --port 50051 --transport threads --response allow.bin
    python -m bench.trivial_server --port 50051 --transport threads --processes 2

`--response FILE` answers every check with a recorded allow instead of the empty OK: for gRPC a serialized
CheckResponse, for `http` a JSON list of [header, value] pairs. The benchmark records the adapter's own allow
(its upstream headers, metadata and RateLimit-* headers), so that one row shows what the answer alone costs
grpc and Envoy, apart from the adapter's work.

`--processes N` (sync grpc only) serves the port from N processes, as the adapter's `server.workers` does: each
binds it with SO_REUSEPORT and the kernel spreads connections over them. It is the yardstick of the adapter's
worker scaling: what two processes give on this box, where they share their cores with Envoy and the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from google.rpc import code_pb2, status_pb2

TRANSPORTS = ("aio", "uvloop", "threads", "http")
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


def serve_threads(address: str, threads: int, allow: pb.CheckResponse = ALLOW) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads), options=[("grpc.so_reuseport", 1)])
    pb_grpc.add_AuthorizationServicer_to_server(SyncAllow(allow), server)
    server.add_insecure_port(address)
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    server.stop(1).wait()


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
    parser.add_argument("--transport", choices=TRANSPORTS, default="uvloop")
    parser.add_argument("--threads", type=int, default=8, help="thread pool size of the sync server")
    parser.add_argument("--response", type=Path, help="a recorded allow to answer with (see above)")
    parser.add_argument("--processes", type=int, default=1, help="processes sharing the port (sync grpc only)")
    args = parser.parse_args(argv)
    if args.processes > 1 and args.transport != "threads":
        parser.error("--processes needs --transport threads")
    # The others are children of this one, so the benchmark meters and pins them with it; they stop with it.
    one = [sys.executable, "-m", "bench.trivial_server", "--port", str(args.port), "--transport", args.transport]
    one += ["--threads", str(args.threads)] + (["--response", str(args.response)] if args.response else [])
    others = [subprocess.Popen(one) for _ in range(args.processes - 1)]
    address = f"127.0.0.1:{args.port}"
    recorded = args.response.read_bytes() if args.response else None
    allow = pb.CheckResponse.FromString(recorded) if recorded and args.transport != "http" else ALLOW
    headers = tuple(tuple(pair) for pair in json.loads(recorded)) if recorded and args.transport == "http" else ()
    if args.transport == "threads":
        try:
            serve_threads(address, args.threads, allow)
        finally:
            for other in others:
                other.terminate()
                other.wait()
    elif args.transport in ("uvloop", "http"):
        import uvloop

        uvloop.run(serve_http(args.port, headers) if args.transport == "http" else serve_aio(address, allow))
    else:
        asyncio.run(serve_aio(address, allow))


if __name__ == "__main__":
    main()
