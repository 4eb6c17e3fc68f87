"""APIM's XML Validator policy (`xmlValidator` v1): XML threat protection, as APIM 4.5's gateway runs it.

carbon-apimgt `gateway/mediators/XMLSchemaValidator` hands a non-GET request whose content type is `application/xml`
or `text/xml` to `threatprotection/analyzer/XMLAnalyzer`, which reads the body with Woodstox (`WstxInputFactory`,
through `new InputStreamReader(in)`: the JVM's default charset, UTF-8 on the JDK 21 APIM 4.5 runs on, malformed
bytes replaced) and walks every event (`XMLEventReader.nextEvent`). product-apim v4.5.0 `xmlValidator_v1.j2` fixes
the analyzer's configuration (its spec has no parameters): DTD support off, external entities on (moot without a
DTD), and 100 for each of Woodstox's `maxElementDepth`, `maxElementCount`, `maxAttributesPerElement`,
`maxAttributeSize` and `maxChildrenPerElement` (ThreatProtectorConstants' `com.ctc.wstx.*` names).
`entityExpansionLimit` is read into XMLConfig but never handed to Woodstox, and with DTD support off no entity
but the five predefined ones is declared: `&e;` is "Undeclared general entity", nothing is expanded or fetched.

Woodstox's first `XMLStreamException` becomes the description "XML Validation Failed: due to " + its
`getMessage()`, answered 400 by GatewayUtils.handleThreat. `problem` gives that message for a body: this module
reads the body as Woodstox 6.2.1 (the version carbon-apimgt's pom pins) reads it, step for step where a step decides
what is refused or what is said (`com.ctc.wstx.sr.BasicStreamReader`, `StreamScanner`, `InputElementStack`,
`AttributeCollector`, `io.ReaderBootstrapper`, `io.InputBootstrapper`, `dtd.MinimalDTDReader`), so that a body is
refused exactly where Woodstox refuses it, with its words and its location ("\\n at [row,col {unknown-source}]:
[1,9]": the row, and the characters read on it). Quirks kept because they decide refusals:

- the limits: depth and element count are checked as an element's name is read (depth first), before its
  attributes; "Maximum Element Depth limit (100) Exceeded" and "Maximum Element Count limit (100) Exceeded" carry no
  location. Children per element can never be reached first (101 children are 102 elements). An attribute value
  (after entities and line breaks are resolved, in UTF-16 units) is refused at its 101st character. Attributes per
  element are counted only when Woodstox's attribute array has to grow (8, 12, 18, 27, 40, 60, 90, 135, ...: the
  array is kept from element to element), so an element's 91st attribute is refused only where its namespace
  declarations bring the count to 100, its 136th always: "Attribute limit (100) exceeded".
- a byte order mark is skipped only in a body of 7 characters or more (`ReaderBootstrapper` looks for one only
  then); in a shorter one it is an unexpected character. The XML declaration is read only there too; its encoding
  is not used (the body is already characters), its version decides XML 1.1's rules.
- a DOCTYPE's internal subset is skipped, not read (`MinimalDTDReader`): declarations are not checked, and every
  entity reference but the predefined and character ones is undeclared.
- the first chunk of a comment, a processing instruction or a CDATA section reports an illegal character or `--`
  at where the token's text started (Woodstox's `mInputPtr` is not moved on there); a line break it reads as an
  unexpected character, inside a keyword or a DOCTYPE's identifiers is no line break to its locations (`unmarked`).
- Woodstox reads its input in buffers (the first 128 characters, then 4,000 at a time): a comment's, a processing
  instruction's or a CDATA section's first reading stops at a buffer's end (what follows is read another way, with
  other locations), an entity is resolved the short way only with three characters left in the buffer, and `]]>` in
  text is refused only where the `]]` are in the `>`'s buffer. These are reproduced (`buffer_end`, `in_buffer`);
  where Woodstox reads past its data (a body ending in `<?` reads what its buffer held before), only the first
  buffer's case is.

Work is bounded: a loop over the characters of the body (runs of plain text, plain attributes and close tags at
once), nothing nested by recursion, no entity expanded, nothing fetched.
adapter/tests/e2e/test_xml_validator_woodstox.py holds this module to Woodstox itself over a corpus of edge cases.
"""

from __future__ import annotations

import logging
import re
import sys

from . import java_strings

log = logging.getLogger(__name__)

# product-apim v4.5.0 `xmlValidator_v1.j2`'s values (its spec has no parameters).
MAX_ELEMENT_DEPTH = MAX_ELEMENT_COUNT = MAX_ATTRIBUTES = MAX_ATTRIBUTE_SIZE = MAX_CHILDREN = 100
PREFIX = "XML Validation Failed: due to "  # XMLAnalyzer.analyze

_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XMLNS_NS = "http://www.w3.org/2000/xmlns/"

# ParsingErrorMsgs' suffixes.
_PROLOG, _EPILOG, _ELEMENT, _DOC, _ATTR = (" in prolog", " in epilog", " in start tag", " in main document content",
                                           " in attribute value")  # fmt: skip
_END_TAG, _COMMENT, _PI, _CDATA = " in end tag", " in comment", " in processing instruction", " in CDATA section"
_DTD, _DTD_INTERNAL, _ENTITY, _EXP_NAME = (" in DOCTYPE declaration", " in internal DTD subset",
                                           " in entity reference", "; expected an identifier")  # fmt: skip
_HYPHENS = "String '--' not allowed in comment (missing '>'?)"
_NUL = "Illegal character (NULL, unicode 0) encountered: not valid in any content"
_PUBID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n\r -'()+,./:=?;!*#@$_%")
_SPACE = frozenset(" \t\n\r")
_XML10_NAME_START = (
    "00C0-00D6 00D8-00F6 00F8-0131 0134-013E 0141-0148 014A-017E 0180-01C3 01CD-01F0 01F4-01F5 01FA-0217 0250-02A8 "
    "02BB-02C1 0386 0388-038A 038C 038E-03A1 03A3-03CE 03D0-03D6 03DA 03DC 03DE 03E0 03E2-03F3 0401-040C 040E-044F "
    "0451-045C 045E-0481 0490-04C4 04C7-04C8 04CB-04CC 04D0-04EB 04EE-04F5 04F8-04F9 0531-0556 0559 0561-0586 "
    "05D0-05EA 05F0-05F2 0621-063A 0641-064A 0671-06B7 06BA-06BE 06C0-06CE 06D0-06D3 06D5 06E5-06E6 0905-0939 093D "
    "0958-0961 0985-098C 098F-0990 0993-09A8 09AA-09B0 09B2 09B6-09B9 09DC-09DD 09DF-09E1 09F0-09F1 0A05-0A0A "
    "0A0F-0A10 0A13-0A28 0A2A-0A30 0A32-0A33 0A35-0A36 0A38-0A39 0A59-0A5C 0A5E 0A72-0A74 0A85-0A8B 0A8D 0A8F-0A91 "
    "0A93-0AA8 0AAA-0AB0 0AB2-0AB3 0AB5-0AB9 0ABD 0AE0 0B05-0B0C 0B0F-0B10 0B13-0B28 0B2A-0B30 0B32-0B33 0B36-0B39 "
    "0B3D 0B5C-0B5D 0B5F-0B61 0B85-0B8A 0B8E-0B90 0B92-0B95 0B99-0B9A 0B9C 0B9E-0B9F 0BA3-0BA4 0BA8-0BAA 0BAE-0BB5 "
    "0BB7-0BB9 0C05-0C0C 0C0E-0C10 0C12-0C28 0C2A-0C33 0C35-0C39 0C60-0C61 0C85-0C8C 0C8E-0C90 0C92-0CA8 0CAA-0CB3 "
    "0CB5-0CB9 0CDE 0CE0-0CE1 0D05-0D0C 0D0E-0D10 0D12-0D28 0D2A-0D39 0D60-0D61 0E01-0E2E 0E30 0E32-0E33 0E40-0E45 "
    "0E81-0E82 0E84 0E87-0E88 0E8A 0E8D 0E94-0E97 0E99-0E9F 0EA1-0EA3 0EA5 0EA7 0EAA-0EAB 0EAD-0EAE 0EB0 0EB2-0EB3 "
    "0EBD 0EC0-0EC4 0F40-0F47 0F49-0F69 10A0-10C5 10D0-10F6 1100 1102-1103 1105-1107 1109 110B-110C 110E-1112 113C "
    "113E 1140 114C 114E 1150 1154-1155 1159 115F-1161 1163 1165 1167 1169 116D-116E 1172-1173 1175 119E 11A8 11AB "
    "11AE-11AF 11B7-11B8 11BA 11BC-11C2 11EB 11F0 11F9 1E00-1E9B 1EA0-1EF9 1F00-1F15 1F18-1F1D 1F20-1F45 1F48-1F4D "
    "1F50-1F57 1F59 1F5B 1F5D 1F5F-1F7D 1F80-1FB4 1FB6-1FBC 1FBE 1FC2-1FC4 1FC6-1FCC 1FD0-1FD3 1FD6-1FDB 1FE0-1FEC "
    "1FF2-1FF4 1FF6-1FFC 2126 212A-212B 212E 2180-2182 3007 3021-3029 3041-3094 30A1-30FA 3105-312C 4E00-9FA5 "
    "AC00-D7A3 D800-DBFF "
)
_XML10_NAME = (
    "00B7 00C0-00D6 00D8-00F6 00F8-0131 0134-013E 0141-0148 014A-017E 0180-01C3 01CD-01F0 01F4-01F5 01FA-0217 "
    "0250-02A8 02BB-02C1 02D0-02D1 0300-0345 0360-0361 0386-038A 038C 038E-03A1 03A3-03CE 03D0-03D6 03DA 03DC 03DE "
    "03E0 03E2-03F3 0401-040C 040E-044F 0451-045C 045E-0481 0483-0486 0490-04C4 04C7-04C8 04CB-04CC 04D0-04EB "
    "04EE-04F5 04F8-04F9 0531-0556 0559 0561-0586 0591-05A1 05A3-05B9 05BB-05BD 05BF 05C1-05C2 05C4 05D0-05EA "
    "05F0-05F2 0621-063A 0640-0652 0660-0669 0670-06B7 06BA-06BE 06C0-06CE 06D0-06D3 06D5-06E8 06EA-06ED 06F0-06F9 "
    "0901-0903 0905-0939 093C-094D 0951-0954 0958-0963 0966-096F 0981-0983 0985-098C 098F-0990 0993-09A8 09AA-09B0 "
    "09B2 09B6-09B9 09BC 09BE-09C4 09C7-09C8 09CB-09CD 09D7 09DC-09DD 09DF-09E3 09E6-09F1 0A02 0A05-0A0A 0A0F-0A10 "
    "0A13-0A28 0A2A-0A30 0A32-0A33 0A35-0A36 0A38-0A39 0A3C 0A3E-0A42 0A47-0A48 0A4B-0A4D 0A59-0A5C 0A5E 0A66-0A74 "
    "0A81-0A83 0A85-0A8B 0A8D 0A8F-0A91 0A93-0AA8 0AAA-0AB0 0AB2-0AB3 0AB5-0AB9 0ABC-0AC5 0AC7-0AC9 0ACB-0ACD 0AE0 "
    "0AE6-0AEF 0B01-0B03 0B05-0B0C 0B0F-0B10 0B13-0B28 0B2A-0B30 0B32-0B33 0B36-0B39 0B3C-0B43 0B47-0B48 0B4B-0B4D "
    "0B56-0B57 0B5C-0B5D 0B5F-0B61 0B66-0B6F 0B82-0B83 0B85-0B8A 0B8E-0B90 0B92-0B95 0B99-0B9A 0B9C 0B9E-0B9F "
    "0BA3-0BA4 0BA8-0BAA 0BAE-0BB5 0BB7-0BB9 0BBE-0BC2 0BC6-0BC8 0BCA-0BCD 0BD7 0BE7-0BEF 0C01-0C03 0C05-0C0C "
    "0C0E-0C10 0C12-0C28 0C2A-0C33 0C35-0C39 0C3E-0C44 0C46-0C48 0C4A-0C4D 0C55-0C56 0C60-0C61 0C66-0C6F 0C82-0C83 "
    "0C85-0C8C 0C8E-0C90 0C92-0CA8 0CAA-0CB3 0CB5-0CB9 0CBE-0CC4 0CC6-0CC8 0CCA-0CCD 0CD5-0CD6 0CDE 0CE0-0CE1 "
    "0CE6-0CEF 0D02-0D03 0D05-0D0C 0D0E-0D10 0D12-0D28 0D2A-0D39 0D3E-0D43 0D46-0D48 0D4A-0D4D 0D57 0D60-0D61 "
    "0D66-0D6F 0E01-0E2E 0E30-0E3A 0E40-0E4E 0E50-0E59 0E81-0E82 0E84 0E87-0E88 0E8A 0E8D 0E94-0E97 0E99-0E9F "
    "0EA1-0EA3 0EA5 0EA7 0EAA-0EAB 0EAD-0EAE 0EB0-0EB9 0EBB-0EBD 0EC0-0EC4 0EC6 0EC8-0ECD 0ED0-0ED9 0F18-0F19 "
    "0F20-0F29 0F35 0F37 0F39 0F3E-0F47 0F49-0F69 0F71-0F84 0F86-0F8B 0F90-0F95 0F97 0F99-0FAD 0FB1-0FB7 0FB9 "
    "10A0-10C5 10D0-10F6 1100 1102-1103 1105-1107 1109 110B-110C 110E-1112 113C 113E 1140 114C 114E 1150 1154-1155 "
    "1159 115F-1161 1163 1165 1167 1169 116D-116E 1172-1173 1175 119E 11A8 11AB 11AE-11AF 11B7-11B8 11BA 11BC-11C2 "
    "11EB 11F0 11F9 1E00-1E9B 1EA0-1EF9 1F00-1F15 1F18-1F1D 1F20-1F45 1F48-1F4D 1F50-1F57 1F59 1F5B 1F5D 1F5F-1F7D "
    "1F80-1FB4 1FB6-1FBC 1FBE 1FC2-1FC4 1FC6-1FCC 1FD0-1FD3 1FD6-1FDB 1FE0-1FEC 1FF2-1FF4 1FF6-1FFC 20D0-20DC 20E1 "
    "2126 212A-212B 212E 2180-2182 3005 3007 3021-302F 3031-3035 3041-3094 3099-309A 309D-309E 30A1-30FA 30FC-30FE "
    "3105-312C 4E00-9FA5 AC00-D7A3 D800-DFFF "
)
_XML11_NAME_START = (
    "00C0-00D6 00D8-00F6 00F8-02FF 0370-037D 037F-1FFF 200C-200D 2070-218F 2C00-2FEF 3001-DBFF F900-FDCF FDF0-FFFD "
)
_XML11_NAME = "00B7 00C0-037D 037F-1FFF 200C-200D 203F-2040 2070-218F 2C00-2FEF 3001-DFFF F900-FDCF FDF0-FFFD "


def _class(ascii_part: str, ranges: str) -> re.Pattern[str]:
    """One character of a class: Woodstox's ASCII rule (`isNameStartChar`, `isNameChar`), its tables past 'z'."""
    parts = [
        "\\u{}-\\u{}".format(*r.split("-")) if "-" in r else f"\\u{r}" for r in ranges.split()
    ]  # fmt: skip
    return re.compile("[" + ascii_part + "".join(parts) + "]")


_NAME_START = {False: _class("A-Za-z_", _XML10_NAME_START), True: _class("A-Za-z_", _XML11_NAME_START)}
_NAME = {False: _class("A-Za-z0-9._\\-", _XML10_NAME), True: _class("A-Za-z0-9._\\-", _XML11_NAME)}
_NAMES = {xml11: re.compile(_NAME[xml11].pattern + "*") for xml11 in (False, True)}
# White space, a name, `=` and a quoted value with nothing to resolve or normalize: what handleNsAttrs reads of such
# an attribute, at once.
_PLAIN_ATTRIBUTE = {
    xml11: re.compile(
        "[ \t\n\r]+(?:({name}):)?({name})[ \t\n\r]*=[ \t\n\r]*(?:\"([^<&\"\x00-\x1f]*)\"|'([^<&'\x00-\x1f]*)')".format(
            name=_NAME_START[xml11].pattern + _NAME[xml11].pattern + "*"
        )
    )
    for xml11 in (False, True)
}
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# Runs of characters each reading passes over without a decision (line breaks count lazily, in `_where`).
_TEXT_RUN = re.compile("[^<&>\x00-\x08\x0b\x0c\x0e-\x1f]+")
_VALUE_RUN = re.compile("[^<&'\"\x00-\x1f]+")
_COMMENT_RUN = re.compile("[^-\x00-\x08\x0b-\x1f]+")


class _Refused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# What a body this module fails to read is answered with, after APIM's prefix: refused rather than let by (APIM's
# Woodstox would have read it, one way or the other), and logged, to be mended.
UNREADABLE = "the request body could not be read here"


def problem(body: bytes) -> str | None:
    """Woodstox's message for the first thing XMLAnalyzer's reader refuses in `body`, or None."""
    try:
        _Reader(java_text(body)).read()
    except _Refused as refused:
        return refused.message
    except Exception:  # a reading of ours that fails on some body: never a crash of the check, nor a 5xx
        log.exception("XML Validator could not read a body (xml_protector)", extra={"bytes": len(body)})
        return UNREADABLE
    return None


def reads(text: str) -> bool:
    """Whether Woodstox reads `text` (an XML document Axiom wrote) to its end with a factory's default limits,
    which nothing the builders write reaches (Synapse's JsonUtil reads an element back so before writing JSON)."""
    try:
        _Reader(_ASTRAL.sub(_surrogates, text) if not text.isascii() else text, limit=sys.maxsize).read()
    except _Refused:
        return False
    except Exception:  # a reading of ours that fails on some text: taken for one Woodstox refuses, and logged
        log.exception("xml_protector could not read a written element", extra={"chars": len(text)})
        return False
    return True


def java_text(body: bytes) -> str:
    """The body as the analyzer's InputStreamReader gives it to Woodstox: UTF-8, malformed input replaced as Java does,
    a character past U+FFFF as its two UTF-16 units (Woodstox reads chars)."""
    text = java_strings.utf8(body)
    return _ASTRAL.sub(_surrogates, text) if not text.isascii() else text


def _surrogates(found: re.Match[str]) -> str:
    code = ord(found.group()) - 0x10000
    return chr(0xD800 + (code >> 10)) + chr(0xDC00 + (code & 0x3FF))


def is_ncname(name: str) -> bool:
    """Whether Woodstox, reading XML 1.0 namespace-aware, takes `name` as an element's prefix or local name (a name
    without a colon), on its UTF-16 units as it reads them."""
    units = name if name.isascii() else _ASTRAL.sub(_surrogates, name)
    return _NAME_START[False].match(units) is not None and _NAMES[False].fullmatch(units, 1) is not None


def _describe(c: str) -> str:
    """WstxInputData.getCharDesc."""
    code = ord(c)
    if code < 0x20 or 0x7F <= code <= 0x9F:  # Character.isISOControl
        return f"(CTRL-CHAR, code {code})"
    if code > 255:
        return f"'{c}' (code {code} / 0x{code:x})"
    return f"'{c}' (code {code})"


_FIRST_BUFFER, _BUFFER = 128, 4000  # ReaderBootstrapper's buffer; ReaderConfig's DEFAULT_CHAR_BUFFER_LEN
_EOF = "\uffff"  # (char) -1, as Woodstox's peekNext() at the end reads in a message


class _Element:
    __slots__ = ("bindings", "children", "local", "prefix")

    def __init__(self, prefix: str | None, local: str, bindings: int):
        self.prefix, self.local, self.children, self.bindings = prefix, local, 0, bindings


class _Reader:
    """One body read as Woodstox's stream reader reads it (one method per Woodstox method where it matters)."""

    def __init__(self, text: str, limit: int = MAX_ELEMENT_COUNT):
        self.s, self.n, self.i = text, len(text), 0
        self.limit = limit  # XMLAnalyzer's limits, all 100; a factory's defaults are past what the callers reach
        self.xml11 = False
        self.standalone = False
        self.doctype = False
        self.stack: list[_Element] = []
        self.bindings: list[tuple[str | None, str]] = []  # (prefix, URI), innermost last
        self.elements = 0
        # AttributeCollector's arrays, kept from element to element: the attribute limit is checked as they grow.
        self.attr_room = self.ns_room = 0
        self.unmarked: set[int] = set()
        self.body_start = 0  # after a BOM and the XML declaration

    # ---- locations and errors (StreamScanner) ----

    def _where(self, at: int) -> tuple[int, int]:
        """Woodstox's row and column at `at`: line breaks count where it marks them (`markLF`, `skipCRLF`), not
        those it read as an unexpected character or inside a keyword (`self.unmarked`)."""
        s = self.s
        breaks = s.count("\n", 0, at) + s.count("\r", 0, at) - s.count("\r\n", 0, at)
        end = at
        while True:
            start = max(s.rfind("\n", 0, end), s.rfind("\r", 0, end))
            pair = start > 0 and s[start] == "\n" and s[start - 1] == "\r"
            if start < 0 or (start not in self.unmarked and not (pair and start - 1 in self.unmarked)):
                break
            end = start
        return breaks + 1 - sum(1 for u in self.unmarked if u < at), at - start - 1

    def unmark_last(self) -> None:
        """The character just read, if a line break, was read as no line break."""
        if 0 < self.i <= self.n and self.s[self.i - 1] in "\r\n":
            self.unmarked.add(self.i - 1)

    def fail(self, message: str, at: int | None = None) -> _Refused:
        """A WstxException at the last character read (`getLastCharLocation`): the row as far as the reader has
        scanned (`self.i`), the column from `at` where Woodstox's `mInputPtr` was left behind (it can be negative)."""
        row, col = self._where(self.i)
        if at is not None:
            col += at - self.i
        return _Refused(f"{message}\n at [row,col {{unknown-source}}]: [{row},{col}]")

    def unexpected(self, c: str, message: str, at: int | None = None) -> _Refused:
        if at is None and c in "\r\n":
            self.unmark_last()
        return self.fail(f"Unexpected character {_describe(c)}{message}", at)

    def invalid_space(self, c: str, at: int | None = None) -> _Refused:
        if c == "\x00":
            return self.fail(_NUL, at)
        note = " [note: in XML 1.1, it could be included via entity expansion]" if self.xml11 else ""
        return self.fail(f"Illegal character ({_describe(c)}){note}", at)

    def control(self, c: str, at: int | None = None) -> int:
        """A control character read one at a time (text, an attribute value, a comment's, a PI's or a CDATA
        section's later reading): a CR, with its LF, passes and moves Woodstox's mInputPtr on (returned: where an
        error is now reported), a tab or LF passes, any other is refused where `at` says (None: here)."""
        if c == "\r":
            self.skip_crlf(c)
            return self.i
        if c not in "\n\t":
            raise self.invalid_space(c, at)
        return self.i if at is None else at

    def first_reading_ends(self, c: str, at: int, start: int) -> bool:
        """A control character in a comment's or a PI's first reading (readCommentPrimary, readPIPrimary): a CR ends
        it (the rest is read one character at a time), a tab or LF passes, any other is refused at the token's start
        (mInputPtr is not moved on there)."""
        if c == "\r":
            return True
        if c not in "\n\t":
            self.i = at
            raise self.invalid_space(c, start)
        return False

    # ---- reading characters ----

    def in_buffer(self, at: int) -> bool:
        """Whether `at` is in the buffer that holds the last character read."""
        last = self.i - 1
        first = self.body_start if last < _FIRST_BUFFER else last - (last - _FIRST_BUFFER) % _BUFFER
        return at >= first

    def buffer_end(self) -> int:
        """Where Woodstox's input buffer holding the last character read ends: ReaderBootstrapper reads the first 128
        characters (MergedReader hands them over first), ReaderSource then 4,000 at a time. Where a token's first
        reading stops there, it goes on in a second (with other messages and locations)."""
        at = self.i
        end = _FIRST_BUFFER if at <= _FIRST_BUFFER else _FIRST_BUFFER - (-(at - _FIRST_BUFFER) // _BUFFER) * _BUFFER
        return min(end, self.n)

    def get(self, suffix: str) -> str:
        """getNextChar: the end of the body is "Unexpected EOF"."""
        if self.i >= self.n:
            raise self.fail("Unexpected EOF" + suffix)
        self.i += 1
        return self.s[self.i - 1]

    def get_current(self, suffix: str) -> str:
        """getNextCharFromCurrent: the end of the body is the end of its input block."""
        if self.i >= self.n:
            raise self.fail("Unexpected end of input block" + suffix)
        self.i += 1
        return self.s[self.i - 1]

    def next(self) -> str | None:
        """getNext: None at the end."""
        if self.i >= self.n:
            return None
        self.i += 1
        return self.s[self.i - 1]

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else _EOF

    def skip_crlf(self, c: str) -> None:
        if c == "\r" and self.i < self.n and self.s[self.i] == "\n":
            self.i += 1

    def after_ws(self) -> str | None:
        """getNextAfterWS: the next character that is not white space, None at the end."""
        c = self.next()
        while c is not None and c <= " ":
            self.space(c)
            c = self.next()
        return c

    def space(self, c: str) -> None:
        """A character at most a space where only white space may be (Woodstox's getNext...AfterWS loops): a line
        break counted, a space or tab passed, any other refused here."""
        if c in "\n\r":
            self.skip_crlf(c)
        elif c not in " \t":
            raise self.invalid_space(c)

    def after_ws_or_end(self, suffix: str) -> str:
        """getNextCharAfterWS."""
        c = self.get(suffix)
        while c <= " ":
            self.space(c)
            c = self.get(suffix)
        return c

    def in_current_after_ws(self, suffix: str, c: str) -> str:
        """getNextInCurrAfterWS."""
        while c <= " ":
            self.space(c)
            c = self.get_current(suffix)
        return c

    def skip_ws(self, c: str) -> bool:
        """BasicStreamReader.skipWS: False where `c` is no white space; else past it, on the next character."""
        if c > " ":
            return False
        while True:
            self.space(c)
            if self.i >= self.n or self.s[self.i] > " ":
                return True
            c = self.s[self.i]
            self.i += 1

    def name_start(self, c: str) -> bool:
        return _NAME_START[self.xml11].match(c) is not None

    def name_char(self, c: str) -> bool:
        return _NAME[self.xml11].match(c) is not None

    def name_rest(self) -> str:
        """The name characters from here on (not ':'), consumed."""
        found = _NAMES[self.xml11].match(self.s, self.i)
        assert found is not None
        self.i = found.end()
        return found.group()

    def local_name(self, c: str) -> str:
        """StreamScanner.parseLocalName: `c`, read, and the name characters after it."""
        if not self.name_start(c):
            if c == ":":
                raise self.unexpected(c, " (missing namespace prefix?)")
            raise self.unexpected(c, " (expected a name start character)")
        return c + self.name_rest()

    def name_for_error(self) -> str:
        """parseFNameForError: name characters and colons, consumed."""
        start = self.i
        while self.i < self.n and (self.s[self.i] == ":" or self.name_char(self.s[self.i])):
            self.i += 1
        return self.s[start : self.i]

    def colon_in_name(self, name: str) -> _Refused:
        return self.fail(f'Illegal name "{name}" (PI target, entity/notation name): can not contain a colon '
                         "(XML Namespaces 1.0#6)")  # fmt: skip

    def full_name(self, c: str) -> str:
        """StreamScanner.parseFullName (namespace-aware: no colon)."""
        if not self.name_start(c):
            if c == ":":
                raise self.colon_in_name(self.name_for_error())
            if c <= " ":
                raise self.unexpected(c, " (missing name?)")
            raise self.unexpected(c, " (expected a name start character)")
        name = c + self.name_rest()
        if self.i < self.n and self.s[self.i] == ":":
            raise self.colon_in_name(name + self.name_for_error())
        return name

    def keyword(self, c: str, expected: str) -> str | None:
        """BasicStreamReader.checkKeyword: None where `c` and what follows spell `expected` (and no more of a name),
        else the name found instead."""
        at, size = 0, len(expected)
        if c in "\r\n":
            self.unmark_last()
        while expected[at] == c:
            at += 1
            if at >= size:
                break
            read = self.next()
            if read is None:
                break
            c = read
            self.unmark_last()
        if at == size:
            following = self.peek()
            if following == _EOF or (not self.name_char(following) and following != ":"):
                return None
        found = expected[:at] + (c if at < size else "")
        while True:
            read = self.next()
            if read is None:
                break
            if not self.name_char(read):
                self.i -= 1
                break
            self.unmark_last()
            found += read
        return found

    # ---- the document ----

    def read(self) -> None:
        self.bootstrap()
        self.from_prolog(prolog=True)
        self.tree()
        self.from_prolog(prolog=False)

    def bootstrap(self) -> None:
        """ReaderBootstrapper.bootstrapInput: a BOM and the XML declaration, looked for in 7 characters or more."""
        s = self.s
        if self.n < 7:
            return
        if s[0] == "\ufeff":
            self.i = 1
        c = s[self.i]
        if c == "<":
            if s.startswith("?xml", self.i + 1) and s[self.i + 5] <= " ":
                if s[self.i + 5] in "\r\n" and s[self.i + 5 : self.i + 7] != "\r\n":
                    self.unmarked.add(self.i + 5)  # skipped with `<?xml`, no line break to its location
                self.i += 6
                _Declaration(self).read()
        elif c == "\u00ef":
            raise _Refused("Unexpected first character (char code 0xEF), not valid in xml document: could be mangled "
                           "UTF-8 BOM marker. Make sure that the Reader uses correct encoding or pass an InputStream "
                           "instead")  # fmt: skip
        self.body_start = self.i

    def from_prolog(self, prolog: bool) -> None:
        """nextFromProlog(prolog): before the root element until it starts, or after it (the epilog) to the end."""
        where = _PROLOG if prolog else _EPILOG
        if not prolog and self.stack:
            return
        while True:
            c = self.after_ws()
            if c is None:
                if prolog:
                    raise self.fail("Unexpected EOF" + _PROLOG)
                return
            if c != "<":
                raise self.unexpected(c, where + "; expected '<'")
            c = self.get(where)
            if c == "?":
                self.processing_instruction()
            elif c == "!":
                self.bang(prolog=prolog)
            elif c == "/":
                raise self.fail("Unexpected character combination '</' in prolog." if prolog
                                else "Unexpected character combination '</' in epilog (extra close tag?).")  # fmt: skip
            elif (c == ":" or self.name_start(c)) and not prolog:
                raise self.fail("Illegal to have multiple roots (start tag in epilog?).")
            elif c == ":" or self.name_start(c):
                if self.start_element(c):
                    self.end_element_empty()
                return
            else:
                raise self.unexpected(c, where + ", after '<'.")

    def bang(self, prolog: bool) -> None:
        """nextFromPrologBang: a DOCTYPE or a comment after `<!`."""
        i = self.next()
        if i is None:
            raise self.fail("Unexpected EOF" + _PROLOG)
        if i == "D":
            keyword = self.keyword("D", "DOCTYPE")
            if keyword is not None:
                raise self.fail(f"Unrecognized XML directive '<!{keyword}' (misspelled DOCTYPE?).")
            if not prolog:
                raise self.fail("Can not have DOCTYPE declaration in epilog")
            if self.doctype:
                raise self.fail("Duplicate DOCTYPE declaration")
            self.doctype = True
            self.start_doctype()
            self.finish_doctype()
            return
        if i == "-":
            if self.get(_PROLOG if prolog else _EPILOG) != "-":
                self.unmark_last()
                raise self.unexpected(i, " (malformed comment?)")  # the first '-' named: Woodstox's own slip
            self.comment()
            return
        if i == "[":
            i = self.peek()
            if i == "C":
                raise self.unexpected(i, " (CDATA not allowed in prolog/epilog)")
        raise self.unexpected(i, " after '<!' (malformed comment?)")

    def start_doctype(self) -> None:
        """BasicStreamReader.startDTD: the root's name, the external ids (never read: DTD support is off)."""
        c = self.in_current_after_ws(_DTD, self.get_current(_DTD))
        self.local_name(c)
        c = self.get(_DTD)
        if c == ":":
            self.local_name(self.get(_EXP_NAME))
        elif c <= " " or c in "[>":
            self.i -= 1
        else:
            raise self.unexpected(c, _DTD + "; expected '[' or white space.")
        c = self.in_current_after_ws(_DTD, self.get_current(_DTD))
        if c not in "[>":
            keyword = None
            if c == "P":
                keyword = self.keyword(self.get(_DTD), "UBLIC")
                if keyword is not None:
                    keyword = "P" + keyword
                else:
                    if not self.skip_ws(self.get(_DTD)):
                        raise self.unexpected(c, _DTD + "; expected a space between PUBLIC keyword and public id")
                    c = self.get_current(_DTD)
                    if c not in "\"'":
                        raise self.unexpected(c, _DTD + "; expected a public identifier.")
                    self.public_id(c)
                    if not self.skip_ws(self.get(_DTD)):
                        raise self.unexpected(c, _DTD + "; expected a space between public and system identifiers")
                    c = self.get_current(_DTD)
                    if c not in "\"'":
                        raise self.fail(_DTD + "; expected a system identifier.")
                    self.system_id(c)
            elif c == "S":
                keyword = self.keyword(self.get(_DTD), "YSTEM")
                if keyword is not None:
                    keyword = "S" + keyword
                else:
                    c = self.in_current_after_ws(_DTD, self.get_current(_DTD))
                    if c not in "\"'":
                        raise self.unexpected(c, _DTD + "; expected a system identifier.")
                    self.system_id(c)
            elif not self.name_start(c):
                raise self.unexpected(c, _DTD + "; expected keywords 'PUBLIC' or 'SYSTEM'.")
            else:
                self.i -= 1
                keyword = self.keyword(c, "SYSTEM")
            if keyword is not None:
                raise self.fail(f"Unexpected keyword '{keyword}'; expected 'PUBLIC' or 'SYSTEM'")
            c = self.in_current_after_ws(_DTD, self.get_current(_DTD))
        if c not in "[>":
            raise self.unexpected(c, _DTD + "; expected closing '>'.")
        self.i -= 1

    def public_id(self, quote: str) -> None:
        """StreamScanner.parsePublicId."""
        while True:
            c = self.get(_DTD)
            if c == quote:
                return
            if c == "\r":  # a CR (or CR LF) here is no line break to Woodstox's location
                self.unmark_last()
                self.skip_crlf(c)
            elif c not in _PUBID:
                raise self.unexpected(c, " in public identifier")

    def system_id(self, quote: str) -> None:
        """StreamScanner.parseSystemId."""
        while (c := self.get(_DTD)) != quote:
            if c == "\r":
                self.unmark_last()
                self.skip_crlf(c)

    def finish_doctype(self) -> None:
        """finishDTD without DTD support: the internal subset skipped (MinimalDTDReader.skipInternalSubset)."""
        c = self.get(_DTD)
        if c == "[":
            self.skip_internal_subset()
            c = self.after_ws_or_end(_DTD_INTERNAL)
        if c != ">":
            raise self.unexpected(c, "; expected '>' to finish DOCTYPE declaration.")

    def skip_internal_subset(self) -> None:
        while True:
            i = self.after_ws()
            if i is None:
                raise self.fail("Unexpected EOF" + _DTD_INTERNAL)
            if i == "%":
                self.skip_parameter_entity()
                continue
            if i == "<":
                c = self.skipping_parameter_entities()
                if c == "?":
                    self.skip_dtd_pi()
                elif c == "!":
                    c = self.skipping_parameter_entities()
                    if c == "-":
                        self.skip_dtd_comment()
                    elif c != "[":
                        self.skip_declaration(c)
                else:
                    self.i -= 1
                continue
            if i == "]":
                return
            raise self.unexpected(i, _DTD_INTERNAL + "; expected a '<' to start a directive, or \"]>\" to end "
                                  "internal subset.")  # fmt: skip

    def skipping_parameter_entities(self) -> str:
        while (c := self.get(_DTD_INTERNAL)) == "%":
            self.skip_parameter_entity()
        return c

    def skip_parameter_entity(self) -> None:
        """skipPE: skipDTDName (StreamScanner.skipFullName, which reads the character after the name too), then a
        `;`, if there is one."""
        c = self.get(_DTD_INTERNAL)
        if not self.name_start(c):
            self.i -= 1
        else:
            while (c := self.get(_EXP_NAME)) == ":" or self.name_char(c):
                pass
            self.unmark_last()  # the character after the name, read and kept
        if self.get_current(_DTD_INTERNAL) != ";":
            self.i -= 1

    def skip_dtd_comment(self) -> None:
        while True:
            c = self.get_current(_DTD_INTERNAL)
            if c == "-":
                if self.get_current(_DTD_INTERNAL) == "-":
                    break
                self.unmark_last()  # read after a '-' without a look for a line break
            elif c in "\n\r":
                self.skip_crlf(c)
        if self.get_current(_DTD_INTERNAL) != ">":
            self.unmark_last()
            raise self.fail(_HYPHENS)

    def skip_dtd_pi(self) -> None:
        while True:
            c = self.get_current(_DTD_INTERNAL)
            if c == "?":
                while c == "?":
                    c = self.get_current(_DTD_INTERNAL)
                if c == ">":
                    return
            if c in "\n\r":
                self.skip_crlf(c)

    def skip_declaration(self, c: str) -> None:
        while c != ">":
            c = self.get_current(_DTD_INTERNAL)
            if c in "\n\r":
                self.skip_crlf(c)
            elif c in "'\"":
                while (d := self.get_current(_DTD_INTERNAL)) != c:
                    if d in "\n\r":
                        self.skip_crlf(d)

    # ---- comments, processing instructions, CDATA ----

    def comment(self) -> None:
        """readComment, then readComment2 from a CR or the end of the body on."""
        s, n, start = self.s, self.buffer_end(), self.i
        at = start
        while at < n:
            plain = _COMMENT_RUN.match(s, at, n)
            if plain is not None:
                at = plain.end()
                if at >= n:
                    break
            c = s[at]
            at += 1
            if c < " ":
                if self.first_reading_ends(c, at, start):
                    at -= 1
                    break
            elif c == "-":
                if at + 1 >= n:
                    at -= 1
                    break
                if s[at] != "-":
                    continue
                if s[at + 1] != ">":
                    self.i = at
                    raise self.fail(_HYPHENS, start)
                self.i = at + 2
                return
        self.i = at
        while True:
            c = self.get_current(_COMMENT)
            if c < " ":
                self.control(c)
            elif c == "-":
                if self.get_current(_COMMENT) == "-":
                    if self.get_current(_COMMENT) != ">":
                        raise self.fail(_HYPHENS)
                    return
                self.i -= 1

    def processing_instruction(self) -> None:
        """readPIPrimary, then readPI and readPI2."""
        if self.i >= self.n:
            # parseFullName() finds the input at its end and reads the first character of Woodstox's last buffer
            # (loadMoreFromCurrent left it there), one past the end; a name character there becomes an empty name.
            last = self.n - 1
            first = self.body_start if last < _FIRST_BUFFER else last - (last - _FIRST_BUFFER) % _BUFFER
            if self.name_start(self.s[first]):
                raise self.fail("Missing processing instruction target")
            self.i += 1
            self.full_name(self.s[first])  # raises: no name starts with it
        target = self.full_name(self.get_current(_PI))
        if target.lower() == "xml":
            # ErrorConsts.ERR_WF_PI_XML_TARGET through MessageFormat, which drops the quotes around xml.
            raise self.fail(f'Illegal processing instruction target ("{target}"); xml (case insensitive) is '
                            "reserved by the specs.")  # fmt: skip
        c = self.get_current(_PI)
        if c > " ":
            if c != "?" or self.get_current(_PI) != ">":
                raise self.unexpected(c, 'excepted either space or "?>" after PI target')
            return
        self.skip_ws(c)
        s, n, start = self.s, self.buffer_end(), self.i
        at = start
        while at < n:
            c = s[at]
            at += 1
            if c < " ":
                if self.first_reading_ends(c, at, start):
                    at -= 1
                    break
            elif c == "?":
                while at < n and s[at] == "?":
                    at += 1
                if at >= n:
                    at -= 1
                    break
                if s[at] == ">":
                    self.i = at + 1
                    return
        self.i = synced = at  # readPI2 moves mInputPtr on only at a CR and a '?'
        while True:
            c = self.get_current(_PI)
            if c < " ":
                synced = self.control(c, synced)
            elif c == "?":
                while (c := self.get_current(_PI)) == "?":
                    pass
                if c == ">":
                    return
                self.i -= 1
                synced = self.i

    def cdata(self) -> None:
        """checkCData, readCDataPrimary, then readCDataSecondary from a CR LF or the end of the body on."""
        keyword = self.keyword(self.get_current(_CDATA), "CDATA")
        if keyword is not None:
            raise self.fail(f"Unrecognized XML directive '{keyword}'; expected 'CDATA'.")
        c = self.get_current(_CDATA)
        if c != "[":
            raise self.unexpected(c, "excepted '[' after '<![CDATA'")
        c = self.get_current(_CDATA)  # the first character, read before the loop (its position is the one reported)
        s, n, stale = self.s, self.buffer_end(), self.i
        at = self.i
        while True:
            if c < " ":
                if c == "\r":
                    if at >= n or s[at] == "\n":
                        at -= 1
                        break
                elif c not in "\n\t":
                    self.i = at
                    raise self.invalid_space(c, stale)
            elif c == "]":
                if at + 1 >= n:
                    at -= 1
                    break
                if s[at] == "]":
                    at += 1
                    while True:
                        if at >= n:
                            at -= 2
                            break
                        c = s[at]
                        at += 1
                        if c == ">":
                            self.i = at
                            return
                        if c != "]":
                            at -= 1
                            break
            if at >= n:
                break
            c = s[at]
            at += 1
        self.i = synced = at  # readCDataSecondary moves mInputPtr on only at a CR and a ']'
        while True:
            c = self.get(_CDATA)
            if c < " ":
                synced = self.control(c, synced)
            elif c == "]":  # checkCDataEnd reads on from the current input block
                brackets = 1
                while (c := self.get_current(_CDATA)) == "]":
                    brackets += 1
                if brackets >= 2 and c == ">":
                    return
                self.i -= 1
                synced = self.i

    # ---- elements ----

    def tree(self) -> None:
        """nextFromTree until the root element ends."""
        while self.stack:
            c = self.next()
            if c is None:
                top = self.stack[-1]
                name = f"{top.prefix}:{top.local}" if top.prefix else top.local
                raise self.fail(f"Unexpected EOF; was expecting a close tag for element <{name}>")
            if c == "<":
                c = self.get(_ELEMENT)
                if c == "?":
                    self.processing_instruction()
                elif c == "!":
                    c = self.get_current(_DOC)
                    if c == "[":
                        self.cdata()
                    elif c == "-" and self.get_current(_DOC) == "-":
                        self.comment()
                    else:
                        self.unmark_last()
                        raise self.fail("Unrecognized XML directive; expected CDATA or comment ('<![CDATA[' or "
                                        "'<!--').")  # fmt: skip
                elif c == "/":
                    self.end_element()
                elif c == ":" or self.name_start(c):
                    if self.start_element(c):
                        self.end_element_empty()
                elif c == "[":
                    raise self.unexpected(c, " in content after '<' (malformed <![CDATA[]] directive?)")
                else:
                    raise self.unexpected(c, " in content after '<' (malformed start element?).")
            elif c == "&":
                self.entity_in_text()
                self.text()
            else:
                self.i -= 1
                self.text()

    def text(self) -> None:
        """readTextPrimary and readTextSecondary: character data up to the next `<`."""
        s, n = self.s, self.n
        start = self.i
        while self.i < n:
            plain = _TEXT_RUN.match(s, self.i)  # characters nothing is decided on, at once
            if plain is not None:
                self.i = plain.end()
                if self.i >= n:
                    return
            c = s[self.i]
            self.i += 1
            if c == "<":
                self.i -= 1
                return
            if c < " ":
                self.control(c)
            elif c == "&":
                self.entity_in_text(simple=True)
            elif c == ">" and self.i - start >= 3 and s[self.i - 3 : self.i - 1] == "]]" and self.in_buffer(self.i - 3):
                # readTextSecondary looks back only within its buffer: `]]` at the end of one and `>` at the start of
                # the next pass
                raise self.fail("String ']]>' not allowed in textual content, except as the end marker of CDATA "
                                "section")  # fmt: skip

    def start_element(self, c: str) -> bool:
        """handleStartElem (namespace-aware) and the element stack's checks: whether the element is empty (`/>`)."""
        name = self.local_name(c)
        c = self.get_current(_EXP_NAME)
        prefix = None
        if c == ":":
            prefix, name = name, self.local_name(self.get_current(_EXP_NAME))
            c = self.get_current(_ELEMENT)
        self.push(prefix, name)
        attributes: list[tuple[str | None, str]] = []
        declarations: list[tuple[str | None, str]] = []
        empty = False if c == ">" else self.attributes(c, attributes, declarations)
        self.resolve(attributes, declarations)
        return empty

    def push(self, prefix: str | None, local: str) -> None:
        """InputElementStack.push: the limits, checked as the element's name has been read."""
        if len(self.stack) + 1 > self.limit:
            raise _Refused(f"Maximum Element Depth limit ({MAX_ELEMENT_DEPTH}) Exceeded")
        self.elements += 1
        if self.elements > self.limit:
            raise _Refused(f"Maximum Element Count limit ({MAX_ELEMENT_COUNT}) Exceeded")
        if self.stack:
            parent = self.stack[-1]
            parent.children += 1
            if parent.children > self.limit:
                raise _Refused(f"Maximum Number of Child Elements limit ({MAX_CHILDREN}) Exceeded")
        self.stack.append(_Element(prefix, local, len(self.bindings)))

    def room(self, attributes: int, declarations: int, declaration: bool) -> None:
        """AttributeCollector.getAttrBuilder and getNsBuilder: the attribute limit, checked where an array grows."""
        size = declarations if declaration else attributes
        room = self.ns_room if declaration else self.attr_room
        if size == 0:
            room = room or (6 if declaration else 8)
        elif size >= room:
            if attributes + declarations >= self.limit:
                raise _Refused(f"Attribute limit ({MAX_ATTRIBUTES}) exceeded")
            room += room >> 1
        if declaration:
            self.ns_room = room
        else:
            self.attr_room = room

    def attributes(self, c: str, attributes: list[tuple[str | None, str]],
                   declarations: list[tuple[str | None, str]]) -> bool:  # fmt: skip
        """handleNsAttrs: the start tag's attributes and namespace declarations; whether it ends with `/>`."""
        default_declared = False
        plain_attribute = _PLAIN_ATTRIBUTE[self.xml11]
        prefix: str | None
        while True:
            if c <= " " and (plain := plain_attribute.match(self.s, self.i - 1)) is not None:
                # The common case at once: an attribute (not a declaration) whose value has nothing to resolve.
                prefix, local, value = plain.group(1), plain.group(2), plain.group(3) or plain.group(4) or ""
                if prefix != "xmlns" and (prefix is not None or local != "xmlns"):
                    self.room(len(attributes), len(declarations), declaration=False)
                    if len(value) > self.limit:
                        raise _Refused(f"Maximum attribute size limit ({MAX_ATTRIBUTE_SIZE}) exceeded")
                    attributes.append((prefix, local))
                    self.i = plain.end()
                    c = self.get_current(_ELEMENT)
                    continue
            if c <= " ":
                c = self.in_current_after_ws(_ELEMENT, c)
            elif c not in "/>":
                raise self.unexpected(c, " excepted space, or '>' or \"/>\"")
            if c == "/":
                c = self.get_current(_ELEMENT)
                if c != ">":
                    raise self.unexpected(c, " expected '>'")
                return True
            if c == ">":
                return False
            if c == "<":
                raise self.fail("Unexpected '<' character in element (missing closing '>'?)")
            first = self.local_name(c)
            c = self.get_current(_EXP_NAME)
            if c == ":":
                prefix = first
                local = self.local_name(self.get_current(_EXP_NAME))
            else:
                self.i -= 1
                prefix, local = None, first
            c = self.get_current(_ELEMENT)
            if c <= " ":
                c = self.in_current_after_ws(_ELEMENT, c)
            if c != "=":
                raise self.unexpected(c, " expected '='")
            c = self.get_current(_ELEMENT)
            if c <= " ":
                c = self.in_current_after_ws(_ELEMENT, c)
            if c not in "\"'":
                raise self.unexpected(c, _ELEMENT + " Expected a quote")
            if prefix == "xmlns":
                if any(bound == local for bound, _ in declarations):
                    raise self.fail(f"Duplicate declaration for namespace prefix '{local}'.")
                self.room(len(attributes), len(declarations), declaration=True)
                uri = self.attribute_value(c)
                if not uri and not self.xml11:
                    raise self.fail("Non-default namespace can not map to empty URI (as per Namespace 1.0 # 2) in "
                                    "XML 1.0 documents")  # fmt: skip
                declarations.append((local, uri))
            elif prefix is None and local == "xmlns":
                if default_declared:
                    raise self.fail("Duplicate default namespace declaration.")
                default_declared = True
                self.room(len(attributes), len(declarations), declaration=True)
                declarations.append((None, self.attribute_value(c)))
            else:
                self.room(len(attributes), len(declarations), declaration=False)
                attributes.append((prefix, local))
                self.attribute_value(c)
            c = self.get_current(_ELEMENT)

    def attribute_value(self, quote: str) -> str:
        """parseAttrValue: the value, normalized, refused at its 101st character."""
        out: list[str] = []
        size = 0
        while True:
            plain = _VALUE_RUN.match(self.s, self.i)
            if plain is not None:
                if size + len(plain.group()) > self.limit:
                    raise _Refused(f"Maximum attribute size limit ({MAX_ATTRIBUTE_SIZE}) exceeded")
                size += len(plain.group())
                out.append(plain.group())
                self.i = plain.end()
            c = self.get(_ATTR)
            if c <= "'":
                if c < " ":
                    self.control(c)
                    c = " "
                elif c == quote:
                    return "".join(out)
                elif c == "&":
                    code = self.simple_entity(check_standard=True) if self.buffer_end() - self.i >= 3 else 0
                    if code == 0:
                        code = self.full_entity()
                    if code > 0xFFFF:
                        if size >= self.limit:
                            raise _Refused(f"Maximum attribute size limit ({MAX_ATTRIBUTE_SIZE}) exceeded")
                        size += 1
                        code -= 0x10000
                        out.append(chr(0xD800 + (code >> 10)))
                        code = 0xDC00 + (code & 0x3FF)
                    c = chr(code)
            elif c == "<":
                raise self.unexpected(c, _ATTR)
            if size >= self.limit:
                raise _Refused(f"Maximum attribute size limit ({MAX_ATTRIBUTE_SIZE}) exceeded")
            size += 1
            out.append(c)

    def resolve(self, attributes: list[tuple[str | None, str]], declarations: list[tuple[str | None, str]]) -> None:
        """InputElementStack.resolveAndValidateElement and AttributeCollector.resolveNamespaces, once the start tag
        has been read."""
        for prefix, uri in declarations:
            if prefix == "xmlns":
                raise self.fail('Trying to declare prefix "xmlns" (illegal as per NS 1.1 #4)')
            if prefix == "xml":
                if uri != _XML_NS:
                    raise self.fail(f'Trying to redeclare prefix "xml" from its default URI "{_XML_NS}" to "{uri}"')
                continue
            if uri == _XML_NS:
                raise self.fail(f'Trying to bind URI "{_XML_NS}" to prefix "{prefix}" (can only bind to "xml")')
            if uri == _XMLNS_NS:  # the one-argument throwParseError: its {0} is left as written
                raise self.fail(f'Trying to bind URI "{_XMLNS_NS}" to prefix "{{0}}" (can not be explicitly bound)')
            self.bindings.append((prefix, uri))
        element = self.stack[-1]
        if element.prefix is not None and element.prefix != "xml" and not self.uri(element.prefix):
            raise self.fail(f'Undeclared namespace prefix "{element.prefix}"')
        seen: set[tuple[str, str | None]] = set()
        for prefix, local in attributes:
            attribute_uri: str | None = None
            if prefix is not None:
                attribute_uri = _XML_NS if prefix == "xml" else self.uri(prefix)
                if attribute_uri is None:
                    raise self.fail(f'Undeclared namespace prefix "{prefix}" (for attribute "{local}")')
            if (local, attribute_uri) in seen:  # named as javax.xml.namespace.QName writes itself: {URI}local
                raise self.fail(f"Duplicate attribute '{'{' + attribute_uri + '}' if attribute_uri else ''}{local}'.")
            seen.add((local, attribute_uri))

    def uri(self, prefix: str) -> str | None:
        for bound, uri in reversed(self.bindings):
            if bound == prefix:
                return uri
        return None

    def end_element_empty(self) -> None:
        """The END_ELEMENT of `<a/>`."""
        self.pop()

    def pop(self) -> None:
        element = self.stack.pop()
        del self.bindings[element.bindings :]

    def end_element(self) -> None:
        """readEndElem: the close tag must name the open element."""
        element = self.stack[-1]
        expected = f"{element.prefix}:{element.local}" if element.prefix else element.local
        if self.s.startswith(expected, self.i) and self.s.startswith(">", self.i + len(expected)):
            self.i += len(expected) + 1  # the common case at once: the open element's name and '>'
            self.pop()
            return
        c = self.get_current(_END_TAG)
        if not self.name_start(c) and c != ":":
            if c <= " ":
                raise self.unexpected(c, "; missing element name?")
            raise self.unexpected(c, "; expected an element name.")
        if element.prefix:
            for done, wanted in enumerate(element.prefix):
                if done:
                    c = self.get_current(_END_TAG)
                if c != wanted:
                    raise self.wrong_end(expected, done)
            c = self.get_current(_END_TAG)
            if c != ":":
                raise self.wrong_end(expected, len(element.prefix))
            c = self.get_current(_END_TAG)
        offset = len(element.prefix) + 1 if element.prefix else 0
        for done, wanted in enumerate(element.local):
            if done:
                c = self.get_current(_END_TAG)
            if c != wanted:
                raise self.wrong_end(expected, offset + done)
        c = self.get_current(_END_TAG)
        if c <= " ":
            c = self.in_current_after_ws(_END_TAG, c)
        elif c != ">" and (c == ":" or self.name_char(c)):
            raise self.wrong_end(expected, len(expected))
        if c != ">":
            raise self.unexpected(c, _END_TAG + " Expected '>'.")
        self.pop()

    def wrong_end(self, expected: str, done: int) -> _Refused:
        """reportWrongEndElem / reportWrongEndPrefix: the name as written, from where it went wrong."""
        self.i -= 1
        written = expected[:done] + self.name_for_error()
        return self.fail(f"Unexpected close tag </{written}>; expected </{expected}>.")

    # ---- entities ----

    def entity_in_text(self, simple: bool = False) -> None:
        """An entity reference in text, after its `&`: readTextSecondary tries resolveSimpleEntity first where three
        characters are left; a text starting with one goes straight to fullyResolveEntity."""
        if simple and self.buffer_end() - self.i >= 3 and self.simple_entity(check_standard=True):
            return
        self.full_entity()

    def simple_entity(self, check_standard: bool) -> int:
        """StreamScanner.resolveSimpleEntity: a character reference or a predefined entity wholly in the buffer; 0
        where it is neither (the full reading decides)."""
        s, n = self.s, self.buffer_end()
        at = self.i
        c = s[at]
        at += 1
        if c == "#":
            c = s[at]
            at += 1
            value = 0
            if c == "x":
                while at < n:
                    c = s[at]
                    at += 1
                    if c == ";":
                        break
                    digit = _hex(c)
                    if digit < 0:
                        self.i = at
                        raise self.unexpected(c, "; expected a hex digit (0-9a-fA-F).")
                    value = (value << 4) + digit
                    if value > 0x10FFFF:
                        raise self.overflow()
            else:
                while c != ";":
                    if "0" <= c <= "9":
                        value = value * 10 + ord(c) - 48
                        if value > 0x10FFFF:
                            raise self.overflow()
                    else:
                        self.i = at
                        raise self.unexpected(c, "; expected a decimal number.")
                    if at >= n:
                        break
                    c = s[at]
                    at += 1
            if c == ";":
                self.i = at
                self.check_char(value)
                return value
            return 0
        if check_standard:
            for name, char in _PREDEFINED:
                if s.startswith(name, at - 1):
                    self.i = at - 1 + len(name)
                    return char
        return 0

    def full_entity(self) -> int:
        """fullyResolveEntity: a character reference or a predefined entity; any other is undeclared (no DTD)."""
        c = self.get_current(_ENTITY)
        if c == "#":
            return self.character_reference()
        name = self.full_name(c)
        if self.i >= self.n:
            raise self.fail(f'Missing semicolon after reference for entity "{name}"')
        c = self.s[self.i]
        self.i += 1
        if c != ";":
            raise self.unexpected(c, f"; expected a semi-colon after the reference for entity '{name}'")
        for predefined, char in _PREDEFINED:
            if predefined == name + ";":
                return char
        standalone = " (document in stand-alone mode; perhaps declared externally?)" if self.standalone else ""
        raise self.fail(f'Undeclared general entity "{name}"{standalone}')

    def character_reference(self) -> int:
        """StreamScanner.resolveCharEnt."""
        value = 0
        c = self.get(_ENTITY)
        if c == "x":
            while (c := self.get_current(_ENTITY)) != ";":
                digit = _hex(c)
                if digit < 0:
                    raise self.unexpected(c, "; expected a hex digit (0-9a-fA-F).")
                value = (value << 4) + digit
                if value > 0x10FFFF:
                    raise self.overflow()
        else:
            while c != ";":
                if not "0" <= c <= "9":
                    raise self.unexpected(c, "; expected a decimal number.")
                value = value * 10 + ord(c) - 48
                if value > 0x10FFFF:
                    raise self.overflow()
                c = self.get_current(_ENTITY)
        self.check_char(value)
        return value

    def overflow(self) -> _Refused:
        return self.fail("Illegal character entity: value higher than max allowed (0x10ffff)")

    def check_char(self, value: int) -> None:
        """StreamScanner.validateChar (its message's parenthesis is never closed)."""
        if value >= 0xD800:
            if value < 0xE000 or 0xFFFE <= value <= 0xFFFF:
                raise self.fail(f"Illegal character entity: expansion character (code 0x{value:x}")
        elif value < 32:
            if value == 0:
                raise self.fail("Invalid character reference: null character not allowed in XML content.")
            if not self.xml11 and value not in (0x9, 0xA, 0xD):
                raise self.fail(f"Illegal character entity: expansion character (code 0x{value:x}")


_PREDEFINED = (("amp;", 0x26), ("apos;", 0x27), ("gt;", 0x3E), ("lt;", 0x3C), ("quot;", 0x22))


def _hex(c: str) -> int:
    return int(c, 16) if c in "0123456789abcdefABCDEF" and c else -1


class _Declaration:
    """The XML declaration, read by Woodstox's ReaderBootstrapper before the stream reader starts (InputBootstrapper
    .readXmlDecl), with its own location format."""

    def __init__(self, reader: _Reader):
        self.r = reader

    def fail(self, message: str) -> _Refused:
        row, col = self.r._where(self.r.i)
        return _Refused(f'{message}\n at [row,col,system-id]: [{row},{col},"N/A"]')

    def unexpected(self, c: str, message: str) -> _Refused:
        if c in "\r\n":
            self.r.unmark_last()
        code = ord(c)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            return self.fail(f"Unexpected character (CTRL-CHAR, code {code}){message}")
        return self.fail(f"Unexpected character '{c}' (code {code}){message}")

    def get(self) -> str:
        r = self.r
        if r.i >= r.n:
            raise self.fail(" in xml declaration")
        r.i += 1
        return r.s[r.i - 1]

    def after_ws(self) -> str:
        while True:
            c = self.get()
            if c > " ":
                return c
            if c in "\r\n":
                self.skip_crlf(c)
            elif c == "\x00":
                raise self.fail("Illegal null byte in input stream")

    def skip_crlf(self, c: str) -> None:
        if c == "\r" and self.get() != "\n":
            self.r.i -= 1

    def read(self) -> None:
        c = self.after_ws()
        if c != "v":
            raise self.unexpected(c, "; expected keyword 'version'")
        version = self.value("version")
        if version not in ("1.0", "1.1"):
            raise self.pseudo_attribute("version", version, "1.0", "1.1")
        self.r.xml11 = version == "1.1"
        c = self.ws_or("?")
        if c == "e":
            if not self.value("encoding"):
                raise self.fail("Missing XML pseudo-attribute 'encoding' value")
            c = self.ws_or("?")
        if c == "s":
            standalone = self.value("standalone")
            if standalone not in ("yes", "no"):
                raise self.pseudo_attribute("standalone", standalone, "yes", "no")
            self.r.standalone = standalone == "yes"
            c = self.ws_or("?")
        if c != "?":
            raise self.unexpected(c, '; expected "?>" end marker')
        c = self.get()
        if c != ">":
            raise self.unexpected(c, '; expected "?>" end marker')

    def value(self, keyword: str) -> str:
        """checkKeyword, handleEq and readQuotedValue for one pseudo-attribute: its value (at most its first 60
        characters, Woodstox's keyword buffer, then `[..]`)."""
        for wanted in keyword[1:]:
            c = self.get()
            if c == "\x00":  # checkKeyword answers a mismatch with the character, and a match with NUL
                break
            if c != wanted:
                raise self.unexpected(c, keyword)
        c = self.after_ws()
        if c != "=":
            raise self.unexpected(c, f"; expected '=' after '{keyword}'")
        quote = self.after_ws()
        if quote not in "\"'":
            raise self.unexpected(quote, f"; expected a quote character enclosing value for '{keyword}'")
        value: list[str] = []
        while True:
            c = self.get()
            if c in "\r\n":
                self.skip_crlf(c)
            elif c == "\x00":
                raise self.fail("Illegal null byte in input stream")
            if c == quote:
                return "".join(value) if len(value) <= _KEYWORD_ROOM else "".join(value[:_KEYWORD_ROOM]) + "[..]"
            value.append(c)

    def pseudo_attribute(self, name: str, got: str, one: str, other: str) -> _Refused:
        shown = "<empty>" if not got else f"'{got}'"
        return self.fail(f'Invalid XML pseudo-attribute \'{name}\' value {shown}; expected "{one}" or "{other}"')

    def ws_or(self, ok: str) -> str:
        """getWsOrChar."""
        c = self.get()
        if c == ok:
            return c
        if c > " ":
            raise self.unexpected(c, f"; expected either '{ok}' or white space")
        if c in "\n\r":
            self.r.i -= 1
        return self.after_ws()


_KEYWORD_ROOM = 60
