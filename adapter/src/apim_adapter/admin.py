"""The admin port: liveness, readiness (a catalog is loaded), Prometheus metrics and, with a backend JWT, the
JWKS its receivers verify it with (APIM's gateway serves its own at `/jwks`)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from . import metrics as adapter_metrics


def _registry() -> CollectorRegistry:
    if adapter_metrics.SHARED:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # every worker's counters, summed
        return registry
    return REGISTRY


def make_app(ready: Callable[[], tuple[bool, str]], jwks: bytes | None = None) -> web.Application:
    registry = _registry()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok, detail = ready()
        return web.json_response({"ready": ok, "detail": detail}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        adapter_metrics.TALLIES.fold()  # this process's counts now; other workers fold theirs every FOLD_SECONDS
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)])
    if jwks is not None:

        async def public_keys(_: web.Request) -> web.Response:
            # Verifiers cache it: istiod refetches a RequestAuthentication's jwksUri every 20 minutes by default.
            return web.Response(body=jwks, content_type="application/json", headers={"Cache-Control": "max-age=300"})

        app.add_routes([web.get("/jwks", public_keys)])
    return app
