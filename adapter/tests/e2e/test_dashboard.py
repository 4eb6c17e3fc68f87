"""The chart's Grafana dashboard over what a real adapter exports: calls through real Envoy gateways (gRPC and HTTP
mode), the adapter's /metrics read before and after them as Prometheus scrapes it (its text format, a minute apart,
with a ServiceMonitor's target labels), and the dashboard's traffic panels evaluated by Prometheus's own engine
(harness/promql). Their lines are what the clients got: the same outcomes, WSO2 codes, tiers, API and applications,
at the rates the calls were made."""

from __future__ import annotations

import collections

import pytest
import requests

from harness.promql import as_sent, evaluate, panel_queries, scrape, scraped
from harness.sample_catalog import catalog_document

pytestmark = pytest.mark.e2e

API = "/httpbin/1.0.0"
NOW = 1_800_000_000.0
SCRAPED_BEFORE = NOW - 60
TARGET = {"namespace": "apim", "job": "rel-apim-adapter", "pod": "rel-apim-adapter-6f7d9-2xk4p",
          "instance": "10.244.1.7:9090"}  # fmt: skip
# Both scrapes in the range, the first one second after its start: Prometheus extrapolates to the range's ends by
# less than a counter's distance to zero, so a rate is exactly (after - before) / 60.
RATE_INTERVAL = "61s"


def call(url: str, token: str | None) -> tuple[int, str]:
    """A client's call: its status and, for a denial, the WSO2 code of the body."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = requests.get(url + API + "/ip", headers=headers, timeout=10)
    return response.status_code, "" if response.status_code == 200 else response.json()["code"]


def test_the_dashboards_traffic_panels_show_what_the_clients_got(stack, tmp_path):
    with stack.own_adapter(tmp_path, catalog_document()) as (adapter, gateways):
        clients = [  # who calls, with which token, how many times (after the warm-up before the first scrape)
            (None, None, 2),
            ("subscribed", stack.token("subscribed"), 3),
            ("unsubscribed", stack.token("unsubscribed"), 2),
        ]
        # Each gateway's clients, and on each its own application on a Tiny tier (3 a minute), used up in the warm-up.
        targets = [(mode, gw.url, *client) for mode, gw in gateways.items()
                   for client in [*clients, (f"throttled-{mode}", stack.token(f"throttled-{mode}"), 4)]]  # fmt: skip
        # Every series there before the first scrape, as in a pod that has served a while: Prometheus rates a series
        # from its second sample on (a series' first count, with no sample before it, is not in a rate).
        for _, url, app, token, _ in targets:
            if app is None or not app.startswith("throttled"):
                call(url, token)
            else:
                assert any(call(url, token)[0] == 429 for _ in range(8)), "the Tiny tier never refused"
        before = scrape(adapter.admin)
        got: collections.Counter = collections.Counter()
        for mode, url, app, token, times in targets:
            for _ in range(times):
                status, code = call(url, token)
                got[mode, app or "", status, code] += 1
        after = scrape(adapter.admin)

    panels = {(title, target["refId"]): target["expr"] for title, target in panel_queries()}
    shown = ["Checks by outcome", "Denials by WSO2 error code", "Throttled and blocked, by tier", "Top APIs",
             "Top applications", "Check latency", "Token cache hit ratio"]  # fmt: skip
    queries = [(title, ref) for title, ref in panels if title in shown]
    answers = evaluate(
        scraped([(SCRAPED_BEFORE, before), (NOW, after)], TARGET),
        [(as_sent(panels[q], TARGET["namespace"], TARGET["job"], RATE_INTERVAL), NOW) for q in queries],
    )
    lines = {query: {tuple(sorted(labels.items())): value for labels, value in answer.series}
             for query, answer in zip(queries, answers, strict=True)}  # fmt: skip

    def per_second(count_of) -> dict:
        rates: collections.Counter = collections.Counter()
        for key, n in got.items():
            label = count_of(*key)
            if label is not None:
                rates[tuple(sorted(label))] += n / 60
        return {label: pytest.approx(rate) for label, rate in rates.items()}

    total = sum(got.values())
    assert {status for _, _, status, _ in got} == {200, 401, 403, 429}
    assert lines["Checks by outcome", "A"] == per_second(
        lambda mode, app, status, code: {("outcome", "allow" if status == 200 else "deny")}
    )
    assert lines["Denials by WSO2 error code", "A"] == per_second(
        lambda mode, app, status, code: {("code", code)} if code else None
    )
    assert lines["Throttled and blocked, by tier", "A"] == per_second(
        lambda mode, app, status, code: {("tier", "Tiny"), ("code", code)} if status == 429 else None
    )
    assert lines["Top APIs", "A"] == {(("api", "HttpbinAPI"),): pytest.approx(total / 60)}
    # The applications of the calls with a token (a call without one has none).
    assert lines["Top applications", "A"] == per_second(
        lambda mode, app, status, code: {("application", app)} if app else None
    )
    for quantile in ("A", "B"):  # p50 and p99, by transport: both gateways' checks, within the provider's timeout
        latency = lines["Check latency", quantile]
        assert {dict(labels)["transport"] for labels in latency} == {"grpc", "http"}
        assert all(0 < value <= 0.5 for value in latency.values())
    # Each token was verified before the first scrape: every call since was answered from the cache.
    assert lines["Token cache hit ratio", "A"] == {(): pytest.approx(1.0)}
