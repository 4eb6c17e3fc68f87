"""Two adapters against the trivial servers, in short runs taken in turn: for a box whose load changes by the second.

    .venv/bin/python -m bench.ab --before DIR [--rounds 10] [--backend-jwt]

DIR holds another copy of the adapter's package (DIR/apim_adapter, e.g. main's, copied before a change), and
may hold another build of the compiled module (DIR/apim_adapter_native), which that adapter then runs; the
other adapter is the one on PYTHONPATH or installed. Behind their own Envoy each: the trivial gRPC and HTTP-mode
servers on the transports the adapters run on (the compiled ones where adapter/native has them), and both adapters
in gRPC and HTTP mode (one process each serves both). Every round runs each target for 1 s of wrk after 1 s of
warm-up, so each scenario sees the same load as its reference within seconds, where `bench.extauthz` spends minutes
between them. Prints per target the median req/s, server CPU per request (and its kernel part), the TCP segments
the server sent Envoy per request, and per adapter the median of its per-round req/s ratio to the trivial server on
its transport. `--backend-jwt`: both adapters sign a backend JWT for each allowed request (an allow of over 1 KiB).
Pinning and CPU accounting as in `bench.extauthz`; results in .cache/bench/ab.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import requests

from harness.envoy import Authz
from harness.helpers import ROOT

from .extauthz import (
    ADAPTER_HTTP_TRANSPORT,
    ADAPTER_TRANSPORT,
    LOAD_CORES,
    OUT,
    PATH,
    SERVER_CORES,
    TRIVIAL,
    TRIVIAL_COMPILED,
    TRIVIAL_HTTP,
    TRIVIAL_HTTP_COMPILED,
    Fixture,
    Server,
    cpu_times,
    environment,
    pin,
    segments_sent,
    start_envoy,
    start_trivial,
    wrk,
)

# The trivial server on the transport each mode is served with here (`auto`: both adapters run on a build of
# adapter/native, the installed one or DIR's, compiled where it has the transport): its row and trivial_server.py's
# transport.
REFERENCE = {
    "grpc": (TRIVIAL_COMPILED, "compiled") if ADAPTER_TRANSPORT == "compiled" else (TRIVIAL, "threads"),
    "http": (TRIVIAL_HTTP_COMPILED, "compiled-http")
    if ADAPTER_HTTP_TRANSPORT == "compiled"
    else (TRIVIAL_HTTP, "http"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a directory holding another copy of apim_adapter")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--backend-jwt", action="store_true", help="the adapters sign a backend JWT per allow")
    args = parser.parse_args(argv)
    if not (Path(args.before) / "apim_adapter").is_dir():
        parser.error(f"no apim_adapter package in {args.before}")
    os.sched_setaffinity(0, LOAD_CORES)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        fixture = Fixture(workdir)
        stack.callback(fixture.close)
        targets: dict[str, tuple[int, int, int]] = {}  # name → (Envoy's port, the server's pid, the server's port)

        def behind_envoy(name: str, server: Server, mode: str) -> None:
            port = server.grpc_port if mode == "grpc" else server.http_port
            assert port is not None
            gateway, envoy = start_envoy(workdir, Authz([port], mode, path_prefix="/check" if mode == "http" else ""))
            stack.callback(envoy.stop)
            answer = requests.get(f"http://127.0.0.1:{gateway.port}{PATH}", headers=fixture.headers, timeout=5)
            if answer.status_code != 200:
                raise RuntimeError(f"{name}: {answer.status_code}")
            targets[name] = (gateway.port, server.proc.proc.pid, port)

        for mode, (name, transport) in REFERENCE.items():
            server = start_trivial(workdir, transport)
            stack.callback(server.stop)
            pin(server.proc.proc.pid, SERVER_CORES)
            behind_envoy(name, server, mode)
        given = os.environ.get("PYTHONPATH", "")
        for label, path in (("before", f"{args.before}{os.pathsep}{ROOT}"), ("after", given)):
            with environment(PYTHONPATH=path):
                server = fixture.start_adapter(f"adapter-{label}", fixture.adapter_config(backend_jwt=args.backend_jwt))
            stack.callback(server.stop)
            pin(server.proc.proc.pid, SERVER_CORES)
            for mode in ("grpc", "http"):
                behind_envoy(f"adapter {label}, {mode}", server, mode)

        kinds = ("rps", "cpu_us", "sys_us", "segments")
        results: dict[str, dict[str, list[float]]] = {name: {kind: [] for kind in kinds} for name in targets}
        for r in range(args.rounds):
            for name, (port, pid, server_port) in targets.items():
                wrk(port, fixture.headers, 1, 16)
                before, sent = cpu_times(pid), segments_sent(server_port)
                run = wrk(port, fixture.headers, 1, 16)
                after = cpu_times(pid)
                used = sum(u + s - sum(before.get(p, (0.0, 0.0))) for p, (u, s) in after.items())
                in_kernel = sum(s - before.get(p, (0.0, 0.0))[1] for p, (_, s) in after.items())
                results[name]["rps"].append(run["rps"])
                results[name]["cpu_us"].append(used / run["rps"] * 1e6)
                results[name]["sys_us"].append(in_kernel / run["rps"] * 1e6)
                now_sent = segments_sent(server_port)
                if sent is not None and now_sent is not None:
                    results[name]["segments"].append((now_sent - sent) / run["rps"])
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
    (OUT / "ab.json").write_text(json.dumps(results, indent=2))
    median = statistics.median
    for name, r in results.items():
        segments = f" {median(r['segments']):>5.2f} segs/req" if r["segments"] else ""
        cpu = f"{median(r['cpu_us']):>6,.1f} µs CPU/req ({median(r['sys_us']):.1f} in the kernel)"
        print(f"{name:<40} {median(r['rps']):>8,.0f} req/s {cpu}{segments}")
    for label in ("before", "after"):
        for mode, (reference, _) in REFERENCE.items():
            mine = results[f"adapter {label}, {mode}"]["rps"]
            ratios = [a / b for a, b in zip(mine, results[reference]["rps"], strict=True)]
            print(f"adapter {label}, {mode}: {median(ratios):.2f}x {reference} (median of the per-round ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
