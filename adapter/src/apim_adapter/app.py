"""Wiring: the catalog, token validation, limits and the transports of one adapter process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import gc
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from . import access_log, admin, backend_jwt, cors, metrics, tracing
from .analytics import Analytics
from .api_log import ApiLog
from .backend_tokens import BackendTokens
from .catalog import Catalog, CatalogError, build
from .config import Config, ConfigError
from .controlplane import ControlPlane
from .decision import (
    BODY_NOT_WHOLE,
    ApiKeyPlaces,
    CheckInput,
    Decision,
    Pipeline,
    applied,
    bearer,
    conclude,
    denied,
    first_step,
    reset_quota,
    with_cors,
)
from .errors import Unavailable
from .opa import OpaClient
from .prepared import NEEDS_HEADERS, NeedsHeaders, PreparedAllows, credential_of, kept_counters
from .prepared import key as prepared_key
from .ratelimit import RateLimiter, Usage
from .ratelimit.local import LocalRateLimiter
from .render import Allow, Renderer
from .store import CatalogStore
from .tokens import api_key, fingerprint, jwks
from .tokens.authenticator import CACHE_HIT as TOKEN_CACHE_HIT
from .tokens.authenticator import Authenticator
from .tokens.basic_auth import BasicAuthenticator
from .tokens.basic_auth import credential_of as basic_credential_of
from .transport import PARTIAL_BODY
from .transport import grpc as grpc_transport
from .transport import http as http_transport

log = logging.getLogger("apim_adapter")
GRACE_SECONDS = 5
# Check threads share the GIL with the event loop; Python's default 5 ms switch interval would let one long
# stretch of loop work (a catalog swap, an analytics flush) hold every check for that long.
SWITCH_INTERVAL = 0.0005
SLOW_PATH_SECONDS = 10  # a check waiting on the event loop (JWKS, introspection, Redis) gives up after this


def make_limiter(config: Config) -> RateLimiter:
    if config.rate_limit.backend == "redis":
        from .ratelimit.redis import RedisRateLimiter

        assert config.rate_limit.redis is not None  # the config model requires it with backend: redis
        return RedisRateLimiter(config.rate_limit.redis, config)
    return LocalRateLimiter()


def make_control_plane(config: Config) -> ControlPlane:
    cp = config.control_plane
    if cp.type == "wso2":
        from .controlplane.wso2 import Wso2ControlPlane

        return Wso2ControlPlane(cp, config)
    from .controlplane.file import FileControlPlane

    return FileControlPlane(config.resolve(cp.path), cp.poll_seconds)


def make_users(config: Config) -> BasicAuthenticator | None:
    """What checks user names and passwords: APIM's user store, with the control plane's user (`basicAuth`)."""
    if not config.basic_auth.enabled:
        return None
    from .config import ControlPlaneWso2
    from .controlplane.user_store import RemoteUserStore

    cp = config.control_plane
    assert isinstance(cp, ControlPlaneWso2)  # the config's validator sees to it
    settings = config.basic_auth
    return BasicAuthenticator(RemoteUserStore(cp, config), settings.cache_seconds, settings.max_entries,
                              email_user_names=settings.email_user_names)  # fmt: skip


def make_introspector(km, client):
    from .tokens.introspection import Introspector

    return Introspector(km, client)


def cors_settings(config: Config) -> cors.Settings | None:
    c = config.cors
    if not c.enabled:
        return None
    return cors.Settings(c.allow_origins, c.allow_methods, c.allow_headers, c.allow_credentials, c.expose_headers)


class Adapter:
    def __init__(self, config: Config):
        self.config = config
        self.authenticator = Authenticator(config.key_managers, make_introspector, api_key.validator_for(config))
        self.control_plane = make_control_plane(config)
        if hasattr(self.control_plane, "on_token_revoked"):  # wso2: opaque tokens revoked in APIM leave the caches
            self.control_plane.on_token_revoked = self.authenticator.forget
        self.health = grpc_transport.GrpcioHealth()  # grpc.health.v1 on grpcio
        self.health_status: dict[str, int] = {}  # the same on the compiled transport
        self.compiled_grpc: Any = None  # the compiled transport while it serves: told when health_status changes
        self.keys_warmed = False
        self.clock: Callable[[], float] = time.time  # the wall clock every decision reads (tests hold it still)
        tokens_ca = config.endpoint_security.ca_bundle
        self.backend_tokens = BackendTokens(ca_bundle=str(config.resolve(tokens_ca)) if tokens_ca else None)
        self.backend_tokens.on_first_round = self._serving_when_ready
        self.store = CatalogStore(
            config.control_plane.type,
            self.control_plane.lenient,
            config.key_managers,
            on_key_managers=self.authenticator.update,
            on_first_catalog=self._serving_when_ready,
            cors_settings=cors_settings(config),
            on_catalog=lambda catalog: self.backend_tokens.want(catalog.oauth_endpoints),
        )
        self.publish = self.store.publish
        self.limiter = make_limiter(config)
        signer = backend_jwt.signer_for(config)
        places = ApiKeyPlaces.of(config.api_keys)
        certificate_header = config.mutual_tls.header.lower() if config.mutual_tls.enabled else None
        self.users = make_users(config)
        if self.users is not None and hasattr(self.control_plane, "on_users_changed"):  # wso2: users changed in APIM
            self.control_plane.on_users_changed = self.users.forget_users
        if hasattr(self.control_plane, "on_quota_reset"):  # wso2: a user's quota reset in the Developer Portal
            self.control_plane.on_quota_reset = self._reset_quota
        access_log = config.analytics.access_log_service
        self.renderer = Renderer(config.request, signer, analytics_metadata=access_log.enabled, api_keys=places,
                                 basic_auth=self.users is not None,
                                 backend_tokens=self.backend_tokens.current)  # fmt: skip
        self.opa = OpaClient(str(config.resolve(config.opa.ca_bundle)) if config.opa.ca_bundle else None)
        self.pipeline = Pipeline(
            self.store, self.authenticator, self.limiter, config.request.max_token_bytes, api_keys=places,
            certificate_header=certificate_header, users=self.users, opa_client=self.opa,
            # The backend JWT's header is the adapter's too, where it signs one; Envoy's partial-body flag is the
            # gateway's word to the adapter alone.
            hidden_headers=self.renderer.not_from_client | {PARTIAL_BODY}
            | ({signer.header} if signer is not None else frozenset()),
        )  # fmt: skip
        self.backend_jwks = signer.jwks if signer is not None else None
        self.api_log = ApiLog(places)  # the calls of APIs whose APIM log level is set
        self.analytics = Analytics(config.analytics.output) if config.analytics.enabled else None
        # An allowed gRPC check's event is written from the gateway's access log entry, which knows the response
        # (access_log.py); HTTP mode cannot hand Envoy the metadata that entry would need.
        self.allows_logged_by_gateway = self.analytics is not None and access_log.enabled
        self.loop: asyncio.AbstractEventLoop | None = None
        self.prepared = PreparedAllows()
        # None when off: then the checks below run unwrapped and pay nothing for tracing. On, the entry points the
        # transports are given are replaced on this instance by traced ones of the same type.
        self.tracing = tracing.setup(config.tracing, config.resolve)
        if self.tracing is not None:
            self.check_on_thread = self.tracing.check(self.check_on_thread, "grpc")  # type: ignore[method-assign]
            self.check_on_loop = self.tracing.check_async(self.check_on_loop, "http")  # type: ignore[method-assign]
            self.pipeline.finish = self.tracing.carried(self.pipeline.finish)  # type: ignore[method-assign]
        # Prepared allows skip the pipeline: not with tracing (every check gets its span) nor with shared (Redis)
        # counters, which are counted on the event loop anyway.
        self.prepares = self.tracing is None and isinstance(self.limiter, LocalRateLimiter)

    async def _warm_keys(self) -> None:
        """Every configured key manager's JWKS, and the introspection tokens of those that introspect with one,
        before traffic (bounded: ready anyway when one does not answer)."""
        within = self.config.server.keys_warm_up_seconds
        tokens = [i.warm_up(within) for i in self.authenticator.introspectors()]
        warmed = await asyncio.gather(jwks.warm_up(self.authenticator.jwks_caches(), within), *tokens,
                                      return_exceptions=True)  # fmt: skip
        for failure in (w for w in warmed if isinstance(w, BaseException)):  # each warm-up logs its own misses
            log.error("warm-up crashed; turning ready without it", exc_info=failure)
        self.keys_warmed = True
        self._serving_when_ready()

    async def _reset_quota(self, app_id: int, user: str, reset_id: str) -> None:
        """An application user's quota reset in the Developer Portal: its counter restarts here, in this process (or
        in Redis, once for every replica that follows the same event: `reset_id`), as APIM's traffic manager
        restarts its own."""
        catalog = self.store.current
        counters = reset_quota(catalog, app_id, user) if catalog is not None else ()
        await self.limiter.reset(counters, self.clock(), reset_id)
        log.info("application quota reset", extra={"application_id": app_id, "counters": len(counters)})

    def _serving_when_ready(self) -> None:
        if self.ready()[0]:
            self._set_health(health_pb2.HealthCheckResponse.SERVING)

    def _set_health(self, status: int) -> None:
        for service in ("", "envoy.service.auth.v3.Authorization"):
            self.health.set(service, status)
            self.health_status[service] = status
        if self.compiled_grpc is not None:  # its Watch streams read health_status again
            self.compiled_grpc.notify()

    def ready(self) -> tuple[bool, str]:
        if not self.keys_warmed:
            return False, "fetching the key managers' signing keys"
        ready = self.store.ready()
        if ready[0] and not self.backend_tokens.first_round_done:
            return False, "asking the OAuth-secured backends' token URLs for their first tokens"
        return ready

    def reads_body_at(self, path: str) -> bool:
        """Whether a check of `path` may read its body (no catalog yet: it may)."""
        catalog = self.store.current
        return catalog is None or catalog.reads_body_at(path)

    async def check_on_loop(self, req: CheckInput) -> Decision:
        """HTTP mode: the whole check on the event loop."""
        started = time.perf_counter()
        catalog = self.store.current
        with self._guard(req, "http"):
            d = await self.pipeline.decide(req, self.clock())
        return self._observe(req, d, "http", started, catalog)

    def check_on_thread(self, req: CheckInput) -> Decision:
        """gRPC: on a check thread from memory; what needs I/O (a token to verify, shared counters) continues on
        the event loop, bounded in time."""
        started = time.perf_counter()
        catalog = self.store.current
        with self._guard(req, "grpc"):
            steps = self.pipeline.steps(req, self.clock())
            step = first_step(steps)
            if not isinstance(step, Decision):
                assert self.loop is not None
                future = asyncio.run_coroutine_threadsafe(self.pipeline.finish(steps, step), self.loop)
                try:
                    step = future.result(SLOW_PATH_SECONDS)
                except concurrent.futures.TimeoutError as exc:
                    future.cancel()
                    raise Unavailable("check timed out") from exc
        return self._observe(req, step, "grpc", started, catalog)

    def check_prepared(
        self,
        credential: bytes | None,
        method: str,
        path: str,
        host: str,
        user_agent: str,
        request_id: str,
        client_ip: str,
        transport: str,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Allow, Usage | None] | Decision | NeedsHeaders | None:
        """A warm check from its prepared allow: the allow and the tightest counter, or the denial of a counter
        over its limit; None when there is no prepared allow for it (then the transport runs the whole check,
        `check_on_thread` / `check_on_loop`, with the same request); NEEDS_HEADERS when its counters or its CORS
        headers depend on request headers and `headers` (lower-case names) were not given: the transport asks again
        with them.
        Counts, meters and reports like the whole check. `credential` is the SHA-256 of the Authorization header
        (`prepared.credential_of`), None without one."""
        try:
            started = time.perf_counter()
            catalog = self.store.current
            if credential is None or catalog is None:
                return None
            now = self.clock()
            prepared = self.prepared.get(prepared_key(credential, method, path), catalog, now)
            if prepared is None:
                return None
            if prepared.reads_headers and headers is None:
                return NEEDS_HEADERS
            if prepared.deny_policies and denied(catalog, prepared.admitted, client_ip) is not None:
                return None  # the whole check answers it, with its metrics and log
            assert isinstance(self.limiter, LocalRateLimiter)  # prepared only with counters in this process
            counters, counted = prepared.admitted.counters, prepared.counted
            if prepared.per_request:  # condition groups: this request's counters
                req = CheckInput(method, host, path, headers or {}, request_id, client_ip)
                counters = applied(prepared.admitted, req)
                counted = kept_counters(counters)
            counts, passed = self.limiter.count_now(counted, now)
            if not passed:  # a counter had reached its limit: counted nowhere, and `conclude` tells what follows
                usages = [Usage(c.limit, used, c.limit.reset(now), 0) for c, used in zip(counters, counts, strict=True)]
                req = CheckInput(method, host, path, headers or {"user-agent": user_agent}, request_id, client_ip)
                d = with_cors(conclude(prepared.admitted, counters, usages), req)  # the Origin's, where it matters
                if d.allowed and prepared.allow.path:  # a counter that only counts: allowed as the whole check was
                    d = dataclasses.replace(d, backend_path=prepared.allow.path)
                return self._observe(req, d, transport, started, None, credential)
            tightest, least = -1, 0  # the least left, the first of equals: the counter `conclude` reports
            for i, counter in enumerate(counters):
                left = max(0, counter.limit.count - counts[i])  # a counter that only counts may be past its limit
                if tightest < 0 or left < least:
                    tightest, least = i, left
            usage = None
            if tightest >= 0:
                limit = counters[tightest].limit
                usage = Usage(limit, counts[tightest], limit.reset(now))
            elapsed = time.perf_counter() - started
            # A prepared allow reuses the token's validation: a token cache hit, as the whole check would count it.
            metrics.checked(prepared.decided, transport, elapsed, TOKEN_CACHE_HIT)
            if self.analytics is not None and not (self.allows_logged_by_gateway and transport == "grpc"):
                d = prepared.admitted.decision
                self.analytics.enqueue(d, method, host, user_agent, request_id, client_ip, elapsed * 1000, now)
            allow = prepared.allow
            if prepared.cors is not None:  # the API answers each Origin apart: the allow rendered for this one
                answer = prepared.cors.call((headers or {}).get("origin"))
                for_origin = dataclasses.replace(prepared.admitted.decision, cors=answer, backend_path=allow.path)
                allow = self.renderer.allow(for_origin, now)
            return allow, usage
        except Exception as exc:  # as in _guard: a bug must not become an allow, nor kill the server
            metrics.CHECK_ERRORS.labels(transport).inc()
            log.exception("check crashed", extra={"request_id": request_id})
            raise Unavailable("internal error") from exc

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

    def _observe(
        self,
        req: CheckInput,
        d: Decision,
        transport: str,
        started: float,
        catalog: Catalog | None,
        credential: bytes | None = None,  # a warm check's: its request's Authorization header is not at hand
    ) -> Decision:
        elapsed = time.perf_counter() - started
        app = d.application
        decided = (metrics.DECISIONS, d.api.name if d.api else "", app.name if app else "", d.tier, d.outcome, d.code)
        metrics.checked(decided, transport, elapsed)
        if d.reason == BODY_NOT_WHOLE:
            metrics.BODIES_UNREAD.labels(d.api.name if d.api else "").inc()
        if d.resource is not None and d.resource.log_level is not None:
            self.api_log.write(req, d, d.resource.log_level)
        # A preflight is no call of the API: APIM's CORS handler answers it before the handlers that publish events.
        logged_by_gateway = d.allowed and self.allows_logged_by_gateway and transport == "grpc"
        if self.analytics is not None and not (logged_by_gateway or d.preflight):
            self.analytics.record(req, d, elapsed * 1000)
        if d.allowed:
            if catalog is not None and d.principal is not None and self.prepares:
                self._prepare(req, d, catalog, decided)
        elif not d.preflight and log.isEnabledFor(logging.INFO):
            if credential is None:
                authorization = req.headers.get("authorization")
                # Never a user name and password's: a hash of a password can be tried against guesses offline.
                if basic_credential_of(authorization) is None:
                    credential = credential_of(authorization)
            log.info(
                "denied",
                extra={
                    "request_id": req.request_id,
                    "code": d.code,
                    "reason": d.reason,
                    "method": req.method,
                    "path": req.path.split("?", 1)[0][:256],
                    "token_sha256": credential.hex()[:16] if credential else "",  # = fingerprint(header)
                },
            )
        return d

    def _prepare(self, req: CheckInput, d: Decision, catalog: Catalog, decided: tuple) -> None:
        """Keep this allow for the next identical check: a JWT's, concluded on the catalog still serving."""
        if d.principal is not None and d.principal.api_key is not None:
            return  # keyed by the Authorization header, which an API key's check did not read
        if self.pipeline.certificate_header is not None and d.api is not None and d.api.certificate_rule is not None:
            return  # nor the client certificate, which decides on this API too
        authorization = req.headers.get("authorization")
        token = bearer(authorization, self.pipeline.max_token_bytes)
        if token and self.authenticator.kept_until_expiry(token) and self.store.current is catalog:
            assert d.resource is not None  # allowed with a principal: resolved
            now = self.clock()
            admitted = self.pipeline.admission(fingerprint(token), d.resource, catalog.version, now)
            if admitted is None:  # gone from its cache since (evicted): the next whole check keeps it again
                return
            if admitted.counts_bytes:  # a bandwidth quota counts each request's body: every check is whole
                return
            if d.resource.checks_each_call:  # OPA or a Regex Policy decides each call
                return
            if d.resource.log_level is not None:  # APIM's per-API logging writes each call, from its whole check
                return
            credential = credential_of(authorization)
            assert credential is not None  # a token came from the header
            allow = self.renderer.allow(d, now)
            self.prepared.keep(prepared_key(credential, req.method, req.path), catalog, admitted, allow, decided)

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = self.loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = self.config.server
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        warming = asyncio.ensure_future(self._warm_keys())
        prepared = self.check_prepared if self.prepares else None
        read = grpc_transport.request_reader(server.grpc_request_reader)
        transport = grpc_transport.transport_of(server.grpc_transport)
        service = grpc_transport.AuthorizationService(
            self.check_on_thread,
            self.renderer,
            self.config.request.num_trusted_proxies,
            check_prepared=prepared,
            read=read,
        )
        checks = concurrent.futures.ThreadPoolExecutor(server.grpc_threads, thread_name_prefix="check")
        start_grpc: Callable[[], object]
        stop_grpc: Callable[[], object]
        if transport == "compiled":
            compiled = grpc_transport.compiled_server(
                service,
                self.health_status.get,
                checks,
                server.grpc.host,
                server.grpc.port,
                self.tracing,
                max_pending=server.max_pending_checks,
            )
            self.compiled_grpc = compiled
            start_grpc, stop_grpc = compiled.start, functools.partial(compiled.stop, GRACE_SECONDS)
        else:
            # A thread pool, not grpc.aio: measured in bench/ (README there), the same Python work costs several
            # times more CPU inside grpc.aio's event loop than on sync grpc's worker threads.
            grpc_server = grpc.server(
                checks,
                options=[
                    ("grpc.so_reuseport", 1),
                    ("grpc.max_receive_message_length", 4 << 20),
                ],
                interceptors=self.tracing.interceptors() if self.tracing else None,
                maximum_concurrent_rpcs=server.max_pending_checks,
            )
            grpc_transport.add_to_server(grpc_server, service)
            health_pb2_grpc.add_HealthServicer_to_server(self.health, grpc_server)
            grpc_server.add_insecure_port(f"{server.grpc.host}:{server.grpc.port}")
            start_grpc, stop_grpc = grpc_server.start, lambda: grpc_server.stop(GRACE_SECONDS).wait()

        runners: list[web.BaseRunner] = []
        admin_runner = web.AppRunner(admin.make_app(self.ready, self.backend_jwks), access_log=None)
        await admin_runner.setup()
        runners.append(admin_runner)
        sites = [web.TCPSite(admin_runner, server.admin.host, server.admin.port, reuse_port=True)]
        http_transport_name = None
        compiled_http = None
        if server.http is not None:
            http_transport_name = http_transport.transport_of(server.http_transport)
            answer = http_transport.HttpCheck(
                self.check_on_loop,
                self.renderer,
                server.http.path_prefix,
                self.config.request.num_trusted_proxies,
                check_prepared=prepared,
                reads_body_at=self.reads_body_at,
            )
            limit = self.config.request.max_header_bytes  # answer oversized credentials ourselves, as in gRPC mode
            if http_transport_name == "compiled":
                compiled_http = http_transport.compiled_server(
                    answer, loop, server.http.host, server.http.port, limit, server.max_pending_checks
                )
            else:
                http_server = web.Server(http_transport.make_handler(answer), max_line_size=limit, max_field_size=limit)
                http_runner = web.ServerRunner(http_server, access_log=None)
                await http_runner.setup()
                runners.append(http_runner)
                sites.append(web.TCPSite(http_runner, server.http.host, server.http.port, reuse_port=True))

        access_log_server = None
        als = self.config.analytics.access_log_service
        if self.analytics is not None and als.enabled:
            receiver = access_log.AccessLogReceiver(self.analytics, api_log=self.api_log)
            access_log_server = access_log.server(receiver, als.host, als.port, als.max_streams, transport)
            access_log_server.start()
        start_grpc()
        if compiled_http is not None:
            compiled_http.start()
        for site in sites:
            await site.start()
        if self.analytics is not None:
            self.analytics.start()
        feeder = asyncio.ensure_future(self.control_plane.run(self.publish))
        tokens = asyncio.ensure_future(self.backend_tokens.run())
        folder = asyncio.ensure_future(_fold_metrics_forever()) if metrics.SHARED else None
        settle_heap()
        log.info(
            "serving",
            extra={
                "grpc": server.grpc.port,
                "http": server.http.port if server.http else None,
                "admin": server.admin.port,
                "request_reader": "protobuf" if read is None else "compiled",  # server.grpcRequestReader
                "grpc_transport": transport,  # server.grpcTransport
                "http_transport": http_transport_name,  # server.httpTransport
                "access_log_service": als.port if access_log_server is not None else None,
            },
        )
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            # grpcio's health service: NOT_SERVING from now on, to Check and to its Watch streams, as
            # grpcio-health-checking asks of a server entering its graceful shutdown, then the streams end (the
            # compiled transport's stop does the same for its own).
            self.health.enter_graceful_shutdown()
            self.health.end_watches()
            feeder.cancel()
            warming.cancel()
            tokens.cancel()
            await asyncio.wait([feeder, warming, tokens], timeout=GRACE_SECONDS)
            # Both within one grace period; the HTTP transport's whole checks finish on this loop while it waits.
            stopping = [asyncio.to_thread(stop_grpc)]
            if compiled_http is not None:
                stopping.append(asyncio.to_thread(compiled_http.stop, GRACE_SECONDS))
            if access_log_server is not None:  # a gateway's stream is cut: it reconnects to another replica
                stopping.append(asyncio.to_thread(access_log_server.stop, GRACE_SECONDS))
            await asyncio.gather(*stopping)
            checks.shutdown(wait=False, cancel_futures=True)
            if folder is not None:
                folder.cancel()
                metrics.TALLIES.fold()  # the last checks' counts, before the files outlive this worker
            for runner in runners:
                await runner.cleanup()
            await self.authenticator.close()
            if self.users is not None:
                await self.users.close()
            await self.limiter.close()
            await self.opa.close()
            if self.analytics is not None:
                await self.analytics.close()
            if self.tracing is not None:
                await asyncio.to_thread(self.tracing.shutdown)


def settle_heap() -> None:
    """Take what startup built (modules, config, servers: ~70,000 objects) out of the garbage collector's way.

    A full collection walks every object it tracks while holding the GIL, so every check waits for it: with the
    startup heap alone that is 35-45 ms, 62 ms measured under the soak's load (bench/README.md, "Garbage
    collection pauses"). What startup built lives as long as the process, so it is frozen (`gc.freeze`: no longer
    walked, still freed by reference counting); from then on a collection walks what came later: the catalog,
    the caches, the checks in flight. Each collection's pause is measured (`apim_adapter_gc_pause_seconds`)."""
    gc.collect()  # what startup left as garbage goes now, not into the frozen generation
    gc.freeze()
    metrics.watch_gc()


async def _fold_metrics_forever(sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
    """With workers: this worker's counts into the shared metric files, for every worker's scrape."""
    while True:
        await sleep(metrics.FOLD_SECONDS)
        metrics.TALLIES.fold()


def validate(config: Config) -> dict[str, int]:
    """Everything `serve` would load before taking traffic, without starting anything, but secret files (keys,
    credentials): a config is checked where its secrets are not (a chart's CI), and `serve` refuses them first."""
    grpc_transport.request_reader(config.server.grpc_request_reader)
    grpc_transport.transport_of(config.server.grpc_transport)
    http_transport.transport_of(config.server.http_transport)
    if config.control_plane.type == "file":
        from .controlplane.file import CatalogFileError, read_document

        try:
            document = read_document(config.resolve(config.control_plane.path))
            return build(document, cors_settings=cors_settings(config)).counts
        except (CatalogFileError, CatalogError) as exc:
            raise ConfigError(f"catalog: {exc}") from exc
    return {}


def run(config) -> int:
    sys.setswitchinterval(SWITCH_INTERVAL)

    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(Adapter(config).serve())
    finally:
        # Give leftover tasks (client libraries' connection handlers) a bounded time to finish: a
        # library that ignores cancellation must not turn SIGTERM into a SIGKILL.
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=2))
        loop.close()
    return 0
