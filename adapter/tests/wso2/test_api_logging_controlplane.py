"""APIM's per-API logging, followed by the wso2 control plane: the levels APIM's DevOps API sets (for an API, or
one of its resources) reach the catalog at a full pull (`/api-logging-configs`, what APIM's gateway loads at its
start) and at each `UDATE_API_LOG_LEVEL` event, and each call of such a resource is written at its level
(api_log.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from apim_adapter import catalog
from apim_adapter.controlplane.data_api import ControlPlaneError
from harness.publisher import Publisher, apply_latest, pulled, wso2_config


def levels(document: dict[str, Any], context: str) -> dict[tuple[str, str], str | None]:
    """Each resource of the API at `context` and the level its calls are written at, in the catalog built."""
    api = catalog.build(document, lenient=True).contexts[context]
    return {(r.method, r.pattern): r.log_level for r in api.resources}


def test_levels_set_in_apim_reach_the_catalog_at_the_pull_and_with_each_event(
    apim, publisher: Publisher, credentials, test_ca, tmp_path
):
    api_id = publisher.create("Orders", operations=[{"target": "/get", "verb": "GET"},
                                                    {"target": "/items", "verb": "POST"}])  # fmt: skip
    publisher.deploy_new_revision(api_id)
    context = next(a["context"] for a in apim.data["apis"] if a["uuid"] == api_id)
    apim.set_log_level(api_id, "basic")  # before the adapter starts: its first pull reads it
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)

    async def scenario() -> list[dict[str, Any]]:
        documents = []
        async with pulled(cfg) as cp:
            assert cp.snapshot is not None
            documents.append(cp.snapshot.document(time.time()))
            apim.set_log_level(api_id, "FULL", "post", "/items")
            plan = await apply_latest(cp, apim, "UDATE_API_LOG_LEVEL")
            assert (plan.api_logging, plan.ignored) == (True, None)
            documents.append(cp.snapshot.document(time.time()))
            apim.set_log_level(api_id, "OFF")
            await apply_latest(cp, apim, "UDATE_API_LOG_LEVEL")
            documents.append(cp.snapshot.document(time.time()))
        return documents

    at_start, resource_set, api_off = asyncio.run(scenario())
    assert at_start["apiLogging"] == [
        {"context": context, "logLevel": "BASIC", "resourceMethod": None, "resourcePath": None}
    ]
    assert levels(at_start, context) == {("GET", "/get"): "BASIC", ("POST", "/items"): "BASIC"}
    assert levels(resource_set, context) == {("GET", "/get"): "BASIC", ("POST", "/items"): "FULL"}
    assert levels(api_off, context) == {("GET", "/get"): None, ("POST", "/items"): "FULL"}


def test_levels_apim_cannot_answer_keep_those_read_before(apim, publisher, credentials, test_ca, tmp_path, caplog):
    """An error answer for the levels alone must not stop the APIs' pull: they decide what is written, never what
    is let through. Those read before are followed, with a warning."""
    api_id = publisher.create("Audit")
    publisher.deploy_new_revision(api_id)
    context = next(a["context"] for a in apim.data["apis"] if a["uuid"] == api_id)
    apim.set_log_level(api_id, "STANDARD")
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with pulled(cfg) as cp:
            assert cp.snapshot is not None
            get = cp.api.get

            async def failing(path: str, **query: Any) -> Any:
                if path == "api-logging-configs":
                    raise ControlPlaneError("GET /internal/data/v1/api-logging-configs: 500, message='HTTP 500'")
                return await get(path, **query)

            cp.api.get = failing  # type: ignore[method-assign]
            apim.set_log_level(api_id, "OFF")
            await apply_latest(cp, apim, "UDATE_API_LOG_LEVEL")
            after_event = cp.snapshot.document(time.time())
            cp.snapshot = await cp.pull()  # a full pull: the APIs still arrive
            return after_event, cp.snapshot.document(time.time())

    with caplog.at_level(logging.WARNING):
        after_event, after_pull = asyncio.run(scenario())
    for document in (after_event, after_pull):
        assert levels(document, context) == {("GET", "/get"): "STANDARD"}
    assert [r.getMessage() for r in caplog.records].count(
        "per-API log levels not read; those read before are followed until the next pull"
    ) == 2
