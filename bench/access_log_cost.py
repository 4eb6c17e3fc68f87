"""What events completed by the gateway's access log cost, against events written by the check.

    .venv/bin/python -m bench.access_log_cost              # 6 interleaved rounds (~2 minutes)
    .venv/bin/python -m bench.access_log_cost --rounds 10

Two adapters on the same fixture, each behind its own Envoy with a backend (another Envoy answering 200, so that
an entry is `via_upstream` as a real backend's is): one writes every event at the check
(`analytics.accessLogService` off), the other hands Envoy the event's fields as metadata and writes the event
from the gateway's gRPC access log (on; the Envoy configured as istiod configures an `envoyHttpAls` provider).
Prints req/s, Envoy's and the adapter's CPU per request, and the events written per request (1.00 when every
request got its event).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

from harness.envoy import AccessLogService
from harness.processes import free_port

from . import extauthz as bench

OFF, ON = "events written at the check", "events from the gateway's access log"


def main(argv: list[str] | None = None) -> int:
    with bench.study(argv, __doc__, "bench-als-") as study:
        als_port = free_port()
        config = study.fixture.adapter_config(backend_jwt=False)
        config["analytics"] = {
            "output": str(study.workdir / "als-analytics.log"),
            "accessLogService": {"enabled": True, "host": "127.0.0.1", "port": als_port},
        }
        logged = study.fixture.start_adapter("adapter-als", config)
        study.stack.callback(logged.stop)
        bench.pin(logged.proc.proc.pid, bench.SERVER_CORES)
        logs = {OFF: study.workdir / "analytics.log", ON: study.workdir / "als-analytics.log"}
        targets = []
        for name, server, service in ((OFF, study.adapter, None), (ON, logged, AccessLogService(als_port))):
            backend = bench.BenchGateway(None, None)  # an Envoy answering 200 itself: the backend
            study.stack.callback(backend.start(study.workdir).stop)
            gateway = bench.BenchGateway(
                bench.Authz([server.grpc_port]), backend.port,
                concurrency=len(bench.LOAD_CORES), access_log_service=service,
            )  # fmt: skip
            envoy = gateway.start(study.workdir)
            study.stack.callback(envoy.stop)
            bench.pin(envoy.proc.pid, bench.LOAD_CORES)
            resp = requests.get(
                f"http://127.0.0.1:{gateway.port}{bench.PATH}", headers=study.fixture.headers, timeout=5
            )
            if resp.status_code != 200:
                raise RuntimeError(f"{name}: {resp.status_code} {resp.text[:200]}")
            metered = {"envoy": envoy.proc.pid, "server": server.proc.proc.pid}
            targets.append(bench.Target(name, gateway.port, metered, latency=False, admin_port=gateway.admin_port))
        before = {t.name: (_lines(logs[t.name]), _requests(t)) for t in targets}
        results = study.rounds(targets)
        per_request = {t.name: _events_per_request(logs[t.name], t, *before[t.name]) for t in targets}
    print(f"{'analytics':<38} {'req/s':>8} {'envoy µs/req':>13} {'adapter µs/req':>15} {'events/req':>11}")
    for name, r in results.items():
        t = r["throughput"]
        events = per_request[name]
        print(
            f"{name:<38} {t['rps']:>8,.0f} {t['envoy_cpu_us_per_req']:>13.0f} {t['server_cpu_us_per_req']:>15.0f}"
            f" {events:>11.2f}"
        )
    study.print_method(results)
    return 0


def _lines(path: Path) -> int:
    return sum(1 for _ in path.open()) if path.exists() else 0


def _requests(t: bench.Target) -> int:
    """Requests the gateway has answered (Envoy's own count)."""
    stats = requests.get(f"http://127.0.0.1:{t.admin_port}/stats?format=json", timeout=5).json()["stats"]
    return next(s["value"] for s in stats if s.get("name") == "http.gateway.downstream_rq_completed")


def _events_per_request(log: Path, t: bench.Target, lines: int, answered: int) -> float:
    """Events written per request answered since the rounds began, once the last access log entries (Envoy sends
    them every second) have been written."""
    answered = _requests(t) - answered
    deadline = time.monotonic() + 5
    while _lines(log) - lines < answered and time.monotonic() < deadline:
        time.sleep(0.2)
    return (_lines(log) - lines) / answered


if __name__ == "__main__":
    sys.exit(main())
