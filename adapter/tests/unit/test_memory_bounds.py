"""Anyone can send made-up tokens: memory must not grow with them (an out-of-memory attack otherwise).

Measured before the fix behind a real Envoy: 20% unique garbage tokens grew the adapter from 221 to 843 MiB in
156 s. Here the same traffic goes through the decision pipeline and the analytics buffer, in process, with
tracemalloc: after the caches have filled, more unique garbage must not cost more memory.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import tracemalloc
from collections.abc import Callable, Coroutine
from typing import Any

from apim_adapter.analytics import Analytics
from apim_adapter.config import Request
from apim_adapter.decision import CheckInput
from apim_adapter.mediation import RequestBody
from apim_adapter.render import Renderer
from apim_adapter.tokens.authenticator import TokenCache
from harness.api_keys import ApiKeySigner
from harness.pipeline import ISSUER, KEY, InProcess, token
from harness.sample_catalog import catalog_document, schema_validated


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def garbage(i: int) -> str:
    """Four kinds of made-up tokens, each unique: random bytes, a JWT for our issuer with a forged signature
    (the costly kind: the signature is checked), a JWT of an unknown issuer, and an unsigned JWT."""
    noise = os.urandom(24)
    kind = i % 4
    if kind == 0:
        return _b64(noise * 4)
    header = _b64(json.dumps({"alg": "RS256", "kid": KEY.kid, "typ": "JWT"}).encode())
    issuer = ISSUER if kind == 1 else f"https://evil.example/{noise.hex()}"
    alg = "none" if kind == 3 else "RS256"
    if kind == 3:
        header = _b64(json.dumps({"alg": alg}).encode())
    payload = _b64(json.dumps({"iss": issuer, "azp": "client-subscribed", "exp": 4102444800, "n": i}).encode())
    return f"{header}.{payload}.{_b64(noise * 10)}"


def growth_after_filling(traffic: Callable[[int, int], Coroutine[Any, Any, None]]) -> int:
    """Bytes allocated and still held after twice as many new requests as filled every bound: 1,200 requests
    first, then 2,400 more (`traffic(start, count)`)."""
    tracemalloc.start()
    try:
        asyncio.run(traffic(0, 1200))  # fills every bound
        gc.collect()
        filled, _ = tracemalloc.get_traced_memory()
        asyncio.run(traffic(1200, 2400))  # twice as many new unique credentials
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return after - filled


def test_unique_garbage_tokens_do_not_grow_memory() -> None:
    small = TokenCache(max_entries=300, max_rejections=300)
    pipeline = InProcess()
    pipeline.authenticator.cache = small
    analytics = Analytics(os.devnull)
    good = token()

    async def traffic(start: int, count: int) -> None:
        for i in range(start, start + count):
            bearer = good if i % 5 == 0 else garbage(i)
            req = CheckInput("GET", "gw", "/httpbin/1.0.0/ip", {"authorization": f"Bearer {bearer}"})
            d = await pipeline.decide(req)
            analytics.record(req, d, 0.1)
            assert d.status in (200, 401), d.reason
            if len(analytics._pending) >= 500:
                analytics._pending.clear()  # what the writer thread does on its own

    growth = growth_after_filling(traffic)
    assert growth < 256 << 10, f"memory grew by {growth >> 10} KiB with unique garbage tokens"
    assert len(small.rejected) <= 300
    assert len(small.valid) == 1  # the one good token is still cached, not pushed out by garbage


def test_a_flood_of_costly_rejections_keeps_the_bounds() -> None:
    cache = TokenCache(max_entries=10, max_bytes=1 << 20, max_rejections=50, max_rejection_bytes=8 << 10)
    pipeline = InProcess()
    pipeline.authenticator.cache = cache

    async def flood() -> None:
        for i in range(400):
            bearer = garbage(4 * i + 1)  # forged signatures: each one is verified, then remembered
            d = await pipeline.decide(pipeline.request(bearer=bearer))
            assert (d.status, d.code) == (401, "900901")

    asyncio.run(flood())
    assert len(cache.rejected) <= 50
    assert cache.rejected.bytes <= 8 << 10


def garbage_api_key(i: int) -> str:
    """Three kinds of made-up API keys, each unique: random bytes, one naming APIM's certificate with a forged
    signature (the costly kind), one naming a certificate the adapter does not have (rejected at once)."""
    noise = os.urandom(24)
    if i % 3 == 0:
        return _b64(noise * 4)
    kid = API_KEY_SIGNER.alias if i % 3 == 1 else noise.hex()
    header = _b64(json.dumps({"typ": "JWT", "alg": "RS256", "kid": kid}).encode())
    claims = {"sub": "x", "jti": noise.hex(), "application": {"id": 1, "uuid": "app-subscribed"},
              "token_type": "apiKey", "n": i}  # fmt: skip
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(noise * 10)}"


API_KEY_SIGNER = ApiKeySigner()


def test_unique_garbage_api_keys_do_not_grow_memory() -> None:
    small = TokenCache(max_entries=300, max_rejections=300)
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = "oauth2,api_key"
    pipeline = InProcess(doc, api_keys=API_KEY_SIGNER)
    pipeline.authenticator.cache = small
    good = API_KEY_SIGNER.mint({"id": 1, "uuid": "app-subscribed"})

    async def traffic(start: int, count: int) -> None:
        for i in range(start, start + count):
            key = good if i % 5 == 0 else garbage_api_key(i)
            d = await pipeline.decide(CheckInput("GET", "gw", "/httpbin/1.0.0/ip", {"apikey": key}))
            assert d.status in (200, 401), d.reason

    growth = growth_after_filling(traffic)
    assert growth < 256 << 10, f"memory grew by {growth >> 10} KiB with unique garbage API keys"
    assert len(small.rejected) <= 300
    assert len(small.valid) == 1  # the one good key is still cached, not pushed out by garbage


def test_denials_quoting_what_the_client_sent_do_not_grow_memory() -> None:
    """A Schema Validation denial quotes the value that failed: each unique one is a description of its own, which
    the rendered bodies must not all keep (they did: 1,370 KiB more for these 2,400 requests, without end)."""
    pipeline, renderer = InProcess(schema_validated()), Renderer(Request())
    headers = {"authorization": f"Bearer {token()}", "content-type": "application/json"}

    async def traffic(start: int, count: int) -> None:
        for i in range(start, start + count):
            body = json.dumps({"customer": f"x{i}"}).encode()  # the definition's pattern refuses the digits
            req = CheckInput("POST", "gw", "/httpbin/1.0.0/anything/orders", headers,
                             body=RequestBody(body, True, "application/json"))  # fmt: skip
            d = await pipeline.decide(req)
            assert (d.status, f'input string "x{i}"' in d.error.description) == (400, True), d.reason
            renderer.deny(d, 0)

    growth = growth_after_filling(traffic)
    assert growth < 256 << 10, f"memory grew by {growth >> 10} KiB with unique refused values"
