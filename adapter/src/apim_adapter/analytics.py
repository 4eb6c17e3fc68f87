"""Analytics events in WSO2's on-premises ELK format (`apimMetrics: apim:response|apim:faulty, properties :{…}`).

ext_authz never sees the response, so an allowed request is reported with `correlationId` (the request's
x-request-id) for joining with Envoy's access log, which has the status and latency. Denials are complete
fault events. Lines are buffered and written off the request path.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import IO

from .decision import CheckInput, Decision

FLUSH_SECONDS = 0.1  # small batches: formatting holds the GIL, briefly, between check threads
MAX_BUFFERED = 10_000
MAX_FIELD = 256  # characters of a client-chosen field kept in an event


# What is buffered per check: (decision, method, host, user agent, request id, client ip, latency ms, epoch seconds),
# client-chosen fields already cut to size. A tuple, not the request: the whole request (a gRPC CheckRequest with
# every header) would stay alive while buffered, and its size is the client's to choose.
Pending = tuple[Decision, str, str, str, str, str, float, float]


class Analytics:
    def __init__(self, output: str = "stdout"):
        self.output = output
        # A deque: append and popleft are atomic, so checks (gRPC threads, the event loop) enqueue without a lock.
        self._pending: deque[Pending] = deque()
        self._stream: IO[str] | None = None
        self._stop = threading.Event()
        # Formatting and writing run on their own thread: never on the event loop, which serves HTTP mode.
        self._writer = threading.Thread(target=self._write_forever, name="analytics", daemon=True)
        self.dropped = 0  # approximate under concurrent checks: a lost increment costs less than a lock

    def start(self) -> None:
        self._stream = sys.stdout if self.output == "stdout" else open(self.output, "a", encoding="utf-8")  # noqa: SIM115
        self._writer.start()

    def record(self, req: CheckInput, d: Decision, latency_ms: float, now: float | None = None) -> None:
        self.enqueue(
            d, req.method, req.host, req.headers.get("user-agent", ""), req.request_id, req.client_ip,
            latency_ms, time.time() if now is None else now,
        )  # fmt: skip

    def enqueue(
        self, d: Decision, method: str, host: str, user_agent: str, request_id: str, client_ip: str,
        latency_ms: float, now: float,
    ) -> None:  # fmt: skip
        pending = self._pending
        if len(pending) >= MAX_BUFFERED:
            self.dropped += 1
            return
        pending.append(
            (d, method[:16], host[:MAX_FIELD], user_agent[:MAX_FIELD], request_id[:MAX_FIELD], client_ip[:64],
             latency_ms, now)
        )  # fmt: skip

    def _write_forever(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        pending = self._pending
        if pending and self._stream is not None:
            taken = [pending.popleft() for _ in range(len(pending))]
            self._stream.write("".join(_line(p) for p in taken))
            self._stream.flush()

    async def close(self) -> None:
        self._stop.set()
        if self._writer.is_alive():
            await asyncio.to_thread(self._writer.join, 2)
        self.flush()
        if self._stream is not None and self._stream is not sys.stdout:
            self._stream.close()


def _line(p: Pending) -> str:
    d, method, host, user_agent, request_id, client_ip, latency_ms, now = p
    req = CheckInput(method, host, "", {"user-agent": user_agent}, request_id, client_ip)
    return line(req, d, latency_ms, datetime.fromtimestamp(now, UTC))


def event(req: CheckInput, d: Decision, latency_ms: float, now: datetime | None = None) -> dict:
    api, app, key, res = d.api, d.application, d.key_mapping, d.resource
    props = {
        "apiName": api.name if api else "",
        "apiVersion": api.version if api else "",
        "apiContext": api.context if api else "",
        "apiId": api.uuid if api else "",
        "apiCreator": api.provider if api else "",
        "apiCreatorTenantDomain": api.organization if api else "carbon.super",
        "apiType": api.api_type if api else "HTTP",
        "apiMethod": req.method,
        "apiResourceTemplate": res.pattern if res else "",
        "applicationId": app.uuid if app else "",
        "applicationName": app.name if app else "",
        "applicationOwner": app.owner if app else "",
        "keyType": key.key_type if key else "",
        "subscriptionTier": d.tier,
        "correlationId": req.request_id,
        "destination": req.host,
        "requestTimestamp": (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "userAgent": req.headers.get("user-agent", ""),
        "userName": d.principal.subject if d.principal else "",
        "userIp": req.client_ip,
        "gatewayType": "ISTIO",
        "platform": "istio-apim",
        "regionId": "default",
        "responseCacheHit": False,
        "securityLatency": round(latency_ms, 3),
    }
    if d.allowed:
        props.update(eventType="response", proxyResponseCode=-1, targetResponseCode=-1)
    else:
        assert d.error is not None
        props.update(
            eventType="fault",
            errorType=d.error.kind,
            errorCode=int(d.error.code),
            errorMessage=d.error.message,
            proxyResponseCode=d.status,
            targetResponseCode=-1,
        )
    return props


def line(req: CheckInput, d: Decision, latency_ms: float, now: datetime | None = None) -> str:
    kind = "apim:response" if d.allowed else "apim:faulty"
    now = now or datetime.now(UTC)
    stamp = now.isoformat(sep=" ", timespec="milliseconds")[:23].replace(".", ",")
    # Every space left is inside a string (the separators have none): escaped, the JSON means the same, and
    # what a client sends (its user agent) cannot contain the ", ", " :" and " apimMetrics:" WSO2's grok splits on.
    props = json.dumps(event(req, d, latency_ms, now), separators=(",", ":")).replace(" ", "\\u0020")
    return f"{stamp} [apim-adapter] INFO ELKCounterMetric apimMetrics: {kind}, properties :{props}\n"
