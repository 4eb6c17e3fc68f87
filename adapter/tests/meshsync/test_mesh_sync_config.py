"""The `meshSync` section and the `mesh-sync` command's refusals: errors name the key, nothing half-configured runs."""

from __future__ import annotations

import pytest
import yaml

from apim_adapter.cli import main
from apim_adapter.config import ConfigError, parse

WSO2 = {"type": "wso2", "url": "https://apim:9443", "usernameFile": "u", "passwordFile": "p"}


def test_defaults() -> None:
    mesh = parse({"controlPlane": WSO2, "meshSync": {"namespace": "routes", "gateways": ["istio-system/gw"]}}).mesh_sync
    assert mesh is not None
    assert (mesh.hosts, mesh.cluster_domain, mesh.traffic_policy) == (("*",), "cluster.local", None)
    assert (mesh.resync_seconds, mesh.lease_name, mesh.lease_duration_seconds) == (60, "apim-mesh-sync", 15)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"gateways": ["gw"]}, "meshSync.namespace: required"),
        ({"namespace": "routes"}, "meshSync.gateways: required"),
        ({"namespace": "routes", "gateways": "gw"}, "meshSync.gateways: expected a list"),
        ({"namespace": "routes", "gateways": ["gw"], "leaseDurationSeconds": 1}, "meshSync.leaseDurationSeconds"),
        ({"namespace": "routes", "gateways": ["gw"], "trafficPolicy": "tls"}, "meshSync.trafficPolicy"),
        ({"namespace": "routes", "gateways": ["gw"], "gateway": "gw"}, "meshSync.gateway: unknown key"),
    ],
)
def test_errors_name_the_bad_key(section, message) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse({"controlPlane": WSO2, "meshSync": section})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"controlPlane": WSO2}, "no meshSync section"),
        ({"controlPlane": {"type": "file", "path": "c.yaml"}, "meshSync": {"namespace": "r", "gateways": ["g"]}},
         "controlPlane.type must be wso2"),
    ],
)  # fmt: skip
def test_mesh_sync_refuses_a_config_it_cannot_run(tmp_path, document, message) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SystemExit, match=message):
        main(["mesh-sync", "--config", str(path)])


def test_export_services_defaults_and_errors() -> None:
    base = {"namespace": "routes", "gateways": ["istio-system/gw"]}
    mesh = parse({"controlPlane": WSO2, "meshSync": base}).mesh_sync
    assert mesh is not None
    export = mesh.export_services
    assert (export.enabled, export.namespaces, export.on_removal, export.tiers) == (False, (), "retire", ("Unlimited",))
    assert (mesh.health_port, export.visibility, export.max_revisions) == (9092, "PUBLIC", 5)
    for section, message in [
        ({"onRemoval": "archive"}, "meshSync.exportServices.onRemoval: must be one of retire, delete"),
        ({"clientIdFile": "id"}, "meshSync.exportServices.clientSecretFile: set with its pair"),
        ({"tiers": []}, "meshSync.exportServices.tiers: must not be empty"),
        ({"enabled": "yes"}, "meshSync.exportServices.enabled: expected a boolean"),
    ]:
        with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
            parse({"controlPlane": WSO2, "meshSync": {**base, "exportServices": section}})


def test_route_kind_http_route_needs_gateway_api_parents_and_hostnames() -> None:
    base = {"namespace": "routes", "gateways": ["istio-ingress/api-gateway"], "routeKind": "HTTPRoute"}
    mesh = parse({"controlPlane": WSO2, "meshSync": base}).mesh_sync
    assert mesh is not None
    assert (mesh.route_kind, mesh.hosts) == ("HTTPRoute", ("*",))
    hosts = ("api.example.com", "*.example.com")
    gateways = ("api-gateway", "istio-ingress/api-gateway", "istio-ingress/api-gateway/https")
    section = {**base, "hosts": list(hosts), "gateways": list(gateways)}
    mesh = parse({"controlPlane": WSO2, "meshSync": section}).mesh_sync
    assert mesh is not None
    assert (mesh.hosts, mesh.gateways) == (hosts, gateways)
    for section, message in [
        ({**base, "hosts": ["api.example.com:443"]}, "meshSync.hosts: 'api.example.com:443' is not a Gateway API"),
        ({**base, "hosts": ["API.example.com"]}, "meshSync.hosts: 'API.example.com' is not a Gateway API"),
        ({**base, "routeKind": "Ingress"}, "meshSync.routeKind: must be one of VirtualService, HTTPRoute"),
        ({**base, "gateways": ["Istio/gw"]}, "meshSync.gateways: 'Istio/gw' is not a Gateway API parent"),
        ({**base, "gateways": ["ns/gw/https/x"]}, "meshSync.gateways: 'ns/gw/https/x' is not a Gateway API parent"),
    ]:
        with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("*", r"\*")):
            parse({"controlPlane": WSO2, "meshSync": section})
    # A VirtualService's hosts are Istio's to judge, not held to Gateway API's hostname rule.
    assert parse({"controlPlane": WSO2, "meshSync": {**base, "routeKind": "VirtualService", "hosts": ["API.x"]}})
