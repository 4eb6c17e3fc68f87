"""APIM's Regex Policy (`regexPolicy` v1), as carbon-apimgt's RegularExpressionProtector runs it with the values
product-apim v4.5.0's template sets: APIM's SQL-injection pattern, case-insensitive, searched in the transport
headers as Java writes a map and in the path and query after the API's context, URL-decoded; 400 on a match. The
body check is not made here, and is named. Behind Envoy: adapter/tests/e2e/test_operation_policies_gateway.py."""

from __future__ import annotations

import copy
import random
import re
import time

import pytest

from apim_adapter import threats
from apim_adapter.catalog import build
from apim_adapter.mediation import THREAT_IN_HEADERS, THREAT_IN_QUERY, ThreatCheck
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


def test_its_body_check_is_named_as_not_made():
    catalog = build(guarded(), lenient=True)
    [note] = [n for n in catalog.unenforced if "operation policies" in n]
    assert note.endswith(
        "regexPolicy v1 (request, GET /anything/*): its body check (headers, path and query are checked)"
    )


# ---- the pattern, found in linear time ----

# The pattern exactly as Java runs it: `.` matches no line terminator, case-insensitive for ASCII letters only.
JAVA_DOT = "[^" + threats.TERMINATORS + "]"
REFERENCE = re.compile(threats.AS_SYNAPSE_READS.replace(".*", JAVA_DOT + "*"), re.IGNORECASE | re.ASCII)
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
    wrong = [t for t in texts if threats.found(t) != bool(REFERENCE.search(t))]
    assert wrong == []


def test_a_long_header_without_a_match_is_searched_in_linear_time():
    """Searched as written, 8 KB took 3 s and 60 KB minutes; a client sends up to Envoy's header limit."""
    text = "{x-a=" + "b" * 60_000 + ", x-b=" + "select " * 5_000 + "     " * 2_000 + "}"
    started = time.process_time()
    assert not threats.found(text)
    assert time.process_time() - started < 0.5  # CPU seconds: milliseconds here, whatever the machine's load
