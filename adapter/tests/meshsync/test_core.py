"""The pure core of mesh-sync: APIM's APIs and endpoints in, the Istio objects and the unrouted report out."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest

from apim_adapter.meshsync import artifacts
from apim_adapter.meshsync.core import (
    ANNOTATION_APIS,
    LABEL_MANAGED_BY,
    PRODUCT,
    Bundled,
    Endpoint,
    Settings,
    backend,
    default_context,
    literal_prefix,
    plan,
    route_conditions,
)

SETTINGS = Settings("apim-routes", ("istio-system/istio-ingressgateway",), ("api.example.com",))
GATEWAY_API = Settings("apim-routes", ("istio-ingress/api-gateway",), ("api.example.com",), route_kind="HTTPRoute")
HTTPBIN = "http://httpbin.default.svc.cluster.local:8000"


def api(uuid="api-1", name="httpbin", version="1.0.0", context=None, default=True, status="PUBLISHED"):
    return {"uuid": uuid, "name": name, "version": version, "context": context or f"/{name}/{version}",
            "isDefaultVersion": default, "status": status, "apiType": "HTTP"}  # fmt: skip


def http(url: str) -> Endpoint:
    return Endpoint("http", (url,))


def entries(objects: list[dict], kind: str, key: str) -> list[dict]:
    """The `spec.<key>` entries of every object of `kind`, in order."""
    return [entry for obj in objects if obj["kind"] == kind for entry in obj["spec"][key]]


def routes(objects: list[dict]) -> list[tuple[str, str, str, str]]:
    """(match kind, path, rewrite, destination host:port) of every VirtualService route, in order."""
    out = []
    for route in entries(objects, "VirtualService", "http"):
        [match] = route["match"]
        [(kind, path)] = match["uri"].items()
        dest = route["route"][0]["destination"]
        out.append((kind, path, route["rewrite"]["uri"], f"{dest['host']}:{dest['port']['number']}"))
    return out


def test_published_default_version_is_routed_at_both_contexts_with_the_prefix_rewritten():
    result = plan([api()], {"api-1": http(HTTPBIN)}, SETTINGS)
    [vs] = result.objects
    assert vs["kind"] == "VirtualService"
    assert vs["apiVersion"] == "networking.istio.io/v1"
    assert vs["metadata"]["namespace"] == "apim-routes"
    assert vs["metadata"]["labels"][LABEL_MANAGED_BY] == "apim-mesh-sync"
    assert vs["metadata"]["annotations"][ANNOTATION_APIS] == "api-1"
    assert vs["spec"]["gateways"] == ["istio-system/istio-ingressgateway"]
    assert vs["spec"]["hosts"] == ["api.example.com"]
    target = "httpbin.default.svc.cluster.local:8000"
    assert routes(result.objects) == [
        ("exact", "/httpbin/1.0.0", "/", target),
        ("prefix", "/httpbin/1.0.0/", "/", target),
        ("exact", "/httpbin", "/", target),
        ("prefix", "/httpbin/", "/", target),
    ]
    assert result.routed == ["api-1"]
    assert result.problems == []


def test_versioned_routes_of_every_version_come_before_the_default_versions_unversioned_ones():
    """`/httpbin/1.0.0/get` must reach 1.0.0 even though 2.0.0, the default, owns `/httpbin/`."""
    apis = [api("v2", version="2.0.0", default=True), api("v1", version="1.0.0", default=False)]
    result = plan(apis, {"v1": http(HTTPBIN), "v2": http("http://httpbin-v2.default.svc:8000")}, SETTINGS)
    [vs] = result.objects
    got = routes(result.objects)
    assert [r[1] for r in got] == ["/httpbin/1.0.0", "/httpbin/1.0.0/", "/httpbin/2.0.0", "/httpbin/2.0.0/",
                                   "/httpbin", "/httpbin/"]  # fmt: skip
    assert got[-1][3] == "httpbin-v2.default.svc.cluster.local:8000"
    assert vs["metadata"]["annotations"][ANNOTATION_APIS] == "v1,v2"


def test_not_default_version_has_no_unversioned_route():
    result = plan([api(default=False)], {"api-1": http(HTTPBIN)}, SETTINGS)
    assert [r[1] for r in routes(result.objects)] == ["/httpbin/1.0.0", "/httpbin/1.0.0/"]


def test_endpoint_base_path_is_the_rewrite_target():
    result = plan([api(default=False)], {"api-1": http(HTTPBIN + "/anything/")}, SETTINGS)
    assert [(r[0], r[2]) for r in routes(result.objects)] == [("exact", "/anything"), ("prefix", "/anything/")]


@pytest.mark.parametrize("status", ["RETIRED", "BLOCKED", "CREATED"])
def test_apis_the_gateway_does_not_serve_have_no_route(status):
    result = plan([api(status=status)], {"api-1": http(HTTPBIN)}, SETTINGS)
    assert result.objects == []
    assert result.problems == []


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        (http("https://httpbin.org"), "outside the cluster"),
        (http("http://httpbin.default.svc.other.domain"), "outside the cluster"),
        (http("http://user:secret@httpbin.default.svc:8000"), "credentials"),
        (Endpoint("load_balance", (HTTPBIN, HTTPBIN)), "load_balance"),
        (Endpoint("failover", (HTTPBIN,)), "failover"),
        (Endpoint("default", ("default",)), "'default'"),
        (Endpoint("awslambda"), "awslambda"),
        (Endpoint("http"), "no production endpoint"),
        (None, "no runtime artifact"),
    ],
)
def test_unroutable_endpoints_are_reported_not_guessed(endpoint, reason):
    result = plan([api()], {"api-1": endpoint} if endpoint else {}, SETTINGS)
    assert result.objects == []
    [problem] = result.problems
    assert problem.api_id == "api-1"
    assert reason in problem.reason
    assert "secret" not in problem.reason


def test_non_http_api_types_are_reported():
    result = plan([{**api(), "apiType": "WS"}], {"api-1": http(HTTPBIN)}, SETTINGS)
    assert result.objects == []
    assert [p.reason for p in result.problems] == ["API type 'WS' is not routed (HTTP and GraphQL APIs only)"]


def test_a_graphql_api_is_routed_as_an_http_api():
    """Its calls are HTTP POSTs under its context (APIM's gateway: one resource, POST /*), which the adapter checks by
    the operations their body names: the routes are an HTTP API's."""
    assert plan([{**api(), "apiType": "GRAPHQL"}], {"api-1": http(HTTPBIN)}, SETTINGS) == plan(
        [api()], {"api-1": http(HTTPBIN)}, SETTINGS
    )


def product(uuid="product-1", name="Bundle", version="1.0.0", default=True):
    return {**api(uuid, name, version, f"/{name.lower()}/{version}", default), "apiType": "APIProduct"}


ORDERS = "http://orders.shop.svc.cluster.local:8080/v2"


def bundle(*bundled: tuple[str, Endpoint, tuple[str, ...]]) -> Endpoint:
    return Endpoint(PRODUCT, bundled=tuple(Bundled(*b) for b in bundled))


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [("/ip", "/ip"), ("/orders/{id}", "/orders"), ("/orders/*", "/orders"), ("/a/b{x}/c", "/a"), ("/*", ""),
     ("/{id}", ""), ("/", ""), ("ip", "/ip"), ("/search?q={q}", "/search"), ("/orders/{id}/items", "/orders")],
)  # fmt: skip
def test_the_literal_prefix_of_a_resource_is_its_whole_segments_before_any_template(pattern, prefix):
    assert literal_prefix(pattern) == prefix


def test_an_api_product_routes_each_resource_to_the_api_it_came_from_longest_paths_first():
    endpoint = bundle(
        ("api-1", http(HTTPBIN), ("/ip", "/headers")), ("api-2", http(ORDERS), ("/orders/{id}", "/orders"))
    )
    result = plan([product()], {"product-1": endpoint}, SETTINGS)
    httpbin, orders = "httpbin.default.svc.cluster.local:8000", "orders.shop.svc.cluster.local:8080"
    versioned = [
        ("exact", "/bundle/1.0.0/headers", "/headers", httpbin),
        ("prefix", "/bundle/1.0.0/headers/", "/headers/", httpbin),
        ("exact", "/bundle/1.0.0/orders", "/v2/orders", orders),  # under the endpoint's base path
        ("prefix", "/bundle/1.0.0/orders/", "/v2/orders/", orders),
        ("exact", "/bundle/1.0.0/ip", "/ip", httpbin),
        ("prefix", "/bundle/1.0.0/ip/", "/ip/", httpbin),
    ]
    default = [(kind, path.replace("/1.0.0", ""), rewrite, host) for kind, path, rewrite, host in versioned]
    assert routes(result.objects) == versioned + default
    assert (result.routed, result.problems) == (["product-1"], [])


def test_an_api_products_resource_under_another_ones_path_comes_first():
    # `/*` of api-1 takes the whole context; api-2's `/orders/{id}` must not be shadowed by it.
    endpoint = bundle(("api-1", http(HTTPBIN), ("/*",)), ("api-2", http(ORDERS), ("/orders/{id}",)))
    result = plan([product(default=False)], {"product-1": endpoint}, SETTINGS)
    assert [(kind, path, rewrite) for kind, path, rewrite, _ in routes(result.objects)] == [
        ("exact", "/bundle/1.0.0/orders", "/v2/orders"),
        ("prefix", "/bundle/1.0.0/orders/", "/v2/orders/"),
        ("exact", "/bundle/1.0.0", "/"),
        ("prefix", "/bundle/1.0.0/", "/"),
    ]


def test_an_api_product_on_gateway_api_gets_a_rule_per_path():
    endpoint = bundle(("api-1", http(HTTPBIN), ("/ip",)), ("api-2", http(ORDERS), ("/orders/{id}",)))
    result = plan([product(default=False)], {"product-1": endpoint}, GATEWAY_API)
    rules = entries(result.objects, "HTTPRoute", "rules")
    assert [(r["matches"][0]["path"]["value"], r["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"],
             r["backendRefs"][0]["name"]) for r in rules] == [
        ("/bundle/1.0.0/orders", "/v2/orders", "orders"), ("/bundle/1.0.0/ip", "/ip", "httpbin")]  # fmt: skip


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        (bundle(("api-1", http(HTTPBIN), ("/*",)), ("api-2", http(ORDERS), ("/{id}",))),
         "two bundled APIs (api-1, api-2) serve / under the product's context"),
        (bundle(("api-1", http(HTTPBIN), ("/ip",)), ("api-2", http("https://orders.example.com"), ("/orders",))),
         "a bundled API (api-2): endpoint is outside the cluster (not <service>.<namespace>.svc)"),
        (bundle(("api-1", Endpoint("overridden"), ("/ip",))),
         "a bundled API (api-1): endpoint type 'overridden' is not routed (one in-cluster http endpoint only)"),
        (bundle(), "an API product without bundled APIs in its revision"),
        (http(HTTPBIN), "the runtime artifact's project is not of the API's type"),
    ],
)  # fmt: skip
def test_an_api_product_that_cannot_be_routed_whole_is_reported_and_not_routed(endpoint, reason):
    result = plan([product()], {"product-1": endpoint}, SETTINGS)
    assert result.objects == []
    assert [p.reason for p in result.problems] == [reason]


def test_two_default_versions_route_neither_unversioned_context():
    apis = [api("v1", version="1.0.0"), api("v2", version="2.0.0")]
    result = plan(apis, {"v1": http(HTTPBIN), "v2": http(HTTPBIN)}, SETTINGS)
    assert [r[1] for r in routes(result.objects)] == ["/httpbin/1.0.0", "/httpbin/1.0.0/", "/httpbin/2.0.0",
                                                      "/httpbin/2.0.0/"]  # fmt: skip
    assert {p.api_id for p in result.problems} == {"v1", "v2"}


def test_https_endpoint_gets_a_destination_rule_originating_tls():
    result = plan([api()], {"api-1": http("https://secure.payments.svc.cluster.local")}, SETTINGS)
    [vs, dr] = result.objects
    assert routes([vs])[0][3] == "secure.payments.svc.cluster.local:443"
    assert dr["kind"] == "DestinationRule"
    assert dr["spec"]["host"] == "secure.payments.svc.cluster.local"
    assert dr["spec"]["trafficPolicy"]["portLevelSettings"] == [
        {"port": {"number": 443}, "tls": {"mode": "SIMPLE", "sni": "secure.payments.svc.cluster.local"}}
    ]


def test_traffic_policy_setting_gives_one_destination_rule_per_backend():
    settings = Settings("ns", ("gw",), traffic_policy={"connectionPool": {"http": {"maxRequestsPerConnection": 1}}})
    apis = [api("a", name="one"), api("b", name="two")]
    result = plan(apis, {"a": http(HTTPBIN), "b": http(HTTPBIN + "/x")}, settings)
    [dr] = [o for o in result.objects if o["kind"] == "DestinationRule"]
    assert dr["spec"]["trafficPolicy"] == {"connectionPool": {"http": {"maxRequestsPerConnection": 1}}}
    assert dr["metadata"]["annotations"][ANNOTATION_APIS] == "a,b"
    assert plan(apis, {"a": http(HTTPBIN)}, SETTINGS).objects[-1]["kind"] != "DestinationRule"


def test_same_inputs_same_objects_and_names_are_valid_kubernetes_names():
    apis = [api("x", name="Pizza Shack API", version="v1.0", context="/t/example.com/pizza/v1.0")]
    first = plan(apis, {"x": http(HTTPBIN)}, SETTINGS)
    assert first.objects == plan(list(reversed(apis)), {"x": http(HTTPBIN)}, SETTINGS).objects
    name = first.objects[0]["metadata"]["name"]
    assert len(name) <= 63
    assert name.replace("-", "").isalnum()
    assert name == name.lower()


@pytest.mark.parametrize(
    ("context", "version", "expected"),
    [("/httpbin/1.0.0", "1.0.0", "/httpbin"), ("/t/x.com/a/v1/b", "v1", "/t/x.com/a/b"), ("/v1", "v1", "/"),
     ("/a/1.0.0x", "1.0.0", "/a/1.0.0x"), ("/1.0.0/a/1.0.0", "1.0.0", "/1.0.0/a")],
)  # fmt: skip
def test_default_context_cuts_the_last_version_segment(context, version, expected):
    assert default_context(context, version) == expected


def test_backend_accepts_short_and_full_service_names():
    assert backend("http://svc.ns.svc", "cluster.local").host == "svc.ns.svc.cluster.local"
    assert backend("http://svc.ns.svc", "cluster.local").port == 80
    assert isinstance(backend("http://10.0.0.1:8080", "cluster.local"), str)


# -- Gateway API: HTTPRoutes ---------------------------------------------------------------------------------


def rules(objects: list[dict]) -> list[tuple[str, str, tuple[str, str, int]]]:
    """(path prefix, replacement, backend Service) of every HTTPRoute rule, in order."""
    out = []
    for rule in entries(objects, "HTTPRoute", "rules"):
        [match] = rule["matches"]
        assert match["path"]["type"] == "PathPrefix"
        [rewrite] = rule["filters"]
        assert (rewrite["type"], rewrite["urlRewrite"]["path"]["type"]) == ("URLRewrite", "ReplacePrefixMatch")
        [ref] = rule["backendRefs"]
        target = (ref["namespace"], ref["name"], ref["port"])
        out.append((match["path"]["value"], rewrite["urlRewrite"]["path"]["replacePrefixMatch"], target))
    return out


def test_http_route_attaches_to_the_gateway_api_gateway_with_one_prefix_rule_per_context():
    result = plan([api()], {"api-1": http(HTTPBIN + "/anything/")}, GATEWAY_API)
    [route] = result.objects
    assert (route["apiVersion"], route["kind"]) == ("gateway.networking.k8s.io/v1", "HTTPRoute")
    assert route["metadata"]["labels"][LABEL_MANAGED_BY] == "apim-mesh-sync"
    assert route["metadata"]["annotations"][ANNOTATION_APIS] == "api-1"
    assert route["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "istio-ingress", "name": "api-gateway"}
    ]
    assert route["spec"]["hostnames"] == ["api.example.com"]
    service = ("default", "httpbin", 8000)
    assert rules(result.objects) == [("/httpbin/1.0.0", "/anything", service), ("/httpbin", "/anything", service)]
    names = [rule["name"] for rule in route["spec"]["rules"]]
    assert len(set(names)) == 2
    assert result.routed == ["api-1"]


def test_http_route_without_a_base_path_replaces_the_context_with_slash_and_star_means_every_host():
    settings = Settings("apim-routes", ("api-gateway", "edge/gw/https"), ("*",), route_kind="HTTPRoute")
    [route] = plan([api(default=False)], {"api-1": http(HTTPBIN)}, settings).objects
    assert "hostnames" not in route["spec"]
    gateway = {"group": "gateway.networking.k8s.io", "kind": "Gateway"}
    assert route["spec"]["parentRefs"] == [  # a Gateway in the routes' namespace; one listener of another
        {**gateway, "name": "api-gateway"},
        {**gateway, "namespace": "edge", "name": "gw", "sectionName": "https"},
    ]
    assert rules([route]) == [("/httpbin/1.0.0", "/", ("default", "httpbin", 8000))]


def test_http_routes_of_a_large_family_are_split_at_the_crds_sixteen_rules():
    apis = [api(f"v{n}", version=f"{n}.0.0", default=n == 20) for n in range(1, 21)]
    result = plan(apis, {f"v{n}": http(HTTPBIN) for n in range(1, 21)}, GATEWAY_API)
    first, second = result.objects
    assert [len(o["spec"]["rules"]) for o in result.objects] == [16, 5]  # 20 versions and the default's context
    assert second["metadata"]["name"] == first["metadata"]["name"] + "-2"
    assert len(rules(result.objects)) == len({r[0] for r in rules(result.objects)}) == 21
    assert rules(result.objects)[-1][0] == "/httpbin"
    in_second = set(second["metadata"]["annotations"][ANNOTATION_APIS].split(","))
    assert in_second == {"v6", "v7", "v8", "v9", "v20"}  # contexts sorted as text: 1, 10-19, 2, 20, 3, 4, 5 first


def test_https_backend_of_an_http_route_still_gets_its_destination_rule():
    result = plan([api()], {"api-1": http("https://secure.payments.svc.cluster.local")}, GATEWAY_API)
    assert [o["kind"] for o in result.objects] == ["HTTPRoute", "DestinationRule"]
    assert rules(result.objects)[0][2] == ("payments", "secure", 443)


def status_parent(gateway: str, *conditions: tuple[str, str, str, int]) -> dict:
    """One entry of `status.parents` as Istio writes it (pilot/pkg/config/kube/gateway/conditions.go)."""
    namespace, name = gateway.split("/")
    return {
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": namespace, "name": name},
        "controllerName": "istio.io/gateway-controller",
        "conditions": [{"type": t, "status": s, "reason": r, "message": f"{r} here", "observedGeneration": g}
                       for t, s, r, g in conditions],
    }  # fmt: skip


def test_route_conditions_report_what_the_gateway_controller_refused_for_the_current_generation():
    refused = status_parent("istio-ingress/api-gateway", ("Accepted", "True", "Accepted", 2),
                            ("ResolvedRefs", "False", "RefNotPermitted", 2))  # fmt: skip
    stale = status_parent("istio-ingress/old", ("Accepted", "False", "NotAllowedByListeners", 1))
    fine = status_parent("istio-ingress/api-gateway", ("Accepted", "True", "Accepted", 3),
                         ("ResolvedRefs", "True", "ResolvedRefs", 3))  # fmt: skip
    routes_listed = [
        {"name": "apim-b", "generation": 2, "apis": "v2,v1", "status": {"parents": [refused, stale]}},
        {"name": "apim-a", "generation": 3, "apis": "v3", "status": {"parents": [fine]}},
        {"name": "apim-c", "generation": 1, "apis": "v4", "status": {}},  # not reconciled yet: nothing to say
    ]
    assert route_conditions(routes_listed) == [{
        "route": "HTTPRoute/apim-b", "apis": ["v1", "v2"], "gateway": "istio-ingress/api-gateway",
        "controller": "istio.io/gateway-controller", "condition": "ResolvedRefs", "reason": "RefNotPermitted",
        "message": "RefNotPermitted here",
    }]  # fmt: skip


# -- the runtime artifact ----------------------------------------------------------------------------------


def apis_zip(apis: list[tuple[str, str, dict]], environment: str = "Default", env_properties=None) -> bytes:
    outer, deployments = io.BytesIO(), []
    with zipfile.ZipFile(outer, "w") as z:
        for uuid, name, config in apis:
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as iz:
                data = {"id": uuid, "name": name, "version": "1.0.0", "context": f"/{name}", "endpointConfig": config}
                iz.writestr(f"{name}-1.0.0/api.json", json.dumps({"type": "api", "data": data}))
            z.writestr(f"{uuid}-rev.zip", inner.getvalue())
            deployments.append({"apiFile": f"{uuid}-rev.zip", "environments": [{"name": environment, "vhost": "h"}]})
        z.writestr("deployments.json", json.dumps({"data": {"deployments": deployments}}))
        z.writestr("env_properties.json", json.dumps(env_properties or {}))
    return outer.getvalue()


def test_artifact_endpoint_shapes():
    body = apis_zip([
        ("a", "A", {"endpoint_type": "http", "production_endpoints": {"url": HTTPBIN},
                    "endpoint_security": {"production": {"password": "s3cret"}}}),
        ("b", "B", {"endpoint_type": "load_balance", "production_endpoints": [{"url": "http://x"}, {"url": "http://y"}]}),
        ("c", "C", {"endpoint_type": "awslambda", "amznAccessKey": "k"}),
    ])  # fmt: skip
    got = artifacts.endpoints(body, "Default")
    assert got == {"a": http(HTTPBIN), "b": Endpoint("load_balance", ("http://x", "http://y")),
                   "c": Endpoint("awslambda")}  # fmt: skip
    assert "s3cret" not in repr(got)


def test_artifact_of_another_environment_is_ignored_and_overrides_apply():
    body = apis_zip([("a", "A", {"endpoint_type": "http", "production_endpoints": {"url": HTTPBIN}})], "Prod")
    assert artifacts.endpoints(body, "Default") == {}
    # As MicroGatewayArtifactGenerator writes env_properties.json: the map under `apis`, uuid → environment.
    override = {"apis": {"a": {"Prod": {"envId": "Prod", "envName": "Prod",
                                         "configs": {"productionEndpoint": "http://other.ns.svc"}}}}}  # fmt: skip
    body = apis_zip([("a", "A", {"endpoint_type": "http", "production_endpoints": {"url": HTTPBIN}})], "Prod", override)
    assert artifacts.endpoints(body, "Prod") == {"a": http("http://other.ns.svc")}
    # An environment keyed by its id (a gateway environment added in the Admin portal) is found by its name.
    by_id = {"apis": {"a": {"4f1c": {"envId": "4f1c", "envName": "Prod",
                                      "configs": {"productionEndpoint": "http://third.ns.svc"}}}}}  # fmt: skip
    body = apis_zip([("a", "A", {"endpoint_type": "http", "production_endpoints": {"url": HTTPBIN}})], "Prod", by_id)
    assert artifacts.endpoints(body, "Prod") == {"a": http("http://third.ns.svc")}
    # The map at the top level (not how APIM writes it) is not read as an override.
    flat = {"a": {"Prod": {"configs": {"productionEndpoint": "http://other.ns.svc"}}}}
    body = apis_zip([("a", "A", {"endpoint_type": "http", "production_endpoints": {"url": HTTPBIN}})], "Prod", flat)
    assert artifacts.endpoints(body, "Prod") == {"a": http(HTTPBIN)}


def test_not_a_zip_is_an_error():
    with pytest.raises(artifacts.BadArtifact):
        artifacts.endpoints(base64.b64encode(b"nope"), "Default")
