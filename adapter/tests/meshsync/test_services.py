"""The export's parts that need no API server: the OpenAPI document from a URL of the Service itself (found, not
found, unreachable, too large), each failure an `Invalid` fit for an Event; a pass that stops writing when
leadership is lost."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
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


def test_a_pass_stops_writing_once_this_replica_no_longer_leads(monkeypatch) -> None:
    """Leadership lost mid-pass (the lease lapsed while the process stalled): no further Service is exported, no API
    retired, and the pass is not counted as synced; the new leader's pass does the rest."""
    leading = [True]
    exporter = Exporter(None, None, Settings("Default"), (), 60, 5, lambda: leading[0], "test")  # type: ignore[arg-type]
    exposed = {"apim.istio-apim.io/expose": "true"}
    listed = [SimpleNamespace(metadata=SimpleNamespace(namespace="shop", name=name, annotations=exposed, uid=name),
                              spec=None) for name in ("orders", "payments", "stock")]  # fmt: skip
    exported, retired = [], []

    async def export(info, uid, apis):
        exported.append(info.name)
        leading[0] = False  # the lease lapsed while this one was written
        return want("http://unused")

    async def none(*_args: Any) -> list[Any]:
        return []

    monkeypatch.setattr(exporter, "services", lambda: asyncio.sleep(0, listed))
    monkeypatch.setattr(exporter, "_with_owners", lambda apis: asyncio.sleep(0, [{"id": "old", "name": "gone"}]))
    monkeypatch.setattr(exporter, "_export", export)
    monkeypatch.setattr(exporter, "publisher", SimpleNamespace(apis=none, apply=lambda *a: retired.append(a)))
    monkeypatch.setattr(services, "unwanted", lambda *_args: [{"id": "old"}])
    asyncio.run(exporter.sync())
    assert exported == ["orders"]
    assert retired == []
    assert not exporter.synced
