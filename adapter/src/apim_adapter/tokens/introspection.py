"""Opaque access tokens: RFC 7662 introspection at the key manager (WSO2 IS 7: POST /oauth2/introspect).

Answers are cached by the token's SHA-256: active tokens until min(exp, now + cacheSeconds), inactive ones for
negativeCacheSeconds. Concurrent checks of one token share one call. A key manager that cannot answer is an
error (errors.Unavailable, so Envoy's failOpen/statusOnError decide), never a deny; tokens already cached as
active stay valid through the outage until their cache entry ends.

The adapter authenticates as `authentication` says: `basic` sends the configured pair as HTTP Basic; `bearer` asks
`tokenUrl` for a client-credentials token with `tokenScope` and sends it as a Bearer token, the way IS 7's own
integration tests introspect (product-is `OAuth2TokenRevocationAfterAccountDisablingTestCase`: an application
authorized for the "/oauth2/introspect" system API, a token with `internal_oauth2_introspect`). IS's
AuthorizationValve answers a caller it authenticated but who lacks that scope 403, an unknown one 401.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from .. import errors, tracing
from ..cache import TtlCache
from ..config import KeyManager
from ..errors import Unavailable
from ..http_client import HttpClient, basic_authorization
from ..oauth_token import HeldToken
from ..secrets import read_secret
from ..singleflight import SingleFlight
from . import Principal, Rejection, TokenRejected, fingerprint, scopes_of

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 << 10
RENEW_REFUSED_SECONDS = 10.0  # a refused Bearer token is replaced when held this long, so at most this often
REFRESH_TOKEN_TYPE = "refresh"  # noqa: S105 - a token type, not a secret; APIConstants.REFRESH_TOKEN_TYPE, folded


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
        self._basic: str | None = None
        self._bearer = HeldToken(self._client_credentials, clock) if self.settings.authentication == "bearer" else None

    def _pair(self) -> str:
        """The configured pair as HTTP Basic, read on first use so that a rotated secret file is picked up on
        restart."""
        if self._basic is None:
            user, secret = read_secret(self.settings.client_id_file), read_secret(self.settings.client_secret_file)
            self._basic = basic_authorization(user, secret)
        return self._basic

    async def _authorization(self) -> str:
        if self._bearer is None:
            return self._pair()
        return f"Bearer {await self._bearer.get()}"

    async def _client_credentials(self) -> dict[str, Any]:
        """The token endpoint's answer for the adapter's own client (RFC 6749 §4.4), checked to carry the scope:
        IS drops a scope the application is not authorized for and issues the token all the same."""
        url, wanted = self.settings.token_url, self.settings.token_scope
        assert url is not None  # the config requires it with bearer
        try:
            issued = await self.client.request_json(
                "POST",
                url,
                MAX_RESPONSE_BYTES,
                data={"grant_type": "client_credentials", "scope": wanted},
                headers={"Authorization": self._pair(), "Accept": "application/json"},
            )
        except aiohttp.ClientResponseError as exc:
            raise Unavailable(
                f"token for introspection at {self.km.name}: the token endpoint answered HTTP {exc.status} to the "
                "client in clientIdFile/clientSecretFile"
            ) from exc
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            raise Unavailable(f"token for introspection at {self.km.name} failed: {type(exc).__name__}") from exc
        if not isinstance(issued, dict):
            raise Unavailable(f"token for introspection at {self.km.name}: not a JSON object")
        granted = issued.get("scope")  # RFC 6749 §5.1: left out when it is the scope asked for
        missing = set(wanted.split()) - set(granted.split()) if isinstance(granted, str) else set()
        if missing:
            raise Unavailable(
                f"token for introspection at {self.km.name} was issued without {' '.join(sorted(missing))}: authorize "
                "the application for IS's OAuth2 Introspection API"
            )
        return issued

    async def warm_up(self, within: float) -> bool:
        """With `bearer`, the adapter's token asked for before the first opaque token needs it, for at most `within`
        seconds, so that a client IS refuses shows in the log at start; True when held (always with `basic`, which
        IS only judges on a call)."""
        if self._bearer is None:
            return True
        try:
            async with asyncio.timeout(within):
                await self._bearer.get()
        except (Unavailable, TimeoutError, ValueError) as exc:
            log.warning(
                "introspection token not obtained at start; each opaque token asks again",
                extra={"key_manager": self.km.name, "error": str(exc) or type(exc).__name__},
            )
            return False
        log.info("introspection token obtained", extra={"key_manager": self.km.name})
        return True

    def cached(self, token_sha256: str, now: float) -> Principal | Rejection | None:
        """This key manager's last answer for the token while it holds; None when it must be asked."""
        return self._active.get(token_sha256, now) or self._inactive.get(token_sha256, now)

    async def introspect(self, token: str) -> Principal:
        key = fingerprint(token)
        found = self.cached(key, self.clock())
        if isinstance(found, Rejection):
            raise TokenRejected(found.error, found.reason, access_failure=found.access_failure)
        if found is not None:
            return found
        return await self._calls.do(key, lambda: self._call(token, key))

    @tracing.traced("token introspection", lambda self, *_: {"apim.key_manager": self.km.name})
    async def _call(self, token: str, key: str) -> Principal:
        body = await self._ask(token)
        now = self.clock()
        try:
            principal = self._principal(body, now)
        except TokenRejected as rejected:
            self._inactive.put(key, rejected.rejection, now + self.settings.negative_cache_seconds)
            raise
        until = min(principal.expires_at, now + self.settings.cache_seconds)
        self._active.put(key, principal, until, 2 * len(token) + 512)
        return principal

    async def _ask(self, token: str) -> Any:
        """The introspection answer. A Bearer token IS refuses is dropped if held RENEW_REFUSED_SECONDS or more, so
        the next call asks for a new one (after a 401, this call at once: the token was revoked at IS); a token
        refused just after it was issued is kept, so that a refusal a new token would not cure does not cost a
        token request on every check."""
        for attempt in (1, 2):
            try:
                return await self.client.request_json(
                    "POST",
                    self.settings.url,
                    MAX_RESPONSE_BYTES,
                    data={"token": token, "token_type_hint": "access_token"},
                    headers={"Authorization": await self._authorization(), "Accept": "application/json"},
                )
            except aiohttp.ClientResponseError as exc:
                if exc.status in (401, 403) and self._bearer is not None:
                    renewed = self._bearer.forget(held_for=RENEW_REFUSED_SECONDS)
                    if renewed and exc.status == 401 and attempt == 1:
                        continue
                raise self._refused(exc.status) from exc
            except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
                raise Unavailable(f"introspection at {self.km.name} failed: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    def _refused(self, status: int) -> Unavailable:
        refused = f"introspection at {self.km.name} refused the adapter's"
        if status not in (401, 403):
            return Unavailable(f"introspection at {self.km.name} answered HTTP {status}")
        if self._bearer is not None and status == 403:
            # IS authenticated the token but found no internal_oauth2_introspect in it. IS leaves `scope` out of a
            # token answer granting none (Oltu's JSON builder skips an empty value), so this is where an application
            # not authorized for the API shows.
            return Unavailable(
                f"{refused} token (HTTP 403): a token with {self.settings.token_scope} is needed: authorize the "
                "application for IS's OAuth2 Introspection API"
            )
        if self._bearer is not None:
            return Unavailable(f"{refused} token (HTTP 401): IS does not know it (is tokenUrl the same IS?)")
        # The likeliest cause on a stock IS 7: a client id and secret where IS, by default, takes only a user's name
        # and password (docs/wso2-control-plane.md, "Opaque tokens: introspection").
        return Unavailable(
            f"{refused} credentials (HTTP {status}): IS 7 takes a user whose role grants internal_oauth2_introspect, "
            "or a client only where its deployment.toml allows BasicClientAuthentication there (or use "
            "authentication: bearer)"
        )

    def forget(self, token_sha256: str) -> None:
        """A revoked opaque token: its cached answer goes at once."""
        self._active.pop(token_sha256)

    def _principal(self, body: Any, now: float) -> Principal:
        if not isinstance(body, dict):
            raise Unavailable(f"introspection at {self.km.name}: not a JSON object")
        # The key manager's validation (WSO2IS7KeyManager.getTokenMetaData, as AMDefaultKeyManagerImpl's): an inactive
        # token is API_AUTH_INVALID_CREDENTIALS, and so is one found expired (DefaultKeyValidationHandler).
        if body.get("active") is not True:
            raise TokenRejected(errors.INVALID, "inactive", access_failure=True)
        # AMDefaultKeyManagerImpl.getTokenMetaData: an answer whose token_type is APIConstants.REFRESH_TOKEN_TYPE
        # ("Refresh", equalsIgnoreCase; casefold takes the same spellings of it, the long s too) is refused as an
        # inactive one. IS answers active for a valid refresh token: it must not pass for an access token.
        token_type = body.get("token_type")
        if isinstance(token_type, str) and token_type.casefold() == REFRESH_TOKEN_TYPE:
            raise TokenRejected(errors.INVALID, "a refresh token", access_failure=True)
        exp = body.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            exp = now + self.settings.cache_seconds  # RFC 7662: exp is optional
        if exp <= now:
            raise TokenRejected(errors.INVALID, "expired", access_failure=True)
        consumer_key = body.get(self.km.consumer_key_claim) or body.get("client_id")
        if not isinstance(consumer_key, str) or not consumer_key:
            raise TokenRejected(errors.FORBIDDEN, "no client_id in the introspection answer")
        jti = body.get("jti")
        # The end user: AMDefaultKeyManagerImpl.getTokenMetaData takes the answer's `username` (tokenInfo
        # .setEndUserName), what the gateway throttles, blocks and names in the backend JWT by; `sub` (IS may answer
        # a user ID there) only where there is no user name.
        return Principal(
            key_manager=self.km.name,
            consumer_key=consumer_key,
            scopes=scopes_of(body.get(self.km.scopes_claim, body.get("scope"))),
            subject=str(body.get("username") or body.get("sub") or ""),
            expires_at=float(exp),
            jti=jti if isinstance(jti, str) else None,
            claims={k: v for k, v in body.items() if k != "token"},
            introspected=True,
        )
