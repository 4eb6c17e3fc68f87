"""Envoy ext_authz in HTTP mode: the checked request arrives as-is (with an optional path prefix).

200 allows: the upstream headers ride on the response (Envoy copies those in `headersToUpstreamOnAllow`),
and `x-envoy-auth-headers-to-remove` names the headers to strip. Any other non-5xx status denies with our
body; 503 is an error, so Envoy's failOpen/statusOnError decide.
"""

from __future__ import annotations

import time

from aiohttp import web

from ..decision import CheckInput
from ..errors import Unavailable
from ..render import Renderer, rate_headers
from .grpc import client_ip


def make_handler(check, renderer: Renderer, path_prefix: str = "", num_trusted_proxies: int = 0, clock=time.time):
    async def handle(request: web.BaseRequest) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = request.raw_path
        if path_prefix and (path == path_prefix or path.startswith(path_prefix + "/")):
            path = path[len(path_prefix) :] or "/"
        peer = request.transport.get_extra_info("peername") if request.transport else None
        req = CheckInput(
            method=request.method,
            host=request.host,
            path=path,
            headers=headers,
            request_id=headers.get("x-request-id", ""),
            client_ip=client_ip(headers, peer[0] if peer else "", num_trusted_proxies),
        )
        try:
            d = await check(req)
        except Unavailable as exc:
            return web.Response(status=503, text=str(exc))
        if d.allowed:
            allow = renderer.allow(d, clock())
            out = [*allow.upstream, *rate_headers(d.usage)]
            if allow.remove:
                out.append(("x-envoy-auth-headers-to-remove", ", ".join(allow.remove)))
            return web.Response(status=200, headers=out)
        deny = renderer.deny(d)
        return web.Response(status=deny.status, headers=deny.headers, body=deny.body)

    return handle
