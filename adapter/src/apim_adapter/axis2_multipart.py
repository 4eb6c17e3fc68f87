"""A `multipart/form-data` body as APIM 4.5's gateway builds it: the element its Regex Policy searches.

APIM's axis2.xml names Axis2's `MultipartFormDataBuilder` for the type (wso2-axis2 1.6.1-wso2v102, the version
carbon-apimgt's root pom pins for APIM 4.5, with commons-fileupload 1.5 and Axiom 1.2.11). The Regex Policy searches
`soapBody.getFirstElement().toString()` (carbon-apimgt `RegularExpressionProtector`). Step by step, each from its
source:

- the parameters are commons-fileupload 1.5's reading of the body (`FileUploadBase.FileItemIteratorImpl`,
  `MultipartStream`, `ParameterParser`, `MimeUtility`): the boundary is the Content-Type's `boundary` parameter
  (its parameters split at whichever of `;` and `,` comes first, quotes stripped, RFC 2047 words decoded, the text
  as ISO-8859-1 bytes): with none, or one longer than 4,091 bytes, the builder throws. Every part is found as the
  preamble is (`skipPreamble` is never turned off): the next `--boundary` anywhere, then a line break (CRLF, or LF
  alone) opens a part, and `--`, anything else or the body's end closes the body without an error. A part's
  headers run to the first CRLF CRLF (a CR after a CR is not counted: `readHeaders`), at most 10,240 bytes, read
  in the message's charset (UTF-8 where Java knows no such charset); folded lines are joined with a space. Its
  data runs to the next CRLF `--boundary`; a body that ends before it, or before the headers end, throws. A part
  counts where its Content-Disposition starts `form-data` and names it (`name`, trimmed); it is a file where a
  `filename` parameter is there (a `filename` without a value is ""), else a field. A `multipart/mixed` part holds
  more files under its name (its boundary must be as long as the body's); its parts without a filename are
  skipped.
- each field's value is its bytes in the charset its own Content-Type names, else the message's (the request
  Content-Type's `charset` as `BuilderUtil.getCharSetEncoding` finds it, else UTF-8); with a charset Java does not
  know the builder throws (`MultipartFormDataBuilder.getTextParameter`);
- the element (`BuilderUtil.buildsoapMessage`: Synapse's operation has no schema) is `<mediate>` holding one element
  per value, named as the part, in the order names first came (`MultipleEntryHashMap`: a name's values together):
  a field `<name charset="..." content-type="...">value</name>` (content-type where the part had one), a file
  `<name filename="..." content-type="...">base64</name>` (its Content-Type, else `text/plain`), written by Axiom on
  Woodstox 4: names as sent (a name of blanks, trimmed to nothing, throws), text and attribute values escaped as
  its writer escapes them, and a control character other than TAB, LF and CR in either cannot be written (throws).

`element` raises axis2_forms.GatewayFailure where the builder or Axiom's writer throws: the Regex Policy's build
then fails the call on APIM, and Schema Validation hands its validator no body (`converts`).
Approximation: charsets other than UTF-8 are read by Python's decoders under Java's names.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from . import axis2_forms, java_strings, xml_protector
from .axis2_forms import GatewayFailure

MEDIA_TYPE = "multipart/form-data"
_MULTIPART, _MIXED = "multipart/", "multipart/mixed"
_BUFFER = 4096  # MultipartStream.DEFAULT_BUFSIZE: the boundary, CRLF and `--` must fit in it with a byte to spare
_HEADER_PART_SIZE_MAX = 10240  # MultipartStream.HEADER_PART_SIZE_MAX
_HEADER_SEPARATOR = b"\r\n\r\n"
_DEFAULT_FILE_TYPE = "text/plain"  # BuilderUtil.DEFAULT_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class Part:
    """One item commons-fileupload hands the builder: its field name, its file name (None: a form field), its
    Content-Type (None: it had none) and its bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def element(content_type: str, body: bytes) -> str:
    """`getFirstElement().toString()` of the body Axis2 builds from a `multipart/form-data` request with this
    Content-Type (as sent) and body."""
    charset = axis2_forms.message_charset(content_type)
    grouped: dict[str, list[str]] = {}
    for part in parts(content_type, body, charset):
        grouped.setdefault(part.name, []).append(_child(part, charset))
    if not grouped:
        return "<mediate/>"
    return "<mediate>" + "".join("".join(children) for children in grouped.values()) + "</mediate>"


def is_multipart(content_type: str) -> bool:
    """Whether the passthrough transport builds this Content-Type's body with the multipart builder."""
    return axis2_forms.builder_media_type(content_type) == MEDIA_TYPE


def converts(content_type: str, body: bytes) -> bool:
    """Whether `JsonUtil.toJsonString` converts the element built of this body (what Schema Validation hands its
    validator): the builder must build it, Axiom write it, and Woodstox read it back (convertOMElementToJson), which
    refuses what is not XML (`<a b ...>`, an unbound prefix, a reference to U+FFFE) but reads a field named `a>b`
    as an element `a` and text."""
    try:
        written = element(content_type, body)
    except GatewayFailure:
        return False
    return not _LONE_SURROGATE.search(written) and xml_protector.reads(written)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # what Woodstox's writer refuses


def parts(content_type: str, body: bytes, charset: str) -> list[Part]:
    """The items ServletFileUpload.parseRequest returns, in order."""
    if not content_type.lower().startswith(_MULTIPART):
        raise GatewayFailure(f"the request doesn't contain a {MEDIA_TYPE} stream")
    outer = _boundary(content_type)
    if outer is None:
        raise GatewayFailure("the request was rejected because no multipart boundary was found")
    if len(outer) + 5 > _BUFFER:
        raise GatewayFailure("The boundary specified in the Content-Type header is too long")
    boundary, mixed_name = outer, None
    found: list[Part] = []
    at = 0
    while True:
        opened, at = _next_part(body, boundary, at)
        if not opened:
            if mixed_name is None:
                return found
            boundary, mixed_name = outer, None  # back to the body's own parts
            continue
        headers, at = _headers(body, at, charset)
        disposition, part_type = _disposition(headers.get("content-disposition")), headers.get("content-type")
        if mixed_name is None:
            name = _field_name(disposition)
            if name is not None:
                if part_type is not None and part_type.lower().startswith(_MIXED):
                    mixed = _boundary(part_type)
                    if mixed is None or len(mixed) != len(outer):
                        raise GatewayFailure("The length of a boundary token cannot be changed")
                    boundary, mixed_name = mixed, name
                    continue
                data, at = _data(body, boundary, at)
                found.append(Part(name, _file_name(disposition), part_type, data))
                continue
        else:
            filename = _file_name(disposition)
            if filename is not None:
                data, at = _data(body, boundary, at)
                found.append(Part(mixed_name, filename, part_type, data))
                continue
        _, at = _data(body, boundary, at)  # discardBodyData: a part without a name (or a nested one without a file)


def _next_part(body: bytes, boundary: bytes, at: int) -> tuple[bool, int]:
    """skipPreamble, then readBoundary: whether a part opens after the next `--boundary` from `at`, and where
    reading goes on. Whatever does not open one (no boundary, `--`, other bytes, the end) ends the body quietly."""
    found = body.find(b"--" + boundary, at)
    if found < 0:
        return False, len(body)
    at = found + 2 + len(boundary)
    if at < len(body) and body[at] == 0x0A:  # a LF alone (IE5 for Mac): a part
        return True, at + 1
    if at + 1 >= len(body):
        return False, len(body)
    return body[at : at + 2] == b"\r\n", at + 2


def _headers(body: bytes, at: int, charset: str) -> tuple[dict[str, str], int]:
    """readHeaders, then getParsedHeaders: each header's first value by its lower-case name, and where the data
    begins."""
    start, matched = at, 0
    limit = min(len(body), start + _HEADER_PART_SIZE_MAX)  # the bytes it reads before it gives up
    while matched < len(_HEADER_SEPARATOR):
        if matched == 0:  # on to the next CR: the bytes before it match nothing
            at = body.find(b"\r", at, limit) + 1
            if at == 0:
                break
            matched = 1
        elif at < limit:
            matched = matched + 1 if body[at] == _HEADER_SEPARATOR[matched] else 0  # a mismatched CR starts nothing
            at += 1
        else:
            break
    if matched < len(_HEADER_SEPARATOR):
        if len(body) - start > _HEADER_PART_SIZE_MAX:
            raise GatewayFailure(f"Header section has more than {_HEADER_PART_SIZE_MAX} bytes")
        raise GatewayFailure("Stream ended unexpectedly")
    try:
        text = java_strings.decode(body[start:at], charset)
    except LookupError:  # the platform's default charset: UTF-8 on APIM's JDK 21
        text = java_strings.utf8(body[start:at])
    return _parsed_headers(text), at


def _parsed_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    start = 0
    while (end := _end_of_line(text, start)) != start:
        line, start = text[start:end], end + 2
        while start < len(text):  # folded: a line starting with a space or tab goes on the one before
            content = start
            while content < len(text) and text[content] in " \t":
                content += 1
            if content == start:
                break
            end = _end_of_line(text, content)
            line, start = f"{line} {text[content:end]}", end + 2
        colon = line.find(":")
        if colon >= 0:  # a line without one is skipped
            name, value = java_strings.trim(line[:colon]), java_strings.trim(line[colon + 1 :])
            headers.setdefault(name.lower(), value)
    return headers


def _end_of_line(text: str, start: int) -> int:
    """parseEndOfLine: the next CR LF."""
    end = text.find("\r\n", start)
    if end < 0:  # headers decoded in a charset that lost their line breaks
        raise GatewayFailure("Expected headers to be terminated by an empty line.")
    return end


def _data(body: bytes, boundary: bytes, at: int) -> tuple[bytes, int]:
    """A part's bytes: up to the next CR LF `--boundary`, which the body must hold."""
    end = body.find(b"\r\n--" + boundary, at)
    if end < 0:
        raise GatewayFailure("Stream ended unexpectedly")
    return body[at:end], end


def _boundary(content_type: str) -> bytes | None:
    """getBoundary: the `boundary` parameter (split at whichever of `;` and `,` comes first), as ISO-8859-1 bytes
    (`?` for what it cannot hold)."""
    separators = sorted((content_type.find(s), s) for s in ";," if s in content_type)
    value = _parameters(content_type, separators[0][1] if separators else ";").get("boundary")
    return None if value is None else value.encode("latin-1", "replace")


@dataclass(frozen=True, slots=True)
class _Disposition:
    """A part's Content-Disposition: its type (what it starts with) and its parameters (read once; getFieldName and
    getFileName each read the same header with the same parser)."""

    form_data: bool
    attachment: bool
    params: dict[str, str | None]


def _disposition(header: str | None) -> _Disposition:
    lowered = "" if header is None else header.lower()
    form_data, attachment = lowered.startswith("form-data"), lowered.startswith("attachment")
    params = _parameters(header, ";") if header is not None and (form_data or attachment) else {}
    return _Disposition(form_data, attachment, params)


def _field_name(disposition: _Disposition) -> str | None:
    """getFieldName: a form-data part's `name`, trimmed."""
    name = disposition.params.get("name") if disposition.form_data else None
    return None if name is None else java_strings.trim(name)


def _file_name(disposition: _Disposition) -> str | None:
    """getFileName: a form-data or attachment part's `filename`, trimmed ("" where it has no value)."""
    if "filename" not in disposition.params:
        return None
    filename = disposition.params["filename"]
    return "" if filename is None else java_strings.trim(filename)


def _parameters(text: str, separator: str) -> dict[str, str | None]:
    """ParameterParser.parse with lower-case names: `name=value` pairs split at `separator` (not inside quotes; a
    backslash keeps the character after it from opening or closing one, and is kept itself), names and values
    trimmed of Java's whitespace, a value's enclosing quotes stripped and its RFC 2047 words decoded; a later name
    wins."""
    name_end, value_end = _PARAMETER_SCANNERS[separator]
    params: dict[str, str | None] = {}
    at, end = 0, len(text)
    while at < end:
        start, at = at, _scanned(name_end, text, at)
        name, value = _token(text[start:at], quoted=False), None
        if at < end and text[at] == "=":
            start, at = at + 1, _scanned(value_end, text, at + 1)
            value = _token(text[start:at], quoted=True)
            if value is not None:
                value = _decoded_words(value)
        if at < end and text[at] == separator:
            at += 1
        if name:
            params[name.lower()] = value
    return params


def _scanned(scanner: re.Pattern[str], text: str, at: int) -> int:
    """Where a token read from `at` ends (the scanners match an empty token too)."""
    found = scanner.match(text, at)
    assert found is not None
    return found.end()


def _scanners(separator: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """parseToken (a name runs to `=` or the separator) and parseQuotedToken (a value runs to a separator outside
    quotes: outside, a backslash takes the next character unless it is the separator; inside, any)."""
    s = re.escape(separator)
    name = re.compile(rf"[^={s}]*")
    value = re.compile(rf'(?:[^"\\{s}]+|\\[^{s}]|\\(?={s}|\Z)|"(?:[^"\\]+|\\.|\\\Z)*(?:"|\Z))*', re.DOTALL)
    return name, value


_PARAMETER_SCANNERS = {separator: _scanners(separator) for separator in ";,"}


def _token(text: str, *, quoted: bool) -> str | None:
    text = text.strip(java_strings.WHITESPACE)
    if quoted and len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return text or None


_LINEAR_WHITESPACE = " \t\r\n"
_WORDS = re.compile(r"[^ \t\r\n]+|[ \t\r\n]+")


class _NotAWord(ValueError):
    """MimeUtility's ParseException: the word is kept as written."""


def _decoded_words(text: str) -> str:
    """MimeUtility.decodeText: each `=?charset?B|Q?text?=` word decoded, the whitespace between two decoded words
    dropped; the whole text as written where a word names a charset or encoding Java does not know, or is not
    base64 or quoted-printable it can read (UnsupportedEncodingException)."""
    if "=?" not in text:
        return text
    out: list[str] = []
    space: str | None = None
    previous_decoded = False
    for token in _WORDS.findall(text):
        if token[0] in _LINEAR_WHITESPACE:
            space = token
            continue
        if token.startswith("=?"):
            try:
                decoded = _decoded_word(token)
            except _NotAWord:
                pass
            except LookupError:
                return text
            else:
                if not previous_decoded and space is not None:
                    out.append(space)
                space, previous_decoded = None, True
                out.append(decoded)
                continue
        if space is not None:
            out.append(space)
            space = None
        previous_decoded = False
        out.append(token)
    return "".join(out)  # trailing whitespace is dropped


# MimeUtility.MIME2JAVA: MIME names it maps to a Java name (others are looked up as written).
_MIME_TO_JAVA = {
    "iso-2022-cn": "ISO2022CN", "iso-2022-kr": "ISO2022KR", "utf-8": "UTF8", "utf8": "UTF8",
    "ja_jp.iso2022-7": "ISO2022JP", "ja_jp.eucjp": "EUCJIS", "euc-kr": "KSC5601", "euckr": "KSC5601",
    "us-ascii": "ISO-8859-1", "x-us-ascii": "ISO-8859-1",
}  # fmt: skip


def _decoded_word(word: str) -> str:
    """MimeUtility.decodeWord; _NotAWord where the word is not one, LookupError where it cannot be decoded."""
    charset_end = word.find("?", 2)
    if charset_end < 0:
        raise _NotAWord(word)
    charset = word[2:charset_end].lower()
    encoding_end = word.find("?", charset_end + 1)
    if encoding_end < 0:
        raise _NotAWord(word)
    encoding = word[charset_end + 1 : encoding_end]
    text_end = word.find("?=", encoding_end + 1)
    if text_end < 0:
        raise _NotAWord(word)
    encoded = word[encoding_end + 1 : text_end].encode("ascii", "replace")
    if not encoded:
        return ""
    if encoding == "B":
        data = _base64(encoded)
    elif encoding == "Q":
        data = _quoted_printable(encoded)
    else:
        raise LookupError(encoding)
    return java_strings.decode(data, _MIME_TO_JAVA.get(charset, charset))


_BASE64_VALUES = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_PAD = -2


def _base64(data: bytes) -> bytes:
    """fileupload's Base64Decoder: bytes outside the alphabet skipped, each four values three bytes (fewer after
    padding); padding first in a four, a value after a padded third, or a last four left short cannot be read."""
    values = [_BASE64_VALUES.get(b, _PAD if b == 0x3D else None) for b in data]
    digits = [v for v in values if v is not None]
    if len(digits) % 4:
        raise LookupError("Invalid Base64 input: truncated")
    out = bytearray()
    for i in range(0, len(digits), 4):
        b1, b2, b3, b4 = digits[i : i + 4]
        if b1 == _PAD or b2 == _PAD:
            raise LookupError("Invalid Base64 input: incorrect padding")
        out.append(((b1 << 2) | (b2 >> 4)) & 0xFF)
        if b3 != _PAD:
            out.append(((b2 << 4) | (b3 >> 2)) & 0xFF)
            if b4 != _PAD:
                out.append(((b3 << 6) | b4) & 0xFF)
        elif b4 != _PAD:
            raise LookupError("Invalid Base64 input: incorrect padding")
    return bytes(out)


def _quoted_printable(data: bytes) -> bytes:
    """fileupload's QuotedPrintableDecoder: `_` a space, `=XX` a byte, `=` CR LF nothing."""
    out = bytearray()
    at = 0
    while at < len(data):
        byte = data[at]
        at += 1
        if byte == 0x5F:
            out.append(0x20)
        elif byte == 0x3D:
            if at + 1 >= len(data):
                raise LookupError("truncated escape sequence")
            first, second = data[at], data[at + 1]
            at += 2
            if first == 0x0D:
                if second != 0x0A:
                    raise LookupError("CR must be followed by LF")
                continue
            high, low = java_strings.hex_digit(chr(first)), java_strings.hex_digit(chr(second))
            if high is None or low is None or high > 15 or low > 15:
                raise LookupError("not a valid hex digit")
            out.append(high << 4 | low)
        else:
            out.append(byte)
    return bytes(out)


def _child(part: Part, charset: str) -> str:
    """BuilderUtil.addRequestParameter's element for one value, as Axiom writes it (its name as it is: Woodstox
    checks none)."""
    if not part.name:  # a name of blanks, trimmed
        raise GatewayFailure("localname can not be null or empty")
    if part.filename is not None:
        if "\0" in part.filename:  # Streams.checkFileName, when the builder asks the DataSource its name
            raise GatewayFailure("Invalid file name")
        content = base64.b64encode(part.data).decode("ascii")
        file_type = part.content_type if part.content_type is not None else _DEFAULT_FILE_TYPE
        return (
            f'<{part.name} filename="{_attribute(part.filename)}" content-type="{_attribute(file_type)}">'
            f"{content}</{part.name}>"
        )
    part_charset = _part_charset(part.content_type) or charset
    try:
        value = java_strings.decode(part.data, part_charset)
    except LookupError:
        raise GatewayFailure(f"Unsupported charset {part_charset!r} in field {part.name[:64]!r}") from None
    content_type = "" if part.content_type is None else f' content-type="{_attribute(part.content_type)}"'
    return f'<{part.name} charset="{_attribute(part_charset)}"{content_type}>{_text(value)}</{part.name}>'


def _part_charset(content_type: str | None) -> str | None:
    """DiskFileItem.getCharSet."""
    return None if content_type is None else _parameters(content_type, ";").get("charset")


# Woodstox 4.4.1 (BufferingXmlWriter) writing Axiom's tree: in text `<` and `&`, a `>` first or after a `]`, a CR,
# U+007F-U+009F and the non-characters U+FFFE and U+FFFF are escaped; in an attribute value `"`, `<`, `&`, TAB,
# LF, CR, U+FFFE and U+FFFF. Another control character (NUL too) cannot be written: toString() throws.
_CHARACTER_REFERENCES = {chr(code): f"&#x{code:x};" for code in [*range(0x7F, 0xA0), 0xFFFE, 0xFFFF]}
_TEXT_ESCAPES = str.maketrans({"<": "&lt;", "&": "&amp;", "\r": "&#xd;", **_CHARACTER_REFERENCES})
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"<": "&lt;", "&": "&amp;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xa;", "\r": "&#xd;", "\ufffe": "&#xfffe;",
     "\uffff": "&#xffff;"}
)  # fmt: skip
_TEXT_GREATER_THAN = re.compile(r"(?:\A|(?<=\]))>")  # what could close a CDATA section's `]]>`
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _writable(value: str) -> str:
    if unwritable := _UNWRITABLE.search(value):
        raise GatewayFailure(f"Invalid white space character (0x{ord(unwritable.group()):x}) in text to output")
    return value


def _text(value: str) -> str:
    return _TEXT_GREATER_THAN.sub("&gt;", _writable(value).translate(_TEXT_ESCAPES))


def _attribute(value: str) -> str:
    return _writable(value).translate(_ATTRIBUTE_ESCAPES)
