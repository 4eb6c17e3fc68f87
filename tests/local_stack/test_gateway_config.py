"""The local gateway is the project's one definition of Envoy as istiod configures the ingress gateway
(harness/envoy.py), rendered by roles/local_gateway from inventories/local, with tier routing on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from render_stack import connection_manager, listener, render_local_stack, routes

from harness.envoy import CLEAR_ROUTE_CACHE, EXT_AUTHZ, envoy_bin, header_allowlist


def _endpoint_port(config: dict, cluster_name: str) -> int:
    cluster = next(c for c in config["static_resources"]["clusters"] if c["name"] == cluster_name)
    [endpoint] = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    return endpoint["endpoint"]["address"]["socket_address"]["port_value"]


def test_real_envoy_accepts_the_rendered_configuration(rendered: Path) -> None:
    result = subprocess.run(
        [envoy_bin(), "--mode", "validate", "--base-id", "18499", "-c", rendered / "envoy.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_connection_manager_is_istiods_gateway_one(envoy_config: dict) -> None:
    hcm = connection_manager(envoy_config)
    assert hcm["use_remote_address"] is True
    assert hcm["xff_num_trusted_hops"] == 0
    assert (hcm["normalize_path"], hcm["merge_slashes"], hcm["path_with_escaped_slashes_action"]) == (
        True,
        False,
        "KEEP_UNCHANGED",
    )
    assert hcm["forward_client_cert_details"] == "SANITIZE_SET"


def test_ext_authz_is_istiods_grpc_provider_plus_the_envoyfilter(envoy_config: dict, adapter_config: dict) -> None:
    ext_authz, router = connection_manager(envoy_config)["http_filters"]
    assert (ext_authz["name"], router["name"]) == (EXT_AUTHZ, "envoy.filters.http.router")
    settings = ext_authz["typed_config"]
    assert settings["transport_api_version"] == "V3"
    cluster = settings["grpc_service"]["envoy_grpc"]["cluster_name"]
    assert cluster.startswith("outbound|8081||")
    assert settings["grpc_service"]["timeout"] == "0.5s"
    assert settings["failure_mode_allow"] is False
    assert settings["status_on_error"] == {"code": 503}
    # The EnvoyFilter's merge: tier routing is on, and only the headers the adapter reads are sent, with the one the
    # OPA policy reads (the chart's extraCheckHeaders).
    assert CLEAR_ROUTE_CACHE.items() <= settings.items()
    assert settings["allowed_headers"] == header_allowlist(("x-department",))["allowed_headers"]
    assert _endpoint_port(envoy_config, cluster) == adapter_config["server"]["grpc"]["port"]


def test_gold_consumers_are_routed_to_httpbin_v2_and_the_rest_to_v1(envoy_config: dict) -> None:
    api_routes = [r for r in routes(envoy_config) if r["match"].get("prefix", "/") != "/"]
    assert [(r["match"]["prefix"], r["route"]["cluster"]) for r in api_routes] == [
        ("/httpbin/1.0.0/", "v2"),
        ("/bundle/1.0.0/", "v2"),  # the API Product of two of httpbin's resources (catalog.yml)
        ("/orders/1.0.0/", "v2"),  # httpbin again, whose backend takes a token of its own (catalog.yml)
        ("/httpbin/", "v2"),
        ("/bundle/", "v2"),
        ("/httpbin/1.0.0/", "v1"),  # the versioned context must win over the bare one
        ("/bundle/1.0.0/", "v1"),
        ("/orders/1.0.0/", "v1"),
        ("/httpbin/", "v1"),
        ("/bundle/", "v1"),
    ]
    for route in api_routes[:4]:
        assert route["match"]["headers"] == [{"name": "x-apim-tier", "string_match": {"exact": "Gold"}}]
    assert all(r["route"]["prefix_rewrite"] == "/" for r in api_routes)
    assert (_endpoint_port(envoy_config, "v1"), _endpoint_port(envoy_config, "v2")) == (18420, 18421)


def test_only_the_health_route_skips_the_adapter(envoy_config: dict) -> None:
    skipping = [r for r in routes(envoy_config) if "typed_per_filter_config" in r]
    assert [r["match"] for r in skipping] == [{"path": "/healthz/ready"}]
    assert skipping[0]["typed_per_filter_config"][EXT_AUTHZ]["disabled"] is True


def test_access_log_carries_the_adapter_metadata(envoy_config: dict, rendered: Path) -> None:
    log, _ = connection_manager(envoy_config)["access_log"]
    assert log["typed_config"]["path"] == str(rendered / "gateway-access.log")
    assert (
        "%DYNAMIC_METADATA(envoy.filters.http.ext_authz)%"
        in log["typed_config"]["log_format"]["text_format_source"]["inline_string"]
    )


def test_the_gateway_streams_its_access_log_to_the_adapters_access_log_service(
    envoy_config: dict, adapter_config: dict
) -> None:
    """As istiod configures a gateway whose Telemetry names an envoyHttpAls provider: Envoy's gRPC access logger,
    beside the file log, on an HTTP/2 cluster to the port where the adapter receives it."""
    _, als = connection_manager(envoy_config)["access_log"]
    assert als["name"] == "envoy.access_loggers.http_grpc"
    common = als["typed_config"]["common_config"]
    assert (common["log_name"], common["transport_api_version"]) == ("http_envoy_accesslog", "V3")
    cluster_name = common["grpc_service"]["envoy_grpc"]["cluster_name"]
    assert cluster_name.startswith("outbound|18090||")
    received = adapter_config["analytics"]["accessLogService"]
    assert received["enabled"] is True
    assert _endpoint_port(envoy_config, cluster_name) == received["port"] == 18413
    cluster = next(c for c in envoy_config["static_resources"]["clusters"] if c["name"] == cluster_name)
    assert "http2_protocol_options" in yaml.safe_dump(cluster)  # Envoy's gRPC client needs HTTP/2
    # The check's metadata, which names the API, is in each entry only when the adapter sends it.
    assert adapter_config.get("request", {}).get("dynamicMetadata", True) is True


def test_the_gateway_sends_the_body_with_the_check_as_istiod_would(envoy_config: dict, tmp_path: Path) -> None:
    """local_gateway_ext_authz_include_request_body is the provider's includeRequestBodyInCheck, which the local
    inventory sets for the Regex Policy's body check (test_local_regex_policy); without it the body stays out of the
    check. The role's render has Envoy validate the result."""
    ext_authz, _ = connection_manager(envoy_config)["http_filters"]
    assert ext_authz["typed_config"]["with_request_body"] == {
        "max_request_bytes": 65536,
        "allow_partial_message": True,
        "pack_as_bytes": False,
    }
    result = render_local_stack(tmp_path, local_gateway_ext_authz_include_request_body={})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    config = yaml.safe_load((tmp_path / "envoy.yaml").read_text())
    ext_authz, _ = connection_manager(config)["http_filters"]
    assert "with_request_body" not in ext_authz["typed_config"]


def test_https_beside_http_asks_callers_for_a_certificate_the_stacks_ca_signed(
    envoy_config: dict, rendered: Path
) -> None:
    """The httpbin Gateway's second server (gateway.tls OPTIONAL_MUTUAL): a listener of its own on the HTTPS port
    with the same connection manager, ext_authz and routes as the plain one, asking for a client certificate without
    requiring it, and verifying it with the credential's ca.crt — the pki role's CA, which signed the partner's."""
    plain, https = listener(envoy_config), listener(envoy_config, "gateway_https")
    assert "transport_socket" not in plain["filter_chains"][0]
    assert https["address"]["socket_address"]["port_value"] == 18402
    [chain] = https["filter_chains"]
    tls = chain["transport_socket"]["typed_config"]
    assert tls["require_client_certificate"] is False
    validation = tls["common_tls_context"]["combined_validation_context"]["validation_context_sds_secret_config"]
    secrets = {s["name"]: s for s in envoy_config["static_resources"]["secrets"]}
    ca = Path(secrets[validation["name"]]["validation_context"]["trusted_ca"]["filename"])
    assert ca == rendered / "pki/ca.crt"
    issued = subprocess.run(["openssl", "verify", "-CAfile", ca, rendered / "pki/partner.crt"],
                            capture_output=True, text=True)  # fmt: skip
    assert issued.returncode == 0, issued.stdout + issued.stderr
    plain_hcm, https_hcm = (connection_manager(envoy_config, name) for name in ("gateway", "gateway_https"))
    assert https_hcm["forward_client_cert_details"] == "SANITIZE_SET"  # the gateway, not the caller, names the cert
    assert https_hcm["http_filters"] == plain_hcm["http_filters"]
    assert https_hcm["route_config"]["virtual_hosts"] == plain_hcm["route_config"]["virtual_hosts"]
