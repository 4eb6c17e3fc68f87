"""In-process fixed windows, as WSO2 counts its tiers: a window of `limit.window` seconds aligned on the epoch,
`count` requests in it, and a table of counters that stays within its bound whatever keys clients cause."""

from __future__ import annotations

from apim_adapter.catalog import Limit
from apim_adapter.ratelimit.local import LocalRateLimiter, kept_key

THREE_PER_MINUTE = Limit(3, 60)
T0 = 1_800_000_000.0  # a window boundary (divisible by 60); every test passes its own clock


def hit(limiter: LocalRateLimiter, key: str, now: float, limit: Limit = THREE_PER_MINUTE):
    (usage,) = limiter.hit_now([(key, limit)], now)
    return usage


def test_requests_are_counted_in_their_window_and_the_fourth_of_three_exceeds():
    limiter = LocalRateLimiter()
    usages = [hit(limiter, "app:a", T0 + s) for s in (0, 10, 20, 30)]
    assert [u.used for u in usages] == [1, 2, 3, 3]  # the fourth refused, and not counted
    assert [u.remaining for u in usages] == [2, 1, 0, 0]
    assert [u.exceeded for u in usages] == [False, False, False, True]
    assert [u.reset for u in usages] == [60, 50, 40, 30]  # seconds until the window ends


def test_a_new_window_starts_again_from_one():
    limiter = LocalRateLimiter()
    for s in range(5):
        hit(limiter, "app:a", T0 + 50 + s)
    assert hit(limiter, "app:a", T0 + 59.5).exceeded
    fresh = hit(limiter, "app:a", T0 + 60)
    assert (fresh.used, fresh.exceeded, fresh.reset) == (1, False, 60)


def test_reset_is_whole_seconds_and_never_zero():
    limiter = LocalRateLimiter()
    assert hit(limiter, "a", T0 + 59.999).reset == 1
    assert hit(limiter, "b", T0 + 58.2).reset == 2  # rounded up: a client waiting `reset` seconds is let in


def test_keys_and_window_lengths_count_apart():
    limiter = LocalRateLimiter()
    per_second = Limit(100, 1)
    three = [("app:a", THREE_PER_MINUTE), ("app:a", per_second), ("app:b", THREE_PER_MINUTE)]
    both = limiter.hit_now(three, T0)
    again = limiter.hit_now(three, T0 + 1)
    assert [u.used for u in both] == [1, 1, 1]
    assert [u.used for u in again] == [2, 1, 2]  # the one-second window moved on, the minute did not


def test_the_table_keeps_its_bound_dropping_past_windows_first():
    limiter, hourly = LocalRateLimiter(max_keys=3), Limit(1000, 3600)
    hit(limiter, "b", T0 + 5, hourly)  # the oldest counter, but its window (an hour) is still running
    hit(limiter, "old", T0 + 10)  # a counter of a minute that is over by the time the table is full
    hit(limiter, "c", T0 + 62)
    hit(limiter, "new", T0 + 64)  # the table is full: the past window goes, the current counters stay
    assert len(limiter._windows) <= 3
    assert hit(limiter, "b", T0 + 65, hourly).used == 2
    assert hit(limiter, "c", T0 + 66).used == 2


def test_when_every_counter_is_current_the_oldest_goes_and_the_bound_holds():
    limiter = LocalRateLimiter(max_keys=2)
    for i in range(50):  # a client inventing keys: the table never grows past its bound
        hit(limiter, f"k{i}", T0 + 1)
        assert len(limiter._windows) <= 2
    assert hit(limiter, "k49", T0 + 2).used == 2  # the newest survived
    assert hit(limiter, "k0", T0 + 3).used == 1  # the oldest was dropped (and starts again)


def test_a_prepared_allows_counts_share_the_counters_of_the_whole_check():
    limiter, per_second = LocalRateLimiter(), Limit(100, 1)
    kept = [
        (kept_key("app:a", THREE_PER_MINUTE), Limit(100, 60)),
        (kept_key("app:a", per_second), per_second),
    ]
    hit(limiter, "app:a", T0, Limit(100, 60))  # a whole check counted first
    assert limiter.count_now(kept, T0 + 0.5) == ([2, 1], True)  # its minute goes on; the second is new to this key
    assert limiter.count_now(kept, T0 + 1.5) == ([3, 1], True)  # the one-second window moved on
    assert hit(limiter, "app:a", T0 + 2, Limit(100, 60)).used == 4  # the whole check goes on from the warm ones'
    assert limiter.count_now(kept, T0 + 60) == ([1, 1], True)  # a new minute starts again from one


def test_a_bandwidth_counter_sums_bytes_and_throttles_once_the_sum_has_reached_the_limit():
    """APIM's traffic manager throttles a bandwidth key once `sum(messageSize) >= getStandardDataAmount()`: the
    request that crosses the limit passes, every later one in the window is refused, whatever its size."""
    limiter, kib = LocalRateLimiter(), Limit(1024, 60, data=True)
    sizes = ((0, 600), (1, 600), (2, 0), (3, 1))
    usages = [limiter.hit_now([("sub:a", kib)], T0 + s, size)[0] for s, size in sizes]
    assert [u.used for u in usages] == [600, 1200, 1200, 1200]  # the refused are not counted
    assert [u.exceeded for u in usages] == [False, False, True, True]
    assert limiter.hit_now([("sub:a", kib)], T0 + 60, 5000)[0].exceeded is False  # a new window: it restarts
    # A request-count counter beside it counts requests, not bytes.
    assert limiter.hit_now([("app:a", THREE_PER_MINUTE)], T0 + 60, 5000)[0].used == 1


def test_a_request_counted_several_times_adds_that_many_where_asked():
    """A GraphQL call of three operations counts 3 on its subscription's quota and 1 on an operation's tier
    (`decision.Counter.times`); over a limit it counts nowhere, as any request."""
    limiter, four, hundred = LocalRateLimiter(), Limit(4, 60), Limit(100, 60)
    usages = [limiter.hit_now([("sub:a", four), ("res:a", hundred)], T0 + s, times=(3, 1)) for s in range(3)]
    assert [[u.used for u in check] for check in usages] == [[3, 1], [6, 2], [6, 2]]
    assert [[u.counted for u in check] for check in usages] == [[3, 1], [3, 1], [0, 0]]
    assert [check[0].exceeded for check in usages] == [False, False, True]


def test_a_request_over_any_limit_counts_nowhere():
    """APIM's gateway publishes to its traffic manager only the requests that reach no limit: a request throttled by
    one tier is not counted on the others (an application's quota is not spent by requests its subscription to
    another API refused)."""
    limiter, two, hundred = LocalRateLimiter(), Limit(2, 60), Limit(100, 60)
    usages = [limiter.hit_now([("sub:a", two), ("app:a", hundred)], T0 + s) for s in range(4)]
    assert [[u.used for u in check] for check in usages] == [[1, 1], [2, 2], [2, 2], [2, 2]]
    assert [[u.counted for u in check] for check in usages] == [[1, 1], [1, 1], [0, 0], [0, 0]]
    assert [check[0].exceeded for check in usages] == [False, False, True, True]
    assert limiter.hit_now([("app:a", hundred)], T0 + 5)[0].used == 3  # another API: the app's third request
