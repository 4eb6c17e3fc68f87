"""Analytics events in WSO2's on-premises ELK format (`apimMetrics: apim:response|apim:faulty, properties :{…}`).

The fields are those APIM's gateway writes, with its meanings (docs/wso2-control-plane.md, "Analytics events").
ext_authz never sees the response, so an allowed request is reported with `correlationId` (the request's
x-request-id) for joining with Envoy's access log, which has the status and latency. Denials are complete
fault events. Lines are buffered and written off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import ua_parser

from .backend_jwt import end_user
from .decision import CheckInput, Decision

FLUSH_SECONDS = 0.1  # small batches: formatting holds the GIL, briefly, between check threads
# Lines formatted before the writer lets go of the GIL (time.sleep(0)): a check thread or the event loop waiting
# for it waits for ~32 lines (~0.1 ms), not for a whole batch (at 1,000 req/s, 100 lines held it past the 0.5 ms
# switch interval and set HTTP mode's p99 at 1,000 req/s to twice the trivial server's).
LINES_PER_TURN = 32
MAX_BUFFERED = 10_000
MAX_FIELD = 256  # characters of a client-chosen field kept in an event


# What is buffered per check: (decision, method, host, user agent, request id, client ip, latency ms, epoch seconds),
# client-chosen fields already cut to size. A tuple, not the request: the whole request (a gRPC CheckRequest with
# every header) would stay alive while buffered, and its size is the client's to choose.
Pending = tuple[Decision, str, str, str, str, str, float, float]
# An event composed elsewhere (from Envoy's access log): (served, its fields, epoch seconds it was received).
Composed = tuple[bool, dict[str, Any], float]


class Analytics:
    def __init__(self, output: str = "stdout", pause: Callable[[float], None] = time.sleep):
        self.output, self._pause = output, pause
        # A deque: append and popleft are atomic, so checks (gRPC threads, the event loop) enqueue without a lock.
        self._pending: deque[Pending | Composed] = deque()
        self._stream: IO[str] | None = None
        self._stop = threading.Event()
        # Formatting and writing run on their own thread: never on the event loop, which serves HTTP mode.
        self._writer = threading.Thread(target=self._write_forever, name="analytics", daemon=True)
        self._format = Formatter(pause=pause)
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
        if d.api is None:
            return  # APIM's gateway publishes nothing for a path no API serves (no API object to describe)
        pending = self._pending
        if len(pending) >= MAX_BUFFERED:
            self.dropped += 1
            return
        pending.append(
            (d, method[:16], host[:MAX_FIELD], user_agent[:MAX_FIELD], request_id[:MAX_FIELD], client_ip[:64],
             latency_ms, now)
        )  # fmt: skip

    def enqueue_event(self, served: bool, props: dict[str, Any], now: float) -> None:
        """An event composed from Envoy's access log (`access_log.py`), written as the checks' are."""
        if len(self._pending) >= MAX_BUFFERED:
            self.dropped += 1
            return
        self._pending.append((served, props, now))

    def _write_forever(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        pending = self._pending
        if pending and self._stream is not None:
            lines: list[str] = []
            with contextlib.suppress(IndexError):  # another flush (close(), a benchmark) took the rest meanwhile
                for i in range(len(pending)):
                    if i and i % LINES_PER_TURN == 0:
                        self._pause(0)  # let whoever waits for the GIL have it now
                    p = pending.popleft()
                    if len(p) == 3:  # composed from an access log entry
                        served, props, at = p
                        lines.append(framed(served, props, datetime.fromtimestamp(at, UTC)))
                    else:
                        lines.append(self._format(p))
            self._stream.write("".join(lines))
            self._stream.flush()

    async def close(self) -> None:
        self._stop.set()
        if self._writer.is_alive():
            await asyncio.to_thread(self._writer.join, 2)
        self.flush()
        if self._stream is not None and self._stream is not sys.stdout:
            self._stream.close()


class Formatter:
    """Lines as `line()` writes them, for less: a prepared allow repeats its decision on every check, and all but
    eight fields of its event are the decision's. Seen a second time, a decision gets a template (its event
    encoded once, cut where the eight and the time stamp go); then a line is the template's pieces joined with
    those nine encoded values. A client repeats its method, host, user agent and address from one request to
    the next: their encodings are kept too (a bounded table, emptied when full). Used only by the writer thread."""

    def __init__(self, max_templates: int = 4096, max_encoded: int = 1024, pause: Callable[[float], None] = time.sleep):
        self.max_templates, self.max_encoded = max_templates, max_encoded
        self._pause = pause
        # id → (the decision, kept alive so that its id is not reused; its template, None when it cannot have one)
        self._templates: dict[int, tuple[Decision, Template | object | None]] = {}
        self._encoded: dict[str, str] = {}  # a repeated client value → its JSON string

    def __call__(self, p: Pending) -> str:
        d, method, host, user_agent, request_id, client_ip, latency_ms, now = p
        kept = self._templates.get(id(d))
        template = None
        if kept is None or kept[0] is not d:  # first sight (or a new object at a reused address)
            if len(self._templates) >= self.max_templates:
                self._templates.clear()
            self._templates[id(d)] = (d, UNBUILT)
        elif kept[1] is UNBUILT:
            template = Template.of(d)
            self._templates[id(d)] = (d, template)
        elif isinstance(kept[1], Template):
            template = kept[1]
        if template is None:
            req = CheckInput(method, host, "", {"user-agent": user_agent}, request_id, client_ip)
            return line(req, d, latency_ms, datetime.fromtimestamp(now, UTC))
        second, ms = _split(now)
        stamps = spellings(second)
        millis = f"{ms:03d}"
        if len(self._encoded) >= self.max_encoded:
            self._encoded.clear()
        encode = self._kept_string
        values = (
            f"{stamps[0]},{millis}",
            encode(method),
            _string(request_id),  # new on every request: not kept
            encode(host),
            f'"{stamps[1]}.{millis}Z"',
            *map(encode, self._client(user_agent)),
            encode(client_ip),
            repr(round(latency_ms, 3)),
        )
        return template.render(values)

    def _client(self, user_agent: str) -> tuple[str, str]:
        found = _CLIENTS.get(user_agent)
        if found is not None:
            return found
        found = client_of(user_agent)
        # Reading a new user agent holds the GIL for tens of µs (uap-core's regexes): let a waiting check have it
        # after each, so that clients sending a new one every request cannot hold the checks up for a whole turn.
        self._pause(0)
        return found

    def _kept_string(self, value: str) -> str:
        """`_string(value)`, encoded once for a value the client repeats."""
        encoded = self._encoded.get(value)
        if encoded is None:
            encoded = self._encoded[value] = _string(value)
        return encoded


_SECONDS: dict[int, tuple[str, str]] = {}  # epoch second → `spellings`: events arrive in time order


def spellings(second: int) -> tuple[str, str]:
    """An epoch second as a line's time stamp and as `requestTimestamp` write it (to the second), kept for the
    few seconds events are being written in: the writer's and the access log service's threads share it (a lost
    race spells a second twice)."""
    known = _SECONDS.get(second)
    if known is None:
        if len(_SECONDS) > 4:
            _SECONDS.clear()
        at = datetime.fromtimestamp(second, UTC)
        known = _SECONDS[second] = (at.isoformat(sep=" ")[:19], at.isoformat()[:19])
    return known


def _split(now: float) -> tuple[int, int]:
    """(whole seconds, milliseconds) of an epoch time, as `datetime.fromtimestamp` rounds it: the fraction to
    whole microseconds, half to even, a carry into the next second."""
    second = int(now)
    micros = round((now - second) * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    return second, micros // 1000


def _string(value: str) -> str:
    # As json.dumps encodes a string (ensure_ascii), with line()'s escaping of spaces.
    return json.encoder.encode_basestring_ascii(value).replace(" ", "\\u0020")


UNBUILT = object()  # a decision seen once: no template yet

# The fields of an event that are not the decision's, in the order `Formatter` passes their encoded values
# (after the line's time stamp, value 0).
OPEN_FIELDS = (
    "apiMethod",
    "correlationId",
    "destination",
    "requestTimestamp",
    "userAgent",
    "platform",
    "userIp",
    "securityLatency",  # in `properties`
)
_OPEN = re.compile(r'"\\u0000(\d)\\u0000"')  # how a field left open is marked in the encoded template


@dataclass(frozen=True)
class Template:
    """A decision's line cut into ten fixed pieces around the nine values of one request."""

    pieces: tuple[str, ...]  # pieces[i] comes before the value at slots[i]; the last one ends the line
    slots: tuple[int, ...]  # which value (0 the time stamp, 1 + an index into OPEN_FIELDS) goes in each gap

    @classmethod
    def of(cls, d: Decision) -> Template | None:
        marks = [f"\x00{i}\x00" for i in range(len(OPEN_FIELDS))]
        req = CheckInput(marks[0], marks[2], "", {}, marks[1], marks[6])
        props: dict[str, Any] = event(req, d, 0.0, datetime.now(UTC))
        props["requestTimestamp"], props["userAgent"], props["platform"] = marks[3], marks[4], marks[5]
        props["properties"]["securityLatency"] = marks[7]
        encoded = json.dumps(props, separators=(",", ":")).replace(" ", "\\u0020")
        split = _OPEN.split(encoded)
        order = [int(i) for i in split[1::2]]
        if sorted(order) != list(range(len(OPEN_FIELDS))):
            return None  # a catalog value that looks like a mark: this decision's lines are written the long way
        kind = "apim:response" if d.allowed else "apim:faulty"
        head = f" [apim-adapter] INFO ELKCounterMetric apimMetrics: {kind}, properties :"
        pieces = ("", head + split[0], *split[2:-1:2], split[-1] + "\n")
        return cls(pieces, (0, *(i + 1 for i in order)))

    def render(self, values: tuple[str, ...]) -> str:
        p, s = self.pieces, self.slots
        # Spelled out: one join of a fixed tuple is the cheapest way to build the line (a loop or zip costs more).
        return "".join(
            (p[0], values[s[0]], p[1], values[s[1]], p[2], values[s[2]], p[3], values[s[3]], p[4], values[s[4]],
             p[5], values[s[5]], p[6], values[s[6]], p[7], values[s[7]], p[8], values[s[8]], p[9])
        )  # fmt: skip


# The application fields of an event whose caller is not known: APIM's CommonRequestDataCollector getUnknownApp (a
# request that failed authentication or never reached it) and getAnonymousApp (a resource that needs no token).
UNKNOWN_APPLICATION = dict.fromkeys(("applicationId", "applicationName", "applicationOwner", "keyType"), "UNKNOWN")
ANONYMOUS_APPLICATION = dict.fromkeys(("applicationId", "applicationName", "applicationOwner", "keyType"), "anonymous")


def decided(d: Decision) -> dict[str, str]:
    """What an event says of the decision alone: the API, its resource, the application and the end user (and
    the tier, which `event` moves into `properties`). The same for every request the decision answers, so a
    prepared allow carries it to Envoy's access log (`access_log.py`) as dynamic metadata."""
    api, app, key, res = d.api, d.application, d.key_mapping, d.resource
    fields = {
        "apiName": api.name if api else "",
        "apiVersion": api.version if api else "",
        "apiContext": api.context if api else "",
        "apiId": api.uuid if api else "",
        "apiCreator": api.provider if api else "",
        "apiCreatorTenantDomain": api.organization if api else "carbon.super",
        "apiType": api.api_type if api else "HTTP",
        "apiResourceTemplate": res.pattern if res else "",
        **_application(d),
    }
    if res is not None and res.operations:
        # A GraphQL call's operations, sorted (SynapseAnalyticsDataProvider.sortGraphQLOperations), and, once its
        # caller is authenticated, their verb for its method (APIAuthenticationHandler
        # .setAPIParametersToMessageContext): so on an allow and on what the throttle handler refuses after it.
        fields["apiResourceTemplate"] = ",".join(sorted(res.pattern.split(",")))
        if d.allowed or (d.error is not None and d.error.fault_category == "THROTTLED"):
            fields["apiMethod"] = res.method
    if d.principal is not None and app is not None and key is not None:
        # APIM's END_USER_NAME: the authentication context's user, for a JWT the end user its backend JWT names
        # (OAuthAuthenticator, GatewayUtils.generateAuthenticationContext), for an opaque token the key manager's.
        fields["userName"] = end_user(d.principal, app)
    if d.tier:
        fields["subscriptionTier"] = d.tier
    return fields


# The fields of every event that neither the decision nor the request sets.
GATEWAY_FIELDS = {"gatewayType": "ISTIO", "regionId": "default", "responseCacheHit": False}


def event(req: CheckInput, d: Decision, latency_ms: float, now: datetime | None = None) -> dict:
    """The event APIM's gateway publishes for this request (common/analytics SuccessRequestDataCollector and
    FaultyRequestDataCollector, with SynapseAnalyticsDataProvider's values, as ELKMetricEventBuilder shapes them):
    the same names carry the same meaning. What only the response knows (latencies, response codes) is not here
    (`access_log.py` writes an allowed request's event from Envoy's access log, with them); `properties` holds the
    adapter's own additions, where APIM's custom data providers put theirs."""
    browser, platform = client_of(req.headers.get("user-agent", ""))
    props: dict[str, Any] = decided(d)
    tier = props.pop("subscriptionTier", None)
    props.update(
        apiMethod=props.get("apiMethod", req.method),
        correlationId=req.request_id,
        destination=req.host,
        requestTimestamp=timestamp(now or datetime.now(UTC)),
        userAgent=browser,
        platform=platform,
        userIp=req.client_ip,
        **GATEWAY_FIELDS,
    )
    properties: dict[str, Any] = {"securityLatency": round(latency_ms, 3)}
    if tier:
        properties["subscriptionTier"] = tier
    props["properties"] = properties
    if d.allowed:
        props.update(eventType="response", proxyResponseCode=-1, targetResponseCode=-1)
    else:
        assert d.error is not None
        props.update(
            eventType="fault",
            errorType=d.error.fault_category,
            errorCode=int(d.error.code),
            errorMessage=d.error.fault_subcategory,
            proxyResponseCode=d.status,
            targetResponseCode=-1,
        )
    return props


def _application(d: Decision) -> dict[str, str]:
    app, key = d.application, d.key_mapping
    if d.error is not None and d.error.fault_category == "AUTH":
        return UNKNOWN_APPLICATION  # AuthFaultDataCollector, whatever the token named
    if app is not None and key is not None:
        return {"applicationId": app.uuid, "applicationName": app.name, "applicationOwner": app.owner,
                "keyType": key.key_type}  # fmt: skip
    if d.principal is None and d.resource is not None and not d.resource.secured:
        return ANONYMOUS_APPLICATION
    return UNKNOWN_APPLICATION


# A browser and OS family per user agent, as WSO2's ELK reporter names them (apim-analytics-publisher
# ELKMetricEventBuilder.setUserAgentProperties, util/UserAgentParser): uap-core's regexes, "Other" where none
# matches (ua_parser's default family), kept for the user agents seen last.
MAX_CLIENTS = 1024
_CLIENTS: dict[str, tuple[str, str]] = {}


def client_of(user_agent: str) -> tuple[str, str]:
    """(browser, platform) of a user agent; an absent one reads as WSO2's "UNKNOWN", which names neither."""
    known = _CLIENTS.get(user_agent)
    if known is None:
        if len(_CLIENTS) >= MAX_CLIENTS:
            _CLIENTS.clear()
        browser, os = ua_parser.parse_user_agent(user_agent), ua_parser.parse_os(user_agent)
        known = _CLIENTS[user_agent] = (browser.family if browser else "Other", os.family if os else "Other")
    return known


def timestamp(at: datetime) -> str:
    """An event's `requestTimestamp`: ISO 8601 in UTC, to the millisecond."""
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def line(req: CheckInput, d: Decision, latency_ms: float, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return framed(d.allowed, event(req, d, latency_ms, now), now)


def framed(allowed: bool, props: dict[str, Any], now: datetime) -> str:
    """An event as WSO2's ELK reporter logs it: `apim:response` for a request served, `apim:faulty` otherwise."""
    kind = "apim:response" if allowed else "apim:faulty"
    stamp = now.isoformat(sep=" ", timespec="milliseconds")[:23].replace(".", ",")
    # Every space left is inside a string (the separators have none): escaped, the JSON means the same, and
    # what a client sends (its user agent) cannot contain the ", ", " :" and " apimMetrics:" WSO2's grok splits on.
    encoded = json.dumps(props, separators=(",", ":")).replace(" ", "\\u0020")
    return f"{stamp} [apim-adapter] INFO ELKCounterMetric apimMetrics: {kind}, properties :{encoded}\n"
