"""Sets of characters as sorted, disjoint ranges of code points (or UTF-16 units): the one algebra the regular
expression readers (ecma262.py for Rhino, java_regex.py for java.util.regex) resolve their classes with."""

from __future__ import annotations

from collections.abc import Iterable

Ranges = tuple[tuple[int, int], ...]


def merged(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """The ranges sorted, overlapping and adjacent ones joined, empty ones dropped."""
    out: list[tuple[int, int]] = []
    for first, last in sorted(r for r in ranges if r[0] <= r[1]):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return tuple(out)


def complement(ranges: Iterable[tuple[int, int]], last: int) -> Ranges:
    """Every code point from 0 to `last` that the ranges do not hold."""
    out, low = [], 0
    for first, end in merged(ranges):
        if first > low:
            out.append((low, first - 1))
        low = end + 1
    if low <= last:
        out.append((low, last))
    return tuple(out)
