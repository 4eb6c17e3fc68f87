"""A key manager's keys: loaded before traffic, a rotation picked up at once, made-up kids kept from hammering the
key manager, and a token refused only for the refetch budget distinguishable from an invalid one.

Against a real JWKS endpoint over HTTP (harness.oidc.JwksServer) with an injected clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from apim_adapter import metrics
from apim_adapter.config import KeyManager
from apim_adapter.errors import Unavailable
from apim_adapter.http_client import HttpClient
from apim_adapter.tokens import Principal, Rejection, TokenRejected, fingerprint
from apim_adapter.tokens.authenticator import Authenticator
from apim_adapter.tokens.jwks import JwksCache, KeysThrottled, RefetchBudget, warm_up
from harness import oidc


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    served = oidc.JwksServer([oidc.SigningKey("RS256", kid="old")])
    yield served
    served.close()


def run(coro_fn):
    """Run `coro_fn(client)` on a fresh event loop with a real HTTP client, closing it afterwards."""

    async def main():
        client = HttpClient(timeout=5)
        try:
            return await coro_fn(client)
        finally:
            await client.close()

    return asyncio.run(main())


def loaded_metric(name: str) -> float:
    return metrics.JWKS_LOADED.labels(name)._value.get()


def test_warm_up_loads_every_key_manager_before_traffic(server):
    other = oidc.JwksServer([oidc.SigningKey("ES256", kid="other")])

    async def scenario(client):
        caches = [JwksCache("km-a", server.url, client), JwksCache("km-b", other.url, client)]
        assert await warm_up(caches, within=5) is True
        return caches

    try:
        first, second = run(scenario)
    finally:
        other.close()
    assert (set(first.keys), set(second.keys)) == ({"old"}, {"other"})
    assert (server.fetches, other.fetches) == (1, 1)
    assert (loaded_metric("km-a"), loaded_metric("km-b")) == (1, 1)


def test_warm_up_gives_up_after_the_timeout_and_says_so(server, caplog):
    server.up = False

    async def scenario(client):
        cache = JwksCache("km-down", server.url, client)
        ready = await warm_up([cache], within=0.3)
        return ready, cache

    ready, cache = run(scenario)
    assert ready is False
    assert not cache.loaded
    assert server.fetches >= 1
    assert loaded_metric("km-down") == 0
    assert any("JWKS not loaded at start" in r.getMessage() for r in caplog.records)


def test_a_rotated_key_is_fetched_at_once(server):
    clock = Clock()

    async def scenario(client):
        cache = JwksCache("km", server.url, client, clock=clock)
        await cache.warm_up(5)
        server.keys.append(oidc.SigningKey("RS256", kid="new"))
        return await cache.key("new")

    assert run(scenario) is not None
    assert server.fetches == 2


def test_made_up_kids_spend_the_burst_then_are_refused_without_fetching(server):
    clock = Clock()

    async def scenario(client):
        cache = JwksCache("km", server.url, client, refetch_refill=10, refetch_burst=3, clock=clock)
        await cache.warm_up(5)
        misses = [await cache.key(f"made-up-{n}") for n in range(3)]  # the burst: one fetch each
        assert misses == [None, None, None]  # fetched, and the key manager has no such key: invalid
        with pytest.raises(KeysThrottled) as refused:
            await cache.key("made-up-4")
        return refused.value

    refused = run(scenario)
    assert server.fetches == 1 + 3
    # A refusal the caller can tell apart from "this key does not exist" (which may be cached as invalid).
    assert isinstance(refused, TokenRejected)
    assert type(refused) is KeysThrottled


def test_rotation_after_the_budget_was_spent_is_accepted_once_it_refills(server):
    clock = Clock()

    async def scenario(client):
        cache = JwksCache("km", server.url, client, refetch_refill=10, refetch_burst=3, clock=clock)
        await cache.warm_up(5)
        for n in range(3):
            await cache.key(f"made-up-{n}")
        server.keys.append(oidc.SigningKey("RS256", kid="rotated"))
        with pytest.raises(KeysThrottled):
            await cache.key("rotated")
        clock.now += 10  # one fetch refilled
        return await cache.key("rotated")

    assert run(scenario) is not None


def test_known_keys_never_wait_for_the_budget(server):
    clock = Clock()

    async def scenario(client):
        cache = JwksCache("km", server.url, client, refetch_refill=10, refetch_burst=1, clock=clock)
        await cache.warm_up(5)
        await cache.key("made-up")
        return [await cache.key("old") for _ in range(5)]

    assert all(key is not None for key in run(scenario))


def test_without_any_keys_the_answer_is_unavailable_not_invalid(server):
    server.up = False

    async def scenario(client):
        cache = JwksCache("km", server.url, client, clock=Clock())
        with pytest.raises(Unavailable):
            await cache.key("old")

    run(scenario)


def test_the_authenticator_does_not_remember_a_refusal_for_the_budget(server):
    """A rotated key met while the budget is spent: refused now (401), accepted once the budget refills, because
    the refusal was never cached as an invalid token."""
    clock = Clock()
    auth = Authenticator([KeyManager(name="km", issuer=server.issuer, jwks_uri=server.url)])
    cache = auth.by_issuer[server.issuer].jwks
    cache.clock, cache.budget = clock, RefetchBudget(3, 10, clock)
    rotated = oidc.SigningKey("RS256", kid="rotated")
    token = rotated.sign(oidc.claims(server.issuer, "client-subscribed"))

    async def scenario(_client):
        await cache.warm_up(5)
        for n in range(3):
            made_up = oidc.SigningKey("RS256", kid=f"made-up-{n}").sign(oidc.claims(server.issuer, "client-x"))
            await auth.verify(made_up, fingerprint(made_up))
        server.keys.append(rotated)
        refused = await auth.verify(token, fingerprint(token))
        remembered = auth.cache.get(fingerprint(token), time.time())
        clock.now += 10
        accepted = await auth.verify(token, fingerprint(token))
        await auth.close()
        return refused, remembered, accepted

    refused, remembered, accepted = run(scenario)
    assert isinstance(refused, Rejection)
    assert "budget" in refused.reason
    assert remembered is None
    assert isinstance(accepted, Principal)


def test_the_key_managers_burst_key_sizes_the_budget(server):
    """`keyManagers[].jwksRefetchBurst` reaches the JWKS cache the authenticator builds."""
    auth = Authenticator([KeyManager(name="km", issuer=server.issuer, jwks_uri=server.url, jwks_refetch_burst=7)])
    assert auth.by_issuer[server.issuer].jwks.budget.burst == 7
    run(lambda _client: auth.close())
