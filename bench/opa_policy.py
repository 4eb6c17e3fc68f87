"""What an APIM "Validate Request with OPA" operation policy costs a call, in process, against a real OPA on loopback.

    .venv/bin/python -m bench.opa_policy

µs per call, best of several repeats: the whole decision from memory of a cached JWT on a resource without the
policy (the pipeline's `first_step`; such an allow is then prepared, and a warm check costs less still:
`bench.hotpath`); the same on a resource with it, as far as the question to OPA (APIM's input, built per call); the
adapter asking OPA that question (`OpaClient.ask`: JSON, one HTTP/1.1 POST on a kept-alive connection, the answer
read) with a Rego policy reading the caller's application, the method and a header; and the whole guarded decision
(`Pipeline.decide`). A guarded call is never a prepared allow: every one pays the last row. The OPA is the pinned
build (`make setup`, harness/opa.py), one process on the same two cores.
"""

from __future__ import annotations

import asyncio
import copy
import sys
import tempfile
import time
from pathlib import Path

from apim_adapter.decision import AskOpa, CheckInput, first_step
from harness.opa import OpaServer
from harness.pipeline import PATH, InProcess, token
from harness.sample_catalog import catalog_document
from harness.sample_catalog import operation_policy as policy

from .hotpath import best_us, print_rows

REPEATS, NUMBER, ASKS = 5, 2000, 300
GUARDED = "/httpbin/1.0.0/headers"
REGO = """package httpbin

default allow := false

allow if {
    input.apiContext.applicationName == "subscribed"
    input.method == "GET"
    input.transportHeaders["x-department"] == "payments"
}
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        opa = OpaServer().start(Path(workdir), {"httpbin.rego": REGO})
        try:
            return measure(opa)
        finally:
            opa.stop()


def measure(opa: OpaServer) -> int:
    doc = copy.deepcopy(catalog_document())
    doc["apis"][0]["operationPolicies"] = [
        policy("request", "opaPolicy", "v1", "GET /headers", serverUrl=opa.url, policy="httpbin")
    ]
    for sub in doc["subscriptions"]:
        sub["policyId"] = "Unlimited"  # counted on every call, never reached
    p = InProcess(doc)
    headers = {"authorization": f"Bearer {token()}", "x-department": "payments", "user-agent": "bench"}
    plain, guarded = CheckInput("GET", "gw", PATH, headers), CheckInput("GET", "gw", GUARDED, headers)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(p.pipeline.decide(guarded, time.time())).allowed  # OPA said yes: all warm
        ask = first_step(p.pipeline.steps(guarded, time.time()))
        assert isinstance(ask, AskOpa)

        def asked() -> None:
            assert loop.run_until_complete(p.pipeline.opa.ask(ask.check, ask.question)) is None

        def decided() -> None:
            assert loop.run_until_complete(p.pipeline.decide(guarded, time.time())).allowed

        rows = {
            "decision from memory, resource without the policy": best_us(
                lambda: first_step(p.pipeline.steps(plain, time.time())), repeats=REPEATS, number=NUMBER),
            "decision up to OPA's question, guarded resource": best_us(
                lambda: first_step(p.pipeline.steps(guarded, time.time())), repeats=REPEATS, number=NUMBER),
            "OPA asked (loopback, kept-alive connection)": best_us(asked, repeats=REPEATS, number=ASKS),
            "whole decision, guarded resource": best_us(decided, repeats=REPEATS, number=ASKS),
        }  # fmt: skip
        loop.run_until_complete(p.pipeline.opa.close())
    finally:
        loop.close()
    print(f"µs per call, best of {REPEATS} x {NUMBER} in memory, {REPEATS} x {ASKS} with OPA")
    print_rows(rows, 52)
    return 0


if __name__ == "__main__":
    sys.exit(main())
