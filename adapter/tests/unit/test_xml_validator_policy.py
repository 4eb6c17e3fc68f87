"""APIM's XML Validator (`xmlValidator` v1, XML threat protection), as carbon-apimgt's XMLSchemaValidator and
XMLAnalyzer run it: a non-GET XML body read by Woodstox with the template's fixed limits (xml_protector.py), 400 with
"XML Validation Failed: due to " and Woodstox's message at the first thing it refuses. Held to Woodstox itself by
adapter/tests/e2e/test_xml_validator_woodstox.py; behind Envoy: adapter/tests/e2e/test_operation_policies_gateway.py."""

from __future__ import annotations

import asyncio
import copy
import dataclasses

import pytest

from apim_adapter import xml_protector
from apim_adapter.catalog import build
from apim_adapter.decision import CheckInput, Decision, first_step
from apim_adapter.mediation import XML_NOT_WHOLE, RequestBody, XmlCheck
from apim_adapter.transport import PARTIAL_BODY
from apim_adapter.transport.grpc import to_input
from apim_adapter.xml_protector import PREFIX, problem
from harness.pipeline import InProcess, check_request, in_process_adapter, token
from harness.sample_catalog import catalog_document
from harness.sample_catalog import operation_policy as policy

AT = "\n at [row,col {unknown-source}]: "  # Woodstox's location, after its message


def attributes(count: int) -> bytes:
    return b" ".join(b"a%d='1'" % i for i in range(count))


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b"<a>" * 100 + b"</a>" * 100, None),  # depth 100: at the limit
        (b"<a>" * 101 + b"</a>" * 101, "Maximum Element Depth limit (100) Exceeded"),  # depth first, then count
        (b"<r>" + b"<c/>" * 99 + b"</r>", None),  # 100 elements
        (b"<r>" + b"<c/>" * 100 + b"</r>", "Maximum Element Count limit (100) Exceeded"),  # before 101 children
        (b"<r a='" + b"x" * 100 + b"'/>", None),
        (b"<r a='" + b"x" * 101 + b"'/>", "Maximum attribute size limit (100) exceeded"),
        (b"<r a='" + b"&amp;" * 101 + b"'/>", "Maximum attribute size limit (100) exceeded"),  # as resolved
        ("<r a='{}'/>".format("\U0001f600" * 51).encode(), "Maximum attribute size limit (100) exceeded"),  # UTF-16
        # Attributes are counted only as Woodstox's array grows (8, 12, ... 90, 135): the 101st passes.
        (b"<r " + attributes(101) + b"/>", None),
        (b"<r " + attributes(136) + b"/>", "Attribute limit (100) exceeded"),
        (b"<r " + b" ".join(b"xmlns:p%d='u'" % i for i in range(10)) + b" " + attributes(91) + b"/>",
         "Attribute limit (100) exceeded"),  # with 10 namespace declarations, at the array's growth past 90
        (b"<!DOCTYPE r [<!ENTITY e 'x'>]><r>&e;</r>", 'Undeclared general entity "e"' + AT + "[1,36]"),  # no DTD
        (b"<!DOCTYPE r [<!ENTITY e 'x' junk>]><r/>", None),  # the internal subset skipped, not read
        (b"<r>&amp;&#65;<![CDATA[<x>]]><!-- c --><?pi d?></r>", None),
        (b"<p:a xmlns:p='u'/>", None),
        (b"<p:a/>", 'Undeclared namespace prefix "p"' + AT + "[1,6]"),
        (b"<a><b></a>", "Unexpected close tag </a>; expected </b>." + AT + "[1,9]"),
        (b"", "Unexpected EOF in prolog" + AT + "[1,0]"),  # APIM's gateway does not pass an empty body either
        (b"\xef\xbb\xbf<a/>", "Unexpected character '\ufeff' (code 65279 / 0xfeff) in prolog; expected '<'" + AT
         + "[1,1]"),  # a BOM is looked for only in 7 characters or more
        (b"\xef\xbb\xbf<a></a>", None),
        (b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9</a>", None),  # read as UTF-8: U+FFFD, no refusal
        (b"<r>" + b"x]]" + b">", "String ']]>' not allowed in textual content, except as the end marker of CDATA "
         "section" + AT + "[1,7]"),
    ],
)  # fmt: skip
def test_a_body_is_read_as_woodstox_reads_it_with_apims_fixed_limits(body, refused):
    assert problem(body) == refused


def test_deep_input_is_read_without_recursion_or_expansion():
    assert problem(b"<a>" * 200_000) == "Maximum Element Depth limit (100) Exceeded"
    laughs = b"<!DOCTYPE r [" + b"".join(b"<!ENTITY e%d '&e%d;&e%d;'>" % (i, i - 1, i - 1) for i in range(1, 40))
    body = laughs + b"]><r>&e39;</r>"  # billion laughs: never declared, so never expanded
    assert problem(body) == 'Undeclared general entity "e39"' + AT + f"[1,{len(body) - len(b'</r>')}]"


def test_only_an_xml_body_of_a_method_but_get_is_read():
    check = XmlCheck()
    many = RequestBody(b"<r>" + b"<c/>" * 100 + b"</r>", True, "application/xml; charset=utf-8")
    refused = check.refusal("POST", many)
    assert refused is not None
    assert (refused.status, refused.code, refused.message) == (400, "400", "Bad Request")
    assert refused.description == PREFIX + "Maximum Element Count limit (100) Exceeded"
    assert check.refusal("PUT", RequestBody(many.sent, True, "text/xml")) is not None
    assert check.refusal("GET", many) is None
    assert check.refusal("POST", RequestBody(many.sent, True, "application/soap+xml")) is None  # not its types
    assert check.refusal("POST", RequestBody(many.sent, True, "application/json")) is None
    # Not handed over whole: it cannot be read to its end.
    partial = check.refusal("POST", RequestBody(b"<r/>", False, "application/xml"))
    assert partial is not None
    assert partial.description == PREFIX + XML_NOT_WHOLE


def guarded() -> dict:
    doc = copy.deepcopy(catalog_document())
    doc["apis"][0]["operationPolicies"] = [policy("request", "xmlValidator", "v1", "POST /anything/*")]
    return doc


def test_the_policy_is_applied_and_reads_the_body():
    catalog = build(guarded())
    assert not [n for n in catalog.unenforced if "operation policies" in n]
    [resource] = [r for api in catalog.apis.values() for r in api.resources if r.method == "POST"]
    assert resource.access_checks == (XmlCheck(),)
    assert resource.reads_body
    assert resource.checks_each_call  # an allow here is never kept for the next call


def test_a_grpc_check_past_a_limit_is_refused_after_admission():
    a = in_process_adapter(guarded())
    request = check_request(token(), path="/httpbin/1.0.0/anything/orders",
                            headers={"content-type": "text/xml", PARTIAL_BODY: "false"})  # fmt: skip
    request.attributes.request.http.method = "POST"
    request.attributes.request.http.raw_body = b"<a>" * 101 + b"</a>" * 101
    refused = a.check_on_thread(to_input(request))
    assert (refused.status, refused.error.description) == (400, PREFIX + "Maximum Element Depth limit (100) Exceeded")
    assert refused.subscription is not None  # admitted and counted first, as on APIM's gateway
    request.attributes.request.http.raw_body = b"<order><item>1</item></order>"
    assert a.check_on_thread(to_input(request)).allowed
    request.attributes.request.http.headers[PARTIAL_BODY] = "true"  # Envoy's first maxRequestBytes only
    partial = a.check_on_thread(to_input(request))
    assert (partial.status, partial.reason, partial.error.description) == (
        400, "body not handed over whole", PREFIX + XML_NOT_WHOLE)  # fmt: skip


def test_a_body_this_reading_fails_on_is_refused_and_logged_never_a_crash(monkeypatch, caplog):
    def broken(self) -> None:
        raise IndexError("a reading of ours that fails")

    monkeypatch.setattr(xml_protector._Reader, "read", broken)
    assert problem(b"<a/>") == xml_protector.UNREADABLE
    assert "XML Validator could not read a body" in caplog.text
    refused = XmlCheck().refusal("POST", RequestBody(b"<a/>", True, "application/xml"))
    assert refused is not None
    assert (refused.status, refused.description) == (400, PREFIX + xml_protector.UNREADABLE)


SLOW = b"<a>" + b"&amp;" * 200_000 + b"</a>"  # 1 MB this policy lets through, read in ~0.2 s (bench.body_policies)


def test_a_long_body_is_read_off_the_event_loop_which_keeps_answering():
    """HTTP mode decides on the event loop: a body past READ_INLINE is read on a worker thread (`ReadBody`), so other
    checks on the loop go on meanwhile; a gRPC check thread reads it in line (`first_step`)."""
    p = InProcess(guarded())
    req = CheckInput("POST", "gw", "/httpbin/1.0.0/anything/orders", {"authorization": f"Bearer {token()}"},
                     body=RequestBody(SLOW, True, "application/xml"))  # fmt: skip
    assert first_step(p.pipeline.steps(req, p.now)).allowed  # a check thread's driver: read in line

    async def decided_while_the_loop_turns() -> tuple[Decision, int]:
        turns = 0
        done = asyncio.Event()

        async def turning() -> None:  # another task on the loop: each turn is the loop answering it
            nonlocal turns
            while not done.is_set():
                turns += 1
                await asyncio.sleep(0)

        other = asyncio.create_task(turning())
        try:
            return await p.pipeline.decide(req, p.now), turns
        finally:
            done.set()
            await other

    decision, turns = asyncio.run(decided_while_the_loop_turns())
    assert decision.allowed
    assert turns > 100  # read in line on the loop, the other task would not have turned once
    small = dataclasses.replace(req, body=RequestBody(b"<a/>", True, "application/xml"))
    assert first_step(p.pipeline.steps(small, p.now), read_bodies=False).allowed  # a short one: in line, no handoff
