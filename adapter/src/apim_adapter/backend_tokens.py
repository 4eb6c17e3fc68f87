"""The access tokens of OAuth-secured backends (APIM's OAuth endpoint security: endpoint_security.OAuthEndpoint).

APIM's gateway gets one from the endpoint's token URL the first time a call is sent there, keeps it
(`TokenCache`, by the endpoint's unique identifier) and gets a new one once it has a second or less left, on the
call that finds it so (carbon-apimgt 9.31.86 `gateway/mediators/oauth/OAuthTokenGenerator.generateToken`). The
request is `OAuthClient.generateToken`'s: a POST with `Authorization: Basic base64(clientId:clientSecret)` and a
form body `grant_type=client_credentials`, or `grant_type=password&username=&password=` (URL-encoded), or, for a
password grant holding a refresh token, `grant_type=refresh_token&refresh_token=` (a 400 to it: the password grant
again), then the endpoint's custom parameters as `&key=value`; the answer must be 200 with `access_token`, and
`expires_in` sets its lifetime (a client credentials grant keeps no refresh token, RFC 6749 4.4.3).

The adapter cannot wait for a token on a check, so it gets each token ahead: for every OAuth endpoint of the serving
catalog as soon as the catalog names it, again at 80% of its lifetime, and, after a failure, with a backoff of 1 s
doubling to 30 s, keeping the token it holds until that one expires. A token answered without `expires_in` is
taken again every minute (APIM takes a new one on every call then), one with an `expires_in` under a second is
kept for a second. Where there is no token, a call is sent without one, as APIM's mediator sends it when its token
request failed: the backend refuses it, and the failure is logged and counted
(`apim_adapter_backend_token_fetches_total{result="failed"}`). Tokens are kept in memory only, never logged; an
endpoint the catalog no longer names is forgotten with its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from . import metrics
from .endpoint_security import CLIENT_CREDENTIALS, PASSWORD, OAuthEndpoint
from .http_client import ANY_STATUS, HttpClient, basic_authorization

log = logging.getLogger("apim_adapter")

MAX_ANSWER_BYTES = 64 << 10  # a token endpoint's answer: a token and its fields
REFRESH_AT = 0.8  # of a token's lifetime
UNSTATED_LIFETIME = 60.0  # seconds, for a token answered without expires_in
# Seconds a token is kept at least: one answered with a shorter (or no, or a negative) lifetime is sent for a second,
# rather than asked for again and again (APIM's gateway would ask for one on every call).
SHORTEST_LIFETIME = 1.0
FIRST_RETRY, LAST_RETRY = 1.0, 30.0  # seconds between failed attempts: doubling from the first to the last
FETCHES_AT_ONCE = 4


class TokenRefused(Exception):
    """The token endpoint did not give a token (its status, or what was wrong with its answer)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Token:
    access: str = field(repr=False)
    expires_at: float  # when it stops being sent
    refresh_at: float  # when the next is asked for
    refresh: str | None = field(default=None, repr=False)  # a password grant's refresh token


def token_form(endpoint: OAuthEndpoint, refresh: str | None) -> str:
    """OAuthClient.generateToken's form body (its custom parameters URL-encoded here, where APIM appends them
    as written)."""
    if endpoint.grant_type == CLIENT_CREDENTIALS:
        form: list[tuple[str, str]] = [("grant_type", "client_credentials")]
    elif refresh is not None:
        form = [("grant_type", "refresh_token"), ("refresh_token", refresh)]
    else:
        form = [("grant_type", "password"), ("username", endpoint.username), ("password", endpoint.password)]
    return urlencode(form + list(endpoint.custom_parameters))


def read_answer(body: bytes, now: float) -> Token:
    """OAuthClient.getTokenResponse: the token of a 200's JSON body, its lifetime from `expires_in`."""
    try:
        answer: Any = json.loads(body)
    except ValueError:
        raise TokenRefused("the answer is not JSON") from None
    access = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(access, str) or not access:
        raise TokenRefused("the answer has no access_token")
    if not access.isprintable():  # it becomes a header line: no CR, LF or NUL
        raise TokenRefused("the access_token is not one printable line")
    lifetime = UNSTATED_LIFETIME
    expires_in = answer.get("expires_in")
    if expires_in is not None:
        try:
            lifetime = float(int(str(expires_in)))  # Long.parseLong(expires_in.toString())
        except ValueError:
            raise TokenRefused("expires_in is not a whole number") from None
    lifetime = max(lifetime, SHORTEST_LIFETIME)
    refresh = answer.get("refresh_token")
    return Token(access, now + lifetime, now + lifetime * REFRESH_AT, refresh if isinstance(refresh, str) else None)


async def request_token(client: HttpClient, endpoint: OAuthEndpoint, refresh: str | None, now: float) -> Token:
    """A token from the endpoint's token URL; TokenRefused, or aiohttp's and asyncio's errors when it cannot be
    asked."""
    headers = {"Authorization": basic_authorization(endpoint.client_id, endpoint.client_secret),
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    form = token_form(endpoint, refresh)
    status, _, body = await client.post_bytes(endpoint.token_url, form.encode(), MAX_ANSWER_BYTES,
                                              accept=ANY_STATUS, headers=headers)  # fmt: skip
    if status == 400 and refresh is not None:  # the refresh token expired: the password grant again
        return await request_token(client, endpoint, None, now)
    if status != 200:
        raise TokenRefused(f"HTTP {status}", status)
    token = read_answer(body, now)
    if endpoint.grant_type == CLIENT_CREDENTIALS and token.refresh is not None:
        token = Token(token.access, token.expires_at, token.refresh_at)  # RFC 6749 4.4.3: none for this grant
    return token


Fetch = Callable[[OAuthEndpoint, "str | None", float], Awaitable[Token]]


class BackendTokens:
    """The tokens of the endpoints the serving catalog names (`want`), got ahead by `run` on the event loop and read
    by the renderer from any thread (`current`)."""

    def __init__(
        self, fetch: Fetch | None = None, clock: Callable[[], float] = time.time, ca_bundle: str | None = None
    ):
        self._client = HttpClient(ca_bundle, timeout=10.0) if fetch is None else None
        self._fetch = fetch or self._request
        self.clock = clock
        self._tokens: dict[OAuthEndpoint, Token] = {}
        self._retry: dict[OAuthEndpoint, tuple[float, float]] = {}  # endpoint → (when to try again, backoff)
        self._wanted: frozenset[OAuthEndpoint] = frozenset()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The endpoints of the first catalog not yet asked once (None: no catalog yet): the adapter turns ready
        # once each has its token or its first failure, so that the first calls after a start carry one.
        self._first: set[OAuthEndpoint] | None = None
        self.on_first_round: Callable[[], None] = lambda: None

    @property
    def first_round_done(self) -> bool:
        """Whether every endpoint of the first catalog has been asked for its token once."""
        return self._first is not None and not self._first

    async def _request(self, endpoint: OAuthEndpoint, refresh: str | None, now: float) -> Token:
        assert self._client is not None
        return await request_token(self._client, endpoint, refresh, now)

    def current(self, endpoint: OAuthEndpoint, now: float) -> Token | None:
        """The endpoint's token while it is valid, else None."""
        token = self._tokens.get(endpoint)
        return token if token is not None and now < token.expires_at else None

    def want(self, endpoints: Iterable[OAuthEndpoint]) -> None:
        """The endpoints of the catalog now serving: tokens are got for new ones, and forgotten for the others."""
        self._wanted = frozenset(endpoints)
        if self._first is None:
            self._first = set(self._wanted)
            if not self._first:
                self.on_first_round()
        for gone in [e for e in self._tokens if e not in self._wanted]:
            self._tokens.pop(gone, None)
        for gone in [e for e in self._retry if e not in self._wanted]:
            self._retry.pop(gone, None)
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def due(self, now: float) -> tuple[list[OAuthEndpoint], float]:
        """The endpoints whose token is to be asked for now, and when the next one is due (inf: none)."""
        due, later = [], float("inf")
        for endpoint in self._wanted:
            retry = self._retry.get(endpoint)
            token = self._tokens.get(endpoint)
            at = retry[0] if retry is not None else token.refresh_at if token is not None else now
            if at <= now:
                due.append(endpoint)
            else:
                later = min(later, at)
        return due, later

    async def get(self, endpoint: OAuthEndpoint) -> None:
        """Ask for the endpoint's token once; after a failure, schedule the next attempt."""
        try:
            await self._get(endpoint)
        finally:
            if self._first:
                self._first.discard(endpoint)
                if not self._first:
                    self.on_first_round()

    async def _get(self, endpoint: OAuthEndpoint) -> None:
        held = self._tokens.get(endpoint)
        now = self.clock()
        try:
            # A refresh token only for the password grant: OAuthClient drops it for client credentials.
            refresh = held.refresh if held is not None and endpoint.grant_type == PASSWORD else None
            token = await self._fetch(endpoint, refresh, now)
        except Exception as exc:  # whatever went wrong, the next attempt is scheduled and logged
            backoff = min(LAST_RETRY, self._retry[endpoint][1] * 2) if endpoint in self._retry else FIRST_RETRY
            if endpoint in self._wanted:
                self._retry[endpoint] = (self.clock() + backoff, backoff)
            metrics.BACKEND_TOKEN_FETCHES.labels("failed").inc()
            log.warning("backend token not got; calls go without one once the last expires",
                        extra={"token_url": endpoint.token_url, "client_id": endpoint.client_id,
                               "error": f"{type(exc).__name__}: {exc}"[:300], "retry_seconds": backoff})  # fmt: skip
            return
        self._retry.pop(endpoint, None)
        if endpoint in self._wanted:  # not forgotten while it was asked for
            self._tokens[endpoint] = token
        metrics.BACKEND_TOKEN_FETCHES.labels("ok").inc()

    async def run(self) -> None:
        """Get every wanted endpoint's token when it is due, until cancelled."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        limit = asyncio.Semaphore(FETCHES_AT_ONCE)

        async def bounded(endpoint: OAuthEndpoint) -> None:
            async with limit:
                await self.get(endpoint)

        try:
            while True:
                self._wake.clear()
                due, later = self.due(self.clock())
                if due:
                    await asyncio.gather(*(bounded(e) for e in due))
                    continue
                wait = None if later == float("inf") else max(0.0, later - self.clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            if self._client is not None:
                await self._client.close()
