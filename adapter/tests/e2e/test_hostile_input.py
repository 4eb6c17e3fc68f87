"""Hostile input is answered with a clear denial, never a crash, a 5xx or an allow."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from harness import oidc

API = "/httpbin/1.0.0"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)])


def hostile_tokens(stack) -> dict[str, str]:
    claims = oidc.claims(stack.jwks.issuer, "client-subscribed", "scope_ip scope_headers")
    good = stack.token()
    head, _, signature = good.split(".")
    public_pem = stack.key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'kid': stack.key.kid}).encode())}.{b64(json.dumps(claims).encode())}"
    )
    hs_with_public_key = (
        signing_input + "." + b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    )
    nested: list = []
    for _ in range(500):
        nested = [nested]
    tokens = {
        "alg none": unsigned({"alg": "none", "typ": "JWT"}, claims),
        "alg none, no kid, signature kept": unsigned({"alg": "none"}, claims, b"x" * 64),
        "HS256 signed with the public key": hs_with_public_key,
        "wrong kid": unsigned({"alg": "RS256", "kid": "no-such-kid"}, claims, b"\0" * 256),
        "truncated": good[: len(good) // 2],
        "signature cut": good.rsplit(".", 1)[0] + ".",
        "claims tampered": ".".join([head, b64(json.dumps({**claims, "azp": "x"}).encode()), signature]),
        "deeply nested claims": stack.key.sign({**claims, "deep": nested}),
        "header not json": b64(b"{{{{") + "." + b64(b"{}") + ".",
        "header a list": b64(b"[1,2]") + "." + b64(b"{}") + ".",
        "huge": "a" * 20_000,
        "unicode": "tök€n.ü.∑",
        "kid not a string": unsigned({"alg": "RS256", "kid": {"x": 1}}, claims, b"x"),
    }  # fmt: skip
    assert sorted(tokens) == sorted(HOSTILE)
    return tokens


HOSTILE = [
    "alg none", "alg none, no kid, signature kept", "HS256 signed with the public key", "wrong kid",
    "truncated", "signature cut", "claims tampered", "deeply nested claims", "header not json",
    "header a list", "huge", "unicode", "kid not a string",
]  # fmt: skip


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_tokens_are_401_900901(stack, gateway, hostile):
    token = hostile_tokens(stack)[hostile]
    resp = requests.get(gateway.url + API + "/ip", headers={"authorization": f"Bearer {token}".encode()}, timeout=10)
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "900901"
    assert stack.adapter.proc.alive


def raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        return s.recv(65536)


@pytest.mark.parametrize(
    "header",
    [b"Authorization: Bearer \xff\xfe\xfd.\xc3\x28.\x80", b"Authorization: \xff\xff", b"X-Junk: \xc0\xaf" * 50],
)
def test_non_utf8_headers_are_answered(stack, gateway, header):
    head = b"GET " + API.encode() + b"/ip HTTP/1.1\r\nHost: localhost\r\n" + header + b"\r\nConnection: close\r\n\r\n"
    answer = raw_request(gateway.port, head)
    assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 400 Bad Request")
    assert stack.adapter.proc.alive


def test_many_headers_and_huge_values_are_answered(stack, gateway):
    headers = {f"x-filler-{i}": "v" * 500 for i in range(80)}
    resp = requests.get(gateway.url + API + "/ip", headers=headers, timeout=10)
    assert resp.status_code in (401, 431)
    assert stack.adapter.proc.alive


def test_a_burst_of_garbage_does_not_hurt_good_callers(stack, gateway):
    tokens = list(hostile_tokens(stack).values())

    def one(i: int) -> int:
        bad = {"authorization": f"Bearer {tokens[i % len(tokens)]}".encode()}
        return requests.get(gateway.url + API + "/ip", headers=bad, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = set(pool.map(one, range(200)))
    assert statuses == {401}
    good = {"authorization": f"Bearer {stack.token()}"}
    assert requests.get(gateway.url + API + "/ip", headers=good, timeout=10).status_code == 200
    assert stack.adapter.proc.alive
