"""The local gateway is Envoy configured the way Istio configures an ingress gateway for a CUSTOM provider."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.envoy import envoy_bin


def _http_connection_manager(config: dict) -> dict:
    [listener] = config["static_resources"]["listeners"]
    [chain] = listener["filter_chains"]
    [hcm] = chain["filters"]
    return hcm["typed_config"]


def _routes(config: dict) -> list[dict]:
    [vhost] = _http_connection_manager(config)["route_config"]["virtual_hosts"]
    return vhost["routes"]


def test_real_envoy_accepts_the_rendered_configuration(rendered: Path) -> None:
    result = subprocess.run(
        [envoy_bin(), "--mode", "validate", "--base-id", "18499", "-c", rendered / "envoy.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ext_authz_is_grpc_v3_fail_closed_with_an_explicit_timeout(envoy_config: dict, adapter_config: dict) -> None:
    ext_authz, router = _http_connection_manager(envoy_config)["http_filters"]
    assert router["name"] == "envoy.filters.http.router"
    settings = ext_authz["typed_config"]
    assert settings["transport_api_version"] == "V3"
    assert settings["grpc_service"] == {"envoy_grpc": {"cluster_name": "ext_authz"}, "timeout": "0.5s"}
    assert settings["failure_mode_allow"] is False
    assert settings["status_on_error"] == {"code": "ServiceUnavailable"}
    cluster = next(c for c in envoy_config["static_resources"]["clusters"] if c["name"] == "ext_authz")
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"]["port_value"] == adapter_config["server"]["grpc"]["port"]
    [options] = cluster["typed_extension_protocol_options"].values()
    assert "http2_protocol_options" in options["explicit_http_config"]


def test_api_contexts_reach_httpbin_with_the_prefix_rewritten(envoy_config: dict) -> None:
    api_routes = {r["match"]["prefix"]: r["route"] for r in _routes(envoy_config) if "prefix" in r["match"]}
    assert list(api_routes) == ["/httpbin/1.0.0/", "/httpbin/"]  # the versioned context must win
    assert all(route == {"cluster": "backend", "prefix_rewrite": "/"} for route in api_routes.values())


def test_only_the_health_route_skips_the_adapter(envoy_config: dict) -> None:
    skipping = [r for r in _routes(envoy_config) if "typed_per_filter_config" in r]
    assert [r["match"] for r in skipping] == [{"path": "/healthz/ready"}]
    assert skipping[0]["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["disabled"] is True


def test_access_log_carries_the_adapter_metadata(envoy_config: dict) -> None:
    [log] = _http_connection_manager(envoy_config)["access_log"]
    assert (
        "%DYNAMIC_METADATA(envoy.filters.http.ext_authz)%"
        in log["typed_config"]["log_format"]["text_format_source"]["inline_string"]
    )
