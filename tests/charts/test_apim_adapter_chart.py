"""What the apim-adapter chart renders: the properties operators and Istio rely on."""

import re

import promql_parser
import yaml
from chart_helpers import CHARTS, alerts, exported_metric_names, find, kinds, render, render_notes, template
from crd_schemas import schema_errors

from apim_adapter.config import BackendJwt, Request
from harness.envoy import HTTP_DOWNSTREAM_ON_ALLOW

CHART = "apim-adapter"
CI = CHARTS / CHART / "ci"


def deployment(objects):
    return find(objects, "Deployment")


def container(objects):
    (adapter,) = deployment(objects)["spec"]["template"]["spec"]["containers"]
    return adapter


def rendered_config(objects) -> dict:
    return yaml.safe_load(find(objects, "ConfigMap", "-apim-adapter")["data"]["config.yaml"])


def mounts(objects) -> dict[str, dict]:
    return {m["mountPath"]: m for m in container(objects)["volumeMounts"]}


def test_defaults_render_the_core_objects_only():
    assert kinds(render(CHART)) == ["ConfigMap", "Deployment", "Service", "ServiceAccount"]


def test_pod_meets_the_restricted_pod_security_standard():
    objects = render(CHART)
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container(objects)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "/tmp" in mounts(objects), "a read-only root filesystem needs a writable /tmp"
    assert {v["name"]: v for v in pod["volumes"]}["tmp"]["emptyDir"]


def test_probes_hit_the_admin_port():
    adapter = container(render(CHART))
    ports = {p["name"]: p["containerPort"] for p in adapter["ports"]}
    assert ports == {"grpc": 8081, "http": 8080, "admin": 9090}
    assert adapter["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert adapter["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert adapter["args"] == ["serve", "--config", "/etc/apim-adapter/config.yaml"]
    assert adapter["image"] == "ghcr.io/istio-apim/apim-adapter:0.1.0"


def test_probes_can_be_disabled():
    adapter = container(render(CHART, values={"livenessProbe": {"enabled": False}}))
    assert "livenessProbe" not in adapter
    assert "readinessProbe" in adapter


def test_service_ports_declare_their_protocol():
    service = find(render(CHART), "Service")
    ports = {p["name"]: (p["port"], p["targetPort"], p["appProtocol"]) for p in service["spec"]["ports"]}
    assert ports == {
        "grpc": (8081, "grpc", "grpc"),
        "http": (8080, "http", "http"),
        "http-admin": (9090, "admin", "http"),
    }


def test_rolling_update_never_drops_capacity():
    spec = deployment(render(CHART))["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }


def test_config_gets_server_ports_and_the_inline_catalog():
    values = {
        "containerPorts": {"grpc": 9001},
        "catalog": {"inline": {"apis": [{"uuid": "a", "context": "/x/1"}]}},
    }
    objects = render(CHART, values=values)
    config = rendered_config(objects)
    # The adapter must listen on the pod's address, not loopback, for the gateway to reach it.
    assert config["server"]["grpc"] == {"host": "0.0.0.0", "port": 9001}  # noqa: S104
    assert config["server"]["admin"]["port"] == 9090
    assert config["controlPlane"] == {"type": "file", "path": "/etc/apim-adapter/catalog/catalog.yaml"}
    catalog = yaml.safe_load(find(objects, "ConfigMap", "-apim-adapter")["data"]["catalog.yaml"])
    assert catalog["apis"] == [{"uuid": "a", "context": "/x/1"}]
    assert catalog["subscriptions"] == []
    assert catalog["applicationKeyMappings"] == []
    catalog_mount = mounts(objects)["/etc/apim-adapter/catalog"]
    assert "subPath" not in catalog_mount, "a subPath mount would never see catalog updates"


def test_an_opa_or_token_url_ca_bundle_of_its_own_stays():
    own = {"opa": {"caBundle": "/etc/opa-ca/ca.crt"}, "endpointSecurity": {"caBundle": "/etc/idp-ca/ca.crt"}}
    values = {"caBundle": {"caCrt": "PEM"}, "config": own}
    config = rendered_config(render(CHART, values=values))
    assert config["opa"] == {"caBundle": "/etc/opa-ca/ca.crt"}
    assert config["endpointSecurity"] == {"caBundle": "/etc/idp-ca/ca.crt"}


def test_wso2_control_plane_has_no_catalog_and_reads_mounted_files():
    objects = render(CHART, files=(CI / "existing-secrets-values.yaml",))
    config = rendered_config(objects)
    assert "catalog.yaml" not in find(objects, "ConfigMap", "-apim-adapter")["data"]
    assert config["controlPlane"]["usernameFile"] == "/etc/apim-adapter/control-plane/username"
    assert config["controlPlane"]["passwordFile"] == "/etc/apim-adapter/control-plane/password"
    assert config["controlPlane"]["caBundle"] == "/etc/apim-adapter/ca/ca.crt"
    assert config["keyManagers"][0]["caBundle"] == "/etc/apim-adapter/ca/ca.crt"
    assert config["opa"]["caBundle"] == "/etc/apim-adapter/ca/ca.crt"  # an https:// OPA in the cluster
    assert config["endpointSecurity"]["caBundle"] == "/etc/apim-adapter/ca/ca.crt"  # IS as a backend's token URL
    assert config["backendJwt"]["keyFile"] == "/etc/apim-adapter/backend-jwt/tls.key"
    assert config["apiKeys"]["certificates"] == [
        {"alias": "gateway_certificate_alias", "file": "/etc/apim-adapter/api-key-certificate/tls.crt"}
    ]
    assert config["rateLimit"]["redis"]["passwordFile"] == "/etc/apim-adapter/redis/password"
    assert config["keyManagers"][0]["introspection"] == {
        "url": "https://wso2is.wso2.svc.cluster.local:9443/oauth2/introspect",
        "clientIdFile": "/etc/apim-adapter/introspection/client-id",
        "clientSecretFile": "/etc/apim-adapter/introspection/client-secret",
    }


def test_existing_secrets_are_mounted_read_only_and_not_created():
    objects = render(CHART, files=(CI / "existing-secrets-values.yaml",))
    assert "Secret" not in kinds(objects)
    volumes = {v["name"]: v for v in deployment(objects)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["control-plane-credentials"]["secret"]["secretName"] == "apim-control-plane"
    assert volumes["backend-jwt-key"]["secret"]["secretName"] == "apim-backend-jwt-tls"
    assert volumes["api-key-certificate"]["secret"]["secretName"] == "apim-primary-tls"
    assert volumes["ca-bundle"]["secret"]["secretName"] == "istio-apim-ca"
    assert volumes["redis-password"]["secret"]["secretName"] == "apim-redis"
    assert volumes["introspection-credentials"]["secret"]["secretName"] == "apim-introspection-client"
    assert all(m.get("readOnly") for path, m in mounts(objects).items() if path != "/tmp")


def test_chart_created_secrets_hold_the_values():
    objects = render(CHART, files=(CI / "all-enabled-values.yaml",))
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    assert sorted(secrets) == [
        "rel-apim-adapter-api-key-certificate",
        "rel-apim-adapter-backend-jwt",
        "rel-apim-adapter-ca",
        "rel-apim-adapter-control-plane",
        "rel-apim-adapter-introspection",
        "rel-apim-adapter-redis",
    ]
    assert sorted(secrets["rel-apim-adapter-control-plane"]["data"]) == ["password", "username"]
    assert sorted(secrets["rel-apim-adapter-introspection"]["data"]) == ["client-id", "client-secret"]
    config_map = find(objects, "ConfigMap", "-apim-adapter")
    assert "ci-not-a-secret" not in yaml.safe_dump(config_map), "a secret leaked into the ConfigMap"


def test_an_existing_secret_and_inline_values_together_are_refused():
    result = template(CHART, values={"caBundle": {"existingSecret": "ca", "caCrt": "PEM"}}, check=False)
    assert result.returncode != 0
    assert "caBundle: set either existingSecret or the inline values, not both" in result.stderr


def test_wso2_control_plane_without_credentials_is_refused():
    values = {"config": {"controlPlane": {"type": "wso2", "url": "https://apim:9443"}}}
    result = template(CHART, values=values, check=False)
    assert result.returncode != 0
    assert "needs credentials" in result.stderr


OPAQUE_TOKENS_KEY_MANAGER = {"name": "km", "issuer": "https://is", "introspection": {"url": "https://is/introspect"}}


def test_introspection_without_client_credentials_is_refused():
    result = template(CHART, values={"config": {"keyManagers": [OPAQUE_TOKENS_KEY_MANAGER]}}, check=False)
    assert result.returncode != 0
    assert "introspection needs client credentials" in result.stderr


def test_introspection_client_files_set_by_the_user_are_kept():
    files = {"clientIdFile": "/mnt/km/id", "clientSecretFile": "/mnt/km/secret"}
    key_manager = {**OPAQUE_TOKENS_KEY_MANAGER, "introspection": {"url": "https://is/introspect", **files}}
    values = {
        "config": {"keyManagers": [key_manager]},
        "introspectionCredentials": {"existingSecret": "introspection"},
    }
    (rendered,) = rendered_config(render(CHART, values=values))["keyManagers"]
    assert rendered["introspection"] == {"url": "https://is/introspect", **files}


def test_bearer_introspection_without_a_token_url_is_refused_by_the_schema():
    bearer = {**OPAQUE_TOKENS_KEY_MANAGER["introspection"], "authentication": "bearer"}
    values = {
        "config": {"keyManagers": [{**OPAQUE_TOKENS_KEY_MANAGER, "introspection": bearer}]},
        "introspectionCredentials": {"existingSecret": "introspection"},
    }
    result = template(CHART, values=values, check=False)
    assert result.returncode != 0
    assert "tokenUrl" in result.stderr
    bearer["tokenUrl"] = "https://is/oauth2/token"
    (rendered,) = rendered_config(render(CHART, values=values))["keyManagers"]
    assert rendered["introspection"]["tokenUrl"] == "https://is/oauth2/token"


def test_workers_join_the_listeners_from_container_ports():
    server = rendered_config(render(CHART, values={"config": {"server": {"workers": 3}}}))["server"]
    assert server["workers"] == 3
    assert server["grpc"] == {"host": "0.0.0.0", "port": 8081}  # noqa: S104
    assert server["admin"]["port"] == 9090


def test_destination_rule_caps_streams_per_connection_so_gateways_spread_over_workers():
    """SO_REUSEPORT hands each connection to one worker; the gateway opens more connections only when the ones it
    has carry `maxConcurrentStreams` checks each. istiod applies the rule to the ext_authz provider's cluster,
    whose host is the one NOTES prints for `meshConfig.extensionProviders`."""
    assert "DestinationRule" not in kinds(render(CHART))
    values = {"config": {"server": {"workers": 2}}, "istio": {"destinationRule": {"enabled": True}}}
    rule = find(render(CHART, values=values), "DestinationRule")
    assert rule["metadata"]["namespace"] == "apim"
    assert rule["spec"] == {
        "host": "rel-apim-adapter.apim.svc.cluster.local",
        "trafficPolicy": {
            "connectionPool": {"http": {"maxConcurrentStreams": 2}},
            # HTTP mode's port stays HTTP/1.1 under a mesh-wide h2UpgradePolicy: UPGRADE.
            "portLevelSettings": [
                {"port": {"number": 8080}, "connectionPool": {"http": {"h2UpgradePolicy": "DO_NOT_UPGRADE"}}}
            ],
        },
    }
    assert schema_errors(rule) == []
    values["istio"]["destinationRule"]["maxConcurrentStreams"] = 0
    assert template(CHART, values=values, check=False).returncode != 0  # 0 would mean "unset" to istiod


def test_notes_warn_when_workers_would_share_one_connection(tmp_path):
    workers = {"config": {"server": {"workers": 2}}}
    assert "istio.destinationRule.enabled is false" in render_notes(CHART, tmp_path / "a", values=workers)
    workers["istio"] = {"destinationRule": {"enabled": True}}
    assert "WARNING: config.server.workers" not in render_notes(CHART, tmp_path / "b", values=workers)
    assert "WARNING: config.server.workers" not in render_notes(CHART, tmp_path / "c")


def test_notes_warn_that_an_open_access_log_port_lets_any_pod_forge_analytics(tmp_path):
    warning = "WARNING: networkPolicy.enabled is false, so any pod can reach port 18090"
    assert warning in render_notes(CHART, tmp_path / "open", values=ACCESS_LOG_SERVICE)
    closed = {**ACCESS_LOG_SERVICE, "networkPolicy": {"enabled": True}}
    assert warning not in render_notes(CHART, tmp_path / "closed", values=closed)
    assert warning not in render_notes(CHART, tmp_path / "off", values={"networkPolicy": {"enabled": False}})


def test_notes_say_how_to_probe_the_dependencies_with_the_config_the_pod_mounts(tmp_path):
    notes = render_notes(CHART, tmp_path)
    probe = re.search(r"exec deployment/rel-apim-adapter -- apim-adapter probe --config (\S+)", notes)
    assert probe, notes
    (config,) = [m for m in container(render(CHART))["volumeMounts"] if m["mountPath"].endswith("config.yaml")]
    assert probe.group(1) == config["mountPath"]


def test_notes_say_the_mesh_sync_probe_asks_the_publisher_api_where_services_are_exported(tmp_path):
    mesh = {"config.controlPlane": {"type": "wso2", "url": "https://apim:9443"},
            "controlPlaneCredentials": {"username": "admin", "password": "x"}}  # fmt: skip
    said = "and APIM's Publisher API: the token's scopes, the gateway environment's vhost"
    exporting = {**mesh, "meshSync": {"enabled": True, "exportServices": {"enabled": True}}}
    notes = render_notes(CHART, tmp_path / "export", values=exporting)
    assert said in notes
    assert "apim-adapter probe --mesh-sync --config /etc/apim-adapter/config.yaml" in notes
    routes_only = {**mesh, "meshSync": {"enabled": True}}
    assert said not in render_notes(CHART, tmp_path / "routes", values=routes_only)


def test_notes_say_how_to_keep_http_mode_on_http1_where_it_must_stay_there(tmp_path):
    # The compiled transport (the image's) serves HTTP/2 too; aiohttp does not, unless the rule keeps HTTP/1.1.
    hint = "aiohttp is HTTP/1.1 only: under a\n   mesh-wide h2UpgradePolicy UPGRADE, enable istio.destinationRule"
    aiohttp = {"config": {"server": {"httpTransport": "aiohttp"}}}
    assert hint in render_notes(CHART, tmp_path / "aiohttp", values=aiohttp)
    assert hint not in render_notes(CHART, tmp_path / "default")
    ruled = {**aiohttp, "istio": {"destinationRule": {"enabled": True}}}
    assert hint not in render_notes(CHART, tmp_path / "ruled", values=ruled)


def test_api_keys_without_apims_certificate_are_refused_and_more_certificates_are_kept():
    result = template(CHART, values={"config": {"apiKeys": {"enabled": True}}}, check=False)
    assert result.returncode != 0
    assert "config.apiKeys.enabled needs APIM's API key signing certificate" in result.stderr
    rotated = {"alias": "next_alias", "file": "/etc/extra/next.crt"}  # a second certificate, mounted by the user
    values = {"config": {"apiKeys": {"enabled": True, "certificates": [rotated]}},
              "apiKeyCertificate": {"existingSecret": "apim-primary-tls", "alias": "wso2carbon"}}  # fmt: skip
    certificates = rendered_config(render(CHART, values=values))["apiKeys"]["certificates"]
    assert certificates == [rotated, {"alias": "wso2carbon", "file": "/etc/apim-adapter/api-key-certificate/tls.crt"}]


def test_backend_jwt_without_a_key_is_refused():
    result = template(CHART, values={"config": {"backendJwt": {"enabled": True}}}, check=False)
    assert result.returncode != 0
    assert "needs a signing key" in result.stderr


def checksums(values=None):
    annotations = deployment(render(CHART, values=values))["spec"]["template"]["metadata"]["annotations"]
    return annotations["checksum/config"], annotations["checksum/secrets"]


def test_config_and_secret_changes_roll_the_pods():
    config, secrets = checksums()
    assert checksums() == (config, secrets), "checksums must be stable across renders"
    assert checksums({"config": {"logging": {"level": "DEBUG"}}})[0] != config
    assert checksums({"redisPassword": {"password": "other"}})[1] != secrets


def test_catalog_changes_do_not_roll_the_pods():
    """The file control plane reloads the catalog in place; a restart would only cost capacity."""
    assert checksums({"catalog": {"inline": {"apis": [{"uuid": "b"}]}}}) == checksums()


def test_custom_authorization_policy_targets_the_gateway():
    objects = render(CHART, values={"istio": {"authorizationPolicy": {"enabled": True}}})
    policy = find(objects, "AuthorizationPolicy")
    assert policy["metadata"]["namespace"] == "istio-system"
    spec = policy["spec"]
    assert spec["action"] == "CUSTOM"
    assert spec["provider"] == {"name": "apim-adapter"}
    assert spec["selector"] == {"matchLabels": {"istio": "ingressgateway"}}
    assert spec["rules"] == [{"to": [{"operation": {"notPaths": ["/healthz", "/healthz/*", "/readyz"]}}]}]


def test_the_policy_and_the_envoyfilter_attach_to_gateway_api_gateways_instead_of_selecting_pods(tmp_path):
    # Istio 1.22+: AuthorizationPolicy and EnvoyFilter take `targetRefs` or a selector, never both (CEL on their
    # CRDs; the API server checks it in tests/cluster with ci/existing-secrets-values.yaml).
    values_file = CI / "existing-secrets-values.yaml"
    objects = render(CHART, files=(values_file,))
    gateway = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "api-gateway"}]
    policy, envoy_filter = find(objects, "AuthorizationPolicy"), find(objects, "EnvoyFilter")
    assert policy["spec"]["targetRefs"] == envoy_filter["spec"]["targetRefs"] == gateway
    assert "selector" not in policy["spec"]
    assert "workloadSelector" not in envoy_filter["spec"]
    assert schema_errors(policy) == schema_errors(envoy_filter) == []
    values = yaml.safe_load(values_file.read_text())
    assert "attaches to\n   Gateway api-gateway" in render_notes(CHART, tmp_path, values=values)
    wrong_kind = {"istio": {"authorizationPolicy": {"targetRefs": [{**gateway[0], "kind": "Service"}]}}}
    assert template(CHART, values=wrong_kind, check=False).returncode != 0


def test_custom_policy_limits_hosts_and_paths_and_excludes_public_paths():
    policy = find(render(CHART, files=(CI / "all-enabled-values.yaml",)), "AuthorizationPolicy")
    (operation,) = [to["operation"] for rule in policy["spec"]["rules"] for to in rule["to"]]
    assert operation["hosts"] == ["api.example.com"]
    assert operation["paths"] == ["/httpbin", "/httpbin/*"]
    assert "/httpbin/1.0.0/status/*" in operation["notPaths"]
    assert "/healthz" in operation["notPaths"]
    assert policy["spec"]["selector"]["matchLabels"] == {"istio": "ingress"}
    assert policy["metadata"]["namespace"] == "istio-ingress"


def test_methods_kept_from_the_adapter_are_left_out_of_the_custom_policy():
    """Where Istio's corsPolicy answers preflights instead of the adapter, OPTIONS must not reach the adapter first."""
    values = {"istio": {"authorizationPolicy": {"enabled": True, "excludedMethods": ["OPTIONS"]}}}
    policy = find(render(CHART, values=values), "AuthorizationPolicy")
    (operation,) = [to["operation"] for rule in policy["spec"]["rules"] for to in rule["to"]]
    assert operation["notMethods"] == ["OPTIONS"]
    assert schema_errors(policy) == []
    unknown = {"istio": {"authorizationPolicy": {"excludedMethods": ["options"]}}}
    assert template(CHART, values=unknown, check=False).returncode != 0


def test_custom_policy_without_exclusions_checks_every_request():
    values = {"istio": {"authorizationPolicy": {"enabled": True, "healthPaths": []}}}
    policy = find(render(CHART, values=values), "AuthorizationPolicy")
    assert policy["spec"]["rules"] == [{}]


def test_hpa_replaces_fixed_replicas():
    objects = render(CHART, values={"autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 75}})
    hpa = find(objects, "HorizontalPodAutoscaler")
    assert "replicas" not in deployment(objects)["spec"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "rel-apim-adapter",
    }
    metrics = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["spec"]["metrics"]}
    assert metrics == {"cpu": 70, "memory": 75}


def test_pdb_only_when_more_than_one_pod_runs():
    assert "PodDisruptionBudget" not in kinds(render(CHART))
    pdb = find(render(CHART, values={"podDisruptionBudget": {"enabled": True}}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "apim-adapter"
    single = render(CHART, values={"podDisruptionBudget": {"enabled": True}, "replicaCount": 1})
    assert "PodDisruptionBudget" not in kinds(single)
    min_available = render(CHART, values={"podDisruptionBudget": {"enabled": True, "minAvailable": "50%"}})
    assert find(min_available, "PodDisruptionBudget")["spec"] == {
        "selector": pdb["spec"]["selector"],
        "minAvailable": "50%",
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def test_network_policy_admits_the_gateway_to_ext_authz_ports():
    objects = render(CHART, values={"networkPolicy": {"enabled": True}})
    ext_authz, admin = find(objects, "NetworkPolicy")["spec"]["ingress"]
    assert [p["port"] for p in ext_authz["ports"]] == ["grpc", "http"]
    assert ext_authz["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
            "podSelector": {"matchLabels": {"istio": "ingressgateway"}},
        }
    ]
    assert [p["port"] for p in admin["ports"]] == ["admin"]
    # Attached to Gateway API gateways: their pods, by the label istiod deploys them with.
    gateways = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": n} for n in ("public", "partners")]
    values = {"networkPolicy": {"enabled": True}, "istio": {"authorizationPolicy": {"targetRefs": gateways}}}
    [peer] = find(render(CHART, values=values), "NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert peer["podSelector"] == {
        "matchExpressions": [
            {"key": "gateway.networking.k8s.io/gateway-name", "operator": "In", "values": ["public", "partners"]}
        ]
    }


ACCESS_LOG_SERVICE = {"config": {"analytics": {"accessLogService": {"enabled": True}}}}


def test_the_access_log_service_listens_only_when_on_on_a_grpc_service_port():
    """Off by default: no port, and the config says so. On: the listener comes from `containerPorts` like the
    server's, and the Service port is gRPC by name and appProtocol, which is what makes istiod give the
    `envoyHttpAls` provider's cluster the HTTP/2 Envoy's gRPC client needs."""
    objects = render(CHART)
    assert rendered_config(objects)["analytics"]["accessLogService"] == {"enabled": False}
    assert "als" not in {p["name"] for p in container(objects)["ports"]}
    assert "grpc-als" not in {p["name"] for p in find(objects, "Service")["spec"]["ports"]}
    assert "Telemetry" not in kinds(objects)

    objects = render(CHART, values={**ACCESS_LOG_SERVICE, "containerPorts": {"accessLog": 18500}})
    assert rendered_config(objects)["analytics"]["accessLogService"] == {
        "enabled": True,
        "host": "0.0.0.0",  # noqa: S104 - the gateways reach it on the pod's address
        "port": 18500,
    }
    assert {"name": "als", "containerPort": 18500, "protocol": "TCP"} in container(objects)["ports"]
    service_ports = {p["name"]: p for p in find(objects, "Service")["spec"]["ports"]}
    assert service_ports["grpc-als"] == {
        "name": "grpc-als",
        "port": 18090,
        "targetPort": "als",
        "protocol": "TCP",
        "appProtocol": "grpc",
    }
    # The listener belongs to the chart, as the server's do.
    values = {"config": {"analytics": {"accessLogService": {"enabled": True, "port": 18500}}}}
    assert template(CHART, values=values, check=False).returncode != 0


def test_network_policy_admits_the_gateway_to_the_access_log_service():
    objects = render(CHART, values={**ACCESS_LOG_SERVICE, "networkPolicy": {"enabled": True}})
    ext_authz, _ = find(objects, "NetworkPolicy")["spec"]["ingress"]
    assert [p["port"] for p in ext_authz["ports"]] == ["grpc", "http", "als"]
    assert ext_authz["from"][0]["podSelector"] == {"matchLabels": {"istio": "ingressgateway"}}


def test_the_telemetry_sends_the_gateways_access_log_to_the_adapter_and_keeps_its_stdout_log():
    """A Telemetry naming access log providers replaces the mesh default (meshConfig.accessLogFile), so it names
    Istio's built-in `envoy` provider beside the adapter's; it selects the gateway the CUSTOM policy selects."""
    values = {**ACCESS_LOG_SERVICE, "istio": {"accessLogService": {"telemetry": {"enabled": True}}}}
    telemetry = find(render(CHART, values=values), "Telemetry")
    assert telemetry["apiVersion"] == "telemetry.istio.io/v1"
    assert telemetry["metadata"]["name"] == "rel-apim-adapter-access-log"
    assert telemetry["metadata"]["namespace"] == "istio-system"
    assert telemetry["spec"] == {
        "selector": {"matchLabels": {"istio": "ingressgateway"}},
        "accessLogging": [{"providers": [{"name": "envoy"}, {"name": "apim-adapter-als"}]}],
    }
    assert schema_errors(telemetry) == []

    # On the gateways of a CI values file: the policy's namespace and selector, or its Gateway API targetRefs.
    telemetry = find(render(CHART, files=(CI / "all-enabled-values.yaml",)), "Telemetry")
    assert telemetry["metadata"]["namespace"] == "istio-ingress"
    assert telemetry["spec"]["selector"] == {"matchLabels": {"istio": "ingress"}}
    objects = render(CHART, files=(CI / "existing-secrets-values.yaml",))
    telemetry, policy = find(objects, "Telemetry"), find(objects, "AuthorizationPolicy")
    assert telemetry["spec"]["targetRefs"] == policy["spec"]["targetRefs"]
    assert "selector" not in telemetry["spec"]

    values["istio"]["accessLogService"] = {"providerName": "als", "telemetry": {"enabled": True, "otherProviders": []}}
    telemetry = find(render(CHART, values=values), "Telemetry")
    assert telemetry["spec"]["accessLogging"] == [{"providers": [{"name": "als"}]}]


def test_a_telemetry_without_the_access_log_service_is_refused():
    values = {"istio": {"accessLogService": {"telemetry": {"enabled": True}}}}
    result = template(CHART, values=values, check=False)
    assert result.returncode != 0
    assert "needs config.analytics.accessLogService.enabled" in result.stderr


def test_service_monitor_scrapes_the_admin_port():
    assert "ServiceMonitor" not in kinds(render(CHART))
    monitor = find(render(CHART, values={"serviceMonitor": {"enabled": True}}), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "http-admin"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_mesh_syncs_metrics_are_scraped_by_a_pod_monitor_of_its_pods_alone():
    """mesh-sync has no Service: a PodMonitor selects its pods (not the adapter's) on the port its container
    declares, with the ServiceMonitor's settings; none where nothing serves metrics."""
    objects = render(CHART, files=WSO2)
    monitor = find(objects, "PodMonitor")
    mesh_sync = find(objects, "Deployment", "-mesh-sync")
    adapter = find(objects, "Deployment", "rel-apim-adapter")
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= mesh_sync["spec"]["template"]["metadata"]["labels"].items()
    assert not selected.items() <= adapter["spec"]["template"]["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    (container,) = mesh_sync["spec"]["template"]["spec"]["containers"]
    (port,) = [p for p in container["ports"] if p["name"] == endpoint["port"]]
    assert port["containerPort"] == 9091  # meshSync.metricsPort
    assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "15s")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # serviceMonitor.labels
    for values in ({"meshSync.metricsPort": 0}, {"serviceMonitor.enabled": False}):
        assert "PodMonitor" not in kinds(render(CHART, files=WSO2, values=values))


def test_mesh_syncs_alerts_follow_its_settings():
    wso2 = alerts(render(CHART, files=WSO2))
    mesh_sync = {name for name, rule in wso2.items() if rule["group"] == "apim-mesh-sync"}
    assert mesh_sync == {"ApimMeshSyncNoLeader", "ApimMeshSyncNotConverging", "ApimMeshSyncFailing",
                         "ApimMeshSyncRoutesRefused", "ApimMeshSyncConflicts", "ApimMeshSyncApisUnrouted",
                         "ApimMeshSyncServicesUnexported"}  # fmt: skip
    assert wso2["ApimMeshSyncNotConverging"]["expr"].endswith("> 180")  # 3 x meshSync.resyncSeconds (60)
    slower = alerts(render(CHART, files=WSO2, values={"meshSync.resyncSeconds": 600}))
    assert slower["ApimMeshSyncNotConverging"]["expr"].endswith("> 1800")
    routes_only = alerts(render(CHART, files=WSO2, values={"meshSync.exportServices.enabled": False}))
    assert {n for n, r in routes_only.items() if r["group"] == "apim-mesh-sync"} == mesh_sync - {
        "ApimMeshSyncServicesUnexported"
    }
    for values in (
        {"meshSync.metricsPort": 0},
        {"meshSync.enabled": False, "meshSync.exportServices.enabled": False},
    ):
        assert not any(
            r["group"] == "apim-mesh-sync" for r in alerts(render(CHART, files=WSO2, values=values)).values()
        )


WSO2 = (CI / "all-enabled-values.yaml",)  # its control plane is wso2 (resyncSeconds at the default, 300)


def test_the_alerts_watch_metrics_the_adapter_exports_in_expressions_prometheus_parses():
    """A renamed metric or a typo in an expression would make an alert that never fires: every series an alert
    selects is one the adapter exports, and every expression parses (promql-parser)."""
    exported = exported_metric_names()
    objects = render(CHART, files=WSO2)
    release = find(objects, "PrometheusRule")["metadata"]
    monitor = find(objects, "PodMonitor")["metadata"]
    for name, rule in alerts(objects).items():
        promql_parser.parse(rule["expr"])
        mesh_sync = rule["group"] == "apim-mesh-sync"
        used = set(re.findall(r"\bapim_(?:adapter|mesh_sync)_\w+", rule["expr"]))
        assert used, name
        assert used <= exported, (name, used - exported)
        assert all(n.startswith("apim_mesh_sync_") == mesh_sync for n in used), name
        # This release's series only: the labels its ServiceMonitor (job: the Service's name) or mesh-sync's
        # PodMonitor (job: namespace/name, as the Prometheus Operator sets it) gives them.
        job = f"{monitor['namespace']}/{monitor['name']}" if mesh_sync else release["name"]
        assert f'job="{job}", namespace="{release["namespace"]}"' in rule["expr"], name


def test_the_alerts_follow_the_control_plane_and_carry_the_alert_labels():
    assert "PrometheusRule" not in kinds(render(CHART))
    wso2 = alerts(render(CHART, files=WSO2))
    assert wso2["ApimAdapterApimCatalogStale"]["expr"].endswith("> 900")  # 3 x resyncSeconds
    assert {rule["labels"]["team"] for rule in wso2.values()} == {"platform"}
    config = yaml.safe_load(WSO2[0].read_text())["config"]
    config["controlPlane"]["resyncSeconds"] = 60
    faster = alerts(render(CHART, files=WSO2, values={"config": config}))
    assert faster["ApimAdapterApimCatalogStale"]["expr"].endswith("> 180")
    on_a_file = alerts(render(CHART, values={"prometheusRule": {"enabled": True}}))
    assert not any("controlplane" in rule["expr"] for rule in on_a_file.values())
    assert set(on_a_file) < set(wso2)
    assert {"ApimAdapterCheckErrors", "ApimAdapterCatalogItemsNotEnforced", "ApimAdapterOpaFailing",
            "ApimAdapterBodiesUnread", "ApimAdapterPoliciesUnapplied"} <= set(on_a_file)  # fmt: skip
    # Only where allowed checks leave their events to the gateway's access log.
    assert "ApimAdapterAccessLogSilent" in wso2
    assert "ApimAdapterAccessLogSilent" not in on_a_file


OPERATIONS = CHARTS.parent / "docs" / "operations.md"


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_links_its_section_of_the_operations_guide():
    """An on-call engineer follows an alert's runbook_url: each alert the chart can render has a section of that
    name in docs/operations.md, and the link lands on it."""
    base = "https://github.com/istio-apim/istio-apim/blob/main/docs/operations.md"
    sections = {github_anchor(h) for h in re.findall(r"^### (.+)$", OPERATIONS.read_text(), re.M)}
    every = alerts(render(CHART, files=WSO2))  # wso2 and the access log service: every alert
    assert len(every) == 21  # the adapter's 14, mesh-sync's 7
    for name, rule in every.items():
        assert rule["annotations"]["runbook_url"] == f"{base}#{name.lower()}", name
        assert name.lower() in sections, f"docs/operations.md has no section for {name}"
    own = alerts(render(CHART, files=WSO2, values={"prometheusRule.runbookUrl": "https://wiki.example/apim"}))
    assert (
        own["ApimAdapterCheckErrors"]["annotations"]["runbook_url"]
        == "https://wiki.example/apim#apimadaptercheckerrors"
    )
    none = alerts(render(CHART, files=WSO2, values={"prometheusRule.runbookUrl": ""}))
    assert not any("runbook_url" in rule["annotations"] for rule in none.values())
    assert template(CHART, values={"prometheusRule": {"runbookUrl": "docs/operations.md"}}, check=False).returncode


def test_the_operations_guide_names_the_adapters_own_metrics_and_log_messages():
    """What the guide tells an engineer to grep for exists: every metric it names is one the adapter exports, and
    every message it quotes is in the adapter's source (but istiod's, which it says are istiod's)."""
    text = OPERATIONS.read_text()
    named = set(re.findall(r"\bapim_(?:adapter|mesh_sync)_\w+", text))
    exported = exported_metric_names()
    exported |= {re.sub(r"_(bucket|sum|count)$", "", name) for name in exported}  # a histogram by its family
    assert len(named) > 10
    assert named <= exported, named - exported
    source = "\n".join(p.read_text() for p in (CHARTS.parent / "adapter" / "src").rglob("*.py"))
    prose = re.sub(r"`[^`]*`", "", text)  # code spans quote JSON, not messages
    prose = re.sub(r'istiod\'s log says "[^"]*"', "", prose)
    quoted = [" ".join(q.split()) for q in re.findall(r'"([^"]+)"', prose)]
    assert len(quoted) > 20
    for message in quoted:
        for piece in message.split("…"):  # an ellipsis stands for a name the message carries
            assert piece.strip() in source, f"docs/operations.md quotes {message!r}, which the adapter never says"


def test_topology_spread_gets_the_selector_labels():
    constraint = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
    }
    pod = deployment(render(CHART, values={"topologySpreadConstraints": [constraint]}))["spec"]["template"]["spec"]
    (rendered,) = pod["topologySpreadConstraints"]
    assert rendered["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "rel"


def notes_providers(notes: str) -> dict:
    """The meshConfig blocks printed in NOTES (paragraphs starting at column 0), parsed as YAML."""
    entries = {}
    for paragraph in notes.split("\n\n"):
        if paragraph.startswith("meshConfig:"):
            (entry,) = yaml.safe_load(paragraph)["meshConfig"]["extensionProviders"]
            name = entry.pop("name")
            entries.update({kind: {"name": name, **fields} for kind, fields in entry.items()})
    return entries


def test_notes_print_both_extension_providers_with_a_real_timeout(tmp_path):
    providers = notes_providers(render_notes(CHART, tmp_path))
    grpc, http = providers["envoyExtAuthzGrpc"], providers["envoyExtAuthzHttp"]
    assert grpc == {
        "name": "apim-adapter",
        "service": "rel-apim-adapter.apim.svc.cluster.local",
        "port": 8081,
        "timeout": "0.5s",
        "failOpen": False,
        "statusOnError": "503",
    }
    assert (http["port"], http["timeout"], http["statusOnError"]) == (8080, "0.5s", "503")
    assert http["headersToUpstreamOnAllow"] == ["x-apim-*", "x-jwt-assertion"]
    assert {"www-authenticate", "retry-after", "content-type", "ratelimit-remaining"} <= set(
        http["headersToDownstreamOnDeny"]
    )
    assert {"authorization", "x-request-id", "traceparent"} <= set(http["includeRequestHeadersInCheck"])


def test_notes_name_the_context_headers_and_the_backend_jwt_as_configured(tmp_path):
    """HTTP mode forwards to the backend only what headersToUpstreamOnAllow names: the adapter's own defaults
    when unset, the configured prefix and header otherwise."""
    http = notes_providers(render_notes(CHART, tmp_path / "defaults"))["envoyExtAuthzHttp"]
    assert http["headersToUpstreamOnAllow"] == [Request().header_prefix + "*", BackendJwt().header.lower()]
    values = {"config": {"request": {"headerPrefix": "X-Gw-"}, "backendJwt": {"header": "X-Backend-Token"}}}
    http = notes_providers(render_notes(CHART, tmp_path / "custom", values=values))["envoyExtAuthzHttp"]
    assert http["headersToUpstreamOnAllow"] == ["x-gw-*", "x-backend-token"]


def test_notes_name_the_headers_apims_operation_policies_set_for_an_http_provider(tmp_path):
    """An Add Header policy's header reaches the backend (or the client) in HTTP mode only where the provider lists
    it: the chart's extraHeadersToUpstream / -Downstream are added to the defaults, the allow's own list unchanged."""
    values = {"istio": {"extensionProvider": {"extraHeadersToUpstream": ["x-env", "authorization"],
                                              "extraHeadersToDownstream": ["x-served-by"]}}}  # fmt: skip
    http = notes_providers(render_notes(CHART, tmp_path, values=values))["envoyExtAuthzHttp"]
    assert http["headersToUpstreamOnAllow"] == ["x-apim-*", "x-jwt-assertion", "x-env", "authorization"]
    assert http["headersToDownstreamOnAllow"] == [*HTTP_DOWNSTREAM_ON_ALLOW, "x-served-by"]
    assert "x-served-by" not in http["headersToDownstreamOnDeny"]  # APIM mediates only the calls that pass
    refused = template(CHART, values={"istio.extensionProvider.extraHeadersToUpstream": ["X Env"]}, check=False)
    assert refused.returncode != 0
    assert "extraHeadersToUpstream" in refused.stderr  # not a lower-case header name: the schema says which key


def test_notes_tell_backends_where_the_backend_jwts_keys_are(tmp_path):
    assert "jwksUri" not in render_notes(CHART, tmp_path / "off")
    values = {"config": {"backendJwt": {"enabled": True, "issuer": "https://gw.example.com"}},
              "backendJwtKey": {"existingSecret": "backend-jwt"}}  # fmt: skip
    notes = render_notes(CHART, tmp_path / "on", values=values)
    assert "issuer: https://gw.example.com" in notes
    assert "jwksUri: http://rel-apim-adapter.apim.svc.cluster.local:9090/jwks" in notes
    assert BackendJwt().issuer == "wso2.org/products/am"  # what the notes print when no issuer is set


def test_notes_print_the_access_log_provider_only_when_the_adapter_receives_it(tmp_path):
    assert "envoyHttpAls" not in notes_providers(render_notes(CHART, tmp_path / "off"))
    values = {**ACCESS_LOG_SERVICE, "clusterDomain": "corp.local", "service": {"ports": {"accessLog": 18500}}}
    notes = render_notes(CHART, tmp_path / "on", values=values)
    assert notes_providers(notes)["envoyHttpAls"] == {
        "name": "apim-adapter-als",
        "service": "rel-apim-adapter.apim.svc.corp.local",
        "port": 18500,
    }
    assert "enable istio.accessLogService.telemetry" in notes
    values["istio"] = {"accessLogService": {"telemetry": {"enabled": True}}}
    notes = render_notes(CHART, tmp_path / "telemetry", values=values)
    assert "Telemetry istio-system/rel-apim-adapter-access-log does, beside\n   envoy." in notes


def test_notes_warn_about_fail_open(tmp_path):
    notes = render_notes(CHART, tmp_path, values={"istio": {"extensionProvider": {"failOpen": True}}})
    assert notes.lstrip().startswith("WARNING: istio.extensionProvider.failOpen is true")
    assert notes_providers(notes)["envoyExtAuthzGrpc"]["failOpen"] is True


def test_mesh_sync_export_rbac_probes_and_config():
    """exportServices: a Role per watched namespace (or one ClusterRole) with only what the export uses; the
    mesh-sync container probed on its health port; the export keys in the config it mounts."""
    base = {
        "config.controlPlane": {"type": "wso2", "url": "https://apim:9443"},
        "controlPlaneCredentials": {"username": "admin", "password": "x"},
        "meshSync": {
            "enabled": True,
            "namespace": "routes",
            "exportServices": {"enabled": True, "namespaces": ["a", "b"]},
        },
    }
    objects = render(CHART, values=base, namespace="apim")
    export = [o for o in objects if o["metadata"]["name"].endswith("-mesh-sync-export")]
    assert sorted((o["kind"], o["metadata"]["namespace"]) for o in export) == [
        ("Role", "a"), ("Role", "b"), ("RoleBinding", "a"), ("RoleBinding", "b")]  # fmt: skip
    assert export[0]["rules"] == [
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ]
    binding = next(o for o in export if o["kind"] == "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rel-apim-adapter-mesh-sync",
                                    "namespace": "apim"}]  # fmt: skip
    mesh = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-mesh-sync"))
    [sync] = mesh["spec"]["template"]["spec"]["containers"]
    assert sync["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert sync["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert {"name": "health", "containerPort": 9092, "protocol": "TCP"} in sync["ports"]
    config = rendered_config(objects)["meshSync"]
    export_config = {"enabled": True, "namespaces": ["a", "b"], "onRemoval": "retire", "tiers": ["Unlimited"],
                     "visibility": "PUBLIC", "vhost": "localhost"}  # fmt: skip
    assert config["exportServices"] == export_config
    assert config["healthPort"] == 9092

    cluster_wide = {**base, "meshSync": {"enabled": True, "exportServices": {"enabled": True}}}
    export = [o for o in render(CHART, values=cluster_wide) if o["metadata"]["name"].endswith("-mesh-sync-export")]
    assert sorted(o["kind"] for o in export) == ["ClusterRole", "ClusterRoleBinding"]

    no_probes = {**base, "meshSync": {"enabled": True, "healthPort": 0}}
    mesh = [o for o in render(CHART, values=no_probes) if o["kind"] == "Deployment"][-1]
    assert "livenessProbe" not in mesh["spec"]["template"]["spec"]["containers"][0]


def granted(role: dict) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}  # fmt: skip


def test_the_charts_roles_grant_what_mesh_sync_does_and_its_probe_asks():
    """One list of what mesh-sync does with the API server (meshsync/kube.py): its Role and the export's grant
    exactly that, no more, and `apim-adapter probe --mesh-sync` asks the API server for each."""
    from apim_adapter.meshsync import kube

    values = {
        "config.controlPlane": {"type": "wso2", "url": "https://apim:9443"},
        "controlPlaneCredentials": {"username": "admin", "password": "x"},
        "meshSync": {"enabled": True, "exportServices": {"enabled": True, "namespaces": ["shop"]}},
    }
    objects = render(CHART, values=values, namespace="apim")
    expanded = {
        name: {(group, resource, verb) for group, resource, verbs in permissions for verb in verbs}
        for name, permissions in (("mesh-sync", kube.PERMISSIONS), ("mesh-sync-export", kube.EXPORT_PERMISSIONS))
    }
    for name, permissions in expanded.items():
        (role,) = [o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == f"rel-apim-adapter-{name}"]
        assert granted(role) == permissions, name


def test_mesh_sync_route_kind_reaches_its_config_and_its_role_grants_both_route_kinds():
    """routeKind: HTTPRoute is in the config mesh-sync reads; its Role lets it write HTTPRoutes and delete the
    VirtualServices it wrote before a switch (and the other way round)."""
    values = {
        "config.controlPlane": {"type": "wso2", "url": "https://apim:9443"},
        "controlPlaneCredentials": {"username": "admin", "password": "x"},
        "meshSync": {"enabled": True, "routeKind": "HTTPRoute", "gateways": ["istio-ingress/api-gateway"]},
    }
    objects = render(CHART, values=values, namespace="apim")
    assert rendered_config(objects)["meshSync"]["routeKind"] == "HTTPRoute"
    [role] = [o for o in objects if o["kind"] == "Role" and o["metadata"]["name"].endswith("-mesh-sync")]
    writes = ["get", "list", "watch", "create", "patch", "delete"]
    assert {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"], "verbs": writes} in role["rules"]
    assert {"apiGroups": ["networking.istio.io"], "resources": ["virtualservices", "destinationrules"],
            "verbs": writes} in role["rules"]  # fmt: skip
    default = render(CHART, values={**values, "meshSync": {"enabled": True}}, namespace="apim")
    assert rendered_config(default)["meshSync"]["routeKind"] == "VirtualService"
    result = template(CHART, values={**values, "meshSync": {"enabled": True, "routeKind": "Ingress"}}, check=False)
    assert result.returncode != 0
    assert "routeKind" in result.stderr


def test_notes_tell_where_mesh_sync_reports_and_what_gateway_api_needs(tmp_path):
    values = {
        "config.controlPlane": {"type": "wso2", "url": "https://apim:9443", "gatewayLabel": "Production"},
        "controlPlaneCredentials": {"username": "admin", "password": "x"},
        "meshSync": {"enabled": True, "namespace": "apim-routes", "routeKind": "HTTPRoute",
                     "gateways": ["istio-ingress/api-gateway"]},
    }  # fmt: skip
    notes = render_notes(CHART, tmp_path / "gateway-api", values=values)
    assert "as HTTPRoutes in namespace apim-routes,\n   attached to istio-ingress/api-gateway." in notes
    assert "deploys to the gateway environment Production" in notes
    assert "kubectl -n apim-routes get configmap apim-mesh-sync-status" in notes
    probe = re.search(r"exec deployment/(\S+) -- apim-adapter probe --mesh-sync --config (\S+)", notes)
    assert probe, notes
    objects = render(CHART, values=values)
    mesh_sync = find(objects, "Deployment", "-mesh-sync")
    assert probe.group(1) == mesh_sync["metadata"]["name"]
    [mount] = [
        m for m in mesh_sync["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "config"
    ]
    assert probe.group(2) == mount["mountPath"]
    assert "ReferenceGrant from HTTPRoutes in apim-routes" in notes
    istio = {**values, "meshSync": {**values["meshSync"], "routeKind": "VirtualService"}}
    notes = render_notes(CHART, tmp_path / "istio", values=istio)
    assert "as VirtualServices in namespace apim-routes" in notes
    assert "ReferenceGrant" not in notes
    assert "mesh-sync" not in render_notes(CHART, tmp_path / "off")


def test_export_without_mesh_sync_fails():
    values = {"meshSync": {"exportServices": {"enabled": True}}}
    result = template(CHART, values=values, check=False)
    assert result.returncode != 0
    assert "meshSync.exportServices.enabled needs meshSync.enabled" in result.stderr
