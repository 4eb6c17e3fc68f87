"""In-process fixed-window counters: exact for one replica, per replica when there are several."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..catalog import Limit
from . import Counted, Times, Usage, weight

Kept = tuple[str, Limit]  # a counter as this limiter keeps it (`kept_key`), and its limit


class LocalRateLimiter:
    """Each counter is its window's index and count. A check reads all of its counters and adds itself to them only
    if none has reached its limit, under one lock: APIM's gateway publishes only the requests that reach no limit,
    so a throttled request counts nowhere (not on its application's quota for another API, nor on the
    subscription's quota when its burst control refused it)."""

    def __init__(self, max_keys: int = 200_000):
        self.max_keys = max_keys
        self._windows: dict[str, list[int]] = {}  # kept key → [window index, requests or bytes in it]
        self._lock = threading.Lock()

    async def hit(self, counters: Sequence[Counted], now: float, size: int = 0, times: Times = None) -> list[Usage]:
        return self.hit_now(counters, now, size, times)

    def hit_now(self, counters: Sequence[Counted], now: float, size: int = 0, times: Times = None) -> list[Usage]:
        kept = [(kept_key(key, limit), limit) for key, limit in counters]
        counts, counted = self.count_now(kept, now, size, times)
        each = times or (1,) * len(kept)
        return [
            Usage(limit, used, limit.reset(now), weight(limit, size, n) if counted else 0)
            for (_, limit), used, n in zip(kept, counts, each, strict=True)
        ]

    def count_now(
        self, counters: Sequence[Kept], now: float, size: int = 0, times: Times = None
    ) -> tuple[list[int], bool]:
        """`hit_now` for counters given with their kept keys (a prepared allow keeps them so): each counter's count,
        and whether the request was counted (False: a counter had reached its limit; the counts are then those
        before it). No Usage is built: a warm check reads the tightest counter only. (Loops, not comprehensions:
        this runs on every warm check.)"""
        windows, cells, counted = self._windows, [], True
        with self._lock:
            for kept, limit in counters:
                window = int(now // limit.window)
                cell = windows.get(kept)
                if cell is None or cell[0] < window:
                    cell = self._cell(kept, window, now)
                if cell[1] >= limit.count:
                    counted = False
                cells.append(cell)
            counts = []
            for i, cell in enumerate(cells):
                if counted:
                    cell[1] += (size if counters[i][1].data else 1) * (times[i] if times else 1)
                counts.append(cell[1])
        return counts, counted

    def _cell(self, kept: str, window: int, now: float) -> list[int]:
        """The counter of `kept` started for window `window`, on the first request in it (under the lock)."""
        cell = self._windows.get(kept)
        if cell is None:
            if len(self._windows) >= self.max_keys:
                self._evict(now)
            cell = self._windows[kept] = [window, 0]
        else:
            cell[0], cell[1] = window, 0
        return cell

    def _evict(self, now: float) -> None:
        """Drop counters of past windows; they would restart at zero anyway."""
        stale = [k for k, (w, _) in self._windows.items() if w < int(now // int(k.rsplit(":", 1)[1]))]
        for k in stale:
            del self._windows[k]
        while len(self._windows) >= self.max_keys:
            self._windows.pop(next(iter(self._windows)))

    async def reset(self, counters: Sequence[Counted], now: float, once: str | None = None) -> None:
        with self._lock:
            for key, limit in counters:
                self._windows.pop(kept_key(key, limit), None)

    async def close(self) -> None:
        self._windows.clear()


def kept_key(key: str, limit: Limit) -> str:
    """How a counter is kept: one per key and window length (`_evict` reads the length back)."""
    return f"{key}:{limit.window}"
