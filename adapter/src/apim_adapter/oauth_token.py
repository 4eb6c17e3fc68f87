"""An OAuth access token the adapter holds for its own calls (introspection with a client-credentials token, mesh
sync's Publisher API calls): asked for once, kept until shortly before it expires, shared by concurrent callers, and
dropped when the server refuses it so that the next call asks again. The token is never logged."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .singleflight import SingleFlight

DEFAULT_LIFETIME = 3600.0  # seconds, when the token answer has no expires_in (RFC 6749 §5.1: RECOMMENDED, not required)


class HeldToken:
    def __init__(self, grant: Callable[[], Awaitable[Mapping[str, Any]]], clock: Callable[[], float] = time.monotonic):
        """`grant` asks the token endpoint and returns its JSON answer ({access_token, expires_in, ...}); it raises
        on any failure, which reaches every caller waiting for it."""
        self.grant, self.clock = grant, clock
        self._held: tuple[str, float, float] | None = None  # (access token, issued at, renew after)
        self._asking: SingleFlight[str, str] = SingleFlight()

    async def get(self) -> str:
        if self._held is not None and self.clock() < self._held[2]:
            return self._held[0]
        return await self._asking.do("token", self._ask)

    def forget(self, held_for: float = 0.0) -> bool:
        """The server refused the token: the next `get` asks for a new one. With `held_for`, only a token held that
        long goes (a refusal that a new token may not cure, such as a missing grant, renews it that often at most,
        not on every call). Whether a token went."""
        if self._held is None or self.clock() - self._held[1] < held_for:
            return False
        self._held = None
        return True

    async def _ask(self) -> str:
        issued = await self.grant()
        token, lifetime = issued.get("access_token"), issued.get("expires_in")
        if not isinstance(token, str) or not token:
            raise ValueError("token answer has no access_token")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME
        # Renewed a minute before it ends (half its life for a short-lived one): a call started just before the end
        # must not reach the server with a token that ended on the way.
        now = self.clock()
        self._held = (token, now, now + max(lifetime - 60, lifetime / 2))
        return token
