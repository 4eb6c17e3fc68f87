"""The admin port: liveness, readiness (a catalog is loaded) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from . import metrics as tallied


def _registry() -> CollectorRegistry:
    if shared_between_workers():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # every worker's counters, summed
        return registry
    return REGISTRY


def shared_between_workers() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def make_app(ready: Callable[[], tuple[bool, str]]) -> web.Application:
    registry = _registry()
    shared = shared_between_workers()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok, detail = ready()
        return web.json_response({"ready": ok, "detail": detail}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        if shared:  # the other workers fold their own counts every FOLD_SECONDS: let every one of them fold once
            await asyncio.sleep(tallied.SCRAPE_WAIT_SECONDS)
        tallied.TALLIES.fold()
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)])
    return app
