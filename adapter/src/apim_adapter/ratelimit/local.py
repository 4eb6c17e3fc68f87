"""In-process fixed-window counters: exact for one replica, per replica when there are several."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..catalog import Limit
from . import Usage


class LocalRateLimiter:
    """Each counter is an `itertools.count` for its current window: `next()` on it is atomic under the GIL, so
    checks on several threads count without a lock. The lock is taken only to start a new window."""

    def __init__(self, max_keys: int = 200_000):
        self.max_keys = max_keys
        self._windows: dict[str, tuple[int, Iterator[int]]] = {}  # key → (window index, its counter)
        self._sums: dict[str, tuple[int, int]] = {}  # a bandwidth quota's key → (window index, bytes so far)
        self._lock = threading.Lock()

    async def hit(self, counters: Sequence[tuple[str, Limit]], now: float, size: int = 0) -> list[Usage]:
        return self.hit_now(counters, now, size)

    def hit_now(self, counters: Sequence[tuple[str, Limit]], now: float, size: int = 0) -> list[Usage]:
        return [self._hit_one(key, limit, now, size) for key, limit in counters]

    def _hit_one(self, key: str, limit: Limit, now: float, size: int) -> Usage:
        window, reset = limit.position(now)
        if not limit.data:
            return Usage(limit, next(self._counter(kept_key(key, limit), window, now)), reset)
        return Usage(limit, self._add(kept_key(key, limit), window, now, size), reset, size)

    def _add(self, kept: str, window: int, now: float, size: int) -> int:
        """A bandwidth counter: its window's running sum of bytes after adding `size` (under the lock: an
        `itertools.count` only steps by one)."""
        with self._lock:
            entry = self._sums.get(kept)
            if entry is None or entry[0] < window:
                if entry is None and len(self._sums) >= self.max_keys:
                    self._evict(self._sums, now)
                entry = (window, 0)
            total = entry[1] + size
            self._sums[kept] = (entry[0], total)
            return total

    def count_now(self, windows: Sequence[tuple[str, int]], now: float) -> list[int]:
        """`hit_now` for a prepared allow's counters, given as (kept key, window seconds) (`kept_key`): only the
        count of each after this request, no Usage built (the warm check reads the tightest one only)."""
        counts = []
        for kept, seconds in windows:
            window = int(now // seconds)
            entry = self._windows.get(kept)
            counter = entry[1] if entry is not None and entry[0] >= window else self._counter(kept, window, now)
            counts.append(next(counter))
        return counts

    def _counter(self, kept: str, window: int, now: float) -> Iterator[int]:
        """The counter of `kept` for window `window`, started on the first request in it."""
        entry = self._windows.get(kept)
        # A window another thread already moved past ours (its clock read came later) counts this request too.
        if entry is None or entry[0] < window:
            with self._lock:
                entry = self._windows.get(kept)
                if entry is None or entry[0] < window:
                    if len(self._windows) >= self.max_keys and entry is None:
                        self._evict(self._windows, now)
                    entry = self._windows[kept] = (window, itertools.count(1))
        return entry[1]

    def _evict(self, table: dict[str, tuple[int, Any]], now: float) -> None:
        """Drop counters of past windows; they would restart at zero anyway."""
        stale = [k for k, (w, _) in table.items() if w < int(now // int(k.rsplit(":", 1)[1]))]
        for k in stale:
            del table[k]
        while len(table) >= self.max_keys:
            table.pop(next(iter(table)))

    async def close(self) -> None:
        self._windows.clear()
        self._sums.clear()


def kept_key(key: str, limit: Limit) -> str:
    """How a counter is kept: one per key and window length (`_evict` reads the length back)."""
    return f"{key}:{limit.window}"
