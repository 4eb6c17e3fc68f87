"""What HTTP mode costs when istiod upgrades the provider's cluster to HTTP/2.

    .venv/bin/python -m bench.http2_upgrade              # 6 interleaved rounds (~1 minute)
    .venv/bin/python -m bench.http2_upgrade --rounds 10

The adapter (compiled HTTP-mode transport, backend JWT off) behind two Envoys configured as istiod configures a
gateway for an `envoyExtAuthzHttp` provider, pinned as `make bench` pins them: one whose cluster for the provider
speaks HTTP/1.1 (istiod's default, and what the chart's `istio.destinationRule` keeps), one whose cluster istiod
upgraded to HTTP/2 (meshConfig `h2UpgradePolicy: UPGRADE` without that rule; `harness.envoy.Authz.h2_upgrade`).
Prints req/s, Envoy's and the adapter's CPU per request, and the TCP segments the adapter sent per check.
"""

from __future__ import annotations

import sys

from . import extauthz as bench

HTTP1 = "HTTP/1.1 (the chart's DestinationRule)"
HTTP2 = "HTTP/2 (upgraded by istiod)"


def main(argv: list[str] | None = None) -> int:
    unmet = "needs apim-adapter-native (make native): only the compiled transport serves HTTP/2"
    with bench.study(argv, __doc__, "bench-h2-", unmet if bench.HttpServer is None else None) as study:
        adapter = study.adapter
        targets = [
            study.behind_envoy(
                name,
                adapter,
                bench.Authz([adapter.http_port], "http", path_prefix="/check", h2_upgrade=upgraded),
                server_port=adapter.http_port,
            )
            for name, upgraded in ((HTTP1, False), (HTTP2, True))
        ]
        results = study.rounds(targets)
    http1 = results[HTTP1]["throughput"]
    print(f"{'provider cluster':<40} {'req/s':>8} {'÷ HTTP/1.1':>11} {'envoy µs':>9} {'adapter µs':>11} {'segs':>6}")
    for name, r in results.items():
        t = r["throughput"]
        segments = t.get("server_segments_per_req", -1.0)
        print(
            f"{name:<40} {t['rps']:>8,.0f} {t['rps'] / http1['rps']:>11.2f} {t['envoy_cpu_us_per_req']:>9.0f}"
            f" {t['server_cpu_us_per_req']:>11.1f} {f'{segments:.2f}' if segments >= 0 else '-':>6}"
        )
    study.print_method(
        results,
        "µs: CPU time per request; segs: TCP segments the adapter sent per check (kernel counts, `ss`; '-' where a "
        "pooled HTTP/1.1 connection closed during the round and took its count with it).",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
