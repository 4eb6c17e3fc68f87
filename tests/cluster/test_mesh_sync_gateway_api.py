"""mesh-sync writing Gateway API HTTPRoutes (`meshSync.routeKind: HTTPRoute`) to the real API server, which holds
Gateway API's own CRDs at the version Istio pins (their CEL rules included: a URLRewrite with ReplacePrefixMatch
needs exactly one PathPrefix match, backendRefs to a Service need a port). mesh-sync runs with the chart's Role
only, as in test_mesh_sync.py.

No Istio runs here, so nothing reconciles the routes: where a test needs the gateway controller's verdict, it writes
the route's status as istiod does — one entry per parent with controllerName `istio.io/gateway-controller` and the
`Accepted` and `ResolvedRefs` conditions at the route's generation (istio/istio
pilot/pkg/config/kube/gateway/conditions.go, createRouteStatus; reasons from gateway-api apis/v1/shared_types.go)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.apim_double import ApimDouble
from harness.kube import Cluster

from .mesh_helpers import (
    CHART_VALUES,
    Replicas,
    apim_in,
    chart_service_account,
    published_api,
    replicas_of,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.cluster

NAMESPACE = "apim-httproutes"
GATEWAY = "istio-ingress/api-gateway/http"  # its listener `http`
HTTPBIN = "httpbin.default.svc.cluster.local"
OURS = "app.kubernetes.io/managed-by=apim-mesh-sync"
MESH = {"routeKind": "HTTPRoute", "gateways": [GATEWAY]}


@pytest.fixture(scope="module")
def apim(cluster: Cluster) -> Iterator[ApimDouble]:
    with apim_in(cluster, apis=[published_api("api-v1", "1.0.0", f"http://{HTTPBIN}:8000", default=True)]) as double:
        yield double


@pytest.fixture(scope="module")
def replicas(
    cluster: Cluster, crds: list[str], apim: ApimDouble, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    values = {**CHART_VALUES, "meshSync": {**CHART_VALUES["meshSync"], **MESH}}
    kubeconfig = chart_service_account(cluster, NAMESPACE, tmp_path_factory.mktemp("mesh-sync-httproutes"), values)
    # What a run with routeKind VirtualService left behind: ours (by label), so the switch must remove it.
    cluster.apply([{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                    "metadata": {"name": "apim-httpbin-left-behind", "namespace": NAMESPACE,
                                 "labels": {"app.kubernetes.io/managed-by": "apim-mesh-sync"}},
                    "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": HTTPBIN}}]}]}}])  # fmt: skip
    with replicas_of(cluster, write_config(kubeconfig, apim, namespace=NAMESPACE, **MESH)) as started:
        yield started


def get(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.check(cluster.kubectl("get", *args, "-n", NAMESPACE, "-o", "json")))


def http_routes(cluster: Cluster) -> list[dict[str, Any]]:
    return get(cluster, "httproutes.gateway.networking.k8s.io", "-l", OURS)["items"]


def rules(cluster: Cluster) -> dict[str, tuple[str, str]]:
    """Every routed path prefix → (its replacement, backend `<namespace>/<service>:<port>`)."""
    out = {}
    for route in http_routes(cluster):
        for rule in route["spec"]["rules"]:
            [match], [rewrite], [ref] = rule["matches"], rule["filters"], rule["backendRefs"]
            target = f"{ref['namespace']}/{ref['name']}:{ref['port']}"
            out[match["path"]["value"]] = (rewrite["urlRewrite"]["path"]["replacePrefixMatch"], target)
    return out


def status(cluster: Cluster) -> dict[str, Any]:
    return json.loads(get(cluster, "configmap", "apim-mesh-sync-status")["data"]["status.json"])


def write_route_status(cluster: Cluster, route: dict[str, Any], resolved: str, reason: str) -> None:
    """The status istiod writes on the route for GATEWAY (see the module's docstring; the RefNotPermitted message
    as pilot/pkg/config/kube/gateway/conversion.go words it)."""
    generation = route["metadata"]["generation"]
    namespace, name, listener = GATEWAY.split("/")
    conditions = [
        {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid"},
        {"type": "ResolvedRefs", "status": resolved, "reason": reason,
         "message": "backendRef httpbin/default not accessible to a HTTPRoute in namespace \"apim-httproutes\" "
                    "(missing a ReferenceGrant?)" if resolved == "False" else "All references resolved"},
    ]  # fmt: skip
    for condition in conditions:
        condition.update(observedGeneration=generation, lastTransitionTime="2026-12-02T00:00:00Z")
    parent = {"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": namespace,
                            "name": name, "sectionName": listener},
              "controllerName": "istio.io/gateway-controller", "conditions": conditions}  # fmt: skip
    body = json.dumps({"status": {"parents": [parent]}})
    cluster.check(cluster.kubectl("patch", "httproute", route["metadata"]["name"], "-n", NAMESPACE,
                                  "--subresource=status", "--type=merge", "-p", body))  # fmt: skip


def test_a_published_api_gets_an_http_route_the_api_server_accepts(cluster: Cluster, replicas: Replicas) -> None:
    got = wait_until(lambda: rules(cluster), "the httpbin HTTPRoute")
    target = "default/httpbin:8000"
    assert got == {"/httpbin/1.0.0": ("/", target), "/httpbin": ("/", target)}
    [route] = http_routes(cluster)
    assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                            "namespace": "istio-ingress", "name": "api-gateway",
                                            "sectionName": "http"}]  # fmt: skip
    assert route["spec"]["hostnames"] == ["api.example.com"]
    assert len({rule["name"] for rule in route["spec"]["rules"]}) == 2  # kept: a field of the CRD, not pruned
    assert route["metadata"]["annotations"]["apim.wso2.com/api-uuids"] == "api-v1"
    assert wait_until(lambda: status(cluster)["routed"] == ["api-v1"], "the status ConfigMap")


def test_switching_route_kinds_removes_our_virtual_services(cluster: Cluster, replicas: Replicas) -> None:
    wait_until(lambda: rules(cluster), "the httpbin HTTPRoute")
    wait_until(lambda: get(cluster, "virtualservices", "-l", OURS)["items"] == [], "the VirtualService removed")


def test_what_the_gateway_controller_refuses_is_reported(cluster: Cluster, replicas: Replicas) -> None:
    [route] = wait_until(lambda: http_routes(cluster), "the httpbin HTTPRoute")
    write_route_status(cluster, route, "False", "RefNotPermitted")
    [refused] = wait_until(lambda: status(cluster)["refused"], "the refusal in the status ConfigMap")
    assert refused["route"] == f"HTTPRoute/{route['metadata']['name']}"
    assert (refused["gateway"], refused["apis"]) == (GATEWAY, ["api-v1"])
    assert (refused["condition"], refused["reason"]) == ("ResolvedRefs", "RefNotPermitted")
    assert "route refused by the gateway controller" in replicas.logs()
    [leader] = replicas.running
    refusals = ("apim_mesh_sync_routes_refused", ())  # ApimMeshSyncRoutesRefused's series, set before the status
    assert replicas.metrics(leader)[refusals] == 1
    write_route_status(cluster, route, "True", "ResolvedRefs")  # a ReferenceGrant created: istiod resolves it
    wait_until(lambda: status(cluster)["refused"] == [], "the refusal cleared")
    assert replicas.metrics(leader)[refusals] == 0


def test_a_new_default_version_with_a_base_path_moves_the_unversioned_prefix(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    v1 = {**apim.data["apis"][0], "isDefaultVersion": False}
    v2 = published_api("api-v2", "2.0.0", "http://httpbin-v2.other.svc:8080/v2/", default=True)
    apim.data["apis"] = [v1, v2]
    moved = lambda: rules(cluster).get("/httpbin") == ("/v2", "other/httpbin-v2:8080")  # noqa: E731
    wait_until(moved, "/httpbin on 2.0.0")
    assert rules(cluster)["/httpbin/1.0.0"] == ("/", "default/httpbin:8000")
    assert rules(cluster)["/httpbin/2.0.0"] == ("/v2", "other/httpbin-v2:8080")


def test_retired_apis_lose_their_http_route(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    apim.data["apis"] = [{**a, "status": "RETIRED"} for a in apim.data["apis"]]
    wait_until(lambda: http_routes(cluster) == [], "the HTTPRoute garbage-collected")
    assert status(cluster)["routed"] == []
