"""Wiring: the catalog, token validation, limits and the transports of one adapter process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import time
from collections.abc import Mapping
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import admin, metrics, tracing
from .analytics import Analytics
from .catalog import Catalog, CatalogError, build
from .config import Config, ConfigError
from .controlplane import ControlPlane
from .decision import CheckInput, Decision, Pipeline, first_step
from .errors import Unavailable
from .ratelimit import RateLimiter
from .ratelimit.local import LocalRateLimiter
from .render import Renderer
from .tokens import fingerprint
from .tokens.authenticator import Authenticator
from .transport import grpc as grpc_transport
from .transport import http as http_transport

log = logging.getLogger("apim_adapter")
GRACE_SECONDS = 5
SLOW_PATH_SECONDS = 10  # a check waiting on the event loop (JWKS, introspection, Redis) gives up after this


def make_limiter(config: Config) -> RateLimiter:
    if config.rate_limit.backend == "redis":
        from .ratelimit.redis import RedisRateLimiter

        return RedisRateLimiter(config.rate_limit.redis, config)
    return LocalRateLimiter()


def make_control_plane(config: Config) -> ControlPlane:
    cp = config.control_plane
    if cp.type == "wso2":
        from .controlplane.wso2 import Wso2ControlPlane

        return Wso2ControlPlane(cp, config)
    from .controlplane.file import FileControlPlane

    return FileControlPlane(config.resolve(cp.path), cp.poll_seconds)


def make_introspector(km, client):
    from .tokens.introspection import Introspector

    return Introspector(km, client)


class Adapter:
    def __init__(self, config: Config):
        self.config = config
        self.catalog: Catalog | None = None
        self.catalog_error = "no catalog loaded yet"
        self.authenticator = Authenticator(config.key_managers, make_introspector)
        self.limiter = make_limiter(config)
        signer = None
        if config.backend_jwt.enabled:
            from .backend_jwt import BackendJwtSigner

            signer = BackendJwtSigner(config.backend_jwt, config.resolve(config.backend_jwt.key_file))
        self.pipeline = Pipeline(lambda: self.catalog, self.authenticator, self.limiter, config.request.max_token_bytes)
        self.renderer = Renderer(config.request, signer)
        self.analytics = Analytics(config.analytics.output) if config.analytics.enabled else None
        self.health = health.HealthServicer()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._versions = 0
        self._decisions: dict[tuple[str, ...], Any] = {}  # label values → their counter: labels() is slow
        self._durations = {t: metrics.CHECK_DURATION.labels(t) for t in ("grpc", "http")}
        # None when off: then the checks below run unwrapped and pay nothing for tracing.
        self.tracing = tracing.setup(config.tracing, config.resolve)
        if self.tracing is not None:
            self.check_on_thread = self.tracing.check(self.check_on_thread, "grpc")
            self.check_on_loop = self.tracing.check_async(self.check_on_loop, "http")
            self.pipeline.finish = self.tracing.carried(self.pipeline.finish)

    def publish(self, document: Mapping[str, Any], source: str | None = None) -> bool:
        """Validate and swap in a new catalog; on error keep serving the last good one."""
        source = source or self.config.control_plane.type
        try:
            # APIM's data is served as well as it can be; a file an operator edits must be right as a whole.
            catalog = build(document, self._versions + 1, lenient=source != "file")
        except CatalogError as exc:
            metrics.CATALOG_RELOADS.labels(source, "error").inc()
            self.catalog_error = str(exc)
            log.error("catalog rejected; keeping the last good one", extra={"error": str(exc)})
            return False
        self._versions += 1
        self.catalog, self.catalog_error = catalog, ""
        if "keyManagers" in document:  # the control plane manages key managers: an empty list removes them
            configured = {km.name for km in self.config.key_managers}
            learned = [km for km in document["keyManagers"] if km.name not in configured]
            self.authenticator.update((*self.config.key_managers, *learned))
        metrics.CATALOG_RELOADS.labels(source, "success").inc()
        metrics.CATALOG_LOADED.set_to_current_time()
        for kind, count in catalog.counts.items():
            metrics.CATALOG_OBJECTS.labels(kind).set(count)
        log.info("catalog loaded", extra={"version": catalog.version, **catalog.counts})
        metrics.CATALOG_SKIPPED.set(len(catalog.skipped))
        for reason in catalog.skipped:
            log.warning("catalog item left out", extra={"error": reason})
        self._set_health(health_pb2.HealthCheckResponse.SERVING)
        return True

    def _set_health(self, status: int) -> None:
        for service in ("", "envoy.service.auth.v3.Authorization"):
            self.health.set(service, status)

    def ready(self) -> tuple[bool, str]:
        if self.catalog is None:
            return False, self.catalog_error
        return True, f"catalog version {self.catalog.version}"

    async def check_on_loop(self, req: CheckInput) -> Decision:
        """HTTP mode: the whole check on the event loop."""
        started = time.perf_counter()
        with self._guard(req, "http"):
            d = await self.pipeline.decide(req, time.time())
        return self._observe(req, d, "http", started)

    def check_on_thread(self, req: CheckInput) -> Decision:
        """gRPC: on a check thread from memory; what needs I/O (a token to verify, shared counters) continues on
        the event loop, bounded in time."""
        started = time.perf_counter()
        with self._guard(req, "grpc"):
            steps = self.pipeline.steps(req, time.time())
            step = first_step(steps)
            if not isinstance(step, Decision):
                assert self.loop is not None
                future = asyncio.run_coroutine_threadsafe(self.pipeline.finish(steps, step), self.loop)
                try:
                    step = future.result(SLOW_PATH_SECONDS)
                except concurrent.futures.TimeoutError as exc:
                    future.cancel()
                    raise Unavailable("check timed out") from exc
        return self._observe(req, step, "grpc", started)

    @contextlib.contextmanager
    def _guard(self, req: CheckInput, transport: str):
        try:
            yield
        except Unavailable as exc:
            metrics.CHECK_ERRORS.labels(transport).inc()
            log.warning("check failed", extra={"request_id": req.request_id, "error": str(exc)})
            raise
        except Exception as exc:  # a bug must not become an allow, nor kill the server
            metrics.CHECK_ERRORS.labels(transport).inc()
            log.exception("check crashed", extra={"request_id": req.request_id})
            raise Unavailable("internal error") from exc

    def _observe(self, req: CheckInput, d: Decision, transport: str, started: float) -> Decision:
        elapsed = time.perf_counter() - started
        self._durations[transport].observe(elapsed)
        app = d.application
        outcome = "allow" if d.allowed else "deny"
        labels = (d.api.name if d.api else "", app.name if app else "", d.tier, outcome, d.code)
        counter = self._decisions.get(labels)
        if counter is None:
            counter = self._decisions[labels] = metrics.DECISIONS.labels(*labels)
        counter.inc()
        if self.analytics is not None:
            self.analytics.record(req, d, elapsed * 1000)
        if not d.allowed and log.isEnabledFor(logging.INFO):
            token = req.headers.get("authorization", "")
            log.info(
                "denied",
                extra={
                    "request_id": req.request_id,
                    "code": d.code,
                    "reason": d.reason,
                    "method": req.method,
                    "path": req.path.split("?", 1)[0][:256],
                    "token_sha256": fingerprint(token)[:16] if token else "",
                },
            )
        return d

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = self.loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = self.config.server
        if self.catalog is None:
            self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        # A thread pool, not grpc.aio: measured in bench/ (README there), the same Python work costs several
        # times more CPU inside grpc.aio's event loop than on sync grpc's worker threads.
        grpc_server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(server.grpc_threads, thread_name_prefix="check"),
            options=[
                ("grpc.so_reuseport", 1),
                ("grpc.max_receive_message_length", 4 << 20),
            ],
            interceptors=self.tracing.interceptors() if self.tracing else None,
        )
        grpc_transport.add_to_server(grpc_server, self.check_on_thread, self.renderer)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, grpc_server)
        grpc_server.add_insecure_port(f"{server.grpc.host}:{server.grpc.port}")

        runners = []
        admin_runner = web.AppRunner(admin.make_app(self.ready), access_log=None)
        await admin_runner.setup()
        runners.append(admin_runner)
        sites = [web.TCPSite(admin_runner, server.admin.host, server.admin.port, reuse_port=True)]
        if server.http is not None:
            limit = self.config.request.max_header_bytes  # answer oversized credentials ourselves, as in gRPC mode
            http_server = web.Server(
                http_transport.make_handler(self.check_on_loop, self.renderer, server.http.path_prefix),
                max_line_size=limit,
                max_field_size=limit,
            )
            http_runner = web.ServerRunner(http_server, access_log=None)
            await http_runner.setup()
            runners.append(http_runner)
            sites.append(web.TCPSite(http_runner, server.http.host, server.http.port, reuse_port=True))

        control_plane = make_control_plane(self.config)
        grpc_server.start()
        for site in sites:
            await site.start()
        if self.analytics is not None:
            self.analytics.start()
        feeder = asyncio.ensure_future(control_plane.run(self.publish))
        log.info(
            "serving",
            extra={
                "grpc": server.grpc.port,
                "http": server.http.port if server.http else None,
                "admin": server.admin.port,
            },
        )
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            feeder.cancel()
            await asyncio.wait([feeder], timeout=GRACE_SECONDS)
            await asyncio.to_thread(grpc_server.stop(GRACE_SECONDS).wait)
            for runner in runners:
                await runner.cleanup()
            await self.authenticator.close()
            await self.limiter.close()
            if self.analytics is not None:
                await self.analytics.close()
            if self.tracing is not None:
                await asyncio.to_thread(self.tracing.shutdown)


def validate(config: Config) -> dict[str, int]:
    """Everything `serve` would load before taking traffic, without starting anything."""
    if config.control_plane.type == "file":
        from .controlplane.file import CatalogFileError, read_document

        try:
            return build(read_document(config.resolve(config.control_plane.path))).counts
        except (CatalogFileError, CatalogError) as exc:
            raise ConfigError(f"catalog: {exc}") from exc
    return {}
