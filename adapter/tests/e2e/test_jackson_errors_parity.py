"""A body that is not JSON is answered as APIM's Schema Validation answers it: "Unable to parse JSON - " and the
message jackson-core 2.17.2 throws as databind's readTree reads the body (apim_adapter/jackson_errors.py), its
location included, held to the real validator (harness/oai_validator.py) for a hand corpus covering each error site
of ReaderBasedJsonParser and for bodies made at random by mutating valid documents."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from apim_adapter.jackson_errors import first_error
from apim_adapter.schema_validation import Definition, request_of
from harness import oai_validator
from harness.oai_validator import JSON, body_api, case

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not oai_validator.available(), reason="needs javac and .tools/oai-validator (make setup)"),
]

PARSE = "Schema validation failed in the Request: Unable to parse JSON - "

DEEP = "[" * 1001 + "]" * 1001
CORPUS = [
    # root: each character that cannot start a value, close markers, separators, the end
    "}", "]", "  }", "\n]", ",", ":", "'a'", "a", "é", "\U0001f600", "@", ".5", "+1", "+", "-", "-a", "-.5", "#",
    "/", "//x", "/* x */ 1", "# x\n1", "\x01", "\x7f", " \x00", "\x1f[1]", "\u00a0", "\ufeff{}", "\u2028",
    # after `{`, after a name, after `:`, after a value in an object, after `,`
    "{", "{ ", "{]", "{1}", "{a:1}", "{'a':1}", '{"a"', '{"a" 1}', '{"a"}', '{"a",1}', '{"a";1}', '{"a":',
    '{"a": }', '{"a":]', '{"a":,}', "{\"a\":'x'}", '{"a":1', '{"a":1 "b":2}', '{"a":1]', '{"a":1,', '{"a":1,}',
    '{"a":1,]', '{"a":1,,}', '{"a":1,1}', '{"a":1 /', '{"a" /*c*/ :1}', '{"a":#1}', '{"a"\x01:1}', '{\x02}',
    # after `[`, after a value in an array, after `,`
    "[", "[ ", "[}", "[1", "[1 2]", "[1}", "[1,", "[1,]", "[1,,2]", "[,1]", "[1:2]", "[1;2]", "[1,}", "[[]", "[{]",
    '[{"a":1]', "[[1]}", "[1\x03]", "[1,\x04]", "[\t1\x05",
    # strings: control characters, escapes, \u escapes, surrogates escaped and raw, the end inside
    '"abc', '"', '"\\', '"\\u', '"\\u12', '"\\u12g4"', '"\\uZZZZ"', '"\\x"', '"\\\'"', '"\\a"', '"\\U0041"',
    '"a\nb"', '"a\tb"', '"\x00"', '"\x1f"', '["a\rb"]', '{"a\nb":1}', '{"a\\q":1}', '{"\\u00g0":1}', '{"ab',
    '{"a\\', '"\\ud800"x', '["\\ud800", "\\udc00\\ud800", 1 2]', '["\ud800", x]', '["\udfff\ud800" "a"]',
    '["\U0001f600", x]', '{"\U0001f600\U0001f600": tru}', '"\U0001f600\x01"',
    # numbers
    "-", "-a", "1.", "1.e5", "1e", "1e+", "1e-", "1E+x", "01", "-01", "00", "0.0.1", "1.5.5", "[1.5.5]", "1.5e",
    "[1.]", "[1.e5]", "[1e]", "[1e+]", "[01]", "[-01]", "[-]", "[-a]", "[+1]", "[.5]", "[1.5e3.2]", "-0x1", "0x10",
    "1x", "1.5x", "1e5x", "-1_", "1\x01", "1\r\n2", "1\n2", "12abc", "[1e999999999, 1e]", "1e99999999999999",
    "1" * 1001, "-" + "1" * 1000 + "x", "1." + "1" * 1000 + " ", "[" + "1" * 1001 + "]", "[0." + "2" * 1000 + "]",
    '{"a":-}', '{"a":-x}', '{"a":1.}', '{"a":1e}', '{"a":01}', '{"a":+1}', '{"a":.1}', '{"a":1x}', '[-Infinity]',
    # literals
    "tru", "truex", "nulll", "falsey", "[tru]", "[truex]", "[nulll]", "[falsey]", "[t]", "[n", "[fals", "[true1]",
    '{"a":tru}', '{"a":nul}', '{"a":falsee}', "[True]", "[NULL]", "[trueé]", "[true\u00e9]", "[nullx" + "y" * 300 + "]",
    "NaN", "[NaN]", "[Nan]", "Infinity", "[Infinity]", "[Infinit]", "-Infinity", "+Infinity", "-INF", "+INF", "-Inf",
    "[-Infinityx]", "[+Infinity]", "[-I]", "-I", "[undefined]", "[$x]", "[_x]",
    # identifier characters Unicode 15 added (JDK 21's, APIM's JVM): a CJK ideograph, a Kannada mark, a Kaktovik digit
    "[true\U00031350x]", "[nulx\u0cf3]", "[false\U0001d2c0]", "[x\U00031350]",
    # comments and single quotes
    "//", "/*", "/* c */", "[1 //c\n]", "[1, /*c*/ 2]", '{"a":1 #c\n}', "['a']", "{'a':'b'}", "[#]",
    # mismatched close markers at each depth
    "[]]", "[[]}", "[[[]]}", '{"a":[}', '{"a":{]', '[{"a":[{"b":1}]]]', '{"a":[1,2}', '[[[[[}',
    # several lines before the error: \n, \r\n, a lone \r
    '{\n"a":\n1\n,\n}', '{\r\n"a":\r\n1,\r\n}', '{\r"a":\r1,\r}', "[\n1,\n2\n\n", "[1,\r\r\r\n\n\rx]",
    '{\n  "a": [\n    1,\n    2\n  ],\n  "b": tru\n}', '[\n"a\n"]', "\n\n  01",
    # characters outside the BMP before the error
    '["\U0001f600\U0001f600", }', '{"\U0001f600": 1, "b" 2}', '["\U0001f600"]]', '["\U00010000\U0010ffff",\n tru]',
    # nesting
    DEEP, "[" * 1000 + "]" * 1000, "[" * 1000, '{"a":' * 1001 + "1" + "}" * 1001, "[{" * 600,
    '[{"a":' * 500 + "[" + "}]" * 500, "[" * 999 + "{" + "}" + "]" * 999,
]  # fmt: skip

# Where the adapter and Jackson disagree on whether the body is JSON at all, so the adapter's description is not
# APIM's (the port's message is held to Jackson's all the same): 1,000 levels of nesting, which Jackson reads and
# Python's decoder does not (the adapter refuses it, "Document nesting depth exceeds the maximum allowed").
KNOWN_ACCEPTED = {"[" * 1000 + "]" * 1000, "[" * 999 + "{" + "}" + "]" * 999}


def adapter_verdict(body: str) -> str | None:
    c = body_case(body)
    return Definition.parse(c["definition"]).detail(request_of(c["method"], c["path"], c["headers"], c["body"]))


def body_case(body: str) -> dict[str, Any]:
    return case(body_api({"type": "object"}), headers={"Content-Type": JSON}, body=body)


def jackson(want: str | None) -> str | None:
    """The Jackson message in APIM's description, None where it has none."""
    if want is None or not want.startswith(PARSE):
        return None
    return want[len(PARSE) : -len("., ")]


def compare(bodies: list[str], expected: list[str | None], known: set[str]) -> list[str]:
    differ = []
    for body, want in zip(bodies, expected, strict=True):
        port = first_error(body)
        got = adapter_verdict(body)
        if port != jackson(want):
            differ.append(f"{body[:200]!r}\n  APIM:    {want!r}\n  port:    {port!r}")
        elif got != want and body not in known:
            differ.append(f"{body[:200]!r}\n  APIM:    {want!r}\n  adapter: {got!r}")
    return differ


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("jackson")


def test_each_error_site_of_the_hand_corpus_is_reported_as_jackson_reports_it(workdir):
    bodies = list(dict.fromkeys(CORPUS))
    expected = oai_validator.verdicts([body_case(b) for b in bodies], workdir)
    differ = compare(bodies, expected, KNOWN_ACCEPTED)
    assert not differ, f"{len(differ)} of {len(bodies)} differ:\n" + "\n".join(differ)
    assert sum(jackson(w) is not None for w in expected) >= 200


# Valid documents, and the characters a mutation puts in: JSON's own, white space and controls, escapes, letters of
# the literals, digits and what numbers take, characters outside Latin-1 and the BMP.
DOCUMENTS = [
    {"name": "ann", "id": 3, "tags": ["a", "b"], "address": {"city": "x", "zip": "12345"}},
    [1, -2.5, 3e10, True, False, None, "s", {"k": [[], {}]}],
    {"a": {"b": {"c": [1, {"d": "e\u00e9\U0001f600"}]}}, "f": -0.0, "g": '\n\t"\\/'},
    [{"x": 1}, {"y": [1, 2, 3]}, "\u2028", 12345678901234567890, 1.5e-7],
    {"": "", "k": [True, None, False], "n": 0, "s": "a b c"},
]
ALPHABET = [*'{}[]:,"\\', " ", "\t", "\n", "\r", "\r\n", "\x00", "\x01", "\x1f", "\x7f", *"0123456789-+.eE",
            *"tfnrulsaeINxy_$#/*'", "\\u", "\\ud800", "\\u00", "\u00e9", "\u00a0", "\u2028", "\ud800", "\U0001f600",
            "true", "null", "false", "NaN", "Infinity", "//", "/*"]  # fmt: skip


def mutate(chosen: random.Random) -> str:
    text = json.dumps(chosen.choice(DOCUMENTS), ensure_ascii=chosen.random() < 0.3, indent=chosen.choice([None, 1]))
    if chosen.random() < 0.3:
        text = text.replace("\n", chosen.choice(["\r\n", "\r", "\n"]))
    for _ in range(chosen.randint(1, 3)):
        at = chosen.randrange(len(text) + 1)
        kind = chosen.randrange(3)
        if kind == 0:  # delete
            text = text[:at] + text[at + chosen.randint(1, 3) :]
        elif kind == 1:  # insert
            text = text[:at] + chosen.choice(ALPHABET) + text[at:]
        else:  # replace
            text = text[:at] + chosen.choice(ALPHABET) + text[at + 1 :]
    return text


def test_bodies_made_at_random_are_reported_as_jackson_reports_them(workdir):
    chosen = random.Random(20240917)
    bodies: list[str] = []
    while len(bodies) < 2000:
        body = mutate(chosen)
        if body.strip(" \t\r\n"):  # a blank body is no JSON to read (APIM answers it otherwise)
            bodies.append(body)
    expected = oai_validator.verdicts([body_case(b) for b in bodies], workdir)
    differ = compare(bodies, expected, set())
    assert not differ, f"{len(differ)} of {len(bodies)} differ:\n" + "\n".join(differ)
    assert sum(jackson(w) is not None for w in expected) > 1000  # most mutations break the document


# Numbers in a body longer than 32,768 UTF-16 units, which Jackson reads through a Reader 4,000 units at a time
# (a fresh validator's token buffer): where the buffer ends inside a number, it is read again on the slow path.
LONG_NUMBERS = ["1.x", "1ex", "1e+x", "-1.x", "-12.5ex", "0.5e-x", "1.5", "1.", "-", "1." + "1" * 1000,
                "-0." + "2" * 999 + "e1", "7" * 1001]  # fmt: skip


def test_numbers_across_the_read_buffers_of_a_long_body_are_reported_as_jackson_reports_them(workdir):
    bodies = []
    for number in LONG_NUMBERS:
        for shift in sorted({0, 1, 2, 3, len(number) // 2, len(number) - 1, len(number)}):
            start = 40_000 - shift  # the number's first character, `shift` units before a buffer's end
            bodies.append("[" + " " * (start - 1) + number + "]")
    expected = oai_validator.verdicts([body_case(b) for b in bodies], workdir)  # one validator: no other parse first
    differ = compare(bodies, expected, set())
    assert not differ, f"{len(differ)} of {len(bodies)} differ:\n" + "\n".join(differ)
