"""Concurrent callers that need the same answer share one call (a JWKS fetch, an introspection): the first
starts it, the others await the same result, and nobody's cancellation cancels it for the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[T]] = {}  # only calls under way: as many as concurrent callers

    def running(self, key: K) -> asyncio.Future[T] | None:
        return self._calls.get(key)

    def start(self, key: K, call: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """The call under way for key, or a new one started now."""
        future = self._calls.get(key)
        if future is None:
            future = asyncio.ensure_future(call())
            self._calls[key] = future
            future.add_done_callback(lambda _: self._calls.pop(key, None))
        return future

    async def do(self, key: K, call: Callable[[], Awaitable[T]]) -> T:
        return await asyncio.shield(self.start(key, call))
