"""java_strings.utf8 replaces malformed UTF-8 as the JDK does (harness/java/JavaUtf8.java: `new String(bytes,
UTF_8)` and an InputStreamReader, the two ways APIM's Java turns a form's escapes and an XML body into text), on byte
strings made at random from the bytes UTF-8's decoders tell apart."""

from __future__ import annotations

import random
import shutil

import pytest

from apim_adapter import java_strings
from harness import java_oracle

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK")]

# Leads of each length, continuations at the edges of the ranges leads narrow, an encoded surrogate's, ASCII.
BYTES = [
    0x26,
    0x41,
    0x7F,
    0x80,
    0x8F,
    0x90,
    0x9F,
    0xA0,
    0xBF,
    0xC0,
    0xC2,
    0xDF,
    0xE0,
    0xE1,
    0xED,
    0xEF,
    0xF0,
    0xF4,
    0xF5,
    0xFF,
]


def units(text: str) -> str:
    """The text's UTF-16 units in hex, as the oracle writes Java's."""
    return text.encode("utf-16-be", "surrogatepass").hex()


def test_malformed_utf8_is_replaced_as_the_jdk_replaces_it(tmp_path):
    chosen = random.Random(20261206)
    cases = [b"\xed\xa0\x80", b"\xed\xa0&", b"\xed\xa0", b"\xf4\x90\x80\x80", b"\xe0\x80\x80", b"\xf0\x9f\x98"]
    cases += [bytes(chosen.choice(BYTES) for _ in range(chosen.randint(1, 8))) for _ in range(3000)]
    answers = java_oracle.run("JavaUtf8", tmp_path, [c.hex() for c in cases], tmp_path, java=java_oracle.apim_jvm())
    differ = []
    for data, answer in zip(cases, answers, strict=True):
        decoded, read = answer.split(" ")
        ours = units(java_strings.utf8(data))
        if ours != decoded or ours != read:
            differ.append(f"{data.hex()}: String {decoded}, InputStreamReader {read}, ours {ours}")
    assert not differ, f"{len(differ)} of {len(cases)} differ:\n" + "\n".join(differ[:20])
