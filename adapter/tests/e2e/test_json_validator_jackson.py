"""The JSON Validator's reading of a body held to Jackson's own (harness/jackson.py): for every body of a corpus of
edge cases and of generated documents, json_protector reads the same tokens, names and strings Jackson's parser
gives APIM's JSONAnalyzer, and refuses what Jackson refuses."""

from __future__ import annotations

import json
import random

import pytest

from apim_adapter.json_protector import parsed, tokens
from harness import jackson

pytestmark = pytest.mark.skipif(not jackson.available(), reason="needs javac and .tools/qpid (make setup)")

EDGES = [
    b'{"a": 1, "a": 2}', b'{"k": [1, [2, [3, {"x": null}]], true, false, -0.5e3]}', b"[]", b"{}", b'""',
    b'{"a":1}{"b":2}', b"1 2", b'"a" "b"', b'"a""b"', b"[1][2]", b"01", b"1.", b"-", b"+1", b".5", b"1e", b"1e+",
    b"truefalse", b"true false", b"nul", b"NaN", b"Infinity", b"-Infinity", b"[1,]", b'{"a":1,}', b"[1 2]",
    b"{'a': 1}", b'{"a" 1}', b'{"a":}', b'{a: 1}', b"// c\n{}", b"/* c */{}", b'["\\u00e9\\ud83d\\ude00"]',
    b'["\\ud800"]', b'["\\udc00x"]', b'"\\x"', b'"\\u12"', b'"tab\there"', b'"nl\nhere"', b'"\x7f"',
    "\u00e9\u4e2d\U0001f600".join(['["', '"]']).encode(), b'["\xff\xfe"]', b'["\xc3"]', b'["\xe2\x82"]',
    b"\xef\xbb\xbf{}", b" \t\r\n{} \t\r\n", b"\x0c{}", b"{}\x00", b"[" * 500 + b"]" * 500, b"[" * 2000 + b"]" * 2000,
    b'{"a": [' + b"1," * 999 + b"1]}", b"12345678901234567890123456789", b"1E400", b"-0", b"0.0e-0",
    b"1[2]", b'1"a"', b"1 ", b"1\t2", b"true[1]", b"true1", b"null_", b"false$", b'true"a"', b"[1]1", b'"a"1',
    b"{}true",
]  # fmt: skip


def generated(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 5 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 3.25, 1e21, 10**30, -2.5e-7])
    if kind in (2, 3, 4):
        return "".join(rng.choice(["a", "'", "\u00e9", "\U0001f600", "\n", '"', "\\", "\x01", " "]) for _ in range(5))
    if kind in (5, 6):
        return [generated(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["k", "key", "$k", "1k", ""]): generated(rng, depth + 1) for _ in range(rng.randrange(4))}


def corpus() -> list[bytes]:
    rng = random.Random(20261205)
    documents = [json.dumps(generated(rng), ensure_ascii=rng.random() < 0.5).encode() for _ in range(300)]
    mangled = [d[: rng.randrange(len(d) + 1)] for d in documents[:100]]  # cut anywhere: most no longer JSON
    return EDGES + documents + mangled


NAMED = (4, 5)  # a field name's or a string's tokens carry their text; the others are compared by kind


def ours(body: bytes) -> list[tuple[int, str]] | None:
    """json_protector's tokens of `body` (unpaired surrogates as U+FFFD, as Java writes them out), None where it
    refuses the body."""
    try:
        values = parsed(body)
    except (ValueError, RecursionError):
        return None
    return [(kind, text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace") if kind in NAMED else "")
            for value in values for kind, text in tokens(value)]  # fmt: skip


def test_bodies_are_read_into_the_tokens_jackson_reads_and_refused_where_jackson_refuses_them(tmp_path):
    bodies = corpus()
    jacksons = [None if read is None else [(kind, text if kind in NAMED else "") for kind, text in read]
                for read in jackson.tokens_of(bodies, tmp_path)]  # fmt: skip
    assert sum(read is None for read in jacksons) > 60  # the corpus has bodies Jackson refuses, and many it reads
    differ = [body[:80] for body, theirs in zip(bodies, jacksons, strict=True) if ours(body) != theirs]
    assert differ == []
