"""Java's handling of text as APIM's code calls it, for the modules that read that code step by step: String.trim
and String.split, Character.isWhitespace, decoding (`new String(bytes, charset)`: UTF-8 and UTF-16 replaced as the
JDK replaces, a Reader's), java.net.URLDecoder and Character.digit. test_java_strings_parity holds UTF-8 decoding
to the JDK; URLDecoder's messages are held to it through the validator (test_schema_validation_parity), the other
charsets through commons-fileupload (test_multipart_builder_parity)."""

from __future__ import annotations

import codecs
import re
import unicodedata
from typing import Literal

from .java_unicode import PROPERTIES

BLANK = "".join(chr(c) for c in range(0x21))  # what String.trim takes off: every character up to U+0020
# What Character.isWhitespace holds, by JDK 21's data.
WHITESPACE = "".join(
    chr(code)
    for first, _, last in (span.partition("-") for span in PROPERTIES["whitespace"].split(","))
    for code in range(int(first, 16), int(last, 16) + 1)
)


def trim(text: str) -> str:
    """String.trim."""
    return text.strip(BLANK)


def split(text: str, separator: str) -> list[str]:
    """String.split of a literal separator: trailing empty strings dropped (all of them, but "" stays [""])."""
    parts = text.split(separator)
    if parts == [""]:
        return parts
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _as_java_replaces(error: UnicodeError) -> tuple[str, int]:
    """Java's UTF-8 decoder replaces as Python's does (each maximal ill-formed part one U+FFFD), but for a surrogate
    encoded as UTF-8 (0xED then 0xA0-0xBF): Java reads the lead with that byte, and the next if it continues them,
    as one malformed sequence (String.decodeUTF8_UTF16, malformed3)."""
    assert isinstance(error, UnicodeDecodeError)
    data, start = error.object, error.start
    if data[start] == 0xED and start + 1 < len(data) and 0xA0 <= data[start + 1] <= 0xBF:
        continues = start + 2 < len(data) and 0x80 <= data[start + 2] <= 0xBF
        return "\ufffd", start + (3 if continues else 2)
    return "\ufffd", error.end


codecs.register_error("java-utf-8", _as_java_replaces)


def utf8(data: bytes) -> str:
    """new String(data, UTF_8) (or ByteArrayOutputStream.toString("UTF-8")): malformed input replaced as Java
    replaces it."""
    return data.decode("utf-8", "java-utf-8")


def _as_java_replaces_utf16(error: UnicodeError) -> tuple[str, int]:
    """Java's UTF-16 decoder (sun.nio.cs.UnicodeDecoder) reads a high surrogate and the unit after it together: when
    that is not a low surrogate, both are one malformed sequence (malformedForLength(4)). Python replaces the high
    one alone."""
    assert isinstance(error, UnicodeDecodeError)
    data, start = error.object, error.start
    order: Literal["little", "big"] = "little" if error.encoding.endswith("le") else "big"
    high = error.end - start == 2 and 0xD800 <= int.from_bytes(data[start : start + 2], order) <= 0xDBFF
    if high and start + 4 <= len(data):
        return "\ufffd", start + 4
    return "\ufffd", error.end


codecs.register_error("java-utf-16", _as_java_replaces_utf16)
_UNMARKED = {"utf-16": "utf-16-be", "utf-32": "utf-32-be"}  # Java reads these big-endian without a BOM
_BOMS = (codecs.BOM_UTF32_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE)


_JAVA_CHARSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+:_.\-]*\Z")  # Charset.checkName; others are illegal
# Python's codecs that are no charset of Java's, or cannot decode with replacement.
_PYTHON_ONLY = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "utf-7", "utf-8-sig", "undefined", "mbcs", "oem"}
)


def decode(data: bytes, charset: str) -> str:
    """new String(data, charset): UTF-8 as utf8 does; UTF-16 and UTF-32 big-endian unless a BOM says otherwise,
    UTF-16's malformed input replaced as Java replaces it; another charset Python knows by that name with
    malformed input replaced; LookupError where Java would know none (UnsupportedEncodingException, also for a name
    Java holds illegal). Approximation: Python's names and decoders stand for Java's beyond UTF-8 and UTF-16."""
    if not _JAVA_CHARSET_NAME.match(charset):
        raise LookupError(charset)
    codec = codecs.lookup(charset)  # LookupError for a name it does not know
    if codec.name == "utf-8":
        return utf8(data)
    if codec.name in _PYTHON_ONLY or not getattr(codec, "_is_text_encoding", True):  # rot13, base64...
        raise LookupError(charset)
    name = codec.name
    if name in _UNMARKED and not data.startswith(_BOMS):
        name = _UNMARKED[name]
    return data.decode(name, "java-utf-16" if name.startswith("utf-16") else "replace")


def supports(charset: str) -> bool:
    """Whether Java knows the charset (`decode` reads with it; Charset.isSupported, an illegal name unsupported)."""
    try:
        decode(b"", charset)
    except LookupError:
        return False
    return True


# A run of `%` escapes (each `%` and the two characters after it, whatever they are), or one `%` too close to the
# end for two: what URL decoders read apart from the text around it.
ESCAPE_RUNS = re.compile(r"(?:%..)+|%.?\Z", re.DOTALL)
_ESCAPE_RUNS_OR_PLUS = re.compile(ESCAPE_RUNS.pattern + r"|\+", re.DOTALL)  # URLDecoder reads a `+` in an escape


def url_decode(text: str) -> str:
    """java.net.URLDecoder.decode(text, UTF_8): `+` a space, each run of `%XX` its bytes as UTF-8; ValueError with
    URLDecoder's own message where an escape is malformed (each `XX` read by Integer.parseInt(s, i + 1, i + 3, 16),
    which takes a sign and any script's digits)."""
    return _ESCAPE_RUNS_OR_PLUS.sub(_url_decoded, text) if "%" in text or "+" in text else text


def _url_decoded(found: re.Match[str]) -> str:
    run = found.group()
    if run == "+":
        return " "
    if len(run) < 3:
        raise ValueError("URLDecoder: Incomplete trailing escape (%) pattern")
    if (decoded := ascii_escaped(run)) is not None:
        return decoded
    return utf8(bytes(_escape_byte(run, at + 1) for at in range(0, len(run), 3)))


def _escape_byte(text: str, begin: int) -> int:
    """Integer.parseInt(text, begin, begin + 2, 16) as URLDecoder reads an escape's two characters."""
    digits = text[begin : begin + 2]
    at, negative = 0, False
    if digits[0] < "0":  # a sign, or an error at index 0
        if digits[0] not in "+-":
            raise _illegal_escape(0, digits)
        negative, at = digits[0] == "-", 1
    value = 0
    for index in range(at, 2):
        digit = hex_digit(digits[index])
        if digit is None:
            raise _illegal_escape(index, digits)
        value = value * 16 + digit
    if negative and value:
        raise ValueError("URLDecoder: Illegal hex characters in escape (%) pattern - negative value")
    return value


def _illegal_escape(index: int, digits: str) -> ValueError:
    return ValueError(
        f'URLDecoder: Illegal hex characters in escape (%) pattern - Error at index {index} in: "{digits}"'
    )


_ASCII_HEX = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}
_ASCII_ESCAPES = re.compile("(?:%[0-9A-Fa-f]{2})+")  # a run of escapes bytes.fromhex reads at once


def ascii_escaped(run: str, charset: str = "UTF-8") -> str | None:
    """A run of `%XX` escapes whose digits are all ASCII hex, its bytes in the charset (UTF-8 unless told; one
    `decode` knows), read at once (the common case of every URL decoder here); None where a digit must be read an
    escape at a time."""
    if not _ASCII_ESCAPES.fullmatch(run):
        return None
    data = bytes.fromhex(run.replace("%", ""))
    return utf8(data) if charset == "UTF-8" else decode(data, charset)


def hex_digit(c: str) -> int | None:
    """Character.digit(c, 16): any script's decimal digit, and the Latin letters a-f, ASCII or fullwidth."""
    if c in _ASCII_HEX:
        return _ASCII_HEX[c]
    for first in ("a", "A", "\uff41", "\uff21"):
        if ord(first) <= ord(c) <= ord(first) + 5:
            return 10 + ord(c) - ord(first)
    return unicodedata.decimal(c, None)
