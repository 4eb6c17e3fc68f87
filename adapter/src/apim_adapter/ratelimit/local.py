"""In-process fixed-window counters: exact for one replica, per replica when there are several."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence

from ..catalog import Limit
from . import Usage


class LocalRateLimiter:
    """Each counter is an `itertools.count` for its current window: `next()` on it is atomic under the GIL, so
    checks on several threads count without a lock. The lock is taken only to start a new window."""

    def __init__(self, max_keys: int = 200_000):
        self.max_keys = max_keys
        self._windows: dict[str, tuple[int, Iterator[int]]] = {}  # key → (window index, its counter)
        self._lock = threading.Lock()

    async def hit(self, counters: Sequence[tuple[str, Limit]], now: float) -> list[Usage]:
        return self.hit_now(counters, now)

    def hit_now(self, counters: Sequence[tuple[str, Limit]], now: float) -> list[Usage]:
        return [self._hit_one(key, limit, now) for key, limit in counters]

    def _hit_one(self, key: str, limit: Limit, now: float) -> Usage:
        window, reset = limit.position(now)
        full_key = f"{key}:{limit.window}"
        entry = self._windows.get(full_key)
        # A window another thread already moved past ours (its clock read came later) counts this request too.
        if entry is None or entry[0] < window:
            with self._lock:
                entry = self._windows.get(full_key)
                if entry is None or entry[0] < window:
                    if len(self._windows) >= self.max_keys and entry is None:
                        self._evict(now)
                    entry = self._windows[full_key] = (window, itertools.count(1))
        return Usage(limit, next(entry[1]), reset)

    def _evict(self, now: float) -> None:
        """Drop counters of past windows; they would restart at zero anyway."""
        stale = [k for k, (w, _) in self._windows.items() if w < int(now // int(k.rsplit(":", 1)[1]))]
        for k in stale:
            del self._windows[k]
        while len(self._windows) >= self.max_keys:
            self._windows.pop(next(iter(self._windows)))

    async def close(self) -> None:
        self._windows.clear()
