"""Several worker processes on the same ports: all serve, one /metrics reports them all, and a gateway whose
streams per connection are capped (the chart's istio.destinationRule) spreads its checks over them."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml

from apim_adapter import metrics
from harness.adapter_process import AdapterProcess
from harness.envoy import Authz, Gateway
from harness.processes import process_tree
from harness.sample_catalog import KM, catalog_document


@pytest.fixture
def two_workers(stack, tmp_path):
    """An adapter with two workers on the file catalog, both of which loaded it; stopped afterwards."""
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
    try:
        adapter.wait_ready()  # one worker answered /readyz: wait for the other's catalog too
        deadline = time.monotonic() + 20
        while len(catalog_pids(adapter)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield adapter
    finally:
        adapter.stop()


@pytest.mark.parametrize("mode", ["grpc", "http"])
def test_two_workers_share_the_ports_and_their_metrics(stack, tmp_path, two_workers, mode):
    adapter = two_workers
    authz = Authz([adapter.grpc_port]) if mode == "grpc" else Authz([adapter.http_port], "http")
    gateway = Gateway(authz, stack.gateways[mode].upstream_port, concurrency=2)
    envoy = gateway.start(tmp_path)
    try:
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
        envoy.stop()


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


def test_capped_streams_spread_the_gateways_checks_over_the_workers(stack, tmp_path, two_workers):
    """The kernel hands each connection to one worker (SO_REUSEPORT) and that worker serves every check on it.
    A gateway multiplexes its checks on one HTTP/2 connection per Envoy thread: one worker serves them all. With
    the stream cap the chart's DestinationRule gives istiod, Envoy opens a connection per check in flight, and
    both workers get some (all of 16 or more on one worker: 2 in 2^15)."""
    adapter = two_workers
    token = {"authorization": f"Bearer {stack.token()}"}
    upstream = stack.gateways["grpc"].upstream_port
    for streams, enough in ((None, 1), (1, 16)):
        gateway = Gateway(Authz([adapter.grpc_port], max_concurrent_streams=streams), upstream)
        envoy = gateway.start(tmp_path / f"streams-{streams}")
        try:
            by_worker = checks_in_bursts(gateway.url, token, adapter, enough)
        finally:
            envoy.stop()
        if streams is None:
            assert sorted(by_worker.values()) == [0, 1], by_worker  # one connection, one worker
        else:
            assert sum(by_worker.values()) >= 16, by_worker
            assert all(by_worker.values()), f"every connection went to one worker: {by_worker}"


def checks_in_bursts(url: str, token: dict[str, str], adapter: AdapterProcess, enough: int) -> dict[int, int]:
    """Bursts of 32 requests at once, until the workers hold `enough` connections from the gateway or 30 s went;
    then the connections each worker holds. Envoy opens a connection only when a check finds every pooled one at
    its cap, so the pool grows with the most checks ever in flight at once: a burst reaches that peak by chance
    (a fast adapter answers some before others arrive), and one burst after another raises it."""
    burst = 32
    at_once = threading.Barrier(burst)

    def call(_: int) -> int:
        at_once.wait()
        return requests.get(url + "/httpbin/1.0.0/ip", headers=token, timeout=10).status_code

    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(burst) as pool:
        while True:
            assert set(pool.map(call, range(burst))) == {200}
            by_worker = connections_by_worker(adapter)
            if sum(by_worker.values()) >= enough or time.monotonic() > deadline:
                return by_worker


def connections_by_worker(adapter: AdapterProcess) -> dict[int, int]:
    """Established connections on the gRPC port held by each worker: the processes holding its listening socket
    (the supervisor does not; multiprocessing's resource tracker holds neither), matched through /proc/net."""
    sockets: dict[str, set[str]] = {"0A": set(), "01": set()}  # TCP_LISTEN, TCP_ESTABLISHED
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == adapter.grpc_port and state in sockets:
                sockets[state].add(f"socket:[{inode}]")
    counts = {}
    for pid in process_tree(adapter.proc.proc.pid):
        links = {_link(fd) for fd in _fds(pid)}
        if links & sockets["0A"]:
            counts[pid] = len(links & sockets["01"])
    assert len(counts) == 2, f"expected the two workers listening on the gRPC port: {counts}"
    return counts


def _fds(pid: int) -> list[Path]:
    try:
        return list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # exited meanwhile
        return []


def _link(path: Path) -> str:
    try:
        return str(path.readlink())
    except OSError:  # closed meanwhile
        return ""
