"""Java's regular expressions (java.util.regex.Pattern) as APIM's gateway and traffic manager read and run them.

Two places of APIM hand an admin's or publisher's pattern to `Pattern.compile` with no flags: an advanced policy's
header, query parameter and JWT claim conditions, matched with `find()` — the pattern anywhere in the value —
(carbon-apimgt 9.31.86 `gateway/handlers/throttling/ThrottleConditionEvaluator`, and the traffic manager's Siddhi
`regex:find`), and the JWT claim based access validator, which needs both values to `matches()` the whole pattern
(`gateway/mediators/ClaimBasedResourceAccessValidationMediator`). APIM 4.5's image runs them on JDK 21
(wso2/docker-apim v4.5.0.x: Temurin 21.0.5). Python's `re` reads the same text otherwise, and a gateway that used it
as it is would count or refuse other requests than APIM does: `$` matches before a final `\\r` or U+2028 in Java and
not in Python, `.` stops at them in Java, `\\s`, `\\d`, `\\w` and `\\b` are ASCII in Java and Unicode in Python, `(?i)`
folds ASCII letters only, a flag may be switched on midway (`a(?i)b`), classes nest and intersect (`[a-z&&[^e]]`),
`\\Q...\\E` quotes, `\\h`, `\\v`, `\\R`, `\\p{Lu}`, `\\x{1F600}` and `\\N{name}` name characters, and `{` must open a
count. So each pattern is read here as JDK 21's parser reads it (Pattern: RemoveQEQuoting, expr, sequence, atom,
closure, group0, addFlag, escape, clazz, range, family) and written out as a Python pattern that matches what Java's
matches. Every class is resolved here into the exact set of code points Java's predicate takes (case folding
included), so the Python pattern runs with no flags of its own but around backreferences. The Unicode data is JDK
21's own (java_unicode.py, generated from its java.lang.Character: Unicode 15.0's categories, scripts, blocks,
properties and case mappings), not Python's (3.11 carries Unicode 14.0).

Java's refusals are kept, with its PatternSyntaxException message (`PatternError`): an unclosed group or class, a
dangling `*`, `+` or `?`, `{` without a count, a range out of order, an unknown escape letter, property or inline
flag, a named group defined twice or missing, a trailing backslash.

Not reproduced, where Python's engine cannot say what Java's does (`Untranslatable`, a clear error for the caller to
answer): grapheme clusters (`\\X`, `\\b{g}`), canonical equivalence (`(?c)`), a look-behind of varying length that is
not an alternation of fixed ones (Java refuses those without "an obvious maximum length", and so does the adapter,
by the same rules; it runs the others), a backreference to a group not closed yet where a repetition could give it a
value, and a backreference past group 99. Approximation: a
non-spacing mark counts as part of a word for `\\b` right after a letter or digit, and after `_MARKS` marks at most
(Java walks back through any number: `e` with two combining accents is read otherwise).

A pattern whose Python form would pass `MAX_TRANSLATED` characters is Untranslatable too: classes are written out
(`\\p{L}` is 10 KB, `\\b` some 40 KB), and an API key's referer patterns come from a subscriber.
"""

from __future__ import annotations

import bisect
import functools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from . import java_unicode
from .codepoints import Ranges, complement, merged

_MAX = sys.maxunicode  # 0x10FFFF, Character.MAX_CODE_POINT
_MAX_REPS = 0x7FFFFFFF
_MARKS = 1
_ASTRAL_INLINE = 4  # ranges past U+FFFF a class holds before they are tried apart (_set_text)
# Groups and classes nested deeper than this are Untranslatable (this parser recurses as Java's does; Python's stack
# is shallower than the JVM's).
MAX_NESTING = 200
MAX_TRANSLATED = 1 << 20  # characters of Python pattern; past it, compiling alone would take a second

# The flags of Pattern, as inline letters set them (addFlag).
CASE_INSENSITIVE, MULTILINE, DOTALL, UNIX_LINES, UNICODE_CASE, COMMENTS, UNICODE_CHARACTER_CLASS = (
    1, 2, 4, 8, 16, 32, 64)  # fmt: skip
_FLAG_LETTERS = {"i": CASE_INSENSITIVE, "m": MULTILINE, "s": DOTALL, "d": UNIX_LINES, "u": UNICODE_CASE,
                 "x": COMMENTS, "U": UNICODE_CHARACTER_CLASS | UNICODE_CASE}  # fmt: skip


class PatternError(ValueError):
    """Java refuses the pattern: PatternSyntaxException, with its message (description, index, pattern, caret)."""

    def __init__(self, description: str, index: int, pattern: str):
        self.description, self.index, self.pattern = description, index, pattern
        text = description
        if index >= 0:
            text += f" near index {index}"
        text += "\n" + pattern
        if 0 <= index < len(pattern):  # the caret under the place, tabs kept so that it lines up
            text += "\n" + "".join("\t" if c == "\t" else " " for c in pattern[:index]) + "^"
        super().__init__(text)


class Untranslatable(ValueError):
    """Java takes the pattern, and it holds a construct Python's engine cannot match as Java does (module docstring)."""


@dataclass(frozen=True, slots=True)
class JavaPattern:
    """A pattern as `Pattern.compile(source)` reads it; `regex` matches what Java's matches."""

    source: str
    regex: re.Pattern[str]

    def find(self, text: str) -> bool:
        """`Pattern.compile(source).matcher(text).find()`: the pattern somewhere in the text."""
        return self.regex.search(text) is not None

    def matches(self, text: str) -> bool:
        """`Pattern.compile(source).matcher(text).matches()`: the whole text."""
        return self.regex.fullmatch(text) is not None


@functools.lru_cache(maxsize=256)
def compile(source: str) -> JavaPattern:
    """`read`, cached: for the patterns of policies, which admins write (each catalog reads them again)."""
    return read(source)


def read(source: str, limit: int = MAX_TRANSLATED) -> JavaPattern:
    """The pattern Java's Pattern.compile makes of `source`; PatternError where Java refuses it, Untranslatable where
    Python's engine cannot run it as Java does, or its Python form would pass `limit` characters. Not cached: for
    patterns a subscriber writes (an API key's referers), which the key's cached validation holds instead."""
    try:
        python = _Parser(source).parse()
    except RecursionError:  # a safety net: MAX_NESTING stops groups and classes well before Python's stack does
        raise Untranslatable(f"the pattern nests deeper than {MAX_NESTING}") from None
    if len(python) > limit:
        raise Untranslatable(f"the pattern's Python form would pass {limit} characters")
    try:
        regex = re.compile(python)
    except (re.error, OverflowError, RecursionError) as exc:  # nesting or counts past what Python's compiler takes
        raise Untranslatable(f"the pattern is beyond Python's regular expression engine ({exc})") from None
    return JavaPattern(source, regex)


# -- sets of code points ----------------------------------------------------------------------------------------


def _merged(ranges: Iterable[tuple[int, int]]) -> Ranges:
    return merged(ranges)


def _complement(ranges: Ranges) -> Ranges:
    return complement(ranges, _MAX)


def _intersection(a: Ranges, b: Ranges) -> Ranges:
    return _complement(_merged(_complement(a) + _complement(b)))


def _contains(ranges: Ranges, code: int) -> bool:
    at = bisect.bisect_right(ranges, (code, _MAX + 1)) - 1  # the ranges are sorted and disjoint
    return at >= 0 and ranges[at][0] <= code <= ranges[at][1]


def _parsed(text: str) -> Ranges:
    """A set as java_unicode writes it: `first-last` hexadecimal ranges joined by commas, "-" for none."""
    if text == "-":
        return ()
    return tuple((int(a, 16), int(b, 16)) for a, _, b in (part.partition("-") for part in text.split(",")))


@functools.cache
def _category(*names: str) -> Ranges:
    """Character.getType in the categories named (JDK 21's data)."""
    return _merged(r for name in names for r in _parsed(java_unicode.CATEGORIES[name]))


@functools.cache
def _java(name: str) -> Ranges:
    """A property of java.lang.Character (java_unicode.PROPERTIES: alphabetic, lowercase, emoji, ...)."""
    return _parsed(java_unicode.PROPERTIES[name])


def character_property(name: str, code: int) -> bool:
    """Whether java.lang.Character gives the code point the property `name` (java_unicode.PROPERTIES:
    `java_identifier_part`, `alphabetic`, ...), by JDK 21's data."""
    return _contains(_java(name), code)


def _set_text(ranges: Ranges) -> str:
    """A Python expression matching exactly one code point of the set."""
    if not ranges:
        return "(?!)"
    if ranges == ((0, _MAX),):
        return "(?s:.)"
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _char(ranges[0][0])
    bmp = tuple((a, min(b, 0xFFFF)) for a, b in ranges if a <= 0xFFFF)
    astral = tuple((max(a, 0x10000), b) for a, b in ranges if b > 0xFFFF)
    if len(astral) <= _ASTRAL_INLINE or not bmp:
        return _class(ranges)
    # Python tests a class that reaches past U+FFFF range by range; the BMP part alone becomes a bitmap, a single
    # lookup (\\p{Mn}: 4 µs a test one way, 0.7 the other), and the rest is tried for astral characters only.
    return f"(?:{_class(bmp)}|(?=[\\U00010000-\\U0010ffff]){_class(astral)})"


def _class(ranges: Ranges) -> str:
    return "[" + "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in ranges) + "]"


def _char(code: int) -> str:
    c = chr(code)
    if c.isascii() and (c.isalnum() or c == "_"):
        return c
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


# -- case, as Character.toUpperCase and toLowerCase map one code point (simple mappings) --------------------------


@functools.cache
def _cased() -> dict[int, tuple[int, int]]:
    """Character.toUpperCase and toLowerCase of every code point they move (JDK 21's simple mappings)."""
    moved = {}
    for entry in java_unicode.CASES.split(","):
        code, upper, lower = (int(part, 16) for part in entry.split(":"))
        moved[code] = (upper, lower)
    return moved


def _upper(code: int) -> int:
    return _cased().get(code, (code, code))[0]


def _lower(code: int) -> int:
    return _cased().get(code, (code, code))[1]


def _ascii_case(ranges: Ranges) -> Ranges:
    """CIRange and SingleI: c, or its ASCII other case, in the set."""
    extra = []
    for first, last in ranges:
        for low, high, shift in ((0x41, 0x5A, 0x20), (0x61, 0x7A, -0x20)):
            a, b = max(first, low), min(last, high)
            if a <= b:
                extra.append((a + shift, b + shift))
    return _merged(ranges + tuple(extra))


def _unicode_case(ranges: Ranges) -> Ranges:
    """CIRangeU: c, Character.toUpperCase(c) or Character.toLowerCase(c) in the set."""
    extra = [(c, c) for c, (up, low) in _cased().items() if _contains(ranges, up) or _contains(ranges, low)]
    return _merged(ranges + tuple(extra))


def _unicode_single(code: int) -> Ranges:
    """SingleU: the code points c with toLowerCase(toUpperCase(c)) that of `code`."""
    fold = _lower(_upper(code))
    if fold == code and _upper(code) == code:
        return ((code, code),)
    return _merged([(code, code)] + [(c, c) for c, (up, _) in _cased().items() if _lower(up) == fold])


# -- Java's named sets ------------------------------------------------------------------------------------------

_ASCII_DIGIT: Ranges = ((0x30, 0x39),)
_ASCII_SPACE: Ranges = ((0x09, 0x0D), (0x20, 0x20))  # [ \t\n\x0B\f\r]
_ASCII_WORD: Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_HORIZONTAL: Ranges = ((0x09, 0x09), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x180E, 0x180E),
                       (0x2000, 0x200A), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000))  # fmt: skip
_VERTICAL: Ranges = ((0x0A, 0x0D), (0x85, 0x85), (0x2028, 0x2029))
_LINE_TERMINATORS: Ranges = ((0x0A, 0x0A), (0x0D, 0x0D), (0x85, 0x85), (0x2028, 0x2029))
_LETTER_CATEGORIES = ("Lu", "Ll", "Lt", "Lm", "Lo")
_CASED_LETTERS = ("Lu", "Ll", "Lt")

# ASCII's ctype classes (java.util.regex.ASCII).
_ASCII_SETS: dict[str, Ranges] = {
    "ASCII": ((0x00, 0x7F),),
    "Alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "Alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "Blank": ((0x09, 0x09), (0x20, 0x20)),
    "Cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "Digit": ((0x30, 0x39),),
    "Graph": ((0x21, 0x7E),),
    "Lower": ((0x61, 0x7A),),
    "Print": ((0x20, 0x7E),),
    "Punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "Space": ((0x09, 0x0D), (0x20, 0x20)),
    "Upper": ((0x41, 0x5A),),
    "XDigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}

_GENERAL = {
    "L": _LETTER_CATEGORIES, "M": ("Mn", "Mc", "Me"), "N": ("Nd", "Nl", "No"), "Z": ("Zs", "Zl", "Zp"),
    "C": ("Cc", "Cf", "Co", "Cs", "Cn"), "P": ("Pd", "Ps", "Pe", "Pc", "Po", "Pi", "Pf"),
    "S": ("Sm", "Sc", "Sk", "So"), "LC": _CASED_LETTERS, "LD": (*_LETTER_CATEGORIES, "Nd"),
}  # fmt: skip
_ONE_CATEGORY = ("Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Me", "Mc", "Nd", "Nl", "No", "Zs", "Zl", "Zp", "Cc", "Cf",
                 "Co", "Cs", "Pd", "Ps", "Pe", "Pc", "Po", "Sm", "Sc", "Sk", "So", "Pi", "Pf")  # fmt: skip


# CharPredicates' Unicode sets, from JDK 21's data.
def _white_space() -> Ranges:  # WHITE_SPACE
    return _merged((*_category("Zs", "Zl", "Zp"), (0x09, 0x0D), (0x85, 0x85)))


def _hex_digit() -> Ranges:  # HEX_DIGIT
    ascii_and_fullwidth = ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66), (0xFF10, 0xFF19), (0xFF21, 0xFF26),
                           (0xFF41, 0xFF46))  # fmt: skip
    return _merged((*_java("digit"), *ascii_and_fullwidth))


def _graph() -> Ranges:  # GRAPH
    return _complement(_category("Zs", "Zl", "Zp", "Cc", "Cs", "Cn"))


def _print() -> Ranges:  # PRINT: GRAPH or BLANK, and not CONTROL
    return _intersection(_merged((*_graph(), *_blank())), _complement(_category("Cc")))


def _blank() -> Ranges:  # BLANK
    return _merged((*_category("Zs"), (0x09, 0x09)))


def _noncharacters() -> Ranges:  # NONCHARACTER_CODE_POINT
    planes = tuple((p | 0xFFFE, p | 0xFFFF) for p in range(0, _MAX + 1, 0x10000))
    return _merged(((0xFDD0, 0xFDEF), *planes))


@functools.cache
def _word() -> Ranges:  # WORD: \w under (?U)
    return _merged((*_java("alphabetic"), *_category("Mn", "Me", "Mc", "Nd", "Pc"), (0x200C, 0x200D)))


def _cased_union(first: str, case_insensitive: bool) -> Ranges:
    """LOWERCASE, UPPERCASE or TITLECASE; under CASE_INSENSITIVE all three (getPosixPredicate, getUnicodePredicate,
    and forProperty's javaLowerCase, javaUpperCase, javaTitleCase)."""
    if not case_insensitive:
        return _java(first)
    return _merged((*_java("lowercase"), *_java("uppercase"), *_java("titlecase")))


def _posix(name: str, case_insensitive: bool) -> Ranges | None:
    """CharPredicates.getPosixPredicate: \\p{Alpha} and the others under (?U), and \\p{IsAlpha}."""
    table: dict[str, Callable[[], Ranges]] = {
        "ALPHA": lambda: _java("alphabetic"),
        "LOWER": lambda: _cased_union("lowercase", case_insensitive),
        "UPPER": lambda: _cased_union("uppercase", case_insensitive),
        "SPACE": _white_space,
        "PUNCT": lambda: _category(*_GENERAL["P"]),
        "XDIGIT": _hex_digit,
        "ALNUM": lambda: _merged((*_java("alphabetic"), *_java("digit"))),
        "CNTRL": lambda: _category("Cc"),
        "DIGIT": lambda: _java("digit"),
        "BLANK": _blank,
        "GRAPH": _graph,
        "PRINT": _print,
    }
    make = table.get(name)
    return make() if make else None


def _unicode_property(name: str, case_insensitive: bool) -> Ranges | None:
    """CharPredicates.forUnicodeProperty (\\p{IsX}, X upper-cased): getUnicodePredicate, else getPosixPredicate."""
    emoji = ("EMOJI", "EMOJI_PRESENTATION", "EMOJI_MODIFIER", "EMOJI_MODIFIER_BASE", "EMOJI_COMPONENT",
             "EXTENDED_PICTOGRAPHIC")  # fmt: skip
    if name in emoji:
        return _java(name.lower())
    table: dict[str, Callable[[], Ranges]] = {
        "ALPHABETIC": lambda: _java("alphabetic"),
        "ASSIGNED": lambda: _complement(_category("Cn")),
        "CONTROL": lambda: _category("Cc"),
        "HEXDIGIT": _hex_digit,
        "HEX_DIGIT": _hex_digit,
        "IDEOGRAPHIC": lambda: _java("ideographic"),
        "JOINCONTROL": lambda: ((0x200C, 0x200D),),
        "JOIN_CONTROL": lambda: ((0x200C, 0x200D),),
        "LETTER": lambda: _java("letter"),
        "LOWERCASE": lambda: _cased_union("lowercase", case_insensitive),
        "NONCHARACTERCODEPOINT": _noncharacters,
        "NONCHARACTER_CODE_POINT": _noncharacters,
        "TITLECASE": lambda: _cased_union("titlecase", case_insensitive),
        "PUNCTUATION": lambda: _category(*_GENERAL["P"]),
        "UPPERCASE": lambda: _cased_union("uppercase", case_insensitive),
        "WHITESPACE": _white_space,
        "WHITE_SPACE": _white_space,
        "WORD": _word,
    }
    make = table.get(name)
    return make() if make else _posix(name, case_insensitive)


# forProperty's java.lang.Character methods, by the property java_unicode holds for each.
_JAVA_METHODS = {
    "javaAlphabetic": "alphabetic", "javaIdeographic": "ideographic", "javaDigit": "digit", "javaDefined": "defined",
    "javaLetter": "letter", "javaLetterOrDigit": "letter_or_digit", "javaJavaIdentifierStart": "java_identifier_start",
    "javaJavaIdentifierPart": "java_identifier_part", "javaUnicodeIdentifierStart": "unicode_identifier_start",
    "javaUnicodeIdentifierPart": "unicode_identifier_part", "javaIdentifierIgnorable": "identifier_ignorable",
    "javaSpaceChar": "space_char", "javaWhitespace": "whitespace", "javaISOControl": "iso_control",
    "javaMirrored": "mirrored",
}  # fmt: skip


def _property(name: str, case_insensitive: bool) -> Ranges | None:
    """CharPredicates.forProperty: categories, POSIX (ASCII) classes and java.lang.Character's."""
    if name in ("Lu", "Ll", "Lt") and case_insensitive:
        return _category(*_CASED_LETTERS)
    if name in _ONE_CATEGORY:
        return _category(name)
    if name in _GENERAL:
        return _category(*_GENERAL[name])
    if name == "L1":
        return ((0x00, 0xFF),)
    if name == "all":
        return ((0, _MAX),)
    if name in ("Lower", "Upper") and case_insensitive:
        return _ASCII_SETS["Alpha"]
    if name in _ASCII_SETS:
        return _ASCII_SETS[name]
    cased = {"javaLowerCase": "lowercase", "javaUpperCase": "uppercase", "javaTitleCase": "titlecase"}
    if name in cased:
        return _cased_union(cased[name], case_insensitive)
    if name in _JAVA_METHODS:
        return _java(_JAVA_METHODS[name])
    return None


def _script(name: str) -> Ranges | None:
    """CharPredicates.forUnicodeScript: Character.UnicodeScript.forName (an alias, or a script's name, in any
    case)."""
    key = name.upper()
    key = java_unicode.SCRIPT_ALIASES.get(key, key)
    found = java_unicode.SCRIPTS.get(key)
    return _parsed(found) if found is not None else None


def _block(name: str) -> Ranges | None:
    """CharPredicates.forUnicodeBlock: Character.UnicodeBlock.forName (its names, upper-cased)."""
    block = java_unicode.BLOCK_NAMES.get(name.upper())
    return _parsed(java_unicode.BLOCKS[block]) if block is not None else None


# -- the parser ---------------------------------------------------------------------------------------------------


@dataclass
class _Node:
    """A piece of the Python pattern, with what Java's TreeInfo learns of the nodes Java builds for it (`study`,
    _study's items) and which of them closure() sees: a CharProperty, a group, a zero-length group (a lookaround, an
    atomic group) or another node."""

    text: str
    study: tuple[Any, ...] = ()
    kind: str = "other"  # "char", "group", "assert" or "other"
    zero_width: bool = False  # an anchor or lookaround


def _seq(nodes: list[_Node]) -> _Node:
    study = tuple(item for n in nodes for item in n.study)
    return _Node("".join(n.text for n in nodes), study, "other", all(n.zero_width for n in nodes))


def _single(ranges: Ranges) -> _Node:
    return _Node(_set_text(ranges), (("add", 1, 1),), "char")


class _Parser:
    """Pattern's recursive descent, on the same cursor over code points (with its two zero terminators)."""

    def __init__(self, source: str):
        self.source = source
        self.temp = [ord(c) for c in source]
        self.length = len(self.temp)
        self._remove_qe_quoting()
        self.temp += [0, 0]
        self.cursor = 0
        self.flags = 0
        self.groups = 1  # capturingGroupCount: group 0 is the whole match
        self.closed: set[int] = set()
        self.names: dict[str, int] = {}
        self.depth = 0  # groups open
        self.behind = 0  # look-behinds open
        self.class_depth = 0

    # Pattern.RemoveQEQuoting: \Q...\E becomes escaped characters before parsing.
    def _remove_qe_quoting(self) -> None:
        temp, length = self.temp, self.length
        i = 0
        while i < length - 1:
            if temp[i] != 0x5C:
                i += 1
            elif temp[i + 1] != ord("Q"):
                i += 2
            else:
                break
        if i >= length - 1:
            return
        out = temp[:i]
        i += 2
        in_quote = begin_quote = True
        while i < length:
            c = temp[i]
            i += 1
            ch = chr(c)
            if not ch.isascii() or (ch.isalpha()):
                out.append(c)
            elif ch.isdigit():
                if begin_quote:
                    out += [0x5C, ord("x"), ord("3")]
                out.append(c)
            elif c != 0x5C:
                if in_quote:
                    out.append(0x5C)
                out.append(c)
            elif in_quote:
                if i < length and temp[i] == ord("E"):
                    i += 1
                    in_quote = False
                else:
                    out += [0x5C, 0x5C]
            elif i < length and temp[i] == ord("Q"):
                i += 1
                in_quote = begin_quote = True
                continue
            else:
                out.append(c)
                if i != length:
                    out.append(temp[i])
                    i += 1
            begin_quote = False
        self.temp, self.length = out, len(out)

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    def error(self, description: str) -> PatternError:
        return PatternError(description, self.cursor - 1, self.source)

    # -- the cursor (peek, read, next, skip, unread), skipping white space and comments under COMMENTS
    def _past_white(self, ch: int, peeking: bool) -> int:
        while _is_ascii_space(ch) or ch == ord("#"):
            while _is_ascii_space(ch):
                if peeking:
                    self.cursor += 1
                    ch = self.temp[self.cursor]
                else:
                    ch = self.temp[self.cursor]
                    self.cursor += 1
            if ch == ord("#"):
                ch = self._past_line(peeking)
        return ch

    def _past_line(self, peeking: bool) -> int:
        if peeking:
            self.cursor += 1
            ch = self.temp[self.cursor]
            while ch != 0 and not self._line_separator(ch):
                self.cursor += 1
                ch = self.temp[self.cursor]
            if ch == 0 and self.cursor > self.length:
                self.cursor = self.length
                ch = self.temp[self.cursor]
            return ch
        ch = self.temp[self.cursor]
        self.cursor += 1
        while ch != 0 and not self._line_separator(ch):
            ch = self.temp[self.cursor]
            self.cursor += 1
        if ch == 0 and self.cursor > self.length:
            self.cursor = self.length
            ch = self.temp[self.cursor]
            self.cursor += 1
        return ch

    def _line_separator(self, ch: int) -> bool:
        if self.has(UNIX_LINES):
            return ch == 0x0A
        return ch in (0x0A, 0x0D, 0x85, 0x2028, 0x2029)

    def peek(self) -> int:
        ch = self.temp[self.cursor]
        return self._past_white(ch, True) if self.has(COMMENTS) else ch

    def read(self) -> int:
        ch = self.temp[self.cursor]
        self.cursor += 1
        return self._past_white(ch, False) if self.has(COMMENTS) else ch

    def next(self) -> int:
        self.cursor += 1
        ch = self.temp[self.cursor]
        return self._past_white(ch, True) if self.has(COMMENTS) else ch

    def next_escaped(self) -> int:
        self.cursor += 1
        return self.temp[self.cursor]

    def skip(self) -> int:
        ch = self.temp[self.cursor + 1]
        self.cursor += 2
        return ch

    def unread(self) -> None:
        self.cursor -= 1

    def accept(self, ch: int, description: str) -> None:
        test = self.temp[self.cursor]
        self.cursor += 1
        if self.has(COMMENTS):
            test = self._past_white(test, False)
        if ch != test:
            raise self.error(description)

    # -- Pattern.compile
    def parse(self) -> str:
        node = self.expr()
        if self.length != self.cursor:
            if self.peek() == ord(")"):
                raise self.error("Unmatched closing ')'")
            if self.cursor == self.length + 1 and self.temp[self.length - 1] == 0x5C:
                raise self.error("Unescaped trailing backslash")
            raise self.error("Unexpected internal error")
        return node.text

    def expr(self) -> _Node:
        branches = []
        while True:
            branches.append(self.sequence())
            if self.peek() != ord("|"):
                break
            self.next()
        if len(branches) == 1:
            return branches[0]
        text = "(?:" + "|".join(b.text for b in branches) + ")"
        return _Node(text, (("branch", tuple(b.study for b in branches)),), "other",
                     all(b.zero_width for b in branches))  # fmt: skip

    def sequence(self) -> _Node:
        nodes: list[_Node] = []
        size = 0
        while True:
            ch = self.peek()
            if ch == ord("("):
                group = self.group0()
                if group is not None:
                    nodes.append(group)
                    size = self._grown(size, group)
                continue
            if ch == ord("["):
                node = _single(self.clazz(True))
            elif ch == 0x5C:
                ch = self.next_escaped()
                if ch in (ord("p"), ord("P")):
                    node = _single(self.family_after_p(ch == ord("P")))
                else:
                    self.unread()
                    node = self.atom()
            elif ch == ord("^"):
                self.next()
                node = self.caret()
            elif ch == ord("$"):
                self.next()
                node = self.dollar(self.has(MULTILINE))
            elif ch == ord("."):
                self.next()
                if self.has(DOTALL):
                    node = _single(((0, _MAX),))
                elif self.has(UNIX_LINES):
                    node = _single(_complement(((0x0A, 0x0A),)))
                else:
                    node = _single(_complement(_LINE_TERMINATORS))
            elif ch in (ord("|"), ord(")")):
                break
            elif ch in (ord("]"), ord("}")):
                node = self.atom()
            elif ch in (ord("?"), ord("*"), ord("+")):
                self.next()
                raise self.error(f"Dangling meta character '{chr(ch)}'")
            elif ch == 0 and self.cursor >= self.length:
                break
            else:
                node = self.atom()
            nodes.append(self.closure(node))
            size = self._grown(size, nodes[-1])
        return _seq(nodes)

    @staticmethod
    def _grown(size: int, node: _Node) -> int:
        """The sequence's Python form so far, stopped as it grows: a subscriber's referer could ask for gigabytes."""
        size += len(node.text)
        if size > MAX_TRANSLATED:
            raise Untranslatable(f"the pattern's Python form would pass {MAX_TRANSLATED} characters")
        return size

    def family_after_p(self, complement: bool) -> Ranges:
        one_letter = True
        ch = self.next()
        if ch != ord("{"):
            self.unread()
        else:
            one_letter = False
        return self.family(one_letter, complement)

    def caret(self) -> _Node:
        if not self.has(MULTILINE):
            return _Node(r"\A", zero_width=True)
        if self.has(UNIX_LINES):  # UnixCaret: at the start or after \n, never at the end
            return _Node(r"(?=[\s\S])(?:\A|(?<=\n))", zero_width=True)
        # Caret: at the start, or after a line terminator other than the \r of a \r\n; never at the end.
        return _Node(r"(?=[\s\S])(?:\A|(?<=[\n\u0085\u2028\u2029])|(?<=\r)(?!\n))", zero_width=True)

    def dollar(self, multiline: bool) -> _Node:
        if self.has(UNIX_LINES):  # UnixDollar
            if multiline:
                return _Node(r"(?=\n|\Z)", zero_width=True)
            return _Node(r"(?=\n?\Z)", zero_width=True)
        # Dollar: before a line terminator but between \r and \n; at the end; not multiline: only before the last
        # terminator (a final \r\n counts as one).
        terminator = r"(?:(?<!\r)\n|[\r\u0085\u2028\u2029])"
        if multiline:
            return _Node(rf"(?=\Z|{terminator})", zero_width=True)
        return _Node(rf"(?=\Z|\r\n\Z|{terminator}\Z)", zero_width=True)

    def atom(self) -> _Node:
        """A run of literal characters; a quantifier after it takes the last one only."""
        chars: list[int] = []
        prev = -1
        ch = self.peek()
        while True:
            if ch in (ord("*"), ord("+"), ord("?"), ord("{")):
                if len(chars) > 1:
                    self.cursor = prev
                    chars.pop()
                break
            if ch in (ord("$"), ord("."), ord("^"), ord("("), ord("["), ord("|"), ord(")")):
                break
            if ch == 0x5C:
                ch = self.next_escaped()
                if ch in (ord("p"), ord("P")):
                    if chars:
                        self.unread()
                        break
                    return _single(self.family_after_p(ch == ord("P")))
                self.unread()
                prev = self.cursor
                value, node = self.escape(False, not chars, False)
                if value >= 0:
                    chars.append(value)
                    ch = self.peek()
                    continue
                if not chars:
                    assert isinstance(node, _Node)  # outside a class, an escape's node
                    return node
                self.cursor = prev
                break
            if ch == 0 and self.cursor >= self.length:
                break
            prev = self.cursor
            chars.append(ch)
            ch = self.next()
        if len(chars) == 1:
            return self.literal(chars[0])  # newCharProperty(single(...)): a quantifier may make it CharPropertyGreedy
        return _seq([self.literal(c) for c in chars])  # newSlice

    def literal(self, code: int) -> _Node:
        return _single(self.single(code))

    def single(self, code: int) -> Ranges:
        """Pattern.single and bitsOrSingle: a character as the case flags match it."""
        if self.has(CASE_INSENSITIVE):
            if self.has(UNICODE_CASE):
                return _unicode_single(code)
            return _ascii_case(((code, code),))
        return ((code, code),)

    def ref(self, number: int) -> _Node:
        while True:
            ch = self.peek()
            if not (ord("0") <= ch <= ord("9")):
                break
            bigger = number * 10 + ch - ord("0")
            if self.groups - 1 < bigger:
                break
            number = bigger
            self.read()
        return self.backref(number)

    def backref(self, number: int) -> _Node:
        if number not in self.closed:
            if number >= self.groups and number > 9:  # cannot happen: ref() takes existing groups only
                raise self.error("Unexpected internal error")
            if self.depth and not self.behind:  # in a look-behind, Java refuses it once the body is read
                raise Untranslatable(f"a backreference to group {number}, not closed at that point, inside a group")
            return _Node("(?!)", (("invalid",),))  # its group has no value yet: BackRef fails
        if number >= 100:
            raise Untranslatable("a backreference to group 100 or later")
        flags = ("i" if self.has(UNICODE_CASE) else "ai") if self.has(CASE_INSENSITIVE) else ""  # CIBackRef
        return _Node(f"(?{flags}:\\{number})", (("invalid",),))  # BackRef.study: no obvious maximum

    def escape(self, in_class: bool, create: bool, is_range: bool) -> tuple[int, _Node | Ranges | None]:
        """Pattern.escape: (code point, None) for a character; (-1, node or set) for anything else."""
        ch = self.skip()
        c = chr(ch) if ch else "\0"
        unicode_classes = self.has(UNICODE_CHARACTER_CLASS)
        sets: dict[str, Callable[[], Ranges]] = {
            "d": lambda: _java("digit") if unicode_classes else _ASCII_DIGIT,
            "s": lambda: _white_space() if unicode_classes else _ASCII_SPACE,
            "w": lambda: _word() if unicode_classes else _ASCII_WORD,
            "h": lambda: _HORIZONTAL,
            "v": lambda: _VERTICAL,
        }
        if c == "0":
            return self.octal(), None
        if "1" <= c <= "9":
            if not in_class:
                return -1, self.ref(ch - ord("0")) if create else None
        elif c in "dswhv" or c in "DSWHV":
            if c == "v" and is_range:
                return 0x0B, None
            ranges = sets[c.lower()]() if create else ()
            if c.isupper():
                ranges = _complement(ranges)
            return -1, (ranges if in_class else _single(ranges)) if create else None
        elif c == "A":
            if not in_class:
                return -1, _Node(r"\A", zero_width=True)
        elif c in "bB":
            if not in_class:
                if c == "b" and create and self.peek() == ord("{"):
                    if self.skip() == ord("g"):
                        if self.read() == ord("}"):
                            raise Untranslatable("grapheme cluster boundaries (\\b{g})")
                        raise self.error("Illegal/unsupported escape sequence")
                    self.unread()
                    self.unread()
                return -1, _boundary(c == "b", unicode_classes) if create else None
        elif c == "G":
            if not in_class:  # LastMatch: where the previous find ended; for one find, the start
                return -1, _Node(r"\A", zero_width=True)
        elif c == "N":
            return self.named_character(), None
        elif c == "R":
            if not in_class:
                # LineEnding: \r\n, else one terminator (a \r alone where what follows needs the \n)
                return -1, _Node(r"(?:\r\n|[\n\x0b\x0c\r\u0085\u2028\u2029])", (("add", 1, 2),))
        elif c == "X":
            if not in_class:
                raise Untranslatable("grapheme clusters (\\X)")
        elif c == "Z":
            if not in_class:
                return -1, (self.dollar(False) if create else None)
        elif c == "z":
            if not in_class:
                return -1, _Node(r"\Z", zero_width=True)
        elif c == "k":
            if not in_class:
                if self.read() != ord("<"):
                    raise self.error("\\k is not followed by '<' for named capturing group")
                name = self.group_name(self.read())
                if name not in self.names:
                    raise self.error(f"named capturing group <{name}> does not exist")
                return -1, self.backref(self.names[name]) if create else None
        elif c in "CEFIJKLMOPQTUYgijlmopqy":
            pass
        elif c == "a":
            return 0x07, None
        elif c == "c":
            if self.cursor < self.length:
                return self.read() ^ 64, None
            raise self.error("Illegal control escape sequence")
        elif c == "e":
            return 0x1B, None
        elif c == "f":
            return 0x0C, None
        elif c == "n":
            return 0x0A, None
        elif c == "r":
            return 0x0D, None
        elif c == "t":
            return 0x09, None
        elif c == "u":
            return self.unicode_escape(), None
        elif c == "x":
            return self.hex_escape(), None
        else:
            return ch, None
        raise self.error("Illegal/unsupported escape sequence")

    def octal(self) -> int:
        n = self.read()
        if ord("0") <= n <= ord("7"):
            m = self.read()
            if ord("0") <= m <= ord("7"):
                o = self.read()
                if ord("0") <= o <= ord("7") and n <= ord("3"):
                    return (n - 48) * 64 + (m - 48) * 8 + (o - 48)
                self.unread()
                return (n - 48) * 8 + (m - 48)
            self.unread()
            return n - 48
        raise self.error("Illegal octal escape sequence")

    def hex_escape(self) -> int:
        n = self.read()
        if _is_hex(n):
            m = self.read()
            if _is_hex(m):
                return int(chr(n) + chr(m), 16)
        elif n == ord("{") and _is_hex(self.peek()):
            value = 0
            while _is_hex(n := self.read()):
                value = value * 16 + int(chr(n), 16)
                if value > _MAX:
                    raise self.error("Hexadecimal codepoint is too big")
            if n != ord("}"):
                raise self.error("Unclosed hexadecimal escape sequence")
            return value
        raise self.error("Illegal hexadecimal escape sequence")

    def _uxxxx(self) -> int:
        value = 0
        for _ in range(4):
            ch = self.read()
            if not _is_hex(ch):
                raise self.error("Illegal Unicode escape sequence")
            value = value * 16 + int(chr(ch), 16)
        return value

    def unicode_escape(self) -> int:
        n = self._uxxxx()
        if 0xD800 <= n <= 0xDBFF:
            saved = self.cursor
            if self.read() == 0x5C and self.read() == ord("u"):
                n2 = self._uxxxx()
                if 0xDC00 <= n2 <= 0xDFFF:
                    return 0x10000 + ((n - 0xD800) << 10) + (n2 - 0xDC00)
            self.cursor = saved
        return n

    def named_character(self) -> int:
        if self.read() == ord("{"):
            start = self.cursor
            while self.read() != ord("}"):
                if self.cursor >= self.length:
                    raise self.error("Unclosed character name escape sequence")
            name = "".join(chr(c) for c in self.temp[start : self.cursor - 1])
            code = _code_point_of(name)
            if code is None:
                raise self.error(f"Unknown character name [{name}]")
            return code
        raise self.error("Illegal character name escape sequence")

    def clazz(self, consume: bool) -> Ranges:
        """Pattern.clazz: a class, with its unions (nested classes), intersections (&&) and negation."""
        prev: Ranges | None = None
        curr: Ranges | None = None
        bits: list[tuple[int, int]] = []
        negated = has_bits = False
        self.class_depth += 1
        if self.class_depth > MAX_NESTING:
            raise Untranslatable(f"the pattern nests classes deeper than {MAX_NESTING}")
        try:
            return self._class(consume, prev, curr, bits, negated, has_bits)
        finally:
            self.class_depth -= 1

    def _class(self, consume: bool, prev: Ranges | None, curr: Ranges | None, bits: list[tuple[int, int]],
               negated: bool, has_bits: bool) -> Ranges:  # fmt: skip
        ch = self.next()
        if ch == ord("^") and self.temp[self.cursor - 1] == ord("["):
            ch = self.next()
            negated = True
        while True:
            if ch == ord("["):
                curr = self.clazz(True)
                prev = curr if prev is None else _merged(prev + curr)
                ch = self.peek()
                continue
            if ch == ord("&"):
                ch = self.next()
                if ch == ord("&"):
                    ch = self.next()
                    right: Ranges | None = None
                    while ch not in (ord("]"), ord("&")):
                        if ch == ord("["):
                            part = self.clazz(True)
                        else:
                            self.unread()
                            part = self.clazz(False)
                        right = part if right is None else _merged(right + part)
                        ch = self.peek()
                    if has_bits:
                        bits_set = _merged(bits)
                        if prev is None:
                            prev = curr = bits_set
                        else:
                            prev = _merged(prev + bits_set)
                        has_bits = False  # the bits stay, as Java's BitClass does, for a later union
                    if right is not None:
                        curr = right
                    if prev is None:
                        if right is None:
                            raise self.error("Bad class syntax")
                        prev = right
                    else:
                        if curr is None:
                            raise self.error("Bad intersection syntax")
                        prev = _intersection(prev, curr)
                    continue
                self.unread()
            elif ch == 0 and self.cursor >= self.length:
                raise self.error("Unclosed character class")
            elif ch == ord("]") and (prev is not None or has_bits):
                if consume:
                    self.next()
                if prev is None:
                    prev = _merged(bits)
                elif has_bits:
                    prev = _merged(prev + tuple(bits))
                return _complement(prev) if negated else prev
            curr = self.range(bits)  # None where the character went to the bits (an `&&` after it then has no left)
            if curr is None:
                has_bits = True
            else:
                prev = curr if prev is None else _merged(prev + curr)
            ch = self.peek()

    def range(self, bits: list[tuple[int, int]]) -> Ranges | None:
        """Pattern.range: a character, a range or a class escape within a class; None where it went to `bits`."""
        ch = self.peek()
        if ch == 0x5C:
            ch = self.next_escaped()
            if ch in (ord("p"), ord("P")):
                return self.family_after_p(ch == ord("P"))
            is_range = self.temp[self.cursor + 1] == ord("-")
            self.unread()
            ch, found = self.escape(True, True, is_range)
            if ch == -1:
                assert isinstance(found, tuple)
                return found
        else:
            self.next()
        if ch >= 0:
            if self.peek() == ord("-"):
                end = self.temp[self.cursor + 1]
                if end == ord("["):
                    bits.extend(self.single(ch))
                    return None
                if end != ord("]"):
                    self.next()
                    m = self.peek()
                    if m == 0x5C:
                        m, _ = self.escape(True, False, True)
                    else:
                        self.next()
                    if m < ch:
                        raise self.error("Illegal character range")
                    span = ((ch, m),)
                    if self.has(CASE_INSENSITIVE):
                        return _unicode_case(span) if self.has(UNICODE_CASE) else _ascii_case(span)
                    return span
            bits.extend(self.single(ch))
            return None
        raise self.error(f"Unexpected character '{chr(ch)}'")

    def family(self, one_letter: bool, complement: bool) -> Ranges:
        """Pattern.family: \\p{...} and \\P{...}."""
        self.next()
        if one_letter:
            name = chr(self.temp[self.cursor])
            self.read()
        else:
            start = self.cursor
            self.temp[self.length] = ord("}")  # mark('}')
            while self.read() != ord("}"):
                pass
            self.temp[self.length] = 0
            if self.cursor > self.length:
                raise self.error("Unclosed character family")
            if start + 1 >= self.cursor:
                raise self.error("Empty character family")
            name = "".join(chr(c) for c in self.temp[start : self.cursor - 1])
        case_insensitive = self.has(CASE_INSENSITIVE)
        found: Ranges | None = None
        if "=" in name:
            key, value = name.split("=", 1)
            key = key.lower()
            if key in ("sc", "script"):
                found = _script(value)
            elif key in ("blk", "block"):
                found = _block(value)
            elif key in ("gc", "general_category"):
                found = _property(value, case_insensitive)
            if found is None:
                raise self.error(f"Unknown Unicode property {{name=<{key}>, value=<{value}>}}")
        else:
            if name.startswith("In"):
                found = _block(name[2:])
            elif name.startswith("Is"):
                short = name[2:]
                found = _unicode_property(short.upper(), case_insensitive)
                if found is None:
                    found = _property(short, case_insensitive)
                if found is None:
                    found = _script(short)
            else:
                if self.has(UNICODE_CHARACTER_CLASS):
                    found = _posix(name.upper(), case_insensitive)
                if found is None:
                    found = _property(name, case_insensitive)
            if found is None:
                raise self.error(f"Unknown character property name {{{name}}}")
        return _complement(found) if complement else found

    def group_name(self, ch: int) -> str:
        if not _is_ascii_letter(ch):
            raise self.error("capturing group name does not start with a Latin letter")
        name = ""
        while True:
            name += chr(ch)
            ch = self.read()
            if not (_is_ascii_letter(ch) or ord("0") <= ch <= ord("9")):
                break
        if ch != ord(">"):
            raise self.error("named capturing group is missing trailing '>'")
        return name

    def group0(self) -> _Node | None:
        saved_flags = self.flags
        ch = self.next()
        number = 0
        kind = "group"
        behind = ""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise Untranslatable(f"the pattern nests groups deeper than {MAX_NESTING}")
        if ch == ord("?"):
            ch = self.skip()
            if ch == ord(":"):
                kind = "pure"
                body = self.expr()
            elif ch in (ord("="), ord("!")):
                kind = "ahead" + chr(ch)
                body = self.expr()
            elif ch == ord(">"):
                kind = "atomic"
                body = self.expr()
            elif ch == ord("<"):
                ch = self.read()
                if ch not in (ord("="), ord("!")):
                    name = self.group_name(ch)
                    if name in self.names:
                        raise self.error(f"Named capturing group <{name}> is already defined")
                    number = self.groups
                    self.groups += 1
                    self.names[name] = number
                    body = self.expr()
                else:
                    kind, behind = "behind", chr(ch)
                    self.behind += 1
                    body = self.expr()
                    self.behind -= 1
                    # TreeInfo's rules, its int arithmetic included: `(?<=a+)` has a maximum, `(?<=(a|bc)+)` has not.
                    # Python takes fixed widths only: a body Java runs with lengths that vary is Untranslatable.
                    if not _study(body.study).most_known:
                        raise self.error("Look-behind group does not have an obvious maximum length")
            elif ch in (ord("$"), ord("@")):
                raise self.error("Unknown group type")
            else:
                self.unread()
                self.add_flags()
                ch = self.read()
                if ch == ord(")"):
                    self.depth -= 1
                    return None  # flags only: they hold to the end of the enclosing group
                if ch != ord(":"):
                    raise self.error("Unknown inline modifier")
                kind = "pure"
                body = self.expr()
        else:
            number = self.groups
            self.groups += 1
            body = self.expr()
        self.accept(ord(")"), "Unclosed group")
        self.flags = saved_flags
        self.depth -= 1
        if number:
            self.closed.add(number)
            node = _Node(f"({body.text})", body.study, "group")
        elif kind == "pure":
            node = _Node(f"(?:{body.text})", body.study, "group", body.zero_width)
        elif kind == "atomic":
            node = _Node(f"(?>{body.text})", (("ques", body.study, True),), "assert")
        elif kind.startswith("ahead"):
            node = _Node(f"(?{kind[-1]}{body.text})", (), "assert", True)
        else:
            node = _Node(_lookbehind(body, behind == "="), (), "assert", True)
        return self.closure(node)

    def add_flags(self) -> None:
        ch = self.peek()
        while True:
            letter = chr(ch) if ch else ""
            if letter == "c":
                raise Untranslatable("canonical equivalence ((?c))")
            if letter in _FLAG_LETTERS:
                self.flags |= _FLAG_LETTERS[letter]
            elif letter == "-":
                ch = self.next()
                self.sub_flags()
                return
            else:
                return
            ch = self.next()

    def sub_flags(self) -> None:
        ch = self.peek()
        while True:
            letter = chr(ch) if ch else ""
            if letter == "c":
                pass  # CANON_EQ off: it is never on here
            elif letter in _FLAG_LETTERS:
                self.flags &= ~_FLAG_LETTERS[letter]
            else:
                return
            ch = self.next()

    def qtype(self) -> str:
        ch = self.next()
        if ch == ord("?"):
            self.next()
            return "?"
        if ch == ord("+"):
            self.next()
            return "+"
        return ""

    def closure(self, node: _Node) -> _Node:
        """Pattern.closure: ?, *, +, {n}, {n,}, {n,m}, each greedy, lazy (?) or possessive (+)."""
        ch = self.peek()
        if ch == ord("?"):
            return _repeat(node, 0, 1, self.qtype())
        if ch == ord("*"):
            return _repeat(node, 0, None, self.qtype())
        if ch == ord("+"):
            return _repeat(node, 1, None, self.qtype())
        if ch != ord("{"):
            return node
        ch = self.skip()
        if not (ord("0") <= ch <= ord("9")):
            raise self.error("Illegal repetition")
        low = 0
        while True:
            low = self._count(low, ch)
            ch = self.read()
            if not (ord("0") <= ch <= ord("9")):
                break
        high: int | None
        if ch == ord(","):
            ch = self.read()
            if ch == ord("}"):
                self.unread()
                return _repeat(node, low, None, self.qtype())
            high = 0
            while ord("0") <= ch <= ord("9"):
                high = self._count(high, ch)
                ch = self.read()
        else:
            high = low
        if ch != ord("}"):
            raise self.error("Unclosed counted closure")
        if high < low:
            raise self.error("Illegal repetition range")
        self.unread()
        return _repeat(node, low, high, self.qtype())

    def _count(self, count: int, digit: int) -> int:
        """One more digit of a count; Java's int overflows (Math.addExact) at the digit that passes 2^31 - 1."""
        count = count * 10 + digit - 48
        if count > _MAX_REPS:
            raise self.error("Illegal repetition range")
        return count


def _repeat(node: _Node, low: int, high: int | None, kind: str) -> _Node:
    if high is None:
        count = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    elif low == 0 and high == 1:
        count = "?"
    else:
        count = f"{{{low}}}" if low == high else f"{{{low},{high}}}"
    text = f"(?:{node.text}){count}{kind}"
    return _Node(text, (_quantified(node, low, high, kind),), "other", node.zero_width)


def _quantified(node: _Node, low: int, high: int | None, kind: str) -> tuple[Any, ...]:
    """The node closure() and group0 make of a quantified one, as _study's item: CharPropertyGreedy for a greedy
    `*`, `+` or `{n,}` on a CharProperty; Ques for `?` (a Branch with nothing beside a group, unless possessive);
    Curly, or for a group GroupCurly where its body is deterministic and else a Loop (no obvious maximum)."""
    most = _MAX_REPS if high is None else high
    if low == 0 and high == 1:
        if node.kind == "group" and kind != "+":
            return ("branch", (node.study, ()))
        return ("ques", node.study, False)
    if node.kind == "char" and high is None and kind == "":
        return ("greedy", low)
    if node.kind == "group" and kind != "+" and not _study(node.study).deterministic:
        return ("loop",)
    return ("curly", node.study, low, most)


@dataclass(frozen=True)
class _TreeInfo:
    """Pattern.TreeInfo: the least and most a part matches, in Java's int arithmetic, whether the most is known,
    and whether the part matches one way only."""

    least: int = 0
    most: int = 0
    most_known: bool = True
    deterministic: bool = True


def _int(value: int) -> int:
    """Java's int: wrapped to 32 bits."""
    return (value + 2**31) % 2**32 - 2**31


def _study(items: tuple[Any, ...], info: _TreeInfo = _TreeInfo()) -> _TreeInfo:
    """Node.study along a chain of Java's nodes (the group heads and tails, which study nothing, left out)."""
    for at, item in enumerate(items):
        kind = item[0]
        if kind == "add":  # CharProperty, a slice, LineEnding (1 to 2)
            info = replace(info, least=_int(info.least + item[1]), most=_int(info.most + item[2]))
        elif kind == "greedy":  # CharPropertyGreedy
            most = _int(info.most + _MAX_REPS) if info.most_known else info.most
            info = replace(info, least=_int(info.least + item[1]), most=most, deterministic=False)
        elif kind == "invalid":  # BackRef, CIBackRef
            info = replace(info, most_known=False)
        elif kind == "ques":  # Ques: the atom on the same info, its least put back, unless an atomic group's
            after = _study(item[1], info)
            info = after if item[2] else replace(after, least=info.least, deterministic=False)
        elif kind == "curly":  # Curly and GroupCurly
            body, low, high = _study(item[1]), item[2], item[3]
            least = _int(body.least * low + info.least)
            most, known = info.most, info.most_known and body.most_known
            if known:
                most = _int(body.most * high + info.most)
                known = most >= info.most
            deterministic = info.deterministic if body.deterministic and low == high else False
            info = _TreeInfo(least if least >= info.least else 0xFFFFFFF, most, known, deterministic)
        elif kind == "loop":  # Prolog and Loop: no maximum, and nothing after them is studied
            return replace(info, most_known=False, deterministic=False)
        else:  # Branch: each alternative alone, then what follows it alone, all added to what came before
            alternatives = [_study(alternative) for alternative in item[1]]
            least = _int(info.least + min(a.least for a in alternatives))
            most = _int(info.most + max(a.most for a in alternatives))
            known = info.most_known and all(a.most_known for a in alternatives)
            rest = _study(items[at + 1 :])
            return _TreeInfo(_int(rest.least + least), _int(rest.most + most), rest.most_known and known, False)
    return info


def _lookbehind(body: _Node, positive: bool) -> str:
    """A Java look-behind (any length up to a maximum) as Python's fixed-width ones: one per branch of the body."""
    branches = _branches(body.text)
    pieces = []
    for text in branches:
        try:
            re.compile(f"(?<={text})")
        except re.error:
            raise Untranslatable("a look-behind whose branches vary in length") from None
        pieces.append(text)
    if positive:
        return "(?:" + "|".join(f"(?<={p})" for p in pieces) + ")"
    return "".join(f"(?<!{p})" for p in pieces)


def _branches(text: str) -> list[str]:
    """The top-level alternatives of a pattern written by this module (`(?:a|b)` from expr, or a single one)."""
    if not (text.startswith("(?:") and text.endswith(")")):
        return [text]
    inner = text[3:-1]
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(inner):
        c = inner[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return [text]  # `(?:a)(?:b)`: not one group
        elif c == "|" and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
        i += 1
    parts.append(inner[start:])
    return parts if depth == 0 else [text]


def _boundary(word_boundary: bool, unicode_classes: bool) -> _Node:
    """Bound: a word character on one side and not the other (\\b), or not (\\B); a word character is ASCII's \\w, or
    WORD under (?U). A non-spacing mark counts as one where a letter or digit comes before it, through other marks
    (hasBaseCharacter)."""
    word = _set_text(_word() if unicode_classes else _ASCII_WORD)
    mark = _set_text(_category("Mn"))
    base = _letter_or_digit()
    marks_after_base = "|".join(f"(?<={base}{mark * k})" for k in range(1, _MARKS + 1))
    left = f"(?:(?<={word})|(?<={mark})(?:{marks_after_base}))"  # the mark first: the large classes seldom run
    right = f"(?:(?={word})|(?={mark})(?:(?<={base})|{marks_after_base}))"
    not_left = f"(?!{left})"
    not_right = f"(?!{right})"
    full = f"(?:{left}{not_right}|{not_left}{right})" if word_boundary else f"(?:{left}{right}|{not_left}{not_right})"
    if unicode_classes:
        return _Node(full, zero_width=True)
    # Away from non-spacing marks, ASCII's \w decides alone, and Python's own ASCII \b (one operation) is Java's: the
    # whole construct runs only beside a mark.
    fast = r"(?a:\b)" if word_boundary else r"(?a:\B)"
    return _Node(f"(?:{fast}(?<!{mark})(?!{mark})|(?:(?<={mark})|(?={mark})){full})", zero_width=True)


@functools.cache
def _letter_or_digit() -> str:
    """Character.isLetterOrDigit as a short expression: Python's own `[^\\W_]` (letters and numeric characters by
    Python's Unicode data), less what it takes that Java's does not, plus what Java's takes that it does not (the
    letters of later Unicode versions). Written out, the set is 10 KB, and `\\b` holds it several times."""
    java = _java("letter_or_digit")
    python_word = re.compile(r"[^\W_]")
    candidates = _complement(_category("Cn", "Co", "Cs"))  # assigned, so that Python may know them
    takes = [(c, c) for first, last in candidates for c in range(first, last + 1) if python_word.match(chr(c))]
    python = _merged(takes)
    extra, missing = _intersection(python, _complement(java)), _intersection(java, _complement(python))
    text = f"(?!{_set_text(extra)})[^\\W_]" if extra else r"[^\W_]"
    return f"(?:{text}|{_set_text(missing)})" if missing else f"(?:{text})"


def _code_point_of(name: str) -> int | None:
    """Character.codePointOf: the code point whose Character.getName is `name` (trimmed as String.trim does, in any
    case): an explicit name, or the block and hexadecimal form of a character without one. None for no such name."""
    if unicodedata.unidata_version != java_unicode.NAMES_PYTHON_UNICODE:  # NAMES lists the differences from that one
        raise Untranslatable("\\N{...}: this Python's Unicode names are not the ones java_unicode was written against")
    wanted = name.strip(JAVA_TRIM).upper()
    code = _java_names_by_name().get(wanted)
    if code is None:
        try:
            found = unicodedata.lookup(wanted)  # Python's name, alias or named sequence: kept only where Java's too
        except (KeyError, ValueError):  # ValueError: UnicodeEncodeError, for a lone surrogate in the name
            found = ""
        if len(found) == 1 and _java_name(ord(found)) == wanted:
            code = ord(found)
    if code is not None:
        return code
    _, _, digits = wanted.rpartition(" ")
    if " " in wanted and re.fullmatch(r"[+-]?[0-9A-F]+", digits):  # Integer.parseInt(name, off + 1, end, 16)
        code = int(digits, 16)
        if 0 <= code <= _MAX and _java_name(code) == wanted:
            return code
    return None


JAVA_TRIM = "".join(map(chr, range(0x21)))  # String.trim: every character up to U+0020


def _java_name(code: int) -> str | None:
    """Character.getName (JDK 21): its explicit name, else its block's and its code point's, None where unassigned."""
    listed = java_unicode.NAMES.get(f"{code:x}")
    if listed is not None:
        return listed
    if not _contains(_unnamed(), code):
        python = unicodedata.name(chr(code), None)
        if python is not None:
            return python
    if _contains(_category("Cn"), code):
        return None
    block = _block_of(code)
    return f"{block.replace('_', ' ')} {code:X}" if block else f"{code:X}"


@functools.cache
def _java_names_by_name() -> dict[str, int]:
    return {name: int(code, 16) for code, name in java_unicode.NAMES.items()}


@functools.cache
def _unnamed() -> Ranges:
    return _parsed(java_unicode.UNNAMED)


@functools.cache
def _blocks_in_order() -> tuple[tuple[int, int, str], ...]:
    return tuple(sorted((a, b, block) for block, text in java_unicode.BLOCKS.items() for a, b in _parsed(text)))


def _block_of(code: int) -> str | None:
    """Character.UnicodeBlock.of: the block's identifier, None outside every block."""
    blocks = _blocks_in_order()
    at = bisect.bisect_right(blocks, (code, _MAX + 1, "")) - 1
    return blocks[at][2] if at >= 0 and blocks[at][0] <= code <= blocks[at][1] else None


def _is_hex(ch: int) -> bool:
    return ch < 128 and chr(ch) in "0123456789abcdefABCDEF"


def _is_ascii_letter(ch: int) -> bool:
    return ch < 128 and chr(ch).isalpha()


def _is_ascii_space(ch: int) -> bool:
    return ch in (0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D)
