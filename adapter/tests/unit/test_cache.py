"""The one bounded cache: entries expire, and the cache stays within its entries and bytes whatever is put in."""

from __future__ import annotations

import pytest

from apim_adapter.cache import ENTRY_OVERHEAD_BYTES, TtlCache

FOREVER = float("inf")


def test_an_entry_is_served_until_it_expires_then_gone():
    cache: TtlCache[str, str] = TtlCache(10, 1 << 20)
    cache.put("k", "v", until=100.0)
    assert cache.get("k", 99.9) == "v"
    assert cache.get("k", 100.0) is None
    assert len(cache) == 0
    assert cache.bytes == 0


def test_entry_gives_expired_entries_to_callers_that_answer_them_differently():
    cache: TtlCache[str, str] = TtlCache(10, 1 << 20)
    cache.put("k", "v", until=100.0)
    assert cache.entry("k") == (100.0, "v")
    assert cache.entry("missing") is None


def test_the_entry_bound_evicts_the_oldest_first():
    cache: TtlCache[str, int] = TtlCache(2, 1 << 20)
    for i, key in enumerate("abc"):
        cache.put(key, i, FOREVER)
    assert (cache.get("a", 0), cache.get("b", 0), cache.get("c", 0)) == (None, 1, 2)
    assert cache.evictions == 1


def test_putting_a_key_again_replaces_it_and_makes_it_the_newest():
    cache: TtlCache[str, int] = TtlCache(2, 1 << 20)
    cache.put("a", 1, FOREVER, 100)
    cache.put("b", 2, FOREVER, 100)
    cache.put("a", 3, FOREVER, 100)
    assert cache.bytes == 2 * (100 + ENTRY_OVERHEAD_BYTES)  # counted once
    cache.put("c", 4, FOREVER, 100)
    assert (cache.get("a", 0), cache.get("b", 0), cache.get("c", 0)) == (3, None, 4)


def test_reading_does_not_protect_an_entry_from_eviction():
    """Reads take no lock: the order is the order of writes, so the hot path never reorders the cache."""
    cache: TtlCache[str, int] = TtlCache(2, 1 << 20)
    cache.put("a", 1, FOREVER)
    cache.put("b", 2, FOREVER)
    assert cache.get("a", 0) == 1
    cache.put("c", 3, FOREVER)
    assert cache.get("a", 0) is None


def test_the_byte_bound_evicts_until_the_new_entry_fits():
    entry = 1000 + ENTRY_OVERHEAD_BYTES
    cache: TtlCache[int, str] = TtlCache(1000, 3 * entry)
    for i in range(10):
        cache.put(i, "x", FOREVER, 1000)
        assert cache.bytes <= 3 * entry
    assert [k for k in range(10) if cache.get(k, 0)] == [7, 8, 9]
    cache.put(99, "big", FOREVER, 2 * entry - ENTRY_OVERHEAD_BYTES)  # takes the room of two
    assert [k for k in (8, 9, 99) if cache.get(k, 0)] == [9, 99]
    assert cache.bytes <= 3 * entry


def test_a_value_larger_than_the_whole_budget_is_refused_and_evicts_nothing():
    cache: TtlCache[str, str] = TtlCache(10, 4096)
    cache.put("small", "s", FOREVER, 100)
    cache.put("huge", "h", FOREVER, 4096)
    assert cache.get("huge", 0) is None
    assert cache.get("small", 0) == "s"
    assert cache.evictions == 0


def test_sweep_drops_only_expired_entries_and_their_bytes():
    cache: TtlCache[str, str] = TtlCache(10, 1 << 20)
    cache.put("old", "o", 10.0, 500)
    cache.put("new", "n", 30.0, 500)
    assert cache.sweep(20.0) == 1
    assert (len(cache), cache.bytes) == (1, 500 + ENTRY_OVERHEAD_BYTES)
    assert cache.get("new", 20.0) == "n"


def test_pop_and_clear_give_the_bytes_back():
    cache: TtlCache[str, str] = TtlCache(10, 1 << 20)
    cache.put("a", "1", FOREVER, 10)
    cache.put("b", "2", FOREVER, 10)
    assert cache.pop("a") == "1"
    assert cache.pop("a") is None
    assert cache.bytes == 10 + ENTRY_OVERHEAD_BYTES
    cache.clear()
    assert (len(cache), cache.bytes) == (0, 0)


@pytest.mark.parametrize(("entries", "size"), [(0, 10), (10, 0)])
def test_a_cache_without_room_is_a_configuration_error(entries, size):
    with pytest.raises(ValueError, match="at least one entry"):
        TtlCache(entries, size)
