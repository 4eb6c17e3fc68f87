"""Prometheus metrics served on the admin port."""

from __future__ import annotations

import bisect
import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

DECISIONS = Counter(
    "apim_adapter_decisions",
    "Authorization decisions by API, application, tier, outcome and WSO2 error code",
    ["api", "application", "tier", "outcome", "code"],
)
CHECK_DURATION = Histogram(
    "apim_adapter_check_duration_seconds",
    "Time to answer one check, by transport",
    ["transport"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
CHECK_ERRORS = Counter(
    "apim_adapter_check_errors", "Checks answered with an error (dependency unavailable)", ["transport"]
)
CHECKS_REFUSED = Counter(
    "apim_adapter_checks_refused",
    "gRPC checks not run on the compiled transport: over server.maxPendingChecks (pending_limit), or their caller "
    "gone (deadline passed or cancelled) before a check thread took them (abandoned)",
    ["reason"],
)
ACCESS_LOG_ENTRIES = Counter(
    "apim_adapter_access_log_entries",
    "Gateway access log entries received, by what they became (response, fault, skipped, unreadable)",
    ["outcome"],
)
TOKEN_CACHE = Counter("apim_adapter_token_cache", "Token cache lookups", ["result"])
JWKS_FETCHES = Counter("apim_adapter_jwks_fetches", "JWKS fetches by key manager and result", ["key_manager", "result"])
JWKS_LOADED = Gauge("apim_adapter_jwks_loaded", "1 once the key manager's JWKS is loaded", ["key_manager"])
CATALOG_RELOADS = Counter("apim_adapter_catalog_reloads", "Catalog loads by source and result", ["source", "result"])
CATALOG_OBJECTS = Gauge("apim_adapter_catalog_objects", "Objects in the serving catalog", ["kind"])
CATALOG_SKIPPED = Gauge("apim_adapter_catalog_skipped_items", "Items of the serving catalog left out as invalid")
CATALOG_UNENFORCED = Gauge(
    "apim_adapter_catalog_unenforced_items",
    "Items of the serving catalog enforced otherwise than APIM configures them (see the log)",
)
CATALOG_LOADED = Gauge("apim_adapter_catalog_loaded_timestamp_seconds", "When the serving catalog was loaded")
GC_PAUSES = Histogram(
    "apim_adapter_gc_pause_seconds",
    "Python's garbage collections by generation (2: full), each timed: every check waits while one runs",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
BODIES_UNREAD = Counter(
    "apim_adapter_bodies_unread",
    "Calls refused because a policy of their operation reads the request body (Regex Policy, JSON or XML Validator) "
    "and the gateway did not hand it over whole (includeRequestBodyInCheck unset, or the body past maxRequestBytes)",
    ["api"],
)
POLICIES_UNAPPLIED = Counter(
    "apim_adapter_policies_unapplied",
    "Calls allowed in HTTP mode whose operation policies or endpoint security change the query, the path or the "
    "method (Add Query Param, Rewrite Resource Path, Change HTTP Method, an API key in the query), which Envoy's "
    "HTTP client cannot do: the backend got the client's",
    ["api"],
)
BACKEND_TOKEN_FETCHES = Counter(
    "apim_adapter_backend_token_fetches",
    "Tokens asked of OAuth-secured backends' token URLs (APIM's endpoint security), by result",
    ["result"],
)
RATE_LIMIT_ERRORS = Counter("apim_adapter_rate_limit_errors", "Shared rate-limit backend failures", ["policy"])

# The wso2 control plane and APIM's event hub.
CONTROLPLANE_SYNC_LAG = Histogram(
    "apim_adapter_controlplane_sync_lag_seconds",
    "Time from an APIM event's timestamp until its change serves",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONTROLPLANE_SYNC_FAILURES = Counter(
    "apim_adapter_controlplane_sync_failures", "Failed pulls from APIM's internal data API", ["operation"]
)
CONTROLPLANE_EVENTS = Counter(
    "apim_adapter_controlplane_events",
    "Event hub messages by topic, event type (known types only) and outcome: applied, ignored or poison",
    ["topic", "type", "outcome"],
)
CONTROLPLANE_LAST_FULL_SYNC = Gauge(
    "apim_adapter_controlplane_last_full_sync_timestamp_seconds", "When the last full pull from APIM succeeded"
)
CONTROLPLANE_TASK_RESTARTS = Counter(
    "apim_adapter_controlplane_task_restarts",
    "Control plane tasks that ended unexpectedly and were restarted",
    ["task"],
)
EVENT_HUB_CONNECTED = Gauge("apim_adapter_controlplane_event_hub_connected", "1 while the event hub is consumed")
EVENT_HUB_FAILURES = Counter(
    "apim_adapter_controlplane_event_hub_failures",
    "Event hub session failures by stage: connect, channel, consume, connection lost, channel closed, bug",
    ["stage"],
)

# `apim-adapter mesh-sync`: its own process, serving its own registry (`mesh_sync_registry`) on
# meshSync.metricsPort. Not in the default registry, so an adapter's /metrics carries no mesh-sync series it never
# sets (a leader gauge at 0 on every adapter pod would read as "nobody leads").
MESH_SYNC_APIS_ROUTED = Gauge("apim_mesh_sync_apis_routed", "APIs routed on the ingress gateway", registry=None)
MESH_SYNC_APIS_UNROUTED = Gauge(
    "apim_mesh_sync_apis_unrouted", "APIs deployed to the gateway environment that are not routed", registry=None
)
MESH_SYNC_CONFLICTS = Gauge(
    "apim_mesh_sync_conflicts", "Objects we would write whose name another owner holds", registry=None
)
MESH_SYNC_ROUTES_REFUSED = Gauge(
    "apim_mesh_sync_routes_refused",
    "Accepted or ResolvedRefs conditions of our HTTPRoutes set False",
    registry=None,
)
MESH_SYNC_SERVICES_EXPORTED = Gauge(
    "apim_mesh_sync_services_exported",
    "Services annotated for export (meshSync.exportServices) whose API the last pass left as they declare",
    registry=None,
)
MESH_SYNC_SERVICES_UNEXPORTED = Gauge(
    "apim_mesh_sync_services_unexported",
    "Services annotated for export whose API the last pass could not create or update (their ExportFailed Event "
    "says why)",
    registry=None,
)
MESH_SYNC_FAILURES = Counter(
    "apim_mesh_sync_failures",
    "Failed pulls from APIM (apim), writes to Kubernetes (kubernetes), lease renewals (lease) and Service export "
    "passes (export)",
    ["operation"],
    registry=None,
)
MESH_SYNC_LEADER = Gauge("apim_mesh_sync_leader", "1 while this replica holds the lease and writes", registry=None)
MESH_SYNC_LAST_CONVERGED = Gauge(
    "apim_mesh_sync_last_converged_timestamp_seconds",
    "When the objects last matched APIM (set by the leader only)",
    registry=None,
)
# What the leader found on its last pass; a replica that stops leading sets them to 0 (it writes nothing), so a
# maximum over the replicas is the leader's.
MESH_SYNC_LEADERS_FINDINGS = (
    MESH_SYNC_APIS_ROUTED,
    MESH_SYNC_APIS_UNROUTED,
    MESH_SYNC_CONFLICTS,
    MESH_SYNC_ROUTES_REFUSED,
    MESH_SYNC_SERVICES_EXPORTED,
    MESH_SYNC_SERVICES_UNEXPORTED,
)
MESH_SYNC = (*MESH_SYNC_LEADERS_FINDINGS, MESH_SYNC_FAILURES, MESH_SYNC_LEADER, MESH_SYNC_LAST_CONVERGED)


def mesh_sync_registry() -> CollectorRegistry:
    """What mesh-sync's /metrics serves: its own metrics, those of the event hub client it shares with the adapter,
    and the process's. Not the default registry: that one also holds the adapter's unlabelled series (a catalog
    loaded at timestamp 0, ...), which on mesh-sync's pods would list them as adapter releases in the dashboard's
    picker and read as a broken adapter."""
    registry = CollectorRegistry()
    for metric in (*MESH_SYNC, EVENT_HUB_CONNECTED, EVENT_HUB_FAILURES, CONTROLPLANE_EVENTS):
        registry.register(metric)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    for operation in ("apim", "kubernetes", "lease", "export"):
        MESH_SYNC_FAILURES.labels(operation)  # at 0 from the start: Prometheus's rate() sees the first failure
    return registry


class Tallies:
    """Per-request counts kept as plain integers, folded into the Prometheus metrics above when they are read.

    A Prometheus `inc()` or `observe()` takes a lock and costs microseconds (with workers, a write to a shared
    file); a check only adds 1 to an entry of a dict that belongs to its own thread (no lock, no lost update: no
    other thread writes it). `fold` adds what every thread counted since the last fold to the real metrics, at
    each scrape. When workers share their metrics through files (`SHARED`), another worker's scrape cannot fold
    this process's dicts: each worker then also folds every `FOLD_SECONDS`, so a scrape sees the other workers'
    counts at most that late.

    Keys come from the catalog (API, application, tier) and WSO2's fixed codes, never from what a client sends,
    so the dicts stay as small as the catalog."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._tallies: list[dict[tuple[Any, ...], float]] = []
        self._folded: list[dict[tuple[Any, ...], float]] = []
        self._lock = threading.Lock()  # new threads and folds only: never taken by a check
        self._children: dict[tuple[Any, ...], Any] = {}

    def mine(self) -> dict[tuple[Any, ...], float]:
        """This thread's tally: key → count (or sum of seconds for a histogram's `_sum`)."""
        try:
            return self._local.tally
        except AttributeError:
            tally: dict[tuple[Any, ...], float] = {}
            self.adopt(tally)
            self._local.tally = tally
            return tally

    def adopt(self, tally: dict[tuple[Any, ...], float]) -> None:
        """Fold `tally` too: a new thread's, or one that is not a thread's (see `GcPauses`)."""
        with self._lock:
            self._tallies.append(tally)
            self._folded.append({})

    def fold(self) -> None:
        with self._lock:
            for tally, folded in zip(self._tallies, self._folded, strict=True):
                for key, value in tally.copy().items():  # a copy: the owner may add keys meanwhile
                    delta = value - folded.get(key, 0)
                    if delta:
                        folded[key] = value
                        self._add(key, delta)

    def _add(self, key: tuple[Any, ...], delta: float) -> None:
        kind = key[0]
        if kind is BUCKET:
            self._child(key[1], key[2:-1])._buckets[key[-1]].inc(delta)
        elif kind is SECONDS:
            self._child(key[1], key[2:])._sum.inc(delta)
        else:
            self._child(kind, key[1:]).inc(delta)

    def _child(self, metric: Any, labels: tuple[Any, ...]) -> Any:
        child = self._children.get((metric, labels))
        if child is None:
            child = self._children[metric, labels] = metric.labels(*labels) if labels else metric
        return child


# The keys of a tally: (DECISIONS, api, application, tier, outcome, code), (TOKEN_CACHE, result), and a
# histogram's observations as (BUCKET, histogram, *labels, bucket index) and (SECONDS, histogram, *labels).
# Prometheus histograms keep one non-cumulative count per bucket (`_buckets[i]`): the fold adds to the same ones
# `observe()` would.
BUCKET, SECONDS = object(), object()
DURATION_BOUNDS = CHECK_DURATION._upper_bounds  # ends with +Inf
TALLIES = Tallies()
SHARED = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))  # set by the supervisor before it starts workers


FOLD_SECONDS = 1.0  # with workers: how late one worker's counts may reach another's scrape


def count(key: tuple[Any, ...], amount: float = 1) -> None:
    """Add to a tallied metric (a key as above)."""
    tally = TALLIES.mine()
    tally[key] = tally.get(key, 0) + amount


def checked(decided: tuple[Any, ...], transport: str, seconds: float, *also: tuple[Any, ...]) -> None:
    """One check in this thread's tally: its decision, its duration and any other count (`also`)."""
    tally = TALLIES.mine()  # once for the four counts: the same as four count() calls, for less
    tally[decided] = tally.get(decided, 0) + 1
    for key in also:
        tally[key] = tally.get(key, 0) + 1
    keys = _DURATION_KEYS.get(transport) or _duration_keys(transport)
    # Bounds are inclusive, as Prometheus counts: the first bound at or above the duration.
    key = keys[bisect.bisect_left(DURATION_BOUNDS, seconds)]
    tally[key] = tally.get(key, 0) + 1
    key = keys[-1]
    tally[key] = tally.get(key, 0) + seconds


_DURATION_KEYS: dict[str, tuple[tuple[Any, ...], ...]] = {}


def histogram_keys(histogram: Histogram, *labels: str) -> tuple[tuple[Any, ...], ...]:
    """The tally keys of a histogram's series: one per bucket, in the order of its bounds, then its `_sum`'s."""
    buckets = range(len(histogram._upper_bounds))
    return (*((BUCKET, histogram, *labels, i) for i in buckets), (SECONDS, histogram, *labels))


def _duration_keys(transport: str) -> tuple[tuple[Any, ...], ...]:
    """A transport's duration keys, built once."""
    return _DURATION_KEYS.setdefault(transport, histogram_keys(CHECK_DURATION, transport))


class GcPauses:
    """A `gc.callbacks` entry timing every collection into `GC_PAUSES`, through a tally of its own.

    The collector holds the GIL from start to stop, so the pause is what every check in the process waited. The
    callback runs inside whatever code allocated when the collection began, a lock's holder included: it takes
    no lock and builds no container (either could deadlock or start another collection), it adds numbers to
    keys made beforehand; the tally is folded at each scrape like a check thread's."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.started = 0.0
        self.keys = tuple(histogram_keys(GC_PAUSES, str(generation)) for generation in range(3))
        self.tally: dict[tuple[Any, ...], float] = dict.fromkeys((k for keys in self.keys for k in keys), 0)
        self.bounds = GC_PAUSES._upper_bounds

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = self.clock()
            return
        seconds = self.clock() - self.started
        keys, tally = self.keys[info["generation"]], self.tally
        key = keys[bisect.bisect_left(self.bounds, seconds)]
        tally[key] += 1
        key = keys[-1]
        tally[key] += seconds


def watch_gc() -> None:
    """Time this process's collections from now on (once: a second call changes nothing)."""
    if not any(isinstance(callback, GcPauses) for callback in gc.callbacks):
        pauses = GcPauses()
        TALLIES.adopt(pauses.tally)
        gc.callbacks.append(pauses)
