"""APIM 4.5's API keys, minted as APIM mints them: for the tests, and for the APIM double's Developer Portal.

carbon-apimgt `impl/token/DefaultApiKeyGenerator`: the header is `typ: JWT`, `alg` RS256 (`SHA256withRSA`),
`x5t#S256` the base64url of the hex SHA-256 of the signing certificate, and `kid` the API key alias
(`APIUtil.getApiKeyAlias`, by default `gateway_certificate_alias`); the body `sub` (with the tenant:
`getUserNameWithTenantSuffix`), `jti` a UUID, `iss` the OIDC issuer, `iat`, `exp` unless the key never expires
(validity -1), then either the whole `application` (id, uuid, name, tier, owner), `subscribedAPIs` and `tierInfo`,
or with lightweight keys only `application` {id, uuid}; `keytype`, `token_type: apiKey`, and `permittedIP` /
`permittedReferer` when the key was generated with them (comma-separated strings).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
import uuid
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from harness import oidc

ALIAS = "gateway_certificate_alias"  # APIConstants.GATEWAY_PUBLIC_CERTIFICATE_ALIAS
ISSUER = "https://localhost:9443/oauth2/token"  # APIM's default IDTokenIssuerID, the management port's /oauth2/token


class ApiKeySigner:
    """APIM's primary keystore key (`wso2carbon`) and its self-signed certificate: it signs API keys, and as
    `key_manager_key` the Resident Key Manager's JWT access tokens, whose JWKS endpoint serves its public key."""

    def __init__(self, alias: str = ALIAS):
        self.alias = alias
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(self.private, hashes.SHA256())
        )
        digest = hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER))
        # An API key's header names the certificate by the hex of its SHA-256, base64url-encoded as text.
        self.thumbprint = base64.urlsafe_b64encode(digest.hexdigest().encode()).decode()
        # The Resident Key Manager's tokens and its JWKS name the key by a `kid` derived from the certificate.
        key_id = base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=") + "_RS256"
        self.key_manager_key = oidc.SigningKey("RS256", kid=key_id, private=self.private)

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def mint(
        self,
        application: dict[str, Any],
        key_type: str = "PRODUCTION",
        validity_seconds: int = 3600,
        permitted_ip: str | None = None,
        permitted_referer: str | None = None,
        subject: str = "admin@carbon.super",
        issued_at: float | None = None,
        headers: dict[str, Any] | None = None,
        issuer: str = ISSUER,
        **claims: Any,
    ) -> str:
        """An API key for `application` ({id, uuid, name, tier, owner}); `validity_seconds` -1 never expires;
        `issuer` is APIM's OIDC issuer identifier, the Resident Key Manager's issuer too."""
        now = int(issued_at if issued_at is not None else time.time())
        header = {
            "typ": "JWT",
            "x5t#S256": self.thumbprint,
            "kid": self.alias,
            **(headers or {}),
        }
        body: dict[str, Any] = {"sub": subject, "jti": str(uuid.uuid4()), "iss": issuer, "iat": now}
        if validity_seconds != -1:
            body["exp"] = now + validity_seconds
        body.update(application=application, subscribedAPIs=[], tierInfo={}, keytype=key_type)
        body["token_type"] = "apiKey"  # noqa: S105 - a token type (APIConstants.JwtTokenConstants.API_KEY_TOKEN_TYPE)
        if permitted_ip is not None:
            body["permittedIP"] = permitted_ip
        if permitted_referer is not None:
            body["permittedReferer"] = permitted_referer
        body.update(claims)
        return jwt.encode(body, self.private, algorithm="RS256", headers=header)
