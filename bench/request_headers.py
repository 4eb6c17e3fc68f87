"""What the headers a browser sends cost a gRPC check, with and without the chart's header allowlist.

    .venv/bin/python -m bench.request_headers              # 6 interleaved rounds (~1.5 minutes)
    .venv/bin/python -m bench.request_headers --rounds 10

The adapter (compiled transport, backend JWT off) behind two Envoys configured as istiod configures a gateway
for an `envoyExtAuthzGrpc` provider, pinned as `make bench` pins them: one as istiod leaves it (Envoy sends the
adapter every request header), one with the apim-adapter chart's EnvoyFilter merged in
(`istio.extensionProvider.headerAllowlist`: only the headers the adapter reads). Both are loaded with the
benchmark's token and what a browser sends beside it (`harness.envoy.BROWSER_HEADERS`, ~1.2 KB with a session
cookie); a third row, the benchmark's own request (its token alone) behind istiod's filter, is the reference.
Prints req/s, Envoy's and the adapter's CPU per request, and the bytes of each check as the adapter received them.
"""

from __future__ import annotations

import sys

from harness.envoy import BROWSER_HEADERS, HEADER_ALLOWLIST

from . import extauthz as bench

ISTIOD = "browser headers, istiod's filter"
ALLOWLIST = "browser headers, + the chart's allowlist"
REFERENCE = "token only, istiod's filter"


def main(argv: list[str] | None = None) -> int:
    with bench.study(argv, __doc__, "bench-headers-") as study:
        adapter = study.adapter
        browser = {**study.fixture.headers, **BROWSER_HEADERS}
        gateways = ((ISTIOD, None, browser), (ALLOWLIST, HEADER_ALLOWLIST, browser), (REFERENCE, None, None))
        authz = bench.Authz([adapter.grpc_port], "grpc")
        targets = [
            study.behind_envoy(name, adapter, authz, patch, headers, server_port=adapter.grpc_port)
            for name, patch, headers in gateways
        ]
        results = study.rounds(targets)
    istiod = results[ISTIOD]["throughput"]
    print(f"{'gateway':<42} {'req/s':>8} {'÷ istiod':>9} {'envoy µs':>9} {'adapter µs':>11} {'check B':>8}")
    for name, r in results.items():
        t = r["throughput"]
        print(
            f"{name:<42} {t['rps']:>8,.0f} {t['rps'] / istiod['rps']:>9.2f} {t['envoy_cpu_us_per_req']:>9.0f}"
            f" {t['server_cpu_us_per_req']:>11.1f} {t.get('server_bytes_in_per_req', float('nan')):>8.0f}"
        )
    study.print_method(
        results, "µs: CPU time per request; check B: bytes the adapter received per check (kernel counts, `ss`)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
