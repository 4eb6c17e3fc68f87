"""Prometheus metrics served on the admin port."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

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
TOKEN_CACHE = Counter("apim_adapter_token_cache", "Token cache lookups", ["result"])
JWKS_FETCHES = Counter("apim_adapter_jwks_fetches", "JWKS fetches by key manager and result", ["key_manager", "result"])
JWKS_LOADED = Gauge("apim_adapter_jwks_loaded", "1 once the key manager's JWKS is loaded", ["key_manager"])
CATALOG_RELOADS = Counter("apim_adapter_catalog_reloads", "Catalog loads by source and result", ["source", "result"])
CATALOG_OBJECTS = Gauge("apim_adapter_catalog_objects", "Objects in the serving catalog", ["kind"])
CATALOG_SKIPPED = Gauge("apim_adapter_catalog_skipped_items", "Items of the serving catalog left out as invalid")
CATALOG_LOADED = Gauge("apim_adapter_catalog_loaded_timestamp_seconds", "When the serving catalog was loaded")
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


class LabelledCache:
    """The children of a metric by label values, looked up once each: `labels()` is slow on the hot path.

    Label values come from the catalog (API, application, tier) and WSO2's fixed codes, never from what a client
    sends, so the number of children is bounded by the catalog; `max_children` bounds it anyway."""

    def __init__(self, metric: Any, max_children: int = 10_000):
        self.metric, self.max_children = metric, max_children
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            if len(self._children) >= self.max_children:
                self._children.clear()
            child = self._children[values] = self.metric.labels(*values)
        return child
