"""Micro-benchmark of the adapter's Python hot path, without grpc, Envoy or sockets.

    .venv/bin/python -m bench.hotpath

One warm, allowed check (valid cached JWT, subscription, scope, rate limit counted) taken apart: what each
step costs in µs per call, best of several repeats, and the CPU time of the whole check with its analytics
line (thread_time, median of the repeats). Unlike requests/s on a shared 2-core box, these figures move little
with other load, so they are the ones to compare before and after a change to the adapter (run it once with
the adapter as installed and once with PYTHONPATH pointing at a modified copy; an adapter without prepared
allows gets the rows it has).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

import yaml

from apim_adapter.tokens import fingerprint
from harness import oidc
from harness.sample_catalog import advanced_policy, condition_group, operation_policy

REPEATS, NUMBER = 7, 5000


def best_us(fn, between=lambda: None, repeats: int = REPEATS, number: int = NUMBER) -> float:
    """µs per call of `fn`: the best of `repeats` runs of `number` calls (`between` after each run)."""
    best = float("inf")
    for _ in range(repeats):
        best = min(best, timeit.timeit(fn, number=number) / number * 1e6)
        between()
    return best


def print_rows(rows: dict[str, float], width: int = 52) -> None:
    for name, us in rows.items():
        print(f"  {name:<{width}} {us:>7.1f}")


def cpu_us(fn, finish) -> float:
    """The median over the repeats of this thread's CPU time per call, `finish` (the analytics writer's work for
    those calls) included: unlike wall time, other processes on the box do not add to it (they still slow it
    through the caches they share)."""
    runs = []
    for _ in range(REPEATS):
        started = time.thread_time_ns()
        for _ in range(NUMBER):
            fn()
        finish()
        runs.append((time.thread_time_ns() - started) / NUMBER / 1e3)
    return statistics.median(runs)


def check_request(token: str):
    """A CheckRequest as Envoy sends it for `GET /httpbin/1.0.0/ip` through an ingress gateway."""
    from envoy.service.auth.v3 import external_auth_pb2 as pb

    request = pb.CheckRequest()
    request.attributes.source.address.socket_address.address = "127.0.0.1"
    http = request.attributes.request.http
    http.method, http.host, http.path = "GET", "127.0.0.1:8080", "/httpbin/1.0.0/ip"
    http.scheme, http.protocol = "http", "HTTP/1.1"
    http.headers.update(
        {
            ":authority": "127.0.0.1:8080",
            ":method": "GET",
            ":path": "/httpbin/1.0.0/ip",
            ":scheme": "http",
            "authorization": "Bearer " + token,
            "user-agent": "curl/8.5.0",
            "accept": "*/*",
            "x-forwarded-proto": "http",
            "x-request-id": "9f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
        }
    )
    return request


async def measure(workdir: Path, backend_jwt: bool) -> dict[str, float]:
    from apim_adapter.app import Adapter
    from apim_adapter.config import load
    from apim_adapter.decision import first_step
    from apim_adapter.transport.grpc import AuthorizationService, to_input

    from .extauthz import CLIENT_ID, HUGE, Fixture

    fixture = Fixture(workdir)
    try:
        config_path = workdir / "adapter.yaml"
        config_path.write_text(yaml.safe_dump(fixture.adapter_config(backend_jwt)))
        adapter = Adapter(load(str(config_path)))
        adapter.publish(fixture.catalog())
        adapter.analytics.start()
        flush = adapter.analytics.flush  # between repeats, so that no analytics line is dropped
        token = fixture.key.sign(oidc.claims(fixture.jwks.issuer, CLIENT_ID, "scope_ip", lifetime=3600))
        request = check_request(token)
        inp = to_input(request)
        decision = await adapter.check_on_loop(inp)  # fetches the JWKS and caches the token
        assert decision.allowed, decision.reason
        now = time.time()
        limits = [("bench", adapter.store.current.subscription_policies["Huge"].limit)]
        whole_check = AuthorizationService(adapter.check_on_thread, adapter.renderer)
        digest = fingerprint(token)
        from apim_adapter.analytics import line

        out = {
            "to_input (CheckRequest → CheckInput)": best_us(lambda: to_input(request)),
            "token lookup (cached)": best_us(lambda: adapter.authenticator.lookup(token, digest, now)),
            "rate limiter hit (1 counter)": best_us(lambda: adapter.limiter.hit_now(limits, now)),
            "pipeline from memory (whole decision)": best_us(
                lambda: first_step(adapter.pipeline.steps(inp, time.time()))
            ),
            "analytics line (line(), formatted off the check path)": best_us(lambda: line(inp, decision, 0.1)),
            "check on a thread (decision + metrics + analytics)": best_us(lambda: adapter.check_on_thread(inp), flush),
            "respond (Decision → CheckResponse)": best_us(lambda: whole_check.respond(decision)),
            "CheckResponse serialization": best_us(whole_check.respond(decision).SerializeToString),
        }
        payload = request.SerializeToString()
        out["CheckRequest parsing (grpc does it for any server)"] = best_us(lambda: type(request).FromString(payload))

        def without_prepared() -> bytes:
            return whole_check.respond(adapter.check_on_thread(to_input(request))).SerializeToString()

        serve = without_prepared
        if "check_prepared" in inspect.signature(AuthorizationService).parameters:  # an adapter before them has none
            from apim_adapter.analytics import Formatter

            service = AuthorizationService(
                adapter.check_on_thread, adapter.renderer, check_prepared=adapter.check_prepared
            )
            import apim_adapter.prepared as prepared
            import apim_adapter.transport.grpc as grpc_transport

            credential = "Bearer " + token  # an adapter before the compiled reader keyed the header itself
            if hasattr(prepared, "credential_of"):
                credential = prepared.credential_of(credential)
            warm = (credential, "GET", inp.path, inp.host, "curl/8.5.0", inp.request_id, inp.client_ip, "grpc")
            out["prepared allow (check_prepared: counted, metered, reported)"] = best_us(
                lambda: adapter.check_prepared(*warm), flush
            )
            pending = (decision, "GET", inp.host, "curl/8.5.0", inp.request_id, inp.client_ip, 0.1, now)
            formatter = Formatter()
            formatter(pending), formatter(pending)  # seen twice: from now on from its template
            out["analytics line from its template (writer thread)"] = best_us(lambda: formatter(pending))
            out["total without prepared allows: CheckRequest → bytes"] = best_us(without_prepared, flush)
            serve = functools.partial(service.Check, request, None)
            if hasattr(grpc_transport, "fields_of"):  # the handler reads the request's bytes itself
                serve = functools.partial(service.Check, payload, None)
                read = grpc_transport.read_native
                out["request read: protobuf runtime (parse + fields_of)"] = best_us(
                    lambda: grpc_transport.fields_of(type(request).FromString(payload))
                )
                if read is not None:
                    out["request read: compiled reader (apim_adapter_native)"] = best_us(lambda: read(payload))
                # includeRequestBodyInCheck (maxRequestBytes 8 KiB): the same check carrying the body Envoy
                # buffered, which the adapter reads only the length of (for bandwidth tiers).
                with_body = check_request(token)
                with_body.attributes.request.http.body = "x" * 8192
                with_body.attributes.request.http.size = 8192
                out["total with an 8 KiB body included in the check"] = best_us(
                    functools.partial(service.Check, with_body.SerializeToString(), None), flush
                )
        out["total: CheckRequest as the handler gets it → serialized CheckResponse"] = best_us(serve, flush)
        out["CPU µs per check with its analytics line (thread_time, median)"] = cpu_us(serve, flush)
        if hasattr(adapter.store.current.api_policies["Unlimited"], "groups"):  # condition groups enforced
            # The API on an advanced policy with a condition group: a warm check decides its counters itself, from
            # the client's address, or from a header, which its first read leaves out: the request is then parsed
            # on the protobuf runtime for its headers.
            header = {"conditionType": "Header", "name": "x-plan", "value": "^gold$"}
            for kind, condition in (
                ("an address group (counted per request)", {"conditionType": "IPSpecific", "value": "10.9.9.9"}),
                ("a header group (request parsed for its headers)", header),
            ):
                doc = fixture.catalog()
                doc["apiPolicies"] = [advanced_policy("Advanced", HUGE, condition_group(1, HUGE, condition))]
                doc["apis"][0]["policy"] = "Advanced"
                assert adapter.publish(doc)
                serve()  # admitted on the new catalog, and prepared where it can be
                out[f"total on an advanced policy with {kind}"] = best_us(serve, flush)
        if hasattr(next(iter(adapter.store.current.apis.values())), "cors"):  # CORS enforced
            # An API allowing some origins only: a warm check answers each caller's Origin, which its first read
            # leaves out: the request is then parsed on the protobuf runtime for its headers.
            doc = fixture.catalog()
            page = "https://app.example.com"
            own = {"corsConfigurationEnabled": True, "accessControlAllowOrigins": [page]}
            doc["apis"][0]["corsConfiguration"] = own
            assert adapter.publish(doc)
            browser = check_request(token)
            browser.attributes.request.http.headers["origin"] = page
            from_page = functools.partial(service.Check, browser.SerializeToString(), None)
            from_page()  # admitted on the new catalog, and prepared
            out["total on an API allowing some origins (request parsed for its Origin)"] = best_us(from_page, flush)
        if hasattr(next(iter(adapter.store.current.apis.values())).resources[0], "mediation"):  # policies applied
            # An API with APIM's Add Header and Remove Header operation policies: their changes are part of the
            # prepared allow's bytes, so its warm check should cost the default's.
            doc = fixture.catalog()
            doc["apis"][0]["operationPolicies"] = [
                operation_policy("request", "addHeader", "v2", headerName="X-Env", headerValue="mesh"),
                operation_policy("request", "removeHeader", "v1", headerName="X-Debug"),
            ]
            assert adapter.publish(doc)
            serve()  # admitted on the new catalog, and prepared
            out["total on an API with Add and Remove Header policies"] = best_us(serve, flush)
        await adapter.analytics.close()
        await adapter.authenticator.close()
        return out
    finally:
        fixture.close()


def main() -> int:
    import apim_adapter

    source = Path(apim_adapter.__file__).resolve().parent
    print(f"adapter from {os.path.relpath(source)}; µs per call, best of {REPEATS} x {NUMBER}")
    for backend_jwt in (False, True):
        with tempfile.TemporaryDirectory(prefix="bench-hotpath-") as tmp:
            results = asyncio.run(measure(Path(tmp), backend_jwt))
        print(f"\nbackend JWT {'on' if backend_jwt else 'off'}")
        print_rows(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
