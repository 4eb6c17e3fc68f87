"""A cache bounded in entries and in bytes whose entries expire: the one kind of cache the adapter keeps.

Anything a client sends can become a key (a token's SHA-256), so every cache must stay within fixed bounds
whatever the traffic: when a bound is reached the oldest entries go first. Reads take no lock (a dict lookup is
atomic under the GIL) so that check threads never wait on each other; writes take one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
H = TypeVar("H", bound=Hashable)

# What an entry costs besides its value: the key (a 64-character hex digest), two dict slots and a tuple.
ENTRY_OVERHEAD_BYTES = 240


class TtlCache(Generic[K, V]):
    """Values and their (expiry, size) are kept in two dicts rather than one (expiry, value, size) tuple each: a
    tuple holding a value is one more object for the garbage collector to walk per entry, while a tuple of two
    numbers is left out of its walks (CPython untracks it). With 50,000 tokens cached in each of three caches
    that is 150,000 objects fewer in every full collection, which holds every check (docs/architecture.md, "What
    the caches cost the garbage collector")."""

    def __init__(self, max_entries: int, max_bytes: int):
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a cache needs room for at least one entry")
        self.max_entries, self.max_bytes = max_entries, max_bytes
        # Writers (under the lock) add an entry's times before its value and remove its value first: a reader
        # that finds a value finds its times, or a miss if the entry went meanwhile.
        self._values: OrderedDict[K, V] = OrderedDict()  # in the order of writes: the oldest evicted first
        self._times: dict[K, tuple[float, int]] = {}  # key → (expires at, size)
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: K, now: float) -> V | None:
        """The value while it has not expired; None otherwise (an expired entry is dropped)."""
        value = self._values.get(key)
        if value is None:
            return None
        times = self._times.get(key)
        if times is None:
            return None
        if now >= times[0]:
            self.pop(key)
            return None
        return value

    def entry(self, key: K) -> tuple[float, V] | None:
        """(expires at, value), expired or not: for callers that answer an expired entry differently."""
        value = self._values.get(key)
        times = self._times.get(key)
        return None if value is None or times is None else (times[0], value)

    def put(self, key: K, value: V, until: float, size: int = 0) -> None:
        cost = size + ENTRY_OVERHEAD_BYTES
        if cost > self.max_bytes:
            return  # larger than the whole budget: not worth keeping
        with self._lock:
            self._drop(key)
            self._times[key] = (until, cost)
            self._values[key] = value
            self._bytes += cost
            while len(self._values) > self.max_entries or self._bytes > self.max_bytes:
                oldest = next(iter(self._values))
                self._drop(oldest)
                self.evictions += 1

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._drop(key)

    def _drop(self, key: K) -> V | None:
        """Remove an entry (the lock held): its value first, then its times."""
        value = self._values.pop(key, None)
        times = self._times.pop(key, None)
        if times is not None:
            self._bytes -= times[1]
        return value

    def sweep(self, now: float) -> int:
        """Drop every expired entry; how many went."""
        with self._lock:
            stale = [k for k, (until, _) in self._times.items() if now >= until]
            for k in stale:
                self._drop(k)
            return len(stale)

    def drop_where(self, unwanted: Callable[[V], bool]) -> int:
        """Drop every entry whose value is unwanted (a walk of the whole cache: for rare events); how many went."""
        with self._lock:
            gone = [k for k, v in self._values.items() if unwanted(v)]
            for k in gone:
                self._drop(k)
            return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._times.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._values)

    @property
    def bytes(self) -> int:
        return self._bytes


class Shared(Generic[H]):
    """One instance of each equal immutable value that many cache entries hold (a rejection's reason, a scope set,
    a metric key): each entry then references it instead of keeping a copy for the garbage collector to walk
    (docs/architecture.md, "What the caches cost the garbage collector"). Emptied when `max_values` are held, so
    that no input grows it without bound; values handed out before stay valid, equal ones are shared anew."""

    def __init__(self, max_values: int):
        self.max_values = max_values
        self._values: dict[H, H] = {}

    def __call__(self, value: H) -> H:
        kept = self._values.get(value)
        if kept is None:
            if len(self._values) >= self.max_values:
                self._values.clear()
            kept = self._values.setdefault(value, value)
        return kept
