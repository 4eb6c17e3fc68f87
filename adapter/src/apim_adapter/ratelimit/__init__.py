"""Rate limiting: fixed windows per key, as WSO2's throttling tiers count (e.g. Gold: 5000 per minute)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from ..catalog import Limit


class Usage(NamedTuple):
    """One counter after this request: `used` requests (or bytes) so far in a window that resets in `reset`
    seconds, `counted` of them this request's. (A named tuple: built on every check, it costs half a frozen
    dataclass.)"""

    limit: Limit
    used: int
    reset: int
    counted: int = 1

    @property
    def exceeded(self) -> bool:
        """Whether the limit was reached before this request: APIM's traffic manager throttles a key once its
        count or byte sum reaches the limit (`count(messageID) >= requestCount`, `sum(messageSize) >=
        getStandardDataAmount()` in its policy templates), so the request that crosses it passes."""
        return self.used - self.counted >= self.limit.count

    @property
    def remaining(self) -> int:
        return max(0, self.limit.count - self.used)


Counted = tuple[str, Limit]  # a counter a request is counted on: its key and its limit


Times = Sequence[int] | None  # per counter, how many requests one counts as there (`decision.Counter.times`); None: 1


def weight(limit: Limit, size: int, times: int = 1) -> int:
    """What one request adds to a counter: 1, or on a bandwidth quota its body's bytes; `times` over where APIM's
    gateway counts it more than once (a GraphQL call's operations)."""
    return (size if limit.data else 1) * times


class RateLimiter(Protocol):
    async def hit(self, counters: Sequence[Counted], now: float, size: int = 0, times: Times = None) -> list[Usage]:
        """Count one request (of `size` bytes, for bandwidth quotas; `times[i]` over on counter i) on every counter,
        unless one has reached its limit, atomically for all of them; one round trip for a shared backend. A
        Usage's `counted` is 0 when the request was not counted. (APIM's gateway publishes to its traffic manager
        only the requests that reach no limit: one over a tier that denies is refused, one over a tier that only
        counts, stopOnQuotaReach: false, goes on uncounted; `decision.conclude` tells which.)"""
        ...

    def hit_now(
        self, counters: Sequence[Counted], now: float, size: int = 0, times: Times = None
    ) -> list[Usage] | None:
        """The same from memory alone; None when the counters live elsewhere (then `hit` is awaited)."""
        ...

    async def reset(self, counters: Sequence[Counted], now: float, once: str | None = None) -> None:
        """Restart these counters' current windows at zero (an application user's quota reset in APIM); `once`
        names the reset, so that counters shared by replicas that each follow it restart once, not at each one's
        turn (the calls counted between two restarts would otherwise be counted away)."""
        ...

    async def close(self) -> None: ...
