"""APIM's per-API logging: a call of an API or resource whose level is set is written at that level, as APIM's
gateway writes it (LogsHandler, APILogHandler), and no credential reaches the line."""

from __future__ import annotations

import io
import itertools
import json
import logging
import time

import pytest
from envoy.data.accesslog.v3.accesslog_pb2 import HTTPAccessLogEntry
from envoy.service.accesslog.v3.als_pb2 import StreamAccessLogsMessage
from google.protobuf.struct_pb2 import Struct

from apim_adapter import api_log
from apim_adapter.access_log import AccessLogReceiver
from apim_adapter.analytics import Analytics
from apim_adapter.api_log import ApiLog, effective
from apim_adapter.catalog import CatalogError, build
from apim_adapter.config import Request
from apim_adapter.decision import ApiKeyPlaces, CheckInput, Decision
from apim_adapter.logs import JsonFormatter
from apim_adapter.mediation import RequestBody
from apim_adapter.render import API_LOG_LEVEL, Renderer
from apim_adapter.transport.grpc import NAMESPACE, to_input
from harness.pipeline import PATH, check_request, in_process_adapter, token, warm, whole
from harness.sample_catalog import catalog_document

pytestmark = pytest.mark.unit

CONTEXT = "/httpbin/1.0.0"


def apims_matching_log_level(api_level: str | None, resource_level: str | None) -> str | None:
    """carbon-apimgt 9.31.86 gateway `LogUtils.getMatchingLogLevel`, after the loop found the API's and the
    resource's levels, transliterated branch for branch (the switch's fall-through from STANDARD kept)."""
    if resource_level is not None:
        high = False
        if resource_level == "FULL":
            high = True
        elif resource_level == "STANDARD":
            if api_level is not None and api_level in ("BASIC", "OFF"):
                high = True
        elif resource_level == "BASIC":  # noqa: SIM102 - as the Java reads
            if api_level is None or api_level == "OFF":
                high = True
        level = resource_level if high or api_level is None else api_level
    else:
        level = api_level
    return None if level in (None, "OFF") else level  # APILogHandler.logAPI writes nothing for OFF


def test_a_calls_level_is_the_one_apims_gateway_matches_for_every_pair_of_levels():
    levels = (None, "OFF", "BASIC", "STANDARD", "FULL")
    for api_level, resource_level in itertools.product(levels, levels):
        assert effective(api_level, resource_level) == apims_matching_log_level(api_level, resource_level), (
            api_level,
            resource_level,
        )


@pytest.fixture
def lines():
    """The api_log lines as written (JSON, parsed), in order."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("apim_adapter.api_log")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in written.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(old)


def logged(*levels: dict) -> dict:
    doc = catalog_document()
    doc["apiLogging"] = list(levels)
    return doc


def test_an_apis_calls_are_written_at_its_level_and_each_is_checked_whole(lines):
    a, t = in_process_adapter(logged({"context": CONTEXT, "logLevel": "BASIC"})), token()
    assert whole(a, t).allowed
    assert whole(a, t).allowed
    assert warm(a, t) is None  # no prepared allow: every call of a logged API is written by its whole check
    first = lines()[0]
    assert first["message"] == "REQUEST_IN"
    assert first["logger"] == "apim_adapter.api_log"
    api = a.store.current.contexts[CONTEXT]
    assert {k: first[k] for k in ("flow", "apiTo", "correlationId", "verb", "sourceIP", "logLevel")} == {
        "flow": "REQUEST_IN", "apiTo": PATH, "correlationId": "r-1", "verb": "GET", "sourceIP": "198.51.100.7",
        "logLevel": "BASIC",
    }  # fmt: skip
    assert (first["apiId"], first["apiName"], first["apiContext"], first["apiVersion"]) == (
        api.uuid, api.name, CONTEXT, "1.0.0",
    )  # fmt: skip
    assert (first["resourceName"], first["tenantDomain"]) == ("/ip", "carbon.super")
    assert "headers" not in first
    assert "payload" not in first
    assert len(lines()) == 2  # an allowed call: its request only (the response is the backend's, through Envoy)


def test_an_api_without_a_level_writes_nothing_and_keeps_its_prepared_allows(lines):
    a, t = in_process_adapter(logged({"context": "/other/1.0.0", "logLevel": "FULL"})), token()
    assert whole(a, t).allowed
    assert warm(a, t) is not None
    assert lines() == []


def test_standard_writes_the_headers_with_every_credential_hidden(lines):
    a, t = in_process_adapter(logged({"context": CONTEXT, "logLevel": "STANDARD"})), token()
    req = check_request(t, headers={"cookie": "session=s3cr3t", "x-custom": "kept"})
    assert a.check_on_thread(to_input(req)).allowed
    (line,) = lines()
    assert line["headers"]["authorization"] == "Bearer ***"
    assert line["headers"]["cookie"] == "***"
    assert line["headers"]["x-custom"] == "kept"
    assert line["headers"]["user-agent"] == "t"
    raw = json.dumps(line)
    assert t not in raw
    assert t.split(".")[2] not in raw
    assert "s3cr3t" not in raw


def test_a_denied_call_writes_the_answer_too(lines):
    a = in_process_adapter(logged({"context": CONTEXT, "logLevel": "BASIC"}))
    d = whole(a, "")  # `Authorization: Bearer `: no usable token
    assert d.code == "900901"
    request_in, response_out = lines()
    assert request_in["flow"] == "REQUEST_IN"
    assert {k: response_out[k] for k in ("flow", "statusCode", "errorCode", "errorMessage", "apiTo")} == {
        "flow": "RESPONSE_OUT", "statusCode": 401, "errorCode": "900901", "errorMessage": "Invalid Credentials",
        "apiTo": PATH,
    }  # fmt: skip


def test_a_resources_level_raises_its_apis_for_that_resource_alone(lines):
    doc = logged(
        {"context": CONTEXT, "logLevel": "BASIC"},
        {"context": CONTEXT, "logLevel": "FULL", "resourceMethod": "GET", "resourcePath": "/headers"},
    )
    a, t = in_process_adapter(doc), token()
    whole(a, t, path=f"{CONTEXT}/headers")
    whole(a, t)  # /ip: the API's level
    headers_call, ip_call = lines()
    assert (headers_call["logLevel"], "headers" in headers_call, headers_call["payload"]) == ("FULL", True, "")
    assert (ip_call["logLevel"], "headers" in ip_call) == ("BASIC", False)
    catalog = a.store.current
    assert catalog.reads_body_at(f"{CONTEXT}/headers")  # FULL writes the payload: HTTP mode reads the body


def test_full_writes_the_payload_as_the_gateway_handed_it_over(lines):
    writer = ApiLog(None)
    api = build(logged({"context": CONTEXT, "logLevel": "FULL"})).contexts[CONTEXT]
    res = api.match("POST", "/anything/x")
    body = RequestBody(b'{"order": "pizza"}', whole=False)
    writer.write(CheckInput("POST", "gw", f"{CONTEXT}/anything/x", {}, "r-2", "10.0.0.1", body=body),
                 Decision(None, "", api=api, resource=res), res.log_level)  # fmt: skip
    (line,) = lines()
    assert (line["payload"], line["payloadWhole"]) == ('{"order": "pizza"}', False)


def test_an_api_key_in_the_query_or_its_header_is_hidden(lines):
    writer = ApiLog(ApiKeyPlaces("apikey", "apikey"))
    api = build(logged({"context": CONTEXT, "logLevel": "STANDARD"})).contexts[CONTEXT]
    res = api.match("GET", "/ip")
    req = CheckInput("GET", "gw", f"{CONTEXT}/ip?a=1&apikey=k3y.v4lue&b=2", {"apikey": "k3y.v4lue"}, "r-3", "")
    writer.write(req, Decision(None, "", api=api, resource=res), res.log_level)
    (line,) = lines()
    assert line["apiTo"] == f"{CONTEXT}/ip?a=1&apikey=***&b=2"
    assert line["resourceName"] == "/ip?a=1&apikey=***&b=2"  # apiTo past the context, as APILogHandler cuts it
    assert line["headers"]["apikey"] == "***"
    assert "k3y" not in json.dumps(line)


def test_long_values_are_cut():
    writer = ApiLog(None)
    assert len(writer._called("/x?" + "a" * 20_000)) == api_log.MAX_VALUE
    assert writer._headers({"x-big": "b" * 20_000, ":path": "/"}) == {"x-big": "b" * api_log.MAX_VALUE}


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"context": CONTEXT, "logLevel": "LOUD"}, "apiLogging[0].logLevel: one of OFF, BASIC, STANDARD, FULL"),
        ({"context": CONTEXT, "logLevel": "FULL", "resourceMethod": "GET"}, "resourceMethod and resourcePath go"),
        ({"logLevel": "FULL"}, "apiLogging[0].context: required"),
    ],
)
def test_a_bad_level_item_is_refused_in_a_file_and_left_out_from_apim(item, error):
    with pytest.raises(CatalogError, match=error.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")):
        build(logged(item))
    catalog = build(logged(item, {"context": CONTEXT, "logLevel": "basic"}), lenient=True)
    assert any(error in why for why in catalog.skipped)
    assert {r.log_level for r in catalog.contexts[CONTEXT].resources} == {"BASIC"}  # the good item, in any case


def test_an_allowed_calls_response_is_written_from_the_gateways_access_log_entry(lines, tmp_path):
    """The allow names the resource's level in the check's metadata (render.py), the gateway's access log entry
    brings it back with the response (access_log.py), and the entry writes the call's RESPONSE_OUT."""
    a, t = in_process_adapter(logged({"context": CONTEXT, "logLevel": "STANDARD"})), token()
    d = whole(a, t)
    allow = Renderer(Request(), None, analytics_metadata=True).allow(d, time.time())
    metadata = dict(allow.metadata)
    assert metadata[API_LOG_LEVEL] == "STANDARD"
    e = HTTPAccessLogEntry()
    e.request.request_method, e.request.request_id, e.request.path = 1, "rid-9", f"{PATH}?x=1"
    e.response.response_code.value, e.response.response_code_details = 503, "via_upstream"
    e.response.response_headers["set-cookie"] = "session=s3cr3t"
    e.response.response_headers["x-backend"] = "b1"
    ours = Struct()
    ours.update(metadata)
    e.common_properties.metadata.filter_metadata[NAMESPACE].CopyFrom(ours)
    message = StreamAccessLogsMessage()
    message.http_logs.log_entry.append(e)
    analytics = Analytics(str(tmp_path / "events.log"))
    AccessLogReceiver(analytics, api_log=a.api_log).take(message)
    response = lines()[-1]
    assert {k: response[k] for k in ("flow", "statusCode", "correlationId", "apiTo", "verb", "apiName")} == {
        "flow": "RESPONSE_OUT", "statusCode": 503, "correlationId": "rid-9", "apiTo": f"{PATH}?x=1", "verb": "GET",
        "apiName": "HttpbinAPI",
    }  # fmt: skip
    assert response["headers"] == {"set-cookie": "***", "x-backend": "b1"}
    unlogged = Renderer(Request(), None, analytics_metadata=True).allow(whole(in_process_adapter(), t), time.time())
    assert API_LOG_LEVEL not in dict(unlogged.metadata)  # an API without a level: the entry writes nothing
