"""The formats fge checks with a Java library, as the library reads a value (apim_adapter/java_formats.py): each case
is one a regular expression gets wrong, read from the library's source; the real libraries answer the same, and
thousands more, in adapter/tests/e2e/test_schema_validation_parity.py."""

from __future__ import annotations

import pytest

from apim_adapter import java_formats


@pytest.mark.parametrize(
    ("value", "taken"),
    [
        ("Ann <ann@example.com>", True),  # a personal name and a route address
        ("ann@example.com (Ann)", True),  # a comment
        ("team: ann@example.com, bob@example.org;", True),  # a group
        ('"ann smith"@example.com', True),  # a quoted local part
        ("ann@[192.0.2.1]", True),  # a domain literal
        ("ann@example.com.", False),  # a domain ends with no dot
        ("ann@example..com", False),
        ("ann@exa_mple.com", False),  # letters, digits, '-' and '.' only
        ("ann", False),  # an address, not a name
        ("ann@example.com, bob@example.org", False),  # one address
    ],
)
def test_an_email_address_is_read_as_javamails_strict_internet_address_reads_it(value, taken):
    assert java_formats.is_email(value) is taken


@pytest.mark.parametrize(
    ("value", "taken"),
    [("a_b.example.com", True), ("münchen.de", True), ("example.com.", True), ("1.2.3.4", False),
     ("example.1com", False), ("-a.example.com", False), ("x" * 64 + ".com", False)],
)  # fmt: skip
def test_a_hostname_is_read_as_guavas_internet_domain_name_reads_it(value, taken):
    assert java_formats.is_hostname(value) is taken


@pytest.mark.parametrize(
    ("value", "version"),
    [("192.0.2.1", 4), ("::ffff:192.0.2.1", 4), ("01.2.3.4", None), ("192.0.2.1%1", None), ("fe80::1%eth0", 6),
     ("\uff11.2.3.4", 4), ("1::2::3", None)],
)  # fmt: skip
def test_an_ip_address_is_read_as_guavas_inet_addresses_reads_it(value, version):
    assert java_formats.ip_version(value) == version


@pytest.mark.parametrize(
    ("value", "taken"),
    [("http://user@[fe80::1%25eth0]:8080/p?q#f", True), ("http://[fe80::1%]/", False), ("urn:isbn:0451", True),
     ("http://a b/", False), ("http://a/%zz", False), ("http://exa_mple/", True), ("a:", False)],
)  # fmt: skip
def test_a_uri_is_read_as_java_net_uri_parses_it(value, taken):
    assert java_formats.is_uri(value) is taken


@pytest.mark.parametrize(
    ("value", "taken"),
    [("2020-01-01t10:00:00z", True), ("2020-01-01T10:00:00+01", True), ("2020-01-01T10:00:00+01:00:30", True),
     ("2020-01-01T10:00:00+24:00", False), ("2020-02-30T10:00:00Z", False), ("0000-02-29T00:00:00Z", True),
     ("\u0662020-01-01T00:00:00Z", False)],
)  # fmt: skip
def test_a_date_time_is_read_as_joda_times_parser_reads_it(value, taken):
    assert java_formats.is_date_time(value) is taken


def test_a_uuid_is_read_as_uuid_from_string_reads_it_and_a_byte_value_as_the_validator_does():
    assert java_formats.is_uuid("+1-2-3-4-5")
    assert not java_formats.is_uuid("1-2-3-4")
    assert java_formats.base64_fault("Q===") == "not a valid base64 string (invalid character '=' at index 1)"
    with pytest.raises(java_formats.LibraryFailed, match="Index 65535 out of bounds"):
        java_formats.base64_fault("\uffffQQQ")
