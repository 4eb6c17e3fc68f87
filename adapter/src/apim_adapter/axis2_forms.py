"""A form body as APIM 4.5's gateway hands it to Schema Validation: Axis2's reading of the form, as XML, as JSON.

APIM's SchemaValidator gives the OpenAPI validator the body `SchemaValidationUtils.getMessageContent` returns, and
for a form that is not the form. The passthrough transport builds the message with the builder its `axis2.xml`
names for the media type (`RelayUtils.getMIMEContentType`: the Content-Type up to its first `;`, else its first `,`;
`AxisConfiguration.getMessageBuilder`: as sent or in lower case), Synapse's `XFormURLEncodedBuilder` for
`application/x-www-form-urlencoded`, and the content is that XML written as JSON (`JsonUtil.toJsonString`). Step by
step, each from its source (wso2-axis2 `XFormURLEncodedBuilder`, `BuilderUtil`, `URIEncoderDecoder`,
`MultipleEntryHashMap`; wso2-synapse `XFormURLEncodedBuilder`, `ServerWorker`, `JsonUtil`, `XmlReaderDelegate` and
its staxon `JsonXMLStreamWriter`, `AutoArrayTarget`, `AutoPrimitiveTarget`, `JsonStreamTargetImpl`):

- the parameters: first the request URI's (the text after its first `?`, or the whole URI where it has none, split
  at `&`; a pair counts where its `=` is past its first character; the name as sent, the value decoded), then each
  line of the body (split at `&`; every pair must hold `=`, else `substring(0, -1)` throws; the name as sent, the
  value decoded), the body read in the charset the transport gives the builder (`message_charset`; one Java does
  not know throws). Decoding is `URIEncoderDecoder.decode`: `+` a space, `%XX` runs in that charset (malformed
  bytes replaced), a `%` without two hex digits thrown. What the builder throws RelayUtils.buildMessage rethrows as an
  AxisFault: the Regex Policy's build then fails the call, and Schema Validation's (getMessageContent, which logs
  it) hands the validator no body;
- an element `xformValues` holding one element per value, named as the parameter, in the order names first came
  (a LinkedHashMap of lists: a repeated name's values together);
- a name beginning with a digit gets `_JsonReader_PD_` before it, one beginning with `$` has it replaced by
  `_JsonReader_PS_` (`replaceInvalidCharacters`), as JSON's builder does to such keys;
- the element serialised and read again by Woodstox (`convertOMElementToJson`): a value whose text is blank to
  `String.trim` is dropped first (`removeIndentations`: the element is empty), a name that is not an XML name (a
  space, `[` or `%` in it: names are not decoded) or a character XML 1.0 forbids in a value makes the conversion
  fail, and APIM hands the validator no body at all. A name `xml:x` is read as prefix and name (`xml_x`);
  any other colon is an unbound prefix (no body). A carriage return survives (Woodstox writes it `&#13;`);
- JSON as staxon writes it with Synapse's defaults (autoArray, autoPrimitive, null for an empty element): one
  object `{"xformValues":{...}}`, repeated names an array, a value `true`, `false` or `null` that literal, a
  JSON-shaped number a BigDecimal (`1e5` is `1E+5`, `-0` is `0`), other text a string; names beginning
  `_JsonReader_PD_` lose it, `_JsonReader_PS_` become `$`.

The validator then reads that JSON text as a form (HttpParsingUtils), so a schema's `required` properties are never
found; schema_validation does that reading. Approximations: a charset other than UTF-8 and UTF-16 is read by
Python's codec of that name (java_strings.decode); a POST whose body is empty hands the validator nothing here (APIM
may hand it the URI's parameters).
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

from . import java_strings, xml_protector

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MESSAGE_CHARSET = "UTF-8"  # MessageContext.DEFAULT_CHAR_SET_ENCODING


class GatewayFailure(ValueError):
    """APIM's message builder throws on the body: a mediator's build (the Regex Policy's) fails the call, Schema
    Validation's hands its validator no body."""


def message_charset(content_type: str) -> str:
    """The charset the passthrough transport gives the message's builders (ServerWorker: CHARACTER_SET_ENCODING is
    BuilderUtil.getCharSetEncoding of the Content-Type): the text after the `=` after the first `charset` (case as
    written) up to the next `;`, quotes removed, trimmed; UTF-8 where `charset` is not written."""
    index = content_type.find("charset")
    if index < 0:
        return MESSAGE_CHARSET
    eq = content_type.find("=", index)
    semicolon = content_type.find(";", max(eq, 0))
    value = content_type[eq + 1 : semicolon] if semicolon > 0 else java_strings.trim(content_type[eq + 1 :])
    return java_strings.trim(value.replace('"', ""))


def builder_media_type(content_type: str) -> str:
    """The media type whose builder the passthrough transport builds a body with (DeferredMessageBuilder
    .getContentType: the Content-Type up to its first `;`, else its first `,`, nothing trimmed; the builder looked
    up as sent or in lower case, so in lower case here)."""
    cut = content_type.find(";")
    if cut <= 0:
        cut = content_type.find(",")
    return (content_type[:cut] if cut > 0 else content_type).lower()


def is_form(content_type: str | None) -> bool:
    """Whether the passthrough transport builds this Content-Type's body with the form builder."""
    return content_type is not None and builder_media_type(content_type) == FORM_MEDIA_TYPE


def read_body(body: bytes, charset: str = MESSAGE_CHARSET) -> str:
    """The body as XFormURLEncodedBuilder's InputStreamReader reads it in the message's charset (message_charset);
    GatewayFailure where Java knows no such charset (UnsupportedEncodingException)."""
    try:
        return java_strings.decode(body, charset)
    except LookupError:
        raise _unsupported(charset) from None


def _unsupported(charset: str) -> GatewayFailure:
    return GatewayFailure(f"Unsupported charset '{charset[:64]}'")


def parameters(uri: str, body: str, charset: str = MESSAGE_CHARSET) -> list[tuple[str, list[str]]]:
    """The form's parameters as Synapse's XFormURLEncodedBuilder reads them from a request to `uri` (its path and
    query) with `body` (read_body's text): each name (as `replaceInvalidCharacters` writes it) with its values,
    their escapes decoded in the message's `charset`, in the order the names first came; GatewayFailure where the
    builder throws."""
    if not java_strings.supports(charset):  # the body's reader is made for it first, whatever the form holds
        raise _unsupported(charset)
    values: dict[str, list[str]] = {}

    def put(pair: str, eq: int) -> None:
        name, value = pair[:eq], pair[eq + 1 :]
        if "%" in value or "+" in value:
            try:
                value = _decode(value, charset)
            except ValueError:
                raise GatewayFailure(f"Form field '{_shown(name)}' has a malformed % escape") from None
        if name[:1] in _RENAMED_FIRST:
            name = _element_name(name)
        values.setdefault(name, []).append(value)

    mark = uri.find("?")
    for pair in java_strings.split(uri[mark + 1 :] if mark > -1 else uri, "&"):
        eq = pair.find("=")
        if eq > 0:
            put(pair, eq)
    for line in _lines(body):
        for pair in java_strings.split(line, "&"):
            eq = pair.find("=")
            if eq < 0:
                raise GatewayFailure(f"Form field '{_shown(pair)}' has no '='")
            put(pair, eq)
    return list(values.items())


def validator_body(uri: str, body: str, charset: str = MESSAGE_CHARSET) -> str | None:
    """The JSON text APIM hands the validator for a form `body` sent to `uri` (the request's path and query), None
    where the conversion fails and it hands none; GatewayFailure where the builder throws (it hands none either)."""
    elements: list[tuple[str, str]] = []  # each child element as read back: its JSON name, its JSON value
    for name, texts in parameters(uri, body, charset):
        key = read_back_name(name)
        if key is None:
            return None
        for text in texts:
            if not text.strip(java_strings.BLANK):
                elements.append((key, "null"))  # removeIndentations left the element empty
            elif _NOT_XML.search(text):
                return None
            else:
                elements.append((key, _json_value(text)))
    members = []
    for key, run in itertools.groupby(elements, key=lambda element: element[0]):
        values = [value for _, value in run]  # AutoArrayTarget: siblings of one name in a row are an array
        members.append(f"{_json_string(key)}:" + (values[0] if len(values) == 1 else f"[{','.join(values)}]"))
    return '{"xformValues":' + ("{" + ",".join(members) + "}" if members else "null") + "}"


_DIGITS = frozenset("0123456789")
_RENAMED_FIRST = _DIGITS | {"$"}
_SHOWN = 64  # of a field's name, in a description


def _shown(name: str) -> str:
    """A field's name as a description quotes it: its first characters, never its value."""
    return name if len(name) <= _SHOWN else name[:_SHOWN] + "…"


def _element_name(name: str) -> str:
    """XFormURLEncodedBuilder.replaceInvalidCharacters: a digit first gets `_JsonReader_PD_` before it, a `$` first
    becomes `_JsonReader_PS_` (what JSON's builder does to such keys, JsonReaderDelegate)."""
    if name[:1] in _DIGITS:
        return "_JsonReader_PD_" + name
    if name.startswith("$"):
        return "_JsonReader_PS_" + name[1:]
    return name


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")  # AutoPrimitiveTarget
_NUMBER_FIRST = frozenset("-0123456789")
_LITERALS = frozenset({"true", "false", "null"})


def _lines(body: str) -> list[str]:
    """BufferedReader.readLine's lines: ended by `\\n`, `\\r` or `\\r\\n`, the last one's end optional."""
    lines = re.split("\r\n|\r|\n", body) if "\n" in body or "\r" in body else [body]
    if lines[-1] == "":
        lines.pop()
    return lines


def _decode(text: str, charset: str = MESSAGE_CHARSET) -> str:
    """URIEncoderDecoder.decode(text, charset): `+` a space, each run of `%XX` its bytes in the charset
    (ByteArrayOutputStream.toString replaces what is malformed), a `%` without two hex digits after it
    (Character.digit's) an IllegalArgumentException."""
    spaced = text.replace("+", " ")  # `+` is no hex digit: an escape with one fails alike
    if "%" not in spaced:
        return spaced

    def decoded(found: re.Match[str]) -> str:
        run = found.group()
        if (at_once := java_strings.ascii_escaped(run, charset)) is not None:
            return at_once
        escaped = bytearray()
        for at in range(0, len(run), 3):
            whole = at + 2 < len(run)
            high = java_strings.hex_digit(run[at + 1]) if whole else None
            low = java_strings.hex_digit(run[at + 2]) if whole else None
            if high is None or low is None:
                raise ValueError("Incomplete % sequence" if not whole else "Invalid % sequence")
            escaped.append(high * 16 + low)
        return java_strings.decode(bytes(escaped), charset)

    return java_strings.ESCAPE_RUNS.sub(decoded, spaced)


def read_back_name(name: str) -> str | None:
    """The JSON name of an element Axiom wrote with this name, as Woodstox reads it back namespace-aware and
    XmlReaderDelegate renames its local part; None where Woodstox cannot read it. White space after the name ends it
    (`<a >` is a start tag, `</a >` an end tag)."""
    prefix, colon, local = name.rstrip(" \t\r\n").rpartition(":")
    if colon and prefix != "xml":
        return None  # an unbound prefix (`xmlns` may not be one), or a second colon
    if not xml_protector.is_ncname(local):
        return None
    for marker, replacement in (("_JsonReader_PD_", ""), ("_JsonReader_PS_", "$")):
        if local.startswith(marker):
            local = replacement + local[len(marker) :]
            break
    return f"{prefix}_{local}" if colon else local  # JsonXMLStreamWriter: prefix, namespaceSeparator, local name


def _json_value(text: str) -> str:
    """AutoPrimitiveTarget: the literals, a number as BigDecimal.toString writes it (no negative zero), else text."""
    if text in _LITERALS:
        return text
    if text[0] in _NUMBER_FIRST and _NUMBER.fullmatch(text):
        number = Decimal(text)
        return str(abs(number) if number.is_zero() else number)
    return _json_string(text)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile('["\\\\\x00-\x1f]')


def _json_string(text: str) -> str:
    """JsonStreamTargetImpl's string: the short escapes, other controls as \\uXXXX, everything else as it is."""
    return '"' + (_TO_ESCAPE.sub(_escaped, text) if _TO_ESCAPE.search(text) else text) + '"'


def _escaped(found: re.Match[str]) -> str:
    c = found.group()
    return _ESCAPES.get(c) or f"\\u{ord(c):04X}"
