"""Envoy ext_authz v3 over gRPC: CheckRequest in, CheckResponse out."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import grpc
from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from envoy.type.v3.http_status_pb2 import HttpStatus
from google.protobuf.struct_pb2 import Struct
from google.rpc import code_pb2, status_pb2

from ..decision import CheckInput, Decision
from ..errors import Unavailable
from ..render import Allow, Renderer, rate_headers

NAMESPACE = "envoy.filters.http.ext_authz"


def client_ip(headers, source: str, num_trusted_proxies: int = 0) -> str:
    """The client's address as the gateway established it, never an entry the caller wrote.

    The gateway runs with `use_remote_address` (istiod sets it on gateways) and appends the peer it saw to
    `x-forwarded-for`, trusting `numTrustedProxies` hops in front of it (`xff_num_trusted_hops`): the client is
    the entry that many places left of the rightmost one; everything further left is whatever the caller sent.
    `x-envoy-external-address` is Envoy's own answer, but only for peers outside its internal ranges (for those it
    neither sets nor strips it), so it is the fallback when there is no `x-forwarded-for`, then the peer address.
    """
    xff = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    if xff:
        return xff[max(len(xff) - 1 - num_trusted_proxies, 0)]
    return headers.get("x-envoy-external-address") or source


def to_input(request: pb.CheckRequest) -> CheckInput:
    attrs = request.attributes
    http = attrs.request.http
    headers = http.headers
    return CheckInput(
        method=http.method or headers.get(":method", ""),
        host=http.host or headers.get(":authority", ""),
        path=http.path or headers.get(":path", "/"),
        headers=headers,
        request_id=headers.get("x-request-id", ""),
        client_ip=client_ip(headers, attrs.source.address.socket_address.address),
    )


def _options(pairs) -> list[HeaderValueOption]:
    return [HeaderValueOption(header=HeaderValue(key=k, value=v)) for k, v in pairs]


def _struct(pairs) -> Struct:
    struct = Struct()
    struct.update(dict(pairs))
    return struct


@functools.lru_cache(maxsize=4096)
def _allow_template(allow: Allow) -> pb.CheckResponse:
    """The finished CheckResponse of a prepared allow (one object per caller): copied, never mutated."""
    return pb.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK),
        ok_response=pb.OkHttpResponse(headers=_options(allow.upstream), headers_to_remove=list(allow.remove)),
        dynamic_metadata=_struct(allow.metadata),
    )


class AuthorizationService(pb_grpc.AuthorizationServicer):
    def __init__(self, check: Callable[[CheckInput], Decision], renderer: Renderer, clock=time.time):
        self.check, self.renderer, self.clock = check, renderer, clock

    def respond(self, d: Decision) -> pb.CheckResponse:
        if d.allowed:
            response = pb.CheckResponse()
            response.CopyFrom(_allow_template(self.renderer.allow(d, self.clock())))
            response.ok_response.response_headers_to_add.extend(_options(rate_headers(d.usage)))
            return response
        deny = self.renderer.deny(d)
        grpc_code = code_pb2.UNAUTHENTICATED if deny.status == 401 else code_pb2.PERMISSION_DENIED
        return pb.CheckResponse(
            status=status_pb2.Status(code=grpc_code, message=d.error.message if d.error else ""),
            denied_response=pb.DeniedHttpResponse(
                status=HttpStatus(code=deny.status), headers=_options(deny.headers), body=deny.body.decode()
            ),
            dynamic_metadata=_struct(deny.metadata),
        )

    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        try:
            decision = self.check(to_input(request))
        except Unavailable as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return self.respond(decision)


def add_to_server(server: grpc.Server, check: Callable[[CheckInput], Decision], renderer: Renderer) -> None:
    pb_grpc.add_AuthorizationServicer_to_server(AuthorizationService(check, renderer), server)
