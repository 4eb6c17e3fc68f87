"""Soak: minutes of mixed traffic behind a real Envoy, the adapter's memory sampled all along.

    .venv/bin/python -m bench.soak                # 3 minutes
    .venv/bin/python -m bench.soak --minutes 10
    .venv/bin/python -m bench.soak --quick        # 30 s smoke run
    .venv/bin/python -m bench.soak --mode http    # Envoy's ext_authz HTTP mode (default: gRPC)
    .venv/bin/python -m bench.soak --graphql      # a GraphQL API's calls, bodies included in the check

Traffic (wrk, one Lua script): 70% a valid token, 10% an expired one, 20% a unique made-up token on every request
(half JWTs of our issuer with a forged signature, so that each one is verified and remembered as rejected; half
plain garbage). Anyone can send the last kind, so memory must level off while they keep coming. Every
`--every` seconds: requests/s, answers by status, errors (5xx and socket errors), and the adapter's RSS. With
`--graphql` the calls are a GraphQL API's (GRAPHQL_SCRIPT: half a repeated document, the rest unique documents,
valid and invalid, with and without a token), each unique body read once and its answer kept within the API's
bounds. Prints a
table, says whether RSS levelled off, how long the adapter's garbage collections paused it (its own
`apim_adapter_gc_pause_seconds`), and writes .cache/bench/soak.json. Recorded figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from harness import oidc
from harness.envoy import Authz
from harness.helpers import ROOT
from harness.processes import rss_mib
from harness.sample_catalog import starwars_api

from .extauthz import CLIENT_ID, LOAD_CORES, OUT, PATH, SERVER_CORES, Fixture, gc_pauses, gc_row, pin, start_envoy

GRAPHQL_BODY = {"maxRequestBytes": 8192, "allowPartialMessage": True}  # includeRequestBodyInCheck, as the chart sets it

# What both scripts share: made-up text, a seed per thread, answers counted by status in each thread and summed.
COMMON = r"""
local n = 0
ok, unauthorized, other, failed = 0, 0, 0, 0

local function noise(len, alphabet)
  local out = {}
  for i = 1, len do
    local k = math.random(1, #alphabet)
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

response = function(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 401 then unauthorized = unauthorized + 1
  elseif status >= 500 then failed = failed + 1
  else other = other + 1 end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

done = function(summary, latency, requests)
  local t = {ok = 0, unauthorized = 0, other = 0, failed = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  io.write(string.format("SOAK ok=%d unauthorized=%d other=%d failed=%d\n", t.ok, t.unauthorized, t.other, t.failed))
end
"""

SCRIPT = (
    COMMON
    + r"""
-- 70% valid, 10% expired, 20% unique made-up tokens.
local valid, expired, forged = os.getenv("SOAK_VALID"), os.getenv("SOAK_EXPIRED"), os.getenv("SOAK_FORGED")
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

request = function()
  n = n + 1
  local slot, token = n % 10, valid
  if slot == 0 then token = expired
  elseif slot == 1 then token = forged .. noise(342, alphabet)  -- a JWT of our issuer, its signature made up
  elseif slot == 2 then token = noise(180, alphabet) end        -- plain garbage
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. token})
end
"""
)

GRAPHQL_SCRIPT = (
    COMMON
    + r"""
-- A GraphQL API's calls (POST, the document in a JSON body): 50% one repeated document with the valid token, 20% a
-- unique one with it (a made-up alias), 20% a unique one without a token (the API's field that needs none), 10% a
-- unique body that is no document (422). Every unique body is read, and its answer kept within the API's bounds.
local valid = os.getenv("SOAK_VALID")
local letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

request = function()
  n = n + 1
  local slot, headers, query = n % 10, {["Content-Type"] = "application/json"}, nil
  if slot < 7 then headers["Authorization"] = "Bearer " .. valid end
  if slot < 5 then query = "{ hero { name friends(first: 2) { name } } name }"
  elseif slot < 7 then query = "{ hero { name } a" .. noise(24, letters) .. ": name }"
  elseif slot < 9 then query = "{ b" .. noise(24, letters) .. ": name }"
  else query = "{ " .. noise(200, letters) end
  return wrk.format("POST", nil, headers, '{"query": "' .. query .. '"}')
end
"""
)
GRAPHQL_PATH = "/swapi/1.0.0"


def graphql_catalog(fixture: Fixture) -> dict[str, Any]:
    """The fixture's catalog and harness.sample_catalog's StarWarsAPI (hero needs `scope_headers`, name no
    credential), to which its application is subscribed on its huge tier."""
    doc = fixture.catalog()
    doc["apis"].append(starwars_api(context=GRAPHQL_PATH))
    doc["subscriptions"].append({**doc["subscriptions"][0], "subscriptionUUID": "sub-2", "apiUUID": "api-swapi"})
    return doc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tokens(fixture: Fixture) -> dict[str, str]:
    issuer = fixture.jwks.issuer
    valid = fixture.headers["Authorization"].removeprefix("Bearer ")
    expired = fixture.key.sign(oidc.claims(issuer, CLIENT_ID, "scope_ip", lifetime=-3600))
    header = _b64(json.dumps({"alg": "RS256", "kid": fixture.key.kid, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(oidc.claims(issuer, CLIENT_ID, "scope_ip", lifetime=3600)).encode())
    return {"SOAK_VALID": valid, "SOAK_EXPIRED": expired, "SOAK_FORGED": f"{header}.{payload}."}


def run_wrk(port: int, script: Path, seconds: int, env: dict[str, str], path: str = PATH) -> dict[str, Any]:
    argv = ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}{path}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False, env=env)
    if done.returncode:
        raise RuntimeError(f"wrk failed: {done.stderr[-500:]}")  # tokens travel in the environment, not argv
    counts = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^SOAK (.*)$", done.stdout, re.M).group(1)))
    sock = re.search(r"Socket errors: (.*)", done.stdout)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1)),
        **{k: int(v) for k, v in counts.items()},
        "socket_errors": sock.group(1) if sock else "",
    }


def soak(
    seconds: int, every: int, workdir: Path, mode: str = "grpc", graphql: bool = False
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """The samples, and the adapter's garbage collection pauses over the whole soak (`gc_pauses`)."""
    fixture = Fixture(workdir)
    samples: list[dict[str, Any]] = []
    try:
        if graphql:
            (workdir / "catalog.yaml").write_text(yaml.safe_dump(graphql_catalog(fixture)))
        adapter = fixture.start_adapter("adapter", fixture.adapter_config(backend_jwt=False))
        pin(adapter.proc.proc.pid, SERVER_CORES)
        body = GRAPHQL_BODY if graphql else None
        authz = (
            Authz([adapter.grpc_port], include_request_body=body)
            if mode == "grpc"
            else Authz([adapter.http_port], "http", path_prefix="/check", include_request_body=body)
        )
        gateway, envoy = start_envoy(workdir, authz)
        port = gateway.port
        script = workdir / "soak.lua"
        script.write_text(GRAPHQL_SCRIPT if graphql else SCRIPT)
        env = {**os.environ, **tokens(fixture)}
        started = time.monotonic()
        samples.append({"t": 0, "rss_mib": round(rss_mib(adapter.proc.proc.pid), 1)})
        while time.monotonic() - started < seconds:
            result = run_wrk(port, script, every, env, GRAPHQL_PATH if graphql else PATH)
            pin(adapter.proc.proc.pid, SERVER_CORES)  # threads started since inherit nothing from the first pin
            result.update(t=round(time.monotonic() - started), rss_mib=round(rss_mib(adapter.proc.proc.pid), 1))
            samples.append(result)
            print(row(result), flush=True)
        assert adapter.admin_port is not None
        pauses = gc_pauses(requests.get(f"http://127.0.0.1:{adapter.admin_port}/metrics", timeout=10).text)
        envoy.stop()
        adapter.stop()
    finally:
        fixture.close()
    return samples, pauses


def row(s: dict[str, Any]) -> str:
    return (
        f"{s['t']:>5} s  {s.get('rps', 0):>8.0f} req/s  200: {s.get('ok', 0):>7}  401: {s.get('unauthorized', 0):>7}"
        f"  other: {s.get('other', 0):>4}  errors: {s.get('failed', 0):>4} {s.get('socket_errors', '')}"
        f"  RSS {s['rss_mib']:>7.1f} MiB"
    )


def verdict(samples: list[dict[str, Any]]) -> str:
    """RSS in the last third against the middle third: a bounded adapter has levelled off by then."""
    measured = [s["rss_mib"] for s in samples[1:]]
    if len(measured) < 3:
        return "too short to tell"
    third = max(1, len(measured) // 3)
    middle, last = max(measured[third : 2 * third]), max(measured[-third:])
    growth = last - middle
    errors = sum(s.get("failed", 0) for s in samples)
    state = "levelled off" if growth <= max(8.0, 0.05 * middle) else "STILL GROWING"
    return f"RSS {state}: {middle:.0f} → {last:.0f} MiB over the last two thirds; {errors} errors"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--every", type=int, default=10, help="seconds per sample")
    parser.add_argument("--quick", action="store_true", help="30 s, a sample every 5 s")
    parser.add_argument("--mode", choices=("grpc", "http"), default="grpc", help="Envoy's ext_authz mode")
    parser.add_argument("--graphql", action="store_true", help="a GraphQL API's calls (GRAPHQL_SCRIPT)")
    args = parser.parse_args(argv)
    seconds, every = (30, 5) if args.quick else (int(args.minutes * 60), args.every)
    pin(os.getpid(), LOAD_CORES)  # this process and wrk
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        samples, pauses = soak(seconds, every, Path(tmp), args.mode, args.graphql)
    summary = verdict(samples)
    print(gc_row(pauses))
    print(summary)
    OUT.mkdir(parents=True, exist_ok=True)
    name = "soak" + ("" if args.mode == "grpc" else f"-{args.mode}") + ("-graphql" if args.graphql else "")
    written = OUT / f"{name}.json"
    written.write_text(json.dumps({"mode": args.mode, "graphql": args.graphql, "samples": samples,
                                   "gc_pauses": pauses, "verdict": summary}, indent=1))  # fmt: skip
    print(f"written to {written.relative_to(ROOT)}")
    return 0 if "GROWING" not in summary else 1


if __name__ == "__main__":
    sys.exit(main())
