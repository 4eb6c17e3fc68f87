"""Python's garbage collector holds the GIL while it walks what it tracks: every check waits for it.

`settle_heap` takes what startup built out of its way; `GcPauses` times every collection into the adapter's
metrics; a cached token costs the collector a bounded number of objects.
"""

from __future__ import annotations

import gc
import logging

import pytest
from prometheus_client import REGISTRY

from apim_adapter import metrics
from apim_adapter.app import settle_heap
from harness.pipeline import in_process_adapter, token, warm, whole


def pause(name: str, generation: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(f"apim_adapter_gc_pause_seconds_{name}", {"generation": generation, **labels})
    return value or 0.0


@pytest.fixture
def collector_restored():
    """The test process's collector as it was: nothing frozen, no callback of ours."""
    yield
    gc.unfreeze()
    gc.callbacks[:] = [c for c in gc.callbacks if not isinstance(c, metrics.GcPauses)]


def test_each_collection_is_counted_in_its_generation_and_bucket():
    clock = iter([10.0, 10.003, 20.0, 20.2]).__next__
    pauses = metrics.GcPauses(clock)
    metrics.TALLIES.adopt(pauses.tally)
    before = {
        "full ≤ 5 ms": pause("bucket", "2", le="0.005"),
        "full ≤ 2.5 ms": pause("bucket", "2", le="0.0025"),
        "full seconds": pause("sum", "2"),
        "young ≤ 250 ms": pause("bucket", "0", le="0.25"),
        "young ≤ 100 ms": pause("bucket", "0", le="0.1"),
    }
    pauses("start", {"generation": 2})
    pauses("stop", {"generation": 2, "collected": 0, "uncollectable": 0})
    pauses("start", {"generation": 0})
    pauses("stop", {"generation": 0, "collected": 3, "uncollectable": 0})
    metrics.TALLIES.fold()

    assert pause("bucket", "2", le="0.005") - before["full ≤ 5 ms"] == 1
    assert pause("bucket", "2", le="0.0025") - before["full ≤ 2.5 ms"] == 0  # 3 ms is over 2.5
    assert pause("sum", "2") - before["full seconds"] == pytest.approx(0.003)
    assert pause("bucket", "0", le="0.25") - before["young ≤ 250 ms"] == 1
    assert pause("bucket", "0", le="0.1") - before["young ≤ 100 ms"] == 0


def test_the_collectors_own_collections_are_timed_once(collector_restored):
    metrics.watch_gc()
    metrics.watch_gc()  # a second call (a second server in the process) does not count twice
    assert sum(isinstance(c, metrics.GcPauses) for c in gc.callbacks) == 1
    before = pause("count", "2")
    gc.collect()
    metrics.TALLIES.fold()
    assert pause("count", "2") == before + 1


def test_after_startup_a_full_collection_walks_only_what_came_since(collector_restored):
    startup = [{"built at startup": i} for i in range(50_000)]  # stands for modules, config and servers
    garbage = [[]]
    garbage[0].append(garbage)  # a cycle startup left behind: collected, not frozen for ever
    del garbage
    settle_heap()
    walked = len(gc.get_objects())  # what a full collection walks now: frozen objects are not
    assert gc.get_freeze_count() > len(startup)
    assert walked < len(startup) // 100, walked
    assert not any(isinstance(o, list) and o and o[0] is o for o in gc.get_objects())  # and the cycle is gone
    assert isinstance(gc.callbacks[-1], metrics.GcPauses)  # and what comes next is timed


def test_a_cached_token_costs_the_collector_a_bounded_number_of_objects(collector_restored):
    """Every token checked leaves its validation, its admission and its prepared allow in the caches, and a full
    collection walks each of their objects. Measured with 300 tokens: 17 objects a token while the prepared allow
    kept its own copy of the admission, 12 once it shared the pipeline's, 9 once an application's counters were
    built once per catalog, 6 once a cache entry was no longer a tuple holding its value, 4 since scope sets and
    metric keys are shared (`python -m bench.gc_pauses`: a full collection with 10,000 tokens cached 124 ms
    before, 29 after)."""
    adapter = in_process_adapter()

    def check_all(tokens: list[str]) -> None:
        for bearer in tokens:
            assert whole(adapter, bearer).allowed
            assert warm(adapter, bearer) is not None  # prepared: its allow is cached too

    check_all([token(jti=f"first-{i}") for i in range(100)])  # first-use objects of every library made now
    settle_heap()
    more = [token(jti=f"more-{i}") for i in range(300)]
    check_all(more)
    del more
    gc.collect()
    per_token = len(gc.get_objects()) / 300
    assert per_token <= 5, per_token


def test_a_flood_of_forged_tokens_leaves_the_collector_nothing_more_to_walk(collector_restored, caplog):
    """Each forged JWT of our issuer costs a signature check, so its rejection is cached (10 s); the cache then
    holds one shared rejection per reason, not an object per forged token."""
    caplog.set_level(logging.WARNING, logger="apim_adapter")  # no "denied" records kept by pytest's capture
    adapter = in_process_adapter()
    forged = [token(jti=f"forged-{i}")[:-8] + "AAAAAAAA" for i in range(400)]
    for bearer in forged[:100]:  # first-use objects of every library made now
        assert whole(adapter, bearer).status == 401
    settle_heap()
    for bearer in forged[100:]:
        assert whole(adapter, bearer).status == 401
    gc.collect()
    assert len(adapter.authenticator.cache.rejected) == 400  # each remembered ...
    assert len(gc.get_objects()) / 300 < 0.5  # ... for (almost) nothing to walk
