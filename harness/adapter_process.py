"""The adapter as users run it: `apim-adapter serve --config FILE` in its own process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from .envoy import REQUEST_HEADERS, Authz, Gateway, header_allowlist
from .helpers import VENV_BIN
from .processes import Process, free_port


class AdapterProcess:
    def __init__(self, workdir: Path, config: dict[str, Any], name: str = "adapter"):
        self.grpc_port, self.http_port, self.admin_port = free_port(), free_port(), free_port()
        server = config.setdefault("server", {})
        server.setdefault("grpc", {"host": "127.0.0.1", "port": self.grpc_port})
        server.setdefault("http", {"host": "127.0.0.1", "port": self.http_port})
        server.setdefault("admin", {"host": "127.0.0.1", "port": self.admin_port})
        self.grpc_port = server["grpc"]["port"]
        self.http_port = server["http"]["port"]
        self.admin_port = server["admin"]["port"]
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.proc = Process(name, [str(VENV_BIN / "apim-adapter"), "serve", "--config", str(self.config_path)], workdir)

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def sample(self, series: str) -> float:
        """The value of one series of its `/metrics`, written as Prometheus's text format names it
        (`apim_adapter_policies_unapplied_total{api="HttpbinAPI"}`); 0 before its first count."""
        for line in requests.get(self.admin + "/metrics", timeout=5).text.splitlines():
            name, _, value = line.rpartition(" ")
            if name == series:
                return float(value)
        return 0.0

    def wait_ready(self, timeout: float = 20) -> None:
        self.proc.wait_http(self.admin + "/readyz", timeout)

    def stop(self) -> None:
        self.proc.stop()

    def gateways(
        self,
        upstream: int,
        extra_check_headers: tuple[str, ...] = (),
        include_request_body: dict[str, Any] | None = None,
        **http: Any,
    ) -> dict[str, Gateway]:
        """A gateway per ext_authz mode in front of `upstream`, checking with this adapter: gRPC as the chart
        recommends it (only the headers the adapter reads: its EnvoyFilter's allowlist), HTTP under /check (the
        adapter's `server.http.pathPrefix` in the e2e configs) with `http`'s more provider settings (Authz fields);
        both with the chart's `extraCheckHeaders` in their allowlists, and the provider's includeRequestBodyInCheck
        (`include_request_body`, meshConfig's words; None: bodies stay out of the check)."""
        if extra_check_headers:
            http["include_request_headers"] = (*REQUEST_HEADERS, *extra_check_headers)
        allowlist = header_allowlist(extra_check_headers)
        grpc = Authz([self.grpc_port], "grpc", include_request_body=include_request_body)
        return {
            "grpc": Gateway(grpc, upstream, ext_authz_patch=allowlist),
            "http": Gateway(
                Authz(
                    [self.http_port], "http", path_prefix="/check", include_request_body=include_request_body, **http
                ),
                upstream,
            ),
        }


@dataclass
class Served:
    """A test module's own adapter and its gateway per ext_authz mode (`AdapterProcess.gateways`)."""

    gateways: dict[str, Gateway]
    adapter: AdapterProcess
