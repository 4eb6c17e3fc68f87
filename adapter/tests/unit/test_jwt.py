"""JWT access tokens on their own: what a key manager's token must be to pass, and which rejections are worth
remembering (`cacheable`: a signature was checked, so a repeat would cost the same work again)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from apim_adapter import errors
from apim_adapter.config import KeyManager
from apim_adapter.tokens import TokenRejected
from apim_adapter.tokens.jwt import JwtValidator, route
from harness import oidc
from harness.pipeline import ISSUER, KEY
from harness.sample_catalog import KM

SKEW = 30  # KeyManager.clock_skew_seconds by default
JWKS = "https://is.example.com/oauth2/jwks"


class Keys:
    """A key manager's signing keys as the JWKS cache hands them out (fetching them is not what is tested here)."""

    def __init__(self, *keys: oidc.SigningKey):
        self.keys = {k.kid: jwt.PyJWK(k.jwk()) for k in keys}

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        return self.keys.get(kid)

    def known(self, kid: str | None) -> jwt.PyJWK | None:
        return self.keys.get(kid)


def claims(scope="scope_ip scope_headers", **extra) -> dict:
    return oidc.claims(ISSUER, "client-subscribed", scope, **extra)


def validate(token: str, **key_manager):
    header, issuer = route(token)
    assert issuer == jwt.decode(token, options={"verify_signature": False})["iss"]
    validator = JwtValidator(KeyManager(name=KM, issuer=ISSUER, jwks_uri=JWKS, **key_manager), Keys(KEY))
    return asyncio.run(validator.validate(token, header))


def rejected(token: str, **key_manager) -> TokenRejected:
    with pytest.raises(TokenRejected) as info:
        validate(token, **key_manager)
    return info.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, payload: dict, sign=lambda signing_input: b"") -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def test_a_valid_token_becomes_its_principal():
    c = claims()
    p = validate(KEY.sign(c))
    assert (p.key_manager, p.consumer_key, p.subject, p.jti) == (KM, "client-subscribed", "client-subscribed", c["jti"])
    assert p.scopes == {"scope_ip", "scope_headers"}
    assert p.expires_at == c["exp"] + SKEW  # accepted until the skew allows, and cached as long


def test_with_its_key_in_memory_a_token_is_verified_on_the_spot_and_the_same_way():
    validator = JwtValidator(KeyManager(name=KM, issuer=ISSUER, jwks_uri=JWKS), Keys(KEY))
    good, forged = KEY.sign(claims()), oidc.SigningKey("RS256", kid=KEY.kid).sign(claims())
    assert validator.validate_now(good, route(good)[0]) == validate(good)
    with pytest.raises(TokenRejected) as info:
        validator.validate_now(forged, route(forged)[0])
    assert (info.value.error.code, info.value.cacheable) == ("900901", True)
    unknown = oidc.SigningKey("RS256").sign(claims())
    assert validator.validate_now(unknown, route(unknown)[0]) is None  # the key manager must be asked


# ---- the algorithm allow-list ----


def test_alg_none_is_refused_before_anything_else():
    e = rejected(unsigned({"alg": "none", "kid": KEY.kid}, claims()))
    assert (e.error.code, e.reason, e.cacheable) == ("900901", "algorithm 'none' not allowed", False)


def test_hs256_signed_with_the_public_key_as_secret_is_refused():
    """The classic confusion attack: the RSA public key is public, so anyone can compute this HMAC."""
    public_pem = KEY.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = unsigned(
        {"alg": "HS256", "typ": "JWT", "kid": KEY.kid},
        claims(),
        lambda signing_input: hmac.new(public_pem, signing_input, hashlib.sha256).digest(),
    )
    e = rejected(forged)
    assert (e.error.code, e.reason, e.cacheable) == ("900901", "algorithm 'HS256' not allowed", False)


def test_an_algorithm_outside_the_key_managers_list_is_refused():
    token = KEY.sign(claims())  # RS256
    assert validate(token).consumer_key == "client-subscribed"
    e = rejected(token, algorithms=("ES256",))
    assert (e.error.code, e.reason) == ("900901", "algorithm 'RS256' not allowed")


# ---- signature ----


def test_a_forged_signature_is_refused_and_worth_remembering():
    impostor = oidc.SigningKey("RS256", kid=KEY.kid)  # same kid, another key
    e = rejected(impostor.sign(claims()))
    assert (e.error.code, e.cacheable) == ("900901", True)


def test_changed_claims_under_a_genuine_signature_are_refused():
    header, _, signature = KEY.sign(claims(scope="scope_ip")).split(".")
    widened = b64(json.dumps(claims(scope="scope_ip scope_headers admin")).encode())
    e = rejected(f"{header}.{widened}.{signature}")
    assert (e.error.code, e.cacheable) == ("900901", True)


def test_an_unknown_signing_key_is_refused_but_not_remembered():
    """A new kid may appear at the key manager any moment: the JWKS is asked again, not a cached 'no'."""
    e = rejected(oidc.SigningKey("RS256").sign(claims()))
    assert (e.error.code, e.reason, e.cacheable) == ("900901", "unknown signing key", False)


# ---- time claims, with the clock skew ----


def test_expired_beyond_the_skew_is_900901_within_it_still_valid():
    """JWTValidatorImpl.validateToken: an expired JWT is API_AUTH_INVALID_CREDENTIALS, as any invalid one."""
    now = int(time.time())
    late = rejected(KEY.sign(claims(exp=now - SKEW - 5)))
    assert (late.error, late.reason, late.cacheable) == (errors.INVALID, "expired", True)
    assert (late.error.code, late.error.status) == ("900901", 401)
    assert validate(KEY.sign(claims(exp=now - SKEW + 5))).expires_at == now + 5
    assert rejected(KEY.sign(claims(exp=now - 5)), clock_skew_seconds=0).error.code == "900901"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_not_yet_valid_beyond_the_skew_is_refused_within_it_accepted(claim):
    now = int(time.time())
    early = rejected(KEY.sign(claims(**{claim: now + SKEW + 60})))
    assert (early.error.code, early.reason, early.cacheable) == ("900901", "not yet valid", True)
    assert validate(KEY.sign(claims(**{claim: now + SKEW - 10}))).consumer_key == "client-subscribed"


def test_a_token_without_exp_is_refused():
    c = claims()
    del c["exp"]
    assert rejected(KEY.sign(c)).error.code == "900901"


def test_another_issuer_is_refused_by_this_key_manager():
    e = rejected(KEY.sign(claims(iss="https://evil.example/oauth2/token")))
    assert (e.error.code, e.cacheable) == ("900901", True)


# ---- audience ----


def test_audience_is_checked_only_when_configured():
    api = "https://api.example.com"
    assert validate(KEY.sign(claims(aud="anything"))).consumer_key == "client-subscribed"
    assert validate(KEY.sign(claims(aud=[api, "other"])), audiences=(api,)).consumer_key == "client-subscribed"
    wrong = rejected(KEY.sign(claims(aud="client-subscribed")), audiences=(api,))
    assert (wrong.error.code, wrong.cacheable) == ("900901", True)
    c = claims()
    del c["aud"]
    assert rejected(KEY.sign(c), audiences=(api,)).error.code == "900901"


# ---- claims ----


def test_no_consumer_key_claim_is_403_900908():
    c = claims()
    del c["azp"]
    e = rejected(KEY.sign(c))
    assert (e.error.code, e.error.status, e.reason) == ("900908", 403, "no azp claim")
    assert validate(KEY.sign(c), consumer_key_claim="client_id").consumer_key == "client-subscribed"
    assert rejected(KEY.sign(claims(azp=""))).error.code == "900908"


def test_a_consumer_key_claim_holding_a_list_gives_its_first_element():
    """DefaultJWTTransformer.getTransformedConsumerKey takes the first of a list (some IDPs, ForgeRock, write one);
    an empty list, or one of other than strings, is no consumer key."""
    assert validate(KEY.sign(claims(azp=["client-subscribed", "other"]))).consumer_key == "client-subscribed"
    assert rejected(KEY.sign(claims(azp=[]))).error.code == "900908"
    assert rejected(KEY.sign(claims(azp=[7]))).error.code == "900908"


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("a b  c", {"a", "b", "c"}),  # OAuth 2: space-separated
        (["a", "b"], {"a", "b"}),  # a JSON list, as some key managers send
        (["a", 7, None], {"a"}),  # only strings count
        (7, {"default"}),  # neither: APIM's `default` scope (DefaultJWTTransformer.getTransformedScopes)
    ],
)
def test_scopes_as_a_string_or_a_list(scope, expected):
    assert validate(KEY.sign(claims(scope=scope))).scopes == expected
    assert validate(KEY.sign(claims(scp=scope)), scopes_claim="scp").scopes == expected


def test_a_jwt_without_its_scopes_claim_has_apims_default_scope():
    """DefaultJWTTransformer.getTransformedScopes: no claim is `default`; an empty one is no scope (APIM's [""])."""
    assert validate(KEY.sign(claims(scope=""))).scopes == {"default"}  # IS 7 leaves the claim out
    assert validate(KEY.sign(claims(scope="a")), scopes_claim="scp").scopes == {"default"}  # another claim's
    assert validate(KEY.sign(claims(scp="")), scopes_claim="scp").scopes == set()


def test_claims_nested_too_deeply_are_refused():
    deep: object = "x"
    for _ in range(40):
        deep = {"n": deep}
    e = rejected(KEY.sign(claims(extra=deep)))
    assert (e.error.code, e.reason) == ("900901", "claims nested too deeply")
    shallow: object = "x"
    for _ in range(10):
        shallow = [shallow]
    assert validate(KEY.sign(claims(extra=shallow))).claims["extra"] == shallow


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "a.b.c", "e30.W10.x", b64(b'{"alg":"RS256"}') + ".!!!.x", "." * 2],
    ids=["one part", "not base64 json", "payload not an object", "bad base64", "empty parts"],
)
def test_malformed_tokens_are_refused_cheaply(token):
    with pytest.raises(TokenRejected) as info:
        route(token)
    assert (info.value.error.code, info.value.reason, info.value.cacheable) == ("900901", "malformed token", False)
