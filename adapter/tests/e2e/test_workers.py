"""Several worker processes on the same ports: all serve, one /metrics reports them all."""

from __future__ import annotations

import re
import time

import requests
import yaml

from apim_adapter import metrics
from harness.adapter_process import AdapterProcess
from harness.envoy import Authz, Gateway
from harness.sample_catalog import KM, catalog_document


def test_two_workers_share_the_ports_and_their_metrics(stack, tmp_path):
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalog_document()))
    adapter = AdapterProcess(
        tmp_path,
        {
            "server": {"workers": 2},
            "keyManagers": [{"name": KM, "issuer": stack.jwks.issuer, "jwksUri": stack.jwks.url}],
            "controlPlane": {"type": "file", "path": "catalog.yaml"},
            "analytics": {"enabled": False},
        },
    )
    gateway = Gateway(Authz([adapter.grpc_port]), stack.gateways["grpc"].upstream_port, concurrency=2)
    envoy = None
    try:
        adapter.wait_ready()  # one worker answered /readyz: wait for the other's catalog too
        deadline = time.monotonic() + 20
        while len(catalog_pids(adapter)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        envoy = gateway.start(tmp_path)
        token = {"authorization": f"Bearer {stack.token()}"}
        statuses = [
            requests.get(gateway.url + "/httpbin/1.0.0/ip", headers=token, timeout=10).status_code for _ in range(40)
        ]
        assert statuses == [200] * 40
        # Summed over the workers; each worker folds its counts into the shared files every FOLD_SECONDS.
        deadline = time.monotonic() + metrics.FOLD_SECONDS + 5
        while (allowed := allowed_count(adapter)) != 40.0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert allowed == 40.0
        assert len(catalog_pids(adapter)) == 2  # both workers loaded the catalog and report through one endpoint
    finally:
        if envoy is not None:
            envoy.stop()
        adapter.stop()


def allowed_count(adapter: AdapterProcess) -> float | None:
    text = requests.get(adapter.admin + "/metrics", timeout=5).text
    allowed = re.search(
        r'apim_adapter_decisions_total\{api="HttpbinAPI",application="subscribed".*outcome="allow".*\} (\S+)', text
    )
    return float(allowed.group(1)) if allowed else None


def catalog_pids(adapter: AdapterProcess) -> set[str]:
    """The workers that loaded the catalog, as any worker's /metrics reports them."""
    text = requests.get(adapter.admin + "/metrics", timeout=5).text
    return set(re.findall(r'apim_adapter_catalog_objects\{kind="apis",pid="(\d+)"\} 1.0', text))
