"""The backend JWT (X-JWT-Assertion): WSO2's claims about the caller, signed with the adapter's key, verifiable by
the backend with the public key, and named by a kid the backend can compute from that key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apim_adapter.backend_jwt import DIALECT, RENEW_BEFORE, BackendJwtSigner
from apim_adapter.config import BackendJwt
from harness.pipeline import InProcess, token

NOW = 1_800_000_000.25


def private_key(algorithm: str):
    if algorithm.startswith("RS"):
        return rsa.generate_private_key(65537, 2048)
    return ec.generate_private_key(ec.SECP256R1())


def signer(tmp_path: Path, algorithm: str = "ES256", **config) -> tuple[BackendJwtSigner, object]:
    key = private_key(algorithm)
    path = tmp_path / "backend.key"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    config = BackendJwt(enabled=True, algorithm=algorithm, key_file=str(path), **config)
    return BackendJwtSigner(config, path), key.public_key()


def decoded(assertion: str, public, algorithm: str = "ES256") -> dict:
    return jwt.decode(assertion, public, algorithms=[algorithm], options={"verify_exp": False, "verify_iat": False})


def test_the_assertion_carries_wso2s_claims_about_the_caller(tmp_path):
    sign, public = signer(tmp_path)
    p = InProcess()
    header, assertion, _ = sign(p.check(bearer=token(sub="alice@carbon.super")), NOW)
    assert header == "x-jwt-assertion"
    claims = decoded(assertion, public)
    assert {k.removeprefix(DIALECT): v for k, v in claims.items() if k.startswith(DIALECT)} == {
        "subscriber": "admin",
        "applicationid": "1",  # the numeric id APIM gives applications, as a string
        "applicationUUId": "app-subscribed",
        "applicationname": "subscribed",
        "applicationtier": "Unlimited",
        "apiname": "HttpbinAPI",
        "apicontext": "/httpbin/1.0.0",
        "version": "1.0.0",
        "tier": "Gold",
        "keytype": "PRODUCTION",
        "enduser": "alice@carbon.super",
    }
    assert DIALECT == "http://wso2.org/claims/"
    assert (claims["iss"], claims["sub"]) == ("wso2.org/products/am", "alice@carbon.super")


def test_exp_is_now_plus_ttl_and_the_renderer_is_told_to_renew_before(tmp_path):
    sign, public = signer(tmp_path, ttl_seconds=300, issuer="https://gw.example.com")
    _, assertion, renew_at = sign(InProcess().check(bearer=token()), NOW)
    claims = decoded(assertion, public)
    assert (claims["iat"], claims["exp"], claims["iss"]) == (int(NOW), int(NOW) + 300, "https://gw.example.com")
    assert renew_at == int(NOW) + 300 - RENEW_BEFORE


def test_the_kid_is_the_sha256_of_the_public_key(tmp_path):
    sign, public = signer(tmp_path)
    _, assertion, _ = sign(InProcess().check(bearer=token()), NOW)
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = jwt.get_unverified_header(assertion)["kid"]
    assert kid == hashlib.sha256(spki).hexdigest()[:32]
    assert jwt.get_unverified_header(assertion)["alg"] == "ES256"


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_only_the_adapters_key_verifies_it(tmp_path, algorithm):
    sign, public = signer(tmp_path, algorithm)
    _, assertion, _ = sign(InProcess().check(bearer=token()), NOW)
    assert decoded(assertion, public, algorithm)["sub"] == "client-subscribed"
    with pytest.raises(jwt.InvalidSignatureError):
        decoded(assertion, private_key(algorithm).public_key(), algorithm)


def test_no_assertion_without_a_caller(tmp_path):
    sign, _ = signer(tmp_path)
    assert sign(InProcess().check("/httpbin/1.0.0/uuid"), NOW) is None  # an unsecured resource


def test_a_token_without_a_subject_names_the_application_owner(tmp_path):
    sign, public = signer(tmp_path)
    _, assertion, _ = sign(InProcess().check(bearer=token(sub="")), NOW)
    claims = decoded(assertion, public)
    assert (claims["sub"], claims[DIALECT + "enduser"]) == ("admin", "")
