"""Thin transports: Envoy's ext_authz over gRPC and over HTTP, both onto the same decision pipeline."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import ConfigError
from ..cors import REQUEST_METHOD
from ..mediation import RequestBody
from ..tracing import CONTEXT_HEADERS

# What Envoy adds to a check that carries the request's body (`with_request_body`, Istio's includeRequestBodyInCheck):
# "true" when it is only the first `max_request_bytes`, else "false" (a client's own is dropped;
# extensions/filters/common/ext_authz/check_request_utils.cc, setHttpRequest). The backend never gets it.
PARTIAL_BODY = "x-envoy-auth-partial-body"
# What the HTTP transports keep of a check's body (the body Envoy includes, up to the provider's maxRequestBytes):
# grpcio's default message limit, which bounds a gRPC check's. A longer one is not kept, and not whole.
MAX_KEPT_BODY = 4 << 20

# Every request header the adapter reads: the credential (a bearer token, or an APIM API key in its default
# header, and the Referer a key may be restricted to; the client certificate the gateway describes in XFCC, present
# only where the caller presented one), analytics' user agent and correlation id, the client's
# address (`grpc.client_ip`), the body's size (`body_size`), the trace context, a browser's Origin and the method its
# CORS preflight asks for, and what says whether a body is there and how to read it (`request_body`). The one list
# the gateways send it:
# the apim-adapter chart's allowlists (its EnvoyFilter's `allowed_headers` in gRPC mode,
# `includeRequestHeadersInCheck` in HTTP mode) are generated from it (scripts/generate_config_schema.py), and
# tests/unit/test_request_headers.py fails when the adapter reads a header it does not name.
REQUEST_HEADERS = (
    "authorization", "apikey", "referer", "x-forwarded-client-cert", "user-agent", "x-request-id", "x-forwarded-for",
    "x-envoy-external-address", "content-length", *CONTEXT_HEADERS, "origin", REQUEST_METHOD,
    "content-type", PARTIAL_BODY,
)  # fmt: skip


def body_size(content_length: str | None, sent: int = 0) -> int:
    """A request body's bytes as APIM's gateway counts them against a bandwidth quota: its Content-Length, else the
    body itself (`DataProcessAndPublishingAgent.setDataReference`). Here: the header where it is a number (Envoy's
    codecs refuse a request whose Content-Length is not), else the bytes of the body the gateway sent with the
    check (`sent`; none unless the provider includes it, `includeRequestBodyInCheck`). In HTTP mode the check's own
    Content-Length is that body's length: Envoy sends the check without the client's."""
    if content_length and len(content_length) <= 19 and content_length.isascii() and content_length.isdigit():
        return int(content_length)
    return sent


def request_body(headers: Mapping[str, str], sent: bytes | None, client_length: bool = True) -> RequestBody:
    """What the gateway handed over of a request's body (`sent`; None: more than `MAX_KEPT_BODY`, not kept), and
    whether it is all of it: Envoy says so where it includes bodies (`PARTIAL_BODY`); where it sent none, the
    request has none unless its Content-Length says otherwise. `client_length`: the headers carry the client's
    Content-Length (gRPC; an HTTP check has its own). Where the gateway does not include bodies, nothing tells a
    body without Content-Length (chunked: Envoy keeps Transfer-Encoding out of the check; HTTP/2), nor, in HTTP
    mode, any body: such a request is taken to have none, and its body is not `known`."""
    content_type = headers.get("content-type", "")
    if sent is None:
        return RequestBody(b"", False, content_type)
    partial = headers.get(PARTIAL_BODY)
    length = headers.get("content-length", "") if client_length else ""
    if partial is not None:
        whole = partial == "false"
    elif sent:  # included, but without Envoy's word (an HTTP check whose allowlist left it out)
        whole = not (length.isdigit() and int(length) > len(sent))
    else:
        whole = not (length.isdigit() and int(length) > 0)
    known = partial is not None or bool(sent) or length.isdigit()
    return RequestBody(sent, whole, content_type, known)


def chosen(setting: str, choice: str, compiled: object, fallback: str) -> str:
    """The transport a `server.*Transport` setting asks for: `compiled` where adapter/native provides it (`compiled`
    is its class, None when not installed), else `fallback`; asking for `compiled` without it is a config error."""
    if choice == "compiled" and compiled is None:
        raise ConfigError(
            f"server.{setting}: compiled, but apim-adapter-native (with this transport) is not installed "
            f"(adapter/native; `auto` falls back to {fallback})"
        )
    return fallback if choice == fallback or compiled is None else "compiled"
