"""Opaque access tokens: RFC 7662 introspection at the key manager (WSO2 IS 7: POST /oauth2/introspect).

Answers are cached by the token's SHA-256: active tokens until min(exp, now + cacheSeconds), inactive ones for
negativeCacheSeconds. Concurrent checks of one token share one call. A key manager that cannot answer is an
error (errors.Unavailable, so Envoy's failOpen/statusOnError decide), never a deny; tokens already cached as
active stay valid through the outage until their cache entry ends.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import OrderedDict
from typing import Any

import aiohttp

from .. import errors
from ..config import KeyManager
from ..errors import Unavailable
from ..http_client import HttpClient
from ..secrets import read_secret
from . import Principal, TokenRejected, fingerprint, scopes_of

MAX_RESPONSE_BYTES = 64 << 10


class Introspector:
    def __init__(self, km: KeyManager, client: HttpClient, max_entries: int = 100_000):
        assert km.introspection is not None
        self.km, self.client, self.max_entries = km, client, max_entries
        self.settings = km.introspection
        self._cache: OrderedDict[str, tuple[float, Principal | TokenRejected]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Principal]] = {}
        self._auth: str | None = None

    def _authorization(self) -> str:
        """Basic client credentials, read on first use so that a rotated secret file is picked up on restart."""
        if self._auth is None:
            pair = f"{read_secret(self.settings.client_id_file)}:{read_secret(self.settings.client_secret_file)}"
            self._auth = "Basic " + base64.b64encode(pair.encode()).decode()
        return self._auth

    async def introspect(self, token: str) -> Principal:
        key = fingerprint(token)
        now = time.time()
        cached = self._cache.get(key)
        if cached is not None:
            until, value = cached
            if now < until:
                if isinstance(value, TokenRejected):
                    raise value
                return value
            del self._cache[key]
        inflight = self._inflight.get(key)
        if inflight is None:
            inflight = asyncio.ensure_future(self._call(token, key))
            self._inflight[key] = inflight
            inflight.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(inflight)

    async def _call(self, token: str, key: str) -> Principal:
        try:
            body = await self.client.request_json(
                "POST",
                self.settings.url,
                MAX_RESPONSE_BYTES,
                data={"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": self._authorization(), "Accept": "application/json"},
            )
        except aiohttp.ClientResponseError as exc:
            raise Unavailable(f"introspection at {self.km.name} answered HTTP {exc.status}") from exc
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            raise Unavailable(f"introspection at {self.km.name} failed: {type(exc).__name__}") from exc
        now = time.time()
        try:
            principal = self._principal(body, now)
        except TokenRejected as rejected:
            self._put(key, rejected, now + self.settings.negative_cache_seconds)
            raise
        self._put(key, principal, min(principal.expires_at, now + self.settings.cache_seconds))
        return principal

    def _principal(self, body: Any, now: float) -> Principal:
        if not isinstance(body, dict):
            raise Unavailable(f"introspection at {self.km.name}: not a JSON object")
        if body.get("active") is not True:
            raise TokenRejected(errors.INACTIVE, "inactive")
        exp = body.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            exp = now + self.settings.cache_seconds  # RFC 7662: exp is optional
        if exp <= now:
            raise TokenRejected(errors.EXPIRED, "expired")
        consumer_key = body.get(self.km.consumer_key_claim) or body.get("client_id")
        if not isinstance(consumer_key, str) or not consumer_key:
            raise TokenRejected(errors.FORBIDDEN, "no client_id in the introspection answer")
        jti = body.get("jti")
        return Principal(
            key_manager=self.km.name,
            consumer_key=consumer_key,
            scopes=scopes_of(body.get(self.km.scopes_claim, body.get("scope"))),
            subject=str(body.get("sub") or body.get("username") or ""),
            expires_at=float(exp),
            jti=jti if isinstance(jti, str) else None,
            claims={k: v for k, v in body.items() if k != "token"},
        )

    def _put(self, key: str, value: Principal | TokenRejected, until: float) -> None:
        self._cache[key] = (until, value)
        self._cache.move_to_end(key)
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
