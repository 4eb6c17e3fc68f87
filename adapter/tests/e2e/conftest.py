"""The adapter behind a real Envoy in front of a real httpbin, with real keys served as JWKS over HTTP.

One adapter process serves two gateways: Envoy calling it over gRPC and Envoy calling it in HTTP mode,
both configured as istiod configures an ingress gateway for a CUSTOM provider (0.5 s timeout, fail closed,
503 on error).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import oidc
from harness.adapter_process import AdapterProcess
from harness.envoy import Gateway
from harness.processes import free_port, go_httpbin
from harness.sample_catalog import DOWN_KM, KM, OTHER_KM, TINY_LIMIT, catalog_document


@dataclass
class Stack:
    workdir: Path
    key: oidc.SigningKey
    jwks: oidc.JwksServer
    other_key: oidc.SigningKey
    other_jwks: oidc.JwksServer
    adapter: AdapterProcess
    gateways: dict[str, Gateway]
    catalog_path: Path
    backend_public_key: object
    tiny_limit: int = TINY_LIMIT

    def token(self, app: str = "subscribed", scope: str = "scope_ip scope_headers", **claims) -> str:
        return self.key.sign(oidc.claims(self.jwks.issuer, f"client-{app}", scope, **claims))

    def write_catalog(self, doc: dict) -> None:
        tmp = self.catalog_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(doc))
        tmp.replace(self.catalog_path)

    def metrics(self) -> str:
        return requests.get(self.adapter.admin + "/metrics", timeout=5).text

    def own_adapter_config(self, **more) -> dict:
        """The config of a module's own adapter: this stack's key manager, the catalog file `catalog.yaml` of its
        working directory, analytics off, HTTP mode under /check; `more` adds top-level sections."""
        return {
            "keyManagers": [{"name": KM, "issuer": self.jwks.issuer, "jwksUri": self.jwks.url}],
            "controlPlane": {"type": "file", "path": "catalog.yaml"},
            "analytics": {"enabled": False},
            "server": {"http": {"host": "127.0.0.1", "port": free_port(), "pathPrefix": "/check"}},
            **more,
        }

    @contextlib.contextmanager
    def own_adapter(
        self, workdir: Path, doc: dict, config: dict | None = None, **gateway_settings
    ) -> Iterator[tuple[AdapterProcess, dict[str, Gateway]]]:
        """A module's own adapter serving `doc` (`own_adapter_config`, or `config`), ready, and a gateway per mode in
        front of the session's httpbin (`AdapterProcess.gateways` with `gateway_settings`); all stopped after."""
        (workdir / "catalog.yaml").write_text(yaml.safe_dump(doc))
        processes = []
        try:
            adapter = AdapterProcess(workdir, config or self.own_adapter_config())
            processes.append(adapter.proc)
            adapter.wait_ready()
            gateways = adapter.gateways(self.gateways["grpc"].upstream_port, **gateway_settings)
            for gw in gateways.values():
                processes.append(gw.start(workdir))
            yield adapter, gateways
        finally:
            for proc in reversed(processes):
                proc.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    workdir = tmp_path_factory.mktemp("e2e")
    processes = []
    key = oidc.SigningKey("RS256")
    jwks = oidc.JwksServer([key])
    other_key = oidc.SigningKey("ES256")
    other_jwks = oidc.JwksServer([other_key])
    backend_key = ec.generate_private_key(ec.SECP256R1())
    (workdir / "backend.key").write_bytes(
        backend_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    catalog_path = workdir / "catalog.yaml"
    catalog_path.write_text(yaml.safe_dump(catalog_document()))
    config = {
        "keyManagers": [
            {"name": KM, "issuer": jwks.issuer, "jwksUri": jwks.url, "jwksMinRefetchSeconds": 1},
            {"name": OTHER_KM, "issuer": other_jwks.issuer, "jwksUri": other_jwks.url, "algorithms": ["ES256"],
             "audiences": ["https://api.example.com"], "scopesClaim": "scp"},
            {"name": DOWN_KM, "issuer": "https://down.example.com/oauth2/token",
             "jwksUri": f"http://127.0.0.1:{free_port()}/jwks"},
        ],
        "controlPlane": {"type": "file", "path": str(catalog_path), "pollSeconds": 0.2},
        "backendJwt": {"enabled": True, "keyFile": str(workdir / "backend.key"), "algorithm": "ES256"},
        "analytics": {"enabled": True, "output": str(workdir / "analytics.log")},
        # DOWN_KM never answers: readiness gives up on its keys after 2 s instead of the default 10.
        "server": {"http": {"host": "127.0.0.1", "port": free_port(), "pathPrefix": "/check"}, "keysWarmUpSeconds": 2},
    }  # fmt: skip
    try:
        bin_proc, bin_port = go_httpbin(workdir)
        processes.append(bin_proc)
        adapter = AdapterProcess(workdir, copy.deepcopy(config))
        processes.append(adapter.proc)
        adapter.wait_ready()
        gateways = adapter.gateways(bin_port)
        for gw in gateways.values():
            processes.append(gw.start(workdir))
        yield Stack(
            workdir, key, jwks, other_key, other_jwks, adapter, gateways, catalog_path, backend_key.public_key()
        )
    finally:
        for proc in reversed(processes):
            proc.stop()
        jwks.close()
        other_jwks.close()


@pytest.fixture(params=["grpc", "http"])
def gateway(request, stack: Stack) -> Gateway:
    return stack.gateways[request.param]


@pytest.fixture(params=["grpc", "http"])
def mode(request) -> str:
    """Each ext_authz mode, for a module's own gateways (`AdapterProcess.gateways`)."""
    return request.param
