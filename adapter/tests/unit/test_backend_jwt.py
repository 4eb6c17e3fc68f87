"""The backend JWT (X-JWT-Assertion): WSO2's claims about the caller, signed with the adapter's key, verifiable by
the backend with the public key, and named by a kid the backend can compute from that key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apim_adapter.backend_jwt import DIALECT, RENEW_BEFORE, BackendJwtSigner, signer_for
from apim_adapter.cli import main
from apim_adapter.config import BackendJwt, ConfigError, load
from harness import oidc
from harness.pipeline import ISSUER, KEY, InProcess, token
from harness.sample_catalog import catalog_document

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


def wso2_claims(claims: dict) -> dict:
    return {k.removeprefix(DIALECT): v for k, v in claims.items() if k.startswith(DIALECT)}


def test_the_assertion_carries_wso2s_claims_about_the_caller(tmp_path):
    """APIMgtGatewayJWTGeneratorImpl.populateStandardClaims, for a user's token (IS: `aut: APPLICATION_USER`)."""
    sign, public = signer(tmp_path)
    p = InProcess()
    header, assertion, _ = sign(p.check(bearer=token(sub="alice", aut="APPLICATION_USER")), NOW)
    assert header == "x-jwt-assertion"
    claims = decoded(assertion, public)
    assert wso2_claims(claims) == {
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
        "usertype": "Application_User",  # JWTConstants.AUTH_APPLICATION_USER_LEVEL_TOKEN, whatever the token
        "enduser": "alice@carbon.super",  # the subject with its subscriber's tenant
        "enduserTenantId": "-1234",
    }
    assert DIALECT == "http://wso2.org/claims/"
    assert (claims["iss"], claims["sub"]) == ("wso2.org/products/am", "alice")


def test_an_application_token_names_the_applications_owner_as_end_user(tmp_path):
    sign, public = signer(tmp_path)
    _, assertion, _ = sign(InProcess().check(bearer=token()), NOW)  # IS client credentials: `aut: APPLICATION`
    claims = decoded(assertion, public)
    assert claims[DIALECT + "enduser"] == "admin@carbon.super"
    assert claims["sub"] == "client-subscribed"  # the token's own subject, whoever the end user is


def test_a_token_without_a_user_type_names_its_subject(tmp_path):
    """Keycloak and other IdPs write no `aut`: DefaultJWTTransformer reads that as a user's token."""
    sign, public = signer(tmp_path)
    claims = oidc.claims(ISSUER, "client-subscribed", "scope_ip", sub="f3a9")
    del claims["aut"]
    _, assertion, _ = sign(InProcess().check(bearer=KEY.sign(claims)), NOW)
    assert decoded(assertion, public)[DIALECT + "enduser"] == "f3a9@carbon.super"


def tenant_catalog() -> dict:
    doc = catalog_document()
    for app in doc["applications"]:
        app.update(subName="bob@wso2.com", organization="wso2.com")
    return doc


@pytest.mark.parametrize(("aut", "enduser"), [("APPLICATION", "bob@wso2.com"), ("APPLICATION_USER", "carol@wso2.com")])
def test_another_tenants_caller_is_named_in_that_tenant_without_a_tenant_id(tmp_path, aut, enduser):
    sign, public = signer(tmp_path)
    _, assertion, _ = sign(InProcess(tenant_catalog()).check(bearer=token(sub="carol", aut=aut)), NOW)
    claims = wso2_claims(decoded(assertion, public))
    assert (claims["enduser"], claims["subscriber"]) == (enduser, "bob@wso2.com")
    assert "enduserTenantId" not in claims  # a tenant's id lives in APIM's tenant store, which the adapter never sees


def test_the_tokens_own_claims_go_along_but_never_over_wso2s(tmp_path):
    """populateCustomClaims: every claim of the consumer's JWT but the restricted ones and the excluded; buildBody:
    a standard claim wins a clash."""
    sign, public = signer(tmp_path, excluded_claims=("phone_number",))
    extra = {"email": "alice@example.com", "groups": ["ops", "dev"], "phone_number": "+94", "nbf": 0,
             DIALECT + "tier": "Unlimited", DIALECT + "enduser": "mallory"}  # fmt: skip
    _, assertion, _ = sign(InProcess().check(bearer=token(sub="alice", aut="APPLICATION_USER", **extra)), NOW)
    claims = decoded(assertion, public)
    assert (claims["email"], claims["groups"]) == ("alice@example.com", ["ops", "dev"])
    assert claims["azp"] == claims["client_id"] == "client-subscribed"  # not restricted: APIM copies them too
    assert claims["scope"] == "scope_ip scope_headers"
    assert (claims[DIALECT + "tier"], claims[DIALECT + "enduser"]) == ("Gold", "alice@carbon.super")
    for never in ("aud", "nbf", "aut", "phone_number"):
        assert never not in claims, never
    assert claims["iat"] == int(NOW)  # the assertion's own times, not the token's


def test_json_in_a_string_claim_goes_out_as_json_as_apim_sends_it(tmp_path):
    sign, public = signer(tmp_path)
    extra = {"address": '{"country": "LK"}', "roles": '["admin", "ops"]', "note": "{not json}", "plain": "{a"}
    claims = decoded(sign(InProcess().check(bearer=token(**extra)), NOW)[1], public)
    assert (claims["address"], claims["roles"], claims["plain"]) == ({"country": "LK"}, ["admin", "ops"], "{a")
    assert "note" not in claims  # APIM logs it and leaves it out


def test_an_opaque_tokens_introspection_answer_is_not_copied(tmp_path):
    """APIM signs an opaque token's backend JWT with the key manager's generator, which adds no introspection
    answer (keymgt/token/JWTGenerator); its end user gets the super tenant when it names none."""
    sign, public = signer(tmp_path)
    d = InProcess().check(bearer=token())
    answer = {"active": True, "sub": "alice", "email": "alice@example.com", "client_id": "client-subscribed"}
    assert d.principal is not None
    opaque = dataclasses.replace(d.principal, subject="alice", claims=answer, introspected=True)
    claims = decoded(sign(dataclasses.replace(d, principal=opaque), NOW)[1], public)
    assert claims[DIALECT + "enduser"] == "alice@carbon.super"
    assert not {"sub", "email", "active", "client_id"} & set(claims)


def test_each_assertion_has_its_own_jti(tmp_path):
    sign, public = signer(tmp_path)
    d = InProcess().check(bearer=token())
    first, second = (decoded(sign(d, NOW)[1], public)["jti"] for _ in range(2))
    assert first != second
    assert uuid.UUID(first)


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_the_published_jwks_verifies_it(tmp_path, algorithm):
    """What a backend (or istiod, for a RequestAuthentication's jwksUri) reads from the admin port's /jwks."""
    sign, _ = signer(tmp_path, algorithm)
    _, assertion, _ = sign(InProcess().check(bearer=token()), NOW)
    keys = jwt.PyJWKSet.from_json(sign.jwks.decode())
    kid = jwt.get_unverified_header(assertion)["kid"]
    [jwk] = [k for k in keys.keys if k.key_id == kid]
    assert json.loads(sign.jwks)["keys"][0]["use"] == "sig"
    assert decoded(assertion, jwk.key, algorithm)["sub"] == "client-subscribed"


def test_one_assertion_per_token(tmp_path):
    """The renderer keeps one per token and API, as the gateway caches it by token signature: a second token of
    the same caller carries its own claims."""
    sign, public = signer(tmp_path)
    p = InProcess(backend_jwt=sign)
    first, second = token(sub="alice", email="alice@example.com"), token(sub="alice", email="alice@work.example.com")

    def seen(bearer: str) -> str:
        d = p.check(bearer=bearer)
        return dict(p.renderer.allow(d, NOW).upstream)["x-jwt-assertion"]

    assert seen(first) == seen(first)  # kept, not signed again
    assert decoded(seen(second), public)["email"] == "alice@work.example.com"
    assert decoded(seen(first), public)["email"] == "alice@example.com"


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


def test_a_token_without_a_subject_has_none_in_its_assertion(tmp_path):
    sign, public = signer(tmp_path)
    _, assertion, _ = sign(InProcess().check(bearer=token(sub="")), NOW)
    claims = decoded(assertion, public)
    assert "sub" not in claims  # GatewayUtils.constructJWTContent sets one only from the token's
    assert claims[DIALECT + "enduser"] == "admin@carbon.super"  # an application token: its owner


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_a_rotation_publishes_the_next_key_before_it_signs(tmp_path):
    """Publish the next key beside the signing one; once verifiers hold that JWKS, sign with it: what they hold
    verifies both the old key's assertions and the new key's, by the same kid."""
    now_key, next_key = private_key("ES256"), private_key("ES256")
    for name, key in (("now.key", now_key), ("next.key", next_key)):
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (tmp_path / name).write_bytes(pem)
    (tmp_path / "next.pub").write_bytes(public_pem(next_key))
    config = BackendJwt(enabled=True, key_file="now.key", published_key_files=("next.pub", "now.key"))
    before = BackendJwtSigner(config, tmp_path / "now.key", (tmp_path / "next.pub", tmp_path / "now.key"))
    held = jwt.PyJWKSet.from_json(before.jwks.decode())
    assert len(held.keys) == 2  # the signing key is published once, however often it is listed
    after = BackendJwtSigner(config, tmp_path / "next.key")
    d = InProcess().check(bearer=token())
    for signer_ in (before, after):
        assertion = signer_(d, NOW)[1]
        [jwk] = [k for k in held.keys if k.key_id == jwt.get_unverified_header(assertion)["kid"]]
        assert decoded(assertion, jwk.key)["sub"] == "client-subscribed"


def test_a_published_key_says_its_algorithm_only_where_it_can_sign_with_the_configured_one(tmp_path):
    rsa_key = private_key("RS256")
    (tmp_path / "rsa.pub").write_bytes(public_pem(rsa_key))
    sign, _ = signer(tmp_path, "ES256")
    published = BackendJwtSigner(sign.config, tmp_path / "backend.key", (tmp_path / "rsa.pub",))
    ec_jwk, rsa_jwk = json.loads(published.jwks)["keys"]
    assert (ec_jwk["alg"], ec_jwk["crv"]) == ("ES256", "P-256")
    assert rsa_jwk["kty"] == "RSA"
    assert "alg" not in rsa_jwk


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"not a key", "not a usable PEM key or certificate"),
        ("encrypted", "not a usable PEM key or certificate"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a usable PEM key or certificate"),
    ],
)
def test_a_key_that_cannot_be_used_is_a_clear_error_naming_its_file(tmp_path, capsys, content, message):
    path = tmp_path / "backend.key"
    if content == "encrypted":
        content = private_key("ES256").private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        )
    if content is not None:
        path.write_bytes(content)
    (tmp_path / "config.yaml").write_text(
        f"backendJwt: {{enabled: true, keyFile: {path}}}\ncontrolPlane: {{type: file, path: catalog.yaml}}\n"
    )
    (tmp_path / "catalog.yaml").write_text("apis: []\n")
    assert main(["serve", "--config", str(tmp_path / "config.yaml")]) == 2  # refused before serving
    err = capsys.readouterr().err
    assert f"invalid configuration: backendJwt: {'cannot read ' if content is None else ''}{path}" in err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("algorithm", "key_algorithm"), [("RS256", "ES256"), ("ES256", "RS256"), ("ES384", "ES256")])
def test_a_key_that_cannot_sign_the_configured_algorithm_is_refused_at_start(tmp_path, algorithm, key_algorithm):
    path = tmp_path / "backend.key"
    pem = private_key(key_algorithm).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    (tmp_path / "config.yaml").write_text(
        f"backendJwt: {{enabled: true, keyFile: {path}, algorithm: {algorithm}}}\n"
        "controlPlane: {type: file, path: catalog.yaml}\n"
    )
    (tmp_path / "catalog.yaml").write_text("apis: []\n")
    with pytest.raises(ConfigError, match=f"cannot sign {algorithm}"):
        signer_for(load(str(tmp_path / "config.yaml")))
