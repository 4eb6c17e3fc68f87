"""What Jackson says of JSON it cannot read: the message jackson-core 2.17.2's `ReaderBasedJsonParser` throws, its
location included, as jackson-databind 2.17.2's `ObjectMapper.readTree(String)` drives it with default features.

APIM's Schema Validation answers a body that does not parse with "Unable to parse JSON - " and that message. This is
a reading of the parser's source (the Java method each step follows is named beside it), walking the first root
value as `JsonNodeDeserializer._deserializeContainerNoRecursion` walks it: `nextToken` in an array or at the root,
`nextFieldName` then `nextToken` (`_nextAfterName`) in an object, every string's text read (`getText`, so each
string is finished in turn), and nothing after the root value (FAIL_ON_TRAILING_TOKENS is off).

The text is a Java String: it is read in UTF-16 code units, as `JsonFactory.createParser(String)` hands the parser
its characters (a character outside the BMP is two units, and columns count both). Jackson reads a String of up
to 32,768 units as one buffer, and a longer one through a StringReader into its token buffer (BufferRecycler's,
4,000 units when fresh; one recycled from an earlier, larger parse on the same thread is longer). The buffer's end
matters only to numbers: one that reaches it leaves the fast path (_parseUnsignedNumber, _parseFloat) for
_parseNumber2, which reports a bad fraction or exponent one character further on and counts a number's length
differently. This reads a long text in 4,000-unit buffers."""

from __future__ import annotations

import re

from . import java_regex

__all__ = ["MAX_NUMBER_LENGTH", "first_error"]

_SOURCE = "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); "
# StreamReadConstraints' defaults in 2.17.
_MAX_DEPTH = 1000
MAX_NUMBER_LENGTH = 1000
_ONE_BUFFER = 0x8000  # JsonFactory.createParser(String): longer is read through a Reader
_READ_BUFFER = 4000  # BufferRecycler.CHAR_TOKEN_BUFFER's length: what the Reader is read by
_MAX_ERROR_TOKEN_LENGTH = 256  # ErrorReportConfiguration.DEFAULT_MAX_ERROR_TOKEN_LENGTH
_VALID_VALUES = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"  # _validJsonValueList

_ROOT, _ARRAY, _OBJECT = "root", "Array", "Object"  # JsonStreamContext.typeDesc
_STRING, _START_ARRAY, _START_OBJECT, _END, _SCALAR = "string", "[", "{", "end", "scalar"

_TAB, _LF, _CR, _SPACE = 0x09, 0x0A, 0x0D, 0x20
_QUOTE, _SLASH, _BACKSLASH = 0x22, 0x2F, 0x5C
_ZERO, _NINE, _PERIOD, _MINUS, _PLUS, _COLON, _COMMA = 0x30, 0x39, 0x2E, 0x2D, 0x2B, 0x3A, 0x2C
_RBRACKET, _RCURLY, _LOWER_E = 0x5D, 0x7D, 0x65

# A run of entries that are certainly read without error, each after a comma (its context's index past 0): a string
# (escapes valid), a number of at most 300 characters (far under the 1,000 allowed), a literal, or (where one more
# level is allowed) an array or object of these, each followed by what ends it, with white space between. read_tree
# passes such a run at once (only the parser's line and context index change on it); the first entry of it that is
# not of these is read character by character.
_WS = r"[ \t\n\r]*"
_SAFE_STRING = r'"(?:[^\x00-\x1f"\\]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
_SAFE_SCALAR = (
    rf"{_SAFE_STRING}|-?(?:0|[1-9][0-9]{{0,99}})(?:\.[0-9]{{1,100}})?(?:[eE][+-]?[0-9]{{1,100}})?|true|false|null"
)
_END_OF_VALUE = r"(?=[ \t\n\r,\]}])"
_FIELD = rf"{_SAFE_STRING}{_WS}:{_WS}(?:{_SAFE_SCALAR}){_END_OF_VALUE}"
_FLAT = (  # an array or object of such scalars (or empty)
    rf"\[{_WS}(?:(?:{_SAFE_SCALAR}){_END_OF_VALUE}(?:{_WS},{_WS}(?:{_SAFE_SCALAR}){_END_OF_VALUE})*)?{_WS}\]"
    rf"|\{{{_WS}(?:{_FIELD}(?:{_WS},{_WS}{_FIELD})*)?{_WS}\}}"
)


def _safe_entries(value: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The runs of array entries and of object entries whose values are `value`."""
    value = f"(?:{value}){_END_OF_VALUE}"
    return re.compile(rf"(?:{_WS},{_WS}{value})+"), re.compile(rf"(?:{_WS},{_WS}{_SAFE_STRING}{_WS}:{_WS}{value})+")


_SAFE_ENTRIES = {True: _safe_entries(f"{_SAFE_SCALAR}|{_FLAT}"), False: _safe_entries(_SAFE_SCALAR)}
_PLAIN_STRING = re.compile(r'[^\x00-\x1f"\\]*')  # what INPUT_CODES_LATIN1 lets by in a string or name
_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_HEX = {ord(c): int(c, 16) for c in "0123456789abcdefABCDEF"}  # CharTypes.charToHex


class _Refused(Exception):
    """A JsonParseException / JsonEOFException / StreamConstraintsException: its getMessage()."""


def first_error(text: str) -> str | None:
    """Jackson's message (location included) for the first problem readTree meets reading the first root value of
    `text`; None where it reads one (an empty or blank text included: readTree then gives a MissingNode)."""
    try:
        _Parser(text).read_tree()
    except _Refused as refused:
        return str(refused)
    except Exception:  # a flaw of this reading must not fail the request: no message then
        return None
    return None


def _is_digit(c: int) -> bool:
    return _ZERO <= c <= _NINE


def _char_desc(ch: int) -> str:
    """ParserMinimalBase._getCharDesc. A lone UTF-16 surrogate is written '?', as Java's UTF-8 encoder writes it."""
    if ch <= 0x1F or 0x7F <= ch <= 0x9F:  # Character.isISOControl
        return f"(CTRL-CHAR, code {ch})"
    shown = "?" if 0xD800 <= ch <= 0xDFFF else chr(ch)
    if ch > 255:
        return f"'{shown}' (code {ch} / 0x{ch:x})"
    return f"'{shown}' (code {ch})"


def _java_identifier_start(ch: int) -> bool:
    """Character.isJavaIdentifierStart, by JDK 21's data (APIM 4.5's JVM)."""
    return java_regex.character_property("java_identifier_start", ch)


def _java_identifier_part(ch: int) -> bool:
    """Character.isJavaIdentifierPart, by JDK 21's data."""
    return java_regex.character_property("java_identifier_part", ch)


def _surrogate_pair(m: re.Match[str]) -> str:
    code = ord(m.group()) - 0x10000
    return chr(0xD800 + (code >> 10)) + chr(0xDC00 + (code & 0x3FF))


class _Context:
    """JsonReadContext: its type, where it started (line, column) and the index of its current entry."""

    __slots__ = ("column", "index", "kind", "line")

    def __init__(self, kind: str, line: int, column: int) -> None:
        self.kind, self.line, self.column, self.index = kind, line, column, -1

    def expect_comma(self) -> bool:
        """JsonReadContext.expectComma."""
        self.index += 1
        return self.kind != _ROOT and self.index > 0

    def start_location(self) -> str:
        """JsonReadContext.startLocation, as JsonLocation.toString writes it for REDACTED (non-textual) content:
        the column only where it is positive (the root's is 0)."""
        return _location(self.line, self.column)


def _location(line: int, column: int) -> str:
    """JsonLocation.toString / appendOffsetDescription for REDACTED content (ContentReference.redacted() is not
    textual: line and column are written only where positive)."""
    if line <= 0:
        return _SOURCE + "byte offset: #UNKNOWN]"
    return _SOURCE + f"line: {line}" + (f", column: {column}" if column > 0 else "") + "]"


class _Parser:
    """The cursor of ReaderBasedJsonParser: `_inputPtr` (ptr), `_currInputRow` (row), `_currInputRowStart`
    (row_start), the token location `_updateLocation` keeps, and the parsing contexts (an explicit stack)."""

    def __init__(self, text: str) -> None:
        text = _NON_BMP.sub(_surrogate_pair, text)  # one character a UTF-16 unit, as Java's String has them
        self.text = text
        self.end = len(text)
        self.ptr = 0
        self.row = 1
        self.row_start = 0
        self.token_row = 1
        self.token_col = 0
        self.contexts = [_Context(_ROOT, 1, 0)]  # JsonReadContext.createRootContext(dups): line 1, column 0
        self.next_value = _SCALAR  # _nextToken: the value nextFieldName met after the name

    # ---- errors, and where they are reported ----

    def _at(self, ptr: int) -> str:
        """currentLocation (ptr = _inputPtr) or _currentLocationMinusOne (ptr = _inputPtr - 1)."""
        return "\n at " + _location(self.row, ptr - self.row_start + 1)

    def _error(self, msg: str) -> _Refused:
        """_constructReadException(msg) / JsonEOFException: at the current location."""
        return _Refused(msg + self._at(self.ptr))

    def _error_minus_one(self, msg: str) -> _Refused:
        """_constructReadException(msg, _currentLocationMinusOne())."""
        return _Refused(msg + self._at(self.ptr - 1))

    def _invalid_eof(self, msg: str) -> _Refused:
        """ParserMinimalBase._reportInvalidEOF."""
        return self._error("Unexpected end-of-input" + msg)

    def _unexpected_char(self, ch: int, comment: str) -> _Refused:
        """ParserMinimalBase._reportUnexpectedChar."""
        return self._error_minus_one(f"Unexpected character ({_char_desc(ch)}): {comment}")

    def _unexpected_number_char(self, ch: int, comment: str) -> _Refused:
        """ParserMinimalBase._reportUnexpectedNumberChar."""
        return self._error_minus_one(f"Unexpected character ({_char_desc(ch)}) in numeric value: {comment}")

    def _invalid_space(self, ch: int) -> _Refused:
        """ParserMinimalBase._throwInvalidSpace: at the current location."""
        return self._error(
            f"Illegal character ({_char_desc(ch)}): only regular white space (\\r, \\n, \\t) is allowed between tokens"
        )

    def _unquoted_space(self, ch: int, what: str) -> _Refused:
        """ParserBase._throwUnquotedSpace."""
        return self._error_minus_one(
            f"Illegal unquoted character ({_char_desc(ch)}): has to be escaped using backslash to be included in {what}"
        )

    def _invalid_token(self, matched: str) -> _Refused:
        """ReaderBasedJsonParser._reportInvalidToken: the matched part and what follows of identifier characters."""
        token = matched
        while self.ptr < self.end:
            c = ord(self.text[self.ptr])
            if not _java_identifier_part(c):
                break
            self.ptr += 1
            token += chr(c)
            if len(token) >= _MAX_ERROR_TOKEN_LENGTH:
                token += "..."
                break
        return self._error(f"Unrecognized token '{token}': was expecting {_VALID_VALUES}")

    @staticmethod
    def _too_long_number(length: int) -> None:
        """StreamReadConstraints.validateIntegerLength / validateFPLength (resetInt / resetFloat): no location."""
        if length > MAX_NUMBER_LENGTH:
            raise _Refused(
                f"Number value length ({length}) exceeds the maximum allowed ({MAX_NUMBER_LENGTH}, from "
                "`StreamReadConstraints.getMaxNumberLength()`)"
            )

    # ---- databind: JsonNodeDeserializer ----

    def read_tree(self) -> None:
        """ObjectMapper.readTree: the first token; a container walked as _deserializeContainerNoRecursion walks it
        (nextFieldName then nextToken in an object, nextToken in an array), each string's text read."""
        token = self.next_token()
        if token == _STRING:
            self.finish_string()
        if token not in (_START_ARRAY, _START_OBJECT):
            return
        while len(self.contexts) > 1:
            if self.contexts[-1].index >= 0:
                self._skip_safe_entries()
            if self.contexts[-1].kind == _OBJECT:
                if not self.next_field_name():
                    continue  # the object closed
                token = self.next_after_name()
            else:
                token = self.next_token()
            if token == _STRING:
                self.finish_string()

    def _skip_safe_entries(self) -> None:
        """Not Jackson's: a run of entries it reads without error and without a trace (_SAFE_ENTRIES), passed
        at once, the line count kept as _skipWSOrEnd keeps it and the context's index moved past 0 as expectComma
        moves it (its value past 0 matters to nothing else)."""
        context = self.contexts[-1]
        in_array, in_object = _SAFE_ENTRIES[len(self.contexts) <= _MAX_DEPTH]  # a container is one level more
        run = (in_object if context.kind == _OBJECT else in_array).match(self.text, self.ptr)
        if run is None:
            return
        start, end = self.ptr, run.end()
        crlf, cr = self.text.count("\r\n", start, end), self.text.count("\r", start, end)
        lines = self.text.count("\n", start, end) + cr - crlf  # _skipCR: `\r\n` is one line end
        if lines:  # the run ends with a value: no line end of it continues past it
            self.row += lines
            self.row_start = max(self.text.rfind("\n", start, end), self.text.rfind("\r", start, end)) + 1
        self.ptr = end
        context.index += 1

    # ---- the token stream ----

    def _update_location(self) -> None:
        """_updateLocation (and _updateNameLocation, whose offsets no message reads)."""
        self.token_row = self.row
        self.token_col = self.ptr - self.row_start

    def _child(self, kind: str) -> None:
        """ParserBase.createChildArrayContext / createChildObjectContext, and validateNestingDepth."""
        self.contexts.append(_Context(kind, self.token_row, self.token_col))
        depth = len(self.contexts) - 1
        if depth > _MAX_DEPTH:
            raise _Refused(
                f"Document nesting depth ({depth}) exceeds the maximum allowed ({_MAX_DEPTH}, from "
                "`StreamReadConstraints.getMaxNestingDepth()`)"
            )

    def next_token(self) -> str | None:
        """nextToken, outside an object (databind asks an object for nextFieldName): the next value's token, a
        container opened, or closed."""
        i = self._skip_ws_or_end()
        if i < 0:
            return None  # end of input at the root
        if (i | 0x20) == _RCURLY:
            self._close_scope(i)
            return _END
        context = self.contexts[-1]
        if context.expect_comma():
            i = self._skip_comma(i)
        self._update_location()
        if i == _QUOTE:
            return _STRING
        if i == 0x5B:  # '['
            self._child(_ARRAY)
            return _START_ARRAY
        if i == 0x7B:  # '{'
            self._child(_OBJECT)
            return _START_OBJECT
        if i == _RCURLY:  # after a comma: nextToken's own case (nextFieldName leaves it to _handleOddValue)
            raise self._unexpected_char(i, "expected a value")
        self._scalar(i)
        return _SCALAR

    def next_field_name(self) -> bool:
        """nextFieldName in an object: the name, its colon and the start of its value (a scalar read whole); False
        where the object closes instead."""
        i = self._skip_ws_or_end()
        if (i | 0x20) == _RCURLY:
            self._close_scope(i)
            return False
        if self.contexts[-1].expect_comma():
            i = self._skip_comma(i)
        self._update_location()  # _updateNameLocation
        if i != _QUOTE:
            raise self._handle_odd_name(i)
        self._parse_name()
        i = self._skip_colon()
        self._update_location()
        if i == _QUOTE:
            self.next_value = _STRING
        elif i == 0x5B:
            self.next_value = _START_ARRAY
        elif i == 0x7B:
            self.next_value = _START_OBJECT
        else:
            self._scalar(i)
            self.next_value = _SCALAR
        return True

    def next_after_name(self) -> str:
        """_nextAfterName: the value's token, its context opened where it is a container."""
        token = self.next_value
        if token == _START_ARRAY:
            self._child(_ARRAY)
        elif token == _START_OBJECT:
            self._child(_OBJECT)
        return token

    def _scalar(self, i: int) -> None:
        """The value switch of nextToken / nextFieldName for what is not a string or a container."""
        if i == 0x74:  # 't'
            self._match_token("true", 1)  # _matchTrue
        elif i == 0x66:  # 'f'
            self._match_token("false", 1)  # _matchFalse
        elif i == 0x6E:  # 'n'
            self._match_token("null", 1)  # _matchNull
        elif i == _MINUS:
            self._parse_signed_number()
        elif _is_digit(i):
            self._parse_unsigned_number(i)
        else:  # '+' and '.' too: ALLOW_LEADING_PLUS_SIGN / ALLOW_LEADING_DECIMAL_POINT are off
            self._handle_odd_value(i)

    def _close_scope(self, i: int) -> None:
        """_closeScope, and ParserBase._reportMismatchedEndMarker."""
        context = self.contexts[-1]
        expected = _ARRAY if i == _RBRACKET else _OBJECT
        if context.kind != expected:
            marker = "}" if i == _RBRACKET else "]"
            raise self._error_minus_one(
                f"Unexpected close marker '{chr(i)}': expected '{marker}' "
                f"(for {context.kind} starting at {context.start_location()})"
            )
        self.contexts.pop()

    def _handle_eof(self) -> None:
        """ParserBase._handleEOF: the end of input is legal only at the root."""
        context = self.contexts[-1]
        if context.kind != _ROOT:
            raise self._invalid_eof(
                f": expected close marker for {context.kind} (start marker at {context.start_location()})"
            )

    # ---- white space, comments, separators ----

    def _newline(self, i: int) -> bool:
        """The line-feed / carriage-return / tab branch shared by the skipping loops; False for another control."""
        if i == _LF:
            self.row += 1
            self.row_start = self.ptr
        elif i == _CR:
            self._skip_cr()
        elif i != _TAB:
            return False
        return True

    def _skip_cr(self) -> None:
        """_skipCR: a line ends; a following `\\n` is part of it."""
        if self.ptr < self.end and self.text[self.ptr] == "\n":
            self.ptr += 1
        self.row += 1
        self.row_start = self.ptr

    def _skip_ws_or_end(self) -> int:
        """_skipWSOrEnd / _skipWSOrEnd2: the next character that is not white space, or -1 at the end of input
        (_eofAsNextChar: _handleEOF first). `/` starts a comment (refused: ALLOW_COMMENTS is off); `#` is no YAML
        comment (ALLOW_YAML_COMMENTS is off) but the character itself."""
        text, end = self.text, self.end
        while True:
            if self.ptr >= end:
                self._handle_eof()
                return -1
            i = ord(text[self.ptr])
            self.ptr += 1
            if i > _SPACE:
                if i == _SLASH:
                    self._skip_comment()
                return i
            if i != _SPACE and not self._newline(i):
                raise self._invalid_space(i)

    def _skip_comment(self) -> None:
        """_skipComment with ALLOW_COMMENTS off."""
        raise self._unexpected_char(
            _SLASH,
            "maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' not enabled for "
            "parser)",
        )

    def _skip_comma(self, i: int) -> int:
        """_skipComma / _skipAfterComma2: the comma between entries, and the white space after it."""
        if i != _COMMA:
            raise self._unexpected_char(i, f"was expecting comma to separate {self.contexts[-1].kind} entries")
        while self.ptr < self.end:
            i = ord(self.text[self.ptr])
            self.ptr += 1
            if i > _SPACE:
                if i == _SLASH:
                    self._skip_comment()
                return i
            if i < _SPACE and not self._newline(i):
                raise self._invalid_space(i)
        # _skipAfterComma2: _constructError, at the current location
        raise self._error(f"Unexpected end-of-input within/between {self.contexts[-1].kind} entries")

    def _skip_colon(self) -> int:
        """_skipColon / _skipColon2 (its fast paths read the same): the colon after a name, and the start of the
        value."""
        got_colon = False
        while self.ptr < self.end:
            i = ord(self.text[self.ptr])
            self.ptr += 1
            if i > _SPACE:
                if i == _SLASH:
                    self._skip_comment()
                if got_colon:
                    return i
                if i != _COLON:
                    raise self._unexpected_char(i, "was expecting a colon to separate field name and value")
                got_colon = True
                continue
            if i < _SPACE and not self._newline(i):
                raise self._invalid_space(i)
        raise self._invalid_eof(f" within/between {self.contexts[-1].kind} entries")

    # ---- names and strings ----

    def _handle_odd_name(self, i: int) -> _Refused:
        """_handleOddName: neither single quotes nor unquoted names are allowed."""
        return self._unexpected_char(i, "was expecting double-quote to start field name")

    def _parse_name(self) -> None:
        """_parseName / _parseName2: a name after its opening quote."""
        self._quoted(" in field name", "name")

    def finish_string(self) -> None:
        """_finishString / _finishString2: a string value's text, as getText reads it."""
        self._quoted(": was expecting closing quote for a string value", "string value")

    def _quoted(self, eof: str, what: str) -> None:
        """The loop _parseName2 and _finishString2 share: to the closing quote, escapes decoded, a control
        character refused (the text itself is not kept: no message quotes it)."""
        text, end, plain = self.text, self.end, _PLAIN_STRING.match
        while True:
            self.ptr = plain(text, self.ptr).end()  # type: ignore[union-attr]  # `*` always matches
            if self.ptr >= end:
                raise self._invalid_eof(eof)
            i = ord(text[self.ptr])
            self.ptr += 1
            if i == _QUOTE:
                return
            if i == _BACKSLASH:
                self._decode_escaped()
            else:
                raise self._unquoted_space(i, what)

    def _decode_escaped(self) -> int:
        """_decodeEscaped (and ParserBase._handleUnrecognizedCharacterEscape)."""
        if self.ptr >= self.end:
            raise self._invalid_eof(" in character escape sequence")
        c = self.text[self.ptr]
        self.ptr += 1
        mapped = {"b": 8, "t": 9, "n": 10, "f": 12, "r": 13, '"': 0x22, "/": 0x2F, "\\": 0x5C}.get(c)
        if mapped is not None:
            return mapped
        if c != "u":
            raise self._error_minus_one(f"Unrecognized character escape {_char_desc(ord(c))}")
        value = 0
        for _ in range(4):
            if self.ptr >= self.end:
                raise self._invalid_eof(" in character escape sequence")
            ch = ord(self.text[self.ptr])
            self.ptr += 1
            digit = _HEX.get(ch)
            if digit is None:
                raise self._unexpected_char(ch, "expected a hex-digit for character escape sequence")
            value = (value << 4) | digit
        return value

    # ---- literals and odd values ----

    def _match_token(self, match: str, i: int) -> None:
        """_matchToken / _matchToken2 (and _matchTrue, _matchFalse, _matchNull, which read the same): the rest of
        the literal, then not an identifier character (_checkMatchEnd)."""
        while i < len(match):
            if self.ptr >= self.end or self.text[self.ptr] != match[i]:
                raise self._invalid_token(match[:i])
            self.ptr += 1
            i += 1
        if self.ptr >= self.end:
            return
        ch = ord(self.text[self.ptr])
        if ch >= _ZERO and ch != _RBRACKET and ch != _RCURLY and _java_identifier_part(ch):
            raise self._invalid_token(match[:i])

    def _handle_odd_value(self, i: int) -> None:
        """_handleOddValue: what cannot start a value (single quotes, NaN, Infinity, a missing value, a leading
        plus: all off)."""
        if i == 0x4E:  # 'N'
            self._match_token("NaN", 1)
            raise self._error("Non-standard token 'NaN': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow")
        if i == 0x49:  # 'I'
            self._match_token("Infinity", 1)
            raise self._error(
                "Non-standard token 'Infinity': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
            )
        if i == _PLUS:
            if self.ptr >= self.end:
                raise self._invalid_eof(" in a Number value")  # _reportInvalidEOFInValue(VALUE_NUMBER_INT)
            ch = ord(self.text[self.ptr])
            self.ptr += 1
            self._handle_invalid_number_start(ch, negative=False, has_sign=True)
        if _java_identifier_start(i):
            raise self._invalid_token(chr(i))
        raise self._unexpected_char(i, "expected a valid value " + _VALID_VALUES)

    # ---- numbers ----

    def _handle_invalid_number_start(self, ch: int, negative: bool, has_sign: bool) -> None:
        """_handleInvalidNumberStart: `-INF`, `-Infinity` (and `+`) are non-standard; else not a digit."""
        if ch == 0x49:  # 'I'
            if self.ptr >= self.end:
                raise self._invalid_eof(" in a Number value")
            ch = ord(self.text[self.ptr])
            self.ptr += 1
            if ch in (0x4E, 0x6E):  # 'N', 'n'
                match = ("-" if negative else "+") + ("INF" if ch == 0x4E else "Infinity")
                self._match_token(match, 3)
                raise self._error(
                    f"Non-standard token '{match}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
                )
        if has_sign and not negative:
            raise self._unexpected_number_char(
                _PLUS,
                "JSON spec does not allow numbers to have plus signs: enable "
                "`JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS` to allow",
            )
        raise self._unexpected_number_char(
            ch,
            "expected digit (0-9) to follow minus sign, for valid numeric value"
            if negative
            else "expected digit (0-9) for valid numeric value",
        )

    def _in_root(self) -> bool:
        return len(self.contexts) == 1

    def _verify_root_space(self, ch: int) -> None:
        """_verifyRootSpace: a number at the root is followed by white space (or the end of input)."""
        self.ptr += 1
        if ch in (_SPACE, _TAB):
            return
        if ch == _CR:
            self.ptr -= 1
            return
        if ch == _LF:
            self.row += 1
            self.row_start = self.ptr
            return
        raise self._unexpected_char(ch, "Expected space separating root-level values")  # _reportMissingRootWS

    def _char(self, ptr: int) -> int:
        return ord(self.text[ptr])

    def _input_end(self) -> int:
        """_inputEnd: the end of the buffer the last character read came from."""
        if self.end <= _ONE_BUFFER:
            return self.end
        return min(self.end, ((self.ptr - 1) // _READ_BUFFER + 1) * _READ_BUFFER)

    def _parse_unsigned_number(self, ch: int) -> None:
        """_parseUnsignedNumber: the fast path; a leading zero, or a number reaching the end of input, goes to
        _parseNumber2."""
        self._integer_part(ch, self.ptr, self.ptr - 1, False, self._input_end())

    def _parse_signed_number(self) -> None:
        """_parseSignedNumber(true), after the minus sign; then the integer part as _parseUnsignedNumber reads it."""
        ptr = self.ptr
        start = ptr - 1
        input_end = self._input_end()
        if ptr >= input_end:
            self._parse_number2(True, start)
            return
        ch = self._char(ptr)
        ptr += 1
        if not _is_digit(ch):
            self.ptr = ptr
            if ch == _PERIOD:  # _parseFloatThatStartsWithPeriod: ALLOW_LEADING_DECIMAL_POINT is off
                self._handle_odd_value(_PERIOD)
            self._handle_invalid_number_start(ch, negative=True, has_sign=True)
        self._integer_part(ch, ptr, start, True, input_end)

    def _integer_part(self, ch: int, ptr: int, start: int, negative: bool, input_end: int) -> None:
        """The integer part both fast paths read alike, from its first digit `ch` (`ptr` just past it): a leading
        zero, or the buffer's end, sends the number to _parseNumber2 (which reads it again from `start`); a `.` or
        `e` to _parseFloat; else the number ends, a root one followed by white space (_verifyRootSpace)."""
        if ch == _ZERO:
            self._parse_number2(negative, start)
            return
        int_len = 1
        while True:
            if ptr >= input_end:
                self._parse_number2(negative, start)
                return
            ch = self._char(ptr)
            ptr += 1
            if not _is_digit(ch):
                break
            int_len += 1
        if ch == _PERIOD or (ch | 0x20) == _LOWER_E:
            self.ptr = ptr
            self._parse_float(ch, start, ptr, negative, int_len, input_end)
            return
        self._end_number(ptr - 1, ch, int_len)  # resetInt

    def _parse_float(self, ch: int, start: int, ptr: int, negative: bool, int_len: int, end: int) -> None:
        """_parseFloat: the fraction and exponent on the fast path, to the end of the buffer (`end`). Its errors are
        reported where the caller left _inputPtr (just past the `.` or `e`), not where the local pointer got to."""
        fract_len = 0
        if ch == _PERIOD:
            while True:
                if ptr >= end:
                    self._parse_number2(negative, start)
                    return
                ch = self._char(ptr)
                ptr += 1
                if not _is_digit(ch):
                    break
                fract_len += 1
            if fract_len == 0:
                raise self._unexpected_number_char(ch, "Decimal point not followed by a digit")
        exp_len = 0
        if (ch | 0x20) == _LOWER_E:
            if ptr >= end:
                self._parse_number2(negative, start)
                return
            ch = self._char(ptr)
            ptr += 1
            if ch in (_MINUS, _PLUS):
                if ptr >= end:
                    self._parse_number2(negative, start)
                    return
                ch = self._char(ptr)
                ptr += 1
            while _is_digit(ch):
                exp_len += 1
                if ptr >= end:
                    self._parse_number2(negative, start)
                    return
                ch = self._char(ptr)
                ptr += 1
            if exp_len == 0:
                raise self._unexpected_number_char(ch, "Exponent indicator not followed by a digit")
        self._end_number(ptr - 1, ch, int_len + fract_len + exp_len)  # resetFloat

    def _end_number(self, ptr: int, ch: int, length: int) -> None:
        """A number's end on the fast paths: _inputPtr back on the character after it (`ch`, at `ptr`), which at the
        root must be white space (_verifyRootSpace), and its length within StreamReadConstraints (resetInt,
        resetFloat)."""
        self.ptr = ptr
        if self._in_root():
            self._verify_root_space(ch)
        self._too_long_number(length)

    def _next_number_char(self, eof: str) -> int:
        """getNextChar(eofMsg): the next character, or the end of input refused with the message as it is (no
        separator: "Unexpected end-of-inputNo digit following sign")."""
        if self.ptr >= self.end:
            raise self._invalid_eof(eof)
        ch = self._char(self.ptr)
        self.ptr += 1
        return ch

    def _parse_number2(self, negative: bool, start: int) -> None:
        """_parseNumber2: the number read again from its start, the end of input legal after a digit; the fraction
        and exponent lengths start at -1 here (resetFloat then counts them so)."""
        self.ptr = start + 1 if negative else start
        int_len = 0
        c = self._next_number_char("No digit following sign")
        if c == _ZERO:
            c = self._verify_no_leading_zeroes()
        eof = False
        while _is_digit(c):
            int_len += 1
            if self.ptr >= self.end:
                c = 0  # CHAR_NULL
                eof = True
                break
            c = self._char(self.ptr)
            self.ptr += 1
        if int_len == 0:
            self._handle_invalid_number_start(c, negative, has_sign=False)
        fract_len = -1
        if c == _PERIOD:
            fract_len = 0
            while True:
                if self.ptr >= self.end:
                    eof = True
                    break
                c = self._char(self.ptr)
                self.ptr += 1
                if not _is_digit(c):
                    break
                fract_len += 1
            if fract_len == 0:
                raise self._unexpected_number_char(c, "Decimal point not followed by a digit")
        exp_len = -1
        if (c | 0x20) == _LOWER_E:
            exp_len = 0
            c = self._next_number_char("expected a digit for number exponent")
            if c in (_MINUS, _PLUS):
                c = self._next_number_char("expected a digit for number exponent")
            while _is_digit(c):
                exp_len += 1
                if self.ptr >= self.end:
                    eof = True
                    break
                c = self._char(self.ptr)
                self.ptr += 1
            if exp_len == 0:
                raise self._unexpected_number_char(c, "Exponent indicator not followed by a digit")
        if not eof:
            self.ptr -= 1
            if self._in_root():
                self._verify_root_space(c)
        if fract_len < 0 and exp_len < 0:
            self._too_long_number(int_len)  # resetInt
        else:
            self._too_long_number(int_len + fract_len + exp_len)  # resetFloat

    def _verify_no_leading_zeroes(self) -> int:
        """_verifyNoLeadingZeroes / _verifyNLZ2 with ALLOW_LEADING_ZEROS off: a zero followed by a digit is
        refused."""
        if self.ptr >= self.end:
            return _ZERO
        ch = self._char(self.ptr)
        if not _is_digit(ch):
            return _ZERO
        raise self._error("Invalid numeric value: Leading zeroes not allowed")  # reportInvalidNumber
