"""The tests' parameters for the adapter's transports: the Python one and the compiled one (adapter/native), skipped
where apim-adapter-native is not installed (`make native` needs cargo)."""

from __future__ import annotations

import pytest

from apim_adapter.transport.grpc import GrpcServer
from apim_adapter.transport.http import HttpServer


def compiled_only(server: object | None) -> pytest.MarkDecorator:
    """Skips a test of a compiled server (`GrpcServer`, `HttpServer`: None where the native module is missing)."""
    return pytest.mark.skipif(server is None, reason="apim-adapter-native is not installed (make native)")


GRPC_TRANSPORTS = ["grpcio", pytest.param("compiled", marks=compiled_only(GrpcServer))]
HTTP_TRANSPORTS = ["aiohttp", pytest.param("compiled", marks=compiled_only(HttpServer))]
