"""APIM's Regex Policy pattern (SQL injection), found in time linear in the text it is searched in.

The pattern is product-apim v4.5.0's `regexPolicy_v1.j2` `regex` value, as Synapse reads the XML attribute (its line
breaks become spaces) and carbon-apimgt's RegularExpressionProtector compiles it (`Pattern.CASE_INSENSITIVE`: ASCII
letters only) and runs it (`matcher(text).find()`). Each alternative is `.*X.*`, and searched as written — by Java on
APIM's gateway, or by Python's `re` — each leading `.*` is tried from every position: a 60 KB header without a match
takes minutes (measured: 8 KB 3 s, 60 KB 173 s). `found` answers the same question without the backtracking:

- `.*X.*` is found wherever X is (`.*` may be empty), for the alternatives whose X has no `.*` of its own;
- three alternatives start a line of the template, so five spaces come first: `     .*X.*` is found where X is and
  the same line (`.` matches no line terminator: `\\n`, `\\r`, U+0085, U+2028, U+2029) has five spaces before it;
- `.*select\\s*.*\\s*from.*` is found where a `select` is followed by a `from`, with only whitespace (`\\s` may span
  lines) between them, or with what is between them past its leading and trailing whitespace on one line.

`AS_SYNAPSE_READS` is the pattern itself; the unit tests hold `found` to it, as java_regex reads and runs it, on every
short text they make.
"""

from __future__ import annotations

import bisect
import re

AS_WRITTEN = r""".*'.*|.*alter.*|.*alter \s*table.*|.*alter\s*view.*|
    .*create\s*database.*|.*create\s*procedure.*|.*create\s*schema.*|.*create\s*table.*|.*create\s*view.*|
    .*delete\s*from.*|.*drop\s*database.*|.*drop\s*procedure.*|.*drop\s*table.*|.*select\s*.*\s*from.*|
    .*truncate\s*table.*|.*insert\s*into.*"""
AS_SYNAPSE_READS = re.sub(r"[\t\r\n]", " ", AS_WRITTEN)  # XML attribute-value normalization

TERMINATORS = "\n\r\x85\u2028\u2029"  # what Java's `.` does not match
_WHITESPACE = re.compile(r"[ \t\n\x0b\x0c\r]*")  # Java's `\s`, as many as there are
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")  # length-preserving
# The alternatives found wherever their X is (`alter` covers `alter \s*table` and `alter\s*view`), searched in the
# text in ASCII lower case: `'` and `alter` as substrings, the others only where their first word is.
_ANYWHERE = re.compile(
    r"create\s*(?:procedure|schema|table|view)|drop\s*(?:database|procedure|table)|insert\s*into", re.ASCII
)
_ANYWHERE_FIRST_WORDS = ("create", "drop", "insert")
_AFTER_FIVE_SPACES = re.compile(r"create\s*database|delete\s*from|truncate\s*table", re.ASCII)
_AFTER_FIVE_SPACES_FIRST_WORDS = ("create", "delete", "truncate")
_FIVE_SPACES = "     "


def found(text: str) -> bool:
    """Whether APIM's pattern is found in `text`, as `Pattern.compile(AS_SYNAPSE_READS, CASE_INSENSITIVE)
    .matcher(text).find()` answers."""
    # CASE_INSENSITIVE without UNICODE_CASE folds ASCII letters only; lowering them keeps every position. Substring
    # tests (C, memchr-fast) first: a regular expression's alternation tries every position of a body.
    lowered = text.translate(_ASCII_LOWER)
    if "'" in lowered or "alter" in lowered:
        return True
    if any(word in lowered for word in _ANYWHERE_FIRST_WORDS) and _ANYWHERE.search(lowered):
        return True
    five = " " * 5 in lowered and any(word in lowered for word in _AFTER_FIVE_SPACES_FIRST_WORDS)
    select_from = "select" in lowered and "from" in lowered
    if not (five or select_from):
        return False
    breaks = [i for i, ch in enumerate(text) if ch in TERMINATORS] if any(t in text for t in TERMINATORS) else []
    return (five and _after_five_spaces(lowered, breaks)) or (select_from and _select_from(lowered, breaks))


def _line_start(breaks: list[int], at: int) -> tuple[int, int, int]:
    """The line `at` is on: its index, its first position and its end (the next terminator, or the text's end)."""
    line = bisect.bisect_left(breaks, at)  # terminators before `at`
    start = breaks[line - 1] + 1 if line else 0
    return line, start, breaks[line] if line < len(breaks) else -1


def _after_five_spaces(text: str, breaks: list[int]) -> bool:
    first_run: dict[int, int] = {}  # line → where its first five spaces are (-1: none)
    for match in _AFTER_FIVE_SPACES.finditer(text):
        line, start, end = _line_start(breaks, match.start())
        if line not in first_run:
            first_run[line] = text.find(_FIVE_SPACES, start, end if end >= 0 else len(text))
        if first_run[line] >= 0 and first_run[line] + len(_FIVE_SPACES) <= match.start():
            return True
    return False


def _select_from(lowered: str, breaks: list[int]) -> bool:
    """`select\\s*.*\\s*from` found in `lowered` (ASCII lower case): for a `from` at c and a `select` at s ending by
    c, `a` the first non-whitespace after the select and `last` the last non-whitespace before the from, either
    a >= c (whitespace only between) or a and last are on one line and neither is a terminator."""
    selects = [m.start() for m in re.finditer("select", lowered)]
    if not selects:
        return False
    taken, last_a = 0, -1
    by_line: dict[int, int] = {}  # the line of a select's `a` (terminators before it) → that `a`
    for match in re.finditer("from", lowered):
        c = match.start()
        while taken < len(selects) and selects[taken] + 6 <= c:
            ws = _WHITESPACE.match(lowered, selects[taken] + 6)
            assert ws is not None  # `*`: it matches, if only nothing
            last_a = ws.end()
            by_line.setdefault(bisect.bisect_left(breaks, last_a), last_a)
            taken += 1
        if taken == 0:
            continue
        if last_a >= c:  # `a` grows with s: the last select before c has the largest
            return True
        last = c - 1
        while lowered[last] in " \t\n\x0b\x0c\r":  # stops at the select's `a` at the latest (a < c)
            last -= 1
        if lowered[last] not in TERMINATORS and bisect.bisect_left(breaks, last) in by_line:
            return True
    return False
