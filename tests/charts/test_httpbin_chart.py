"""What the httpbin chart renders: the backend and the Istio routing the secured flow relies on."""

import json

import yaml
from chart_helpers import CHARTS, find, kinds, render, template

from harness.helpers import version

CHART = "httpbin"
CI = CHARTS / CHART / "ci"
HOST = "rel-httpbin.httpbin.svc.cluster.local"


def objects(**kwargs):
    return render(CHART, namespace="httpbin", **kwargs)


def test_defaults_render_one_version_with_its_istio_wiring():
    assert kinds(objects()) == [
        "Deployment",
        "DestinationRule",
        "Gateway",
        "PeerAuthentication",
        "Service",
        "ServiceAccount",
        "VirtualService",
    ]


def test_pods_are_in_the_mesh_and_restricted():
    pod = find(objects(), "Deployment", "-v1")["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert labels["version"] == "v1"
    assert labels["sidecar.istio.io/inject"] == "true"
    (httpbin,) = pod["spec"]["containers"]
    # The version the local stack and the tests build (scripts/go-harness.sh): one pin for both.
    assert httpbin["image"] == f"docker.io/mccutchen/go-httpbin:{version('GO_HTTPBIN_VERSION')}"
    assert httpbin["securityContext"]["readOnlyRootFilesystem"] is True
    assert httpbin["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert httpbin["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_service_port_8000_targets_the_container():
    (port,) = find(objects(), "Service")["spec"]["ports"]
    assert port == {
        "name": "http",
        "port": 8000,
        "targetPort": "http",
        "protocol": "TCP",
        "appProtocol": "http",
    }


def test_virtual_service_rewrites_both_contexts_to_root():
    service = find(objects(), "VirtualService")["spec"]
    assert service["gateways"] == ["rel-httpbin"]
    (route,) = service["http"]
    assert route["match"] == [
        {"uri": {"prefix": "/httpbin/1.0.0/"}},
        {"uri": {"exact": "/httpbin/1.0.0"}},
        {"uri": {"prefix": "/httpbin/"}},
        {"uri": {"exact": "/httpbin"}},
    ]
    assert route["rewrite"] == {"uri": "/"}
    assert route["route"] == [{"destination": {"host": HOST, "subset": "v1", "port": {"number": 8000}}}]


def test_gateway_selects_the_ingress_gateway():
    gateway = find(objects(), "Gateway")["spec"]
    assert gateway["selector"] == {"istio": "ingressgateway"}
    assert gateway["servers"] == [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]


def test_strict_mtls_for_the_httpbin_pods():
    policy = find(objects(), "PeerAuthentication")["spec"]
    assert policy["mtls"] == {"mode": "STRICT"}
    assert policy["selector"]["matchLabels"]["app.kubernetes.io/name"] == "httpbin"


def test_tier_routing_sends_listed_tiers_to_v2_first():
    rendered = objects(files=(CI / "all-enabled-values.yaml",))
    assert {d["metadata"]["name"] for d in rendered if d["kind"] == "Deployment"} == {
        "rel-httpbin-v1",
        "rel-httpbin-v2",
    }
    subsets = find(rendered, "DestinationRule")["spec"]["subsets"]
    assert subsets == [
        {"name": "v1", "labels": {"version": "v1"}},
        {"name": "v2", "labels": {"version": "v2"}},
    ]
    tier_route, default_route = find(rendered, "VirtualService")["spec"]["http"]
    assert tier_route["route"][0]["destination"]["subset"] == "v2"
    assert default_route["route"][0]["destination"]["subset"] == "v1"
    tiers = {m["headers"]["x-apim-tier"]["exact"] for m in tier_route["match"]}
    assert tiers == {"Gold", "Platinum"}
    assert all(m["uri"] for m in tier_route["match"]), "a tier match must keep the context"
    assert tier_route["rewrite"] == {"uri": "/"}


def test_tier_routing_without_v2_is_refused():
    result = template(CHART, values={"tierRouting": {"enabled": True}}, check=False)
    assert result.returncode != 0
    assert "set v2.enabled" in result.stderr


def test_existing_gateway_is_referenced_not_created():
    rendered = objects(files=(CI / "existing-gateway-values.yaml",))
    assert "Gateway" not in kinds(rendered)
    service = find(rendered, "VirtualService")["spec"]
    assert service["gateways"] == ["istio-system/public-gateway"]
    assert service["hosts"] == ["api.example.com"]


def test_https_server_needs_a_certificate():
    result = template(CHART, values={"gateway": {"tls": {"enabled": True}}}, check=False)
    assert result.returncode != 0
    assert "gateway.tls.credentialName is required" in result.stderr


def test_the_https_server_can_ask_callers_for_certificates():
    """What an API taking client certificates needs at the gateway (the adapter matches what it writes in XFCC)."""
    servers = find(objects(values={"gateway": {"tls": {"enabled": True, "credentialName": "api-tls"}}}), "Gateway")
    assert servers["spec"]["servers"][1]["tls"] == {"mode": "SIMPLE", "credentialName": "api-tls"}
    values = {"gateway": {"tls": {"enabled": True, "credentialName": "api-tls", "mode": "MUTUAL"}}}
    assert find(objects(values=values), "Gateway")["spec"]["servers"][1]["tls"]["mode"] == "MUTUAL"
    values["gateway"]["tls"]["mode"] = "ISTIO_MUTUAL"  # the mesh's own certificates: no caller's to match
    assert template(CHART, values=values, check=False).returncode != 0


def test_request_authentication_is_optional():
    assert "RequestAuthentication" not in kinds(objects())
    rendered = objects(files=(CI / "all-enabled-values.yaml",))
    (rule,) = find(rendered, "RequestAuthentication")["spec"]["jwtRules"]
    assert rule["fromHeaders"] == [{"name": "x-jwt-assertion"}]
    # The adapter's backend JWT as the adapter chart makes it: its issuer, and the JWKS on its admin port.
    adapter = yaml.safe_load((CHARTS / "apim-adapter" / "values.yaml").read_text())
    adapter_ci = yaml.safe_load((CHARTS / "apim-adapter" / "ci" / "all-enabled-values.yaml").read_text())
    assert rule["issuer"] == adapter_ci["config"]["backendJwt"]["issuer"]
    assert rule["jwksUri"] == f"http://apim-adapter.apim.svc.cluster.local:{adapter['service']['ports']['admin']}/jwks"


def test_reference_grant_lets_mesh_syncs_http_routes_reach_the_service():
    """With mesh-sync writing HTTPRoutes in its own namespace, Gateway API needs this namespace's consent."""
    assert "ReferenceGrant" not in kinds(objects())
    rendered = objects(values={"apimExport": {"referenceGrantFrom": ["apim-routes", "team-routes"]}})
    grant = find(rendered, "ReferenceGrant")
    assert grant["metadata"]["namespace"] == "httpbin"
    assert grant["spec"]["from"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "apim-routes"},
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "team-routes"},
    ]
    assert grant["spec"]["to"] == [
        {"group": "", "kind": "Service", "name": find(rendered, "Service")["metadata"]["name"]}
    ]


def test_the_security_scheme_reaches_mesh_sync_as_it_reads_it():
    """`apimExport.securityScheme` becomes the Service's security-scheme annotation, which mesh-sync's own parser
    reads back as the list (none when empty: APIM's stays); the schema allows exactly the values mesh-sync takes."""
    from apim_adapter.meshsync import export

    scheme = ["oauth2", "api_key", "oauth_basic_auth_api_key_mandatory"]

    def annotations(values: dict) -> dict:
        rendered = objects(values={"apimExport": {"enabled": True, **values}})
        return find(rendered, "Service")["metadata"]["annotations"]

    assert export.PREFIX + "security-scheme" not in annotations({})
    read = annotations({"securityScheme": scheme})
    service = export.Service("httpbin", "httpbin", read, (export.Port("http", 80),))
    assert export.spec(service, export.Settings("Default")).security_scheme == tuple(scheme)
    schema = json.loads((CHARTS / "httpbin" / "values.schema.json").read_text())
    allowed = schema["properties"]["apimExport"]["properties"]["securityScheme"]["items"]["enum"]
    assert set(allowed) == export.SECURITY_SCHEMES
    refused = template(CHART, values={"apimExport": {"enabled": True, "securityScheme": ["apikey"]}}, check=False)
    assert refused.returncode != 0


def test_a_resources_advanced_policy_is_written_where_apim_reads_it():
    """`apimExport.resourcePolicies` puts a resource's advanced policy in the exported document as the operation's
    `x-throttling-tier` (what APIM's OAS3Parser.getURITemplates reads); one naming a resource the API does not
    have is refused rather than dropped."""
    policies = {"GET /status/{status_code}": "GoldPlan", "GET /ip": "10KPerMin"}
    rendered = objects(values={"apimExport": {"enabled": True, "resourcePolicies": policies}})
    paths = yaml.safe_load(find(rendered, "ConfigMap", "-openapi")["data"]["openapi.yaml"])["paths"]
    tiers = {f"GET {path}": item["get"].get("x-throttling-tier") for path, item in paths.items()}
    assert tiers == {"GET /ip": "10KPerMin", "GET /headers": None, "GET /get": None, "GET /delay/{delay}": None,
                     "GET /status/{status_code}": "GoldPlan"}  # fmt: skip
    refused = template(CHART, values={"apimExport": {"enabled": True, "resourcePolicies": {"GET /nope": "GoldPlan"}}},
                       check=False)  # fmt: skip
    assert refused.returncode != 0
    assert '"GET /nope" is not one of apimExport\'s resources' in refused.stderr
