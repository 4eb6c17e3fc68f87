"""mesh-sync's reads of APIM through the wso2 control plane's client, against the APIM double (HTTPS, Basic,
tenant header): `/apis?gatewayLabel=` and the runtime artifacts, and which events trigger a pull."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest

from apim_adapter.config import parse
from apim_adapter.controlplane.data_api import ControlPlaneError, InternalDataApi
from apim_adapter.controlplane.events import Event
from apim_adapter.meshsync.core import PRODUCT, Bundled, Endpoint
from apim_adapter.meshsync.run import ApimSource, Reconciler
from harness.apim_double import BASE_PATH, ApimDouble, make_test_ca, sample_data
from harness.sample_catalog import api_product

BACKEND = "http://httpbin.default.svc.cluster.local:8000"


@pytest.fixture
def apim(tmp_path: Path):
    data = sample_data()
    data["apis"][0]["_endpointConfig"] = {
        "endpoint_type": "http",
        "production_endpoints": {"url": BACKEND},
        "endpoint_security": {"production": {"type": "BASIC", "username": "u", "password": "backend-secret"}},
    }
    other = copy.deepcopy(data["apis"][0])
    other.update(uuid="api-prod-only", context="/other/1.0.0", _gatewayLabels=["Production"])
    data["apis"].append(other)
    double = ApimDouble(data, tls=make_test_ca(tmp_path / "ca")).start()
    yield double
    double.stop()


def source(apim: ApimDouble, tmp_path: Path, label: str = "Default") -> ApimSource:
    (tmp_path / "user").write_text("admin\n")
    (tmp_path / "password").write_text("admin-secret\n")
    config = parse(
        {
            "controlPlane": {
                "type": "wso2",
                "url": apim.url,
                "usernameFile": "user",
                "passwordFile": "password",
                "caBundle": "ca/ca.crt",
                "gatewayLabel": label,
            },
            "meshSync": {"namespace": "routes", "gateways": ["istio-system/gw"]},
        },
        tmp_path,
    )
    return ApimSource(InternalDataApi(config.control_plane, config), label)


def test_endpoints_of_the_label_from_the_runtime_artifacts(apim: ApimDouble, tmp_path: Path) -> None:
    async def go():
        src = source(apim, tmp_path)
        try:
            return await src.apis(), await src.endpoints(), await src.endpoints("api-httpbin")
        finally:
            await src.api.close()

    apis, every, one = asyncio.run(go())
    assert [a["uuid"] for a in apis] == ["api-httpbin"]
    assert every == one == {"api-httpbin": Endpoint("http", (BACKEND,))}
    assert "backend-secret" not in repr(every)
    [(_, query)] = [r for r in apim.requests if r[0] == "runtime-artifacts"][:1]
    assert query["gatewayLabel"] == "RGVmYXVsdA=="  # Base64 of "Default": plain text would match nothing
    assert query["type"] == "Envoy"


def endpoints_of(apim: ApimDouble, tmp_path: Path, label: str, base: str = BASE_PATH) -> dict[str, Endpoint]:
    async def go():
        src = source(apim, tmp_path, label=label)
        src.api.base = src.api.base.replace(BASE_PATH, base)
        try:
            return await src.endpoints()
        finally:
            await src.api.close()

    return asyncio.run(go())


def test_nothing_deployed_is_a_json_answer_not_a_zip(apim: ApimDouble, tmp_path: Path) -> None:
    assert endpoints_of(apim, tmp_path, "Sandbox") == {}


def test_nothing_deployed_as_apim_lines_that_answer_404(apim: ApimDouble, tmp_path: Path) -> None:
    """NO_API_ARTIFACT_FOUND (404, 900910) means nothing is deployed; a 404 without that code (a wrong URL) is an
    error, never "no APIs", which would remove every route."""
    apim.nothing_deployed_as_404 = True
    assert endpoints_of(apim, tmp_path, "Sandbox") == {}
    with pytest.raises(ControlPlaneError, match="404"):
        endpoints_of(apim, tmp_path, "Default", base="/internal/data/v2")


def test_environment_override_from_env_properties(apim: ApimDouble, tmp_path: Path) -> None:
    """A per-environment endpoint set in the Publisher wins over the API's own, as gateways apply it."""
    override = "http://httpbin-canary.default.svc.cluster.local:8000"

    def mutate(data):
        data["apis"][0]["_envProperties"] = {"Default": {"productionEndpoint": override}}

    apim.change(mutate)
    assert endpoints_of(apim, tmp_path, "Default") == {"api-httpbin": Endpoint("http", (override,))}


def test_an_api_products_endpoint_is_the_bundled_apis_with_the_operations_taken(
    apim: ApimDouble, tmp_path: Path
) -> None:
    """A product's revision in the artifact is its project with `api_product.json` and the bundled APIs' projects
    (ExportUtils.exportApiProduct), not an `api.json`: read as an API's, it failed the whole artifact, and with it
    every pull, so one product deployed anywhere in the environment froze every route."""

    def mutate(data):
        httpbin = data["apis"][0]
        bundle = api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", httpbin["urlMappings"][:1])
        data["apis"].append({**bundle, "_bundledApis": [httpbin["uuid"]]})

    apim.change(mutate)
    assert endpoints_of(apim, tmp_path, "Default") == {
        "api-httpbin": Endpoint("http", (BACKEND,)),
        "product-bundle": Endpoint(PRODUCT, bundled=(Bundled("api-httpbin", Endpoint("http", (BACKEND,)), ("/ip",)),)),
    }

    def override(data):  # the bundled API's own endpoint in this environment: which one the product calls is unsaid
        data["apis"][0]["_envProperties"] = {"Default": {"productionEndpoint": BACKEND + "/canary"}}

    apim.change(override)
    [bundled] = endpoints_of(apim, tmp_path, "Default")["product-bundle"].bundled
    assert bundled.endpoint == Endpoint("overridden")


def test_a_deployed_mcp_server_leaves_the_apis_endpoints_readable(apim: ApimDouble, tmp_path: Path) -> None:
    """APIM lines with MCP servers export one's revision with `mcp_server.json` (ExportUtils.addAPIMetaInformation
    ToArchive): not routed (core.plan reports its type), and no reason to fail the other APIs' endpoints."""

    def mutate(data):
        mcp = {**copy.deepcopy(data["apis"][0]), "uuid": "mcp-1", "name": "Tools", "context": "/tools/1.0.0",
               "apiType": "MCP"}  # fmt: skip
        data["apis"].append(mcp)

    apim.change(mutate)
    assert endpoints_of(apim, tmp_path, "Default") == {"api-httpbin": Endpoint("http", (BACKEND,))}


def test_api_events_queue_a_pull_of_the_api_they_name() -> None:
    config = parse({"controlPlane": {"type": "file", "path": "x"},
                    "meshSync": {"namespace": "routes", "gateways": ["gw"]}})  # fmt: skip
    assert config.mesh_sync is not None
    reconciler = Reconciler(config.mesh_sync, None, None, None)  # type: ignore[arg-type]

    async def go():
        for event in (
            Event("notification", "DEPLOY_API_IN_GATEWAY", {"uuid": "a", "gatewayLabels": ["Default"]}),
            Event("notification", "REMOVE_API_FROM_GATEWAY", {"uuid": "b"}),
            Event("notification", "API_UPDATE", {"apiId": "c", "action": "DEFAULT_VERSION"}),
            Event("notification", "API_LIFECYCLE_CHANGE", {"uuid": "d", "apiStatus": "RETIRED"}),
            Event("notification", "SUBSCRIPTIONS_CREATE", {"apiUUID": "e"}),
            Event("notification", "API_LIFECYCLE_CHANGE", {}),
        ):
            reconciler.on_event(event)
        return [reconciler.queue.get_nowait() for _ in range(reconciler.queue.qsize())]

    assert asyncio.run(go()) == ["a", "b", "c", "d", None]
