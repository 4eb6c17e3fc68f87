"""A multipart/form-data body as APIM's gateway builds it for the Regex Policy (apim_adapter/axis2_multipart.py):
commons-fileupload's parts, Axis2's `<mediate>` element, Axiom's text of it on Woodstox. The expected texts are what
the real libraries printed for these bodies (harness/axis2_multipart.py's oracle); the e2e parity test holds every
case of a larger corpus to them."""

from __future__ import annotations

import pytest

from apim_adapter import threats
from apim_adapter.axis2_forms import message_charset
from apim_adapter.axis2_multipart import GatewayFailure, converts, element
from apim_adapter.payload import as_searched
from apim_adapter.schema_validation import PREFIX, Definition, request_of

pytestmark = pytest.mark.unit

CT = "multipart/form-data; boundary=b"


def form(*parts: bytes) -> bytes:
    return b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"


def field(name: bytes, value: bytes, *headers: bytes) -> bytes:
    return b"".join([b'Content-Disposition: form-data; name="' + name + b'"\r\n', *headers, b"\r\n", value])


def file(name: bytes, filename: bytes, content: bytes, *headers: bytes) -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"\r\n'
    return b"".join([disposition, *headers, b"\r\n", content])


@pytest.mark.parametrize(
    ("content_type", "body", "built"),
    [
        # A name's values together, in the order names first came; a file's bytes in base64, text/plain unless typed.
        (
            CT,
            form(field(b"a", b"1"), file(b"a", b"f.txt", b"x", b"Content-Type: text/plain\r\n"), field(b"b", b"2"),
                 field(b"a", b"3")),
            '<mediate><a charset="UTF-8">1</a><a filename="f.txt" content-type="text/plain">eA==</a>'
            '<a charset="UTF-8">3</a><b charset="UTF-8">2</b></mediate>',
        ),
        (CT, form(file(b"f", b"", b"hello")),
         '<mediate><f filename="" content-type="text/plain">aGVsbG8=</f></mediate>'),
        # The part's charset, else the message's (found case-sensitively anywhere in the Content-Type).
        (
            CT,
            form(field(b"a", b"caf\xe9", b"Content-Type: text/plain; charset=iso-8859-1\r\n")),
            '<mediate><a charset="iso-8859-1" content-type="text/plain; charset=iso-8859-1">caf\u00e9</a></mediate>',
        ),
        (CT + "; charset=iso-8859-1", form(field(b"a", b"caf\xe9")),
         '<mediate><a charset="iso-8859-1">caf\u00e9</a></mediate>'),
        (CT + "; Charset=iso-8859-1", form(field(b"a", b"caf\xe9")),
         '<mediate><a charset="UTF-8">caf\ufffd</a></mediate>'),
        # No part, no boundary in the body, a delimiter followed by anything but a line break: nothing, no error.
        (CT, b"just text", "<mediate/>"),
        (CT, b"--b  \r\n" + field(b"a", b"1") + b"\r\n--b--", "<mediate/>"),
        # Parts without a form-data name are dropped; names are written as sent, values escaped as Woodstox does.
        (CT, form(b"X: y\r\n\r\nv", field(b"a b", b"<b>&amp;</b> > x")),
         '<mediate><a b charset="UTF-8">&lt;b>&amp;amp;&lt;/b> > x</a b></mediate>'),
        (CT, form(field(b"a", b">x]>y>\r\n\x7f")),
         '<mediate><a charset="UTF-8">&gt;x]&gt;y>&#xd;\n&#x7f;</a></mediate>'),
        (CT, form(file(b"f", b"a\tb<\"'", b"x")),
         '<mediate><f filename="a&#x9;b&lt;&quot;\'" content-type="text/plain">eA==</f></mediate>'),
        # RFC 2047 words in a parameter are decoded (commons-fileupload's MimeUtility).
        (CT, form(file(b"f", b"=?UTF-8?B?J2Ryb3A=?=", b"x")),
         "<mediate><f filename=\"'drop\" content-type=\"text/plain\">eA==</f></mediate>"),
        # A multipart/mixed part holds files under its name.
        (
            CT,
            form(field(b"files", b"--c\r\n" + file(b"x", b"one.txt", b"1") + b"\r\n--c--",
                       b"Content-Type: multipart/mixed; boundary=c\r\n")),
            '<mediate><files filename="one.txt" content-type="text/plain">MQ==</files></mediate>',
        ),
    ],
)  # fmt: skip
def test_a_body_is_built_as_apims_multipart_builder_builds_it(content_type, body, built):
    assert element(content_type, body) == built


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", form(field(b"a", b"1"))),  # no boundary
        ("multipart/form-data; boundary=" + "q" * 4092, b""),  # past the parser's buffer
        (CT, b"--b\r\n" + field(b"a", b"1") + b"\r\n"),  # a part never closed
        (CT, b"--b\nContent-Disposition: form-data; name=a\n\n1\n--b--\n"),  # LF-only headers never end
        (CT, b"--b\r\nX: " + b"y" * 10_240 + b"\r\n\r\n1\r\n--b--"),  # headers past 10,240 bytes
        (CT + "; charset=nope", form(field(b"a", b"1"))),  # a charset Java does not know, for a field
        (CT, form(field(b" ", b"1"))),  # a name of blanks: no element name
        (CT, form(field(b"a", b"x\x01y"))),  # a control character Woodstox cannot write
        (CT, form(file(b"f", b"a\x00b", b"x"))),  # a NUL in a file name
        (CT, form(field(b"files", b"", b"Content-Type: multipart/mixed\r\n"))),  # mixed without a boundary
    ],
)
def test_a_body_apims_builder_throws_on_fails(content_type, body):
    with pytest.raises(GatewayFailure):
        element(content_type, body)


def test_the_message_charset_is_found_as_axis2_finds_it():
    assert message_charset("multipart/form-data; boundary=b") == "UTF-8"
    assert message_charset('multipart/form-data; charset=" ISO-8859-1 " ; boundary=b') == "ISO-8859-1"
    assert message_charset("multipart/form-data; boundary=charset") == "multipart/form-data"  # no `=` after it


def test_the_regex_policy_searches_an_uploaded_file_in_base64_and_its_name_as_sent():
    upload = form(field(b"note", b"hello"), file(b"doc", b"notes.txt", b"it's select * from t"))
    assert not threats.found(as_searched(CT, upload))  # APIM lets the file through: its text is base64
    assert threats.found(upload.decode())  # as sent, it would not
    assert threats.found(as_searched(CT, form(file(b"doc", b"it's.txt", b"x"))))
    assert threats.found(as_searched(CT, form(field(b"q", b"1 or 'a'='a'"))))
    # A body the builder throws on fails the call on APIM: nothing to search, the call is refused.
    assert as_searched(CT, b"--b\r\n" + field(b"q", b"fine")) is None


UPLOADS = {
    "openapi": "3.0.1",
    "info": {"title": "uploads", "version": "1"},
    "paths": {
        "/uploads": {"post": {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["customer"], "properties": {"customer": {"type": "integer"}}}}}},
            "responses": {"200": {"description": "OK"}}}},
        "/notes": {"post": {"responses": {"200": {"description": "OK"}}}},
    },
}  # fmt: skip
NONE_FOUND = PREFIX + "A request body is required but none found., "


@pytest.mark.parametrize(
    ("body", "handed"),
    [
        (form(field(b"customer", b"alice"), file(b"doc", b"a.txt", b"x")), True),  # its content is never validated
        (b"no parts at all", True),  # <mediate/> is a body too
        (form(field(b"items[0]", b"pen")), False),  # not an XML name: Woodstox cannot read the element back
        (form(field(b"1st", b"pen")), False),
        (form(field(b"p:x", b"pen")), False),  # an unbound prefix
        (form(field(b"a", "\ufffe".encode())), False),  # written as &#xfffe;, which XML cannot hold
        (form(field(b"a", b"x\x01")), False),  # which Woodstox cannot write
        (b"--b\r\n" + field(b"customer", b"alice"), False),  # the builder throws: RelayUtils' AxisFault, logged
    ],
)
def test_schema_validation_hands_its_validator_a_multipart_body_where_apims_json_conversion_does(body, handed):
    assert converts(CT, body) is handed
    definition = Definition(UPLOADS)
    request = request_of("POST", "/uploads", {"Content-Type": CT}, body.decode("utf-8", "replace"), body)
    assert definition.detail(request) == (None if handed else NONE_FOUND)
    # Where no body is expected, the one APIM hands on is refused; one it cannot convert is none.
    notes = request_of("POST", "/notes", {"Content-Type": CT}, body.decode("utf-8", "replace"), body)
    refused = PREFIX + "No request body is expected but one was found., "
    assert definition.detail(notes) == (refused if handed else None)
