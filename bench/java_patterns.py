"""What matching a pattern as Java does costs (java_regex.py), against Python's `re` on the same text, in process.

    .venv/bin/python -m bench.java_patterns

APIM's gateway hands an advanced policy's conditions, the JWT claim validator's pattern, an API key's permitted
referers and CORS origins with `*` to java.util.regex; the adapter reads each pattern once (a catalog, a key) into a
Python pattern that matches what Java's matches, and runs that per call. Each row is ns per `find()` (a condition's
`regex:find`), best of several repeats, for patterns admins write, the same source compiled by Python's `re` beside
it where `re` reads it at all, and their ratio; then what reading a pattern costs once, uncached.
"""

from __future__ import annotations

import re
import timeit

from apim_adapter import java_regex

REPEATS, NUMBER = 5, 100_000

# (pattern, text): a header condition anchored whole, one found anywhere, a claim's alternatives, ASCII's \s and
# (?i), a count, a word boundary (\b, which Java reads with marks after letters: the costliest construct), and a
# property by name (Python's `re` has no \p).
CASES = [
    (r"^gold$", "gold"),
    (r"gold", "x-premium-gold-tier"),
    (r"^(admin|ops)-[a-z]+$", "admin-team"),
    (r"(?i)^bearer\s+\S+$", "Bearer abc.def"),
    (r"\d{3}", "abc123"),
    (r"\bgold\b", "the gold tier"),
    (r"^\p{Lu}\p{L}+$", "Zürich"),
]


def ns(fn) -> float:
    return min(timeit.repeat(fn, number=NUMBER, repeat=REPEATS)) / NUMBER * 1e9


def main() -> int:
    print(f"{'pattern':<24} {'java_regex':>10} {'python re':>10} {'ratio':>6}   (ns per find)")
    for source, text in CASES:
        java = java_regex.compile(source).regex
        ours = ns(lambda java=java, text=text: java.search(text))
        try:
            python = re.compile(source)
        except re.error:
            print(f"{source:<24} {ours:>10.0f} {'-':>10} {'-':>6}")
            continue
        theirs = ns(lambda python=python, text=text: python.search(text))
        print(f"{source:<24} {ours:>10.0f} {theirs:>10.0f} {ours / theirs:>6.2f}")
    print("\nreading a pattern once (µs, uncached; the Unicode sets it uses built already):")
    for source, _ in CASES:
        java_regex.compile(source)  # builds the sets its classes use, which every later pattern shares
        us = min(timeit.repeat(lambda s=source: java_regex.compile.__wrapped__(s), number=20, repeat=3)) / 20 * 1e6
        print(f"  {source:<22} {us:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
