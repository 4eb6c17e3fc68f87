"""What APIM 4.5's gateway makes of a multipart/form-data request body: the text of the SOAP body's first element
(`<mediate>...</mediate>`) that carbon-apimgt's RegularExpressionProtector searches, as wso2-axis2's
MultipartFormDataBuilder builds it, run here to hold adapter/src/apim_adapter/axis2_multipart.py to it.

The jars are commons-fileupload, Axiom (axiom-api, axiom-impl), Woodstox 4 (woodstox-core-asl) and javax.activation
from Maven Central, fetched by `make setup` (scripts/axis2-multipart.sh, the versions versions.env pins: those
wso2-axis2 1.6.1-wso2v102 and carbon-apimgt's pom pin, on Maven Central's releases of them).
`harness/java/MultipartBuilderRendering.java` is compiled once per working directory and mirrors the few methods of
wso2-axis2 that are not on Maven Central (MultipartFormDataBuilder.java, BuilderUtil.java, DiskFileDataSource.java,
RequestContextImpl.java, MultipleEntryHashMap.java) around the real libraries.

A case is (Content-Type header, body). The corpus the parity test holds the adapter to lives here too, so that
`python -m harness.axis2_multipart` prints the oracle's rendering of every hand case (what the adapter must match).
"""

from __future__ import annotations

import base64
import random
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import java_oracle
from .helpers import ROOT

AXIS2_MULTIPART_LIB = ROOT / ".tools" / "axis2-multipart" / "lib"


@dataclass(frozen=True)
class Failure:
    """Where APIM's builder throws: the exception's class (simple name) and message, as the oracle reports them, and
    its innermost cause as "Class: message" ("" without one)."""

    kind: str
    message: str
    cause: str = ""


def available() -> bool:
    return java_oracle.available(AXIS2_MULTIPART_LIB, "commons-fileupload-*.jar")


def _text(units: str) -> str:
    # UTF-16 units, four hex digits each: a lone surrogate comes back as one, as Java holds it.
    raw = b"".join(int(unit, 16).to_bytes(2, "little") for unit in re.findall("....", units))
    return raw.decode("utf-16-le", "surrogatepass")


def renderings(cases: list[tuple[str, bytes]], workdir: Path) -> list[str | Failure]:
    """For each (Content-Type, body): `getFirstElement().toString()` of the envelope APIM's builder makes of it, or
    the Failure where building throws (which fails the request on APIM's gateway)."""
    lines = [f"{base64.b64encode(ct.encode()).decode()} {base64.b64encode(body).decode()}" for ct, body in cases]
    out = java_oracle.run("MultipartBuilderRendering", AXIS2_MULTIPART_LIB, lines, workdir, timeout=300,
                          java=java_oracle.apim_jvm())  # fmt: skip
    assert len(out) == len(cases), out[-5:]
    answers: list[str | Failure] = []
    for line in out:
        if line.startswith("OK "):
            answers.append(_text(line[3:]))
        else:
            kind, _, units = line[5:].partition(": ")
            message, _, cause = units.partition(" ")
            answers.append(Failure(kind, _text(message), _text(cause)))
    return answers


def conversions(cases: list[tuple[str, bytes]], workdir: Path) -> list[bool]:
    """For each (Content-Type, body): whether Schema Validation's getMessageContent hands APIM's validator a body
    (the builder builds it, Axiom writes it and Woodstox reads it back, as JsonUtil.convertOMElementToJson does)."""
    lines = [
        f"CONVERTS {base64.b64encode(ct.encode()).decode()} {base64.b64encode(body).decode()}" for ct, body in cases
    ]
    out = java_oracle.run("MultipartBuilderRendering", AXIS2_MULTIPART_LIB, lines, workdir, timeout=300,
                          java=java_oracle.apim_jvm())  # fmt: skip
    assert len(out) == len(cases), out[-5:]
    return [line == "OK" for line in out]


# ---- the corpus ----

CT = "multipart/form-data; boundary=b"


def disposition(name: bytes | None = b"a", filename: bytes | None = None, kind: bytes = b"form-data") -> bytes:
    header = b"Content-Disposition: " + kind
    if name is not None:
        header += b'; name="' + name + b'"'
    if filename is not None:
        header += b'; filename="' + filename + b'"'
    return header


def part(content: bytes, *headers: bytes, eol: bytes = b"\r\n") -> bytes:
    """One body part: its header lines, the empty line, its content."""
    return b"".join(header + eol for header in headers) + eol + content


def field(name: bytes, value: bytes, *extra: bytes) -> bytes:
    return part(value, disposition(name), *extra)


def file(name: bytes, filename: bytes, content: bytes, content_type: bytes | None = b"text/plain") -> bytes:
    headers = [disposition(name, filename)]
    if content_type is not None:
        headers.append(b"Content-Type: " + content_type)
    return part(content, *headers)


def form(*parts: bytes, boundary: bytes = b"b", eol: bytes = b"\r\n", preamble: bytes = b"", epilogue: bytes = b"",
         closed: bool = True) -> bytes:  # fmt: skip
    """A multipart body: the parts between delimiters, then the close delimiter (unless not `closed`)."""
    delimiter = b"--" + boundary
    body = preamble + (eol if preamble else b"")
    body += b"".join(delimiter + eol + p + eol for p in parts)
    return body + (delimiter + b"--" + eol + epilogue if closed else b"")


def nested(name: bytes, *parts: bytes, boundary: bytes = b"c") -> bytes:
    """A form-data part that is a multipart/mixed of files (RFC 1867's several files of one field)."""
    return part(
        form(*parts, boundary=boundary), disposition(name), b"Content-Type: multipart/mixed; boundary=" + boundary
    )


def attachment(filename: bytes, content: bytes, content_type: bytes | None = b"text/plain") -> bytes:
    headers = [b'Content-Disposition: attachment; filename="' + filename + b'"']
    if content_type is not None:
        headers.append(b"Content-Type: " + content_type)
    return part(content, *headers)


BINARY = bytes(range(256))
LONG_BOUNDARY = b"x" * 4091

HAND_CASES: list[tuple[str, str, bytes]] = [
    # (what, Content-Type, body)
    ("one field", CT, form(field(b"a", b"1"))),
    ("two fields", CT, form(field(b"a", b"1"), field(b"b", b"2"))),
    ("a name twice, grouped first-seen", CT, form(field(b"a", b"1"), field(b"b", b"2"), field(b"a", b"3"))),
    ("fields and files of one name", CT, form(field(b"a", b"1"), file(b"a", b"f.txt", b"x"), field(b"a", b"2"))),
    ("empty value", CT, form(field(b"a", b""))),
    ("file with Content-Type", CT, form(file(b"f", b"f.txt", b"hello"))),
    ("file without Content-Type", CT, form(file(b"f", b"f.bin", b"hello", None))),
    ("file of 256 bytes (base64 line breaks?)", CT, form(file(b"f", b"b.bin", BINARY, b"application/octet-stream"))),
    ("empty file", CT, form(file(b"f", b"e.txt", b""))),
    ("file over the 10 KiB threshold (on disk)", CT, form(file(b"f", b"big.txt", b"abc" * 4000))),
    ("field over the 10 KiB threshold", CT, form(field(b"a", b"xyz" * 4000))),
    ('filename=""', CT, form(file(b"f", b"", b"x"))),
    ("filename= and filename without a value", CT,
     form(part(b"x", b"Content-Disposition: form-data; name=f; filename="),
          part(b"y", b"Content-Disposition: form-data; name=g; filename"))),
    ("filename with an apostrophe", CT, form(file(b"f", b"it's.txt", b"x"))),
    ("filename with spaces", CT, form(file(b"f", b"  my file .txt  ", b"x"))),
    ("filename non-ASCII (UTF-8 header)", CT, form(file(b"f", "r\u00e9sum\u00e9 \u6587.pdf".encode(), b"x"))),
    ("filename non-ASCII, message charset iso-8859-1", CT + "; charset=iso-8859-1",
     form(file(b"f", "r\u00e9sum\u00e9.pdf".encode(), b"x"))),
    ("filename with a path", CT, form(file(b"f", b"C:\\dir\\f.txt", b"x"))),
    ("part charset iso-8859-1", CT, form(field(b"a", b"caf\xe9", b"Content-Type: text/plain; charset=iso-8859-1"))),
    ("part charset utf-8", CT, form(field(b"a", b"caf\xc3\xa9", b"Content-Type: text/plain; charset=utf-8"))),
    ("part charset unknown", CT, form(field(b"a", b"x", b"Content-Type: text/plain; charset=x-unknown"))),
    ("part charset empty", CT, form(field(b"a", b"x", b"Content-Type: text/plain; charset="))),
    ("part charset quoted, upper-case name", CT,
     form(field(b"a", b"\xe9", b'Content-Type: text/plain; CHARSET="ISO-8859-1"'))),
    ("part Content-Type without charset", CT, form(field(b"a", b"{}", b"Content-Type: application/json"))),
    ("message charset iso-8859-1", CT + "; charset=iso-8859-1", form(field(b"a", b"caf\xe9"))),
    ("message charset first, quoted", 'multipart/form-data; charset="windows-1252"; boundary=b',
     form(field(b"a", b"\x80"))),
    ("message charset unknown", CT + "; charset=foo", form(field(b"a", b"x"))),
    ("message charset unknown, only files", CT + "; charset=foo", form(file(b"f", "\u00e9.txt".encode(), b"x"))),
    ("message Charset= (upper case: not seen)", CT + "; Charset=iso-8859-1", form(field(b"a", b"caf\xe9"))),
    ("message charset utf-16", CT + "; charset=utf-16", form(field(b"a", b"\x00a"))),
    ("message charset alias latin1", CT + "; charset=latin1", form(field(b"a", b"caf\xe9"))),
    ("message charset us-ascii", CT + "; charset=us-ascii", form(field(b"a", b"caf\xe9"))),
    ("message charset with spaces and quotes", CT + ';  charset = " ISO-8859-1 " ', form(field(b"a", b"\xe9"))),
    ("message charset empty", CT + "; charset=", form(field(b"a", b"1"))),
    ("message charset=utf-8 then more parameters", "multipart/form-data; charset=utf-8;boundary=b",
     form(field(b"a", b"1"))),
    ('"charset" inside the boundary', "multipart/form-data; boundary=charset",
     form(field(b"a", b"1"), boundary=b"charset")),
    ('"charset" without "="', CT + "; charset", form(field(b"a", b"1"))),
    ("quoted boundary", 'multipart/form-data; boundary="b c"', form(field(b"a", b"1"), boundary=b"b c")),
    ("boundary parameter in odd case", "multipart/form-data; BoUnDaRy=b", form(field(b"a", b"1"))),
    ("parameters separated by ','", "multipart/form-data, boundary=b", form(field(b"a", b"1"))),
    ("media type in upper case", "Multipart/Form-Data; boundary=b", form(field(b"a", b"1"))),
    ("missing boundary", "multipart/form-data", form(field(b"a", b"1"))),
    ("empty boundary", "multipart/form-data; boundary=", form(field(b"a", b"1"), boundary=b"")),
    ("body without a boundary", CT, b"just text"),
    ("empty body", CT, b""),
    ("close delimiter alone", CT, b"--b--\r\n"),
    ("close delimiter alone, no CRLF", CT, b"--b--"),
    ("preamble and epilogue", CT, form(field(b"a", b"1"), preamble=b"pre\r\namble", epilogue=b"epi\r\n--b\r\nlogue")),
    ("LF-only line endings", CT, form(part(b"1", disposition(b"a"), eol=b"\n"), eol=b"\n")),
    ("LF-only headers inside CRLF delimiters", CT, form(part(b"1", disposition(b"a"), eol=b"\n"))),
    ("transport padding after a delimiter", CT, b"--b  \r\n" + field(b"a", b"1") + b"\r\n--b--\r\n"),
    ("part without Content-Disposition", CT, form(part(b"1", b"Content-Type: text/plain"), field(b"b", b"2"))),
    ("attachment part", CT, form(attachment(b"f.txt", b"x"), field(b"b", b"2"))),
    ("form-data without a name", CT, form(part(b"1", b"Content-Disposition: form-data"), field(b"b", b"2"))),
    ("form-data file without a name", CT, form(part(b"1", disposition(None, b"f.txt")))),
    ("header names and values in odd case, name unquoted", CT,
     form(part(b"1", b"CONTENT-DISPOSITION: FORM-DATA; NAME=a b"))),
    ("header continuation line", CT, form(part(b"1", b"Content-Disposition: form-data;", b'\tname="a"'))),
    ("header without a colon", CT, form(part(b"1", b"junk", disposition(b"a")))),
    ("headers over 10240 bytes", CT, form(part(b"1", disposition(b"a"), b"X-Pad: " + b"p" * 10240))),
    ("headers just under 10240 bytes", CT, form(part(b"1", disposition(b"a"), b"X-Pad: " + b"p" * 10150))),
    ("part never closed", CT, form(field(b"a", b"1"), closed=False)),
    ("part cut in its headers", CT, b"--b\r\nContent-Disposition: form-data; na"),
    ("nested multipart/mixed of files", CT,
     form(nested(b"files", file(b"ignored", b"one.txt", b"1"), file(b"x", b"two.bin", b"\x00\x01", None)))),
    ("nested multipart/mixed, a part without filename", CT,
     form(nested(b"files", field(b"x", b"skipped"), file(b"x", b"one.txt", b"1")), field(b"b", b"2"))),
    ("field name with a space", CT, form(field(b"a b", b"1"))),
    ("field name <", CT, form(field(b"<", b"1"))),
    ("field name &", CT, form(field(b"&", b"1"))),
    ("field name with an apostrophe", CT, form(field(b"it's", b"1"))),
    ("empty field name", CT, form(field(b"", b"1"))),
    ("field name with a prefix", CT, form(field(b"p:x", b"1"))),
    ("field name starting with a digit", CT, form(field(b"1a", b"1"))),
    ("field name non-ASCII", CT, form(field("\u00e9t\u00e9".encode(), b"1"))),
    ("text value with < & >", CT, form(field(b"a", b"<b>&amp;</b> > x"))),
    ("text value with ]]>", CT, form(field(b"a", b"x]]>y"))),
    ("text value starting with >, and ]> inside", CT, form(field(b"a", b">x]>y>"))),
    ("text value with CR LF TAB", CT, form(field(b"a", b"1\r2\n3\r\n4\t5"))),
    ("text value with quotes", CT, form(field(b"a", b"\"double\" 'single'"))),
    ("text value with control characters", CT, form(field(b"a", b"\x01\x08\x0b\x0c\x1f\x7f\xc2\x85"))),
    ("text value with U+0001", CT, form(field(b"a", b"x\x01y"))),
    ("text value with U+001F", CT, form(field(b"a", b"x\x1fy"))),
    ("text value with NUL", CT, form(field(b"a", b"x\x00y"))),
    ("text value with DEL, U+0080, U+0085, U+009F", CT, form(field(b"a", b"\x7f\xc2\x80\xc2\x85\xc2\x9f"))),
    ("text value with U+FFFE, U+2028 and an emoji", CT, form(field(b"a", "\ufffe\u2028\U0001f600".encode()))),
    ("text value with U+FFFF and U+FFFD", CT, form(field(b"a", "\uffff\ufffd".encode()))),
    ("text value with a lone surrogate (UTF-16BE part)", CT,
     form(field(b"a", b"\x00a\xd8\x00\x00b", b"Content-Type: text/plain; charset=UTF-16BE"))),
    ("text value of ISO-8859-1 C1 controls", CT + "; charset=iso-8859-1", form(field(b"a", b"\x80\x85\x9f\xa0"))),
    ("text value with an encoded surrogate", CT, form(field(b"a", b"\xed\xa0\x80"))),
    ("binary bytes in a field (invalid UTF-8)", CT, form(field(b"a", b"\xff\xfe\xc3(\x80"))),
    ("filename with a quote", CT, form(part(b"x", b'Content-Disposition: form-data; name="f"; filename="a\\"b"'))),
    ("filename with < & >", CT, form(file(b"f", b"<a&b>.txt", b"x"))),
    ("filename with TAB", CT, form(file(b"f", b"a\tb", b"x"))),
    ("filename with a bare LF", CT, form(file(b"f", b"a\nb", b"x"))),
    ("filename with a bare CR", CT, form(file(b"f", b"a\rb", b"x"))),
    ("filename with U+0001", CT, form(file(b"f", b"a\x01b", b"x"))),
    ("filename with DEL, U+0085, U+FFFE, U+2028", CT, form(file(b"f", "\x7f\x85\ufffe\u2028".encode(), b"x"))),
    ("filename starting with >, with ]]> and '", CT, form(file(b"f", b">]]>'", b"x"))),
    ("field name with U+0001", CT, form(field(b"a\x01b", b"1"))),
    ("field name with > and =", CT, form(field(b"a>b=c", b"1"))),
    ('name=" " (blank after trim)', CT, form(field(b" ", b"1"))),
    ("name= without a value", CT, form(part(b"1", b"Content-Disposition: form-data; name="))),
    ("name unquoted, then a filename", CT, form(part(b"1", b"Content-Disposition: form-data; name=a; filename=f.txt"))),
    ("two Content-Type headers on a file", CT,
     form(part(b"x", disposition(b"f", b"f.txt"), b"Content-Type: image/png", b"Content-Type: text/plain"))),
    ("content-type with quote < & TAB", CT, form(file(b"f", b"f", b"x", b'text/x; q="a<b&c"\td'))),
    ("field content-type with quote < &", CT, form(field(b"a", b"1", b'Content-Type: text/x; q="<&>"'))),
    ("NUL in a filename", CT, form(file(b"f", b"a\x00b.txt", b"x"))),
    ("NUL in a field name", CT, form(field(b"a\x00b", b"1"))),
    ("RFC 2231 filename*", CT, form(part(b"x", b"Content-Disposition: form-data; name=f; filename*=UTF-8''%C3%A9"))),
    ("RFC 2047 filename", CT, form(file(b"f", b"=?UTF-8?B?w6k=?=.txt", b"x"))),
    ("RFC 2047 name, whole", CT, form(field(b"=?UTF-8?Q?=C3=A9?=", b"1"))),
    ("RFC 2047 unknown charset", CT, form(field(b"=?x-nope?B?w6k=?=", b"1"))),
    ("RFC 2047 words and spaces", CT, form(file(b"f", b"a =?UTF-8?Q?=C3=A9_x?= =?UTF-8?B?w6k=?= b", b"x"))),
    ("RFC 2047 malformed word", CT, form(file(b"f", b"=?UTF-8?B?w6k", b"x"))),
    ("boundary of 4091 bytes", "multipart/form-data; boundary=" + LONG_BOUNDARY.decode(),
     form(field(b"a", b"1"), boundary=LONG_BOUNDARY)),
    ("boundary of 4092 bytes", "multipart/form-data; boundary=" + LONG_BOUNDARY.decode() + "x",
     form(field(b"a", b"1"), boundary=LONG_BOUNDARY + b"x")),
    ("two Content-Disposition headers", CT, form(part(b"1", disposition(b"a"), disposition(b"b")))),
    ("field with multipart/mixed but no boundary", CT,
     form(part(b"x", disposition(b"a"), b"Content-Type: multipart/mixed"), field(b"b", b"2"))),
]  # fmt: skip


def hand_cases() -> list[tuple[str, bytes]]:
    return [(content_type, body) for _, content_type, body in HAND_CASES]


# The random corpus's ingredients; the benign ones repeated so that about two bodies in three build.
NAMES = [b"a", b"b", b"c", b"a", b"b", b"c", b"a b", b"<", b"&x", b"it's", b"", b"p:x", b"1", "\u00e9".encode(),
         b"a\x00", b"=?UTF-8?Q?n?="]  # fmt: skip
VALUES = [b"", b"1", b"v", b"text", b"<&>", b"]]>", b">", b"x\r\ny", b"\r", b"\t", b"'\"", b"\x7f\xc2\x85", b"\xff",
          b"\x01", "\u00e9\U0001f600".encode(), b"--b", b"\r\n--b", b"\r\n--bx"]  # fmt: skip
FILENAMES = [b"f.txt", b"f.txt", b"", b"it's", b"a b", "\u00e9".encode(), b'<"&>', b"a\tb", b"a\x00",
             b"=?UTF-8?B?w6k=?="]  # fmt: skip
TYPES = [None, None, None, b"text/plain", b"application/octet-stream", b"text/plain; charset=iso-8859-1",
         b"text/plain; charset=UTF-16BE", b"text/plain; charset=nope", b'a/b; x="<&>"'] * 2 + [None] * 6  # fmt: skip


def _random_part(rng: random.Random) -> bytes:
    kind = rng.randrange(8)
    name = rng.choice(NAMES)
    if kind < 3:
        content_type = rng.choice(TYPES)
        extra = [b"Content-Type: " + content_type] if content_type is not None else []
        return field(name, rng.choice(VALUES), *extra)
    if kind < 5:
        return file(
            name, rng.choice(FILENAMES), rng.choice(VALUES) + rng.randbytes(rng.randrange(4)), rng.choice(TYPES)
        )
    if kind == 5:
        return nested(name, *(file(b"x", rng.choice(FILENAMES), rng.choice(VALUES)) for _ in range(rng.randrange(3))))
    if kind == 6:
        return part(rng.choice(VALUES), rng.choice([b"Content-Type: text/plain", disposition(None), b"X: y"]))
    return part(rng.choice(VALUES), disposition(name), rng.choice([b"\tcontinued", b"X-A: " + b"p" * 300, b"junk"]))


def random_cases(count: int = 500, seed: int = 20260412) -> list[tuple[str, bytes]]:
    """Bodies built from the hand cases' ingredients: 1-5 parts, outer charsets, line endings, preambles, epilogues,
    cuts."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        parts = [_random_part(rng) for _ in range(rng.randrange(1, 6))]
        charset = rng.choice(["", "", "", "", "", "; charset=iso-8859-1", "; charset=utf-8", "; charset=nope"])
        body = form(*parts, eol=b"\n" if rng.random() < 0.05 else b"\r\n", preamble=rng.choice([b"", b"", b"pre"]),
                    epilogue=rng.choice([b"", b"epi"]), closed=rng.random() > 0.05)  # fmt: skip
        if rng.random() < 0.05:
            body = body[: rng.randrange(len(body) + 1)]
        cases.append((CT + charset, body))
    return cases


def _near_delimiters(rng: random.Random, delimiter: bytes) -> bytes:
    """Up to 30 pieces: runs of `x`, line breaks, `--`, and beginnings of the delimiter (never all of it)."""
    pieces = [b"x" * rng.randrange(1, 3000), b"\r\n", b"\r", b"--", delimiter[: rng.randrange(len(delimiter))]]
    return b"".join(rng.choice(pieces) for _ in range(rng.randrange(30)))


def large_cases(count: int = 80, seed: int = 20261206) -> list[tuple[str, bytes]]:
    """Bodies past MultipartStream's 4,096-byte buffer, with boundaries of 1 to 2,000 bytes, whose parts are full of
    the delimiter's beginnings (CR LF `--` and part of the boundary): where a part ends must not depend on where
    the Java parser's buffer is cut."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        boundary = rng.choice([b"b", b"0123456789", b"-" * 38 + b"WebKitFormBoundary7MA4YWxkTrZu0gW", b"q" * 2000])
        delimiter = b"\r\n--" + boundary
        parts = []
        for _ in range(rng.randrange(1, 5)):
            content = _near_delimiters(rng, delimiter)
            parts.append(field(rng.choice([b"a", b"b"]), content) if rng.random() < 0.5 else file(b"f", b"f", content))
        cases.append((f"multipart/form-data; boundary={boundary.decode()}", form(*parts, boundary=boundary)))
    return cases


def main() -> int:
    """Prints the oracle's rendering of every hand case: what it is, its Content-Type and body, and the answer."""
    if not available():
        print("needs javac and .tools/axis2-multipart (make setup)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as workdir:
        answers = renderings(hand_cases(), Path(workdir))
    for number, ((what, content_type, body), answer) in enumerate(zip(HAND_CASES, answers, strict=True), 1):
        shown = body if len(body) <= 300 else body[:150] + b"...(%d bytes)..." % len(body) + body[-60:]
        shown_type = content_type if len(content_type) <= 120 else content_type[:60] + "..."
        print(f"#{number} {what}\n  Content-Type: {shown_type!r}\n  body: {shown!r}")
        if isinstance(answer, Failure):
            print(f"  FAIL {answer.kind}: {answer.message!r}" + (f" (cause {answer.cause!r})" if answer.cause else ""))
        else:
            text = answer if len(answer) <= 600 else answer[:300] + f"...({len(answer)} chars)..." + answer[-120:]
            print(f"  OK {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
