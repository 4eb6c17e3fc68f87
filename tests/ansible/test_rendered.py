"""What the roles send, rendered with the dev inventory, checked against Kubernetes, Istio and WSO2 definitions."""

import base64
import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from dev_stack import dev_inventory_vars, httpbin_objects  # tests/ansible, on sys.path as the tests' own directory
from local_play import run_local_play  # likewise

from apim_adapter.backend_jwt import signer_for
from apim_adapter.config import load
from harness import wso2_specs
from harness.helpers import ROOT, tool, version


def test_render_is_idempotent(rendered: dict) -> None:
    assert rendered["second_run"].returncode == 0
    assert re.search(r"changed=0\b", rendered["second_run"].stdout), rendered["second_run"].stdout[-2000:]


def _all_manifests(rendered: dict) -> list[dict]:
    return [m for manifests in rendered["manifests"].values() for m in manifests]


def test_every_kubernetes_manifest_validates_against_the_pinned_kubernetes_schemas(rendered: dict) -> None:
    kubernetes = version("KUBERNETES_VERSION")
    manifests = _all_manifests(rendered)
    assert {m["kind"] for m in manifests} >= {"Namespace", "Secret", "Service", "ConfigMap"}
    for manifest in manifests:
        kubernetes_validate.validate(manifest, kubernetes, strict=True)


def test_keystores_and_truststores_trust_the_ca_and_each_other(rendered: dict) -> None:
    pki = rendered["pki_dir"]
    for truststore, peer in (("apim-client-truststore.jks", "wso2is"), ("wso2is-client-truststore.p12", "apim")):
        listing = subprocess.run(
            ["keytool", "-list", "-keystore", str(pki / truststore), "-storepass", "wso2carbon"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert re.search(r"^ca,.*trustedCertEntry", listing, re.M), listing
        assert re.search(rf"^{peer},.*trustedCertEntry", listing, re.M), listing
    listing = subprocess.run(
        ["keytool", "-list", "-keystore", str(pki / "apim-wso2carbon.jks"), "-storepass", "wso2carbon"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(r"^wso2carbon,.*PrivateKeyEntry", listing, re.M), listing


def test_private_material_is_readable_by_its_owner_only(rendered: dict) -> None:
    pki: Path = rendered["pki_dir"]
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    private = [*pki.glob("*.key"), *pki.glob("*.jks"), *pki.glob("*.p12")]
    assert len(private) >= 8
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_secrets_carry_the_keystores_under_the_names_the_charts_mount(rendered: dict) -> None:
    # Both charts mount one subPath per store at repository/resources/security/<name> (wso2/kubernetes-is
    # templates/deployment.yaml at v7.1.0.1; wso2/helm-apim all-in-one/templates/am/instance-1/
    # wso2am-deployment.yaml at all-in-one-4.5.0-10): equal names are equal mountPaths, which the API server rejects.
    secrets = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): m
        for m in rendered["manifests"]["pki"]
        if m["kind"] == "Secret"
    }
    identity = rendered["helm_values"]["identity_server"]
    toml = identity["deploymentToml"]
    is_names = [toml["keystore"][store]["fileName"] for store in ("tls", "primary", "internal")]
    is_names.append(toml["truststore"]["fileName"])
    assert is_names == ["tls.p12", "primary.p12", "internal.p12", "client-truststore.p12"]
    is_secret = secrets[("wso2", identity["deployment"]["externalJKS"]["secretName"])]
    assert set(is_secret["data"]) == set(is_names)

    security = rendered["helm_values"]["apim"]["wso2"]["apim"]["configurations"]["security"]
    stores = security["keystores"]
    apim_names = [stores[s]["name"] for s in ("primary", "tls", "internal") if stores[s]["enabled"]]
    apim_names.append(security["truststore"]["name"])
    assert len(set(apim_names)) == len(apim_names) == 4
    assert set(secrets[("wso2", security["jksSecretName"])]["data"]) == set(apim_names)
    assert secrets[("istio-ingress", "gateway-tls")]["type"] == "kubernetes.io/tls"


def _proto_json_fields(message: str) -> set[str]:
    """JSON names of a message's fields in Istio's mesh config proto (istio.io/api at ISTIO_VERSION)."""
    proto = (_istio_api_dir() / "mesh" / "v1alpha1" / "config.proto").read_text()
    start = re.search(rf"message {message} {{", proto)
    assert start, message
    depth, own, at = 1, [], start.end()
    for token in re.finditer(r"[{}]|[^{}]+", proto[at:]):  # the message's own lines, not its nested messages'
        depth += {"{": 1, "}": -1}.get(token.group(), 0)
        if depth == 0:
            break
        if depth == 1 and token.group() not in "{}":
            own.append(token.group())
    names = re.findall(r"^\s+(?:repeated\s+)?[\w.]+(?:<[^>]+>)?\s+(\w+)\s*=\s*\d+", "".join(own), re.M)
    return {re.sub(r"_(\w)", lambda m: m.group(1).upper(), name) for name in names}


def _istio_api_dir() -> Path:
    cache = ROOT / ".cache" / "go"
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"istio.io/api@v{version('ISTIO_VERSION')}"],
        capture_output=True,
        text=True,
        check=True,
        env={**_go_env(cache)},
    )
    return Path(json.loads(result.stdout)["Dir"])


def _go_env(cache: Path) -> dict[str, str]:
    import os

    return {**os.environ, "GOMODCACHE": str(cache / "mod"), "GOFLAGS": "-modcacherw"}


def test_istiod_extension_provider_uses_only_istio_mesh_config_fields_and_fails_closed(rendered: dict) -> None:
    providers = rendered["helm_values"]["istiod"]["meshConfig"]["extensionProviders"]
    (provider,) = [p for p in providers if p["name"] == "apim-adapter"]
    grpc = provider["envoyExtAuthzGrpc"]
    assert set(grpc) <= _proto_json_fields("EnvoyExternalAuthorizationGrpcProvider")
    assert grpc == {**grpc, "failOpen": False, "statusOnError": "503", "timeout": "0.5s", "port": 8081}
    assert rendered["helm_values"]["istiod"]["autoscaleEnabled"] is False


def _istiod_values(
    tmp_path: Path, providers: list[dict], access_log_services: list[dict] | None = None
) -> subprocess.CompletedProcess:
    """The istio role's istiod values for these providers (its render tasks, run on this machine)."""
    tmp_path.mkdir()
    out = tmp_path / "istiod.json"
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - {ansible.builtin.include_role: {name: istio, tasks_from: render.yml}}\n"
        f"    - {{ansible.builtin.copy: {{dest: '{out}', content: '{{{{ _istio_istiod_helm_values | to_json }}}}', "
        "mode: '0600'}}\n"
    )
    extra = {"istio_ext_authz_providers": providers, "ansible_python_interpreter": sys.executable}
    if access_log_services is not None:
        extra["istio_access_log_service_providers"] = access_log_services
    result = run_local_play(play, extra)
    result.values = json.loads(out.read_text()) if result.returncode == 0 else None
    return result


def test_a_provider_can_send_the_request_body_with_the_check_in_istios_own_fields(tmp_path: Path) -> None:
    """What counts APIM bandwidth tiers on bodies without Content-Length (docs/wso2-control-plane.md)."""
    provider = {"name": "apim-adapter", "service": "a.apim.svc.cluster.local", "port": 8081,
                "include_request_body": {"max_request_bytes": 1048576, "allow_partial_message": True}}  # fmt: skip
    result = _istiod_values(tmp_path / "on", [provider])
    assert result.returncode == 0, result.stdout[-3000:]
    [entry] = result.values["meshConfig"]["extensionProviders"]
    body = entry["envoyExtAuthzGrpc"]["includeRequestBodyInCheck"]
    assert body == {"maxRequestBytes": 1048576, "allowPartialMessage": True, "packAsBytes": False}
    assert set(body) == _proto_json_fields("EnvoyExternalAuthorizationRequestBody")
    without = _istiod_values(tmp_path / "off", [{k: v for k, v in provider.items() if k != "include_request_body"}])
    assert "includeRequestBodyInCheck" not in without.values["meshConfig"]["extensionProviders"][0]["envoyExtAuthzGrpc"]
    zero = _istiod_values(tmp_path / "zero", [{**provider, "include_request_body": {"max_request_bytes": 0}}])
    assert zero.returncode != 0
    assert "Provider apim-adapter: include_request_body.max_request_bytes must be 1 or more" in zero.stdout


def test_access_log_service_providers_follow_the_ext_authz_ones_in_istios_own_fields(tmp_path: Path) -> None:
    ext_authz = {"name": "apim-adapter", "service": "a.apim.svc.cluster.local", "port": 8081}
    als = [{"name": "als", "service": "a.apim.svc.cluster.local", "port": 18090},
           {"name": "als-named", "service": "a.apim.svc.cluster.local", "port": 18090, "log_name": "apim"}]  # fmt: skip
    result = _istiod_values(tmp_path / "als", [ext_authz], als)
    assert result.returncode == 0, result.stdout[-3000:]
    providers = result.values["meshConfig"]["extensionProviders"]
    assert [p["name"] for p in providers] == ["apim-adapter", "als", "als-named"]
    assert providers[1]["envoyHttpAls"] == {"service": "a.apim.svc.cluster.local", "port": 18090}
    assert providers[2]["envoyHttpAls"]["logName"] == "apim"
    assert set(providers[2]["envoyHttpAls"]) <= _proto_json_fields("EnvoyHttpGrpcV3LogProvider")


def test_kind_config_pins_the_node_image_and_maps_the_gateway_node_ports(rendered: dict) -> None:
    node = rendered["kind_config"]["nodes"][0]
    assert node["image"] == version("KIND_NODE_IMAGE")
    ports = {m["containerPort"]: m["hostPort"] for m in node["extraPortMappings"]}
    gateway = {p["name"]: p.get("nodePort") for p in rendered["helm_values"]["gateway"]["service"]["ports"]}
    assert gateway["http2"] in ports
    assert gateway["https"] in ports
    # The dev stack's consoles and default credentials stay on this machine.
    assert {m["listenAddress"] for m in node["extraPortMappings"]} == {"127.0.0.1"}


# ---- REST request bodies against WSO2's OpenAPI 3.0.1 definitions ----------------------------------------


def _check(spec_name: str, path: str, method: str, body) -> None:
    assert wso2_specs.request_errors(spec_name, path, method, body) == []


DUMMY_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.mark.parametrize(
    ("body", "spec", "path", "method"),
    [
        ("key_manager", "admin", "/key-managers", "post"),
        ("deployment", "publisher", "/apis/{apiId}/deploy-revision", "post"),
        ("generate_keys", "devportal", "/applications/{applicationId}/generate-keys", "post"),
    ],
)
def test_apim_setup_request_body_matches_wso2_spec(
    rendered: dict, body: str, spec: str, path: str, method: str
) -> None:
    _check(spec, path, method, rendered["apim_setup"]["bodies"][body])


@pytest.mark.parametrize(
    ("body", "path"),
    [("api", "/apis"), ("revision", "/apis/{apiId}/revisions"), ("deployment", "/apis/{apiId}/deploy-revision")],
)
def test_each_rest_apis_request_bodies_match_wso2_spec(rendered: dict, body: str, path: str) -> None:
    """apim_setup_api's and each of apim_setup_apis' (inventories/dev: HttpbinAPI and LimitedAPI)."""
    apis = rendered["apim_setup"]["apis"]
    assert list(apis) == ["HttpbinAPI", "LimitedAPI"]
    for bodies in apis.values():
        _check("publisher", path, "post", bodies[body])


def test_apim_setup_throttling_policy_bodies_match_wso2_spec(rendered: dict) -> None:
    """Each policy's body is what the role creates it with and updates it to."""
    policies = rendered["apim_setup"]["policies"]
    assert policies["subscription"]
    assert set(policies["application"]) == {"PerUserHundred", "PerUserMegabyte"}  # conftest's RENDER_EXTRA_VARS
    for kind, bodies in policies.items():
        for body in bodies.values():
            _check("admin", f"/throttling/policies/{kind}", "post", body)
            _check("admin", f"/throttling/policies/{kind}/{{policyId}}", "put", body)


def test_apim_setup_application_and_subscription_bodies_match_wso2_spec(rendered: dict) -> None:
    applications = rendered["apim_setup"]["applications"]
    assert set(applications) == {"subscribed", "unsubscribed", "throttled", "standard"}
    for name, bodies in applications.items():
        _check("devportal", "/applications", "post", bodies["application"])
        # The role adds the ids it looked up when it sends a subscription (an API Product's id as apiId).
        for subscription in [bodies["subscription"], *bodies["product_subscriptions"].values()]:
            if subscription["throttlingPolicy"]:
                _check("devportal", "/subscriptions", "post",
                       {**subscription, "applicationId": DUMMY_ID, "apiId": DUMMY_ID})  # fmt: skip
        if not bodies["subscription"]["throttlingPolicy"]:
            assert name == "unsubscribed"
    silver = {"throttlingPolicy": "Silver", "requestedThrottlingPolicy": "Silver"}
    assert {name: list(bodies["product_subscriptions"].items()) for name, bodies in applications.items()} == {
        "subscribed": [], "unsubscribed": [], "throttled": [], "standard": [("HttpbinBundle", silver)]}  # fmt: skip


def test_apim_setup_api_product_bodies_match_wso2_spec_and_bundle_the_apis_resources(rendered: dict) -> None:
    """inventories/dev's HttpbinBundle: created and updated with the bundled API's id added (tasks/main.yml), its
    revision's body; it takes two of the API's resources, and offers the standard client's tier."""
    [(name, product)] = rendered["apim_setup"]["products"].items()
    body = product["product"]
    sent = {**body, "apis": [{**body["apis"][0], "apiId": DUMMY_ID}]}
    _check("publisher", "/api-products", "post", sent)
    _check("publisher", "/api-products/{apiProductId}", "put", sent)
    _check("publisher", "/api-products/{apiProductId}/revisions", "post", product["revision"])
    assert (name, body["context"], body["version"]) == ("HttpbinBundle", "/bundle", "1.0.0")
    api = rendered["apim_setup"]["apis"]["HttpbinAPI"]["api"]
    resources = {(op["verb"], op["target"]) for op in api["operations"]}
    taken = [(op["verb"], op["target"]) for op in body["apis"][0]["operations"]]
    assert taken == [("GET", "/ip"), ("GET", "/status/{status_code}")]
    assert set(taken) <= resources
    assert (body["apis"][0]["name"], body["apis"][0]["version"]) == (api["name"], api["version"])
    assert "Silver" in body["policies"]
    assert product["revision"]["description"].startswith("Deployed by the apim_setup role: HttpbinBundle 1.0.0, ")
    assert _dev_var("secured_flow.yml", "secured_flow_api_product") == "/bundle/1.0.0"


def test_api_offers_the_throttled_applications_tier(rendered: dict) -> None:
    api = rendered["apim_setup"]["apis"]["HttpbinAPI"]["api"]
    tier = rendered["apim_setup"]["applications"]["throttled"]["subscription"]["throttlingPolicy"]
    assert tier in api["policies"]
    assert tier in rendered["apim_setup"]["policies"]["subscription"]
    assert {op["target"]: op["scopes"] for op in api["operations"]}["/ip"] == ["scope_ip"]


# ---- Values against the upstream charts' templates at the pinned versions -------------------------------------


def test_the_kind_stacks_grafana_shows_the_adapter_charts_dashboard(rendered: dict) -> None:
    # One dashboard: the one the chart ships for Grafana's sidecar (tests/charts/test_monitoring.py evaluates its
    # queries), mounted by the grafana chart from the ConfigMap its dashboardsConfigMaps names.
    (dashboards,) = [m for m in rendered["manifests"]["analytics"] if m["kind"] == "ConfigMap"]
    chart_dashboard = ROOT / "charts" / "apim-adapter" / "files" / "grafana-dashboard.json"
    assert list(dashboards["data"]) == ["istio-apim-adapter.json"]
    assert json.loads(dashboards["data"]["istio-apim-adapter.json"]) == json.loads(chart_dashboard.read_text())
    grafana = rendered["helm_values"]["analytics"]["grafana"]
    assert grafana["dashboardsConfigMaps"] == {"apim": dashboards["metadata"]["name"]}


def test_apim_node_port_selects_the_pods_the_chart_labels(rendered: dict) -> None:
    # Pod labels of wso2/helm-apim all-in-one 4.5.0-10 (templates/am/instance-1/wso2am-deployment.yaml), fullname
    # = fullnameOverride = the release name.
    release = rendered["helm_values"]["apim"]["fullnameOverride"]
    pod_labels = {"deployment": f"{release}-am", "node": f"{release}-am-1", "product": "apim"}
    (service,) = [m for m in rendered["manifests"]["apim"] if m["kind"] == "Service"]
    selector = service["spec"]["selector"]
    assert selector
    assert selector.items() <= pod_labels.items()


def test_apim_server_hostname_is_the_certificates_name(rendered: dict) -> None:
    # confs/instance-1/deployment.toml writes [server] hostname from kubernetes.gatewayAPI.management.hostname
    # unless kubernetes.ingress.enabled (a key the role does not set).
    values = rendered["helm_values"]["apim"]
    assert "enabled" not in values["kubernetes"]["ingress"]
    hostname = values["kubernetes"]["gatewayAPI"]["management"]["hostname"]
    assert hostname == "am.istio-apim.local"
    (apim_certificate,) = [s for s in _dev_var("pki.yml", "pki_servers") if s["name"] == "apim"]
    assert "{{ stack_hostnames.apim }}" in apim_certificate["dns_names"]


def test_apim_startup_probe_outlasts_a_slow_start(rendered: dict) -> None:
    probe = rendered["helm_values"]["apim"]["wso2"]["deployment"]["startupProbe"]
    # The chart: initialDelaySeconds 60, periodSeconds 10, failureThreshold 5 (one minute and a half in all).
    assert 60 + 10 * probe["failureThreshold"] >= 8 * 60


def test_identity_server_memory_is_what_the_chart_sizes_its_heap_for(rendered: dict) -> None:
    # wso2/kubernetes-is 7.1.0-1 values.yaml: limits 4Gi, -Xms2048m -Xmx2048m.
    deployment = rendered["helm_values"]["identity_server"]["deployment"]
    assert deployment["resources"]["limits"]["memory"] == "4Gi"
    assert deployment["resources"]["jvm"]["memOpts"] == "-Xms2048m -Xmx2048m"
    startup_window = 60 + 5 * deployment["startupProbe"]["failureThreshold"]
    assert deployment["progressDeadlineSeconds"] > startup_window


def test_revocation_listener_is_off_with_the_stock_image(rendered: dict) -> None:
    identity = rendered["helm_values"]["identity_server"]
    assert identity["deployment"]["image"]["repository"] == "wso2is"
    assert "ApimOauthEventInterceptor" not in identity["deploymentToml"]["extraConfigs"]


def test_adapter_follows_the_apim_event_hub(rendered: dict) -> None:
    control_plane = rendered["helm_values"]["apim_adapter"]["config"]["controlPlane"]
    # APIM's <name>-am-service exposes jms-tcp 5672 (wso2am-service.yaml).
    assert control_plane["eventHub"]["url"] == "amqp://apim-am-service.wso2.svc.cluster.local:5672/"


def test_the_dev_stacks_api_comes_from_the_annotated_httpbin_service(rendered: dict) -> None:
    """stack_api_from_service: mesh-sync exports the httpbin Service (the API apim_setup would have created, same
    scopes and resources) and routes it on the httpbin chart's Gateway; apim_setup only waits and subscribes."""
    values = rendered["helm_values"]
    mesh = values["apim_adapter"]["meshSync"]
    assert mesh["enabled"] is True
    assert mesh["exportServices"]["enabled"] is True
    assert mesh["exportServices"]["namespaces"] == ["httpbin"]
    assert rendered["apim_setup"]["api_create"] is False
    assert values["httpbin"]["virtualService"]["enabled"] is False
    objects = httpbin_objects(values["httpbin"])
    assert ("VirtualService", "httpbin") not in objects
    assert mesh["gateways"] == ["httpbin/httpbin"]
    assert ("Gateway", "httpbin") in objects
    annotations = objects[("Service", "httpbin")]["metadata"]["annotations"]
    api = rendered["apim_setup"]["apis"]["HttpbinAPI"]["api"]
    assert annotations["apim.istio-apim.io/name"] == api["name"]
    assert annotations["apim.istio-apim.io/version"] == api["version"]
    assert annotations["apim.istio-apim.io/context"] == api["context"]
    assert annotations["apim.istio-apim.io/tiers"].split(",") == api["policies"]
    assert annotations["apim.istio-apim.io/security-scheme"].split(",") == api["securityScheme"]
    document = yaml.safe_load(objects[("ConfigMap", "httpbin-openapi")]["data"]["openapi.yaml"])
    # The same resources, scopes and resource policies (APIM's default where the document names none).
    exported = {(verb.upper(), path, tuple(op["security"][0]["default"]), op.get("x-throttling-tier", "Unlimited"))
                for path, item in document["paths"].items() for verb, op in item.items()}  # fmt: skip
    assert exported == {(op["verb"], op["target"], tuple(op["scopes"]), op["throttlingPolicy"])
                        for op in api["operations"]}  # fmt: skip


@pytest.mark.parametrize("api_from_service", [True, False])
def test_the_kind_flow_checks_tier_routing_where_the_charts_virtualservice_routes_the_api(
    api_from_service: bool, tmp_path: Path
) -> None:
    """Where apim_setup creates the API, the httpbin chart's VirtualService routes it: Gold consumers (the x-apim-tier
    header the adapter sets) to the v2 pods, the others to v1, and the secured flow's tier rows ask /hostname, a
    resource of the API, by a Gold client and by the standard one, subscribed on Silver. Where mesh-sync routes the
    exported API (its routes know no tiers), there is no v2 and no such row."""
    httpbin, tier_rows, api, applications = dev_inventory_vars(
        tmp_path, "httpbin_helm_values", "secured_flow_tier_routing", "apim_setup_api", "apim_setup_applications",
        api_from_service=api_from_service)  # fmt: skip
    objects = httpbin_objects(httpbin)
    assert tier_rows is (not api_from_service)
    assert (("Deployment", "httpbin-v2") in objects) is (not api_from_service)
    assert ("GET", "/hostname") in {(r["verb"], r["target"]) for r in api["resources"]}
    assert (applications["subscribed"]["subscription_tier"], applications["standard"]["subscription_tier"]) == (
        "Gold", "Silver")  # fmt: skip
    if api_from_service:
        return
    pod = objects[("Deployment", "httpbin-v2")]["spec"]["template"]["spec"]
    assert {"name": "USE_REAL_HOSTNAME", "value": "true"} in pod["containers"][0]["env"]  # /hostname: the pod's name
    routes = {r["name"]: r for r in objects[("VirtualService", "httpbin")]["spec"]["http"]}
    assert list(routes) == ["tier-v2", "api"]
    assert {m["headers"]["x-apim-tier"]["exact"] for m in routes["tier-v2"]["match"]} == {"Gold"}
    assert [d["destination"]["subset"] for d in routes["tier-v2"]["route"]] == ["v2"]
    assert [d["destination"]["subset"] for d in routes["api"]["route"]] == ["v1"]


def _dev_var(file: str, name: str):
    return yaml.safe_load((ROOT / "inventories" / "dev" / "group_vars" / "all" / file).read_text())[name]


def test_httpbins_sidecar_verifies_the_adapters_backend_jwt_with_its_jwks(rendered: dict, tmp_path: Path) -> None:
    """The adapter signs with the pki role's key (a kubernetes.io/tls Secret in its namespace); httpbin's
    RequestAuthentication names the issuer the adapter writes and the JWKS its Service serves on the admin port."""
    values = rendered["helm_values"]
    backend = values["apim_adapter"]["config"]["backendJwt"]
    secret_name = values["apim_adapter"]["backendJwtKey"]["existingSecret"]
    secret = next(m for m in rendered["manifests"]["pki"]
                  if m["kind"] == "Secret" and m["metadata"]["name"] == secret_name)  # fmt: skip
    assert (secret["type"], secret["metadata"]["namespace"]) == ("kubernetes.io/tls", "apim-adapter")
    key = tmp_path / "backend.key"
    key.write_bytes(base64.b64decode(secret["data"]["tls.key"]))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"backendJwt": {**backend, "keyFile": str(key)},
                                      "controlPlane": {"type": "file", "path": "catalog.yaml"}}))  # fmt: skip
    (tmp_path / "catalog.yaml").write_text("apis: []\n")
    # The adapter itself accepts the key for the algorithm (it refuses a key that cannot sign it).
    assert signer_for(load(str(config))) is not None
    adapter = subprocess.run(
        [tool("helm"), "template", "apim-adapter", str(ROOT / "charts" / "apim-adapter"), "-n", "apim-adapter",
         "-f", "-"], input=json.dumps(values["apim_adapter"]), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    service = next(o for o in yaml.safe_load_all(adapter) if o and o["kind"] == "Service")
    admin = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http-admin")
    (rule,) = values["httpbin"]["requestAuthentication"]["jwtRules"]
    assert rule["issuer"] == backend["issuer"]
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert rule["jwksUri"] == f"http://{host}:{admin}/jwks"
    assert rule["fromHeaders"] == [{"name": backend.get("header", "X-JWT-Assertion").lower()}]
    assert _dev_var("secured_flow.yml", "secured_flow_backend_jwt_header") == "X-Jwt-Assertion"


def test_the_gateway_sends_its_access_log_to_the_adapters_grpc_als_port(rendered: dict, tmp_path: Path) -> None:
    """istiod's envoyHttpAls provider is the adapter Service's grpc-als port (gRPC: istiod makes the provider's
    cluster HTTP/2 only for such a port), where the adapter listens with a config it accepts; the chart's Telemetry
    puts the provider, beside Istio's `envoy` (the stdout log), on the pods of the gateway the istio role installs."""
    values = rendered["helm_values"]
    adapter = subprocess.run(
        [tool("helm"), "template", "apim-adapter", str(ROOT / "charts" / "apim-adapter"), "-n", "apim-adapter",
         "-f", "-"], input=json.dumps(values["apim_adapter"]), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # The adapter's objects (mesh-sync has a Deployment and ServiceAccount of its own).
    objects = {o["kind"]: o for o in yaml.safe_load_all(adapter) if o and o["metadata"]["name"] == "apim-adapter"}
    service = objects["Service"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc-als"]
    assert (port["appProtocol"], port["targetPort"]) == ("grpc", "als")
    (provider,) = [p for p in values["istiod"]["meshConfig"]["extensionProviders"] if "envoyHttpAls" in p]
    als = provider["envoyHttpAls"]
    assert set(als) <= _proto_json_fields("EnvoyHttpGrpcV3LogProvider")
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert als == {"service": host, "port": port["port"]}

    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    listening = {p["name"]: p["containerPort"] for p in container["ports"]}["als"]
    config = yaml.safe_load(objects["ConfigMap"]["data"]["config.yaml"])
    assert config["analytics"]["accessLogService"] == {"enabled": True, "host": "0.0.0.0", "port": listening}  # noqa: S104
    # The adapter accepts it (analytics on, dynamic metadata on, a port of its own).
    checked = {key: config[key] for key in ("server", "analytics", "request") if key in config}
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({**checked, "controlPlane": {"type": "file", "path": "catalog.yaml"}}))
    (tmp_path / "catalog.yaml").write_text("apis: []\n")
    subprocess.run([sys.executable, "-m", "apim_adapter", "validate", "--config", str(config_file)], check=True)

    (telemetry,) = [o for o in yaml.safe_load_all(adapter) if o and o["kind"] == "Telemetry"]
    assert telemetry["spec"]["accessLogging"] == [{"providers": [{"name": "envoy"}, {"name": provider["name"]}]}]
    # The gateway chart labels its pods istio: <release name without "istio-"> (gateway.selectorLabels).
    release = _dev_var("istio.yml", "istio_ingress_release_name")
    assert telemetry["spec"]["selector"] == {"matchLabels": {"istio": release.removeprefix("istio-")}}
    assert telemetry["metadata"]["namespace"] == _dev_var("stack.yml", "stack_namespaces")["ingress"]


def test_the_gateways_https_server_admits_the_partners_certificate_the_api_was_given(
    rendered: dict, tmp_path: Path
) -> None:
    """The httpbin Gateway's HTTPS server asks callers for a certificate (OPTIONAL_MUTUAL) and verifies it with the
    ca.crt of its credential, the pki role's gateway-tls Secret in the gateway's namespace, which signed the
    partner's and the stranger's; apim_setup uploads the partner's to the API, whose scheme takes a certificate or a
    token; the adapter checks certificates in a config it accepts; the secured flow calls the HTTPS port kind maps."""
    values = rendered["helm_values"]
    tls = values["httpbin"]["gateway"]["tls"]
    assert (tls["enabled"], tls["mode"]) == (True, "OPTIONAL_MUTUAL")
    [gateway] = [o for (kind, _), o in httpbin_objects(values["httpbin"]).items() if kind == "Gateway"]
    [https] = [s for s in gateway["spec"]["servers"] if s["port"]["protocol"] == "HTTPS"]
    assert https["tls"] == {"mode": "OPTIONAL_MUTUAL", "credentialName": "gateway-tls"}
    # The ingress gateway's Service port of that number is the one kind maps to the host's gateway_https port.
    [service_port] = [p for p in values["gateway"]["service"]["ports"] if p["port"] == https["port"]["number"]]
    mapped = {m["containerPort"]: m["hostPort"] for m in rendered["kind_config"]["nodes"][0]["extraPortMappings"]}
    flow = _dev_var("secured_flow.yml", "secured_flow_mutual_tls")
    assert flow["base_url"] == "https://localhost:{{ stack_host_ports.gateway_https }}"
    assert mapped[service_port["nodePort"]] == _dev_var("stack.yml", "stack_host_ports")["gateway_https"]
    [secret] = [m for m in rendered["manifests"]["pki"]
                if m["kind"] == "Secret" and m["metadata"]["name"] == https["tls"]["credentialName"]]  # fmt: skip
    assert secret["metadata"]["namespace"] == _dev_var("stack.yml", "stack_namespaces")["ingress"]
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(secret["data"]["ca.crt"]))
    pki: Path = rendered["pki_dir"]
    for caller in ("partner", "stranger"):
        verified = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(pki / f"{caller}.crt")],
                                  capture_output=True, text=True)  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
    api = rendered["apim_setup"]["apis"]["HttpbinAPI"]["api"]
    assert "mutualssl" in api["securityScheme"]
    assert not {"mutualssl_mandatory", "oauth_basic_auth_api_key_mandatory"} & set(api["securityScheme"])
    [declared] = _dev_var("wso2.yml", "apim_setup_api_client_certificates")
    assert (declared["alias"], declared["tier"], declared["certificate_file"]) == (
        "partner", "Gold", "{{ pki_dir }}/partner.crt")  # fmt: skip
    adapter = values["apim_adapter"]["config"]
    assert adapter["mutualTls"] == {"enabled": True}
    # With the wso2 control plane, certificates need gatewayLabel (the validator names the key otherwise); the chart
    # mounts the credentials, files here.
    for name in ("username", "password"):
        (tmp_path / name).write_text("admin\n")
    control_plane = {**adapter["controlPlane"], "usernameFile": str(tmp_path / "username"),
                     "passwordFile": str(tmp_path / "password")}  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"mutualTls": adapter["mutualTls"], "controlPlane": control_plane}))
    subprocess.run([sys.executable, "-m", "apim_adapter", "validate", "--config", str(config)], check=True)
