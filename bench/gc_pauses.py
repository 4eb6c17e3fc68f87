"""A full garbage collection of the adapter with its caches holding N tokens: how long every check would wait.

    .venv/bin/python -m bench.gc_pauses                  # 2,000 and 10,000 tokens (~20 s)
    .venv/bin/python -m bench.gc_pauses --tokens 50000   # the token caches' bound (~1 minute)
    .venv/bin/python -m bench.gc_pauses --no-freeze      # startup's objects left to the collector

In process, no server: the adapter as `serve` builds it (file control plane, the benchmark's catalog), startup's
objects frozen as `serve` freezes them (`app.settle_heap`; an adapter before it: `gc.freeze()`), then N distinct
valid JWTs checked once each and once more from their prepared allow, so that every cache a passing token fills
holds them. Prints the objects the collector tracks per token and the wall and CPU time of three full
collections. Another copy of the adapter: PYTHONPATH=DIR. Figures: bench/README.md ("Garbage collection pauses").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

import yaml

from harness import oidc

from .extauthz import CLIENT_ID, Fixture
from .hotpath import check_request


async def measure(workdir: Path, tokens: int, freeze: bool) -> dict[str, float]:
    from apim_adapter import app
    from apim_adapter.config import load
    from apim_adapter.prepared import credential_of
    from apim_adapter.transport.grpc import to_input

    fixture = Fixture(workdir)
    try:
        config_path = workdir / "adapter.yaml"
        config_path.write_text(yaml.safe_dump(fixture.adapter_config(backend_jwt=False)))
        adapter = app.Adapter(load(str(config_path)))
        adapter.publish(fixture.catalog())
        if freeze:
            getattr(app, "settle_heap", gc.freeze)()
        gc.collect()
        before = len(gc.get_objects())
        for i in range(tokens):
            claims = oidc.claims(fixture.jwks.issuer, CLIENT_ID, "scope_ip", lifetime=3600) | {"jti": f"gc-{i}"}
            token = fixture.key.sign(claims)
            req = to_input(check_request(token))
            assert (await adapter.check_on_loop(req)).allowed
            warm = (credential_of("Bearer " + token), "GET", req.path, req.host, "", "", "", "grpc")
            assert adapter.check_prepared(*warm) is not None  # its prepared allow is kept too
        if adapter.analytics is not None:
            adapter.analytics._pending.clear()  # the writer thread's work: not a cache
        gc.collect()
        out = {"tracked per token": (len(gc.get_objects()) - before) / tokens}
        walls, cpus = [], []
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.thread_time()
            gc.collect()
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.thread_time() - cpu) * 1000)
        out["full collection, ms wall (best of 3)"] = min(walls)
        out["full collection, ms CPU (best of 3)"] = min(cpus)
        await adapter.authenticator.close()
        return out
    finally:
        fixture.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, action="append", help="tokens cached (repeatable; default 2000, 10000)")
    parser.add_argument("--no-freeze", action="store_true", help="leave startup's objects to the collector")
    args = parser.parse_args(argv)
    for tokens in args.tokens or [2000, 10000]:
        with tempfile.TemporaryDirectory(prefix="bench-gc-") as tmp:
            # Each figure with an adapter of its own; what an earlier one froze is no longer walked.
            result = asyncio.run(measure(Path(tmp), tokens, not args.no_freeze))
        print(f"{tokens:>7,} tokens cached: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()))
        gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
