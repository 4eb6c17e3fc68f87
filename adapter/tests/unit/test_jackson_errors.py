"""apim_adapter.jackson_errors: Jackson's message for a body readTree cannot read, as the real validator gives it
(each expected text below was taken from harness/oai_validator.py; the whole corpus is held to it in
adapter/tests/e2e/test_jackson_errors_parity.py), and never a crash or a long wait, however deep or long the body."""

from __future__ import annotations

import time

import pytest

from apim_adapter.jackson_errors import first_error
from apim_adapter.schema_validation import _read_json

pytestmark = pytest.mark.unit

S = "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); "
VALUES = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
PLUS = (
    "JSON spec does not allow numbers to have plus signs: enable `JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS`"
)
COMMENT = (
    "maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' not enabled for parser)"
)
NON_NUMERIC = "enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
SPACE = "only regular white space (\\r, \\n, \\t) is allowed between tokens"
DECIMAL = "in numeric value: Decimal point not followed by a digit"
LIMIT = "exceeds the maximum allowed (1000, from `StreamReadConstraints"


def at(line: int, column: int) -> str:
    return f"\n at {S}line: {line}, column: {column}]"


ORACLE = [
    ('{"a":1,}', "Unexpected character ('}' (code 125)): was expecting double-quote to start field name" + at(1, 8)),
    ('"abc', "Unexpected end-of-input: was expecting closing quote for a string value" + at(1, 5)),
    ("01", "Invalid numeric value: Leading zeroes not allowed" + at(1, 2)),
    ("NaN", f"Non-standard token 'NaN': {NON_NUMERIC}" + at(1, 4)),
    ("\x01", f"Illegal character ((CTRL-CHAR, code 1)): {SPACE}" + at(1, 2)),
    ("-", "Unexpected end-of-inputNo digit following sign" + at(1, 2)),
    ("  }", f"Unexpected close marker '}}': expected ']' (for root starting at {S}line: 1])" + at(1, 3)),
    ("[", f"Unexpected end-of-input: expected close marker for Array (start marker at {S}line: 1, column: 1])"
          + at(1, 2)),
    ('{"x": tru}', f"Unrecognized token 'tru': was expecting {VALUES}" + at(1, 10)),
    ('{"a":1}}', None),
    ("[1.x]", f"Unexpected character ('x' (code 120)) {DECIMAL}" + at(1, 3)),
    ("1.x", f"Unexpected character ('x' (code 120)) {DECIMAL}" + at(1, 2)),
    ('{"a"\r\n:\r1 2}', "Unexpected character ('2' (code 50)): was expecting comma to separate Object entries"
                        + at(3, 3)),
    ('["\U0001f600", x]', f"Unrecognized token 'x': was expecting {VALUES}" + at(1, 9)),
    ('"\\u12g4"', "Unexpected character ('g' (code 103)): expected a hex-digit for character escape sequence"
                 + at(1, 6)),
    ('{"a":-Infinity}', f"Non-standard token '-Infinity': {NON_NUMERIC}" + at(1, 15)),
    ("[+1]", f"Unexpected character ('+' (code 43)) in numeric value: {PLUS} to allow" + at(1, 3)),
    ('{"a\nb":1}', "Illegal unquoted character ((CTRL-CHAR, code 10)): has to be escaped using backslash to be "
                   "included in name" + at(1, 4)),
    ("[1 /", f"Unexpected character ('/' (code 47)): {COMMENT}" + at(1, 4)),
    ("[" * 1001, f"Document nesting depth (1001) {LIMIT}.getMaxNestingDepth()`)"),
    ("1" * 1001, f"Number value length (1001) {LIMIT}.getMaxNumberLength()`)"),
    ('{"a":[}', f"Unexpected close marker '}}': expected ']' (for Array starting at {S}line: 1, column: 6])"
                + at(1, 7)),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), ORACLE, ids=[repr(b[:20]) for b, _ in ORACLE])
def test_the_message_is_jacksons(body, message):
    assert first_error(body) == message


def test_a_body_python_refuses_is_refused_with_jacksons_message():
    with pytest.raises(ValueError, match="double-quote to start field name") as refused:
        _read_json('{"a":1,}')
    assert str(refused.value) == ORACLE[0][1]
    with pytest.raises(ValueError, match="nesting depth") as refused:
        _read_json("[" * 100_000)
    assert str(refused.value) == ORACLE[19][1]


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000,
        "[" + "1," * 524_287 + "x]",
        '["' + "a" * (1 << 20) + '", x]',
        "[" + '{"name": "ann", "tags": ["a", "b"], "n": -1.5e3, "ok": true},\n' * 16_000 + "}",
    ],
    ids=["deep-open", "deep-closed", "deep-object", "long-array", "long-string", "long-objects"],
)
def test_a_deep_or_long_body_is_answered_within_a_second(body):
    started = time.perf_counter()
    message = first_error(body)
    assert time.perf_counter() - started < 1
    assert message is not None
    assert message.startswith(("Document nesting depth (1001)", "Unrecognized token 'x'", "Unexpected character ('}'"))
