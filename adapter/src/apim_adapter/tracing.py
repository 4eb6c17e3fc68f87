"""OpenTelemetry traces of checks and of the adapter's own I/O, exported over OTLP.

Off by default, and then free: `setup` returns None, nothing wraps the check entry points, `span`/`traced`
create no span object, and the OpenTelemetry packages are never imported.

On (`tracing.enabled`), a check continues the checked request's trace. Its parent is, in order:
- the context Envoy put in the gRPC call's own metadata (the ext_authz client span Envoy opens under the
  gateway's span when the gateway traces: what istiod configures with `meshConfig.enableTracing`);
- else the checked request's headers (HTTP mode receives Envoy's context there; in gRPC mode they carry what
  the client sent). W3C `traceparent`/`tracestate` and B3 (`x-b3-*` and single `b3`) are both read; W3C wins.
The check span carries the API, resource, application and decision code, never a credential. Control-plane
pulls, JWKS fetches, introspection and Redis round trips are spans of their own: children of the check they
run in, roots otherwise. Logs written while a span is current carry its `trace_id` and `span_id`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import logs

if TYPE_CHECKING:
    from .config import Tracing as Settings
    from .decision import Decision

CHECK_METHOD = "/envoy.service.auth.v3.Authorization/Check"
# The request headers `setup`'s propagators read (B3 single and multiple headers, W3C trace context): what a
# gateway sends the adapter for a check to continue the client's trace (tests/unit/test_request_headers.py holds the
# propagators to it).
CONTEXT_HEADERS = ("traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags")
DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318/v1/traces"}

F = TypeVar("F", bound=Callable[..., Any])
_tracer: Any = None  # the SDK tracer while tracing is on; None: `span` and `traced` do nothing
_NO_SPAN = contextlib.nullcontext()


def span(name: str, attributes: Mapping[str, Any] | None = None) -> contextlib.AbstractContextManager[Any]:
    """A span around a block, child of the current one; nothing at all when tracing is off."""
    if _tracer is None:
        return _NO_SPAN
    return _tracer.start_as_current_span(name, attributes=attributes)


def traced(name: str, attributes: Callable[..., Mapping[str, Any]] | None = None):
    """Decorate a coroutine function with a span; `attributes(*args)` names what it works on (never a secret)."""

    def decorate(fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            if _tracer is None:
                return await fn(*args, **kwargs)
            with _tracer.start_as_current_span(name, attributes=attributes(*args) if attributes else None):
                return await fn(*args, **kwargs)

        return wrapper

    return decorate


def read_headers(path: Path) -> dict[str, str]:
    """Exporter headers (e.g. a backend's API key) from a file: `name: value` per line, `#` comments."""
    headers = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"{path}:{number}: expected 'name: value'")
        headers[name.strip().lower()] = value.strip()
    return headers


def describe(d: Decision) -> dict[str, Any]:
    """What a check span says about its decision."""
    attributes: dict[str, Any] = {"apim.decision": d.outcome}
    if d.code:
        attributes["apim.error.code"] = d.code
    if d.api is not None:
        attributes["apim.api.name"] = d.api.name
        attributes["apim.api.version"] = d.api.version
    if d.resource is not None:
        attributes["apim.resource"] = f"{d.resource.method} {d.resource.pattern}"
    if d.application is not None:
        attributes["apim.application.name"] = d.application.name
    if d.tier:
        attributes["apim.tier"] = d.tier
    return attributes


class Tracing:
    """Tracing while it is on: wraps the check entry points and the hand-over of a check to the event loop."""

    def __init__(self, provider: Any, propagator: Any):
        from opentelemetry import context, trace

        self.provider, self.propagator = provider, propagator
        self.tracer = provider.get_tracer("apim_adapter")
        self._context, self._trace = context, trace

    def _parent(self, headers: Mapping[str, str]) -> Any:
        """The current context when it already continues a trace (gRPC metadata), else the headers' one."""
        if self._trace.get_current_span().get_span_context().is_valid:
            return None
        return self.propagator.extract(headers)

    def _start(self, req: Any, transport: str) -> Any:
        return self.tracer.start_as_current_span(
            "ext_authz check",
            context=self._parent(req.headers),
            kind=self._trace.SpanKind.SERVER,
            attributes={"apim.transport": transport, "apim.request_id": req.request_id},
        )

    def check(self, fn: F, transport: str) -> F:
        @functools.wraps(fn)
        def traced_check(req):
            with self._start(req, transport) as current:
                decision = fn(req)
                current.set_attributes(describe(decision))
                return decision

        return cast(F, traced_check)

    def check_async(self, fn: F, transport: str) -> F:
        @functools.wraps(fn)
        async def traced_check(req):
            with self._start(req, transport) as current:
                decision = await fn(req)
                current.set_attributes(describe(decision))
                return decision

        return cast(F, traced_check)

    def carried(self, fn: F) -> F:
        """`fn` returns a coroutine run on the event loop for a check thread: it runs in the thread's context, so
        the I/O it does (JWKS, introspection, Redis) belongs to the check's span."""
        context = self._context

        async def run_in(ctx, coro):
            token = context.attach(ctx)
            try:
                return await coro
            finally:
                context.detach(token)

        @functools.wraps(fn)
        def with_context(*args):
            return run_in(context.get_current(), fn(*args))

        return cast(F, with_context)

    def remote_parent(self, metadata: Mapping[str, str]) -> Any:
        """The trace context a gRPC call's metadata carries (the gateway's span), or None when it carries none."""
        parent = self.propagator.extract(metadata)
        return parent if self._trace.get_current_span(parent).get_span_context().is_valid else None

    def within(self, parent: Any, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` with `parent` (from `remote_parent`) the current context."""
        token = self._context.attach(parent)
        try:
            return fn(*args)
        finally:
            self._context.detach(token)

    def interceptors(self) -> list[Any]:
        """A gRPC server interceptor that makes the trace context of a Check call's metadata current (grpcio
        transport; the compiled one hands the metadata to the check, `transport.grpc.compiled_server`)."""
        import grpc

        tracing = self

        class RemoteParent(grpc.ServerInterceptor):
            def intercept_service(self, continuation, details):
                handler = continuation(details)
                if handler is None or details.method != CHECK_METHOD or handler.unary_unary is None:
                    return handler
                parent = tracing.remote_parent({k: v for k, v in details.invocation_metadata or ()})
                if parent is None:
                    return handler
                behavior = handler.unary_unary

                def with_parent(request, servicer_context):
                    return tracing.within(parent, behavior, request, servicer_context)

                return grpc.unary_unary_rpc_method_handler(
                    with_parent, handler.request_deserializer, handler.response_serializer
                )

        return [RemoteParent()]

    def shutdown(self) -> None:
        """Export what is left (bounded by the exporter's timeout) and stop."""
        global _tracer
        _tracer = None
        logs.trace_ids = None
        self.provider.shutdown()


def _log_ids() -> dict[str, str] | None:
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


def exporter(settings: Settings, resolve: Callable[[str], Path]) -> Any:
    headers = read_headers(resolve(settings.headers_file)) if settings.headers_file else None
    ca = resolve(settings.ca_bundle) if settings.ca_bundle else None
    endpoint = settings.endpoint or DEFAULT_ENDPOINTS[settings.protocol]
    if settings.protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        credentials = grpc.ssl_channel_credentials(ca.read_bytes()) if ca else None
        insecure = credentials is None and not endpoint.startswith("https://")
        return OTLPSpanExporter(endpoint=endpoint, insecure=insecure, credentials=credentials, headers=headers)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint, certificate_file=str(ca) if ca else None, headers=headers)


def setup(settings: Settings, resolve: Callable[[str], Path], span_exporter: Any = None) -> Tracing | None:
    """Tracing as configured: None when off (then nothing else in this module does anything)."""
    global _tracer
    if not settings.enabled:
        return None
    from opentelemetry.propagators.b3 import B3MultiFormat
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.sampler_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(span_exporter or exporter(settings, resolve)))
    # B3 first: a later propagator overrides an earlier one, so W3C wins when a request carries both.
    tracing = Tracing(provider, CompositePropagator([B3MultiFormat(), TraceContextTextMapPropagator()]))
    _tracer = tracing.tracer
    logs.trace_ids = _log_ids
    return tracing
