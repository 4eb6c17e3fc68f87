"""The benchmark's verdicts (bench/extauthz.py): a target is judged on ratios paired within each round."""

import pytest

from bench.extauthz import Cores, judge, paired, targets


def test_every_round_decides_the_verdict():
    assert judge("t", [0.91, 0.95, 0.93], 0.9, at_least=True)["verdict"] == "PASS"
    assert judge("t", [0.71, 0.86, 0.76], 0.9, at_least=True)["verdict"] == "MISS"
    # A median that meets the target is not a pass when one round misses it: the run did not decide it.
    split = judge("t", [0.92, 0.95, 0.84], 0.9, at_least=True)
    assert split["verdict"] == "SPLIT"
    assert split["value"] == "92% (rounds 84% to 95%)"


def test_an_upper_bound_is_met_at_or_below_it():
    judged = judge("p99", [1.25, 0.9, 1.1], 1.25, at_least=False, unit="x")
    assert judged["verdict"] == "PASS"
    assert judged["value"] == "1.10x (rounds 0.90x to 1.25x)"
    assert judge("p99", [1.3, 2.0], 1.25, at_least=False, unit="x")["verdict"] == "MISS"


def test_no_rounds_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="no rounds"):
        judge("t", [], 0.9, at_least=True)


def test_ratios_pair_the_same_round():
    results = {"a": {"rps_rounds": [90, 200, 100]}, "b": {"rps_rounds": [100, 100, 200]}}
    assert paired(results, "a", "b", "rps_rounds") == [0.9, 2.0, 0.5]
    with pytest.raises(ValueError, match="shorter"):  # rounds missing on one side are not silently dropped
        paired({"a": {"rps_rounds": [1, 2]}, "b": {"rps_rounds": [1]}}, "a", "b", "rps_rounds")


def scenario(rps, cpu=None, mode="grpc", steady=None, transport=None):
    result = {"throughput": {"rps": rps[1]}, "rps_rounds": rps, "mode": mode}
    if transport:
        result["transport"] = transport
    if cpu:
        result["cpu_rounds"] = cpu
        result["throughput"]["server_cpu_us_per_req"] = cpu[1]
    if steady:
        result["steady_rounds"] = [{"p50_ms": p50, "p99_ms": p99} for p50, p99 in steady]
    return result


def test_a_run_is_judged_target_by_target():
    """A whole run's results as `make bench` collects them: each target gets its verdict from its own rounds."""
    import bench.extauthz as b

    fast = [(0.5, 1.0)] * 3
    results = {
        b.TRIVIAL: scenario([1000, 1000, 1000], steady=fast),
        b.TRIVIAL_AIO: scenario([700, 700, 700]),
        b.TRIVIAL_HTTP: scenario([2000, 2000, 2000], mode="http", steady=fast),
        b.ADAPTER: scenario([950, 850, 920], steady=[(0.5, 1.0), (0.6, 1.2), (0.55, 1.1)]),
        b.ADAPTER_JWT: scenario([950, 930, 920], steady=[(0.5, 2.0), (0.6, 3.0), (0.55, 2.5)]),
        b.ADAPTER_HTTP: scenario([1900, 1850, 1950], mode="http", steady=fast),
        b.W1: scenario([1000, 1000, 1000], cpu=[400, 400, 400]),
        b.W2: scenario([1200, 1900, 1850], cpu=[400, 420, 500]),
        b.P1: scenario([3000, 3000, 3000], cpu=[300, 300, 300]),
        b.P2: scenario([3600, 3300, 3900], cpu=[400, 400, 400]),
    }
    checks = {c["target"]: c for c in targets(results)}
    verdicts = {target: c["verdict"] for target, c in checks.items()}
    assert verdicts[f"{b.ADAPTER}: req/s ≥ 90% of {b.TRIVIAL}"] == "SPLIT"
    assert verdicts[f"{b.ADAPTER_JWT}: req/s ≥ 90% of {b.TRIVIAL}"] == "PASS"
    assert verdicts[f"{b.ADAPTER_HTTP}: req/s ≥ 90% of {b.TRIVIAL_HTTP}"] == "PASS"
    assert verdicts[f"{b.ADAPTER_JWT}: p99 at 1k req/s ≤ 1.25x {b.TRIVIAL}"] == "MISS"
    assert verdicts[f"{b.ADAPTER}: p99 at 1k req/s ≤ 1.25x {b.TRIVIAL}"] == "PASS"
    # On cores shared with the load (this box) the projection decides; the req/s measured there are shown.
    assert verdicts["workers 1 → 2: ≥ 1.8x req/s (measured on cores shared with the load)"] == "INFO"
    assert verdicts["workers 1 → 2 with 2 dedicated cores (projected from CPU/req)"] == "SPLIT"
    # The trivial server's second process is a yardstick, never a verdict: on this box it gave 1.5x (projected).
    yardstick = checks["adapter's projected worker scaling ÷ the trivial server's"]
    assert yardstick["verdict"] == "INFO"
    assert yardstick["rounds"] == [round(2.0 / 1.5, 3), round((2 * 400 / 420) / 1.5, 3), round(1.6 / 1.5, 3)]


def test_a_latency_round_in_which_a_server_fell_behind_the_schedule_is_void():
    """A host stall put the trivial server's p50 at 893 ms in one round of a real run: a ratio of 0.00x there says
    nothing about the adapter. That round leaves both servers' latency verdicts, and the verdict says so."""
    import bench.extauthz as b

    same = [1000, 1000, 1000]
    results = {
        b.TRIVIAL: scenario(same, steady=[(1.0, 7.0), (893.3, 1800.5), (1.3, 15.5)]),
        b.TRIVIAL_AIO: scenario(same),
        b.ADAPTER: scenario(same, steady=[(1.5, 10.1), (3.6, 22.3), (1.5, 10.7)]),
        b.ADAPTER_JWT: scenario(same, steady=[(9.0, 30.0)] * 3),  # behind in every round: nothing to judge
        b.W1: scenario(same, cpu=[400] * 3),
        b.W2: scenario(same, cpu=[400] * 3),
    }
    checks = {c["target"]: c for c in targets(results, interval_ms=4.0)}
    p99 = checks[f"{b.ADAPTER}: p99 at 1k req/s ≤ 1.25x {b.TRIVIAL}"]
    assert p99["rounds"] == [round(10.1 / 7.0, 3), round(10.7 / 15.5, 3)]
    assert p99["verdict"] == "SPLIT"
    assert "1 round(s) void" in p99["value"]
    void = checks[f"{b.ADAPTER_JWT}: p50 at 1k req/s ≤ 1.25x {b.TRIVIAL}"]
    assert (void["verdict"], void["rounds"]) == ("VOID", [])
    assert "3 round(s) void" in void["value"]


def workers_on_their_own_cores(one_worker_cpu_us: list[float], two_workers_rps: list[int]) -> dict[str, dict]:
    """A run on 4 cores or more: the two workers on cores of their own; one worker at 1,000 req/s."""
    import bench.extauthz as b

    same, fast = [1000, 1000, 1000], [(0.5, 1.0)] * 3
    return {
        b.TRIVIAL: scenario(same, steady=fast),
        b.TRIVIAL_AIO: scenario(same),
        b.ADAPTER: scenario(same, steady=fast),
        b.ADAPTER_JWT: scenario(same, steady=fast),
        b.W1: scenario(same, cpu=one_worker_cpu_us) | {"dedicated": True},
        b.W2: scenario(two_workers_rps, cpu=[1000, 1050, 1000]) | {"dedicated": True},
    }


def test_where_two_cores_are_free_and_one_worker_is_the_bottleneck_the_workers_measured_req_s_decide():
    """On 4 cores or more the two workers run on cores of their own: the target's setting. Where one worker kept
    its core busy (1,000 req/s x 950 µs), their measured scaling is the verdict and the projection only a figure."""
    results = workers_on_their_own_cores([950, 950, 960], [1850, 1700, 1900])
    checks = {c["target"]: c for c in targets(results)}
    measured = checks["workers 1 → 2: ≥ 1.8x req/s"]
    assert (measured["verdict"], measured["rounds"]) == ("SPLIT", [1.85, 1.7, 1.9])
    assert measured["one_worker_cores"] == [0.95, 0.95, 0.96]
    assert checks["workers 1 → 2 with 2 dedicated cores (projected from CPU/req)"]["verdict"] == "INFO"


def test_where_one_worker_is_not_the_bottleneck_its_req_s_measure_the_load_and_the_projection_decides():
    """One compiled-transport worker is not its own bottleneck behind the load a run can give (~0.3 of its core
    behind one load core in run T, ~0.75 estimated behind two): the load caps one worker and two alike (here
    1.0x), which says nothing of what a second worker adds; the projection from CPU per request on the dedicated
    cores does. One round short of the core is enough to leave the measured req/s out."""
    results = workers_on_their_own_cores([950, 300, 950], [1000, 1000, 1010])
    checks = {c["target"]: c for c in targets(results)}
    assert "workers 1 → 2: ≥ 1.8x req/s" not in checks
    measured = checks["workers 1 → 2: ≥ 1.8x req/s (one worker short of its core, under 90% busy: the load set both)"]
    assert (measured["verdict"], measured["rounds"]) == ("INFO", [1.0, 1.0, 1.01])
    projected = checks["workers 1 → 2 with 2 dedicated cores (projected from CPU/req)"]
    assert (projected["verdict"], projected["rounds"]) == ("SPLIT", [1.9, round(2 * 300 / 1050, 3), 1.9])


@pytest.mark.parametrize(
    ("available", "load", "server", "workers", "dedicated"),
    [
        ({0, 1}, {0}, {1}, {0, 1}, False),  # this box: the second worker shares the load's core
        ({0, 1, 2}, {0}, {1}, {0, 1}, False),
        ({0, 1, 2, 3}, {0, 1}, {2}, {2, 3}, True),
        ({4, 9, 11, 12, 30}, {4, 9}, {11}, {11, 12}, True),  # whatever cores the process may use, in order
    ],
)
def test_the_load_never_shares_a_core_with_the_server(available, load, server, workers, dedicated):
    cores = Cores.of(available)
    assert (cores.load, cores.server, cores.workers) == (load, server, workers)
    assert not cores.load & cores.server
    assert cores.workers_dedicated is dedicated


def test_an_identical_second_trivial_server_shows_the_runs_resolution():
    """Two processes of the same trivial server differ only by the host: their ratio, shown (never judged) next to
    the targets, says how far from 1.00 this run could tell anything apart."""
    import bench.extauthz as b

    same, fast = [1000, 1000, 1000], [(0.5, 1.0)] * 3
    results = {
        b.TRIVIAL: scenario(same, steady=fast),
        b.TRIVIAL_TWIN: scenario([850, 1000, 1100], steady=[(0.5, 1.5), (9.0, 30.0), (0.5, 0.8)]),
        b.TRIVIAL_AIO: scenario(same),
        b.ADAPTER: scenario(same, steady=fast),
        b.ADAPTER_JWT: scenario(same, steady=fast),
        b.W1: scenario(same, cpu=[400] * 3),
        b.W2: scenario(same, cpu=[400] * 3),
    }
    checks = {c["target"]: c for c in targets(results, interval_ms=4.0)}
    twin = checks[f"{b.TRIVIAL_TWIN}: req/s against {b.TRIVIAL}"]
    assert (twin["verdict"], twin["rounds"]) == ("INFO", [0.85, 1.0, 1.1])
    assert twin["value"] == "100% (rounds 85% to 110%)"
    p99 = checks[f"{b.TRIVIAL_TWIN}: p99 at 1k req/s against {b.TRIVIAL}"]
    assert p99["rounds"] == [1.5, 0.8]  # the round behind the schedule (p50 9 ms) is left out


def test_each_adapter_is_judged_against_the_trivial_server_on_its_own_transport():
    """The adapter on the compiled transport against a trivial server on the same transport; on grpcio against
    the trivial grpcio server: the transport's cost is the same on both sides of each ratio."""
    import bench.extauthz as b

    fast = [(0.5, 1.0)] * 3
    results = {
        b.TRIVIAL: scenario([1000, 1000, 1000], steady=fast),
        b.TRIVIAL_COMPILED: scenario([2000, 2000, 2000], steady=fast, transport="compiled"),
        b.TRIVIAL_AIO: scenario([700, 700, 700]),
        b.ADAPTER: scenario([1900, 1950, 1850], steady=fast, transport="compiled"),
        b.ADAPTER_JWT: scenario([1500, 1500, 1500], steady=fast, transport="compiled"),
        b.ADAPTER_GRPCIO: scenario([800, 800, 800], steady=fast, transport="grpcio"),
        b.W1: scenario([1000, 1000, 1000], cpu=[100, 100, 100]),
        b.W2: scenario([1900, 1900, 1900], cpu=[100, 100, 100]),
    }
    verdicts = {c["target"]: c["verdict"] for c in targets(results)}
    assert verdicts[f"{b.ADAPTER}: req/s ≥ 90% of {b.TRIVIAL_COMPILED}"] == "PASS"
    assert verdicts[f"{b.ADAPTER_JWT}: req/s ≥ 90% of {b.TRIVIAL_COMPILED}"] == "MISS"
    assert verdicts[f"{b.ADAPTER_GRPCIO}: req/s ≥ 90% of {b.TRIVIAL}"] == "MISS"
    assert f"{b.ADAPTER}: req/s ≥ 90% of {b.TRIVIAL}" not in verdicts


def test_each_http_mode_adapter_is_judged_against_the_trivial_server_on_its_own_http_transport():
    """HTTP mode as for gRPC: the adapter on the compiled HTTP transport against the trivial server on it, the adapter
    on aiohttp against the trivial aiohttp server, for throughput and for latency at 1,000 req/s."""
    import bench.extauthz as b

    fast, slow = [(0.5, 1.0)] * 3, [(0.7, 1.4)] * 3
    results = {
        b.TRIVIAL: scenario([1000, 1000, 1000], steady=fast),
        b.TRIVIAL_AIO: scenario([700, 700, 700]),
        b.TRIVIAL_HTTP_COMPILED: scenario([4000, 4000, 4000], mode="http", steady=fast, transport="compiled"),
        b.TRIVIAL_HTTP: scenario([2000, 2000, 2000], mode="http", steady=slow, transport="aiohttp"),
        b.ADAPTER: scenario([1000, 1000, 1000], steady=fast),
        b.ADAPTER_JWT: scenario([1000, 1000, 1000], steady=fast),
        b.ADAPTER_HTTP: scenario([3800, 3900, 3700], mode="http", steady=fast, transport="compiled"),
        b.ADAPTER_HTTP_AIOHTTP: scenario([1900, 1950, 1850], mode="http", steady=slow, transport="aiohttp"),
        b.TRIVIAL_HTTP_COMPILED_RECORDED: scenario([3000, 3000, 3000], mode="http", transport="compiled"),
        b.TRIVIAL_HTTP_RECORDED: scenario([1900, 1900, 1900], mode="http", steady=slow, transport="aiohttp"),
        b.W1: scenario([1000, 1000, 1000], cpu=[100, 100, 100]),
        b.W2: scenario([1900, 1900, 1900], cpu=[100, 100, 100]),
    }
    checks = {c["target"]: c for c in targets(results)}
    verdicts = {target: c["verdict"] for target, c in checks.items()}
    for adapter, trivial in ((b.ADAPTER_HTTP, b.TRIVIAL_HTTP_COMPILED), (b.ADAPTER_HTTP_AIOHTTP, b.TRIVIAL_HTTP)):
        assert verdicts[f"{adapter}: req/s ≥ 90% of {trivial}"] == "PASS"
        assert verdicts[f"{adapter}: p50 at 1k req/s ≤ 1.25x {trivial}"] == "PASS"
        assert verdicts[f"{adapter}: p99 at 1k req/s ≤ 1.25x {trivial}"] == "PASS"
    assert checks[f"{b.ADAPTER_HTTP}: req/s ≥ 90% of {b.TRIVIAL_HTTP_COMPILED}"]["rounds"] == [0.95, 0.975, 0.925]
    # Never across transports: the compiled adapter against aiohttp (or the other way) would flatter or wrong it.
    assert not [t for t in verdicts if t.startswith(b.ADAPTER_HTTP + ":") and t.endswith(b.TRIVIAL_HTTP)]
    assert not [t for t in verdicts if t.startswith(b.ADAPTER_HTTP_AIOHTTP) and b.TRIVIAL_HTTP_COMPILED in t]
    # The recorded allows: each adapter against the trivial server on its transport answering it (INFO).
    assert checks[f"{b.ADAPTER_HTTP}: req/s against {b.TRIVIAL_HTTP_COMPILED_RECORDED}"]["verdict"] == "INFO"
    assert checks[f"{b.ADAPTER_HTTP_AIOHTTP}: req/s against {b.TRIVIAL_HTTP_RECORDED}"]["verdict"] == "INFO"
    assert b.reference(b.TRIVIAL_HTTP_COMPILED_RECORDED, results) == b.TRIVIAL_HTTP_COMPILED
    assert b.reference(b.TRIVIAL_HTTP_RECORDED, results) == b.TRIVIAL_HTTP


def test_gc_pauses_are_read_from_the_adapters_histogram_as_prometheus_exposes_it():
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from apim_adapter.metrics import GC_PAUSES
    from bench.extauthz import gc_pauses

    registry = CollectorRegistry()  # the adapter's histogram, its name and buckets, in a registry of its own
    pauses = Histogram(GC_PAUSES._name, "", ["generation"], buckets=GC_PAUSES._upper_bounds, registry=registry)
    for generation, seconds in (("2", 0.003), ("2", 0.020), ("0", 0.0004)):
        pauses.labels(generation).observe(seconds)
    read = gc_pauses(generate_latest(registry).decode())
    assert read == {
        "0": {"collections": 1, "mean_ms": 0.4, "all_under_ms": 0.5},
        "2": {"collections": 2, "mean_ms": 11.5, "all_under_ms": 25.0},
    }
