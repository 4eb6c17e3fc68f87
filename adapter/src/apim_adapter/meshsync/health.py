"""mesh-sync's probes: `/healthz` answers while its event loop runs (a wedged loop fails liveness), `/readyz`
while `ready()` holds (a standby replica, or the leader once it has converged)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web


async def serve(port: int, ready: Callable[[], bool], host: str = "0.0.0.0") -> None:  # noqa: S104 - a pod's probe port
    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not converged yet\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
