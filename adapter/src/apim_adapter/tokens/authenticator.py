"""Turns a bearer token into a Principal: cached by SHA-256, JWTs by issuer, opaque tokens by introspection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from .. import errors, metrics
from ..cache import TtlCache
from ..config import KeyManager
from ..http_client import HttpClient
from . import Principal, Rejection, TokenRejected
from .api_key import ApiKeyValidator, referers_size
from .introspection import Introspector
from .jwks import JwksCache
from .jwt import JwtValidator, route

NEGATIVE_TTL = 10.0
CACHE_HIT, CACHE_MISS = (metrics.TOKEN_CACHE, "hit"), (metrics.TOKEN_CACHE, "miss")  # keys of the tally


def principal_size(token: str) -> int:
    """What a cached Principal costs, roughly: its claims are the decoded payload, about the token's length."""
    return 2 * len(token) + 512


class TokenCache:
    """Validated tokens until they expire, and costly rejections for a few seconds: two caches with their own
    bounds, so that floods of bad tokens can neither grow memory nor push out the good ones."""

    def __init__(
        self,
        max_entries: int = 50_000,
        max_bytes: int = 64 << 20,
        max_rejections: int = 10_000,
        max_rejection_bytes: int = 4 << 20,
    ):
        self.valid: TtlCache[str, Principal] = TtlCache(max_entries, max_bytes)
        self.rejected: TtlCache[str, Rejection] = TtlCache(max_rejections, max_rejection_bytes)

    def get(self, key: str, now: float) -> Principal | Rejection | None:
        found = self.valid.entry(key)
        if found is not None:
            until, principal = found
            if now < until:
                return principal
            self.valid.pop(key)
            return expired(principal)
        return self.rejected.get(key, now)

    def put(self, key: str, principal: Principal, token: str) -> None:
        size = principal_size(token)
        if principal.api_key is not None:  # its referers, compiled for Python's engine, can weigh more than the key
            size += referers_size(principal.api_key)
        self.valid.put(key, principal, principal.expires_at, size)

    def reject(self, key: str, rejection: Rejection, now: float) -> None:
        self.rejected.put(key, rejection, now + NEGATIVE_TTL, len(rejection.reason))

    def rejected_now(self, key: str, rejected: TokenRejected, now: float) -> Rejection:
        """A validator's rejection as answered, remembered for a few seconds where it cost real work."""
        if rejected.cacheable:
            self.reject(key, rejected.rejection, now)
        return rejected.rejection

    def __len__(self) -> int:
        return len(self.valid) + len(self.rejected)

    def clear(self) -> None:
        self.valid.clear()
        self.rejected.clear()


# An expired credential, as APIM 4.5's gateway answers each kind: API_AUTH_INVALID_CREDENTIALS (900901), never
# 900903. A JWT: JWTValidatorImpl.validateToken and, for one it validated before, JWTValidator.checkTokenExpiration,
# thrown by JWTValidator.authenticate in getAuthenticationFailureMessage's words; an API key:
# ApiKeyAuthenticatorUtils.checkTokenExpired, in the same words; an opaque token: the key manager's validation
# (DefaultKeyValidationHandler), in OAuthAuthenticator's words for the API called, as the introspector's own.
EXPIRED = Rejection(errors.INVALID, "expired")
EXPIRED_OPAQUE = Rejection(errors.INVALID, "expired", access_failure=True)


def expired(principal: Principal) -> Rejection:
    """The answer for a principal past its expiry, in the words of the authenticator that took it."""
    return EXPIRED_OPAQUE if principal.introspected else EXPIRED


UNKNOWN_ISSUER = Rejection(errors.INVALID, "unknown issuer")
# OAuthAuthenticator.authenticate guesses a JWT by a dot and refuses one that Java's `split("\\.")` does not cut into
# three parts ("Invalid JWT token", API_AUTH_INVALID_CREDENTIALS) before any key manager is asked: such a token is
# never introspected.
NOT_THREE_PARTS = Rejection(errors.INVALID, "a JWT not in three parts")


def _not_three_parts(token: str) -> bool:
    """Whether OAuthAuthenticator refuses the token as a JWT of the wrong shape: it has a dot, and Java's split,
    which drops trailing empty parts (`a.b.` is two), does not give three. (Counted first: a JWT's two dots decide it
    without splitting the token on every check.)"""
    dots = token.count(".")
    if dots < 2:
        return dots == 1
    if dots == 2:
        return token.endswith(".")  # `a.b.`, `a..`: an empty last part, dropped
    parts = token.split(".")
    while parts and not parts[-1]:
        parts.pop()
    return len(parts) != 3


NO_API_KEYS = Rejection(errors.INVALID, "API keys are not accepted")


class Authenticator:
    def __init__(
        self,
        key_managers: Iterable[KeyManager] = (),
        introspector_factory=None,
        api_keys: ApiKeyValidator | None = None,
    ):
        self.cache = TokenCache()
        self.api_keys = api_keys
        self._clients: dict[str | None, HttpClient] = {}
        self._jwks: dict[tuple[str, str], JwksCache] = {}
        self._introspector_factory = introspector_factory
        self._introspectors: dict[str, Introspector] = {}
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
                cache = self._jwks.get(ident)
                if cache is None:
                    cache = JwksCache(
                        km.name, km.jwks_uri, client, km.jwks_refresh_seconds, km.jwks_min_refetch_seconds,
                        km.jwks_refetch_burst,
                    )  # fmt: skip
                    self._fetch_soon(cache)
                jwks[ident] = cache
                by_issuer[km.issuer] = JwtValidator(km, cache)
            if km.introspection is not None and self._introspector_factory is not None:
                introspectors[km.name] = self._introspectors.get(km.name) or self._introspector_factory(km, client)
        self._jwks, self.by_issuer, self._introspectors = jwks, by_issuer, introspectors

    def jwks_caches(self) -> list[JwksCache]:
        return list(self._jwks.values())

    def introspectors(self) -> list[Introspector]:
        return list(self._introspectors.values())

    @staticmethod
    def _fetch_soon(cache: JwksCache) -> None:
        """A key manager learned while serving (from APIM) gets its keys before its first token needs them;
        at start, `Adapter.serve` warms them all and readiness waits for it."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet
        cache.fetch_in_background()

    def lookup(self, token: str, token_sha256: str, now: float) -> Principal | Rejection | None:
        """The answer for a token without I/O: cached, or verified here with keys already fetched (a rejection
        too); None when the key manager must be asked (keys to fetch, introspection)."""
        if _not_three_parts(token):
            return NOT_THREE_PARTS
        if self._introspectors and token.count(".") != 2:
            for introspector in self._introspectors.values():
                found = introspector.cached(token_sha256, now)
                if isinstance(found, Principal):
                    return found
            return None  # asked again: an opaque token may be active at another key manager
        cached = self.cache.get(token_sha256, now)
        metrics.count(CACHE_MISS if cached is None else CACHE_HIT)
        return self._verify_now(token, token_sha256, now) if cached is None else cached

    def lookup_api_key(self, key: str, key_sha256: str, now: float) -> Principal | Rejection:
        """An APIM API key's answer, never I/O: cached, or verified here with APIM's certificates. Cached apart from
        bearer tokens, so that a string accepted as one kind of credential is never taken for the other."""
        if self.api_keys is None:
            return NO_API_KEYS
        cache_key = "apikey:" + key_sha256
        cached = self.cache.get(cache_key, now)
        metrics.count(CACHE_MISS if cached is None else CACHE_HIT)
        if cached is not None:
            return cached
        try:
            principal = self.api_keys.validate(key, now)
        except TokenRejected as rejected:
            return self.cache.rejected_now(cache_key, rejected, now)
        return self._remember(key, cache_key, principal, now)

    def kept_until_expiry(self, token: str) -> bool:
        """Whether this token's answer holds until its expiry: a JWT's (an introspected token's is re-asked
        after its introspection cache's own time)."""
        return not self._introspectors or token.count(".") == 2

    def _verify_now(self, token: str, token_sha256: str, now: float) -> Principal | Rejection | None:
        """A JWT whose signing key is already here is verified on the spot (CPU only, on the calling thread):
        only a token that needs the key manager (keys to fetch, introspection) goes to the event loop."""
        try:
            header, issuer = route(token)
            validator = self.by_issuer.get(issuer) if issuer else None
            if validator is None:
                return UNKNOWN_ISSUER
            principal = validator.validate_now(token, header)
        except TokenRejected as rejected:
            return self.cache.rejected_now(token_sha256, rejected, now)
        if principal is None:
            return None
        return self._remember(token, token_sha256, principal, now)

    def _remember(self, token: str, token_sha256: str, principal: Principal, now: float) -> Principal | Rejection:
        if principal.expires_at <= now:
            return expired(principal)
        self.cache.put(token_sha256, principal, token)
        return principal

    async def verify(self, token: str, token_sha256: str) -> Principal | Rejection:
        """Validate a token (JWKS, introspection), remember the answer, and return it.

        A key manager that cannot answer raises errors.Unavailable: an error, never a rejection."""
        now = time.time()
        try:
            principal = await self._validate(token)
        except TokenRejected as rejected:
            if token.count(".") != 2:  # an introspector keeps its own answers
                return rejected.rejection
            return self.cache.rejected_now(token_sha256, rejected, now)
        if token.count(".") != 2:  # an introspected token is cached by its introspector, with its own bounds
            return expired(principal) if principal.expires_at <= now else principal
        return self._remember(token, token_sha256, principal, now)

    async def _validate(self, token: str) -> Principal:
        if _not_three_parts(token):
            raise TokenRejected(NOT_THREE_PARTS.error, NOT_THREE_PARTS.reason)
        if token.count(".") == 2 or not self._introspectors:
            header, issuer = route(token)
            validator = self.by_issuer.get(issuer) if issuer else None
            if validator is None:
                raise TokenRejected(UNKNOWN_ISSUER.error, UNKNOWN_ISSUER.reason)
            return await validator.validate(token, header)
        return await self._introspect(token)

    async def _introspect(self, token: str) -> Principal:
        inactive: TokenRejected | None = None
        for introspector in self._introspectors.values():
            try:
                return await introspector.introspect(token)
            except TokenRejected as rejected:
                inactive = rejected
        assert inactive is not None
        raise inactive

    def forget(self, token_sha256: str) -> None:
        """A token revoked through APIM: drop every cached answer for it (it is denied by its hash anyway)."""
        self.cache.valid.pop(token_sha256)
        for introspector in self._introspectors.values():
            introspector.forget(token_sha256)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
