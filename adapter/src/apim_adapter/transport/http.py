"""Envoy ext_authz in HTTP mode: the checked request arrives as-is (with an optional path prefix), on aiohttp or the
compiled transport.

200 allows: the upstream headers ride on the response (Envoy copies those in `headersToUpstreamOnAllow`),
and `x-envoy-auth-headers-to-remove` names the headers to strip. Any other non-5xx status denies with our
body; 503 is an error, so Envoy's failOpen/statusOnError decide. A denial APIM answers with a 5xx (a blocked API's
503 `700700`, an OPA policy's 500 `902011`) is therefore answered 403 here, with APIM's body: Envoy's HTTP client
would take its status for the adapter's own failure, and `failOpen` would let the call through.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .. import metrics
from ..decision import CheckInput, Decision
from ..errors import Unavailable
from ..ratelimit import Usage
from ..render import Allow, Headers, Renderer, rate_headers
from . import MAX_KEPT_BODY, body_size, chosen, request_body
from .grpc import CheckPrepared, PendingChecks, RequestFields, client_address, request_fields

try:  # The compiled transport (adapter/native, http.rs); older builds of the module do not have it.
    from apim_adapter_native import HttpServer
except ImportError:
    HttpServer = None

log = logging.getLogger(__name__)

# What both transports answer: status, headers, body.
Response = tuple[int, Headers, bytes]
UNAVAILABLE = 503  # an error to Envoy: its failOpen / statusOnError decide
FORBIDDEN = 403  # what a denial APIM answers with a 5xx is answered with in this mode


def transport_of(choice: str) -> str:
    """The HTTP-mode transport `server.httpTransport` asks for: `compiled` or `aiohttp`."""
    return chosen("httpTransport", choice, HttpServer, "aiohttp")


@functools.lru_cache(maxsize=4096)
def _allow_headers(allow: Allow) -> Headers:
    """A prepared allow's response headers (one object per caller), without the per-check RateLimit-* ones: Envoy
    passes those the provider's `headersToUpstreamOnAllow` names to the backend, those its
    `headersToDownstreamOnAllow` names (the downstream ones) to the client. Envoy's HTTP client has no way to set
    the query, the path or the method (an HTTP answer carries no pseudo-headers): an Add Query Param policy's
    (`allow.query`), a Rewrite Resource Path's (`allow.path`) and a Change HTTP Method's (`allow.method`) are
    applied over gRPC only (mediation.py)."""
    if allow.grpc_only:
        # Once per prepared allow (this function's cache): what the backend gets is not what APIM's gateway sends.
        log.warning(
            "operation policies not applied in HTTP mode",
            extra={
                "api": allow.grpc_only,
                "detail": "Add Query Param, Rewrite Resource Path, Change HTTP Method and an endpoint's API key in the "
                "query take the gRPC provider",
            },
        )
    headers = allow.upstream + allow.downstream + allow.downstream_replace
    if not allow.remove:
        return headers
    return (*headers, ("x-envoy-auth-headers-to-remove", ", ".join(allow.remove)))


def _allowed(allow: Allow, usage: Usage | None) -> Response:
    """An allow's answer, warm or whole; a call whose query, path or method its policies change, which Envoy's
    HTTP client cannot do, counted."""
    if allow.grpc_only:
        metrics.POLICIES_UNAPPLIED.labels(allow.grpc_only).inc()
    return 200, (*_allow_headers(allow), *rate_headers(usage)), b""


PREFLIGHT_STATUS = 204


def _unavailable(exc: Unavailable) -> Response:
    return UNAVAILABLE, (("content-type", "text/plain; charset=utf-8"),), str(exc).encode()


class HttpCheck:
    """A checked request's answer, whichever transport carries it: from its prepared allow (`warm`, from memory),
    else from the whole check on the event loop (`whole`)."""

    def __init__(
        self,
        check: Callable[[CheckInput], Awaitable[Decision]],
        renderer: Renderer,
        path_prefix: str = "",
        num_trusted_proxies: int = 0,
        clock=time.time,
        check_prepared: CheckPrepared | None = None,
        reads_body_at: Callable[[str], bool] = lambda path: True,
    ):
        self.check, self.renderer, self.clock = check, renderer, clock
        self.path_prefix, self.num_trusted_proxies = path_prefix, num_trusted_proxies
        self.check_prepared = check_prepared
        # Whether a check of a path may read its body (a policy of its API does): where none does, a body is not
        # kept while the check runs (it may wait on a key manager), nor read at all on aiohttp.
        self.reads_body_at = reads_body_at

    def keeps_body(self, path: str) -> bool:
        """Whether the body of a check of `path` (as Envoy sent it) is kept for the check."""
        return self.reads_body_at(self.path_of(path))

    def path_of(self, path: str) -> str:
        """The checked path: what Envoy sent, without the provider's `pathPrefix`."""
        prefix = self.path_prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return path[len(prefix) :] or "/"
        return path

    def warm(
        self,
        credential: bytes | None,
        method: str,
        path: str,
        host: str,
        user_agent: str,
        request_id: str,
        forwarded: str,
        external: str,
        peer: str,
        headers: Mapping[str, str] | None = None,
    ) -> Response | None:
        """The answer from a prepared allow (or its counter's denial), else None: then `whole` answers. A prepared
        allow whose counters read request headers answers only when given them (`warm_with_headers`)."""
        if self.check_prepared is None:
            return None
        address = client_address(forwarded, external, peer, self.num_trusted_proxies)
        try:
            warm = self.check_prepared(
                credential, method, self.path_of(path), host, user_agent, request_id, address, "http", headers
            )
        except Unavailable as exc:
            return _unavailable(exc)
        if isinstance(warm, tuple):
            return _allowed(*warm)
        return self.respond(warm) if isinstance(warm, Decision) else None

    def warm_with_headers(self, fields: RequestFields, headers: Mapping[str, str]) -> Response | None:
        """`warm` again, with every header, before a whole check: a prepared allow on a policy whose condition
        groups read a header answers here (the first `warm` had only the fields). Without one, a cache lookup."""
        return self.warm(*fields, headers=headers)

    async def whole(self, fields: RequestFields, headers: Mapping[str, str], body: bytes | None = b"") -> Response:
        """The whole check (`headers`: every header, lower-case names; `body`: the check's, which is what the
        gateway includes of the request's; None: not kept, over MAX_KEPT_BODY or where no policy reads it, and so
        never whole to a policy that does)."""
        _, method, path, host, _, request_id, forwarded, external, peer = fields
        req = CheckInput(
            method=method,
            host=host,
            path=self.path_of(path),
            headers=headers,
            request_id=request_id,
            client_ip=client_address(forwarded, external, peer, self.num_trusted_proxies),
            size=body_size(headers.get("content-length")),
            body=request_body(headers, body, client_length=False),  # the Content-Length is the check's own
        )
        try:
            return self.respond(await self.check(req))
        except Unavailable as exc:
            return _unavailable(exc)

    def respond(self, d: Decision) -> Response:
        if d.allowed:
            return _allowed(self.renderer.allow(d, self.clock()), d.usage)
        if d.preflight:
            # Envoy's HTTP client takes a 200 for an allow (raw_http_client_impl): the preflight's answer is a 204,
            # which a browser accepts as it does a 200 (any 2xx).
            preflight = self.renderer.preflight(d)
            return PREFLIGHT_STATUS, preflight.headers, b""
        deny = self.renderer.deny(d, self.clock())
        # Envoy's HTTP client takes any 5xx for an error (ext_authz_http_impl `toResponse`), not a denial.
        return (FORBIDDEN if deny.status >= 500 else deny.status), deny.headers, deny.body


def make_handler(answer: HttpCheck) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    """The aiohttp handler (`server.httpTransport: aiohttp`)."""

    async def handle(request: web.BaseRequest) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        address = peer[0] if peer else ""
        # request.headers is case-insensitive already: no copy on the warm path
        fields = request_fields(request.headers, request.method, request.raw_path, request.host, address)
        response = answer.warm(*fields)
        if response is None:
            headers: dict[str, str] = {}
            for name, value in request.headers.items():  # repeated headers joined, as the compiled transport does
                name = name.lower()
                headers[name] = f"{headers[name]},{value}" if name in headers else value
            response = answer.warm_with_headers(fields, headers)
            if response is None:
                body = await kept_body(request.content) if answer.keeps_body(request.raw_path) else None
                response = await answer.whole(fields, headers, body)
        status, response_headers, body = response
        return web.Response(status=status, headers=response_headers, body=body)

    return handle


async def kept_body(content: Any) -> bytes | None:
    """A check's body, read to its end: None where it is longer than MAX_KEPT_BODY (not kept)."""
    chunks, length = [], 0
    async for chunk in content.iter_any():
        length += len(chunk)
        if length <= MAX_KEPT_BODY:
            chunks.append(chunk)
    return b"".join(chunks) if length <= MAX_KEPT_BODY else None


def compiled_server(
    answer: HttpCheck,
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    max_head_bytes: int = 65536,
    max_pending: int = 1000,
) -> Any:
    """The compiled transport (apim_adapter_native.HttpServer, bound, not started). A warm check is answered on the
    transport's thread (µs, from memory); any other check runs on the event loop, as on aiohttp, and completes its
    request from there. At most `max_pending` checks wait for or run on the loop; more are answered 503 at once."""
    assert HttpServer is not None  # transport_of("compiled") said so
    pending = PendingChecks(max_pending)

    async def whole_on_loop(fields: RequestFields, headers: Mapping[str, str], body: bytes | None, reply: Any) -> None:
        try:
            if pending.abandoned(reply):  # Envoy gave up on it (its timeout closes the connection) while it queued
                return
            reply.respond(*await answer.whole(fields, headers, body))
        except Exception:
            log.exception("check crashed")
            reply.respond(500, (), b"internal error")
        finally:
            pending.done()

    def whole(fields: RequestFields, headers: Mapping[str, str], body: bytes | None, reply: Any) -> Response | None:
        warm = answer.warm_with_headers(fields, headers)
        if warm is not None:
            return warm
        if body and not answer.keeps_body(fields[2]):
            body = None  # let go now, not when the check ends
        if not pending.admit():
            return UNAVAILABLE, (), b"too many checks pending (server.maxPendingChecks)"
        try:
            asyncio.run_coroutine_threadsafe(whole_on_loop(fields, headers, body, reply), loop)
        except RuntimeError:  # the loop is closed: the adapter is stopping
            pending.done()
            return UNAVAILABLE, (), b"stopping"
        return None

    warm = answer.warm if answer.check_prepared is not None else None
    return HttpServer(host, port, whole, warm, max_head_bytes, max_kept_body=MAX_KEPT_BODY)
