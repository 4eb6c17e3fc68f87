"""APIM's Regex Policy (`regexPolicy` v1), as carbon-apimgt's RegularExpressionProtector runs it with the values
product-apim v4.5.0's template sets: APIM's SQL-injection pattern, case-insensitive, searched in the transport
headers as Java writes a map and in the path and query after the API's context, URL-decoded, and first in the body as
APIM's message builder reads it; 400 on a match, and on a body the gateway did not hand over whole. Behind Envoy:
adapter/tests/e2e/test_operation_policies_gateway.py."""

from __future__ import annotations

import base64
import copy
import random
import time

import pytest

from apim_adapter import java_regex, threats
from apim_adapter.mediation import (
    BODY_NOT_BUILT,
    BODY_NOT_SEARCHED,
    THREAT_IN_BODY,
    THREAT_IN_HEADERS,
    THREAT_IN_QUERY,
    RequestBody,
    ThreatCheck,
)
from apim_adapter.payload import as_searched
from apim_adapter.transport import PARTIAL_BODY, request_body
from apim_adapter.transport.grpc import to_input
from harness.pipeline import InProcess, check_request, in_process_adapter, token, warm, whole
from harness.sample_catalog import catalog_document
from harness.sample_catalog import operation_policy as policy

ANYTHING = "/httpbin/1.0.0/anything/orders"


def guarded(where: str = "GET /anything/*") -> dict:
    doc = copy.deepcopy(catalog_document())
    doc["apis"][0]["operationPolicies"] = [policy("request", "regexPolicy", "v1", where)]
    return doc


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("o'brien", True),
        ("ALTER TABLE x", True),  # case-insensitive
        ("alternative", True),  # `.*alter.*`: any "alter", as APIM's
        ("select name from users", True),
        ("drop   table orders", True),
        ("insert into t", True),
        ("create database shop", False),  # its alternative starts a line of the template: five spaces first
        ("x     create database shop", True),
        ("delete from orders", False),  # the same
        ("customer=alice&page=2", False),
    ],
)
def test_the_pattern_is_apims_as_synapse_reads_the_template(text, found):
    assert threats.found(text) is found


def test_headers_are_searched_as_java_writes_the_map_then_the_path_and_query_decoded():
    check = ThreatCheck()
    assert check.refusal({"x-team": "payments", "host": "api.example.com"}, "/orders?customer=alice") is None
    assert check.refusal({"x-comment": "it's"}, "/orders") is THREAT_IN_HEADERS
    assert check.refusal({}, "/orders?q=x%27+or+1%3D1") is THREAT_IN_QUERY  # x' or 1=1
    assert check.refusal({}, "/select+name+from+users") is THREAT_IN_QUERY  # `+` decodes to a space
    # Both: the headers are looked at first, as RegularExpressionProtector does.
    assert check.refusal({"x-comment": "it's"}, "/orders?q=x%27") is THREAT_IN_HEADERS


def test_a_call_is_refused_after_the_limits_and_never_from_a_prepared_allow():
    p = InProcess(guarded())
    assert p.check(ANYTHING + "?customer=alice", bearer=token()).allowed
    refused = p.check(ANYTHING + "?customer=x%27", bearer=token())
    assert (refused.status, refused.code, refused.error.description) == (
        400, "400", "SQL-Injection Threat detected in Query Parameters")  # fmt: skip
    assert refused.subscription is not None  # admitted and counted before the policy refused it
    assert p.check("/httpbin/1.0.0/ip", bearer=token(), **{"x-comment": "it's"}).allowed  # another operation

    a = in_process_adapter(guarded("GET /ip"))
    jwt = token()
    assert whole(a, jwt).allowed
    assert warm(a, jwt) is None  # the next call is a whole check: its headers and query are looked at


def test_the_credential_and_the_adapters_own_headers_are_not_searched():
    a = in_process_adapter(guarded("GET /ip"))
    jwt = token()
    # The client's copy of a context header is not the adapter's: removed before the policies run.
    forged = a.check_on_thread(to_input(check_request(jwt, headers={"x-apim-application-name": "it's"})))
    assert forged.allowed
    assert whole(a, token()).allowed  # a bearer token is never searched (APIM's authenticator took it out)


# ---- the body, as APIM's message builder reads it ----

PAYLOAD = "http://ws.apache.org/commons/ns/payload"


@pytest.mark.parametrize(
    ("content_type", "body", "found", "as_sent"),
    [
        # JSON's escapes are decoded: the apostrophe is there, though not in the text sent.
        ("application/json", rb'{"name": "o\u0027brien"}', True, False),
        ("application/json; charset=utf-8", b'{"name": "obrien", "tags": ["a", "b"]}', False, False),
        # Built JSON is written on one line: a `select` and a later `from` meet, on separate lines as sent.
        ("application/json", b'{\n  "a": "select",\n  "b": "from"\n}', True, False),
        # ... and loses its indentation: "delete from" needs five spaces before it on its line.
        ("application/json", b'{\n      "q": "delete from orders"\n}', False, True),
        ("application/json", b'{"note": "it\'s"', True, True),  # not JSON: searched as sent
        # A form's values are decoded, `+` as a space (wso2-axis2's URIEncoderDecoder, as Synapse's builder calls it).
        ("application/x-www-form-urlencoded", b"q=drop%20table%20orders", True, False),
        ("application/x-www-form-urlencoded", b"q=drop+table+orders", True, False),
        # XML: a character reference is an apostrophe once parsed; a SOAP header is not the body's first element.
        ("application/xml", b"<a>it&#39;s</a>", True, False),
        (
            "text/xml",
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h>alter</h>'
            b"</s:Header><s:Body><q>fine</q></s:Body></s:Envelope>",
            False,
            True,
        ),
        ("text/plain", b"1; DROP TABLE orders", True, True),
        # A binary body is searched in base64, as APIM does.
        ("application/octet-stream", base64.b64decode("alterAAA"), True, False),
        ("", b"o'brien", False, True),  # no Content-Type: Synapse's default, binary
        # An upload's file is searched in base64 (Axis2's multipart builder; the type ends at `;`, else at `,`).
        (
            "multipart/form-data, boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nit\'s\r\n--b--',
            False,
            True,
        ),
        # A DTD is not parsed (no entity is expanded): the body is searched as sent.
        ("application/xml", b'<!DOCTYPE a [<!ENTITY q "&#39;">]><a>&q;</a>', False, False),
    ],
)
def test_a_body_is_searched_as_apims_message_builder_reads_it(content_type, body, found, as_sent):
    assert threats.found(as_searched(content_type, body)) is found
    assert threats.found(body.decode("latin-1")) is as_sent  # the text as sent would answer otherwise, or alike


def test_a_text_or_xml_body_is_read_in_the_charset_apims_builders_are_given():
    latin = "café 'x'".encode("latin-1")
    assert as_searched("text/plain; charset=iso-8859-1", latin) == f"<text xmlns=\"{PAYLOAD}\">café 'x'</text>"
    assert as_searched('application/xml; charset="ISO-8859-1"', b"<a>caf\xe9</a>") == "<a>café</a>"
    # BuilderUtil.getCharSetEncoding looks for `charset` as written: `CHARSET=` names none, and UTF-8 is read.
    assert as_searched("text/plain; CHARSET=iso-8859-1", latin) == f"<text xmlns=\"{PAYLOAD}\">caf\ufffd 'x'</text>"
    # A charset Java does not know: PlainTextBuilder's reader, and Woodstox's, throw and the call fails on APIM.
    assert as_searched("text/plain; charset=nope", b"fine") is None
    assert as_searched("application/xml; charset=nope", b"<a>fine</a>") is None


def test_a_forms_query_parameters_are_read_with_its_body():
    assert (
        as_searched("application/x-www-form-urlencoded", b"b=2", "a=1") == "<xformValues><a>1</a><b>2</b></xformValues>"
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"q=%27&b"),  # a part without `=`: `q='` to a lenient form reader
        ("application/x-www-form-urlencoded", b"q=10%"),
        ("application/x-www-form-urlencoded; charset=nope", b"q=1"),
        ("text/plain; charset=nope", b"fine"),
        ("multipart/form-data", b'--b\r\nContent-Disposition: form-data; name="q"\r\n\r\nx\r\n--b--'),  # no boundary
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="q"\r\n\r\n%27'),
    ],
)
def test_a_body_apims_builder_throws_on_is_refused_as_apims_gateway_never_forwards_it(content_type, body):
    refused = ThreatCheck().refusal({}, "/orders", RequestBody(body, True, content_type))
    assert refused is BODY_NOT_BUILT
    # APIM's `fault` sequence's code, message and words (its 500 a 400 here, a client's malformed body).
    assert (refused.status, refused.code, refused.message) == (400, "0", "Runtime Error")
    assert refused.description == "Error while building message"


def test_the_body_is_searched_first_and_a_body_not_handed_over_whole_is_refused():
    check = ThreatCheck()
    clean, sql = RequestBody(b'{"a": 1}', True, "application/json"), RequestBody(b"x'", True, "text/plain")
    assert check.refusal({}, "/orders", clean) is None
    assert check.refusal({"x-comment": "it's"}, "/orders?q=x%27", sql) is THREAT_IN_BODY
    assert check.refusal({}, "/orders", RequestBody(b'{"a": 1}', False, "application/json")) is BODY_NOT_SEARCHED
    assert BODY_NOT_SEARCHED.status == 400
    assert BODY_NOT_SEARCHED.description.startswith("Exceeded Request Payload")


@pytest.mark.parametrize(
    ("headers", "sent", "client_length", "whole"),
    [
        ({}, b"", True, True),  # a GET: no body
        ({"content-length": "0"}, b"", True, True),
        ({"content-length": "12"}, b"", True, False),  # a body the gateway does not include
        ({"content-length": "12", PARTIAL_BODY: "false"}, b"0123456789ab", True, True),
        ({"content-length": "64", PARTIAL_BODY: "true"}, b"01234567", True, False),  # past maxRequestBytes
        ({"content-length": "64"}, b"01234567", True, False),  # included, without Envoy's word: shorter
        ({"content-length": "8"}, b"01234567", False, True),  # HTTP mode: the check's own length
        ({}, None, False, False),  # over what the transport keeps
    ],
)
def test_whether_the_body_handed_over_is_all_of_it(headers, sent, client_length, whole):
    assert request_body(headers, sent, client_length).whole is whole


@pytest.mark.parametrize("charset", ["idna", "punycode", "unicode_escape", "utf-8-sig", "no-such", "a\x00b", ""])
@pytest.mark.parametrize("media_type", ["application/xml", "text/xml", "text/plain", "application/json"])
def test_a_body_in_a_charset_java_has_not_never_fails_the_check(charset, media_type):
    """PlainTextBuilder's reader and Woodstox under the XML builders throw on such a charset, and APIM fails the
    call (refused here); Woodstox finds an empty one's encoding itself, and JsonStreamBuilder reads bytes (searched
    here as UTF-8)."""
    searched = media_type == "application/json" or (media_type != "text/plain" and not charset)
    description = "SQL-Injection Threat detected in Payload" if searched else "Error while building message"
    a = in_process_adapter(guarded("GET /ip"))
    content_type = f"{media_type}; charset={charset}"
    request = check_request(token(), headers={"content-type": content_type, PARTIAL_BODY: "false"})
    request.attributes.request.http.raw_body = b"\xff\xfe x' or 1=1"  # bytes Python's idna or punycode cannot read
    refused = a.check_on_thread(to_input(request))
    assert (refused.status, refused.error.description) == (400, description)


def test_a_grpc_check_with_sql_in_its_body_is_refused_after_admission():
    a = in_process_adapter(guarded("GET /ip"))
    jwt = token()
    request = check_request(jwt, headers={"content-type": "application/json", PARTIAL_BODY: "false"})
    request.attributes.request.http.raw_body = rb'{"customer": "x\u0027 or 1=1"}'
    refused = a.check_on_thread(to_input(request))
    assert (refused.status, refused.error.description) == (400, "SQL-Injection Threat detected in Payload")
    assert refused.subscription is not None
    request.attributes.request.http.raw_body = b'{"customer": "alice"}'
    assert a.check_on_thread(to_input(request)).allowed
    request.attributes.request.http.headers[PARTIAL_BODY] = "true"
    assert a.check_on_thread(to_input(request)).error is BODY_NOT_SEARCHED


# ---- the pattern, found in linear time ----

# The pattern as Java runs it, Pattern.compile(AS_SYNAPSE_READS, CASE_INSENSITIVE), read by java_regex (held to a
# real JDK 21 by the e2e parity test): `.` matches no line terminator, `\s` is ASCII's, case folds ASCII letters.
REFERENCE = java_regex.compile("(?i)" + threats.AS_SYNAPSE_READS)
PIECES = ["select", "SeLeCt", "from", "FROM", "create", "database", "delete", "truncate", "table", "drop",
          "alter", "insert", "into", "x", "'", " ", "    ", "     ", "\t", "\n", "\r", "\u2028", "\x85", "sel",
          "ect", "fro", "m"]  # fmt: skip


def test_found_answers_what_the_pattern_answers_on_every_text_made_of_its_pieces():
    rng = random.Random(4242)
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 9))) for _ in range(20_000)]
    texts += [
        "select\n x from",
        "select x\ny from",
        "select \u2028from",
        "x     create database",
        "     \ncreate database",
    ]
    wrong = [t for t in texts if threats.found(t) != REFERENCE.find(t)]
    assert wrong == []


def test_a_long_header_without_a_match_is_searched_in_linear_time():
    """Searched as written, 8 KB took 3 s and 60 KB minutes; a client sends up to Envoy's header limit."""
    text = "{x-a=" + "b" * 60_000 + ", x-b=" + "select " * 5_000 + "     " * 2_000 + "}"
    started = time.process_time()
    assert not threats.found(text)
    assert time.process_time() - started < 0.5  # CPU seconds: milliseconds here, whatever the machine's load
