"""The compiled gRPC request reader (adapter/native) against the Python reader on the protobuf runtime.

For any bytes, the compiled reader answers exactly what `fields_of` answers for the parsed request, or declines
(None) and leaves the request to it: these tests build requests as Envoy sends them, requests written field by
field on the wire (repeats, merges, oneofs, bad UTF-8), and thousands of mutated ones.
"""

from __future__ import annotations

import random

import pytest
from envoy.service.auth.v3 import external_auth_pb2 as pb
from google.protobuf.message import DecodeError

from apim_adapter import cli
from apim_adapter.config import ConfigError
from apim_adapter.prepared import credential_of
from apim_adapter.transport import REQUEST_HEADERS, body_size
from apim_adapter.transport import grpc as grpc_transport
from apim_adapter.transport.grpc import (
    _length_delimited as field,  # one length-delimited protobuf field: tag, varint length, payload
)
from apim_adapter.transport.grpc import (
    client_address,
    client_ip,
    fields_of,
    read_native,
    request_reader,
    to_input,
)

needs_native = pytest.mark.skipif(
    read_native is None, reason="apim-adapter-native is not installed (`make setup` builds it where cargo is)"
)

ENVOY_HEADERS = {
    ":authority": "api.example.com",
    ":method": "GET",
    ":path": "/httpbin/1.0.0/get?page=2",
    ":scheme": "https",
    "accept": "*/*",
    "user-agent": "curl/8.5.0",
    "x-forwarded-for": "203.0.113.9",
    "x-forwarded-proto": "https",
    "x-request-id": "0f9a3c52-5b1e-4bb4-9d4e-7e1c2f6a9b10",
    "x-envoy-internal": "true",
}


def envoy_request(headers: dict[str, str], peer: str = "10.244.0.7", **http) -> pb.CheckRequest:
    """A CheckRequest as Envoy's ext_authz filter fills it (envoy/service/auth/v3/attribute_context.proto)."""
    request = pb.CheckRequest()
    attrs = request.attributes
    attrs.source.address.socket_address.address = peer
    attrs.source.address.socket_address.port_value = 51234
    attrs.destination.address.socket_address.address = "10.244.0.9"
    attrs.destination.address.socket_address.port_value = 8080
    attrs.request.time.seconds = 1_790_000_000
    h = attrs.request.http
    h.id, h.method, h.path, h.host = "1234567890", "GET", "/httpbin/1.0.0/get?page=2", "api.example.com"
    h.scheme, h.protocol, h.size = "https", "HTTP/1.1", 0
    for name, value in http.items():
        setattr(h, name, value)
    h.headers.update(headers)
    attrs.context_extensions["api"] = "httpbin"
    return request


def both(raw: bytes):
    """(the compiled reader's answer, the Python reader's answer or the DecodeError's type)."""
    try:
        expected = fields_of(pb.CheckRequest.FromString(raw))
    except DecodeError as exc:
        expected = type(exc)
    return read_native(raw), expected


def header_entry(key: str | bytes, value: str | bytes) -> bytes:
    as_bytes = [v.encode() if isinstance(v, str) else v for v in (key, value)]
    return field(3, field(1, as_bytes[0]) + field(2, as_bytes[1]))  # HttpRequest.headers: a map entry


def check_request_of(http: bytes, source: bytes = b"") -> bytes:
    """CheckRequest{attributes{source, request{http}}} around an HttpRequest's bytes."""
    return field(1, (field(1, source) if source else b"") + field(4, field(2, http)))


def test_the_python_reader_reads_what_the_whole_check_reads():
    token = "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    request = envoy_request({**ENVOY_HEADERS, "authorization": token, "x-envoy-external-address": "198.51.100.4"})
    credential, method, path, host, user_agent, request_id, forwarded, external, peer = fields_of(request)
    assert credential == credential_of(token)
    assert (method, path, host, user_agent) == ("GET", "/httpbin/1.0.0/get?page=2", "api.example.com", "curl/8.5.0")
    assert (request_id, forwarded, external, peer) == (
        ENVOY_HEADERS["x-request-id"],
        "203.0.113.9",
        "198.51.100.4",
        "10.244.0.7",
    )
    assert client_address(forwarded, external, peer) == client_ip(request.attributes.request.http.headers, peer)
    assert fields_of(envoy_request(ENVOY_HEADERS))[0] is None  # no Authorization header: no credential
    assert fields_of(envoy_request({**ENVOY_HEADERS, "authorization": ""}))[0] is None


def test_the_whole_check_reads_the_body_size_a_bandwidth_tier_counts():
    """The client's Content-Length, as APIM's gateway reads it; without one, the body the gateway included in the
    check (`includeRequestBodyInCheck`; bytes in `raw_body`, or text in `body`), else none."""
    assert to_input(envoy_request({**ENVOY_HEADERS, "content-length": "600"})).size == 600
    with_body = envoy_request(ENVOY_HEADERS)
    with_body.attributes.request.http.raw_body = b"\x00" * 70
    assert to_input(with_body).size == 70
    as_text = envoy_request(ENVOY_HEADERS, body="é" * 10)
    assert to_input(as_text).size == 20  # bytes, not characters
    assert to_input(envoy_request(ENVOY_HEADERS)).size == 0
    # What Envoy's codecs would refuse is never a size: the body's, if any.
    for bad in ("-1", "6e2", "\u0666\u0660\u0660", "9" * 20, " 600", ""):
        assert body_size(bad, 7) == 7, bad


@needs_native
@pytest.mark.parametrize(
    "extra",
    [
        {"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
        {"authorization": "Bearer " + "x" * 9000},  # a length that takes a three-byte varint
        {"authorization": ""},
        {},
        {"authorization": "Basic dXNlcjpwYXNz", "x-forwarded-for": "192.0.2.1, 203.0.113.9, 10.0.0.2"},
        {"authorization": "Bearer t", "x-envoy-external-address": "198.51.100.4", "x-forwarded-for": ""},
        {"authorization": "Bearer t", "user-agent": "Mozilla/5.0 (X11; Linux) — émoji 🚀", "x-request-id": ""},
    ],
)
def test_the_compiled_reader_answers_as_the_python_reader_for_requests_as_envoy_sends_them(extra):
    raw = envoy_request({**ENVOY_HEADERS, **extra}).SerializeToString()
    native, expected = both(raw)
    assert native == expected


@needs_native
def test_both_readers_read_the_same_behind_a_gateway_that_sends_only_the_listed_headers():
    """The gRPC allowlist (transport.REQUEST_HEADERS) drops headers neither reader needs, pseudo-headers included:
    the method, host and path come from the check's attributes."""
    every = {
        **ENVOY_HEADERS,
        "authorization": "Bearer abc",
        "cookie": "session=1",
        "x-envoy-external-address": "1.2.3.4",
    }
    listed = {name: value for name, value in every.items() if name in REQUEST_HEADERS}
    assert ":path" not in listed
    assert "cookie" not in listed
    for reader in (fields_of, lambda request: read_native(request.SerializeToString())):
        assert reader(envoy_request(listed)) == reader(envoy_request(every))


@needs_native
def test_the_compiled_reader_reads_an_empty_request_and_missing_fields_as_protobuf_does():
    for raw in (
        b"",
        pb.CheckRequest(attributes={}).SerializeToString(),
        envoy_request({}, peer="").SerializeToString(),
    ):
        native, expected = both(raw)
        assert native == expected
    native, expected = both(envoy_request({}, method="", path="", host="").SerializeToString())
    assert native == expected == (None, "", "", "", "", "", "", "", "10.244.0.7")


@needs_native
def test_repeated_fields_read_as_protobuf_reads_them_or_are_declined():
    http = field(2, b"GET") + field(2, b"POST") + header_entry("authorization", "Bearer a")
    http += header_entry("authorization", "Bearer b") + header_entry("user-agent", "ua")  # a map: the last wins
    native, expected = both(check_request_of(http))
    assert native == expected
    assert native[:2] == (credential_of("Bearer b"), "POST")
    # A message field twice is merged by protobuf: the compiled reader leaves that to the Python reader.
    merged = check_request_of(field(2, b"GET")) + check_request_of(header_entry("authorization", "Bearer a"))
    native, expected = both(merged)
    assert native is None
    assert expected[:2] == (credential_of("Bearer a"), "GET")


@needs_native
def test_what_the_compiled_reader_does_not_read_is_declined():
    pipe = field(1, field(2, field(1, b"/run/envoy.sock")))  # Peer{address{pipe{path}}}: not a socket address
    native, expected = both(check_request_of(field(2, b"GET"), source=pipe))
    assert native is None
    assert expected[1] == "GET"
    raw_headers = field(13, field(1, field(1, b"authorization") + field(3, b"Bearer a")))  # encode_raw_headers
    native, expected = both(check_request_of(field(2, b"GET") + raw_headers))
    assert native is None
    assert expected[0] is None


@needs_native
@pytest.mark.parametrize(
    "http",
    [
        header_entry("user-agent", b"\xff\xfe"),
        header_entry(b"x-\xc3(", "v"),
        field(4, b"/caf\xe9"),  # HttpRequest.path
        field(11, b"\x80"),  # HttpRequest.body, a string field the reader does not return
    ],
    ids=["header value", "header name", "path", "body"],
)
def test_a_string_that_is_not_utf8_is_declined_as_protobuf_refuses_it(http):
    native, expected = both(check_request_of(field(2, b"GET") + http))
    assert native is None
    assert expected is DecodeError


@needs_native
def test_malformed_bytes_are_declined_and_mutated_requests_never_read_differently():
    base = envoy_request({**ENVOY_HEADERS, "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"})
    raw = base.SerializeToString()
    for cut in range(1, len(raw)):  # every truncation: a length runs past the end somewhere
        native, expected = both(raw[:cut])
        assert native is None or native == expected, cut
    rng = random.Random(20261130)
    agreed = 0
    for _ in range(5000):
        mutated = bytearray(raw)
        for _ in range(rng.randint(1, 2)):
            at = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.6:
                mutated[at] = rng.randrange(256)
            elif choice < 0.8:
                del mutated[at]
            else:
                mutated.insert(at, rng.randrange(256))
        native, expected = both(bytes(mutated))
        # Where both read the bytes they agree. (The reader does not check what it does not walk, e.g. the
        # destination's address or a context extension, so it may read a request the runtime refuses for those.)
        if native is not None and expected is not DecodeError:
            assert native == expected, bytes(mutated).hex()
            agreed += 1
    assert agreed > 500  # many mutated requests stayed readable: the comparison ran


def test_the_reader_is_the_one_the_config_asks_for(monkeypatch):
    assert request_reader("protobuf") is None
    assert request_reader("auto") is read_native  # the compiled one when it is installed
    monkeypatch.setattr(grpc_transport, "read_native", None)
    assert request_reader("auto") is None
    with pytest.raises(ConfigError, match=r"server\.grpcRequestReader: compiled, but apim-adapter-native"):
        request_reader("compiled")


def test_validate_and_serve_refuse_a_compiled_reader_that_is_not_installed(monkeypatch, tmp_path, capsys):
    (tmp_path / "catalog.yaml").write_text("{}")
    config = tmp_path / "config.yaml"
    config.write_text(
        "controlPlane: {type: file, path: catalog.yaml}\nserver: {grpcRequestReader: compiled}\n"
        "analytics: {enabled: false}\n"
    )
    monkeypatch.setattr(grpc_transport, "read_native", None)
    for command in ("validate", "serve"):  # serve stops before it binds a port
        assert cli.main([command, "--config", str(config)]) == 2
        assert "server.grpcRequestReader: compiled, but apim-adapter-native is not installed" in capsys.readouterr().err
