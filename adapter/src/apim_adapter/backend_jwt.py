"""The backend JWT (X-JWT-Assertion): WSO2's claims about the caller. Signed once per caller: the renderer keeps
the prepared allow that carries it until `RENEW_BEFORE` seconds before it expires."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .config import BackendJwt

if TYPE_CHECKING:
    from .decision import Decision

DIALECT = "http://wso2.org/claims/"
RENEW_BEFORE = 60


class BackendJwtSigner:
    def __init__(self, config: BackendJwt, key_path: Path):
        self.config = config
        pem = key_path.read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        # backendJwt.algorithm allows RS*, PS* and ES* only: any other key type cannot sign.
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: not an RSA or EC private key")
        self.key = key
        public = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(public).hexdigest()[:32]
        self.header = config.header.lower()

    def __call__(self, d: Decision, now: float) -> tuple[str, str, float] | None:
        """(header, signed assertion, when to sign a new one), or None when the decision names no caller."""
        caller = caller_claims(d)
        if caller is None:
            return None
        exp = int(now) + self.config.ttl_seconds
        claims = {
            "iss": self.config.issuer,
            "sub": caller[DIALECT + "enduser"] or caller[DIALECT + "subscriber"],
            "iat": int(now),
            "exp": exp,
            **caller,
        }
        token = jwt.encode(claims, self.key, algorithm=self.config.algorithm, headers={"kid": self.kid})
        return self.header, token, exp - RENEW_BEFORE


def caller_claims(d: Decision) -> dict[str, str] | None:
    """What the backend JWT says of the caller, in WSO2's claim dialect; None when the decision names no caller.
    Also what an advanced policy's JWT-claim conditions read beside the token's own claims (conditions.py)."""
    api, app, key, principal = d.api, d.application, d.key_mapping, d.principal
    if api is None or app is None or key is None or principal is None:
        return None
    return {
        DIALECT + "subscriber": app.owner,
        DIALECT + "applicationid": str(app.id if app.id is not None else app.uuid),
        DIALECT + "applicationUUId": app.uuid,
        DIALECT + "applicationname": app.name,
        DIALECT + "applicationtier": app.policy,
        DIALECT + "apiname": api.name,
        DIALECT + "apicontext": api.context,
        DIALECT + "version": api.version,
        DIALECT + "tier": d.tier,
        DIALECT + "keytype": key.key_type,
        DIALECT + "enduser": principal.subject,
    }
