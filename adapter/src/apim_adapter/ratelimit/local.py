"""In-process fixed-window counters: exact for one replica, per replica when there are several."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..catalog import Limit
from . import Usage


class LocalRateLimiter:
    def __init__(self, max_keys: int = 200_000):
        self.max_keys = max_keys
        self._windows: dict[str, tuple[int, int]] = {}  # key → (window index, count)
        self._lock = threading.Lock()

    async def hit(self, counters: Sequence[tuple[str, Limit]], now: float) -> list[Usage]:
        return self.hit_now(counters, now)

    def hit_now(self, counters: Sequence[tuple[str, Limit]], now: float) -> list[Usage]:
        with self._lock:  # gRPC worker threads count concurrently
            return [self._hit_one(key, limit, now) for key, limit in counters]

    def _hit_one(self, key: str, limit: Limit, now: float) -> Usage:
        window = limit.index(now)
        full_key = f"{key}:{limit.window}"
        current, count = self._windows.get(full_key, (window, 0))
        count = count + 1 if current == window else 1
        if len(self._windows) >= self.max_keys and full_key not in self._windows:
            self._evict(now)
        self._windows[full_key] = (window, count)
        return Usage(limit, count, limit.reset(now))

    def _evict(self, now: float) -> None:
        """Drop counters of past windows; they would restart at zero anyway."""
        stale = [k for k, (w, _) in self._windows.items() if w < int(now // int(k.rsplit(":", 1)[1]))]
        for k in stale:
            del self._windows[k]
        while len(self._windows) >= self.max_keys:
            self._windows.pop(next(iter(self._windows)))

    async def close(self) -> None:
        self._windows.clear()
