"""XML read with no DTD allowed: entities can only be declared in a DOCTYPE, so refusing it refuses entity expansion
(billion laughs) and external entities alike, whatever the document's encoding. The one XML reader of the adapter's
own (the threat protectors read with a Woodstox-like reader of their own: xml_protector.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree


class _NoDtd(ElementTree.TreeBuilder):
    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise ValueError("a DTD is refused")


def parse(document: str | bytes, keep_comments: bool = False) -> ElementTree.Element:
    """The document's root element (with its comments and processing instructions where `keep_comments`).
    ElementTree.ParseError for what is not XML, ValueError for a document with a DTD."""
    builder = _NoDtd(insert_comments=keep_comments, insert_pis=keep_comments)
    parser = ElementTree.XMLParser(target=builder)  # noqa: S314 - defused: the builder refuses any DTD
    parser.feed(document)
    return parser.close()
