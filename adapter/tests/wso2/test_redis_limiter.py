"""The shared rate limiter against a real Redis: exact across instances, one round trip, outage policies."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from apim_adapter import config, metrics
from apim_adapter.catalog import Limit
from apim_adapter.errors import Unavailable
from apim_adapter.ratelimit.redis import RedisRateLimiter
from harness.processes import free_port


def limiter(url: str, password_file, tmp_path, on_error: str = "local", timeout: float = 0.2) -> RedisRateLimiter:
    raw = {
        "controlPlane": {"type": "file", "path": "catalog.yaml"},
        "rateLimit": {"backend": "redis", "redis": {"url": url, "passwordFile": str(password_file),
                                                    "onError": on_error, "timeoutSeconds": timeout}},
    }  # fmt: skip
    cfg = config.parse(raw, tmp_path)
    return RedisRateLimiter(cfg.rate_limit.redis, cfg)


@contextlib.asynccontextmanager
async def two_replicas(
    redis_server, password_file, tmp_path
) -> AsyncIterator[tuple[RedisRateLimiter, RedisRateLimiter, float]]:
    """Two replicas' limiters on one Redis, and a time well inside one minute window, the same for every hit. (A
    generous timeout: a loaded CI machine must not trigger the fallback.)"""
    a = limiter(redis_server.url, password_file, tmp_path, timeout=5)
    b = limiter(redis_server.url, password_file, tmp_path, timeout=5)
    now = time.time()
    try:
        yield a, b, (now if now % 60 < 55 else now + 10)
    finally:
        await a.close()
        await b.close()


def test_two_replicas_share_one_exact_limit_under_concurrency(redis_server, redis_password_file, tmp_path):
    limit = Limit(60, 60)
    key = f"sub:app:api:{time.time_ns()}"

    async def scenario():
        async with two_replicas(redis_server, redis_password_file, tmp_path) as (a, b, now):
            usages = await asyncio.gather(*(lim.hit([(key, limit)], now) for lim in [a, b] * 50))
        return [u for [u] in usages]

    usages = asyncio.run(scenario())
    # The first 60 counted once each, atomically; the other 40 refused and counted nowhere.
    assert sorted(u.used for u in usages) == list(range(1, 61)) + [60] * 40
    assert sum(not u.exceeded for u in usages) == 60
    assert sorted(u.counted for u in usages) == [0] * 40 + [1] * 60
    assert all(1 <= u.reset <= 60 for u in usages)


def test_all_counters_of_a_check_are_counted_in_one_call_with_their_own_windows(
    redis_server, redis_password_file, tmp_path
):
    tag = time.time_ns()
    counters = [(f"api:{tag}", Limit(100, 60)), (f"app:{tag}", Limit(2, 3600)), (f"sub:{tag}", Limit(5, 1))]

    async def scenario():
        lim = limiter(redis_server.url, redis_password_file, tmp_path)
        try:
            now = time.time()
            first = await lim.hit(counters, now)
            await lim.hit(counters, now)
            third = await lim.hit(counters, now)
            ttls = [redis_server.client().pttl(f"apim:rl:{key}:{limit.window}:{int(now // limit.window)}")
                    for key, limit in counters]  # fmt: skip
        finally:
            await lim.close()
        return first, third, ttls

    first, third, ttls = asyncio.run(scenario())
    assert [u.used for u in first] == [1, 1, 1]
    assert [u.used for u in third] == [2, 2, 2]  # the hourly counter was reached: counted nowhere
    assert [u.exceeded for u in third] == [False, True, False]
    # Each counter expires with its own window (plus a one-second margin), never "no expiry" (-1).
    assert 0 < ttls[0] <= 61_000
    assert 0 < ttls[1] <= 3_601_000
    assert ttls[2] == -2 or 0 < ttls[2] <= 2_000  # the one-second window may already be over


def test_a_burst_window_of_one_second_counts_apart_from_the_quota_and_resets_each_second(
    redis_server, redis_password_file, tmp_path
):
    key = f"sub:app:api:{time.time_ns()}"
    burst, quota = Limit(2, 1), Limit(100, 60)  # spike arrest 2/sec beside a 100/min subscription quota

    async def scenario():
        lim = limiter(redis_server.url, redis_password_file, tmp_path, timeout=5)
        start = float(int(time.time() // 60) * 60 + 5)  # a whole second, well inside one minute window
        try:
            first = [await lim.hit([(key, burst), (key, quota)], start + 0.1 * i) for i in range(3)]
            next_second = await lim.hit([(key, burst), (key, quota)], start + 1.2)
        finally:
            await lim.close()
        return first, next_second

    first, next_second = asyncio.run(scenario())
    assert [b.used for b, _ in first] == [1, 2, 2]
    assert [b.exceeded for b, _ in first] == [False, False, True]
    assert all(b.reset == 1 for b, _ in first)
    # The burst window restarted, the quota did not; the request the burst refused was not counted on it.
    assert [u.used for u in next_second] == [1, 3]


def test_a_bandwidth_counter_sums_bytes_across_replicas_beside_a_request_counter(
    redis_server, redis_password_file, tmp_path
):
    tag = time.time_ns()
    kib, requests = Limit(1024, 60, data=True), Limit(100, 60)
    counters = [(f"sub:{tag}", kib), (f"app:{tag}", requests)]

    async def scenario():
        async with two_replicas(redis_server, redis_password_file, tmp_path) as (a, b, now):
            first = await a.hit(counters, now, 600)
            empty = await b.hit([(f"empty:{tag}", kib)], now, 0)  # a body of 0 bytes still starts the window
            second = await b.hit(counters, now, 600)
            third = await a.hit(counters, now, 0)
            ttl = redis_server.client().pttl(f"apim:rl:empty:{tag}:60:{int(now // 60)}")
        return first, empty, second, third, ttl

    first, empty, second, third, ttl = asyncio.run(scenario())
    assert [(u.used, u.exceeded) for u in (first[0], second[0], third[0])] == [(600, False), (1200, False),
                                                                                 (1200, True)]  # fmt: skip
    assert [u.used for u in (first[1], second[1], third[1])] == [1, 2, 2]  # requests; the refused one not counted
    assert empty[0].used == 0
    assert 0 < ttl <= 61_000  # it expires with its window, never "no expiry" (-1)


def test_a_request_counted_several_times_adds_that_many_across_replicas(redis_server, redis_password_file, tmp_path):
    """`times` as the local limiter takes it (a GraphQL call's operations, `decision.Counter.times`)."""
    tag = time.time_ns()
    counters = [(f"sub:{tag}", Limit(4, 60)), (f"res:{tag}", Limit(100, 60))]

    async def scenario():
        async with two_replicas(redis_server, redis_password_file, tmp_path) as (a, b, now):
            return [await lim.hit(counters, now, times=(3, 1)) for lim in (a, b, a)]

    usages = asyncio.run(scenario())
    assert [[(u.used, u.counted) for u in check] for check in usages] == [[(3, 3), (1, 1)], [(6, 3), (2, 1)],
                                                                          [(6, 0), (2, 0)]]  # fmt: skip


def test_outage_with_local_policy_counts_locally_and_recovers(tmp_path, redis_password_file, own_redis):
    server = own_redis
    limit = Limit(3, 60)
    key = f"k:{time.time_ns()}"

    async def scenario():
        lim = limiter(server.url, redis_password_file, tmp_path, "local")
        try:
            now = time.time()
            assert (await lim.hit([(key, limit)], now))[0].used == 1
            errors_before = metrics.RATE_LIMIT_ERRORS.labels("local")._value.get()
            server.stop()
            local = [(await lim.hit([(key, limit)], now))[0] for _ in range(4)]
            assert [u.used for u in local] == [1, 2, 3, 3]  # the local fallback still enforces the limit
            assert local[-1].exceeded
            assert metrics.RATE_LIMIT_ERRORS.labels("local")._value.get() == errors_before + 4
            server.start()
            await asyncio.sleep(1.1)  # the limiter retries Redis a second after a failure
            assert (await lim.hit([(key, limit)], now))[0].used == 1  # Redis again (it restarted empty)
        finally:
            await lim.close()

    asyncio.run(scenario())


def test_outage_with_deny_policy_is_an_error_for_envoy_to_decide(tmp_path, redis_password_file):
    async def scenario():
        lim = limiter(f"redis://127.0.0.1:{free_port()}/0", redis_password_file, tmp_path, "deny", timeout=0.05)
        try:
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await lim.hit([("k", Limit(3, 60))], time.time())
            with pytest.raises(Unavailable):
                await lim.hit([("k", Limit(3, 60))], time.time())
            assert time.monotonic() - started < 2
        finally:
            await lim.close()

    asyncio.run(scenario())


def test_a_reset_restarts_the_shared_counters_current_window_once_for_every_replica(
    redis_server, redis_password_file, tmp_path
):
    """An application user's quota reset (POLICY_RESET): the first replica to apply it deletes the window's key, and
    the other counts from zero too; when the other applies the same reset later, what was counted since stays (one
    restart, as APIM's one traffic manager makes); the other counters are untouched."""
    limit, key, other = Limit(2, 60), f"app:a:alice@carbon.super:{time.time_ns()}", f"app:a:bob:{time.time_ns()}"

    async def scenario() -> list[object]:
        async with two_replicas(redis_server, redis_password_file, tmp_path) as (a, b, now):
            for lim in (a, b):
                await lim.hit([(key, limit)], now)
                await lim.hit([(other, limit)], now)
            assert (await b.hit([(key, limit)], now))[0].exceeded
            reset_id = f"reset-{time.time_ns()}"
            await a.reset([(key, limit)], now, reset_id)
            [restarted], [untouched] = await b.hit([(key, limit)], now), await a.hit([(other, limit)], now)
            await b.reset([(key, limit)], now, reset_id)  # the same event, applied by the other replica
            [after] = await a.hit([(key, limit)], now)
            return [restarted.used, untouched.exceeded, after.used]

    # Counted from zero; bob's third refused, as before the reset; the second application of it restarts nothing.
    assert asyncio.run(scenario()) == [1, True, 2]


def test_a_reset_redis_does_not_answer_is_logged_and_counted_not_raised(tmp_path, redis_password_file, caplog):
    async def scenario() -> None:
        lim = limiter(f"redis://127.0.0.1:{free_port()}/0", redis_password_file, tmp_path, "deny", timeout=0.05)
        try:
            await lim.reset([("app:a:alice", Limit(2, 60))], time.time())
        finally:
            await lim.close()

    before = metrics.RATE_LIMIT_ERRORS.labels("deny")._value.get()
    asyncio.run(scenario())
    assert metrics.RATE_LIMIT_ERRORS.labels("deny")._value.get() == before + 1
    assert "quota reset not applied to the shared counters: Redis did not answer" in caplog.text
