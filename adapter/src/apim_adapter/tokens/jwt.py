"""JWT access tokens: the issuer picks the key manager, its JWKS verifies the signature."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt

from .. import errors
from ..config import KeyManager
from . import Principal, TokenRejected, scopes_of
from .jwks import JwksCache

_MAX_NESTING = 32


def segment(token: str, index: int) -> dict[str, Any]:
    """One JSON segment of a compact JWS, decoded without verification (only to route the token)."""
    try:
        part = token.split(".")[index]
        data = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(data)
    except (ValueError, IndexError, RecursionError, UnicodeDecodeError):
        raise TokenRejected(errors.INVALID, "malformed token") from None
    if not isinstance(value, dict):
        raise TokenRejected(errors.INVALID, "malformed token")
    return value


def too_deep(value: Any, depth: int = 0) -> bool:
    if depth > _MAX_NESTING:
        return True
    if isinstance(value, dict):
        return any(too_deep(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(too_deep(v, depth + 1) for v in value)
    return False


class JwtValidator:
    def __init__(self, key_manager: KeyManager, jwks: JwksCache):
        self.km, self.jwks = key_manager, jwks

    def _kid(self, header: dict[str, Any]) -> str | None:
        alg = header.get("alg")
        if alg not in self.km.algorithms:
            raise TokenRejected(errors.INVALID, f"algorithm {alg!r} not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected(errors.INVALID, "malformed kid")
        return kid

    def validate_now(self, token: str, header: dict[str, Any]) -> Principal | None:
        """The principal when the signing key is already known (CPU only); None when the keys must be fetched."""
        key = self.jwks.known(self._kid(header))
        return None if key is None else self._verified(token, header, key)

    async def validate(self, token: str, header: dict[str, Any]) -> Principal:
        key = await self.jwks.key(self._kid(header))
        if key is None:
            raise TokenRejected(errors.INVALID, "unknown signing key")
        return self._verified(token, header, key)

    def _verified(self, token: str, header: dict[str, Any], key: jwt.PyJWK) -> Principal:
        km, alg = self.km, header["alg"]
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                issuer=km.issuer,
                audience=list(km.audiences) or None,
                leeway=km.clock_skew_seconds,
                options={"require": ["exp", "iss"], "verify_aud": bool(km.audiences)},
            )
        except jwt.ExpiredSignatureError:
            # JWTValidatorImpl.validateToken: a JWT validateTokenExpiry refuses is API_AUTH_INVALID_CREDENTIALS, as any
            # invalid one, thrown by JWTValidator.authenticate in getAuthenticationFailureMessage's words (never 900903)
            raise TokenRejected(errors.INVALID, "expired", cacheable=True) from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected(errors.INVALID, "not yet valid", cacheable=True) from None
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            raise TokenRejected(errors.INVALID, type(exc).__name__, cacheable=True) from None
        if too_deep(claims):
            raise TokenRejected(errors.INVALID, "claims nested too deeply")
        consumer_key = claims.get(km.consumer_key_claim)
        if isinstance(consumer_key, list) and consumer_key:
            # DefaultJWTTransformer.getTransformedConsumerKey: "For some IDPs, the consumer key is returned as a list
            # (ex: ForgeRock)": its first element.
            consumer_key = consumer_key[0]
        if not isinstance(consumer_key, str) or not consumer_key:
            raise TokenRejected(errors.RESOURCE_FORBIDDEN, f"no {km.consumer_key_claim} claim")
        exp = claims["exp"]
        if not isinstance(exp, int | float):
            raise TokenRejected(errors.INVALID, "exp is not a number")
        jti = claims.get("jti")
        scopes = claims.get(km.scopes_claim)
        return Principal(
            key_manager=km.name,
            consumer_key=consumer_key,
            # DefaultJWTTransformer.getTransformedScopes: a claim neither text nor a list is APIM's `default` scope.
            scopes=scopes_of(scopes if isinstance(scopes, str | list) else DEFAULT_SCOPE),
            subject=str(claims.get("sub", "")),
            expires_at=float(exp) + km.clock_skew_seconds,
            jti=jti if isinstance(jti, str) else None,
            claims=claims,
        )


# JWTConstants.OAUTH2_DEFAULT_SCOPE: the scopes APIM's gateway gives a JWT without its key manager's scopes claim.
DEFAULT_SCOPE = "default"


def route(token: str) -> tuple[dict[str, Any], str | None]:
    """The token's JOSE header and its unverified issuer, to choose the key manager."""
    header = segment(token, 0)
    payload = segment(token, 1)
    iss = payload.get("iss")
    return header, iss if isinstance(iss, str) else None
