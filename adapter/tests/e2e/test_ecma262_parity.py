"""The adapter's ECMA 262 patterns (apim_adapter/ecma262.py) take, refuse and match as Rhino's RegExp, which APIM's
Schema Validation runs them through (fge's RegexECMA262Helper, json-schema-core 1.2.10 with Rhino 1.7.7.1, the
jars harness/oai_validator.py runs): each pattern of the corpus as a string's `pattern`, with a text, answered
alike: matched, not matched, refused (fge's syntax report), or Rhino's parser failing on it. The corpus: cases read
from Rhino's parser (NativeRegExp), and patterns made at random from the characters that parser treats apart."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from apim_adapter import ecma262
from harness import oai_validator
from harness.oai_validator import json_case

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not oai_validator.available(), reason="needs javac and .tools/oai-validator (make setup)"),
]

# (pattern, text): line ends and white space, classes, escapes Rhino backs off from, backreferences and octal,
# quantifiers and braces, groups Python has and Rhino has not, UTF-16 units.
HAND = [
    ("^[a-z]+$", "abc\n"),
    ("^[a-z]+$", "abc"),
    ("^.+$", "a\rb"),
    ("^.+$", "a\u2028b"),
    ("^.+$", "a\nb"),
    ("^\\s$", "\xa0"),
    ("^\\s$", "\ufeff"),
    ("^\\s$", "\u3000"),
    ("^\\s$", "\u180e"),
    ("^\\s$", "\x85"),
    ("^\\s$", "\u2007"),
    ("^\\s$", "\u200b"),
    ("^\\s$", "\x1c"),
    ("^\\S$", "\xa0"),
    ("^[\\S]$", "\xa0"),
    ("^[^\\s]$", "\xa0"),
    ("^[a\\S]$", " "),
    ("^\\d$", "٣"),
    ("^\\w$", "é"),
    ("\\bx", "éx"),
    ("(?<=a)b", "ab"),
    ("(?P<n>a)", "a"),
    ("(?<n>a)", "a"),
    ("(?i)a", "A"),
    ("a*+", "aaa"),
    ("a++", "a"),
    ("(?>a)", "a"),
    ("(?#c)a", "a"),
    ("\\Aa", "a"),
    ("a\\Z", "a"),
    ("\\Za", "Za"),
    ("\\e", "e"),
    ("\\q", "q"),
    ("\\N", "N"),
    ("\\cJ", "\n"),
    ("\\c", "\\c"),
    ("\\c1", "\\c1"),
    ("[]", "a"),
    ("[^]", "a"),
    ("[]a]", "a]"),
    ("[]a]", "]"),
    ("a{", "a{"),
    ("{1}", "{1}"),
    ("a{1", "a{1"),
    ("x{2,}", "xx"),
    ("}", "}"),
    ("]", "]"),
    ("\\0", "\x00"),
    ("\\x41", "A"),
    ("\\x4", "x4"),
    ("\\u0041", "A"),
    ("\\u41", "u41"),
    ("[\\b]", "\x08"),
    ("[\\B]", "B"),
    ("\\/", "/"),
    ("(a)\\1", "aa"),
    ("\\1(a)", "a"),
    ("(a)\\2", "a\x02"),
    ("[[a]", "["),
    ("[a&&b]", "&"),
    ("[a--b]", "-"),
    ("[a||b]", "|"),
    ("[~~]", "~"),
    ("^$", ""),
    ("$^", ""),
    ("a$", "a\n"),
    ("^a", "\na"),
    ("a.c", "a\x85c"),
    ("[^a]", "\n"),
    ("\\u{41}", "A"),
    ("\\p{L}", "p{L}"),
    ("a{,2}", "a{,2}"),
    ("(", "("),
    ("[", "["),
    ("*a", "a"),
    ("a**", "a"),
    ("a??", "a"),
    ("a{2}?", "aa"),
    ("a{2}+", "aa"),
    ("\\", "\\"),
    ("(?=a)a", "a"),
    ("(?!b)a", "a"),
    ("?", "a"),
    ("^(?:a)?$", ""),
    ("a|?", "a"),
    ("(?:)", "a"),
    ("()", "a"),
    ("a{1,", "a{1,"),
    ("a{1,2", "x"),
    ("a{99999999999}", "a"),
    ("\\cé", "\\cé"),
    ("[\\x4]", "4"),
    ("[\\x4]", "\\"),
    ("[\\u00]", "u"),
    ("[a-\\d]", "-"),
    ("[\\w-\\d]", "-"),
    ("(?=a)+b", "ab"),
    ("(?!a){2}", "b"),
    ("\\b+", "a"),
    ("^+", "a"),
    ("$*", "a"),
    ("^\\s$", "\u1680"),
    ("^\\s$", "\u202f"),
    ("^\\s$", "\u205f"),
    ("^\\s$", "\u2028"),
    ("^\\s$", "\x0b"),
    ("^\\s$", "\u200a"),
    ("^\\x4$", "\x04"),
    ("^\\u41$", "A"),
    ("^\\x4g$", "\x04g"),
    ("^\\x4g$", "x4g"),
    ("^.$", "😀"),
    ("^..$", "😀"),
    ("^[😀]$", "😀"),
    ("^\\8$", "8"),
    ("^\\8$", "\\8"),
    ("^\\08$", "\x008"),
    ("^\\012$", "\n"),
    ("^[\\1]$", "\x01"),
    ("(a)|\\1b", "b"),
    ("^a{2,1}$", "a"),
    ("^[\\d-z]$", "-"),
    ("^[\\s-z]$", "-"),
    ("^(?:a|{2})$", "{2}"),
    ("^({2})$", "{2}"),
    ("^a|*$", "a"),
    ("^[^\\S]$", "\xa0"),
    ("^[^\\S\\d]$", "1"),
    ("^\\$", "$"),
    ("^[$]$", "$"),
    ("\\bé", "aé"),
    ("^\\W$", "é"),
    ("(?=a)*", "b"),
    ("^a{1}{2}$", "a"),
    ("^a{1}{2}$", "a{2}"),
    ("^\\ca$", "\x01"),
    ("^[\\cJ]$", "\n"),
    ("^[\\c]$", "c"),
    ("^[\\c]$", "\\"),
    ("^\\k$", "k"),
    ("^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10$", "abcdefghijj"),
    ("^(a)\\10$", "a\x08"),
    ("[\\", "x"),
    ("[\\d-0]", "x"),
    ("[\\d-\\w]", "x"),
    ("[\\cA-z]", "\x01"),
    ("[\\cz-A]", "x"),
    ("^[\\x]$", "\\"),
    ("^[\\x]$", "x"),
    ("^[\\xg]$", "g"),
    ("^\\x$", "\x00"),
    ("^\\c$", "\\c"),
    ("^[^]$", "\n"),
    ("^[]$", ""),
    ("^\\1(a)$", "a"),
    ("^(a\\1)$", "a"),
    ("(a)\\1{2}", "aaa"),
    ("^\\11$", "\t"),
    ("^\\400$", " 0"),
    ("^\\0400$", " 0"),
    ("^[\\400]$", "4"),
    ("^[\\377]$", "ÿ"),
    ("^a{65534}$", "a"),
    ("^a{65535}$", "a"),
    ("^a{2,65535}$", "a"),
    ("x{1}?", "x"),
    ("^(?:)$", ""),
    ("^a|b$", "xb"),
    ("^(a|)+$", "aa"),
    ("\\u00e9", "é"),
    ("^\\w+$", "abc_9"),
    ("^[a-]$", "-"),
    ("^[-a]$", "-"),
    ("^[a\\-z]$", "-"),
    ("^[\\]]$", "]"),
    ("^[^\\]]$", "]"),
    ("^\\/$", "/"),
    ("^\\-$", "-"),
    ("^\\ $", " "),
    ("(", ")"),
    ("a)", "a)"),
    ("^[\\b]$", "b"),
    ("^[\\B]$", "\\"),
    ("\\B", "ab"),
    ("^\\B$", ""),
    ("^\\d{3}-\\d{4}$", "555-1234\n"),
    ("^[A-Z]{2}\\d+$", "AB12\r"),
    ("^.*$", "a\u2029"),
    ("^[^\\n]*$", "a\r"),
    ("^\\S+$", "ab\xa0"),
    ("^\\S+$", "ab\x85"),
    ("^[\\S\\s]*$", "any\nthing"),
    ("^(?!x).*$", "xa"),
    ("^(?=.*\\d).+$", "ab1"),
    ("a{,}", "a{,}"),
    ("a{1,2}{3}", "a{3}"),
]

ATOMS = [*"ab.^$|()[]{}*+?-,\\0129", "\\d", "\\s", "\\S", "\\w", "\\W", "\\D", "\\b", "\\B", "\\1", "\\2",
         "\\8", "\\0", "\\x4", "\\x41", "\\u0041", "\\u00", "\\c", "\\cA", "\\n", "\\r", "\\t", "\\v",
         "\\f", "\\/", "\\$", "\\.", "(?:", "(?=", "(?!", "{2}", "{1,}", "{1,2}", "{,", "[^", "\u00a0", "\n",
         "\r", "é", "\U0001f600", "\u2028", "\ufeff"]  # fmt: skip
TERMS = ["a", "b", ".", "\\d", "\\s", "\\S", "\\w", "\\b", "\\B", "[a-c]", "[^a]", "[\\s\\d]", "[\\S]", "\\1",
         "é", "\u00a0", "\\x41", "\\cA", "1", "-", "\\\\", "\\n", "$", "^"]  # fmt: skip
QUANTIFIERS = ["", "", "*", "+", "?", "{2}", "{1,}", "{0,2}", "*?", "+?"]
SHAPES = ["{}", "^{}$", "({})", "(?:{})+", "{}|b", "(a)|{}", "^({})\\1$", "^(?={})"]
TEXTS = ["", "a", "b", "ab", "aab", "a\n", "\na", "a b", "a\u00a0b", "1", "12", "a1", "\\", "x", "A", "{2}", "]",
         "[", "-", "\U0001f600", "ba", "a\r", "\u0001", "\t", "ab\n", "\u2028", "\ufeff", "\u0004", "$", ".",
         "/", "\u0000"]  # fmt: skip


def made_at_random(count: int) -> list[tuple[str, str]]:
    """Patterns of the characters Rhino's parser treats apart, half of them any sequence (most are refused) and half
    terms in shapes that parse. Rhino's interpreter leaves a lookahead undecided where its body can end by matching
    nothing without an operation of its own (`(?=)`, `(?=a|)`, `(?=a*?)`), a defect apim_adapter/ecma262.py names:
    the sequences hold no lookahead, and the shapes' lookahead no lazy quantifier."""
    chosen = random.Random(20261205)
    cases = []
    while len(cases) < count // 2:
        pattern = "".join(chosen.choice(ATOMS) for _ in range(chosen.randint(1, 9)))
        if "(?=" not in pattern and "(?!" not in pattern:
            cases.append((pattern, chosen.choice(TEXTS)))
    while len(cases) < count:
        core = "".join(chosen.choice(TERMS) + chosen.choice(QUANTIFIERS) for _ in range(chosen.randint(1, 5)))
        shape = chosen.choice(SHAPES)
        if shape == "^(?={})" and "?" in core:
            continue
        cases.append((shape.format(core), chosen.choice(TEXTS) + chosen.choice(TEXTS)))
    return cases


def rhinos(cases: list[tuple[str, str]], tmp_path) -> list[str]:
    """The library's answer to each case, as one of: match, no match, refused, parser failed."""
    verdicts = oai_validator.verdicts([json_case({"type": "string", "pattern": p}, s) for p, s in cases], tmp_path)
    answers = []
    for verdict in verdicts:
        if verdict is None:
            answers.append("match")
        elif "does not match input string" in verdict:
            answers.append("no match")
        elif "Invalid JSON Schema" in verdict and "is not a valid ECMA 262 regular expression" in verdict:
            answers.append("refused")
        elif "ArrayIndexOutOfBoundsException" in verdict:
            answers.append("parser failed")
        else:
            answers.append(verdict)
    return answers


def adapters(pattern: str, text: str) -> str:
    compiled = ecma262.compiled(pattern)
    if compiled.overrun is not None:
        return "parser failed"
    if compiled.regex is None:
        return "refused"
    return "match" if compiled.test(text) else "no match"


def test_every_pattern_of_the_corpus_is_taken_refused_and_matched_as_rhino_does(tmp_path):
    cases = HAND + made_at_random(3000)
    expected = rhinos(cases, tmp_path)
    got = [adapters(p, s) for p, s in cases]
    differ = [
        f"{p!r} on {s!r}: Rhino {want}, adapter {have}"
        for (p, s), want, have in zip(cases, expected, got, strict=True)
        if want != have
    ]
    assert not differ, f"{len(differ)} of {len(cases)} differ:\n" + "\n".join(differ)
    # The corpus reaches every outcome (a generator that only made refused patterns would prove little).
    outcomes = Counter(expected)
    assert all(outcomes[o] >= 4 for o in ("match", "no match", "refused", "parser failed")), outcomes


def test_a_clients_regex_value_is_checked_as_rhino_checks_it_without_being_kept(tmp_path):
    """A value of format `regex` is the client's: checked, never compiled into the cache of definitions' patterns."""
    values = [p for p, _ in HAND[:60]]
    expected = rhinos([(v, "") for v in values], tmp_path)
    before = ecma262.compiled.cache_info().currsize
    for value, want in zip(values, expected, strict=True):
        valid, overrun = ecma262.check(value)
        assert ("parser failed" if overrun else "refused" if not valid else "taken") == (
            want if want in ("refused", "parser failed") else "taken"
        ), value
    assert ecma262.compiled.cache_info().currsize == before
