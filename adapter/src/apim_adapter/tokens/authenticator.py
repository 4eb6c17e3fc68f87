"""Turns a bearer token into a Principal: cached by SHA-256, JWTs by issuer, opaque tokens by introspection."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from .. import errors, metrics
from ..config import KeyManager
from ..errors import TokenNotCached
from ..http_client import HttpClient
from . import Principal, TokenRejected, fingerprint
from .jwks import JwksCache
from .jwt import JwtValidator, route

NEGATIVE_TTL = 10.0
CACHE_HIT, CACHE_MISS = metrics.TOKEN_CACHE.labels("hit"), metrics.TOKEN_CACHE.labels("miss")


class TokenCache:
    """Validated tokens until they expire, and rejected ones for a few seconds; bounded, oldest out first."""

    def __init__(self, max_entries: int = 100_000):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal | TokenRejected]] = OrderedDict()
        self._lock = threading.Lock()  # gRPC worker threads and the event loop share it

    def get(self, key: str, now: float) -> Principal | TokenRejected | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        until, value = entry
        if now >= until:
            with self._lock:
                self._entries.pop(key, None)
            if isinstance(value, Principal):
                return TokenRejected(errors.EXPIRED, "expired")
            return None
        return value

    def put(self, key: str, value: Principal | TokenRejected, until: float) -> None:
        with self._lock:
            self._entries[key] = (until, value)
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class Authenticator:
    def __init__(self, key_managers: Iterable[KeyManager] = (), introspector_factory=None):
        self.cache = TokenCache()
        self._clients: dict[str | None, HttpClient] = {}
        self._jwks: dict[tuple[str, str], JwksCache] = {}
        self._introspector_factory = introspector_factory
        self._introspectors: dict[str, object] = {}
        self.by_issuer: dict[str, JwtValidator] = {}
        self.update(key_managers)

    def update(self, key_managers: Iterable[KeyManager]) -> None:
        """Swap in a new set of key managers, keeping the JWKS already fetched for unchanged ones."""
        by_issuer, jwks = {}, {}
        introspectors = {}
        for km in key_managers:
            client = self._clients.setdefault(km.ca_bundle, HttpClient(km.ca_bundle))
            if km.jwks_uri:
                ident = (km.name, km.jwks_uri)
                cache = self._jwks.get(ident) or JwksCache(
                    km.name, km.jwks_uri, client, km.jwks_refresh_seconds, km.jwks_min_refetch_seconds
                )
                jwks[ident] = cache
                by_issuer[km.issuer] = JwtValidator(km, cache)
            if km.introspection is not None and self._introspector_factory is not None:
                introspectors[km.name] = self._introspectors.get(km.name) or self._introspector_factory(km, client)
        self._jwks, self.by_issuer, self._introspectors = jwks, by_issuer, introspectors

    def cached(self, token: str) -> Principal:
        """The answer for a token from the cache (also rejections); TokenNotCached when it must be validated."""
        if self._introspectors and token.count(".") != 2:
            raise TokenNotCached(token)  # the introspector keeps its own cache
        cached = self.cache.get(fingerprint(token), time.time())
        if cached is None:
            raise TokenNotCached(token)
        CACHE_HIT.inc()
        if isinstance(cached, TokenRejected):
            raise cached
        return cached

    async def authenticate(self, token: str) -> Principal:
        try:
            return self.cached(token)
        except TokenNotCached:
            pass
        if self._introspectors and token.count(".") != 2:
            return await self._introspect(token)  # the introspector caches with its own, shorter, bounds
        now = time.time()
        key = fingerprint(token)
        CACHE_MISS.inc()
        try:
            principal = await self._validate(token)
        except TokenRejected as rejected:
            self.cache.put(key, rejected, now + NEGATIVE_TTL)
            raise
        if principal.expires_at <= now:
            raise TokenRejected(errors.EXPIRED, "expired")
        self.cache.put(key, principal, principal.expires_at)
        return principal

    async def _validate(self, token: str) -> Principal:
        if token.count(".") == 2:
            header, issuer = route(token)
            validator = self.by_issuer.get(issuer) if issuer else None
            if validator is None:
                raise TokenRejected(errors.INVALID, "unknown issuer")
            return await validator.validate(token, header)
        if self._introspectors:
            return await self._introspect(token)
        raise TokenRejected(errors.INVALID, "not a JWT")

    async def _introspect(self, token: str) -> Principal:
        inactive: TokenRejected | None = None
        for introspector in self._introspectors.values():
            try:
                return await introspector.introspect(token)
            except TokenRejected as rejected:
                inactive = rejected
        assert inactive is not None
        raise inactive

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
