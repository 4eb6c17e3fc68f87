"""The formats fge's json-schema-validator checks with a Java library, as that library reads them, for
schema_validation: each is the library's own code read top to bottom, on the value's UTF-16 units as Java's String
holds them, and the parity tests hold each to the real library through fge (adapter/tests/e2e/
test_schema_validation_parity.py, on values made at random in the shapes the library reads apart).

- `email`: `new InternetAddress(value, true)` does not throw (EmailAttribute), with the JavaMail APIM 4.5's gateway
  ships (com.sun.mail:mailapi 1.6.1). It reads the value as an RFC 822 address list with its own lenient-strict
  rules, which a regular expression would not reproduce: a personal name and a route address
  (`Ann <ann@example.com>`), comments, quoted local parts, a group (`team: ann@example.com;`) are taken; specials in
  the local part, a domain with a character that is neither a letter nor a digit (Java's Character.isLetterOrDigit:
  any script's), `-` or `.`, a domain beginning or ending with a dot or holding two in a row, more than one address,
  and an address without `@domain` are not. InternetAddress.parse (strict, not a header), the constructor's checks
  and checkAddress.
- `hostname`: Guava 33's `InternetDomainName.from` does not throw (SharedHostNameAttribute).
- `uri`: `new URI(value)` does not throw (URIAttribute): java.net.URI's RFC 2396 parser, JDK 17 (URI.Parser), with
  its fallback from a server-based to a registry-based authority.
- `ipv4`, `ipv6`: Guava's `InetAddresses` reads the value, and Java's InetAddress makes 4 or 16 bytes of it
  (IPv4FormatAttribute, IPv6Attribute).
- `uuid`: `UUID.fromString` does not throw (UUIDFormatAttribute).
- `date`, `date-time`: Joda-Time's parsers as fge builds them (DateAttribute, DateTimeAttribute).
- `byte`: swagger-request-validator's own Base64Attribute; `base64`: fge's Base64FormatAttribute's regex, read with
  Java's `$`.
Where a library throws on a value (rather than refusing it), LibraryFailed carries its message: APIM's validation
then fails as a whole.
"""

from __future__ import annotations

import re
import unicodedata

from . import java_strings
from .ecma262 import units

_SPECIALS_NO_DOT_NO_AT = '()<>,;:\\"[]'
_SPECIALS_NO_DOT = _SPECIALS_NO_DOT_NO_AT + "@"


class LibraryFailed(Exception):
    """The library throws on the value: the validation fails as a whole, with this message."""


class _Illegal(Exception):
    """JavaMail's AddressException."""


def is_email(value: str) -> bool:
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
        address = java_strings.trim(s[start : end if end != -1 else stop])
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
            index = _closing(s, index, '"')
        elif c == "[":  # a domain literal
            index = _closing(s, index, "]")
        elif c in ";," and start == -1:  # nothing before it
            route_addr = False
            end = -1
        elif c == ";":
            if not in_group:
                raise _Illegal("Illegal semicolon, not in group")
            in_group = False
            found.append(java_strings.trim(s[start : index + 1]))
            route_addr = False
            start = end = -1
        elif c == ",":
            if in_group:
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


def _closing(s: str, opening: int, closing: str) -> int:
    """Where a quoted string or a domain literal opened at `opening` closes (a backslash escapes the next character);
    _Illegal where it does not."""
    index = opening + 1
    while index < len(s) and s[index] != closing:
        index += 2 if s[index] == "\\" else 1
    if index >= len(s):
        raise _Illegal(f"Missing '{closing}'")
    return index


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


# ---- hostname: Guava's InternetDomainName ----


def is_hostname(value: str) -> bool:
    """InternetDomainName.from: any of the four full stops a dot, one trailing dot dropped, at most 253 units and 127
    labels; each label 1 to 63 units whose ASCII characters are letters, digits, '-' or '_' (others pass: an IDN's
    are not checked), not beginning or ending with '-' or '_', and the last not beginning with a digit (so an IPv4
    address is no host name)."""
    name = value.translate(_FULL_STOPS)
    if name.endswith("."):
        name = name[:-1]
    labels = name.split(".")
    if len(units(name)) > 253 or len(labels) > 127:
        return False
    for index, label in enumerate(labels):
        if not 1 <= len(units(label)) <= 63:
            return False
        if any(c.isascii() and not (c.isalnum() or c in "-_") for c in label) or label[0] in "-_" or label[-1] in "-_":
            return False
        if index == len(labels) - 1 and label[0] in "0123456789":
            return False
    return True


_FULL_STOPS = str.maketrans("\u3002\uff0e\uff61", "...")


# ---- uri: java.net.URI ----


def _mask(low: int, high: int) -> frozenset[str]:
    """URI.match's character class: the ASCII characters of the two 64-bit masks (NUL never)."""
    return frozenset(chr(c) for c in range(1, 128) if (low if c < 64 else high) >> (c % 64) & 1)


_DIGIT = _mask(0x3FF000000000000, 0)
_ALPHA = _mask(0, 0x7FFFFFE | 0x7FFFFFE00000000)
_ALPHANUM = _DIGIT | _ALPHA
_HEX = _DIGIT | _mask(0, 0x7E0000007E)
_UNRESERVED = _ALPHANUM | _mask(0x678200000000, 0x4000000080000000)
_RESERVED = _mask(0xAC00985000000000, 0x28000001)
_URIC = _RESERVED | _UNRESERVED
_PCHAR = _UNRESERVED | _mask(0x2400185000000000, 0x1)
_PATH = _PCHAR | _mask(0x800800000000000, 0)
_DASH = _mask(0x200000000000, 0)
_DOT = _mask(0x400000000000, 0)
_USERINFO = _UNRESERVED | _mask(0x2C00185000000000, 0)
_REG_NAME = _UNRESERVED | _mask(0x2C00185000000000, 0x1)
_SERVER = _USERINFO | _ALPHANUM | _DASH | _mask(0x400400000000000, 0x28000001)
_SERVER_PERCENT = _SERVER | _mask(0x2000000000, 0)
_SCHEME = _ALPHA | _DIGIT | _mask(0x680000000000, 0)
_SCOPE_ID = _ALPHANUM | _mask(0x400000000000, 0x80000000)
# The classes where escapes (%XX) and other characters past U+0080 are taken as well (their L_ESCAPED bit: the
# server classes have it through userinfo's).
_ESCAPED = (_URIC, _PCHAR, _PATH, _USERINFO, _REG_NAME, _SERVER, _SERVER_PERCENT)


class _Malformed(Exception):
    """java.net.URISyntaxException."""


def is_uri(value: str) -> bool:
    """Whether `new URI(value)` takes the value."""
    try:
        _UriParser(units(value)).parse()
    except _Malformed:
        return False
    return True


class _UriParser:
    """URI.Parser, parse(false): positions and scans as Java's, failing with _Malformed where it throws."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.ipv6_bytes = 0

    def at(self, start: int, end: int, c: str) -> bool:
        return start < end and self.s.startswith(c, start) and start + len(c) <= end

    def scan_char(self, start: int, end: int, c: str) -> int:
        return start + 1 if start < end and self.s[start] == c else start

    def scan_stop(self, start: int, end: int, stop: str, err: str = "") -> int:
        p = start
        while p < end:
            if self.s[p] in err:
                return -1
            if self.s[p] in stop:
                break
            p += 1
        return p

    def scan_class(self, start: int, end: int, allowed: frozenset[str]) -> int:
        p = start
        escaped = any(allowed is e for e in _ESCAPED)
        while p < end:
            c = self.s[p]
            if c in allowed:
                p += 1
            elif escaped and (q := self.scan_escape(p, end, c)) > p:
                p = q
            else:
                break
        return p

    def scan_escape(self, p: int, end: int, c: str) -> int:
        if c == "%":
            if p + 3 <= end and self.s[p + 1] in _HEX and self.s[p + 2] in _HEX:
                return p + 3
            raise _Malformed("Malformed escape pair")
        if ord(c) > 128 and not _space_char(c) and not _iso_control(c):
            return p + 1
        return p

    def check(self, start: int, end: int, allowed: frozenset[str]) -> None:
        if self.scan_class(start, end, allowed) < end:
            raise _Malformed("Illegal character")

    def parse(self) -> None:
        n = len(self.s)
        p = self.scan_stop(0, n, ":", err="/?#")
        if p >= 0 and self.at(p, n, ":"):
            if p == 0:
                raise _Malformed("Expected scheme name")
            self.check(0, 1, _ALPHA)
            self.check(1, p, _SCHEME)
            p += 1
            if self.at(p, n, "/"):
                p = self.hierarchical(p, n)
            else:
                q = self.scan_stop(p, n, "#")
                if q <= p:
                    raise _Malformed("Expected scheme-specific part")
                self.check(p, q, _URIC)
                p = q
        else:
            p = self.hierarchical(0, n)
        if self.at(p, n, "#"):
            self.check(p + 1, n, _URIC)
            p = n
        if p < n:
            raise _Malformed("end of URI")

    def hierarchical(self, start: int, n: int) -> int:
        p = start
        if self.at(p, n, "/") and self.at(p + 1, n, "/"):
            p += 2
            q = self.scan_stop(p, n, "/?#")
            if q > p:
                p = self.authority(p, q)
            elif q >= n:
                raise _Malformed("Expected authority")
        q = self.scan_stop(p, n, "?#")
        self.check(p, q, _PATH)
        p = q
        if self.at(p, n, "?"):
            p += 1
            q = self.scan_stop(p, n, "#")
            self.check(p, q, _URIC)
            p = q
        return p

    def authority(self, start: int, n: int) -> int:
        p = q = start
        if self.scan_stop(p, n, "]") > p:
            server_chars = self.scan_class(p, n, _SERVER_PERCENT) == n
        else:
            server_chars = self.scan_class(p, n, _SERVER) == n
        qreg = self.scan_class(p, n, _REG_NAME)
        reg_chars = qreg == n
        if reg_chars and not server_chars:
            return n
        skip = reg_chars  # !requireServerAuthority && regChars
        failure = None
        if server_chars:
            try:
                q = self.server(p, n, skip)
                if q < n:
                    if skip:
                        q = p
                    else:
                        raise _Malformed("Expected end of authority")
            except _Malformed as exc:
                failure, q = exc, p
        if q < n:
            if reg_chars:
                return n
            if failure is not None:
                raise failure
            raise _Malformed("Illegal character in authority")
        return n

    def server(self, start: int, n: int, skip: bool) -> int:
        p = start
        q = self.scan_stop(p, n, "@", err="/?#")
        if q >= p and self.at(q, n, "@"):
            self.check(p, q, _USERINFO)
            p = q + 1
        if self.at(p, n, "["):
            p += 1
            q = self.scan_stop(p, n, "]", err="/?#")
            if q > p and self.at(q, n, "]"):
                r = self.scan_stop(p, q, "%")
                if r > p:
                    self.ipv6_reference(p, r)
                    if r + 1 == q:
                        raise _Malformed("scope id expected")
                    self.check(r + 1, q, _SCOPE_ID)
                else:
                    self.ipv6_reference(p, q)
                p = q + 1
            else:
                raise _Malformed("Expected closing bracket for IPv6 address")
        else:
            q = self.ipv4_address(p, n)
            if q <= p:
                q = self.hostname(p, n, skip)
            p = q
        if self.at(p, n, ":"):
            p += 1
            q = self.scan_stop(p, n, "/")
            if q > p:
                self.check(p, q, _DIGIT)
                if int(self.s[p:q]) > 2**31 - 1:
                    raise _Malformed("Malformed port number")
                p = q
        elif p < n and skip:
            return p
        if p < n:
            raise _Malformed("Expected port number")
        return p

    def scan_byte(self, start: int, n: int) -> int:
        p = start
        q = self.scan_class(p, n, _DIGIT)
        if q <= p:
            return q
        i = p
        while (j := self.scan_char(i, q, "0")) > i:
            i = j
        significant = q - i
        if significant < 3:
            return q
        if significant > 3 or int(self.s[p:q]) > 255:
            return p
        return q

    def scan_ipv4(self, start: int, n: int, strict: bool) -> int:
        p = start
        m = self.scan_class(p, n, _DIGIT | _DOT)
        if m <= p or (strict and m != n):
            return -1
        q = p
        for step in range(7):
            q = self.scan_byte(p, m) if step % 2 == 0 else self.scan_char(p, m, ".")
            if q <= p:
                break
            p = q
        else:
            if q >= m:
                return q
        if strict:
            raise _Malformed("Malformed IPv4 address")
        return -1

    def take_ipv4(self, start: int, n: int) -> int:
        p = self.scan_ipv4(start, n, strict=True)
        if p <= start:
            raise _Malformed("Expected IPv4 address")
        return p

    def ipv4_address(self, start: int, n: int) -> int:
        try:
            p = self.scan_ipv4(start, n, strict=False)
        except _Malformed:
            return -1
        if p == -1:
            return p
        if start < p < n and self.s[p] != ":":
            return -1
        return p

    def hostname(self, start: int, n: int, skip: bool) -> int:
        p = start
        last = -1  # start of the last label
        while True:
            q = self.scan_class(p, n, _ALPHANUM)
            if q <= p:
                break
            last, p = p, q
            q = self.scan_class(p, n, _ALPHANUM | _DASH)
            if q > p:
                if self.s[q - 1] == "-":
                    raise _Malformed("Illegal character in hostname")
                p = q
            q = self.scan_char(p, n, ".")
            if q <= p:
                break
            p = q
            if p >= n:
                break
        if p < n and not self.at(p, n, ":"):
            if skip:
                return p
            raise _Malformed("Illegal character in hostname")
        if last < 0:
            raise _Malformed("Expected hostname")
        if last > start and self.s[last] not in _ALPHA:
            raise _Malformed("Illegal character in hostname")
        return p

    def ipv6_reference(self, start: int, n: int) -> int:
        p = start
        compressed = False
        q = self.hex_seq(p, n)
        if q > p:
            p = q
            if self.at(p, n, "::"):
                compressed = True
                p = self.hex_post(p + 2, n)
            elif self.at(p, n, ":"):
                p = self.take_ipv4(p + 1, n)
                self.ipv6_bytes += 4
        elif self.at(p, n, "::"):
            compressed = True
            p = self.hex_post(p + 2, n)
        if p < n:
            raise _Malformed("Malformed IPv6 address")
        if self.ipv6_bytes > 16:
            raise _Malformed("IPv6 address too long")
        if not compressed and self.ipv6_bytes < 16:
            raise _Malformed("IPv6 address too short")
        if compressed and self.ipv6_bytes == 16:
            raise _Malformed("Malformed IPv6 address")
        return p

    def hex_post(self, start: int, n: int) -> int:
        p = start
        if p == n:
            return p
        q = self.hex_seq(p, n)
        if q > p:
            p = q
            if self.at(p, n, ":"):
                p = self.take_ipv4(p + 1, n)
                self.ipv6_bytes += 4
        else:
            p = self.take_ipv4(p, n)
            self.ipv6_bytes += 4
        return p

    def hex_seq(self, start: int, n: int) -> int:
        p = start
        q = self.scan_class(p, n, _HEX)
        if q <= p or self.at(q, n, "."):
            return -1
        if q > p + 4:
            raise _Malformed("IPv6 hexadecimal digit sequence too long")
        self.ipv6_bytes += 2
        p = q
        while p < n:
            if not self.at(p, n, ":") or self.at(p + 1, n, ":"):
                break
            p += 1
            q = self.scan_class(p, n, _HEX)
            if q <= p:
                raise _Malformed("Expected digits for an IPv6 address")
            if self.at(q, n, "."):
                p -= 1
                break
            if q > p + 4:
                raise _Malformed("IPv6 hexadecimal digit sequence too long")
            self.ipv6_bytes += 2
            p = q
        return p


def _space_char(c: str) -> bool:
    """Character.isSpaceChar: the Unicode space separators, line and paragraph separators (Zs, Zl, Zp)."""
    return unicodedata.category(c) in ("Zs", "Zl", "Zp")


def _iso_control(c: str) -> bool:
    return ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F


# ---- ipv4, ipv6: Guava's InetAddresses ----


def ip_version(value: str) -> int | None:
    """4 or 6 where `InetAddresses.isInetAddress(value)` and `forString(value).getAddress()` has 4 or 16 bytes (fge's
    ipv4 and ipv6 formats ask both), else None. Guava 33's ipStringToBytes: decimal and hex digits of any script
    (Character.digit), a scope after '%' ignored (an IPv4 address may have none), an IPv4 address's octets without
    leading zeros, a dotted quad at the end of an IPv6 one; and Java's InetAddress.getByAddress, which makes an
    IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) an IPv4 one."""
    text = units(value)
    has_colon = has_dot = False
    percent = -1
    for index, c in enumerate(text):
        if c == ".":
            has_dot = True
        elif c == ":":
            if has_dot:
                return None
            has_colon = True
        elif c == "%":
            percent = index
            break
        elif _java_digit(c, 16) < 0:
            return None
    address: bytes | None
    if has_colon:
        if has_dot:
            converted = _dotted_quad_to_hex(text)
            if converted is None:
                return None
            text = converted
        if percent != -1:
            text = text[:percent]
        address = _ipv6_bytes(text)
    elif has_dot and percent == -1:
        address = _ipv4_bytes(text)
    else:
        return None
    if address is None:
        return None
    return 4 if len(address) == 4 or address[:12] == bytes(10) + b"\xff\xff" else 6


def _ipv4_bytes(text: str) -> bytes | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    octets = []
    for part in parts:
        if not 1 <= len(part) <= 3 or (len(part) > 1 and part[0] == "0"):
            return None
        digits = [_java_digit(c, 10) for c in part]
        if min(digits) < 0:
            return None
        octet = int("".join(map(str, digits)))
        if octet > 255:
            return None
        octets.append(octet)
    return bytes(octets)


def _dotted_quad_to_hex(text: str) -> str | None:
    last_colon = text.rfind(":")
    quad = _ipv4_bytes(text[last_colon + 1 :])
    if quad is None:
        return None
    return f"{text[: last_colon + 1]}{quad[0] << 8 | quad[1]:x}:{quad[2] << 8 | quad[3]:x}"


def _ipv6_bytes(text: str) -> bytes | None:
    """textToNumericFormatV6."""
    delimiters = text.count(":")
    if delimiters < 2 or delimiters > 8:
        return None
    skipped = 8 - (delimiters + 1)
    has_skip = False
    for i in range(len(text) - 1):
        if text[i] == ":" and text[i + 1] == ":":
            if has_skip:
                return None
            has_skip = True
            skipped += 1 + (i == 0) + (i == len(text) - 2)
    if (text[0] == ":" and text[1] != ":") or (text[-1] == ":" and text[-2] != ":"):
        return None
    if (has_skip and skipped <= 0) or (not has_skip and delimiters + 1 != 8):
        return None
    hextets: list[int] = []
    start = 1 if text[0] == ":" else 0
    while start < len(text):
        end = text.find(":", start)
        end = len(text) if end == -1 else end
        if text[start] == ":":
            hextets += [0] * skipped
        else:
            if not 1 <= end - start <= 4:
                return None
            value = 0
            for c in text[start:end]:
                value = value << 4 | _java_digit(c, 16)
            hextets.append(value & 0xFFFF)
        start = end + 1
    if len(hextets) > 8:
        return None  # ByteBuffer's overflow: not reached by a string the checks above took
    return b"".join(h.to_bytes(2, "big") for h in hextets + [0] * (8 - len(hextets)))


def _java_digit(c: str, radix: int) -> int:
    """Character.digit: a decimal digit of any script, or a Latin letter (ASCII or fullwidth) below the radix."""
    value = unicodedata.decimal(c, -1)
    if value < 0:
        code = ord(c)
        if 0xFF21 <= code <= 0xFF3A or 0xFF41 <= code <= 0xFF5A:  # fullwidth A-Z, a-z
            code -= 0xFEE0
        if "a" <= chr(code).lower() <= "z" and chr(code).isascii():
            value = ord(chr(code).lower()) - ord("a") + 10
    return value if value < radix else -1


# ---- uuid: java.util.UUID.fromString ----


def is_uuid(value: str) -> bool:
    """Whether UUID.fromString takes the value."""
    return uuid_text(value) is not None


def uuid_text(value: str | None) -> str | None:
    """UUID.fromString then toString (JDK 17, fromString1 where the 36-character fast path does not take it), or
    None where it throws: at most 36 units, exactly four dashes, five parts Long.parseLong reads in base 16 (a sign,
    digits of any script), each masked to its field's bits."""
    if value is None:
        return None
    text = units(value)
    parts = text.split("-")
    if len(text) > 36 or len(parts) != 5:
        return None
    numbers = [_java_long(part, 16) for part in parts]
    if None in numbers:
        return None
    widths = (8, 4, 4, 4, 12)  # hexadecimal digits of each field
    fields = [n % 16**w for n, w in zip(numbers, widths, strict=True) if n is not None]
    return "-".join(f"{f:0{w}x}" for f, w in zip(fields, widths, strict=True))


def _java_long(text: str, radix: int) -> int | None:
    """Long.parseLong(s, radix): an optional sign, then at least one digit; within a long."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits:
        return None
    value = 0
    for c in digits:
        digit = _java_digit(c, radix)
        if digit < 0:
            return None
        value = value * radix + digit
    value = -value if text[0] == "-" else value
    return value if -(2**63) <= value < 2**63 else None


# ---- byte: the validator's Base64Attribute ----


def base64_fault(value: str) -> str | None:
    """What swagger-request-validator's Base64Attribute (2.12) says of a `byte` value, or None: its length in units a
    multiple of 4 (empty is fine), then, before at most two '=' of padding, only the Base64 alphabet. Its table of
    characters has no slot for U+FFFF: that one fails the validation (ArrayIndexOutOfBoundsException)."""
    text = units(value)
    length = len(text)
    if length == 0:
        return None
    if length % 4:
        return f"not a valid base64 string (invalid length: {length})"
    end = length if text[-1] != "=" else length - 1 if text[-2] != "=" else length - 2
    for index in range(end):
        c = text[index]
        if c == "\uffff":
            raise LibraryFailed(f"Index {0xFFFF} out of bounds for length {0xFFFF}")
        if not (c.isascii() and (c.isalnum() or c in "+/")):
            return f"not a valid base64 string (invalid character '{c}' at index {index})"
    return None


# ---- base64: fge's Base64FormatAttribute ----

_JAVA_LINE_TERMINATORS = ("\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029")


def base64_illegal_index(value: str) -> int | None:
    """Where fge's base64 format finds a character outside the Base64 alphabet (NOT_BASE64.indexIn), after
    `"==?$"` is replaced once (the leftmost match: Java's `$` is the end, or the end before a final line
    terminator), or None. The index is into the replaced text; fge names the value's character there. The length
    (a multiple of 4) is the caller's to check first."""
    text = units(value)
    stripped = text
    for start in range(len(text)):
        if text[start] != "=":
            continue
        rest = text[start + 1 :]
        taken = next((n for n in (1, 0) if n <= len(rest) and rest[:n] == "=" * n and _at_java_end(rest[n:])), None)
        if taken is not None:
            stripped = text[:start] + rest[taken:]
            break
    return next((i for i, c in enumerate(stripped) if not (c.isascii() and (c.isalnum() or c in "+/"))), None)


def _at_java_end(rest: str) -> bool:
    """Whether Java's `$` (no MULTILINE) matches before `rest`: at the end, or before one final line terminator."""
    return rest == "" or rest in _JAVA_LINE_TERMINATORS


# ---- date-time, date: Joda-Time's parsers, as fge builds them ----

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME = re.compile(r"[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})")
_FRACTION = re.compile(r"\.[0-9]{1,12}")


def is_date(value: str) -> bool:
    """fge's date format (`yyyy-MM-dd`): four, two and two ASCII digits, a day of the proleptic Gregorian calendar
    (year 0 is one, and a leap year)."""
    m = _DATE.fullmatch(value)
    return m is not None and _day_exists(*map(int, m.groups()))


def is_date_time(value: str) -> bool:
    """fge's date-time format: DateTimeAttribute's Joda formatter, fixed-width fields (`T` in either case), an
    optional fraction of 1 to 12 digits, then a zone offset as Joda's TimeZoneOffset parser reads it (`Z` in either
    case; `±hh`, `±hh:mm`, `±hhmm`, `±hh:mm:ss`, `±hhmmss`, with a fraction of the second; hours up to 23), and
    nothing after it."""
    date = _DATE.match(value)
    time = _TIME.match(value, date.end()) if date else None
    if not date or not time:
        return False
    year, month, day = map(int, date.groups())
    hour, minute, second = map(int, time.groups())
    if not (_day_exists(year, month, day) and hour <= 23 and minute <= 59 and second <= 59):
        return False
    position = time.end()
    fraction = _FRACTION.match(value, position)
    if fraction:
        position = fraction.end()
    return _offset_end(value, position) == len(value)


def _day_exists(year: int, month: int, day: int) -> bool:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return 1 <= month <= 12 and 1 <= day <= days[month - 1]


def _offset_end(text: str, position: int) -> int | None:
    """DateTimeFormatterBuilder.TimeZoneOffset.parseInto: where the offset ends, or None where it fails."""
    if text[position : position + 1] in ("Z", "z"):
        return position + 1
    if len(text) - position <= 1 or text[position] not in "+-":
        return None
    position += 1
    if _digits(text, position, 2) < 2 or int(text[position : position + 2]) > 23:
        return None
    position += 2
    separated = False
    for field, (width, most, separators) in enumerate(((2, 59, ":"), (2, 59, ":"), (3, None, ".,"))):
        if position >= len(text):
            return position
        if field == 0:
            if text[position] == ":":
                separated = True
                position += 1
            elif not "0" <= text[position] <= "9":
                return position
        elif separated:
            if text[position] not in separators:
                return position
            position += 1
        count = _digits(text, position, width)
        if count == 0 and not separated:
            return position
        if count < (width if most is not None else 1):
            return None
        if most is not None and int(text[position : position + width]) > most:
            return None
        position += count
    return position


def _digits(text: str, position: int, most: int) -> int:
    """Joda's digitCount: the ASCII digits at `position`, at most `most`."""
    count = 0
    while count < most and position + count < len(text) and "0" <= text[position + count] <= "9":
        count += 1
    return count
