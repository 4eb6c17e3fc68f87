"""Prometheus's own query engine for the tests of the chart's alerts and Grafana dashboard: harness/promql (built by
`make setup` from the Go module proxy at PROMETHEUS_VERSION) stores the series a test gives it in a TSDB of its own
and answers each instant query as a Prometheus server would, so an expression is judged by what Prometheus returns
for it (a label an aggregation drops, a join that matches nothing, a comparison that never holds), not by whether
it parses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

import requests
from prometheus_client.parser import text_string_to_metric_families

from .helpers import ROOT, tool

Labels = dict[str, str]


@dataclass
class Answer:
    """What Prometheus answered one query: its series (labels → value; None for NaN or an infinity), or its error."""

    error: str = ""
    series: list[tuple[Labels, float | None]] = field(default_factory=list)


@dataclass
class Series:
    """One stored series: its labels (`__name__` among them) and its samples, (unix seconds, value)."""

    labels: Labels
    samples: list[tuple[float, float]]


def evaluate(series: list[Series], queries: Sequence[tuple[str, float]]) -> list[Answer]:
    """Each query, (expression, unix seconds), evaluated over `series` at its time, in order: one process and one
    TSDB for them all."""
    document = {
        "series": [{"labels": s.labels, "samples": [[t * 1000, v] for t, v in s.samples]} for s in series],
        "queries": [{"expr": expr, "time": int(at * 1000)} for expr, at in queries],
    }
    result = subprocess.run(
        [tool("promql")], input=json.dumps(document), capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"harness/promql failed: {result.stderr.strip()}")
    return [
        Answer(answer.get("error", ""), [(s["labels"], s["value"]) for s in answer.get("series") or []])
        for answer in json.loads(result.stdout)
    ]


# ---- the chart's Grafana dashboard ----

DASHBOARD = ROOT / "charts" / "apim-adapter" / "files" / "grafana-dashboard.json"


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panel_queries() -> list[tuple[str, dict]]:
    """(panel title, target) for every query of the dashboard's panels."""
    return [(panel["title"], target) for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def as_sent(expr: str, namespace: str, job: str, rate_interval: str = "5m", api: str = ".*") -> str:
    """A panel's query as Grafana sends it to Prometheus with these variables picked (`api` ".*": All)."""
    for variable, value in (("namespace", namespace), ("job", job), ("api", api)):
        expr = expr.replace(f"${variable}", value)
    return expr.replace("$__rate_interval", rate_interval)


# ---- a real adapter's metrics, as Prometheus scrapes them ----

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(admin: str) -> Scrape:
    """An adapter's /metrics (at its admin URL) as Prometheus reads its text format: (sample name, labels) → value."""
    text = requests.get(admin + "/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def scraped(scrapes: Sequence[tuple[float, Scrape]], target: Labels) -> list[Series]:
    """Scrapes of one target, (unix seconds, scrape) in time order, as Prometheus stores them: a series per sample of
    the last scrape, with the target's labels, its values at the scrapes it was in."""
    _, last = scrapes[-1]
    return [
        Series({**dict(labels), **target, "__name__": name},
               [(at, values[name, labels]) for at, values in scrapes if (name, labels) in values])
        for name, labels in last
    ]  # fmt: skip
