"""The adapter's own OAuth token: asked for once by concurrent callers, held until a minute before it ends, and
dropped when refused (at once, or only once held long enough)."""

from __future__ import annotations

import asyncio

import pytest

from apim_adapter.oauth_token import HeldToken


class Grant:
    """A token endpoint in process: counts its calls, answers `answer` (a fresh token each time)."""

    def __init__(self, **answer) -> None:
        self.calls, self.answer = 0, answer

    async def __call__(self) -> dict:
        self.calls += 1
        await asyncio.sleep(0)  # concurrent callers are waiting by now
        return {"access_token": f"token-{self.calls}", **self.answer}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_callers_share_one_request_and_the_token_is_held_until_a_minute_before_its_end():
    grant, clock = Grant(expires_in=600), Clock()
    held = HeldToken(grant, clock)

    async def scenario():
        assert await asyncio.gather(held.get(), held.get(), held.get()) == ["token-1"] * 3
        clock.now += 539
        assert await held.get() == "token-1"
        clock.now += 1
        assert await held.get() == "token-2"

    asyncio.run(scenario())
    assert grant.calls == 2


def test_a_short_lived_token_is_renewed_at_half_its_life_and_a_missing_lifetime_is_an_hour():
    clock = Clock()
    short, unstated = HeldToken(Grant(expires_in=60), clock), HeldToken(Grant(), clock)

    async def scenario():
        first = (await short.get(), await unstated.get())
        clock.now += 30
        assert (await short.get(), await unstated.get()) == ("token-2", first[1])
        clock.now += 3600 - 60 - 30
        assert await unstated.get() == "token-2"

    asyncio.run(scenario())


def test_forget_drops_the_token_at_once_or_only_once_held_that_long():
    grant, clock = Grant(expires_in=3600), Clock()
    held = HeldToken(grant, clock)

    async def scenario():
        await held.get()
        held.forget(held_for=10)  # refused right after it was issued: kept
        assert await held.get() == "token-1"
        clock.now += 10
        held.forget(held_for=10)
        assert await held.get() == "token-2"
        held.forget()
        assert await held.get() == "token-3"

    asyncio.run(scenario())


def test_an_answer_without_a_token_is_an_error_and_nothing_is_held():
    grant = Grant(access_token="")
    held = HeldToken(grant, Clock())

    async def scenario():
        for _ in range(2):
            with pytest.raises(ValueError, match="no access_token"):
                await held.get()

    asyncio.run(scenario())
    assert grant.calls == 2
