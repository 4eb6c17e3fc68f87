"""Envoy ext_authz in HTTP mode: the checked request arrives as-is (with an optional path prefix).

200 allows: the upstream headers ride on the response (Envoy copies those in `headersToUpstreamOnAllow`),
and `x-envoy-auth-headers-to-remove` names the headers to strip. Any other non-5xx status denies with our
body; 503 is an error, so Envoy's failOpen/statusOnError decide.
"""

from __future__ import annotations

import functools
import time

from aiohttp import web

from ..decision import CheckInput, Decision
from ..errors import Unavailable
from ..prepared import credential_of
from ..render import Allow, Headers, Renderer, rate_headers
from .grpc import CheckPrepared, client_ip


@functools.lru_cache(maxsize=4096)
def _allow_headers(allow: Allow) -> Headers:
    """A prepared allow's response headers (one object per caller), without the per-check RateLimit-* ones."""
    if not allow.remove:
        return allow.upstream
    return (*allow.upstream, ("x-envoy-auth-headers-to-remove", ", ".join(allow.remove)))


def make_handler(
    check,
    renderer: Renderer,
    path_prefix: str = "",
    num_trusted_proxies: int = 0,
    clock=time.time,
    check_prepared: CheckPrepared | None = None,
):
    def peer_address(request: web.BaseRequest) -> str:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        return peer[0] if peer else ""

    def respond(d: Decision) -> web.Response:
        if d.allowed:
            allow = renderer.allow(d, clock())
            return web.Response(status=200, headers=(*_allow_headers(allow), *rate_headers(d.usage)))
        deny = renderer.deny(d)
        return web.Response(status=deny.status, headers=deny.headers, body=deny.body)

    async def handle(request: web.BaseRequest) -> web.Response:
        path = request.raw_path
        if path_prefix and (path == path_prefix or path.startswith(path_prefix + "/")):
            path = path[len(path_prefix) :] or "/"
        if check_prepared is not None:
            given = request.headers  # case-insensitive already: no copy on the warm path
            try:
                warm = check_prepared(
                    credential_of(given.get("authorization")),
                    request.method,
                    path,
                    request.host,
                    given.get("user-agent", ""),
                    given.get("x-request-id", ""),
                    client_ip(given, "", num_trusted_proxies) or peer_address(request),  # the peer only if needed
                    "http",
                )
            except Unavailable as exc:
                return web.Response(status=503, text=str(exc))
            if isinstance(warm, tuple):
                allow, usage = warm
                return web.Response(status=200, headers=(*_allow_headers(allow), *rate_headers(usage)))
            if warm is not None:
                return respond(warm)
        headers = {k.lower(): v for k, v in request.headers.items()}
        req = CheckInput(
            method=request.method,
            host=request.host,
            path=path,
            headers=headers,
            request_id=headers.get("x-request-id", ""),
            client_ip=client_ip(headers, "", num_trusted_proxies) or peer_address(request),
        )
        try:
            d = await check(req)
        except Unavailable as exc:
            return web.Response(status=503, text=str(exc))
        return respond(d)

    return handle
