"""APIM 4.5's API keys, checked as its gateway checks them.

An API key is a JWT APIM signs with its API key signing key (carbon-apimgt `impl/token/DefaultApiKeyGenerator`):
header `typ: JWT`, `alg` RS256, `kid` the signing certificate's alias; claims `sub`, `jti`, `iss`, `iat`, `exp`
(absent for a key that never expires), `application` ({id, uuid, ...}), `keytype`, `token_type: apiKey`, and
optionally `permittedIP` and `permittedReferer`. The gateway (`gateway/handlers/security/apikey/ApiKeyAuthenticator`,
`gateway/utils/ApiKeyAuthenticatorUtils`, `GatewayUtils.isAPIKey` / `verifyTokenSignature`) accepts it when:
- it is three segments, `typ` is JWT, it has a `kid`, and it is an API key (`token_type: apiKey`, or without
  `token_type` an `application` claim and no `consumerKey`; an internal key is not one);
- the certificate its `kid` names verifies it with RS256, RS384 or RS512 (no other algorithm);
- it has not expired (with the clock skew);
- the client's address is in `permittedIP` (comma-separated addresses and CIDR ranges) and the `Referer` matches
  `permittedReferer` (comma-separated Java regular expressions, `*` for any run of non-spaces), where set:
  `restricted` below, per request.
The application it names is then looked up by its numeric id and must be subscribed (`decision.admit`); resource
scopes are not checked for it (the authenticator marks the resource as needing no authentication of its own).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from .. import errors, java_regex
from ..config import Config, ConfigError
from . import ApiKeyTerms, Principal, TokenRejected
from .jwt import segment, too_deep

ALGORITHMS = ("RS256", "RS384", "RS512")  # GatewayUtils.verifyTokenSignature: RSA only
API_KEY_TOKEN_TYPE = "apiKey"  # noqa: S105 - a token type, not a secret; APIConstants.JwtTokenConstants.API_KEY_TOKEN_TYPE
PRODUCTION = "PRODUCTION"

# ApiKeyAuthenticatorUtils.validateAPIKeyRestrictions: API_AUTH_FORBIDDEN (900908) with its own text.
RESTRICTED = errors.ErrorCode(
    errors.FORBIDDEN.code, errors.FORBIDDEN.status, errors.FORBIDDEN.message, "Access forbidden for the invocations",
    errors.FORBIDDEN.fault_category, errors.FORBIDDEN.fault_subcategory,
)  # fmt: skip


def public_key(pem: bytes, where: str) -> RSAPublicKey:
    """The RSA public key of a PEM certificate or public key; a ValueError naming `where` (never the content)."""
    try:
        key = x509.load_pem_x509_certificate(pem).public_key() if b"CERTIFICATE" in pem else load_pem_public_key(pem)
    except ValueError as exc:
        reason = str(exc).split(". ", 1)[0].split(": ", 1)[0]
        raise ValueError(f"{where}: not a PEM certificate or public key ({reason})") from None
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"{where}: not an RSA key (APIM signs API keys with RSA)")
    return key


def validator_for(config: Config) -> ApiKeyValidator | None:
    """The configured validator, None when API keys are off; a certificate file that cannot be read or used is a
    ConfigError naming it, at start."""
    api_keys = config.api_keys
    if not api_keys.enabled:
        return None
    keys = {}
    for cert in api_keys.certificates:
        path = config.resolve(cert.file)
        try:
            keys[cert.alias] = public_key(path.read_bytes(), str(path))
        except OSError as exc:
            raise ConfigError(f"apiKeys.certificates: cannot read {exc.filename}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"apiKeys.certificates: {exc}") from None
    return ApiKeyValidator(keys, api_keys.clock_skew_seconds)


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`permittedIP`: addresses and CIDR ranges, comma-separated (APIUtil.isIpInNetwork)."""
    if not isinstance(value, str) or not value.strip():
        return ()
    out = []
    for part in value.split(","):
        try:
            out.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise TokenRejected(errors.INVALID, "permittedIP is not a list of addresses") from None
    return tuple(out)


# What one key's referer patterns may take written out for Python's engine (java_regex: a class by name is some
# 10 KB, `\b` some 40): the key's validation is cached with them, and a subscriber writes them.
REFERERS_BUDGET = 64 << 10


def _referers(value: Any) -> tuple[java_regex.JavaPattern | None, ...]:
    """`permittedReferer`: comma-separated patterns, each matched as Java matches it against the whole Referer
    (`referer.matches(restrictedReferer.trim().replace("*", "[^ ]*"))`: a Java regular expression, where `*` is any
    run of non-spaces and `.` any character). None for a pattern Java refuses (its PatternSyntaxException fails the
    call on APIM's gateway, once the patterns before it have not matched), one the adapter cannot match as Java does,
    and those past REFERERS_BUDGET."""
    if not isinstance(value, str) or not value.strip(java_regex.JAVA_TRIM):
        return ()
    patterns: list[java_regex.JavaPattern | None] = []
    left = REFERERS_BUDGET
    for part in value.split(","):
        try:
            pattern = java_regex.read(part.strip(java_regex.JAVA_TRIM).replace("*", "[^ ]*"), limit=left)
        except (java_regex.PatternError, java_regex.Untranslatable):
            patterns.append(None)
            left = 0
            continue
        patterns.append(pattern)
        left -= len(pattern.regex.pattern)
    return tuple(patterns)


def referers_size(terms: ApiKeyTerms) -> int:
    """Roughly what a key's compiled referer patterns hold in memory, for the token cache's byte bound."""
    return sum(2 * len(p.regex.pattern) for p in terms.permitted_referers if p is not None)


class ApiKeyValidator:
    def __init__(self, certificates: Mapping[str, RSAPublicKey], clock_skew_seconds: int = 30):
        self.certificates, self.clock_skew = dict(certificates), clock_skew_seconds

    def validate(self, token: str, now: float) -> Principal:
        """The key's principal; TokenRejected when it is not a valid API key. CPU only."""
        header, claims = segment(token, 0), segment(token, 1)
        if header.get("typ") != "JWT" or not _is_api_key(claims):
            raise TokenRejected(errors.INVALID, "not an API key")
        alias, alg = header.get("kid"), header.get("alg")
        if not isinstance(alias, str) or not alias:
            raise TokenRejected(errors.INVALID, "API key without kid")
        if alg not in ALGORITHMS:
            raise TokenRejected(errors.INVALID, f"algorithm {alg!r} not allowed")
        key = self.certificates.get(alias)
        if key is None:
            raise TokenRejected(errors.INVALID, "unknown API key signing certificate")  # cheap: never cached
        try:
            # `exp` is checked below against `now`, the check's one clock (PyJWT would read its own).
            claims = jwt.decode(
                token, key, algorithms=[alg], leeway=self.clock_skew,
                options={"verify_aud": False, "verify_iat": False, "verify_exp": False, "require": ["jti"]},
            )  # fmt: skip
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            raise TokenRejected(errors.INVALID, type(exc).__name__, cacheable=True) from None
        if too_deep(claims):
            raise TokenRejected(errors.INVALID, "claims nested too deeply")
        exp = claims.get("exp")
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
            raise TokenRejected(errors.INVALID, "exp is not a number", cacheable=True)
        expires_at = float(exp) + self.clock_skew if exp is not None else float("inf")
        if expires_at <= now:  # ApiKeyAuthenticatorUtils.checkTokenExpired: 900901, as any invalid key
            raise TokenRejected(errors.INVALID, "expired API key", cacheable=True)
        application = claims.get("application")
        app_id = application.get("id") if isinstance(application, dict) else None
        if isinstance(app_id, bool) or not isinstance(app_id, int) or app_id <= 0:
            # GatewayUtils.validateAPISubscription: application id 0 or none is an internal key, not one of ours
            raise TokenRejected(errors.RESOURCE_FORBIDDEN, "API key names no application", cacheable=True)
        key_type = claims.get("keytype")
        terms = ApiKeyTerms(
            application_id=app_id,
            key_type=key_type.upper() if isinstance(key_type, str) and key_type else PRODUCTION,
            permitted_networks=_networks(claims.get("permittedIP")),
            permitted_referers=_referers(claims.get("permittedReferer")),
        )
        return Principal(
            key_manager="",
            consumer_key="",
            scopes=frozenset(),
            subject=str(claims.get("sub", "")),
            expires_at=expires_at,
            jti=str(claims["jti"]),
            claims=claims,
            api_key=terms,
        )


def _is_api_key(claims: Mapping[str, Any]) -> bool:
    """GatewayUtils.isAPIKey."""
    token_type = claims.get("token_type")
    if token_type is not None:
        return token_type == API_KEY_TOKEN_TYPE
    return claims.get("application") is not None and claims.get("consumerKey") is None


def restricted(terms: ApiKeyTerms, client_ip: str, referer: str | None) -> bool:
    """Whether a request falls outside the key's permitted addresses or referers
    (ApiKeyAuthenticatorUtils.validateAPIKeyRestrictions: with `permittedIP`, an address in it admits the request
    whatever its referer, one outside refuses it; without a known client address the referers decide; with
    `permittedReferer`, a request without a Referer is refused)."""
    if terms.permitted_networks and client_ip:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return True
        return not any(address in network for network in terms.permitted_networks)
    if terms.permitted_referers:
        if not referer:
            return True
        for pattern in terms.permitted_referers:  # in order: a pattern Java refuses fails the call where it is reached
            if pattern is None:
                return True
            if pattern.matches(referer):
                return False
        return True
    return False
