"""A cache bounded in entries and in bytes whose entries expire: the one kind of cache the adapter keeps.

Anything a client sends can become a key (a token's SHA-256), so every cache must stay within fixed bounds
whatever the traffic: when a bound is reached the oldest entries go first. Reads take no lock (a dict lookup is
atomic under the GIL) so that check threads never wait on each other; writes take one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# What an entry costs besides its value: the key (a 64-character hex digest), the tuple and the dict slot.
ENTRY_OVERHEAD_BYTES = 240


class TtlCache(Generic[K, V]):
    def __init__(self, max_entries: int, max_bytes: int):
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a cache needs room for at least one entry")
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[K, tuple[float, V, int]] = OrderedDict()  # key → (expires at, value, size)
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: K, now: float) -> V | None:
        """The value while it has not expired; None otherwise (an expired entry is dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        until, value, _ = entry
        if now >= until:
            self.pop(key)
            return None
        return value

    def entry(self, key: K) -> tuple[float, V] | None:
        """(expires at, value), expired or not: for callers that answer an expired entry differently."""
        found = self._entries.get(key)
        return None if found is None else (found[0], found[1])

    def put(self, key: K, value: V, until: float, size: int = 0) -> None:
        cost = size + ENTRY_OVERHEAD_BYTES
        if cost > self.max_bytes:
            return  # larger than the whole budget: not worth keeping
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            self._entries[key] = (until, value, cost)
            self._bytes += cost
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, _, freed) = self._entries.popitem(last=False)
                self._bytes -= freed
                self.evictions += 1

    def pop(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None:
                return None
            self._bytes -= entry[2]
            return entry[1]

    def sweep(self, now: float) -> int:
        """Drop every expired entry; how many went."""
        with self._lock:
            stale = [k for k, (until, _, _) in self._entries.items() if now >= until]
            for k in stale:
                self._bytes -= self._entries.pop(k)[2]
            return len(stale)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes
