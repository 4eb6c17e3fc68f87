"""Opaque access tokens: RFC 7662 introspection at the key manager (WSO2 IS 7: POST /oauth2/introspect).

Answers are cached by the token's SHA-256: active tokens until min(exp, now + cacheSeconds), inactive ones for
negativeCacheSeconds. Concurrent checks of one token share one call. A key manager that cannot answer is an
error (errors.Unavailable, so Envoy's failOpen/statusOnError decide), never a deny; tokens already cached as
active stay valid through the outage until their cache entry ends.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from .. import errors, tracing
from ..cache import TtlCache
from ..config import KeyManager
from ..errors import Unavailable
from ..http_client import HttpClient
from ..secrets import read_secret
from ..singleflight import SingleFlight
from . import Principal, Rejection, TokenRejected, fingerprint, scopes_of

MAX_RESPONSE_BYTES = 64 << 10


class Introspector:
    def __init__(
        self,
        km: KeyManager,
        client: HttpClient,
        max_entries: int = 50_000,
        max_inactive: int = 10_000,
        clock: Callable[[], float] = time.time,
    ):
        assert km.introspection is not None
        self.km, self.client, self.clock = km, client, clock
        self.settings = km.introspection
        # Active and inactive answers are bounded apart: a flood of made-up opaque tokens (each one an inactive
        # answer) must not evict the tokens of real callers, nor grow memory.
        self._active: TtlCache[str, Principal] = TtlCache(max_entries, 64 << 20)
        self._inactive: TtlCache[str, Rejection] = TtlCache(max_inactive, 4 << 20)
        self._calls: SingleFlight[str, Principal] = SingleFlight()
        self._auth: str | None = None

    def _authorization(self) -> str:
        """HTTP Basic credentials (an IS user's name and password, or a client's id and secret), read on first use so
        that a rotated secret file is picked up on restart."""
        if self._auth is None:
            pair = f"{read_secret(self.settings.client_id_file)}:{read_secret(self.settings.client_secret_file)}"
            self._auth = "Basic " + base64.b64encode(pair.encode()).decode()
        return self._auth

    def cached(self, token_sha256: str, now: float) -> Principal | Rejection | None:
        """This key manager's last answer for the token while it holds; None when it must be asked."""
        return self._active.get(token_sha256, now) or self._inactive.get(token_sha256, now)

    async def introspect(self, token: str) -> Principal:
        key = fingerprint(token)
        found = self.cached(key, self.clock())
        if isinstance(found, Rejection):
            raise TokenRejected(found.error, found.reason)
        if found is not None:
            return found
        return await self._calls.do(key, lambda: self._call(token, key))

    @tracing.traced("token introspection", lambda self, *_: {"apim.key_manager": self.km.name})
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
            if exc.status in (401, 403):
                # The likeliest cause on a stock IS 7: a client id and secret where IS, by default, takes only a
                # user's name and password (docs/wso2-control-plane.md, "Opaque tokens: introspection").
                raise Unavailable(
                    f"introspection at {self.km.name} refused the adapter's credentials (HTTP {exc.status}): IS 7 "
                    "takes a user whose role grants internal_oauth2_introspect, or a client only where its "
                    "deployment.toml allows BasicClientAuthentication there"
                ) from exc
            raise Unavailable(f"introspection at {self.km.name} answered HTTP {exc.status}") from exc
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            raise Unavailable(f"introspection at {self.km.name} failed: {type(exc).__name__}") from exc
        now = self.clock()
        try:
            principal = self._principal(body, now)
        except TokenRejected as rejected:
            self._inactive.put(key, rejected.rejection, now + self.settings.negative_cache_seconds)
            raise
        until = min(principal.expires_at, now + self.settings.cache_seconds)
        self._active.put(key, principal, until, 2 * len(token) + 512)
        return principal

    def forget(self, token_sha256: str) -> None:
        """A revoked opaque token: its cached answer goes at once."""
        self._active.pop(token_sha256)

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
