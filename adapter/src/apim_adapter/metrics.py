"""Prometheus metrics served on the admin port."""

from __future__ import annotations

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
CATALOG_RELOADS = Counter("apim_adapter_catalog_reloads", "Catalog loads by source and result", ["source", "result"])
CATALOG_OBJECTS = Gauge("apim_adapter_catalog_objects", "Objects in the serving catalog", ["kind"])
CATALOG_SKIPPED = Gauge("apim_adapter_catalog_skipped_items", "Items of the serving catalog left out as invalid")
CATALOG_LOADED = Gauge("apim_adapter_catalog_loaded_timestamp_seconds", "When the serving catalog was loaded")
RATE_LIMIT_ERRORS = Counter("apim_adapter_rate_limit_errors", "Shared rate-limit backend failures", ["policy"])
