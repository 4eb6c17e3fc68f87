"""What the adapter's allow costs Envoy, part by part.

    .venv/bin/python -m bench.answer_cost              # 6 interleaved rounds (~3 minutes)
    .venv/bin/python -m bench.answer_cost --rounds 10

The adapter's answer to the benchmark's check is recorded (as `make bench` records it), then trivial servers on
the compiled transport answer it with its parts added one by one: an empty OK, the upstream context headers, the
`Authorization` header removed, the `RateLimit-*` headers for the client, the dynamic metadata. Each behind its
own Envoy, pinned as `make bench` pins them; prints req/s and Envoy's CPU per request for each. The server's work
is the same for all (bytes out), so what moves is Envoy's: what the adapter is asked to tell it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from envoy.service.auth.v3 import external_auth_pb2 as pb

from . import extauthz as bench

# Each step keeps the parts before it: (name, the fields cleared from the adapter's answer).
STEPS: list[tuple[str, Callable[[pb.CheckResponse], None]]] = [
    ("empty OK", lambda r: (r.ClearField("ok_response"), r.ClearField("dynamic_metadata"))),
    ("upstream context headers", lambda r: (
        r.ok_response.ClearField("headers_to_remove"), r.ok_response.ClearField("response_headers_to_add"),
        r.ClearField("dynamic_metadata"))),
    ("+ Authorization removed", lambda r: (r.ok_response.ClearField("response_headers_to_add"),
                                           r.ClearField("dynamic_metadata"))),
    ("+ RateLimit-* for the client", lambda r: r.ClearField("dynamic_metadata")),
    ("+ dynamic metadata: the whole allow", lambda r: None),
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    unmet = "needs apim-adapter-native (make native): the trivial servers run on the compiled transport"
    with bench.study(argv, __doc__, "bench-answer-", unmet if bench.GrpcServer is None else None) as study:
        recorded, _ = bench.record_allows(study.adapter, study.fixture.headers, study.workdir)
        allow = pb.CheckResponse.FromString(recorded.read_bytes())
        targets = []
        for i, (name, clear) in enumerate(STEPS):
            answer = pb.CheckResponse()
            answer.CopyFrom(allow)
            clear(answer)
            path = study.workdir / f"answer-{i}.bin"
            path.write_bytes(answer.SerializeToString())
            server = bench.start_trivial(study.workdir, "compiled", path)
            study.stack.callback(server.stop)
            bench.pin(server.proc.proc.pid, bench.SERVER_CORES)
            targets.append(study.behind_envoy(name, server, bench.Authz([server.grpc_port], "grpc")))
        results = study.rounds(targets)
    empty = results[STEPS[0][0]]
    print(f"{'answer':<38} {'req/s':>8} {'÷ empty':>8} {'envoy µs/req':>13}   req/s by round")
    for name, r in results.items():
        t = r["throughput"]
        ratio = t["rps"] / empty["throughput"]["rps"]
        print(f"{name:<38} {t['rps']:>8,.0f} {ratio:>8.2f} {t['envoy_cpu_us_per_req']:>13.0f}   {r['rps_rounds']}")
    study.print_method(results, by_round=False)  # each row ends with its rounds
    return 0


if __name__ == "__main__":
    sys.exit(main())
