"""A request body as APIM's Regex Policy searches it: the text of the message's first SOAP body element.

carbon-apimgt 9.31.86 `RegularExpressionProtector.isRequestBodyVulnerable` searches `soapBody.getFirstElement()
.toString()`: the body as the message builder APIM's axis2.xml names for its Content-Type built it (product-apim
v4.5.0 `conf/default.json` `message_builder.*`; wso2-synapse `passthru/util/DeferredMessageBuilder.getDocument`),
written back by Axiom. The pattern's alternatives are letters, whitespace and an apostrophe, so what decides a match
is the text a builder keeps (JSON's escapes decoded, form values URL-decoded, base64 for a binary body) and where
its line breaks and spaces fall (Axiom writes a built JSON or form body on one line); tags and entities never make
or break one. `as_searched` renders each builder's element that way:

- `application/json` (synapse-commons `JsonStreamBuilder`, its `JsonUtil`): an object is `<jsonObject>`, an array
  `<jsonArray>` of `<jsonElement>`s, another value `<jsonValue>`; each member `<key>value</key>`, an array member
  one element per item after `<?xml-multiple key?>`; a key starting with a digit gets `_JsonReader_PD_` before it,
  one starting with `$` has it replaced by `_JsonReader_PS_` (`JsonReaderDelegate`, `buildValidNCNames` off, its
  default); numbers and literals as written. Staxon's `@attribute` and `$` text conventions are not reproduced:
  their values are written as members (the same text). `text/javascript` (Axis2's JSONBuilder) is read alike.
- `application/x-www-form-urlencoded` (synapse-commons `XFormURLEncodedBuilder`, read in axis2_forms):
  `<xformValues>` of `<key>value</key>`, the query's parameters then the body's, values decoded (`+` a space), the
  same key prefixes. A form the builder throws on (a part without `=`, a malformed `%` escape) fails the call on
  APIM's gateway: None.
- `text/plain`, `text/event-stream` (Axis2's PlainTextBuilder): the text, in `<text>`, read in the charset
  `BuilderUtil.getCharSetEncoding` finds (as the XML builders read theirs); a charset Java does not know makes its
  reader throw: None (an XML body's too).
- `application/octet-stream`, `text/html`, and a body without a Content-Type (Synapse's default type) (carbon
  `BinaryRelayBuilder`): the bytes in base64, in `<ns:binary>`, as APIM searches them.
- `multipart/form-data` (Axis2's `MultipartFormDataBuilder` on commons-fileupload, read in axis2_multipart):
  `<mediate>` of `<name charset="...">value</name>` for a field, `<name filename="..." content-type="...">` and the
  file's bytes in base64 for a file, names as sent. A body the builder throws on (no boundary, a part never
  closed) fails the call on APIM's gateway: None.
- anything else (`application/xml`, `text/xml`, `application/soap+xml`, and types axis2.xml does not name, which
  Synapse builds as plain XML): the XML element (a SOAP envelope's first body element), comments and processing
  instructions kept.

JSON is read once, as the JSON Validator reads it (json_protector.parsed). A form, multipart, text or XML body its
builder throws on before parsing (a charset Java does not know, a form or upload it cannot read) is None (read as
the builders read them, step for step; the call is refused). JSON or XML that does not parse here, or JSON of
several root values, is searched as the text it is: APIM's gateway fails such a call too, but its readers
(Synapse's staxon, Axiom's Woodstox) and these differ at the edges, so it is not refused.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ElementTree
from typing import Any
from xml.sax.saxutils import escape

from . import axis2_forms, axis2_multipart, java_strings, json_protector, xml_without_dtd

_JSON = frozenset({"application/json", "text/javascript"})
_TEXT = frozenset({"text/plain", "text/event-stream"})
_BINARY = frozenset({"application/octet-stream", "text/html", ""})
_FORM, _MULTIPART = axis2_forms.FORM_MEDIA_TYPE, axis2_multipart.MEDIA_TYPE
_SOAP_NAMESPACES = ("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")
_PAYLOAD = "http://ws.apache.org/commons/ns/payload"


def as_searched(content_type: str, body: bytes, uri: str = "") -> str | None:
    """The text APIM's Regex Policy searches for a request body of `content_type` (the header, as sent) on a
    request to `uri` (its path and query: a form's builder reads the query's parameters first); None where the
    form, multipart or text builder throws on it (AbstractListMediator's build fails the call on APIM's gateway)."""
    if not body:
        return ""
    # Blanks around the type are dropped: APIM finds no builder for `application/json ;` and fails the call, and the
    # body is searched closest to that as the type it names.
    media = axis2_forms.builder_media_type(content_type).strip()
    if media in _BINARY:
        return f'<ns:binary xmlns:ns="{_PAYLOAD}">{base64.b64encode(body).decode()}</ns:binary>'
    if media == _FORM:
        return _form(uri, body, content_type)
    if media == _MULTIPART:
        try:
            return axis2_multipart.element(content_type, body)
        except axis2_forms.GatewayFailure:
            return None
    # Each builder reads the charset the transport gives it (PlainTextBuilder, ApplicationXMLBuilder, SOAPBuilder:
    # BuilderUtil.getCharSetEncoding of the Content-Type); JsonStreamBuilder reads bytes, so only its fallback does.
    charset = axis2_forms.message_charset(content_type)
    try:
        text = java_strings.decode(body, charset)
    except LookupError:
        # A charset Java does not know: PlainTextBuilder's InputStreamReader throws, and so does Woodstox under the
        # XML builders (WstxInputFactory.createSR: "[unsupported encoding]"), failing the call; an empty name is
        # Woodstox's cue to find the encoding itself, read as UTF-8 here.
        if media in _TEXT or (media not in _JSON and charset):
            return None
        text = java_strings.utf8(body)
    if media in _TEXT:
        return f'<text xmlns="{_PAYLOAD}">{escape(text)}</text>'
    if media in _JSON:
        return _json(body, text)
    return _xml(text)


def _name(key: str) -> str:
    """A member's element name (JsonReaderDelegate: Character.isDigit, any script's digit)."""
    if key[:1].isdecimal():
        return "_JsonReader_PD_" + key
    if key[:1] == "$":
        return "_JsonReader_PS_" + key[1:]
    return key


def _json(body: bytes, text: str) -> str:
    try:
        values = json_protector.parsed(body)
        if len(values) != 1:
            return text
        [value] = values
        out: list[str] = []
        if type(value) is list:
            out.append("<jsonArray>")
            _items("jsonElement", value, out)
            out.append("</jsonArray>")
        else:
            _element("jsonObject" if type(value) is json_protector.Object else "jsonValue", value, out)
        return "".join(out)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser (or this writer) goes
        return text


def _items(name: str, items: list[Any], out: list[str]) -> None:
    out.append(f"<?xml-multiple {name}?>")
    for item in items:
        _element(name, item, out)


def _element(name: str, value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is json_protector.Object:
        out.append(f"<{name}>")
        for key, member in value:
            if type(member) is list:
                _items(_name(key), member, out)
            else:
                _element(_name(key), member, out)
        out.append(f"</{name}>")
    elif kind is list:  # an array in an array
        out.append(f"<{name}>")
        _items("jsonElement", value, out)
        out.append(f"</{name}>")
    elif value is None:
        out.append(f"<{name}/>")
    else:
        text = value if isinstance(value, str) else "true" if value else "false"  # a Number is a str
        out.append(f"<{name}>{escape(text)}</{name}>")


def _form(uri: str, body: bytes, content_type: str) -> str | None:
    """The form as XFormURLEncodedBuilder reads it, in the charset the transport gives it; None where the builder
    throws."""
    charset = axis2_forms.message_charset(content_type)
    try:
        parameters = axis2_forms.parameters(uri, axis2_forms.read_body(body, charset), charset)
    except axis2_forms.GatewayFailure:
        return None
    out = ["<xformValues>"]
    for name, values in parameters:
        out += (f"<{name}>{escape(value)}</{name}>" for value in values)
    out.append("</xformValues>")
    return "".join(out)


def _xml(text: str) -> str:
    try:  # the client's XML, so no DTD (xml_without_dtd): a body with one is searched as sent
        root = xml_without_dtd.parse(text, keep_comments=True)
    except (ElementTree.ParseError, RecursionError, ValueError):
        return text
    for ns in _SOAP_NAMESPACES:
        if root.tag == f"{{{ns}}}Envelope":  # its Body's first element (comments are not elements)
            body = [child for child in root if child.tag == f"{{{ns}}}Body"]
            first = [child for child in body[0] if isinstance(child.tag, str)] if body else []
            if not first:
                return ""
            root = first[0]
    try:
        return ElementTree.tostring(root, encoding="unicode")
    except (RecursionError, ValueError):
        return text
