"""mesh-sync follows APIM's event hub: a DEPLOY_API_IN_GATEWAY published on a real broker (Apache Qpid Broker-J,
as in the other event tests) reaches mesh-sync's listener, which pulls that one API and its runtime artifact; a
REMOVE_API_FROM_GATEWAY drops it. Kubernetes is not involved here (tests/cluster/test_mesh_sync.py is)."""

from __future__ import annotations

import asyncio
import contextlib

from apim_adapter.config import parse
from apim_adapter.controlplane.data_api import InternalDataApi
from apim_adapter.controlplane.eventhub import EventHubListener, connection_parameters
from apim_adapter.meshsync.core import Endpoint
from apim_adapter.meshsync.run import ApimSource, Reconciler
from harness.apim_double import sample_data
from harness.qpid import PASSWORD, USER

BACKEND = "http://orders.shop.svc.cluster.local:8080"


def test_deploy_and_remove_events_pull_the_api_they_name(apim_factory, qpid, credentials, test_ca) -> None:
    apim = apim_factory(sample_data(), amqp_url=qpid.url)
    user, password = credentials
    config = parse(
        {
            "controlPlane": {
                "type": "wso2",
                "url": apim.url,
                "usernameFile": str(user),
                "passwordFile": str(password),
                "caBundle": str(test_ca.ca),
                "gatewayLabel": "Default",
            },
            "meshSync": {"namespace": "routes", "gateways": ["istio-system/gw"]},
        }
    )
    assert config.mesh_sync is not None
    source = ApimSource(InternalDataApi(config.control_plane, config), "Default")
    reconciler = Reconciler(config.mesh_sync, source, None, None)  # type: ignore[arg-type]
    orders = {**sample_data()["apis"][0], "uuid": "api-orders", "name": "orders", "context": "/orders/1.0.0",
              "_endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": BACKEND}}}  # fmt: skip
    deploy = {"uuid": "api-orders", "name": "orders", "version": "1.0.0", "context": "/orders/1.0.0",
              "gatewayLabels": ["Default"], "apiType": "HTTP"}  # fmt: skip

    async def next_pull() -> list[str | None]:
        items = [await asyncio.wait_for(reconciler.queue.get(), 15)]
        await reconciler.pull(items)
        return items

    async def go() -> None:
        connected = asyncio.Event()

        parameters = connection_parameters(f"amqp://127.0.0.1:{qpid.port}/", USER, PASSWORD, None, 5, 30)
        listener = asyncio.ensure_future(
            EventHubListener(parameters, reconciler.on_event, connected.set, timeout=5).run()
        )
        try:
            await asyncio.wait_for(connected.wait(), 15)
            await reconciler.pull([None])
            assert set(reconciler.apis or {}) == {"api-httpbin"}
            # APIM writes the deployment, then publishes DEPLOY_API_IN_GATEWAY (page: rows before the event).
            apim.data["apis"] = [*apim.data["apis"], orders]
            await asyncio.to_thread(apim.notify, "DEPLOY_API_IN_GATEWAY", deploy)
            assert await next_pull() == ["api-orders"]
            assert reconciler.endpoints["api-orders"] == Endpoint("http", (BACKEND,))
            assert reconciler.apis is not None
            assert reconciler.apis["api-orders"]["context"] == "/orders/1.0.0"
            apim.data["apis"] = [a for a in apim.data["apis"] if a["uuid"] != "api-orders"]
            await asyncio.to_thread(apim.notify, "REMOVE_API_FROM_GATEWAY", deploy)
            assert await next_pull() == ["api-orders"]
            assert "api-orders" not in reconciler.apis
            assert "api-orders" not in reconciler.endpoints
            queries = [q for endpoint, q in apim.requests if endpoint == "runtime-artifacts"]
            assert [q.get("apiId") for q in queries] == [None, "api-orders", "api-orders"]
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await source.api.close()

    asyncio.run(go())
