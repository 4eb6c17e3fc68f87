"""java_regex reads and matches patterns as java.util.regex does (JDK 21's Pattern; the e2e parity test holds it to a
real JDK): the differences from Python's `re` a gateway would otherwise get wrong, Java's refusals with its message,
and what it refuses to guess (Untranslatable)."""

from __future__ import annotations

import random

import pytest

from apim_adapter.java_regex import PatternError, Untranslatable, compile

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("source", "text", "found", "whole"),
    [
        ("^gold$", "gold\r", True, False),  # Dollar: before a final \r, \r\n, U+0085, U+2028 or U+2029 too
        ("^gold$", "gold\u2028", True, False),
        ("^gold$", "gold\n\n", False, False),
        ("gold.", "gold\r", False, False),  # `.` stops at every line terminator
        ("(?d)gold.", "gold\r", True, True),  # but \n under UNIX_LINES
        (r"^\d+$", "\u0663", False, False),  # \d, \s, \w: ASCII
        (r"\s", "\xa0", False, False),
        (r"\w", "é", False, False),
        (r"\bfoo", "éfoo", True, False),  # \b as \w (JDK 19 and later)
        ("(?i)é", "É", False, False),  # CASE_INSENSITIVE folds ASCII only
        ("(?iu)é", "É", True, True),
        ("g(?i)old", "gOLD", True, True),  # a flag midway holds to the end of its group
        ("(g(?i)o)ld", "gOld", True, True),
        ("(g(?i)o)ld", "gOLD", False, False),
        ("[a-z&&[^aeiou]]+", "gld", True, True),  # intersections and nested classes
        ("[^a[b]]", "b", False, False),
        (r"\Qa.b\E", "axb", False, False),  # quoting
        ("(?x) g o # a comment\n ld", "gold", True, True),
        (r"\R", "\r\n", True, True),
        (r"\p{Lu}\p{javaDigit}", "É\u0663", True, True),
        (r"\p{IsGreek}\p{InBasic_Latin}\p{sc=Cyrl}", "\u03b1a\u0436", True, True),  # scripts and blocks, JDK 21's data
        (r"(?U)\w+", "vérifié", True, True),  # Unicode's word characters under (?U)
        (r"\p{IsAlphabetic}\p{javaLowerCase}", "ªª", True, True),  # Other_Lowercase, which Python's data lacks
        (r"\p{IsEmoji}", "\U0001f600", True, True),
        (r"\x{1F600}", "\U0001f600", True, True),
        (r"\N{LATIN SMALL LETTER A}", "a", True, True),
        (r"\N{null}\N{CJK UNIFIED IDEOGRAPHS 4E00}", "\x00\u4e00", True, True),  # Java's names, not Python's
        ("(?<=ab|c)d", "cd", True, False),  # a look-behind's branches of different lengths
        ("(?<year>\\d{4})-\\k<year>", "2026-2026", True, True),
        ("a{2}{3}", "aaaaaa", True, False),  # a second count repeats nothing: `a{2}` and three empty texts
    ],
)
def test_a_pattern_matches_as_javas_does(source, text, found, whole):
    pattern = compile(source)
    assert (pattern.find(text), pattern.matches(text)) == (found, whole)


SEQUENCE = "LATIN CAPITAL LETTER A WITH MACRON AND GRAVE"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("(unclosed", "Unclosed group near index 9\n(unclosed"),
        ("a{,2}", "Illegal repetition near index 2\na{,2}\n  ^"),  # Python's re reads a count
        ("*a", "Dangling meta character '*' near index 0\n*a\n^"),
        ("[b-a]", "Illegal character range near index 3\n[b-a]\n   ^"),
        (r"\y", "Illegal/unsupported escape sequence near index 1\n\\y\n ^"),
        ("(?<n>a)(?<n>b)", "Named capturing group <n> is already defined near index 11\n(?<n>a)(?<n>b)\n           ^"),
        (r"\p{Xx}", "Unknown character property name {Xx} near index 5\n\\p{Xx}\n     ^"),
        ("x{99999999999}", "Illegal repetition range near index 11\nx{99999999999}\n           ^"),
        ("\tx)", "Unmatched closing ')' near index 1\n\tx)\n\t^"),
        # A named sequence: a name of Python's, two characters (it crashed the reader), no name of Java's.
        (
            r"\N{" + SEQUENCE + "}",
            f"Unknown character name [{SEQUENCE}] near index 47\n\\N{{{SEQUENCE}}}\n" + " " * 47 + "^",
        ),
    ],
)
def test_a_pattern_java_refuses_is_refused_with_its_message(source, message):
    with pytest.raises(PatternError) as raised:
        compile(source)
    assert str(raised.value) == message


@pytest.mark.parametrize("source", [r"\X", r"\b{g}", "(?<=a+)b", "(?c)a", r"(a*\1)+"])
def test_a_pattern_python_cannot_match_as_java_does_is_refused_not_guessed(source):
    with pytest.raises(Untranslatable):
        compile(source)


@pytest.mark.parametrize(
    "source",
    ["(" * 300 + "a" + ")" * 300, "[" * 3000, "(a|" * 5000, r"\p{L}" * 200, r"\b" * 100],
    ids=["groups nested 300 deep", "classes nested 3000 deep", "5000 open groups", "200 letter classes", "100 \\b"],
)
def test_a_pattern_past_the_adapters_limits_is_refused_quickly_never_a_crash(source):
    """An API key's referer patterns come from a subscriber: nesting past Python's stack, or a pattern whose written-out
    classes would take megabytes, is refused (Untranslatable; the key's check then refuses the call), not a crash."""
    with pytest.raises(Untranslatable):
        compile(source)


def test_no_pattern_crashes_the_reader():
    """Whatever an admin or a subscriber writes, the answer is a pattern, PatternError or Untranslatable: never
    another exception (a named sequence's name, a lone surrogate in a name, a count past Java's int each did)."""
    rng = random.Random(20261205)
    pieces = [*"\\()[]{}*+?|^$.-&,<>=!#:0123456789abcdefxuNpPkQEcbBdDsSwWhHvVRXZzAGnrtf ", "\\N{", "\\p{", "\\x{",
              "\\k<", "(?<", "(?", "\U0001f600", "\ud800", "é", "\x00", "(?x)", "(?i)", "(?U)", "(?iu)", "&&", "\\Q",
              "\\E", "Is", "In", "sc=", "blk=", "gc=", "LATIN", "Lu", "java", "Alpha", "{2147483648}", "(?<=",
              "\\9"]  # fmt: skip
    for _ in range(20_000):
        source = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 16)))
        try:
            pattern = compile(source)
        except (PatternError, Untranslatable):
            continue
        pattern.find("a\u00e9\n1 \U0001f600\ud800")
        pattern.matches("x")
