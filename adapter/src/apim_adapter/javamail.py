"""JavaMail's strict reading of an e-mail address, for schema_validation's `email` format.

fge's json-schema-validator takes a value as an e-mail address where `new InternetAddress(value, true)` does not
throw (EmailAttribute), and APIM 4.5's gateway ships JavaMail 1.6.1 (com.sun.mail:mailapi). That constructor reads
the value as an RFC 822 address list with its own lenient-strict rules, which a regular expression would not
reproduce: a personal name and a route address (`Ann <ann@example.com>`), comments, quoted local parts, a group
(`team: ann@example.com;`) are taken; specials in the local part, a domain with a character that is neither a letter
nor a digit (Java's Character.isLetterOrDigit: any script's), `-` or `.`, a domain beginning or ending with a dot
or holding two in a row, more than one address, and an address without `@domain` are not. This module is
InternetAddress.parse (strict, not a header), the constructor's checks and checkAddress, read top to bottom, on the
value's UTF-16 units as Java's String holds them; the parity tests hold it to the real class through fge.
"""

from __future__ import annotations

import unicodedata

from .ecma262 import units

_SPECIALS_NO_DOT_NO_AT = '()<>,;:\\"[]'
_SPECIALS_NO_DOT = _SPECIALS_NO_DOT_NO_AT + "@"


class _Illegal(Exception):
    """JavaMail's AddressException."""


def is_address(value: str) -> bool:
    """Whether `new InternetAddress(value, true)` takes the value."""
    try:
        _construct(units(value))
    except _Illegal:
        return False
    return True


def _construct(text: str) -> None:
    """InternetAddress(String address, boolean strict), strict: one address parsed, then checked in full (a group's
    members as parseHeader reads them)."""
    parsed = _parse(text)
    if len(parsed) != 1:
        raise _Illegal("Illegal address")
    address = parsed[0]
    if address.endswith(";") and address.find(":") > 0:  # isGroup
        _parse(address[address.find(":") + 1 : -1])  # getGroup(true): parseHeader, strict
    else:
        _check(address, route=True, validate=True)


def _trim(text: str) -> str:
    """String.trim: every character up to U+0020 off both ends."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def _parse(s: str) -> list[str]:
    """InternetAddress.parse(s, strict=true, parseHdr=false): the addresses of the list (their personal names are
    parsed past, not kept); _Illegal where the strict parse throws."""
    found: list[str] = []
    start = end = -1
    in_group = route_addr = False
    length = len(s)
    index = 0

    def finish(stop: int) -> None:
        nonlocal start, end, route_addr
        address = _trim(s[start : end if end != -1 else stop])
        _check(address, route_addr, validate=False)
        found.append(address)
        route_addr = False
        start = end = -1

    while index < length:
        c = s[index]
        if c == "(":  # a comment: skipped
            if start >= 0 and end == -1:
                end = index
            index, nesting = index + 1, 1
            while index < length and nesting > 0:
                if s[index] == "\\":
                    index += 1
                elif s[index] == "(":
                    nesting += 1
                elif s[index] == ")":
                    nesting -= 1
                index += 1
            if nesting > 0:
                raise _Illegal("Missing ')'")
            index -= 1
        elif c == ")":
            raise _Illegal("Missing '('")
        elif c == "<":
            if route_addr:
                raise _Illegal("Extra route-addr")
            opened = index
            in_quote = False
            index += 1
            while index < length:
                if s[index] == "\\":
                    index += 1
                elif s[index] == '"':
                    in_quote = not in_quote
                elif s[index] == ">" and not in_quote:
                    break
                index += 1
            if in_quote:
                raise _Illegal("Missing '\"'")
            if index >= length:
                raise _Illegal("Missing '>'")
            if not in_group:
                start = opened + 1
            route_addr = True
            end = index
        elif c == ">":
            raise _Illegal("Missing '<'")
        elif c == '"':
            if start == -1:
                start = index
            index += 1
            while index < length and s[index] != '"':
                index += 2 if s[index] == "\\" else 1
            if index >= length:
                raise _Illegal("Missing '\"'")
        elif c == "[":  # a domain literal
            index += 1
            while index < length and s[index] != "]":
                index += 2 if s[index] == "\\" else 1
            if index >= length:
                raise _Illegal("Missing ']'")
        elif c == ";":
            if start == -1:
                route_addr = False
                end = -1
            elif in_group:
                in_group = False
                found.append(_trim(s[start : index + 1]))
                route_addr = False
                start = end = -1
            else:
                raise _Illegal("Illegal semicolon, not in group")
        elif c == ",":
            if start == -1:
                route_addr = False
                end = -1
            elif in_group:
                route_addr = False
            else:
                finish(index)
        elif c == ":":
            if in_group:
                raise _Illegal("Nested group")
            if start == -1:
                start = index
            in_group = True
        elif c not in " \t\r\n" and start == -1:
            start = index
        index += 1
    if start >= 0:
        finish(length)
    return found


def _check(address: str, route: bool, validate: bool) -> None:
    """checkAddress(addr, routeAddr, validate): an optional route, a local part (specials only quoted), then a
    domain of letters, digits, '-' and '.' (or a domain literal); `validate` asks for the `@domain`."""
    length = len(address)
    if length == 0:
        raise _Illegal("Empty address")
    start = 0
    if route and address[0] == "@":  # [@domain[,@domain ...]:]local@domain
        while (i := _index_of_any(address, ",:", start)) >= 0:
            if address[start] != "@":
                raise _Illegal("Illegal route-addr")
            start = i + 1
            if address[i] == ":":
                break
    c = last = ""
    in_quote = False
    i = start
    while i < length:
        last, c = c, address[i]
        i += 1
        if c == "\\" or last == "\\":
            continue
        if c == '"':
            if in_quote:
                if validate and i < length and address[i] != "@":
                    raise _Illegal("Quote not at end of local address")
            elif validate and i - 1 != 0:
                raise _Illegal("Quote not at start of local address")
            in_quote = not in_quote
            continue
        if c == "\r" and i < length and address[i] != "\n":
            raise _Illegal("Quoted local address contains CR without LF")
        if c == "\n" and i < length and address[i] not in " \t":
            raise _Illegal("Quoted local address contains newline without whitespace")
        if in_quote:
            continue
        if c == "@":
            if i - 1 == 0:
                raise _Illegal("Missing local name")
            break
        if c <= " " or c == "\x7f":
            raise _Illegal("Local address contains control or whitespace")
        if c in _SPECIALS_NO_DOT:
            raise _Illegal("Local address contains illegal character")
    if in_quote:
        raise _Illegal("Unterminated quote")
    if c != "@":
        if validate:
            raise _Illegal("Missing final '@domain'")
        return
    start = i
    if start >= length:
        raise _Illegal("Missing domain")
    if address[start] == ".":
        raise _Illegal("Domain starts with dot")
    in_literal = False
    for i in range(start, length):
        c = address[i]
        if c == "[":
            if i != start:
                raise _Illegal("Domain literal not at start of domain")
            in_literal = True
        elif c == "]":
            if i != length - 1:
                raise _Illegal("Domain literal end not at end of domain")
            in_literal = False
        elif c <= " " or c == "\x7f":
            raise _Illegal("Domain contains control or whitespace")
        elif not in_literal:
            if not (_letter_or_digit(c) or c in "-."):
                raise _Illegal("Domain contains illegal character")
            if c == "." and last == ".":
                raise _Illegal("Domain contains dot-dot")
        last = c
    if last == ".":
        raise _Illegal("Domain ends with dot")


def _letter_or_digit(c: str) -> bool:
    """Character.isLetterOrDigit(char): a letter of any script or a decimal digit (a surrogate unit is neither)."""
    category = unicodedata.category(c)
    return category.startswith("L") or category == "Nd"


def _index_of_any(text: str, any_of: str, start: int) -> int:
    return next((i for i in range(start, len(text)) if text[i] in any_of), -1)
