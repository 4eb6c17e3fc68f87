"""Analytics lines exactly as WSO2's on-premises ELK pipeline reads them (reference/wso2-apim.md §6.1, from WSO2's
"ELK Based Analytics Installation Guide"): Filebeat keeps lines matching `(apimMetrics):`; Logstash splits them
with the grok below, decodes `properties` as JSON and picks the index by `apimMetrics` (" apim:response" or
" apim:faulty", with the leading space)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime

import pytest

from apim_adapter.analytics import LINES_PER_TURN, MAX_BUFFERED, MAX_FIELD, Analytics, Formatter, Template, line
from apim_adapter.decision import CheckInput
from harness.pipeline import InProcess, token

FILEBEAT = re.compile(r"(apimMetrics):")
# %{GREEDYDATA:UNWANTED}\ apimMetrics:%{GREEDYDATA:apimMetrics}\, %{GREEDYDATA:UNWANTED} \:%{GREEDYDATA:properties}
GROK = re.compile(r"^(?P<u1>.*) apimMetrics:(?P<apimMetrics>.*), (?P<u2>.*) :(?P<properties>.*)$")
AT = datetime(2026, 11, 30, 5, 6, 7, 891000, tzinfo=UTC)

# APIM's response event as ELKMetricEventBuilder writes it (common/analytics publishers/dto Event and its unwrapped
# parts), without what only the response knows (latencies, response codes).
RESPONSE_FIELDS = {
    "apiCreator", "apiCreatorTenantDomain", "apiId", "apiMethod", "apiName", "apiResourceTemplate", "apiType",
    "apiVersion", "apiContext", "applicationId", "applicationName", "applicationOwner", "keyType", "correlationId",
    "destination", "requestTimestamp", "userAgent", "userName", "userIp", "responseCacheHit", "proxyResponseCode",
    "targetResponseCode", "gatewayType", "platform", "regionId", "properties",
}  # fmt: skip
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


def as_logstash_reads(text: str) -> tuple[str, dict]:
    """(the index the event goes to, its properties) or an AssertionError where WSO2's pipeline loses it."""
    assert text.endswith("\n")
    assert "\n" not in text[:-1], "one event, one line"
    assert FILEBEAT.search(text), "Filebeat would not ship this line"
    found = GROK.match(text[:-1])
    assert found, "the grok does not match"
    index = {" apim:response": "apim_event_response", " apim:faulty": "apim_event_faulty"}.get(found["apimMetrics"])
    assert index, f"no index for apimMetrics={found['apimMetrics']!r}"
    return index, json.loads(found["properties"])


def request(**headers) -> CheckInput:
    return CheckInput("GET", "api.example.com", "/httpbin/1.0.0/ip", headers, "rid-1", "203.0.113.9")


def test_an_allow_is_a_response_event():
    p = InProcess()
    d = p.check(bearer=token(sub="alice", aut="APPLICATION_USER"))
    text = line(request(**{"user-agent": CHROME}), d, 0.4567, AT)
    assert text.startswith("2026-11-30 05:06:07,891 [apim-adapter] INFO ELKCounterMetric apimMetrics: apim:response, ")
    index, props = as_logstash_reads(text)
    assert index == "apim_event_response"
    assert set(props) >= RESPONSE_FIELDS
    expected = {
        "apiName": "HttpbinAPI", "apiVersion": "1.0.0", "apiContext": "/httpbin/1.0.0", "apiId": "api-httpbin",
        "apiCreator": "admin", "apiCreatorTenantDomain": "carbon.super", "apiType": "HTTP", "apiMethod": "GET",
        "apiResourceTemplate": "/ip", "applicationId": "app-subscribed", "applicationName": "subscribed",
        "applicationOwner": "admin", "keyType": "PRODUCTION", "correlationId": "rid-1",
        "destination": "api.example.com", "requestTimestamp": "2026-11-30T05:06:07.891Z",
        "userAgent": "Chrome", "platform": "Linux",  # the browser and OS families, not the header
        "userName": "alice@carbon.super",  # the end user APIM names, with the tenant
        "userIp": "203.0.113.9", "gatewayType": "ISTIO", "regionId": "default", "responseCacheHit": False,
        "proxyResponseCode": -1, "targetResponseCode": -1,
        "properties": {"securityLatency": 0.457, "subscriptionTier": "Gold"},  # the adapter's own
    }  # fmt: skip
    assert {k: props[k] for k in expected} == expected
    assert not {"errorCode", "errorType", "errorMessage"} & set(props)


@pytest.mark.parametrize(
    ("user_agent", "browser", "platform"),
    [
        ("curl/8.5.0", "curl", "Other"),
        ("", "Other", "Other"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "Mobile Safari UI/WKWebView", "iOS"),
    ],
)
def test_the_user_agent_is_read_as_wso2s_reporter_reads_it(user_agent, browser, platform):
    """uap-core's families, "Other" where none matches, as ua_parser's Java parser in ELKMetricEventBuilder."""
    _, props = as_logstash_reads(line(request(**{"user-agent": user_agent}), InProcess().check(bearer=token()), 0, AT))
    assert (props["userAgent"], props["platform"]) == (browser, platform)


def test_a_denial_is_a_fault_event_with_wso2s_error_fields():
    p = InProcess()
    d = p.check()  # no credentials
    index, props = as_logstash_reads(line(request(), d, 0.1, AT))
    assert index == "apim_event_faulty"
    fault = ("eventType", "errorType", "errorCode", "errorMessage", "proxyResponseCode", "targetResponseCode")
    assert {k: props[k] for k in fault} == {
        "eventType": "fault",
        "errorType": "AUTH",  # FaultCategory, by the code's range
        "errorCode": 900902,  # a number, as WSO2 writes it
        "errorMessage": "AUTHENTICATION_FAILURE",  # FaultCodeClassifier's subcategory, not the client's message
        "proxyResponseCode": 401,
        "targetResponseCode": -1,
    }
    assert props["apiName"] == "HttpbinAPI"
    # AuthFaultDataCollector: an authentication failure names no application and no user.
    assert {k: props[k] for k in ("applicationId", "applicationName", "applicationOwner", "keyType")} == dict.fromkeys(
        ("applicationId", "applicationName", "applicationOwner", "keyType"), "UNKNOWN"
    )
    assert "userName" not in props


@pytest.mark.parametrize(
    ("bearer", "scope", "error"),
    [("garbage", None, ("AUTH", 900901, "AUTHENTICATION_FAILURE")),
     ("unsubscribed", None, ("AUTH", 900908, "SUBSCRIPTION_VALIDATION_FAILURE")),
     ("subscribed", "", ("AUTH", 900910, "AUTHORIZATION_FAILURE"))],
)  # fmt: skip
def test_each_auth_failure_is_classified_as_apims_gateway_does(bearer, scope, error):
    p = InProcess()
    credential = (
        "not-a-jwt" if bearer == "garbage" else token(bearer, **({"scope": scope} if scope is not None else {}))
    )
    d = p.check(bearer=credential)
    _, props = as_logstash_reads(line(request(), d, 0.1, AT))
    assert (props["errorType"], props["errorCode"], props["errorMessage"]) == error


def test_a_resource_the_api_does_not_have_is_a_resource_not_found(tmp_path):
    d = InProcess().check("/httpbin/1.0.0/no-such-resource", bearer=token())
    _, props = as_logstash_reads(line(request(), d, 0.1, AT))
    assert (props["errorType"], props["errorCode"], props["errorMessage"]) == ("OTHER", 404, "RESOURCE_NOT_FOUND")


def test_a_path_no_api_serves_writes_no_event(tmp_path):
    """APIM's collector has no API to describe and publishes nothing."""
    out = tmp_path / "analytics.log"
    sink = Analytics(str(out))
    p = InProcess()
    sink.record(request(), p.check("/no-api/here", bearer=token()), 0.1)
    sink.record(request(), p.check(bearer=token()), 0.1)
    sink.start()
    asyncio.run(sink.close())
    assert len(out.read_text().splitlines()) == 1


def test_a_resource_without_security_is_the_anonymous_application():
    _, props = as_logstash_reads(line(request(), InProcess().check("/httpbin/1.0.0/uuid"), 0.1, AT))
    assert (props["applicationName"], props["keyType"]) == ("anonymous", "anonymous")
    assert "userName" not in props


def test_a_throttled_request_is_a_throttled_fault():
    p, t = InProcess(), token("throttled-http")
    while (d := p.check(bearer=t)).allowed:
        pass
    _, props = as_logstash_reads(line(request(), d, 0.1, AT))
    assert (props["errorType"], props["errorCode"], props["proxyResponseCode"]) == ("THROTTLED", 900804, 429)
    assert props["errorMessage"] == "SUBSCRIPTION_LIMIT_EXCEEDED"
    assert (props["applicationName"], props["properties"]["subscriptionTier"]) == ("throttled-http", "Tiny")


def test_what_a_client_writes_cannot_break_the_line_or_steer_the_index():
    """The host and the request id are the client's: WSO2's grok splits on ', ' and ' :' and the last
    ' apimMetrics:'. Its user agent only ever names a browser and an OS family."""
    p = InProcess()
    hostile = 'Mozilla/5.0 (X11, Linux) x :{"a": 1} apimMetrics: apim:faulty, properties :{}\n\r"\\'
    req = CheckInput("GET", hostile, "/httpbin/1.0.0/ip", {"user-agent": hostile}, hostile, "203.0.113.9")
    index, props = as_logstash_reads(line(req, p.check(bearer=token()), 0.1, AT))
    assert index == "apim_event_response"
    assert (props["destination"], props["correlationId"]) == (hostile, hostile)
    assert (props["userAgent"], props["platform"]) == ("Other", "Linux")  # read, never copied
    assert props["apiName"] == "HttpbinAPI"


def test_client_chosen_fields_are_cut_to_size_before_they_are_buffered(tmp_path):
    out = tmp_path / "analytics.log"
    sink = Analytics(str(out))
    long = "x" * (10 * MAX_FIELD)
    p = InProcess()
    d = p.check(bearer=token())
    req = CheckInput(
        "GET" * 20, long, "/httpbin/1.0.0/ip" + long, {"user-agent": long, "cookie": long}, long, "198.51.100.1" + long
    )
    sink.record(req, d, 0.1)
    sink.start()
    asyncio.run(sink.close())
    _, props = as_logstash_reads(out.read_text())
    assert len(props["destination"]) == len(props["correlationId"]) == MAX_FIELD
    assert len(props["userIp"]) <= 64
    assert len(props["apiMethod"]) <= 16
    assert long not in out.read_text()


def test_the_buffer_is_bounded_and_counts_what_it_drops(tmp_path):
    out = tmp_path / "analytics.log"
    sink = Analytics(str(out))  # not started: nothing is written while the buffer fills
    p = InProcess()
    d = p.check(bearer=token())
    for i in range(MAX_BUFFERED + 7):
        sink.record(request(**{"x-request-id": str(i)}), d, 0.1)
    assert sink.dropped == 7
    sink.start()
    asyncio.run(sink.close())
    lines = out.read_text().splitlines()
    assert len(lines) == MAX_BUFFERED


def test_lines_from_a_template_are_the_lines_line_writes():
    p = InProcess()
    allow, deny = p.check(bearer=token(sub="alice")), p.check(bearer=token("unsubscribed"))
    format_line = Formatter()
    hostile = 'Mozilla/5.0 (X11, Linux) x :{"a": 1} apimMetrics: apim:faulty, properties :{}\n\r"\\ é \u2028'
    for i, (d, user_agent) in enumerate([(allow, "curl/8.0"), (deny, "curl/8.0")] * 3 + [(allow, hostile)]):
        at = AT.timestamp() + i * 0.4567
        pending = (d, "GET", "api.example.com", user_agent, f"rid {i}", "203.0.113.9", 0.1 * i, at)
        req = CheckInput("GET", "api.example.com", "", {"user-agent": user_agent}, f"rid {i}", "203.0.113.9")
        assert format_line(pending) == line(req, d, 0.1 * i, datetime.fromtimestamp(at, UTC))
    assert isinstance(format_line._templates[id(allow)][1], Template)  # the later lines came from a template


def test_template_lines_keep_line_s_milliseconds_at_every_rounding_edge():
    """The writer splits the epoch time itself; datetime rounds to microseconds half to even, carrying into the
    next second: the stamps must be the ones line() writes, at .9995 and .9999995 and everywhere between."""
    p = InProcess()
    allow = p.check(bearer=token(sub="alice"))
    format_line = Formatter()
    base = AT.timestamp() // 1
    fractions = [0.0, 0.0005, 0.0009995, 0.4995, 0.9994999, 0.9995, 0.999999, 0.9999995, 0.99999951]
    fractions += [i / 997 for i in range(997)]
    for i, fraction in enumerate(fractions):
        at = base + i + fraction
        pending = (allow, "GET", "api.example.com", "curl/8.0", f"rid {i}", "203.0.113.9", 0.25, at)
        req = CheckInput("GET", "api.example.com", "", {"user-agent": "curl/8.0"}, f"rid {i}", "203.0.113.9")
        assert format_line(pending) == line(req, allow, 0.25, datetime.fromtimestamp(at, UTC)), at


def test_the_writer_lets_go_of_the_gil_every_few_lines_and_keeps_their_order(tmp_path):
    """A batch is formatted in turns of LINES_PER_TURN lines with a pause (time.sleep(0): the GIL to whoever
    waits) between them, so a check never waits for a whole batch; every line is written, in order."""
    out = tmp_path / "analytics.log"
    pauses: list[float] = []
    sink = Analytics(str(out), pause=pauses.append)
    p = InProcess()
    d = p.check(bearer=token())
    count = 3 * LINES_PER_TURN + 5
    for i in range(count):
        sink.record(CheckInput("GET", "api.example.com", "/httpbin/1.0.0/ip", {}, f"r{i}", "203.0.113.9"), d, 0.1)
    sink.start()
    asyncio.run(sink.close())
    ids = [as_logstash_reads(text + "\n")[1]["correlationId"] for text in out.read_text().splitlines()]
    assert ids == [f"r{i}" for i in range(count)]
    assert pauses == [0, 0, 0]  # between the four turns, none after the last


def test_the_writer_lets_go_of_the_gil_after_each_user_agent_it_has_to_read(tmp_path):
    """Reading a new user agent costs tens of µs under the GIL: clients sending a new one each request make the
    writer pause after each, not after a whole turn of them."""
    out = tmp_path / "analytics.log"
    pauses: list[float] = []
    sink = Analytics(str(out), pause=pauses.append)
    d = InProcess().check(bearer=token())
    agents = [f"probe-{time.time_ns()}-{i}/1.0" for i in range(6)]
    for i, agent in enumerate(["seen/1.0", "seen/1.0", *agents]):  # the first two make the decision's template
        sink.record(CheckInput("GET", "h", "/httpbin/1.0.0/ip", {"user-agent": agent}, f"r{i}", "203.0.113.9"), d, 0.1)
    sink.start()
    asyncio.run(sink.close())
    assert len(out.read_text().splitlines()) == 8
    assert pauses == [0] * len(agents)
