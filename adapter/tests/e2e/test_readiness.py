"""Keys before traffic: /readyz waits for every key manager's JWKS, so the first check never fetches keys inside
Envoy's ext_authz timeout; a key manager that does not answer delays readiness only so long. gRPC health says the
same, and a Watch is told when it changes."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
import requests
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness import oidc
from harness.adapter_process import AdapterProcess
from harness.processes import free_port
from harness.sample_catalog import KM, catalog_document

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def start(workdir, key_managers, warm_up: int, **server) -> AdapterProcess:
    catalog = workdir / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(catalog_document()))
    config = {
        "keyManagers": key_managers,
        "controlPlane": {"type": "file", "path": str(catalog)},
        "analytics": {"enabled": False},
        "server": {"keysWarmUpSeconds": warm_up, **server},
    }
    return AdapterProcess(workdir, config)


def jwks_loaded(adapter: AdapterProcess, name: str) -> str:
    text = requests.get(adapter.admin + "/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith(f'apim_adapter_jwks_loaded{{key_manager="{name}"}}'))
    return line.rsplit(" ", 1)[1]


def test_ready_only_once_the_signing_keys_are_here(tmp_path):
    jwks = oidc.JwksServer([oidc.SigningKey("RS256")])
    adapter = start(tmp_path, [{"name": KM, "issuer": jwks.issuer, "jwksUri": jwks.url}], warm_up=10)
    try:
        adapter.wait_ready()
        assert jwks.fetches >= 1  # fetched before ready, not by the first check
        assert jwks_loaded(adapter, KM) == "1.0"
    finally:
        adapter.stop()
        jwks.close()


def test_a_key_manager_that_does_not_answer_delays_readiness_only_so_long(tmp_path):
    down = {
        "name": "DOWN",
        "issuer": "https://down.example/oauth2/token",
        "jwksUri": f"http://127.0.0.1:{free_port()}/j",
    }
    adapter = start(tmp_path, [down], warm_up=4)
    channel = grpc.insecure_channel(f"127.0.0.1:{adapter.grpc_port}")
    try:
        started, watch, answered = time.monotonic(), None, 0.0
        # From the start until half a second after the admin port first answers (however long the process takes to
        # come up on a loaded machine), well inside the warm-up: never ready yet.
        while watch is None or time.monotonic() - answered < 0.5:
            assert time.monotonic() - started < 20, "the adapter never served"
            try:
                status = requests.get(adapter.admin + "/readyz", timeout=5).status_code
            except requests.ConnectionError:
                status = None  # not listening yet
            assert status != 200, "ready before the key managers' keys were tried"
            if status is not None and watch is None:  # gRPC is served (before admin): watch the overall health
                watch, answered = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(),
                                                                            timeout=30), time.monotonic()  # fmt: skip
                assert next(watch).status == NOT_SERVING
            time.sleep(0.1)
        adapter.wait_ready(timeout=20)  # then ready anyway, with the gap visible
        assert jwks_loaded(adapter, "DOWN") == "0.0"
        assert "JWKS not loaded at start" in adapter.proc.log(20_000)
        assert watch is not None
        assert next(watch).status == SERVING  # told on the stream opened before
        stopping = time.monotonic()
        adapter.stop()
        assert time.monotonic() - stopping < 4  # the open stream did not hold the 5 s grace period (GRACE_SECONDS)
        assert next(watch).status == NOT_SERVING
        with pytest.raises(grpc.RpcError) as ended:
            next(watch)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        adapter.stop()
        channel.close()


def test_on_the_grpcio_transport_a_watch_is_told_not_serving_then_ended_when_the_adapter_stops(tmp_path):
    """The fallback transport (server.grpcTransport: grpcio) as the compiled one: a stopping adapter is not
    serving, and its Watch streams end at once instead of holding the stop for grpcio's grace period."""
    jwks = oidc.JwksServer([oidc.SigningKey("RS256")])
    key_manager = {"name": KM, "issuer": jwks.issuer, "jwksUri": jwks.url}
    adapter = start(tmp_path, [key_manager], warm_up=10, grpcTransport="grpcio")
    channel = None
    try:
        adapter.wait_ready()
        channel = grpc.insecure_channel(f"127.0.0.1:{adapter.grpc_port}")
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=30)
        assert next(watch).status == SERVING
        stopping, started = threading.Thread(target=adapter.stop), time.monotonic()
        stopping.start()
        assert next(watch).status == NOT_SERVING  # while the process stops, not after
        with pytest.raises(grpc.RpcError) as ended:
            next(watch)
        assert (ended.value.code(), ended.value.details()) == (grpc.StatusCode.UNAVAILABLE, "stopping")
        stopping.join(30)
        assert time.monotonic() - started < 4  # the open stream did not hold the 5 s grace period (GRACE_SECONDS)
        assert '"grpc_transport": "grpcio"' in adapter.proc.log(20_000)
    finally:
        adapter.stop()
        jwks.close()
        if channel is not None:
            channel.close()
