"""Rate limiting: fixed windows per key, as WSO2's throttling tiers count (e.g. Gold: 5000 per minute)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from ..catalog import Limit


class Usage(NamedTuple):
    """One counter after this request: `used` requests so far in a window that resets in `reset` seconds.
    (A named tuple: built on every check, it costs half a frozen dataclass.)"""

    limit: Limit
    used: int
    reset: int

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit.count

    @property
    def remaining(self) -> int:
        return max(0, self.limit.count - self.used)


class RateLimiter(Protocol):
    async def hit(self, counters: Sequence[tuple[str, Limit]], now: float) -> list[Usage]:
        """Count one request on every counter, atomically per counter; one round trip for a shared backend."""
        ...

    def hit_now(self, counters: Sequence[tuple[str, Limit]], now: float) -> list[Usage] | None:
        """The same from memory alone; None when the counters live elsewhere (then `hit` is awaited)."""
        ...

    async def close(self) -> None: ...
