"""The backend JWT (X-JWT-Assertion): WSO2's claims about the caller, as APIM 4.5's gateway signs them
(carbon-apimgt `common/gateway/jwtgenerator/APIMgtGatewayJWTGeneratorImpl` and `AbstractAPIMgtGatewayJWTGenerator`),
and the JWKS a backend verifies it with (the gateway's `/jwks`, `gateway/handlers/common/JwksHandler`).

Signed once per token and API: the renderer keeps the prepared allow that carries it until `RENEW_BEFORE` seconds
before it expires, as the gateway caches it by API and token signature."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .config import BackendJwt, Config, ConfigError
from .tokens import application_token

if TYPE_CHECKING:
    from .catalog import Application
    from .decision import Decision
    from .tokens import Principal

DIALECT = "http://wso2.org/claims/"
RENEW_BEFORE = 60
SUPER_TENANT, SUPER_TENANT_ID = "carbon.super", "-1234"
USER_TYPE = "Application_User"  # JWTConstants.AUTH_APPLICATION_USER_LEVEL_TOKEN, whatever the token
# Claims of the consumer's JWT never copied (APIMgtGatewayJWTGeneratorImpl.populateCustomClaims' restrictedClaims).
RESTRICTED = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "application", "tierInfo", "subscribedAPIs", "aut"}
)


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class BackendJwtSigner:
    def __init__(self, config: BackendJwt, key_path: Path, published: tuple[Path, ...] = ()):
        """`published`: more keys for /jwks (`backendJwt.publishedKeyFiles`, resolved)."""
        self.config = config
        key = _read(key_path, lambda pem: serialization.load_pem_private_key(pem, password=None))
        # backendJwt.algorithm allows RS*, PS* and ES* only: any other key type cannot sign.
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: not an RSA or EC private key")
        self.key = key
        self.kid = key_id(key.public_key())
        self.header = config.header.lower()
        self.not_copied = RESTRICTED | frozenset(config.excluded_claims)
        keys = [self._public_jwk(key.public_key())]
        if "alg" not in keys[0]:  # found here, not as a failed signature on the first request
            raise ValueError(f"{key_path}: this key cannot sign {config.algorithm} (backendJwt.algorithm)")
        for path in published:
            public = public_key_in(path)
            if key_id(public) not in {k["kid"] for k in keys}:
                keys.append(self._public_jwk(public))
        self.jwks = json.dumps({"keys": keys}).encode()

    def _public_jwk(self, public: PublicKey) -> dict[str, Any]:
        """A verification key as JwksHandler publishes the gateway's: its kid, `use: sig`, and the algorithm where
        the key can sign with the configured one (a published key of another type may be for another)."""
        if isinstance(public, rsa.RSAPublicKey):
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
            fits = self.config.algorithm[:2] in ("RS", "PS")
        else:
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
            fits = self.config.algorithm == _EC_ALGORITHM.get(public.curve.name)
        return {**jwk, "kid": key_id(public), "use": "sig", **({"alg": self.config.algorithm} if fits else {})}

    def __call__(self, d: Decision, now: float) -> tuple[str, str, float] | None:
        """(header, signed assertion, when to sign a new one), or None when the decision names no caller."""
        caller = caller_claims(d)
        if caller is None:
            return None
        principal = d.principal
        assert principal is not None  # caller_claims needs one
        # The JWT's own claims first, so that the standard ones win a clash (AbstractAPIMgtGatewayJWTGenerator
        # .buildBody). An opaque token's introspection answer is not copied: APIM signs those with the key manager's
        # generator, which adds user claims only from the key manager's user store (keymgt/token/JWTGenerator).
        claims: dict[str, Any] = {} if principal.introspected else self._copied(principal.claims)
        exp = int(now) + self.config.ttl_seconds
        claims.update(caller)
        claims.update(iss=self.config.issuer, iat=int(now), exp=exp, jti=str(uuid.uuid4()))
        sub = principal.claims.get("sub")
        if isinstance(sub, str) and sub and not principal.introspected:
            claims["sub"] = sub  # the token's own subject, or none (GatewayUtils.constructJWTContent)
        token = jwt.encode(claims, self.key, algorithm=self.config.algorithm, headers={"kid": self.kid})
        return self.header, token, exp - RENEW_BEFORE

    def _copied(self, token_claims: dict[str, Any]) -> dict[str, Any]:
        copied = {}
        for name, value in token_claims.items():
            if name not in self.not_copied:
                with contextlib.suppress(ValueError):  # JSON-looking but not JSON: left out, as APIM does
                    copied[name] = _json_in_string(value)
        return copied


def signer_for(config: Config) -> BackendJwtSigner | None:
    """The configured signer, None when off; a key file that cannot be read or used is a ConfigError naming it."""
    backend = config.backend_jwt
    if not backend.enabled:
        return None
    assert backend.key_file is not None  # required when enabled
    try:
        published = tuple(config.resolve(f) for f in backend.published_key_files)
        return BackendJwtSigner(backend, config.resolve(backend.key_file), published)
    except OSError as exc:
        raise ConfigError(f"backendJwt: cannot read {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"backendJwt: {exc}") from None


def _read(path: Path, load: Callable[[bytes], Any]) -> Any:
    """A PEM file loaded, or a ValueError naming the file and what cryptography found wrong (never the content)."""
    pem = path.read_bytes()
    try:
        return load(pem)
    except (ValueError, TypeError) as exc:  # TypeError: an encrypted private key, which needs a password
        reason = str(exc).split(". ", 1)[0].split(": ", 1)[0]
        raise ValueError(f"{path}: not a usable PEM key or certificate ({reason})") from None


_EC_ALGORITHM = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def key_id(public: PublicKey) -> str:
    """The `kid`: the first 32 hex digits of the SHA-256 of the public key, so a key keeps its kid from being
    published to signing."""
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()[:32]


def public_key_in(path: Path) -> PublicKey:
    """The RSA or EC public key of a PEM public key, certificate or private key."""

    def load(pem: bytes) -> Any:
        if b"CERTIFICATE-----" in pem:
            return x509.load_pem_x509_certificate(pem).public_key()
        if b"PRIVATE KEY-----" in pem:
            return serialization.load_pem_private_key(pem, password=None).public_key()
        return serialization.load_pem_public_key(pem)

    public = _read(path, load)
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError(f"{path}: not an RSA or EC key")
    return public


def _json_in_string(value: Any) -> Any:
    """A string claim that looks like a JSON object or list, as one; ValueError for one that looks so but is not
    (AbstractAPIMgtGatewayJWTGenerator.buildBody: `{…}` read as a map, `…["…"]…` as a list, else left out)."""
    if not isinstance(value, str):
        return value
    if not ((value.startswith("{") and value.endswith("}")) or ('["' in value and '"]' in value)):
        return value
    read = json.loads(value)  # json.JSONDecodeError is a ValueError
    if not isinstance(read, dict | list):
        raise ValueError("not a JSON object or list")
    return read


def end_user(principal: Principal, app: Application) -> str:
    """Who APIM's backend JWT names as the end user."""
    tenant = app.organization or SUPER_TENANT
    if principal.api_key is not None:  # its `sub` has the tenant already (DefaultApiKeyGenerator.buildBody)
        return principal.subject
    if principal.user_roles is not None:  # BasicAuthAuthenticator: the name APIM's user store answered, with its tenant
        return principal.subject
    if principal.introspected:  # APIUtil.getUserNameWithTenantSuffix: a name without a tenant is the super tenant's
        return principal.subject if "@" in principal.subject else principal.subject + "@" + SUPER_TENANT
    # GatewayUtils.getEndUserFromJWTValidationInfo: an application token (`aut: APPLICATION`, DefaultJWTTransformer)
    # names the application's owner; the name gets its subscriber's tenant, but for an application token of
    # another tenant than the super tenant, whose owner's name carries it already.
    if application_token(principal):
        return app.owner if tenant != SUPER_TENANT else app.owner + "@" + tenant
    return principal.subject + "@" + tenant


def caller_claims(d: Decision) -> dict[str, str] | None:
    """What the backend JWT says of the caller, in WSO2's claim dialect (APIMgtGatewayJWTGeneratorImpl
    .populateStandardClaims); None when the decision names no caller. Also what an advanced policy's JWT-claim
    conditions read beside the token's own claims (conditions.py), as APIM's read its backend JWT."""
    api, app, key, principal = d.api, d.application, d.key_mapping, d.principal
    if api is None or app is None or key is None or principal is None:
        return None
    claims = {
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
        DIALECT + "usertype": USER_TYPE,
        DIALECT + "enduser": end_user(principal, app),
    }
    if (app.organization or SUPER_TENANT) == SUPER_TENANT:  # other tenants' ids live in APIM's tenant store only
        claims[DIALECT + "enduserTenantId"] = SUPER_TENANT_ID
    return claims
