"""ECMA 262 regular expressions as APIM's Schema Validation reads and runs them, for schema_validation.

fge's json-schema-validator hands a schema's `pattern`, and a value of format `regex`, to JavaScript's `RegExp`
(json-schema-core 1.2.10 `RegexECMA262Helper`: `new RegExp(re)` to check one, `new RegExp(re).test(input)` to match).
The engine is Nashorn where the JDK has one, else Rhino 1.7.7.1, which the library ships; APIM 4.5 runs on JDK 17 or
21, which have no Nashorn, so it is Rhino. Python's `re` reads the same text otherwise, and a validation that used it
as it is would let requests through that APIM refuses: `$` matches before a final newline in Python (`^[a-z]+$` takes
"abc\\n"), `.` matches `\\r` and U+2028, and `\\s` misses U+00A0 and U+FEFF. So each pattern is read here as Rhino's
parser reads it (org.mozilla.javascript.regexp.NativeRegExp: parseDisjunction, parseTerm, calculateBitmapSize,
processCharSetImpl) and written out as a Python pattern that matches what Rhino's matches:

- text is matched as Rhino sees it, in UTF-16 code units (an emoji is two, and `.` matches one of them);
- `$` is the end of the text, `^` its start; `.` is any unit but \\n, \\r, U+2028 and U+2029;
- `\\d`, `\\w` and `\\b` are ASCII; `\\s` is Rhino's white space (ScriptRuntime.isJSWhitespaceOrLineTerminator);
- a backreference to a group that did not take part matches the empty text; `\\N` past the groups is octal, `\\8` and
  `\\9` there a backslash and the digit; `\\x` and `\\u` without their hex digits, and `\\c` without a letter, are
  read as Rhino backs off from them; any other escaped character is itself (`\\A`, `\\Z`, `\\k` are letters);
- in a class, `\\b` is a backspace and octal escapes are read; `[]` matches nothing, `[^]` anything;
- `{` that does not begin a quantifier is a character;
- and Rhino's refusals are kept: a quantifier with nothing to repeat (`*a`, `a**`, `a{2}+`, `^*`, `\\b+`), `(?` other
  than `(?:`, `(?=` and `(?!` (no lookbehind, no named groups), an unbalanced parenthesis or class, a class range out
  of order or ending in a class escape (`[a-\\d]`), a count of 65,535 or more, and a trailing backslash.

Where Rhino's parser reads past the end of the pattern (`a{1`, `a{1,`: an ArrayIndexOutOfBoundsException, which
fails APIM's validation), the place is given (Overrun) for the caller to answer as APIM's handler does.

Not reproduced, defects of Rhino's interpreter: a lookahead whose body can end by matching nothing without an
operation of its own (`(?=)`, `(?=a|)`, `(?=a*?)`) is left undecided there (its answer is the previous operation's),
where here it matches as ECMA 262 says; a lookahead quantified with `+` or a count fails there (`(?=a)+b`); and a class
range out of order after a class escape (`[\\sz-a]`, which Rhino's range check does not reach) matches nothing here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .codepoints import complement, merged

# Rhino's white space: \t \n \v \f \r, space, U+00A0, U+FEFF, U+2028, U+2029 and the JDK's SPACE_SEPARATORs.
_SPACE = ((0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
          (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF))  # fmt: skip
_DIGIT = ((0x30, 0x39),)
_WORD = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_LINE_TERMINATORS = ((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))
_LAST_UNIT = 0xFFFF
_COUNT_LIMIT = 0xFFFF  # getDecimalValue's maxValue: a count or backreference reaching it is refused
# Parentheses nested deeper than this are refused here (Rhino's recursive parser would overflow its stack somewhere
# past it; this parser recurses as Rhino's does).
MAX_NESTING = 200
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Pattern:
    """A pattern as Rhino compiles it: `regex` matches what Rhino's RegExp matches, on text given as UTF-16 units
    (`units`); None where Rhino refuses the pattern (`overrun` set where its parser fails instead)."""

    source: str
    regex: re.Pattern[str] | None
    overrun: Overrun | None

    def test(self, text: str) -> bool:
        """RegExp.prototype.test: whether the pattern matches somewhere in the text."""
        return self.regex is not None and self.regex.search(units(text)) is not None


@dataclass(frozen=True, slots=True)
class Overrun:
    """Rhino's parser reading past the pattern's end: the exception APIM's validator then fails with."""

    index: int
    length: int

    def message(self) -> str:
        return f"Index {self.index} out of bounds for length {self.length}"

    def exception(self) -> str:
        return "java.lang.ArrayIndexOutOfBoundsException: " + self.message()


class _Refused(Exception):
    """Rhino's SyntaxError for the pattern."""


class _Overran(Exception):
    def __init__(self, overrun: Overrun) -> None:
        super().__init__(overrun.exception())
        self.overrun = overrun


def units(text: str) -> str:
    """The text as UTF-16 code units, one character each (a character past U+FFFF becomes its surrogate pair)."""
    if not _ASTRAL.search(text):
        return text
    return "".join(
        c
        if ord(c) <= _LAST_UNIT
        else chr(0xD800 + ((ord(c) - 0x10000) >> 10)) + chr(0xDC00 + ((ord(c) - 0x10000) & 0x3FF))
        for c in text
    )


def check(source: str) -> tuple[bool, Overrun | None]:
    """Whether Rhino takes the pattern (`new RegExp(re)` does not throw), without compiling it for Python: for text a
    client sends (a value of format `regex`), which is neither compiled nor kept."""
    try:
        _translate(source)
    except _Refused:
        return False, None
    except _Overran as overran:
        return False, overran.overrun
    return True, None


@functools.lru_cache(maxsize=4096)
def compiled(source: str) -> Pattern:
    """A definition's pattern, compiled once (the cache holds definitions' patterns only, never a client's text)."""
    try:
        python = _translate(source)
    except _Refused:
        return Pattern(source, None, None)
    except _Overran as overran:
        return Pattern(source, None, overran.overrun)
    try:
        return Pattern(source, re.compile(python, re.ASCII), None)
    except (re.error, OverflowError, RecursionError):  # a pattern this module writes wrong: refused, never a crash
        return Pattern(source, None, None)


def _translate(source: str) -> str:
    """The Python pattern for an ECMA 262 one; _Refused or _Overran where Rhino's parser refuses or fails. Parsed
    twice where a backreference names a group the pattern lacks, as Rhino does (it is then octal)."""
    text = units(source)
    first = _Parser(text, limit=_COUNT_LIMIT)
    python = first.parse()
    if first.max_backreference > first.groups:
        python = _Parser(text, limit=first.groups).parse()
    return python


class _Parser:
    """One pass of Rhino's parser over the pattern (its units), writing the Python pattern as it goes."""

    def __init__(self, text: str, limit: int) -> None:
        self.text = text
        self.end = len(text)
        self.at = 0
        self.limit = limit  # Rhino's backReferenceLimit: a larger \N is octal
        self.groups = 0
        self.closed: set[int] = set()
        self.max_backreference = 0
        self.nesting = 0
        self.out: list[str] = []

    def parse(self) -> str:
        try:
            self._disjunction()
        except RecursionError:
            raise _Refused from None
        return "".join(self.out)

    def _char(self, index: int) -> str:
        """src[index], failing as Rhino's array access does past the end."""
        if index >= self.end:
            raise _Overran(Overrun(index, self.end))
        return self.text[index]

    def _disjunction(self) -> None:
        self._alternative()
        while self.at < self.end and self.text[self.at] == "|":
            self.at += 1
            self.out.append("|")
            self._alternative()

    def _alternative(self) -> None:
        while not (self.at == self.end or self.text[self.at] == "|" or (self.nesting and self.text[self.at] == ")")):
            self._term()

    def _term(self) -> None:
        c = self.text[self.at]
        self.at += 1
        if c == "^":
            self.out.append("^")
            return
        if c == "$":
            self.out.append(r"\Z")
            return
        if c == "\\":
            if self.at >= self.end:
                raise _Refused  # a trailing backslash
            c = self.text[self.at]
            self.at += 1
            if c in "bB":  # assertions: no quantifier follows
                self.out.append(r"\b" if c == "b" else _NOT_BOUNDARY)
                return
            atom = self._escape(c)
        elif c == "(":
            atom = self._group()
        elif c == ")":
            raise _Refused  # unmatched
        elif c == "[":
            atom = self._class()
        elif c == ".":
            atom = _set(_complement(_LINE_TERMINATORS))
        elif c in "*+?":
            raise _Refused  # nothing to repeat
        else:
            atom = _flat(c)
        self.out.append(self._quantified(atom))

    def _escape(self, c: str) -> str:
        if c == "0":
            return _flat(chr(self._octal(0)))
        if c in "123456789":
            start = self.at - 1
            number = self._decimal(c)
            if number > self.limit:  # no such group: octal, as Rhino's second pass reads it
                self.at = start
                if c in "89":
                    return _flat("\\")  # the digit is read next, as itself
                self.at += 1
                return _flat(chr(self._octal(int(c))))
            self.max_backreference = max(self.max_backreference, number)
            # A group that did not take part matches the empty text (Rhino); one not closed yet never took part.
            return f"(?({number})\\{number}|)" if number in self.closed else "(?:)"
        if c in _CONTROL:
            return _flat(_CONTROL[c])
        if c == "c":
            if self.at < self.end and _is_ascii_letter(self.text[self.at]):
                self.at += 1
                return _flat(chr(ord(self.text[self.at - 1]) & 0x1F))
            self.at -= 1  # the backslash is itself, and the 'c' is read next
            return _flat("\\")
        if c in "ux":
            return _flat(chr(self._hex(4 if c == "u" else 2)))
        if c in _CLASS_ESCAPES:
            return _set(_CLASS_ESCAPES[c])
        return _flat(c)

    def _octal(self, number: int) -> int:
        """Further octal digits, while the number is below 040 (Rhino follows SpiderMonkey)."""
        while number < 0o40 and self.at < self.end and "0" <= self.text[self.at] <= "7":
            number = 8 * number + int(self.text[self.at])
            self.at += 1
        return number

    def _decimal(self, first: str) -> int:
        """getDecimalValue: `first` and the digits after it; refused at 65,535 or more."""
        value = int(first)
        overflow = False
        while self.at < self.end and self.text[self.at].isdigit() and self.text[self.at].isascii():
            if not overflow:
                value = value * 10 + int(self.text[self.at])
                overflow = value >= _COUNT_LIMIT
            self.at += 1
        if overflow:
            raise _Refused
        return value

    def _hex(self, digits: int) -> int:
        """\\x or \\u's digits; where one is not a hex digit, the letter is itself and the backslash is dropped."""
        value = 0
        for count in range(digits):
            if self.at >= self.end:
                break  # the digits read so far (\\x4 at the end is U+0004)
            digit = _hex_digit(self.text[self.at])
            self.at += 1
            if digit < 0:
                self.at -= count + 2
                value = ord(self.text[self.at])
                self.at += 1
                break
            value = value * 16 + digit
        return value

    def _group(self) -> str:
        text = self.text
        kind = "("
        number = 0
        if self.at + 1 < self.end and text[self.at] == "?" and text[self.at + 1] in "=!:":
            kind = "(?" + text[self.at + 1]
            self.at += 2
        else:
            self.groups += 1
            number = self.groups
        if self.nesting >= MAX_NESTING:
            raise _Refused
        self.nesting += 1
        outer, self.out = self.out, []
        self._disjunction()
        inner, self.out = "".join(self.out), outer
        if self.at == self.end or text[self.at] != ")":
            raise _Refused  # unterminated
        self.at += 1
        self.nesting -= 1
        if number:
            self.closed.add(number)
        return kind + inner + ")"

    def _class(self) -> str:
        start = self.at
        while True:
            if self.at == self.end:
                raise _Refused  # unterminated
            if self.text[self.at] == "\\":
                self.at += 1
            elif self.text[self.at] == "]":
                break
            self.at += 1
            if self.at > self.end:
                raise _Overran(Overrun(self.at, self.end))
        body = self.text[start : self.at]
        self.at += 1
        _check_class(body)
        negated = body.startswith("^")
        members = _class_members(body[1:] if negated else body)
        return _set(_complement(members) if negated else members)

    def _quantified(self, atom: str) -> str:
        """The atom with the quantifier after it, if one follows (Rhino's parseTerm, after the atom)."""
        if self.at == self.end:
            return atom
        c = self.text[self.at]
        if c in "*+?":
            quantifier = c
        elif c == "{":
            quantifier = self._braces()
            if not quantifier:
                return atom  # not a quantifier: the '{' is read next, as itself
        else:
            return atom
        self.at += 1
        if self.at < self.end and self.text[self.at] == "?":
            self.at += 1
            quantifier += "?"
        return "(?:" + atom + ")" + quantifier

    def _braces(self) -> str:
        """`{n}`, `{n,}` or `{n,m}` from the '{' on, left on its '}'; "" (and left on the '{') for anything else."""
        left = self.at
        self.at += 1
        if self.at < self.end and self.text[self.at].isdigit() and self.text[self.at].isascii():
            self.at += 1
            least = self._decimal(self.text[self.at - 1])
            c = self._char(self.at)
            most: int | None = least
            if c == ",":
                self.at += 1
                c = self._char(self.at)
                most = None
                if c.isdigit() and c.isascii():
                    self.at += 1
                    most = self._decimal(c)
                    c = self._char(self.at)
                    if least > most:
                        raise _Refused
            if c == "}":
                return f"{{{least}}}" if most == least else f"{{{least},{'' if most is None else most}}}"
        self.at = left
        return ""


# Python's \B never matches in an empty text, where Rhino's does (neither side is a word unit): written out.
_NOT_BOUNDARY = r"(?:(?<=[0-9A-Z_a-z])(?=[0-9A-Z_a-z])|(?<![0-9A-Z_a-z])(?![0-9A-Z_a-z]))"
_CONTROL = {"f": "\x0c", "n": "\n", "r": "\r", "t": "\t", "v": "\x0b"}


def _complement(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return complement(ranges, _LAST_UNIT)


_CLASS_ESCAPES = {
    "d": _DIGIT,
    "D": _complement(_DIGIT),
    "s": _SPACE,
    "S": _complement(_SPACE),
    "w": _WORD,
    "W": _complement(_WORD),
}


def _set(ranges: Iterable[tuple[int, int]]) -> str:
    """A Python class matching exactly these units ((?!) for none)."""
    found = merged(ranges)
    if not found:
        return "(?!)"
    return "[" + "".join(_unit(a) if a == b else _unit(a) + "-" + _unit(b) for a, b in found) + "]"


def _unit(code: int) -> str:
    return f"\\u{code:04x}"


def _flat(c: str) -> str:
    return c if c.isascii() and (c.isalnum() or c == "_") else _unit(ord(c))


def _is_ascii_letter(c: str) -> bool:
    return c.isascii() and c.isalpha()


def _hex_digit(c: str) -> int:
    return int(c, 16) if c.isascii() and c in "0123456789abcdefABCDEF" else -1


def _class_escape(body: str, at: int) -> tuple[int | tuple[tuple[int, int], ...], int]:
    """One escape in a class from its backslash (processCharSetImpl): a unit, or a class escape's units; and where
    the next member begins."""
    c = body[at + 1]
    at += 2
    if c == "b":
        return 0x08, at
    if c in _CONTROL:
        return ord(_CONTROL[c]), at
    if c == "c":
        if at < len(body) and _is_ascii_letter(body[at]):
            return ord(body[at]) & 0x1F, at + 1
        return ord("\\"), at - 1
    if c in "ux":
        value = 0
        for count in range(4 if c == "u" else 2):
            if at >= len(body):
                break
            digit = _hex_digit(body[at])
            at += 1
            if digit < 0:
                return ord("\\"), at - (count + 1)
            value = value * 16 + digit
        return value, at
    if "0" <= c <= "7":
        value = int(c)
        if at < len(body) and "0" <= body[at] <= "7":
            value = 8 * value + int(body[at])
            at += 1
            if at < len(body) and "0" <= body[at] <= "7" and 8 * value + int(body[at]) <= 0o377:
                value = 8 * value + int(body[at])
                at += 1
        return value, at
    if c in _CLASS_ESCAPES:
        return _CLASS_ESCAPES[c], at
    return ord(c), at


def _class_members(body: str) -> list[tuple[int, int]]:
    """processCharSetImpl: the units a class (without its '^') holds."""
    members: list[tuple[int, int]] = []
    at = 0
    in_range = False
    range_start = 0
    while at < len(body):
        if body[at] == "\\":
            member, at = _class_escape(body, at)
            if isinstance(member, tuple):  # a class escape: no range processing
                members.extend(member)
                continue
        else:
            member, at = ord(body[at]), at + 1
        if in_range:
            members.append((range_start, member))
            in_range = False
        else:
            members.append((member, member))
            if at < len(body) - 1 and body[at] == "-":
                at += 1
                in_range = True
                range_start = member
    return members


def _check_class(body: str) -> None:
    """calculateBitmapSize's refusals: a range out of order, or one with a class escape at its end (or `\\d` at its
    start and one after it). It stops at the first of \\D, \\s, \\S, \\w, \\W outside a range, as Rhino's does."""
    at = 1 if body.startswith("^") else 0
    in_range = False
    range_start = 0
    while at < len(body):
        if body[at] == "\\":
            c = body[at + 1]
            if c in "DsSwW":
                if in_range:
                    raise _Refused
                return
            if c == "d":
                if in_range:
                    raise _Refused
                member, at = ord("9"), at + 2
            elif c == "c":  # Rhino's size pass counts \\c as a backslash, whatever follows (without a letter, the
                member = ord("\\")  # 'c' is the next member)
                at += 3 if at + 2 < len(body) and _is_ascii_letter(body[at + 2]) else 1
            else:
                unit, at = _class_escape(body, at)
                assert isinstance(unit, int)
                member = unit
        else:
            member, at = ord(body[at]), at + 1
        if in_range:
            if range_start > member:
                raise _Refused
            in_range = False
        elif at < len(body) - 1 and body[at] == "-":
            at += 1
            in_range = True
            range_start = member
