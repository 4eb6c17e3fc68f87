"""A form body as APIM's gateway hands it to Schema Validation (apim_adapter/axis2_forms.py): Synapse's
XFormURLEncodedBuilder's parameters, as XML, read back by Woodstox and written as JSON by Synapse's staxon. The
expected texts are what Synapse's own staxon writer (wso2-synapse master, `JsonXMLOutputFactory` with
`JsonUtil`'s defaults) printed for these forms; the validator's reading of them is held to the real validator by
adapter/tests/e2e/test_schema_validation_parity.py."""

from __future__ import annotations

import pytest

from apim_adapter.axis2_forms import GatewayFailure, is_form, parameters, validator_body
from apim_adapter.payload import as_searched
from apim_adapter.schema_validation import PREFIX, Definition, request_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("uri", "body", "handed"),
    [
        # The query's parameters first, a repeated name's values together as an array, literals and numbers read
        # as JSON's (BigDecimal's text: 1E+5, no negative zero), an empty value null.
        (
            "/orders?x=1",
            "a=1&b=hello&c=true&d=&e=1.50&f=1e5&g=-0&b=two",
            '{"xformValues":{"x":1,"a":1,"b":["hello","two"],"c":true,"d":null,"e":1.50,"f":1E+5,"g":0}}',
        ),
        ("/orders", "name=a%3Db%26c&n=null", '{"xformValues":{"name":"a=b&c","n":null}}'),
        ("/orders", "q=a+b%20c", '{"xformValues":{"q":"a b c"}}'),  # `+` a space
        ("/orders", "z=007&y=1.0e2&w=NaN&v=0x10", '{"xformValues":{"z":"007","y":1.0E+2,"w":"NaN","v":"0x10"}}'),
        (
            "/orders",
            "n=123456789012345678901234567890&m=0.0000001&k=12e-1&j=-0.0&i=1e0&h=-1.5e3&g=1E400&f=0.000",
            '{"xformValues":{"n":123456789012345678901234567890,"m":1E-7,"k":1.2,"j":0.0,"i":1,"h":-1.5E+3,'
            '"g":1E+400,"f":0.000}}',
        ),
        ("/orders", "n=1.&m=.5&k=+1&j=-1&h=00", '{"xformValues":{"n":"1.","m":".5","k":" 1","j":-1,"h":"00"}}'),
        ("/orders", "a=1&a=&a=x", '{"xformValues":{"a":[1,null,"x"]}}'),
        # Names: a digit or `$` first survives the builder's renaming; `xml:` is a bound prefix.
        ("/orders", "1x=3&$y=2", '{"xformValues":{"1x":3,"$y":2}}'),
        ("/orders", "xml:lang=en&xml:_JsonReader_PD_=1", '{"xformValues":{"xml_lang":"en","xml_":1}}'),
        # Escapes as staxon writes them; a blank value (to String.trim) is an empty element.
        ("/orders", "s=%22q%22%5C%2F", '{"xformValues":{"s":"\\"q\\"\\\\/"}}'),
        ("/orders", "t=a%09b%0Ac", '{"xformValues":{"t":"a\\tb\\nc"}}'),
        ("/orders", "x=%0D%0A%20&z=%01", '{"xformValues":{"x":null,"z":null}}'),
        ("/orders", "u=%C3%A9%F0%9F%98%80&a=%F0%9F&b=%FF", '{"xformValues":{"u":"é😀","a":"\ufffd","b":"\ufffd"}}'),
        ("/orders", "x=%20%20a%20", '{"xformValues":{"x":"  a "}}'),
        # Lines are read one by one; a pair in the path counts where there is no query.
        ("/orders", "a=1\r\nb=2\n", '{"xformValues":{"a":1,"b":2}}'),
        ("/orders&p=1", "a=2", '{"xformValues":{"p":1,"a":2}}'),
        ("/orders?&=1&q", "a=2", '{"xformValues":{"a":2}}'),  # a query pair needs a name and `=`
    ],
)
def test_a_form_is_handed_to_the_validator_as_apims_gateway_writes_it(uri, body, handed):
    assert validator_body(uri, body) == handed


@pytest.mark.parametrize(
    "body",
    [
        "a%20b=1",  # names are not decoded: `%` is no XML name character
        "a b=1",
        "items[0]=x",
        "a:b=1",  # an unbound prefix
        "xmlns:a=1",
        "z=a%01",  # XML 1.0 has no U+0001
        "z=%EF%BF%BE",
    ],
)
def test_a_form_woodstox_cannot_read_back_hands_the_validator_no_body(body):
    assert validator_body("/orders", body) is None


@pytest.mark.parametrize(
    ("uri", "body", "why"),
    [
        ("/orders", "a=1&b", "Form field 'b' has no '='"),  # substring(0, -1)
        ("/orders", "a=1&&b=2", "Form field '' has no '='"),
        ("/orders", "\n", "Form field '' has no '='"),
        ("/orders", "a=1&" + "b" * 100, "Form field '" + "b" * 64 + "…' has no '='"),
        # The field is named, never its value (a password's, say).
        ("/orders", "a=10%", "Form field 'a' has a malformed % escape"),
        ("/orders", "a=%zz", "Form field 'a' has a malformed % escape"),
        ("/orders?q=%2", "a=1", "Form field 'q' has a malformed % escape"),
    ],
)
def test_a_form_the_builder_throws_on_fails_the_request(uri, body, why):
    with pytest.raises(GatewayFailure, match=f"^{why}"):
        validator_body(uri, body)


def test_character_digit_reads_any_scripts_digits_in_an_escape():
    assert parameters("/", "a=%\u0664\u0661&b=%\uff14\uff21") == [("a", ["A"]), ("b", ["J"])]


@pytest.mark.parametrize(
    ("content_type", "form"),
    [
        ("application/x-www-form-urlencoded", True),
        ("Application/X-WWW-Form-Urlencoded; charset=UTF-8", True),
        ("application/x-www-form-urlencoded,text/plain", True),
        ("application/x-www-form-urlencoded ; charset=UTF-8", False),  # the space is kept: no builder's type
        ("multipart/form-data", False),
        (None, False),
    ],
)
def test_the_form_builder_is_chosen_by_the_content_types_mime_type(content_type, form):
    assert is_form(content_type) is form


FORM_DEFINITION = {
    "openapi": "3.0.1",
    "info": {"title": "orders", "version": "1"},
    "paths": {
        "/orders": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["order"],
                                "properties": {"order": {"type": "integer"}},
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_apims_validator_never_finds_a_forms_required_properties():
    """The validator reads APIM's JSON text as a form: one name, the whole text, so `order` is missing whether it is
    sent or not, and its type is never checked."""
    definition = Definition(FORM_DEFINITION)
    missing = PREFIX + 'Object has missing required properties (["order"]), '
    assert definition.detail(request_of("POST", "/orders", FORM, "order=1")) == missing
    assert definition.detail(request_of("POST", "/orders", FORM, "order=x")) == missing
    # A form Woodstox cannot read back is no body at all, and so is one the builder throws on (RelayUtils rethrows
    # it as an AxisFault, which getMessageContent logs).
    for unread in ("a b=1", "order", "order=10%"):
        assert definition.detail(request_of("POST", "/orders", FORM, unread)) == (
            PREFIX + "A request body is required but none found., "
        )


def test_the_regex_policy_searches_the_builders_values():
    """The same parameters in the Regex Policy's search (payload.py): `+` is a space there too, and a form the
    builder throws on has nothing to search (the call is refused: test_regex_policy)."""
    searched = as_searched("application/x-www-form-urlencoded", b"q=drop+table&1a=x", "/orders?p=%27")
    assert searched == "<xformValues><p>'</p><q>drop table</q><_JsonReader_PD_1a>x</_JsonReader_PD_1a></xformValues>"
    assert as_searched("application/x-www-form-urlencoded", b"q=10%", "/orders") is None  # the call is refused


def test_a_form_is_read_in_the_charset_the_transport_gives_its_builder():
    """XFormURLEncodedBuilder reads the body and decodes its escapes in the message's charset (ServerWorker's
    BuilderUtil.getCharSetEncoding: `charset` found as written); one Java does not know makes it throw."""
    latin = "application/x-www-form-urlencoded; charset=iso-8859-1"
    assert as_searched(latin, b"q=caf%E9&r=caf\xe9", "/orders") == "<xformValues><q>café</q><r>café</r></xformValues>"
    assert as_searched(FORM["Content-Type"], b"q=caf%E9", "/orders") == "<xformValues><q>caf\ufffd</q></xformValues>"
    assert as_searched(latin.replace("charset", "Charset"), b"q=caf%E9", "/orders") == (
        "<xformValues><q>caf\ufffd</q></xformValues>"  # `Charset` is not found: UTF-8
    )
    assert as_searched(latin.replace("iso-8859-1", "nope"), b"q=it%27s", "/orders") is None  # the builder throws
    handed = request_of("POST", "/orders", {"Content-Type": latin}, "note=caf%E9", b"note=caf%E9")
    assert handed.body == '{"xformValues":{"note":"café"}}'
    unknown = {"Content-Type": latin.replace("iso-8859-1", "nope")}
    assert request_of("POST", "/orders", unknown, "note=x", b"note=x").body is None  # the builder threw: no body
