"""The admin port's routes, answered in process: the backend JWT's JWKS is published when there is a backend JWT,
and only then."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from apim_adapter import admin

JWKS = json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "x": "eA", "y": "eQ", "kid": "k1"}]}).encode()


def get(app: web.Application, path: str) -> tuple[int, bytes, str]:
    async def answer() -> tuple[int, bytes, str]:
        request = make_mocked_request("GET", path, app=app)
        match = await app.router.resolve(request)
        if match.http_exception is not None:
            return match.http_exception.status, b"", ""
        response = await match.handler(request)
        assert isinstance(response, web.Response)
        return response.status, bytes(response.body), response.content_type

    return asyncio.run(answer())


def test_jwks_is_served_as_given_with_a_backend_jwt():
    app = admin.make_app(lambda: (True, "ready"), JWKS)
    assert get(app, "/jwks") == (200, JWKS, "application/json")


def test_no_jwks_without_a_backend_jwt():
    app = admin.make_app(lambda: (True, "ready"))
    assert get(app, "/jwks")[0] == 404
    assert get(app, "/healthz")[0] == 200
