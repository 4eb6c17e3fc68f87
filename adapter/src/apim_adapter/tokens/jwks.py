"""A key manager's signing keys, fetched from its JWKS endpoint and kept in memory.

Refetched in the background when older than the refresh period, and at once (single-flight, at most every
`min_refetch` seconds) when a token names an unknown `kid`. Known keys are kept when the endpoint fails, so a
brief key manager outage does not reject tokens signed with keys we already have.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import jwt

from .. import metrics, tracing
from ..errors import Unavailable
from ..http_client import HttpClient

log = logging.getLogger(__name__)
MAX_JWKS_BYTES = 1 << 20


class JwksCache:
    def __init__(self, name: str, uri: str, client: HttpClient, refresh: float = 600, min_refetch: float = 10):
        self.name, self.uri, self.client = name, uri, client
        self.refresh, self.min_refetch = refresh, min_refetch
        self.keys: dict[str | None, jwt.PyJWK] = {}
        self.fetched_at = 0.0  # last successful fetch
        self.attempted_at = float("-inf")  # last attempt, successful or not
        self._inflight: asyncio.Task[None] | None = None

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key for kid (or the only key when the token names none); None when the key manager has none."""
        now = time.monotonic()
        found = self._lookup(kid)
        if found is not None:
            if now - self.fetched_at > self.refresh and now - self.attempted_at > self.min_refetch:
                self._fetch_in_background()
            return found
        if now - self.attempted_at >= self.min_refetch:
            await self._fetch()
            found = self._lookup(kid)
        if found is None and not self.keys and self.fetched_at == 0.0:
            raise Unavailable(f"no JWKS from key manager {self.name}")
        return found

    def known(self, kid: str | None) -> jwt.PyJWK | None:
        """The key for kid if it is already here and fresh enough to use without asking the key manager."""
        if time.monotonic() - self.fetched_at > self.refresh:
            return None  # time for the background refresh, which only `key` starts
        return self._lookup(kid)

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return self.keys.get(kid)

    def _fetch_in_background(self) -> None:
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._fetch_once())

    async def _fetch(self) -> None:
        self._fetch_in_background()
        assert self._inflight is not None
        await asyncio.shield(self._inflight)

    @tracing.traced("JWKS fetch", lambda self: {"apim.key_manager": self.name, "url.full": self.uri})
    async def _fetch_once(self) -> None:
        self.attempted_at = time.monotonic()
        try:
            body = await self.client.get_json(self.uri, max_bytes=MAX_JWKS_BYTES)
            keys = self._parse(body)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            metrics.JWKS_FETCHES.labels(self.name, "error").inc()
            log.warning(
                "JWKS fetch failed; keeping %d known keys",
                len(self.keys),
                extra={"key_manager": self.name, "error": str(exc)},
            )
            return
        metrics.JWKS_FETCHES.labels(self.name, "success").inc()
        self.keys, self.fetched_at = keys, time.monotonic()
        log.info("JWKS loaded", extra={"key_manager": self.name, "keys": len(keys)})

    def _parse(self, body: Any) -> dict[str | None, jwt.PyJWK]:
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise ValueError("JWKS document has no 'keys' list")
        keys: dict[str | None, jwt.PyJWK] = {}
        for raw in body["keys"]:
            if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or raw.get("kty") == "oct":
                continue  # encryption keys and symmetric keys never verify our tokens
            try:
                keys[raw.get("kid")] = jwt.PyJWK(raw)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, json.JSONDecodeError):
                continue
        if not keys:
            raise ValueError("JWKS document has no usable signing keys")
        return keys
