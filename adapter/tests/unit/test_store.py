"""The catalog store: what a control plane publishes, validated, swapped in, and reported."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY

from apim_adapter.store import CatalogStore
from harness.sample_catalog import catalog_document

UNENFORCED = "catalog item not enforced as APIM configures it"


def with_event_tier() -> dict:
    doc = catalog_document()
    doc["subscriptionPolicies"].append(
        {"name": "Events", "defaultLimit": {"quotaType": "eventCount", "eventCount": {"eventCount": 10}}}
    )
    doc["subscriptions"][0]["policyId"] = "Events"
    return doc


def unenforced_lines(caplog) -> list[str]:
    return [r.detail for r in caplog.records if r.getMessage() == UNENFORCED]  # type: ignore[attr-defined]


def test_what_is_not_enforced_is_logged_once_while_it_lasts_and_counted(caplog):
    """Every APIM event publishes the catalog again: a tier the adapter cannot enforce is told once, when it
    appears, not at every event; the gauge holds the count for as long as it lasts."""
    store = CatalogStore("file", lenient=False)

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("apim_adapter_catalog_unenforced_items")

    with caplog.at_level(logging.WARNING, logger="apim_adapter.store"):
        assert store.publish(with_event_tier())
        reordered = with_event_tier()
        reordered["subscriptionPolicies"].reverse()  # APIM's lists come in no promised order
        assert store.publish(reordered)
        assert unenforced_lines(caplog) == [
            "subscriptionPolicies 'Events': its eventCount quota is not enforced; the tier does not limit requests"
        ]
        assert gauge() == 1
        assert store.publish(catalog_document())  # the tier is gone
        assert gauge() == 0
        assert store.publish(with_event_tier())  # and back: told again
    assert len(unenforced_lines(caplog)) == 2
