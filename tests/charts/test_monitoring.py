"""The chart's Grafana dashboard and alerts, judged by what Prometheus answers them (harness/promql: its query engine
and TSDB) over series shaped as Prometheus stores the adapter's: each series the adapter exports (names, label
names and histogram buckets from adapter/src/apim_adapter/metrics.py, as prometheus_client writes them), with the
labels a ServiceMonitor gives a target (`namespace`, `job` the Service's name, `pod`, `instance`), for two pods of
this release and one of another release; mesh-sync's series (its own metrics and its event hub client's) with the
labels its PodMonitor gives them (`job` `<namespace>/<PodMonitor name>`, as the Prometheus Operator sets it); and
the series every kube-prometheus-stack also has for the pods, `up` and the kubelet's cAdvisor `container_*` (labels
`namespace`, `pod`, `container`, job `kubelet`).

What a user would notice and these tests catch: a panel that shows nothing (a label an aggregation drops, a join
that matches nothing, a metric renamed), a panel that mixes in another release's pods, a legend naming a label its
query does not keep, an alert that cannot fire or fires on a healthy adapter."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from collections.abc import Callable

import pytest
from chart_helpers import CHARTS, alerts, find, kinds, render
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from apim_adapter import errors, metrics
from harness.helpers import tool
from harness.promql import Answer, Labels, Series, as_sent, dashboard, evaluate, panel_queries

CHART = "apim-adapter"
WSO2 = (CHARTS / CHART / "ci" / "all-enabled-values.yaml",)  # every alert: wso2 control plane, access log service

NOW = 1_800_000_000.0
START = NOW - 3600  # an hour of samples, a minute apart
TIMES = [START + 60 * i for i in range(61)]
# A ServiceMonitor's target labels (its job: the Service's name); the release renders as `rel` in namespace `apim`.
RELEASE = {"namespace": "apim", "job": "rel-apim-adapter"}
PODS = ("rel-apim-adapter-6f7d9-2xk4p", "rel-apim-adapter-6f7d9-9qz7t")
OTHER = {"namespace": "team-b", "job": "team-b-apim-adapter"}
OTHER_PODS = ("team-b-apim-adapter-5c4b8-lm2n8",)
# mesh-sync's pods, as its PodMonitor labels them (job: the Prometheus Operator's `<namespace>/<PodMonitor name>`).
# They serve what metrics.mesh_sync_registry holds: mesh-sync's series and its event hub client's.
MESH_SYNC_RELEASE = {"namespace": "apim", "job": "apim/rel-apim-adapter-mesh-sync"}
MESH_SYNC_PODS = ("rel-apim-adapter-mesh-sync-7b5c6-4hx2w", "rel-apim-adapter-mesh-sync-7b5c6-tq8kd")
MESH_SYNC_OTHER = {"namespace": "team-b", "job": "team-b/team-b-apim-adapter-mesh-sync"}
MESH_SYNC_OTHER_PODS = ("team-b-apim-adapter-mesh-sync-6d8f9-w2c5z",)
MESH_SYNC_SERVES = tuple(f.name for f in metrics.mesh_sync_registry().collect() if f.name.startswith("apim_"))

# The values the adapter writes for the labels a panel or an alert selects on, read from where it writes them (any
# other label gets "v"). The registry also holds whatever children the other tests in this process made.
LABEL_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "apim_adapter_decisions": {
        "api": ("httpbin", ""),
        "application": ("SubscribedApp", ""),
        "tier": ("Gold",),
        "outcome": ("allow", "deny"),  # decision.Decision.outcome
        "code": ("", "900901", "900804", "900805", "902011"),  # errors.CODES
    },
    "apim_adapter_token_cache": {"result": ("hit", "miss")},  # tokens.authenticator.CACHE_HIT, CACHE_MISS
    "apim_adapter_backend_token_fetches": {"result": ("ok", "failed")},  # backend_tokens
    "apim_adapter_catalog_reloads": {"result": ("success", "error")},  # store
    "apim_adapter_controlplane_events": {"outcome": ("applied", "poison")},  # controlplane.wso2, eventhub
}

Motion = Callable[[float], float]  # a series' value at a time
Scenario = Callable[[str, Labels], Motion]  # how each series moves


def counting(per_second: float) -> Motion:
    return lambda t: per_second * (t - START)


def steady(value: float) -> Motion:
    return lambda t: value


def fresh(age: float) -> Motion:
    """A timestamp gauge set `age` seconds before each scrape."""
    return lambda t: t - age


COUNTED = ("_total", "_bucket", "_count", "_sum")


def healthy(name: str, labels: Labels) -> Motion:
    """An adapter serving well: checks decided (allowed and denied), timed and logged, keys loaded, the event hub
    consumed, the catalog fresh and whole; every failure counter where it stood an hour ago."""
    if name == "up":
        return steady(1)  # every pod scraped
    flowing = name.startswith(("apim_adapter_check_duration", "apim_adapter_token_cache", "apim_adapter_access_log"))
    if name == "apim_adapter_decisions_total":
        flowing = labels["code"] != "902011"  # OPA answering
    if name.endswith("_timestamp_seconds"):
        return fresh(30)
    if name in ("apim_adapter_jwks_loaded", "apim_adapter_controlplane_event_hub_connected"):
        return steady(1)
    if name in ("apim_adapter_catalog_skipped_items", "apim_adapter_catalog_unenforced_items"):
        return steady(0)
    if name.startswith("apim_mesh_sync_") and name.endswith(("unrouted", "conflicts", "refused", "unexported")):
        return steady(0)  # every API routed, every exported Service exported
    if name.endswith(COUNTED):
        return counting(2.0) if flowing else steady(7)
    return steady(3)


def busy(name: str, labels: Labels) -> Motion:
    """Everything moving: every counter counting, every gauge set (what a dashboard must have a line for), every pod
    scraped."""
    if name.endswith("_timestamp_seconds"):
        return fresh(30)
    return counting(2.0) if name.endswith(COUNTED) else steady(1)


def scaled(base: Scenario, factor: float) -> Scenario:
    """`base` with every value `factor` times as large: another release's series, told apart from this one's by a
    sum or a maximum (a factor over 1) and by a minimum (under 1)."""
    return lambda name, labels: (lambda motion: lambda t: factor * motion(t))(base(name, labels))


def but(base: Scenario, name: str, motion: Motion, **match: str) -> Scenario:
    """`base`, but the series named `name` whose labels include `match` move as `motion`."""
    return lambda n, labels: (
        motion if n == name and all(labels.get(k) == v for k, v in match.items()) else base(n, labels)
    )


def exported_samples() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series the adapter's metrics write (sample name, labels): those the process has, and a child per
    combination of LABEL_VALUES, made for the reading and removed after it (the registry is the test process's)."""
    made = []
    mesh_sync = metrics.mesh_sync_registry()  # what mesh-sync's process serves, not the test process's registry
    try:
        for metric in vars(metrics).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            names = metric._labelnames  # prometheus_client keeps the label names a metric was declared with here
            if not names:
                continue  # one series, already in the registry
            had = {tuple(s.labels[n] for n in names) for family in metric.collect() for s in family.samples}
            values = LABEL_VALUES.get(metric._name, {})
            for combination in itertools.product(*(values.get(n, ("v",)) for n in names)):
                if combination not in had:
                    metric.labels(*combination)
                    made.append((metric, combination))
        return {
            (sample.name, tuple(sorted(sample.labels.items())))
            for family in [*REGISTRY.collect(), *mesh_sync.collect()]
            if family.name.startswith(("apim_adapter_", "apim_mesh_sync_"))
            for sample in family.samples
            if not sample.name.endswith("_created")
        }
    finally:
        for metric, combination in made:
            metric.remove(*combination)


MESH_SYNC_TARGETS = {
    RELEASE["job"]: (MESH_SYNC_RELEASE, MESH_SYNC_PODS),
    OTHER["job"]: (MESH_SYNC_OTHER, MESH_SYNC_OTHER_PODS),
}


def targets(release: dict[str, str], pods: tuple[str, ...]) -> list[Labels]:
    return [{**release, "pod": pod, "instance": f"10.244.{i}.7:9090"} for i, pod in enumerate(pods, 1)]


def stored(this: Scenario, other: Scenario | None = None) -> list[Series]:
    """What Prometheus holds for this release's pods (each series moving as `this` says) and, with `other`, the
    other release's: the adapter's series, `up`, and the kubelet's cAdvisor series for their containers (the
    adapter's, and the sidecar beside it)."""
    samples = exported_samples()
    series = []
    releases = [(RELEASE, PODS, this)] + ([(OTHER, OTHER_PODS, other)] if other else [])
    for release, pods, scenario in releases:
        for target in targets(*MESH_SYNC_TARGETS[release["job"]]):
            for name, labels in samples:
                if name.startswith(MESH_SYNC_SERVES):
                    motion = scenario(name, dict(labels))
                    series.append(Series({**dict(labels), **target, "__name__": name},
                                         [(t, motion(t)) for t in TIMES]))  # fmt: skip
        for target in targets(release, pods):
            for name, labels in samples:
                if name.startswith("apim_mesh_sync_"):
                    continue
                motion = scenario(name, dict(labels))
                series.append(Series({**dict(labels), **target, "__name__": name}, [(t, motion(t)) for t in TIMES]))
            up = scenario("up", target)
            series.append(Series({**target, "__name__": "up"}, [(t, up(t)) for t in TIMES]))
            for container, cores, memory in (("adapter", 0.25, 90 << 20), ("istio-proxy", 0.1, 60 << 20)):
                cadvisor = {"namespace": target["namespace"], "pod": target["pod"], "container": container}
                cadvisor |= {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}
                series.append(Series({**cadvisor, "__name__": "container_cpu_usage_seconds_total"},
                                     [(t, counting(cores)(t)) for t in TIMES]))  # fmt: skip
                series.append(Series({**cadvisor, "__name__": "container_memory_working_set_bytes"},
                                     [(t, memory) for t in TIMES]))  # fmt: skip
    return series


# ---- the dashboard ----


def panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def as_selected(expr: str, release: dict[str, str]) -> str:
    """A panel's query as Grafana sends it with `release` picked and every API."""
    return as_sent(expr, release["namespace"], release["job"])


def ordered(answer: Answer) -> list:
    return sorted((sorted(labels.items()), value) for labels, value in answer.series)


@pytest.mark.parametrize("other", [3.0, 0.25], ids=["other release busier", "other release quieter"])
def test_every_panel_shows_the_chosen_releases_series_as_its_legend_names_them(other):
    queries = panel_queries()
    exprs = [as_selected(target["expr"], RELEASE) for _, target in queries]
    everything = evaluate(stored(busy, other=scaled(busy, other)), [(expr, NOW) for expr in exprs])
    this_release_only = evaluate(stored(busy), [(expr, NOW) for expr in exprs])
    assert len(queries) > 25
    for (title, target), answer, alone in zip(queries, everything, this_release_only, strict=True):
        where = f"{title!r} {target['refId']}: {target['expr']}"
        assert not answer.error, f"{where}: {answer.error}"
        assert answer.series, f"{where}: Prometheus answers nothing"
        assert all(value is not None for _, value in answer.series), f"{where}: {answer.series}"
        # The other release's pods change nothing: the panel shows this release alone.
        assert ordered(answer) == ordered(alone), where
        for label in re.findall(r"{{\s*(\w+)\s*}}", target["legendFormat"]):
            # Kept by the query (a series whose value is empty has no such label, as Prometheus stores it).
            assert any(label in labels for labels, _ in answer.series), f"{where}: no {label!r} for its legend"
        for labels, _ in answer.series:
            assert labels.get("pod", PODS[0]) in PODS, where
            assert labels.get("namespace", "apim") == "apim", where


def test_a_pod_prometheus_cannot_scrape_still_shows_its_cpu_and_memory():
    """A wedged adapter (its /metrics unanswered: `up` 0) is when its CPU and memory matter most."""
    pods_panels = [(t, target) for t, target in panel_queries() if "container_" in target["expr"]]
    unscraped = but(busy, "up", steady(0), pod=PODS[1])
    answers = evaluate(stored(unscraped, other=busy), [(as_selected(t["expr"], RELEASE), NOW) for _, t in pods_panels])
    assert len(answers) == 2
    for answer in answers:
        assert {labels["pod"] for labels, _ in answer.series} == set(PODS)
        assert all(value for _, value in answer.series)


def test_the_dashboard_reads_every_metric_the_adapter_exports():
    """A metric added to metrics.py gets a panel: the dashboard is where an operator looks first."""
    declared = {m._name for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    shown = " ".join(target["expr"] for _, target in panel_queries())
    missing = {name for name in declared if not re.search(rf"\b{name}(_total|_bucket|_seconds)?\b", shown)}
    assert not missing, f"not on the dashboard: {sorted(missing)}"


def test_the_throttling_panel_selects_the_codes_apims_throttle_handler_answers_with():
    (panel,) = [p for p in panels() if p["title"].startswith("Throttled")]
    (pattern,) = re.findall(r'code=~"([^"]+)"', panel["targets"][0]["expr"])
    throttled = {code for code, error in errors.CODES.items() if error.fault_category == "THROTTLED"}
    assert {code for code in errors.CODES if re.fullmatch(pattern, code)} == throttled


def test_the_release_pickers_list_the_releases_prometheus_holds():
    """Grafana fills each variable with `label_values(selector, label)`: Prometheus's answer to that selector,
    grouped by the label, with the variables it names as the user picked them."""
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    exprs, labels = [], []
    for name in ("namespace", "job", "api"):
        selector, label = re.fullmatch(r"label_values\((.*), (\w+)\)", variables[name]["query"]["query"]).groups()
        exprs.append(f"group by ({label}) ({as_selected(selector, RELEASE)})")
        labels.append(label)
    answers = evaluate(stored(busy, other=busy), [(expr, NOW) for expr in exprs])
    found = [{seen.get(label, "") for seen, _ in answer.series} for label, answer in zip(labels, answers, strict=True)]
    assert found[0] == {"apim", "team-b"}  # every namespace with an adapter
    assert found[1] == {"rel-apim-adapter"}  # the releases of the namespace picked
    assert {"httpbin", ""} <= found[2]


def grafana_schema_errors(board: dict) -> list[str]:
    """What Grafana's own dashboard schema finds wrong with `board` (harness/grafana-schema)."""
    result = subprocess.run(
        [tool("grafana-schema")], input=json.dumps(board), capture_output=True, text=True, check=False
    )
    return result.stdout.splitlines() if result.returncode else []


def test_grafanas_own_schema_takes_the_dashboard():
    """Every field Grafana's dashboard schema requires, none it does not know, each of its type; a panel's options
    by its plugin's schema, a query by the Prometheus data source's."""
    assert grafana_schema_errors(dashboard()) == []
    broken = dashboard()
    broken["panels"][1]["targets"][0]["exprr"] = broken["panels"][1]["targets"][0].pop("expr")
    del broken["panels"][1]["options"]["legend"]["showLegend"]
    assert sorted(grafana_schema_errors(broken)) == [
        "panels[1].options.legend.showLegend: required field is missing from input",
        "panels[1].targets[0].Dataquery: unexpected field 'exprr'",
        "panels[1].targets[0].expr: required field is missing from input",
    ]


def test_the_layout_fits_grafanas_grid_and_every_query_reads_the_chosen_data_source():
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in board["panels"]:
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
    defined = {v["name"] for v in board["templating"]["list"]}
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
            assert used <= defined, (panel["title"], used - defined)


def test_the_alerts_the_panels_name_are_the_charts():
    named = {name for panel in panels() for name in re.findall(r"\bApim(?:Adapter|MeshSync)\w+", panel["description"])}
    assert len(named) > 8
    assert named <= set(alerts(render(CHART, files=WSO2)))


def test_the_chart_ships_the_dashboard_for_grafanas_sidecar():
    assert "ConfigMap" not in [o["kind"] for o in render(CHART) if o["metadata"]["name"].endswith("-dashboard")]
    (shipped,) = [o for o in render(CHART, values={"grafanaDashboard": {"enabled": True}}) if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"] == "rel-apim-adapter-dashboard"]  # fmt: skip
    assert shipped["metadata"]["namespace"] == "apim"
    assert shipped["metadata"]["labels"]["grafana_dashboard"] == "1"  # kube-prometheus-stack's sidecar label
    assert json.loads(shipped["data"]["istio-apim-adapter.json"]) == dashboard()
    labels = {"grafana_dashboard": None, "dashboards": "apim"}
    elsewhere = {"enabled": True, "namespace": "monitoring", "labels": labels,
                 "annotations": {"grafana_folder": "API Management"}}  # fmt: skip
    moved = find(render(CHART, values={"grafanaDashboard": elsewhere}), "ConfigMap", "-dashboard")
    assert moved["metadata"]["namespace"] == "monitoring"
    assert moved["metadata"]["labels"]["dashboards"] == "apim"
    assert "grafana_dashboard" not in moved["metadata"]["labels"]  # null drops the default
    assert moved["metadata"]["annotations"] == {"grafana_folder": "API Management"}
    assert "ConfigMap" in kinds(render(CHART, values={"grafanaDashboard": elsewhere}))


# ---- the alerts ----

STALE = 3 * 300 + 60  # past three resyncSeconds (the values' 300)

# How each alert's failure looks in the series, from a healthy adapter: what its runbook (docs/operations.md) says
# happened. A new alert needs its line here.
FAILURES: dict[str, Callable[[Scenario], Scenario]] = {
    "ApimAdapterCheckErrors": lambda s: but(s, "apim_adapter_check_errors_total", counting(0.5)),
    "ApimAdapterJwksNotLoaded": lambda s: but(s, "apim_adapter_jwks_loaded", steady(0)),
    "ApimAdapterOpaFailing": lambda s: but(s, "apim_adapter_decisions_total", counting(0.5), code="902011"),
    "ApimAdapterBackendTokenFailing":
        lambda s: but(s, "apim_adapter_backend_token_fetches_total", counting(0.1), result="failed"),
    "ApimAdapterBodiesUnread": lambda s: but(s, "apim_adapter_bodies_unread_total", counting(0.5)),
    "ApimAdapterPoliciesUnapplied": lambda s: but(s, "apim_adapter_policies_unapplied_total", counting(0.5)),
    "ApimAdapterCatalogRejected":
        lambda s: but(s, "apim_adapter_catalog_reloads_total", counting(0.01), result="error"),
    "ApimAdapterCatalogItemsLeftOut": lambda s: but(s, "apim_adapter_catalog_skipped_items", steady(2)),
    "ApimAdapterCatalogItemsNotEnforced": lambda s: but(s, "apim_adapter_catalog_unenforced_items", steady(1)),
    "ApimAdapterAccessLogSilent": lambda s: but(s, "apim_adapter_access_log_entries_total", steady(40)),
    "ApimAdapterApimCatalogStale":
        lambda s: but(s, "apim_adapter_controlplane_last_full_sync_timestamp_seconds", fresh(STALE)),
    "ApimAdapterEventHubDisconnected": lambda s: but(s, "apim_adapter_controlplane_event_hub_connected", steady(0)),
    "ApimAdapterControlPlaneTaskRestarted":
        lambda s: but(s, "apim_adapter_controlplane_task_restarts_total", counting(0.01)),
    "ApimAdapterPoisonEvents":
        lambda s: but(s, "apim_adapter_controlplane_events_total", counting(0.01), outcome="poison"),
    "ApimMeshSyncNoLeader": lambda s: but(s, "apim_mesh_sync_leader", steady(0)),
    "ApimMeshSyncNotConverging":
        lambda s: but(s, "apim_mesh_sync_last_converged_timestamp_seconds", fresh(3 * 60 + 60)),  # resyncSeconds 60
    "ApimMeshSyncFailing": lambda s: but(s, "apim_mesh_sync_failures_total", counting(0.05), operation="apim"),
    "ApimMeshSyncRoutesRefused": lambda s: but(s, "apim_mesh_sync_routes_refused", steady(1)),
    "ApimMeshSyncConflicts": lambda s: but(s, "apim_mesh_sync_conflicts", steady(2)),
    "ApimMeshSyncApisUnrouted": lambda s: but(s, "apim_mesh_sync_apis_unrouted", steady(1)),
    "ApimMeshSyncServicesUnexported": lambda s: but(s, "apim_mesh_sync_services_unexported", steady(1)),
}  # fmt: skip


def seconds(duration: str) -> float:
    return float(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def evaluations(rule: dict) -> list[tuple[str, float]]:
    """The rule manager's evaluations of an alert that fires at NOW: each minute over its `for`, up to NOW (the
    last one is NOW's)."""
    held = seconds(rule.get("for", "0s"))
    return [(rule["expr"], NOW - held + 60 * i) for i in range(int(held // 60) + 1)]


@pytest.fixture(scope="module")
def rules() -> dict[str, dict]:
    return alerts(render(CHART, files=WSO2))


def test_a_healthy_adapter_fires_no_alert(rules):
    every = list(rules.values())
    assert set(FAILURES) == set(rules)
    queries = [(rule["alert"], query) for rule in every for query in evaluations(rule)]
    answers = evaluate(stored(healthy, other=healthy), [query for _, query in queries])
    for (alert, _), answer in zip(queries, answers, strict=True):
        assert not answer.error, (alert, answer.error)
        assert not answer.series, (alert, answer.series)


@pytest.mark.parametrize("alert", sorted(FAILURES))
def test_each_alert_fires_on_its_failure_in_this_release_alone(rules, alert):
    rule = rules[alert]
    failing = FAILURES[alert](healthy)
    # The failure in this release's pods, not the other release's: only this release's alert fires.
    here, there = stored(failing, other=healthy), stored(healthy, other=failing)
    held = evaluate(here, evaluations(rule))
    assert all(answer.series for answer in held), f"{alert} does not fire on its failure for its whole `for`"
    for labels, _ in held[-1].series:
        assert labels.get("namespace", "apim") == "apim"
        assert labels.get("pod", PODS[0]) in PODS
    assert not any(answer.series for answer in evaluate(there, evaluations(rule))), f"{alert} fires for another release"
