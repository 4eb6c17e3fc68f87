"""Kubernetes → APIM against the real API server: Services annotated `apim.istio-apim.io/expose: "true"` become
APIs in the APIM double's Publisher API (every request body validated against tests/wso2_specs before the double
acts on it), through the real `apim-adapter mesh-sync` process holding only the chart's RBAC; and the other
direction of the same process then routes the API it exported (the loop closes).

The double and mesh-sync live in the cluster's network namespace, as in test_mesh_sync.py. Resyncs every second;
the Service watch makes annotation changes act at once, ConfigMap changes come with the next resync."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.apim_double import ApimDouble, fresh_data
from harness.kube import Cluster

from .mesh_helpers import (
    CHART_VALUES,
    Replicas,
    apim_in,
    chart_service_account,
    inside,
    probe,
    replicas_of,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.cluster

ROUTES = "export-routes"
SHOP = "shop"
PREFIX = "apim.istio-apim.io/"
EXPORT = {"enabled": True, "namespaces": [SHOP]}
EXPORT_VALUES = {**CHART_VALUES, "meshSync": {**CHART_VALUES["meshSync"], "exportServices": EXPORT}}
OPENAPI = {
    "openapi": "3.0.1",
    "info": {"title": "httpbin", "version": "1.0.0"},
    "paths": {"/get": {"get": {"responses": {"200": {"description": "OK"}}}},
              "/status/{code}": {"get": {"parameters": [{"name": "code", "in": "path", "required": True,
                                                         "schema": {"type": "integer"}}],
                                         "responses": {"200": {"description": "OK"}}}}},
}  # fmt: skip


@pytest.fixture(scope="module")
def kubeconfig(cluster: Cluster, crds: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart's mesh-sync ServiceAccount with its Role in the routes namespace and its export Role in `shop`."""
    return chart_service_account(cluster, ROUTES, tmp_path_factory.mktemp("service-export"), EXPORT_VALUES)


@pytest.fixture(scope="module")
def apim(cluster: Cluster) -> Iterator[ApimDouble]:
    with apim_in(cluster, fresh_data()) as double:
        yield double


def export_config(kubeconfig: Path, apim: ApimDouble, on_removal: str = "retire") -> Path:
    export = {"enabled": True, "namespaces": [SHOP], "onRemoval": on_removal}
    return write_config(kubeconfig, apim, namespace=ROUTES, leaseName="apim-export", exportServices=export)


@pytest.fixture(scope="module")
def config(apim: ApimDouble, kubeconfig: Path) -> Path:
    return export_config(kubeconfig, apim)


@pytest.fixture(scope="module")
def replicas(cluster: Cluster, config: Path) -> Iterator[Replicas]:
    with replicas_of(cluster, config) as started:
        yield started


# -- helpers ----------------------------------------------------------------------------------------------------


def service(name: str, annotations: dict[str, str], port: int = 8000) -> dict[str, Any]:
    ports = [{"name": "http", "port": port, "targetPort": 8080}]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": SHOP, "annotations": annotations},
            "spec": {"selector": {"app": name}, "ports": ports}}  # fmt: skip


def openapi_configmap(name: str, document: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": SHOP},
            "data": {"openapi.yaml": yaml.safe_dump(document)}}  # fmt: skip


def exposed(version: str = "1.0.0", **extra: str) -> dict[str, str]:
    return {PREFIX + "expose": "true", PREFIX + "context": "/httpbin", PREFIX + "version": version,
            PREFIX + "openapi-configmap": "httpbin-openapi", PREFIX + "tiers": "Gold,Unlimited",
            **{PREFIX + k: v for k, v in extra.items()}}  # fmt: skip


def apis(apim: ApimDouble, name: str = "httpbin") -> dict[str, dict[str, Any]]:
    """The double's APIs of that name by version."""
    return {a["version"]: a for a in list(apim.data["apis"]) if a["name"] == name}


def published(apim: ApimDouble, version: str = "1.0.0", name: str = "httpbin") -> dict[str, Any] | None:
    api = apis(apim, name).get(version)
    deployed = api is not None and [d["name"] for d in api["_deployments"]] == ["Default"]
    return api if deployed and api["status"] == "PUBLISHED" else None


def deployed_revision(apim: ApimDouble, revisions: int) -> dict[str, Any] | None:
    """The published API once it has that many revisions and the last is the one deployed."""
    api = published(apim)
    if api is None or len(api["_revisions"]) != revisions:
        return None
    return api if api["_deployments"][0]["revisionUuid"] == api["_revisions"][-1]["id"] else None


def writes(apim: ApimDouble) -> list[str]:
    """The Publisher API calls that changed something, in order."""
    return [s.endpoint for s in list(apim.responses) if s.operation and s.operation[0] == "publisher"
            and s.operation[2] != "get"]  # fmt: skip


def events(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    out = cluster.check(cluster.kubectl("get", "events", "-n", SHOP, "-o", "json",
                                        f"--field-selector=involvedObject.name={name}"))  # fmt: skip
    return json.loads(out)["items"]


def ready(cluster: Cluster, replicas: Replicas, name: str) -> bool:
    """The replica's /readyz (its health port is in the cluster's network namespace)."""
    with inside(cluster.netns):
        try:
            url = f"http://127.0.0.1:{replicas.health_ports[name]}/readyz"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False


# -- the tests --------------------------------------------------------------------------------------------------


def test_an_annotated_service_becomes_a_deployed_published_api(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    cluster.apply([openapi_configmap("httpbin-openapi", OPENAPI), service("httpbin", exposed())])
    api = wait_until(lambda: published(apim), "httpbin 1.0.0 published in APIM", timeout=30)
    dto = api["_publisher"]
    assert dto["context"] == "/httpbin"
    assert api["context"] == "/httpbin/1.0.0"
    assert dto["endpointConfig"]["production_endpoints"]["url"] == "http://httpbin.shop.svc.cluster.local:8000"
    assert sorted(dto["policies"]) == ["Gold", "Unlimited"]
    assert {(m["httpMethod"], m["urlPattern"]) for m in api["urlMappings"]} == {("GET", "/get"),
                                                                                ("GET", "/status/{code}")}  # fmt: skip
    props = {p["name"]: p["value"] for p in dto["additionalProperties"]}
    assert props["istio-apim-service"] == f"{SHOP}/httpbin"
    assert len(api["_revisions"]) == 1
    # Every body went through the double's validation against publisher-api.yaml: nothing was refused.
    assert not [s for s in apim.responses if s.operation and s.status >= 400], apim.responses
    exported = wait_until(lambda: [e for e in events(cluster, "httpbin") if e["reason"] == "Exported"], "the Event")
    assert exported[0]["type"] == "Normal"
    assert "created" in exported[0]["message"]
    assert "published" in exported[0]["message"]
    [name] = replicas.running
    wait_until(lambda: ready(cluster, replicas, name), "the leader ready")


def test_the_other_direction_routes_the_exported_api(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    def routed() -> dict[str, str]:
        items = json.loads(cluster.check(cluster.kubectl("get", "virtualservices", "-n", ROUTES, "-o", "json")))
        return {next(iter(r["match"][0]["uri"].values())): r["route"][0]["destination"]["host"]
                for vs in items["items"] for r in vs["spec"]["http"]}  # fmt: skip

    got = wait_until(lambda: routed().get("/httpbin/1.0.0/") and routed(), "the VirtualService of the API")
    assert got["/httpbin/1.0.0/"] == "httpbin.shop.svc.cluster.local"
    assert got["/httpbin/"] == "httpbin.shop.svc.cluster.local"  # the default version's context


def test_a_restart_changes_nothing(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    before, revisions = len(writes(apim)), len(published(apim)["_revisions"])
    [name] = replicas.running
    replicas.stop(name)
    started = replicas.start()
    wait_until(lambda: "leading: converging" in replicas.running[started].log(), "the new replica leading")
    wait_until(lambda: ready(cluster, replicas, started), "the new leader's first pass")
    reads = len(apim.responses)
    wait_until(lambda: len(apim.responses) > reads + 6, "more passes")  # a few more resyncs: still nothing
    assert writes(apim)[before:] == []
    assert len(published(apim)["_revisions"]) == revisions


def test_a_new_document_updates_the_api_and_deploys_a_new_revision(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    document = json.loads(json.dumps(OPENAPI))
    document["paths"]["/ip"] = {"get": {"responses": {"200": {"description": "OK"}}}}
    cluster.apply([openapi_configmap("httpbin-openapi", document)])
    api = wait_until(lambda: deployed_revision(apim, 2), "a second revision, deployed")
    # What gateways read: the deployed revision's resources.
    assert ("GET", "/ip") in {(m["httpMethod"], m["urlPattern"]) for m in api["urlMappings"]}
    assert "/apis/{apiId}/swagger" in " ".join(writes(apim))


def test_a_security_scheme_annotation_reaches_what_the_adapter_reads(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    """APIM's API keys on an exported API: the Service names the scheme, mesh-sync updates the API and deploys it,
    and the internal data API's single-API answer (read by the adapter with apiKeys on) carries it."""
    scheme = "oauth2,api_key,oauth_basic_auth_api_key_mandatory"
    cluster.apply([service("httpbin", exposed(**{"security-scheme": scheme}))])
    api = wait_until(lambda: deployed_revision(apim, 3), "a third revision, deployed")
    with inside(cluster.netns):
        [single] = apim.data_api("apis", gatewayLabel="Default", apiId=api["uuid"]).json()["list"]
    assert single["securityScheme"] == scheme


def test_a_bad_annotation_is_a_warning_event_and_the_api_stays(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    cluster.apply([service("broken", {PREFIX + "expose": "true", PREFIX + "version": "1.0.0"})])
    warning = wait_until(lambda: [e for e in events(cluster, "broken") if e["reason"] == "ExportFailed"], "Warning")
    assert warning[0]["type"] == "Warning"
    assert "apim.istio-apim.io/context: required" in warning[0]["message"]
    # A typo on the live Service: reported, and its API is not retired meanwhile.
    cluster.apply([service("httpbin", exposed(**{"openapi-configmap": "missing"}))])
    wait_until(lambda: any("ConfigMap shop/missing" in e["message"] for e in events(cluster, "httpbin")), "missing")
    assert published(apim) is not None
    cluster.apply([service("httpbin", exposed())])
    wait_until(lambda: any(e["message"].endswith("up to date") for e in events(cluster, "httpbin")), "recovered")
    one, reads = events(cluster, "broken"), len(apim.responses)
    wait_until(lambda: len(apim.responses) > reads + 6, "more passes")  # the same failure, pass after pass ...
    assert [(e["reason"], e.get("count")) for e in events(cluster, "broken")] == [
        (e["reason"], e.get("count")) for e in one
    ]  # ... is one Event, not one per pass
    # The leader's metrics count both: httpbin exported, broken not (ApimMeshSyncServicesUnexported's series).
    [leader] = replicas.leading()
    found = replicas.metrics(leader)
    assert (found[("apim_mesh_sync_services_exported", ())], found[("apim_mesh_sync_services_unexported", ())]) == (
        1,
        1,
    )


def test_a_new_version_is_exported_and_the_old_one_retired(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    cluster.apply([service("httpbin", exposed("2.0.0"))])
    wait_until(lambda: published(apim, "2.0.0"), "httpbin 2.0.0 published")
    wait_until(lambda: apis(apim)["1.0.0"]["status"] == "RETIRED", "1.0.0 retired")
    assert apis(apim)["2.0.0"]["isDefaultVersion"] is True


def test_removing_the_annotation_retires_the_api(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    cluster.apply([service("httpbin", {PREFIX + "expose": "false"})], "--force-conflicts")
    wait_until(lambda: apis(apim)["2.0.0"]["status"] == "RETIRED", "2.0.0 retired")
    retired = wait_until(lambda: [e for e in events(cluster, "httpbin") if e["reason"] == "Retired"], "the Event")
    assert any("2.0.0" in e["message"] for e in retired)


def test_two_replicas_never_fight(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    [leader] = replicas.running
    tokens = len(apim.products.tokens)  # the leader holds its token already; a replica that called APIM needs one
    standby = replicas.start()
    wait_until(lambda: "mesh-sync started" in replicas.running[standby].log(), "the standby started")
    wait_until(lambda: ready(cluster, replicas, standby), "the standby ready (as a standby)")
    orders = service("orders", exposed(context="/orders", **{"openapi-configmap": "orders-openapi"}))
    cluster.apply([openapi_configmap("orders-openapi", OPENAPI), orders])
    wait_until(lambda: published(apim, name="orders"), "orders published")
    reads = len(apim.responses)
    wait_until(lambda: len(apim.responses) > reads + 6, "more passes")
    assert [a["version"] for a in apim.data["apis"] if a["name"] == "orders"] == ["1.0.0"]
    assert replicas.leading() == [leader]
    assert replicas.running[standby].alive, replicas.logs()
    assert "API orders 1.0.0" in replicas.running[leader].log(100_000)  # the leader reported what it did ...
    assert "API orders" not in replicas.running[standby].log(100_000)  # ... the standby did nothing,
    assert len(apim.products.tokens) == tokens  # ... and never even asked APIM for a token
    replicas.stop(standby)


def test_deletion_when_configured(cluster: Cluster, replicas: Replicas, apim: ApimDouble, kubeconfig: Path) -> None:
    [name] = replicas.running
    replicas.stop(name)
    export_config(kubeconfig, apim, on_removal="delete")
    replicas.start()
    cluster.check(cluster.kubectl("delete", "service", "orders", "-n", SHOP))
    wait_until(lambda: "orders" not in {a["name"] for a in apim.data["apis"]}, "orders deleted from APIM")


def test_probe_asks_the_publisher_api_what_export_needs(cluster: Cluster, config: Path, apim: ApimDouble) -> None:
    """`apim-adapter probe --mesh-sync` with export on: besides the data API and the API server, APIM's Publisher API
    with mesh-sync's own token (its DCR client, the password grant), the gateway environment and vhost revisions go
    to, read from APIM's settings, and the API list."""
    exported = [a for a in apim.data["apis"] if a.get("apiType") != "APIProduct"]  # what the tests above left
    result = probe(cluster, config)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ok      control plane", "ok      mesh-sync", "ok      mesh-sync"]
    assert lines[2] == (f"ok      mesh-sync: APIM's Publisher API {apim.url}: a token that may make every call "
                        "export makes; gateway environment 'Default' serves vhost 'localhost'; "
                        f"{len(exported)} APIs")  # fmt: skip


def test_a_vhost_apims_gateway_environment_lacks_is_named_by_the_probe_and_exports_nothing(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble, kubeconfig: Path
) -> None:
    """exportServices.vhost set to a host APIM's environment is not configured with: APIM would refuse every
    revision's deployment (400 900512) only after making the revision, on every pass. The probe names the hosts the
    environment has; mesh-sync reports the same on the Service and changes nothing in APIM."""
    [name] = replicas.running
    replicas.stop(name)
    export = {"enabled": True, "namespaces": [SHOP], "vhost": "api.example.com"}
    config = write_config(kubeconfig, apim, namespace=ROUTES, leaseName="apim-export", exportServices=export)
    why = "APIM's gateway environment 'Default' has no vhost 'api.example.com' (it has: localhost)"
    result = probe(cluster, config)
    assert result.returncode == 1
    assert f"FAILED  mesh-sync: APIM's Publisher API {apim.url}: {why}" in result.stdout.splitlines()
    before = len(writes(apim))
    replicas.start()
    cluster.apply([service("catalog", exposed(context="/catalog"))])
    failed = wait_until(lambda: [e for e in events(cluster, "catalog") if e["reason"] == "ExportFailed"],
                        "the catalog Service's ExportFailed Event")  # fmt: skip
    assert failed[0]["message"] == why
    assert "catalog" not in {a["name"] for a in apim.data["apis"]}
    assert writes(apim)[before:] == []
