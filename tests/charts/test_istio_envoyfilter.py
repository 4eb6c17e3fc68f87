"""The apim-adapter chart's EnvoyFilter on the gateway's ext_authz filter: it clears the route cache for tier
routing (istiod drops `clearRouteCache` from meshConfig.extensionProviders: istio/istio
pilot/pkg/security/authz/builder/extauthz.go never sets `clear_route_cache`) and gives a gRPC provider the
allowlist of the headers the adapter reads (istiod sets none there: Envoy sends every header)."""

import copy
import subprocess

import pytest
import yaml
from chart_helpers import find, render, render_notes, template
from crd_schemas import schema_errors

from apim_adapter.transport import REQUEST_HEADERS
from harness.envoy import (
    CLEAR_ROUTE_CACHE,
    EXT_AUTHZ,
    EXT_AUTHZ_TYPE,
    HTTP_DOWNSTREAM_ON_ALLOW,
    HTTP_DOWNSTREAM_ON_DENY,
    HTTP_UPSTREAM_ON_ALLOW,
    Authz,
    Gateway,
    envoy_bin,
    envoyfilter_patch,
    merge,
)

CHART = "apim-adapter"
ON = {"istio": {"extensionProvider": {"clearRouteCache": True}}}
ALLOWLIST = {"istio": {"extensionProvider": {"headerAllowlist": True}}}


def envoy_filter(values=None) -> dict:
    return find(render(CHART, values=values or ON), "EnvoyFilter")


def test_no_envoyfilter_unless_asked():
    assert not [o for o in render(CHART) if o["kind"] == "EnvoyFilter"]


def test_the_envoyfilter_merges_clear_route_cache_into_the_gateways_ext_authz_filter():
    rendered = envoy_filter()
    assert rendered["metadata"]["namespace"] == "istio-system"
    spec = rendered["spec"]
    assert spec["workloadSelector"] == {"labels": {"istio": "ingressgateway"}}
    [patch] = spec["configPatches"]
    assert patch["applyTo"] == "HTTP_FILTER"
    assert patch["match"] == {
        "context": "GATEWAY",
        "listener": {
            "filterChain": {
                "filter": {"name": "envoy.filters.network.http_connection_manager", "subFilter": {"name": EXT_AUTHZ}}
            }
        },
    }
    assert patch["patch"] == {
        "operation": "MERGE",
        "value": {"typed_config": {"@type": EXT_AUTHZ_TYPE, **CLEAR_ROUTE_CACHE}},
    }


def test_the_envoyfilter_follows_the_gateway_the_policy_selects():
    values = copy.deepcopy(ON)
    values["istio"]["authorizationPolicy"] = {"namespace": "istio-ingress", "selector": {"istio": "edge"}}
    rendered = envoy_filter(values)
    assert rendered["metadata"]["namespace"] == "istio-ingress"
    assert rendered["spec"]["workloadSelector"] == {"labels": {"istio": "edge"}}


def test_the_envoyfilter_is_valid_for_istios_crd_and_the_schema_would_catch_a_mistake():
    rendered = envoy_filter()
    assert schema_errors(rendered) == []
    for field, wrong in (("operation", "MERGED"), ("context", None)):
        broken = copy.deepcopy(rendered)
        if field == "operation":
            broken["spec"]["configPatches"][0]["patch"]["operation"] = wrong
        else:
            broken["spec"]["configPatches"][0]["match"]["context"] = "GATEWAYS"
        assert schema_errors(broken), field


def validate_with_envoy(
    tmp_path, patch: dict | None, mode: str, body: dict | None = None
) -> subprocess.CompletedProcess:
    """Envoy's own check of the gateway configured as istiod would after the EnvoyFilter is applied (`body`: the
    provider's includeRequestBodyInCheck)."""
    authz = Authz([8081], mode, path_prefix="/check" if mode == "http" else "", include_request_body=body)
    return envoy_validate(tmp_path / f"envoy-{mode}.yaml", Gateway(authz, 8080, ext_authz_patch=patch).yaml())


def envoy_validate(path, config: str) -> subprocess.CompletedProcess:
    path.write_text(config)
    return subprocess.run(
        [envoy_bin(), "--mode", "validate", "--base-id", "18497", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("mode", ["grpc", "http"])
def test_envoy_accepts_the_merged_filter_and_would_refuse_a_misspelt_field(tmp_path, mode):
    merged = envoy_filter()["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]
    patch = {k: v for k, v in merged.items() if k != "@type"}
    accepted = validate_with_envoy(tmp_path, patch, mode)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    refused = validate_with_envoy(tmp_path, {"clear_route_cach": True}, mode)
    assert refused.returncode != 0


def mesh_config_entries(notes: str) -> list[dict]:
    """The meshConfig.extensionProviders entries NOTES print (paragraphs starting at column 0)."""
    return [
        yaml.safe_load(p)["meshConfig"]["extensionProviders"][0]
        for p in notes.split("\n\n")
        if p.startswith("meshConfig:")
    ]


@pytest.mark.parametrize("values", [None, ON], ids=["off", "on"])
def test_notes_never_print_clear_route_cache_in_meshconfig(tmp_path, values):
    entries = mesh_config_entries(render_notes(CHART, tmp_path, values=values))
    assert len(entries) == 2
    assert not [e for e in entries for fields in e.values() if isinstance(fields, dict) and "clearRouteCache" in fields]


BODY = {"istio": {"extensionProvider": {"includeRequestBodyInCheck": {"maxRequestBytes": 65536,
                                                                      "allowPartialMessage": True}}}}  # fmt: skip


def test_notes_print_the_request_body_setting_on_both_providers_only_when_set(tmp_path):
    entries = mesh_config_entries(render_notes(CHART, tmp_path / "on", values=BODY))
    assert [
        fields["includeRequestBodyInCheck"] for e in entries for fields in e.values() if isinstance(fields, dict)
    ] == [{"maxRequestBytes": 65536, "allowPartialMessage": True}] * 2
    off = mesh_config_entries(render_notes(CHART, tmp_path / "off"))
    assert not [
        e for e in off for fields in e.values() if isinstance(fields, dict) and "includeRequestBodyInCheck" in fields
    ]


@pytest.mark.parametrize("mode", ["grpc", "http"])
def test_the_gateways_envoy_takes_the_request_body_setting_the_notes_print(tmp_path, mode):
    """What istiod makes of it (withBodyRequest: BufferSettings field by field) passes Envoy's own validation."""
    [fields] = [
        f for e in mesh_config_entries(render_notes(CHART, tmp_path, values=BODY)) for kind, f in e.items()
        if kind == {"grpc": "envoyExtAuthzGrpc", "http": "envoyExtAuthzHttp"}[mode]
    ]  # fmt: skip
    checked = validate_with_envoy(tmp_path, None, mode, body=fields["includeRequestBodyInCheck"])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_envoy_refuses_a_request_body_setting_without_a_buffer_size_which_the_schema_therefore_requires(tmp_path):
    """istiod passes maxRequestBytes on as it is, 0 when unset; Envoy refuses a BufferSettings of 0 bytes, so the
    gateway would reject its listener. The chart's schema refuses such a setting at install."""
    with pytest.raises(ValueError, match="maxRequestBytes"):
        validate_with_envoy(tmp_path, None, "grpc", body={"allowPartialMessage": True})
    config = Gateway(Authz([8081], include_request_body={"maxRequestBytes": 4242}), 8080).yaml()
    assert config.count("max_request_bytes: 4242") == 1
    refused = envoy_validate(tmp_path / "zero.yaml", config.replace("max_request_bytes: 4242", "max_request_bytes: 0"))
    assert refused.returncode != 0
    assert "MaxRequestBytes: value must be greater than 0" in refused.stdout + refused.stderr
    for body in ({"allowPartialMessage": True}, {"maxRequestBytes": 0}):
        result = template(CHART, values={"istio": {"extensionProvider": {"includeRequestBodyInCheck": body}}},
                          check=False)  # fmt: skip
        assert result.returncode != 0, body
        assert "values don't meet the specifications of the schema" in result.stderr


def test_notes_name_the_envoyfilter_when_it_is_rendered(tmp_path):
    assert "EnvoyFilter istio-system/rel-apim-adapter-ext-authz" in render_notes(CHART, tmp_path, values=ON)
    assert "EnvoyFilter" not in render_notes(CHART, tmp_path / "off")


def test_the_test_gateway_uses_the_http_provider_the_notes_print(tmp_path):
    """harness/envoy.py builds HTTP mode from these lists, as istiod would from the NOTES' envoyExtAuthzHttp."""
    [http] = [
        e["envoyExtAuthzHttp"] for e in mesh_config_entries(render_notes(CHART, tmp_path)) if "envoyExtAuthzHttp" in e
    ]
    assert tuple(http["includeRequestHeadersInCheck"]) == REQUEST_HEADERS
    assert tuple(http["headersToUpstreamOnAllow"]) == HTTP_UPSTREAM_ON_ALLOW
    assert tuple(http["headersToDownstreamOnAllow"]) == HTTP_DOWNSTREAM_ON_ALLOW
    assert tuple(http["headersToDownstreamOnDeny"]) == HTTP_DOWNSTREAM_ON_DENY


def merged_fields(values) -> dict:
    typed_config = envoy_filter(values)["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]
    return {k: v for k, v in typed_config.items() if k != "@type"}


@pytest.mark.parametrize("clear_route_cache", [False, True])
@pytest.mark.parametrize("header_allowlist", [False, True])
@pytest.mark.parametrize("extra", [(), ("x-plan", "x-region")])
def test_the_test_gateways_merge_is_the_charts(clear_route_cache, header_allowlist, extra):
    """harness/envoy.py merges what the chart renders, for each combination of its values."""
    provider = {"clearRouteCache": clear_route_cache, "headerAllowlist": header_allowlist, "extraCheckHeaders": extra}
    values = {"istio": {"extensionProvider": provider}}
    patch = envoyfilter_patch(clear_route_cache, header_allowlist, extra)
    if patch is None:
        assert not [o for o in render(CHART, values=values) if o["kind"] == "EnvoyFilter"]
    else:
        assert merged_fields(values) == patch


def test_the_allowlist_names_every_header_the_adapter_reads_and_nothing_else():
    patterns = merged_fields(ALLOWLIST)["allowed_headers"]["patterns"]
    assert [p["exact"] for p in patterns] == list(REQUEST_HEADERS)


def test_the_allowlists_add_the_headers_an_apim_advanced_policys_conditions_read(tmp_path):
    values = {"istio": {"extensionProvider": {"headerAllowlist": True, "extraCheckHeaders": ["x-plan"]}}}
    patterns = merged_fields(values)["allowed_headers"]["patterns"]
    assert [p["exact"] for p in patterns] == [*REQUEST_HEADERS, "x-plan"]
    notes = render_notes(CHART, tmp_path, values=values)
    http = next(line for line in notes.splitlines() if "includeRequestHeadersInCheck" in line)
    assert yaml.safe_load(http)["includeRequestHeadersInCheck"] == [*REQUEST_HEADERS, "x-plan"]


def test_envoy_takes_the_allowlist_on_a_grpc_provider_and_refuses_it_on_an_http_one(tmp_path):
    """Why headerAllowlist is for gRPC providers only: istiod's HTTP filter has its own allowlist
    (http_service.authorization_request.allowed_headers), and Envoy's ext_authz.cc refuses both."""
    grpc = validate_with_envoy(tmp_path, merged_fields(ALLOWLIST), "grpc")
    assert grpc.returncode == 0, grpc.stdout + grpc.stderr
    http = validate_with_envoy(tmp_path, merged_fields(ALLOWLIST), "http")
    assert http.returncode != 0
    assert "Invalid duplicate configuration for allowed_headers" in http.stdout + http.stderr


def test_notes_say_what_the_allowlist_is_for(tmp_path):
    on = render_notes(CHART, tmp_path / "on", values=ALLOWLIST)
    assert "EnvoyFilter istio-system/rel-apim-adapter-ext-authz makes the gateway send the adapter only" in on
    assert "headerAllowlist=false" in on
    off = render_notes(CHART, tmp_path / "off")
    assert "istio.extensionProvider.headerAllowlist=true" in off


def test_the_test_gateway_merges_as_istiod_merges_a_patch():
    """Messages merge, repeated fields append, scalars are replaced (istio pkg/proto/merge)."""
    istiod = {"allowed_headers": {"patterns": [{"exact": "a"}]}, "failure_mode_allow": False, "grpc_service": {}}
    patch = {"allowed_headers": {"patterns": [{"exact": "b"}]}, "failure_mode_allow": True}
    assert merge(istiod, patch) == {
        "allowed_headers": {"patterns": [{"exact": "a"}, {"exact": "b"}]},
        "failure_mode_allow": True,
        "grpc_service": {},
    }
