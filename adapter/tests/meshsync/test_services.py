"""The export's reads that need no API server: the OpenAPI document from a URL of the Service itself (found, not
found, unreachable, too large), each failure an `Invalid` fit for an Event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from apim_adapter.meshsync import services
from apim_adapter.meshsync.export import FromUrl, Invalid, Settings, Spec
from apim_adapter.meshsync.services import Exporter
from harness.processes import free_port

DOC = b'{"openapi": "3.0.1", "paths": {"/get": {"get": {}}}}'


def want(url: str) -> Spec:
    return Spec("shop/orders", "orders", "1.0.0", "/orders", ("Unlimited",), "PUBLIC", True, "http://x:80",
                FromUrl(url))  # fmt: skip


async def fetch(path: str, port: int | None = None, **env: Any) -> bytes:
    async def document(_request: web.Request) -> web.Response:
        return web.Response(body=DOC, content_type="application/json")

    async def huge(_request: web.Request) -> web.Response:
        return web.Response(body=b" " * (services.MAX_DOCUMENT_BYTES + 1))

    app = web.Application()
    app.router.add_get("/openapi.json", document)
    app.router.add_get("/huge", huge)
    runner = web.AppRunner(app)
    await runner.setup()
    served = free_port()
    await web.TCPSite(runner, "127.0.0.1", served).start()
    exporter = Exporter(None, None, Settings("Default"), (), 60, 5, lambda: True, "test")  # type: ignore[arg-type]
    try:
        return await exporter.document(want(f"http://127.0.0.1:{port or served}{path}"), "shop")
    finally:
        await exporter.close()
        await runner.cleanup()


def test_the_document_from_the_service() -> None:
    assert asyncio.run(fetch("/openapi.json")) == DOC


@pytest.mark.parametrize(
    ("path", "closed", "message"),
    [
        ("/missing", False, r"GET http://127\.0\.0\.1:\d+/missing: HTTP 404"),
        ("/huge", False, "larger than"),
        ("/openapi.json", True, r"GET http://127\.0\.0\.1:\d+/openapi\.json: "),
    ],
)
def test_unreadable_documents_are_reported(path: str, closed: bool, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        asyncio.run(fetch(path, port=free_port() if closed else None))
