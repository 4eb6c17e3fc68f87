"""A key manager's signing keys, fetched from its JWKS endpoint and kept in memory.

Fetched at start (`warm_up`, which readiness waits for, bounded), so the first check never fetches keys inside
Envoy's ext_authz timeout. Refetched in the background when older than the refresh period, and at once
(single-flight) when a token names an unknown `kid`. Those refetches draw on a budget that allows a small burst
(`refetch_burst`, default 3) and refills one fetch per `refetch_refill` seconds, so a key rotation is picked up
at once while a stream of tokens with made-up `kid`s cannot turn the adapter into a load generator against the
key manager. When the budget is spent, `key()` raises `KeysThrottled`: the token is refused for now, but it is not
known to be invalid, so it must not be cached as rejected. Known keys are kept when the endpoint fails, so a brief
key manager outage does not reject tokens signed with keys we already have.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import jwt

from .. import errors, metrics, tracing
from ..errors import Unavailable
from ..http_client import HttpClient
from ..singleflight import SingleFlight
from . import TokenRejected

log = logging.getLogger(__name__)
MAX_JWKS_BYTES = 1 << 20


class KeysThrottled(TokenRejected):
    """The token names a key we do not have and the refetch budget is spent. Refuse the request (401), but do not
    cache the refusal: once the budget refills, the same token may well be valid."""

    def __init__(self, key_manager: str):
        super().__init__(
            errors.INVALID, f"signing key unknown and JWKS refetch budget of {key_manager} spent", cacheable=False
        )


class RefetchBudget:
    """A token bucket: `burst` fetches at once, then one more every `refill` seconds."""

    def __init__(self, burst: int, refill: float, clock: Callable[[], float]):
        self.burst, self.refill, self.clock = burst, refill, clock
        self._tokens, self._at = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        if self.refill > 0:
            self._tokens = min(self.burst, self._tokens + (now - self._at) / self.refill)
        else:
            self._tokens = float(self.burst)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class JwksCache:
    def __init__(
        self,
        name: str,
        uri: str,
        client: HttpClient,
        refresh: float = 600,
        refetch_refill: float = 10,
        refetch_burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name, self.uri, self.client = name, uri, client
        self.refresh, self.clock = refresh, clock
        self.budget = RefetchBudget(refetch_burst, refetch_refill, clock)
        self.keys: dict[str | None, jwt.PyJWK] = {}
        self.fetched_at: float | None = None  # last successful fetch
        self.attempted_at = float("-inf")  # last attempt, successful or not
        self._fetches: SingleFlight[None, None] = SingleFlight()
        metrics.JWKS_LOADED.labels(name).set(0)

    @property
    def loaded(self) -> bool:
        return self.fetched_at is not None

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key for kid (or the only key when the token names none); None when the key manager has none.

        Raises Unavailable when no JWKS was ever fetched, KeysThrottled when the key is unknown and the refetch
        budget is spent."""
        now = self.clock()
        found = self._lookup(kid)
        if found is not None:
            stale = self.fetched_at is not None and now - self.fetched_at > self.refresh
            if stale and now - self.attempted_at > self.budget.refill:
                self.fetch_in_background()
            return found
        running = self._fetches.running(None)
        if running is not None:
            await asyncio.shield(running)  # a fetch is under way: its answer is as fresh as ours would be
        elif self.budget.take():
            await self._fetch()
        elif self.loaded:
            raise KeysThrottled(self.name)
        found = self._lookup(kid)
        if found is None and not self.loaded:
            raise Unavailable(f"no JWKS from key manager {self.name}")
        return found

    async def warm_up(self, within: float, retry_every: float = 1.0) -> bool:
        """Fetch the keys until loaded, for at most `within` seconds (a key manager starting alongside us may
        refuse the first attempts); True when they are loaded. Does not draw on the refetch budget."""
        try:
            async with asyncio.timeout(within):
                while not self.loaded:
                    await self._fetch()
                    if not self.loaded:
                        await asyncio.sleep(retry_every)
        except TimeoutError:
            pass  # the fetch under way goes on in the background
        return self.loaded

    def known(self, kid: str | None) -> jwt.PyJWK | None:
        """The key for kid if it is already here and fresh enough to use without asking the key manager."""
        if self.fetched_at is None or self.clock() - self.fetched_at > self.refresh:
            return None  # time for the background refresh, which only `key` starts
        return self._lookup(kid)

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return self.keys.get(kid)

    def fetch_in_background(self) -> None:
        self._fetches.start(None, self._fetch_once)

    async def _fetch(self) -> None:
        await self._fetches.do(None, self._fetch_once)

    @tracing.traced("JWKS fetch", lambda self: {"apim.key_manager": self.name, "url.full": self.uri})
    async def _fetch_once(self) -> None:
        self.attempted_at = self.clock()
        try:
            keys = await self.load()
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            metrics.JWKS_FETCHES.labels(self.name, "error").inc()
            log.warning(
                "JWKS fetch failed; keeping %d known keys",
                len(self.keys),
                extra={"key_manager": self.name, "error": str(exc)},
            )
            return
        metrics.JWKS_FETCHES.labels(self.name, "success").inc()
        self.keys, self.fetched_at = keys, self.clock()
        metrics.JWKS_LOADED.labels(self.name).set(1)
        log.info("JWKS loaded", extra={"key_manager": self.name, "keys": len(keys)})

    async def load(self) -> dict[str | None, jwt.PyJWK]:
        """The key manager's signing keys, fetched now (not kept: `_fetch_once` keeps them); raises what failed."""
        return self._parse(await self.client.get_json(self.uri, max_bytes=MAX_JWKS_BYTES))

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


async def warm_up(caches: Iterable[JwksCache], within: float) -> bool:
    """Fetch every key manager's JWKS at once, waiting at most `within` seconds in all; True when all are loaded.

    Readiness waits for this. When it gives up, the adapter turns ready anyway (a key manager that is down must not
    keep the whole gateway closed): each missing one is logged, `apim_adapter_jwks_loaded{key_manager}` stays 0,
    and its first token fetches the keys (or answers Unavailable)."""
    caches = list(caches)
    loaded = await asyncio.gather(*(cache.warm_up(within) for cache in caches))
    for cache, ok in zip(caches, loaded, strict=True):
        if not ok:
            log.warning(
                "JWKS not loaded at start; turning ready without it",
                extra={"key_manager": cache.name, "waited_seconds": within},
            )
    return all(loaded)
