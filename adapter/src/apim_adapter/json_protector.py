"""APIM's JSON Validator policy (`jsonValidator` v1): JSON threat protection, as carbon-apimgt runs it.

carbon-apimgt 9.31.86 `gateway/mediators/JsonSchemaValidator` hands a non-GET request whose content type is
`application/json` or `text/json` to `threatprotection/analyzer/JSONAnalyzer`, which walks Jackson's tokens of the
body (`JsonParser.nextToken`, the bytes read as UTF-8) and stops at the first limit reached:

- an object's start adds one to the depth, its end takes one away; past `maxJsonDepth`:
  "Threat Protection-JSON: <API context> - Depth Limit [N] Reached";
- every field name adds one to the property count (one count for the whole body), and is measured: longer than
  `maxKeyLength`: " Max Key Length [N] Reached"; past `maxPropertyCount`: "Max Property Count [N] Reached";
- a string value longer than `maxStringLength`: "Max String Length [N] Reached" (Java's length: UTF-16 units);
- an array's start hands the tokens that follow to `analyzeArray` until the first array end among them: each token
  counts as an element (a nested object's field names and its end too), past `maxArrayElementCount`:
  " Max Array Length [N] Reached"; string values among them are measured; nothing else is looked at there (an
  object inside an array adds no depth, its field names are not counted), and the first nested array's end ends the
  loop, the walk going on from there as outside an array. `walk` reproduces that walk token by token, quirks and all.

A body Jackson cannot read is "Error occurred while parsing the JSON payload" (here: what Python's `json` refuses,
NaN and Infinity included, as Jackson's defaults do; several root values, which Jackson reads one after another,
are read alike, a root number needing whitespace after it; adapter/tests/e2e/test_json_validator_jackson.py holds
this reading to Jackson's own on a corpus of edge cases and generated bodies); nesting deeper than Python's parser
goes (Jackson's own limit is 1,000) is "Error occurred while reading the JSON payload.". Where Jackson would meet a
limit before a syntax error later in the body, the answer here is the syntax error's: the same refusal, another
description. Each description follows "Request is failed due to a JSON schema validation failure: "
(`JsonSchemaValidator`), answered 400 by GatewayUtils.handleThreat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PARSE_ERROR = "Error occurred while parsing the JSON payload"
READ_ERROR = "Error occurred while reading the JSON payload."

# Jackson's tokens, as far as JSONAnalyzer tells them apart.
START_OBJECT, END_OBJECT, START_ARRAY, END_ARRAY, FIELD_NAME, VALUE_STRING, VALUE_OTHER = range(7)
Token = tuple[int, str]


@dataclass(frozen=True, slots=True)
class JsonLimits:
    """A JSON Validator's limits (JSONConfig), each 0 to 999 as its spec allows."""

    max_property_count: int = 100
    max_string_length: int = 100
    max_array_element_count: int = 100
    max_key_length: int = 100
    max_json_depth: int = 100


class Object(list):
    """A JSON object: its members, (name, value) in order, duplicates kept (Jackson streams every one)."""


class Number(str):
    """A JSON number, as written."""


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Jackson's defaults refuse NaN and Infinity


_DECODER = json.JSONDecoder(
    object_pairs_hook=Object, parse_int=Number, parse_float=Number, parse_constant=_no_constants
)


def problem(body: bytes, limits: JsonLimits, api_context: str) -> str | None:
    """Why JSONAnalyzer refuses `body` (its message), or None."""
    try:
        values = parsed(body)
    except RecursionError:
        return READ_ERROR
    except ValueError:
        return PARSE_ERROR
    return walk(iter([token for value in values for token in tokens(value)]), limits, api_context)


def parsed(body: bytes) -> list[object]:
    """The body's root values, as Jackson reads them (objects as `Object`, numbers as `Number`, strings, lists,
    booleans, None); ValueError where it refuses the body, RecursionError where it nests deeper than Python's
    parser goes."""
    text = body.decode("utf-8", errors="replace")  # InputStreamReader's default: malformed bytes replaced
    return list(_root_values(text))


def _root_values(text: str) -> Iterator[object]:
    """Every root value of `text`, in order (Jackson reads one after another). Jackson wants whitespace after a root
    number (`_verifyRootSpace`: `01` is no 0 then 1), and no name character after a literal (`truefalse`)."""
    end = len(text)
    at = _skip_whitespace(text, 0)
    while at < end:
        first = text[at]
        value, at = _DECODER.raw_decode(text, at)
        if at < end and (
            (first in "-0123456789" and text[at] not in _WHITESPACE)
            or (first in "tfn" and (text[at].isalnum() or text[at] in "_$"))
        ):
            raise ValueError("root values run together")
        yield value
        at = _skip_whitespace(text, at)


_WHITESPACE = " \t\n\r"


def _skip_whitespace(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


_START_OBJECT, _END_OBJECT, _START_ARRAY, _END_ARRAY, _OTHER = (
    (START_OBJECT, ""), (END_OBJECT, ""), (START_ARRAY, ""), (END_ARRAY, ""), (VALUE_OTHER, "")
)  # fmt: skip


def tokens(value: object) -> list[Token]:
    """Jackson's token stream of a parsed value (an explicit stack: as deep as the parser went)."""
    out: list[Token] = []
    append = out.append
    stack: list[tuple[Iterator[Any], bool]] = [(iter((value,)), False)]  # (members or items, an object's?)
    while stack:
        items, in_object = stack[-1]
        for item in items:
            if in_object:
                name, item = item
                append((FIELD_NAME, name))
            kind = type(item)
            if kind is Object:
                append(_START_OBJECT)
                stack.append((iter(item), True))
                break
            if kind is list:
                append(_START_ARRAY)
                stack.append((iter(item), False))
                break
            append((VALUE_STRING, item) if kind is str else _OTHER)
        else:
            stack.pop()
            if stack:  # the root has no end of its own
                append(_END_OBJECT if in_object else _END_ARRAY)
    return out


def java_length(text: str) -> int:
    """`String.length()`: UTF-16 code units (a character past U+FFFF is two)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def walk(stream: Iterator[Token], limits: JsonLimits, api_context: str) -> str | None:
    """JSONAnalyzer.analyze over Jackson's tokens: the first limit reached, or None."""
    depth = fields = 0
    for kind, text in stream:
        if kind == START_OBJECT:
            depth += 1
            if depth > limits.max_json_depth:
                return f"Threat Protection-JSON: {api_context} - Depth Limit [{limits.max_json_depth}] Reached"
        elif kind == END_OBJECT:
            depth -= 1
        elif kind == FIELD_NAME:
            fields += 1
            if java_length(text) > limits.max_key_length:
                return f" Max Key Length [{limits.max_key_length}] Reached"
            if fields > limits.max_property_count:
                return f"Max Property Count [{limits.max_property_count}] Reached"
        elif kind == VALUE_STRING:
            if java_length(text) > limits.max_string_length:
                return f"Max String Length [{limits.max_string_length}] Reached"
        elif kind == START_ARRAY:
            refused = _array(stream, limits)
            if refused is not None:
                return refused
    return None


def _array(stream: Iterator[Token], limits: JsonLimits) -> str | None:
    """analyzeArray: the tokens up to the first array end, each an element."""
    for elements, (kind, text) in enumerate(stream, start=1):
        if kind == END_ARRAY:
            return None
        if kind == VALUE_STRING and java_length(text) > limits.max_string_length:
            return f"Max String Length [{limits.max_string_length}] Reached"
        if elements > limits.max_array_element_count:
            return f" Max Array Length [{limits.max_array_element_count}] Reached"
    return None
