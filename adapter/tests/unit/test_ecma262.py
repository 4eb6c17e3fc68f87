"""ECMA 262 patterns as Rhino reads and runs them (apim_adapter/ecma262.py), where Python's `re` would read the same
text otherwise: each behaviour here is one of Rhino 1.7.7.1's NativeRegExp, and the real engine is held to the same
answers, and thousands more, in adapter/tests/e2e/test_ecma262_parity.py."""

from __future__ import annotations

import re

import pytest

from apim_adapter import ecma262


@pytest.mark.parametrize(
    ("pattern", "text", "python", "rhino"),
    [
        ("^[a-z]+$", "abc\n", True, False),  # `$` is the end of the text
        ("^.+$", "a\rb", True, False),  # `.` is no line terminator: \r and U+2028 neither
        ("^.+$", "a\u2028b", True, False),
        ("^\\s$", "\u00a0", False, True),  # white space is JavaScript's, U+00A0 and U+FEFF with it
        ("^\\s$", "\ufeff", False, True),
        ("^\\S+$", "ab\u00a0", True, False),
        ("^.$", "\U0001f600", True, False),  # an emoji is two UTF-16 units
        ("(a)|\\1b", "b", False, True),  # a group that took no part: the empty text
        ("^\\Z$", "Z", False, True),  # an escaped letter with no meaning is the letter
        ("^\\B$", "", False, True),  # Rhino's \B holds in an empty text
    ],
)
def test_a_pattern_matches_what_rhino_matches_where_pythons_re_would_answer_otherwise(pattern, text, python, rhino):
    try:
        as_python = re.search(pattern, text, re.ASCII) is not None
    except re.error:
        as_python = False
    assert as_python is python
    assert ecma262.compiled(pattern).test(text) is rhino


@pytest.mark.parametrize(
    ("pattern", "texts"),
    [
        ("a{", ["a{"]),  # no quantifier: the brace is itself
        ("{1}", ["{1}"]),
        ("\\x4g", ["x4g"]),  # \x without two hex digits: the letter
        ("\\c1", ["\\c1"]),  # \c without a letter: the backslash
        ("^\\8$", ["\\8"]),  # past the groups, \8 is a backslash and the digit
        ("^(a)\\10$", ["a\x08"]),  # and \10 octal
        ("^[\\b]$", ["\x08"]),  # a backspace in a class
        ("^[\\d-z]$", ["-", "5", "z"]),  # a class escape cannot start a range: the hyphen is itself
        ("^[^]$", ["\n"]),
    ],
)
def test_escapes_and_braces_are_read_as_rhino_reads_them(pattern, texts):
    compiled = ecma262.compiled(pattern)
    assert all(compiled.test(text) for text in texts), compiled.regex


@pytest.mark.parametrize(
    "pattern",
    ["*a", "a**", "a{2}+", "^*", "\\b+", "(?<=a)b", "(?<n>a)", "(?P<n>a)", "(?i)a", "a++", "(", "a)", "[a",
     "[b-a]", "[a-\\d]", "a{2,1}", "a{65535}", "\\99999", "\\"],
)  # fmt: skip
def test_what_rhino_refuses_is_refused(pattern):
    assert ecma262.compiled(pattern).regex is None
    assert ecma262.check(pattern) == (False, None)


def test_where_rhinos_parser_reads_past_the_end_the_place_is_given():
    # parseTerm reads the character after a count's digits without looking for the end of the pattern.
    assert ecma262.compiled("a{1").overrun == ecma262.Overrun(3, 3)
    assert ecma262.check("a{1,") == (False, ecma262.Overrun(4, 4))
    assert ecma262.Overrun(3, 3).exception() == (
        "java.lang.ArrayIndexOutOfBoundsException: Index 3 out of bounds for length 3"
    )


def test_a_clients_text_is_checked_without_being_compiled_or_kept():
    before = ecma262.compiled.cache_info().currsize
    assert ecma262.check("^[a-z]{1,8}$" + "x" * 100_000) == (True, None)
    assert ecma262.check("(" * 10_000) == (False, None)  # nested past what is parsed: refused, never a crash
    assert ecma262.compiled.cache_info().currsize == before
