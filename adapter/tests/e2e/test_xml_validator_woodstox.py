"""The XML Validator's reading of a body held to Woodstox's own (harness/woodstox.py): for every body of a corpus of
edge cases and of generated documents, xml_protector refuses what Woodstox, configured as APIM's XMLAnalyzer
configures it, refuses, with Woodstox's own message (APIM's description after "XML Validation Failed: due to ")."""

from __future__ import annotations

import random

import pytest

from apim_adapter import xml_protector
from harness import woodstox

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not woodstox.available(), reason="needs javac and .tools/woodstox (make setup)"),
]


def attrs(count: int, prefix: bytes = b"a") -> bytes:
    return b" ".join(prefix + b"%d='1'" % i for i in range(count))


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def children(count: int) -> bytes:
    return b"<r>" + b"<c/>" * count + b"</r>"


LIMITS = [
    nested(100), nested(101), nested(1000), children(99), children(100), children(101),
    b"<r><a>" + b"<c/>" * 50 + b"</a><b>" + b"<c/>" * 48 + b"</b></r>",  # 100 elements in all
    b"<r><a>" + b"<c/>" * 50 + b"</a><b>" + b"<c/>" * 49 + b"</b></r>",  # 101
    b"<r " + attrs(90) + b"/>", b"<r " + attrs(91) + b"/>", b"<r " + attrs(100) + b"/>", b"<r " + attrs(101) + b"/>",
    b"<r " + attrs(135) + b"/>", b"<r " + attrs(136) + b"/>", b"<r " + attrs(1000) + b"/>",
    b"<r " + b" ".join(b"xmlns:p%d='u'" % i for i in range(10)) + b" " + attrs(91) + b"/>",
    b"<r " + b" ".join(b"xmlns:p%d='u'" % i for i in range(9)) + b" " + attrs(91) + b"/>",
    b"<r " + attrs(91) + b" " + b" ".join(b"xmlns:p%d='u'" % i for i in range(10)) + b"/>",
    b"<r " + b" ".join(b"xmlns:p%d='u'" % i for i in range(101)) + b"/>",
    b"<r><a " + attrs(95) + b"/><b " + attrs(120) + b"/></r>",  # the array grown by the first element is kept
    b"<r xmlns:p='u' " + attrs(150, b"p:a") + b"/>",
    b"<r a='" + b"x" * 100 + b"'/>", b"<r a='" + b"x" * 101 + b"'/>", b"<r a='" + b"&amp;" * 100 + b"'/>",
    b"<r a='" + b"&amp;" * 101 + b"'/>", b"<r a='" + b"\xc3\xa9" * 101 + b"'/>",
    b"<r a='" + b"\xf0\x9f\x98\x80" * 50 + b"'/>", b"<r a='" + b"\xf0\x9f\x98\x80" * 51 + b"'/>",
    b"<r a='" + b"x" * 99 + b"&#x1F600;'/>", b"<r a='" + b"x" * 98 + b"&#x1F600;'/>",
    b"<r a='" + b"x" * 99 + b"\r\n'/>", b"<r a='" + b"x" * 100 + b"\r\n'/>", b"<r xmlns='" + b"u" * 101 + b"'/>",
    b"<r a='" + b"x" * 101 + b"<'/>", b"<r a='" + b"x" * 50 + b"<'/>", b"<r a='" + b"x" * 101,
    nested(100)[:300] + b"<b " + attrs(200) + b"/>",  # the 101st element refused before its attributes are read
    b"<r a='" + b"x" * 101 + b"' a='1'/>",
]  # fmt: skip

EDGES = [
    b"<a/>", b"", b"   ", b"<a>", b"<a", b"<", b"<a><b></a>", b"<a>x</A>", b"\n\n<a>\n\n<b></c></a>", b"<a/><b/>",
    b"<a/>junk", b"<a/> \n ", b"<a></a >", b"< a/>", b"<a/ >", b"<1a/>", b"<a b/>", b"<a b='1'c='2'/>",
    b"<a\xc2\xa0/>", b"<\xc3\xa9/>", b"<a>\r\n</a>", b"<a>\r</a>", b"<a>\t</a>\x00", b"<a>\x01</a>", b"<a>\x0b</a>",
    b"\x01<a/>", b"<a/>\x01", b"<a>]]></a>", b"<a>]]</a>", b"<a>x]]>y</a>", b"<a>&amp;&lt;&gt;&quot;&apos;</a>",
    b"<a>&amp</a>", b"<a>&amp;</a>", b"<a>&e;</a>", b"<a>x&e;</a>", b"<a>&;</a>", b"<a>& </a>", b"<a>&a:b;</a>",
    b"<a>&:b;</a>", b"<a>&e</a>", b"<a>&e", b"<a>x&e", b"<a>&#65;&#x42;</a>", b"<a>&#0;</a>", b"<a>&#;</a>",
    b"<a>&#x;</a>", b"<a>x&#;</a>", b"<a>&#xD800;</a>", b"<a>&#x10FFFF;</a>", b"<a>&#x110000;</a>",
    b"<a>x&#x110000;</a>", b"<a>&#1;</a>", b"<a>x&#1;</a>", b"<a>&#xFFFE;</a>", b"<a>&#xg;</a>", b"<a>x&#xg;</a>",
    b"<a>&#1a;</a>", b"<a>x&#1a;</a>", b"<a>&#9;&#10;&#13;</a>", b"<a b='&#0;'/>", b"<a b='&e;'/>",
    b"<a b='&amp;&lt;'/>", b"<a b='&#x1F600;'/>", b"<a b='\x01'/>", b"<a b='\t\n\r'/>", b"<a b='<'/>",
    b"<a b='>'/>", b"<a b=1/>", b"<a b = '1' />", b"<a b='1'/ >", b"<a b='1'", b"<a x='1' x='2'/>",
    b"<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>", b"<a xmlns:p='u' p:x='1' x='2'/>", b"<a p:x='1'/>",
    b"<p:a xmlns:p='u'/>", b"<p:a/>", b"<p:a xmlns:p='u'></p:a>", b"<p:a xmlns:p='u'></p:b>",
    b"<p:a xmlns:p='u'></q:a>", b"<p:a xmlns:p='u'></a>", b"<p:a xmlns:p='u'></p:ab>", b"<a></ab>", b"<ab></a>",
    b"<a></a:b>", b"<a></>", b"<a></ a>", b"<a:b:c/>", b"<:a/>", b"<a:/>", b"<a xmlns:p=''/>",
    b"<?xml version='1.1'?><a xmlns:p=''/>", b"<?xml version='1.1'?><p:a xmlns:p=''/>",
    b"<a xmlns:xml='http://www.w3.org/XML/1998/namespace'/>", b"<a xmlns:xml='u'/>", b"<a xmlns:xmlns='x'/>",
    b"<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>", b"<a xmlns='http://www.w3.org/2000/xmlns/'/>",
    b"<a xmlns:p='u' xmlns:p='v'/>", b"<a xmlns='u' xmlns='v'/>", b"<a xml:lang='en'/>", b"<xml:a/>",
    b"<a xmlns='u'><b xmlns=''/></a>", b"<a xmlns:p='u'><p:b/></a><!-- -->", b"<a><p:b xmlns:p='u'/><p:c/></a>",
    b"<a><![CDATA[<x>]]><!-- c --><?pi d?></a>", b"<a><![CDATA[x]]]></a>", b"<a><![CDATA[x\x01]]></a>",
    b"<a><![CDATA[x\r\n\x01]]></a>", b"<a><![CDATA[x", b"<a><![CDATA[x]", b"<a><![CDATA[x]]", b"<a><![CDAT[x]]></a>",
    b"<a><![CDATA x]]></a>", b"<a><![cdata[x]]></a>", b"<a><!-- a -- b --></a>", b"<a><!-- a \x01 --></a>",
    b"<a><!-- a\r\n\x01 --></a>", b"<a><!-- a\r\n -- --></a>", b"<a><!----></a>", b"<a><!---></a>",
    b"<a><!-- x", b"<a><!-- x -", b"<a><!-- x --", b"<a><!- x --></a>", b"<a><!x></a>", b"<a><!DOCTYPE a></a>",
    b"<a><?xml x?></a>", b"<a><?XmL x?></a>", b"<a><?xml-stylesheet x?></a>", b"<a><? x?></a>", b"<a><?pi?></a>",
    b"<a><?pi x\x01?></a>", b"<a><?pi x\r\n\x01?></a>", b"<a><?pi ??></a>", b"<a><?pi ?x?></a>", b"<a><?pi",
    b"<a><?pi x", b"<a><?pi x?", b"<a><?pi:x y?></a>", b"<a><?pix?y?></a>", b"<a><?1?></a>", b"<?pi?><a/>",
    b"<!-- c --><a/>", b"<!-- c -->", b"<!- c --><a/>", b"<![CDATA[x]]><a/>", b"<!x><a/>", b"</a>", b"<a/></a>",
    b"<!DOCTYPE r><r/>", b"<!DOCTYPE r><!DOCTYPE r><r/>", b"<r/><!DOCTYPE r>", b"<!DOCTYPE r [<!ENTITY e 'x'>]><r/>",
    b"<!DOCTYPE r [<!ENTITY e 'x'>]><r>&e;</r>", b"<!DOCTYPE r [<!ENTITY e 'x'>]><r a='&e;'/>",
    b"<!DOCTYPE r [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><r>&e;</r>",
    b"<!DOCTYPE r SYSTEM 'http://127.0.0.1:1/x.dtd'><r/>", b"<!DOCTYPE r SYSTEM 'http://127.0.0.1:1/x.dtd'><r>&e;</r>",
    b"<!DOCTYPE r PUBLIC '-//A//B' 'x.dtd'><r/>", b"<!DOCTYPE r PUBLIC '-//A//B\t' 'x.dtd'><r/>",
    b"<!DOCTYPE r PUBLIC '-//A//B'><r/>", b"<!DOCTYPE r PUBLIC'x' 'y'><r/>", b"<!DOCTYPE r SYSTEM><r/>",
    b"<!DOCTYPE r FOO><r/>", b"<!DOCTYPE r PUBLICX 'a' 'b'><r/>", b"<!DOCTYPE r 'x'><r/>", b"<!DOCTYPE><r/>",
    b"<!DOCTYPEr><r/>", b"<!DOCTYPO r><r/>", b"<!DOCTYPE p:r><r/>", b"<!DOCTYPE r x><r/>", b"<!DOCTYPE r",
    b"<!DOCTYPE r [<!ENTITY % p 'x'> %p;]><r/>", b"<!DOCTYPE r [<!ELEMENT r ANY> junk]><r/>",
    b"<!DOCTYPE r [<!ENTITY e 'x' junk>]><r/>", b"<!DOCTYPE r [ <!-- ] --> ]><r/>",
    b"<!DOCTYPE r [<!-- a - b -->]><r/>", b"<!DOCTYPE r [<!-- a -- b -->]><r/>", b"<!DOCTYPE r [<?pi ] ?>]><r/>",
    b"<!DOCTYPE r [<!ATTLIST r a CDATA 'd>'>]><r/>",
    b"<!DOCTYPE r [<!ENTITY e '\x01'>]><r/>", b"<!DOCTYPE r [\x01]><r/>", b"<!DOCTYPE r [<![INCLUDE[ ]]>]><r/>",
    b"<!DOCTYPE r [<x>]><r/>", b"<!DOCTYPE r [", b"<!DOCTYPE r [<!ENTITY e 'x", b"<!DOCTYPE r []><r/>",
    b"<!DOCTYPE r [] ><r/>", b"<!DOCTYPE r []x><r/>", b"<!DOCTYPE r [%p;]><r/>", b"<!DOCTYPE r [%:p;]><r/>",
    b"<!DOCTYPE r [%p]><r/>", b"<!DOCTYPE r [<%p;!ELEMENT r ANY>]><r/>",
    b"<?xml version='1.0'?><a/>", b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9</a>",
    b"<?xml version='1.0' encoding='foo'?><a/>", b"<?xml version='1.0' encoding=''?><a/>", b"<?xml version='2.0'?><a/>",
    b"<?xml version=''?><a/>", b"<?xml version='1.0' standalone='maybe'?><a/>",
    b"<?xml version='1.0' standalone='yes'?><a>&e;</a>", b"<?xml version='1.0' standalone='no'?><a/>",
    b"<?xml version='1.0'?>\n<a/>\n", b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>", b"<?xml?><a/>",
    b"<?xml ?><a/>", b"<?xml encoding='x'?><a/>", b"<?xml version='1.0' encoding='x' standalone='no' ?><a/>",
    b"<?xml version='1.0'encoding='x'?><a/>", b"<?xml version='1.0' ?><a/>", b"<?xml version='1.0'?",
    b"<?xml version='1.0'? ><a/>", b"<?xml version='1.0' foo='x'?><a/>", b"<?xml version = '1.0' ?><a/>",
    b"<?xml version='1.0", b"<?xml version='1.1'?><a>&#1;</a>", b"<?xml version='1.1'?><a>\x01</a>",
    b"<?xml version='1.1'?><a>\xc2\x85</a>", b"<?xml version='1.1'?><\xcd\xb0/>", b"<\xcd\xb0/>",
    b"  <?xml version='1.0'?><a/>", b"\n<?xml version='1.0'?><a/>", b"<?xml version='1.0'?><?xml version='1.0'?><a/>",
    b"<?xml version='" + b"1" * 70 + b"'?><a/>", b"<?xml version='1.0' encoding='" + b"u" * 70 + b"'?><a/>",
    b"\xef\xbb\xbf<a/>", b"\xef\xbb\xbf<a></a>", b"\xef\xbb\xbf<?xml version='1.0'?><a/>",
    b"\xef\xbb\xbf\xef\xbb\xbf<a></a>",
    b"\xc3\xaf<a></a>", b"<a>\xff</a>", b"<a>\xed\xa0\x80</a>", b"<a>\xef\xbf\xbe</a>", b"<a b='\xff'/>",
    b"<a>\xf0\x9f\x98\x80</a>", b"<\xf0\x90\x80\x80/>", b"<a\xf0\x90\x80\x80/>", b"<a>\xc3</a>",
    b"\xff\xfe<\x00a\x00/\x00>\x00", b"<a>\x00</a>", b"<a\x00/>", b"<a/>\x00", b"\x00",
    b"<a>\n<b>\r\n<c>\r</b></a>", b"<a>\r\n\r\n&e;</a>", b"<a\n b='1'\n c='\n'\n>\n</a\n>", b"<a\rb='1'/>",
    b"<a>" + b"x" * 5000 + b"&e;</a>", b"<a>" + b"x" * 5000 + b"</b>",
    b"<!DOCTYPE r [" + b"".join(b"<!ENTITY e%d '&e%d;&e%d;'>" % (i, i - 1, i - 1) for i in range(1, 40))
    + b"]><r>&e39;</r>",  # billion laughs
    b"<a>" * 200_000,
    b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soapenv/envelope/'><soapenv:Body><m/>"
    b"</soapenv:Body></soapenv:Envelope>",
]  # fmt: skip


def generated(rng: random.Random, depth: int = 0) -> str:
    """A random document: elements, attributes, text, entities, CDATA, comments, PIs, namespaces."""
    name = rng.choice(["a", "b", "p:c", "x", "\u00e9", "d-1", "e.f"])
    names = ["k", "v", "p:w", "xml:lang", "xmlns:p", "xmlns"]
    values = ["1", "&amp;", "u", ""]
    attributes = "".join(f" {rng.choice(names)}{i}='{rng.choice(values)}'" for i in range(rng.randrange(4)))
    attributes = attributes.replace("xmlns:p0", "xmlns:p").replace("xmlns0", "xmlns")
    if depth > 6 or rng.random() < 0.2:
        return f"<{name}{attributes}/>"
    parts = []
    for _ in range(rng.randrange(5)):
        kind = rng.randrange(7)
        if kind < 2:
            parts.append(generated(rng, depth + 1))
        elif kind == 2:
            parts.append(rng.choice(["text", " ", "\r\n", "&lt;", "&#65;", "]]", "\U0001f600", "'\""]))
        elif kind == 3:
            parts.append("<![CDATA[" + rng.choice(["x", "]]", "<a>", ""]) + "]]>")
        elif kind == 4:
            parts.append("<!--" + rng.choice([" c ", "-", " a-b "]) + "-->")
        elif kind == 5:
            parts.append("<?" + rng.choice(["pi", "p-i x", "t ?"]) + "?>")
        else:
            parts.append(rng.choice(["&e;", "&amp;", "&#x1F600;", "&#0;", ">"]))
    return f"<{name}{attributes}>{''.join(parts)}</{name}>"


def corpus() -> list[bytes]:
    rng = random.Random(20261205)
    documents = [("<r xmlns:p='urn:p'>" + generated(rng) + "</r>").encode() for _ in range(300)]
    mangled = [d[: rng.randrange(len(d) + 1)] for d in documents[:150]]  # cut anywhere: most no longer whole
    flipped = []
    for d in documents[150:300]:
        at = rng.randrange(len(d))
        flipped.append(d[:at] + bytes([rng.choice(b"<>&'\"/=!?:-\x01 ")]) + d[at + 1 :])
    return LIMITS + EDGES + documents + mangled + flipped


def test_woodstox_name_tables_are_the_ones_the_reader_uses(tmp_path):
    tables = woodstox.name_tables(tmp_path)
    ours = [xml_protector._XML10_NAME_START, xml_protector._XML10_NAME, xml_protector._XML11_NAME_START,
            xml_protector._XML11_NAME]  # fmt: skip
    for theirs, mine in zip(tables, ours, strict=True):
        above_z = []  # Woodstox's own rule decides up to 'z'; its tables past it
        for part in theirs.split():
            low, high = (int(x, 16) for x in part.split("-"))
            if high > 0x7A:
                low = max(low, 0x7B)
                above_z.append(f"{low:04X}-{high:04X}" if low != high else f"{low:04X}")
        assert above_z == mine.split()


def test_bodies_are_refused_where_woodstox_refuses_them_with_its_message(tmp_path):
    bodies = corpus()
    theirs = woodstox.verdicts(bodies, tmp_path)
    assert sum(verdict is None for verdict in theirs) > 100  # the corpus has bodies Woodstox reads, and refuses
    assert sum(verdict is not None for verdict in theirs) > 300
    refusals = [(body[:80], ours, verdict) for body, verdict in zip(bodies, theirs, strict=True)
                if (ours := xml_protector.problem(body)) != verdict]  # fmt: skip
    assert refusals == []
