"""A gRPC call as raw HTTP/2 carries it (grpc/grpc `doc/PROTOCOL-HTTP2.md`), for the tests and benchmarks that drive
the adapter's gRPC port with python-h2: below what a gRPC library lets a client do (hold its window closed, ignore
the server's settings, send many calls in one write)."""

from __future__ import annotations

from apim_adapter.transport.grpc import CHECK_METHOD

# The request headers of an ext_authz Check call, as Envoy's gRPC client sends them (less its own extras).
CHECK_HEADERS = [(":method", "POST"), (":scheme", "http"), (":path", CHECK_METHOD), (":authority", "adapter"),
                 ("content-type", "application/grpc"), ("te", "trailers")]  # fmt: skip


def framed(message: bytes) -> bytes:
    """A message as a stream's DATA carries it: uncompressed, after its four-byte length."""
    return b"\x00" + len(message).to_bytes(4, "big") + message
