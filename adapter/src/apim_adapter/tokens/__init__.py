"""Token validation: JWTs against JWKS, opaque tokens by introspection, both cached by SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, Any

from ..cache import Shared
from ..errors import ErrorCode

if TYPE_CHECKING:
    from ..catalog import ClientCertificate
    from ..java_regex import JavaPattern


@dataclass(frozen=True)
class ApiKeyTerms:
    """What an APIM API key binds its bearer to (`DefaultApiKeyGenerator.buildBody`): an application and key type,
    and the client addresses and referers it may be used from (empty: any)."""

    application_id: int
    key_type: str
    permitted_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    permitted_referers: tuple[JavaPattern | None, ...] = ()  # None: a pattern no call passes (api_key._referers)


@dataclass(frozen=True)
class Principal:
    """What a validated token says about its bearer."""

    key_manager: str
    consumer_key: str
    scopes: frozenset[str]
    subject: str
    expires_at: float
    jti: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    introspected: bool = False  # an opaque token: `claims` is the key manager's introspection answer, not a JWT's
    api_key: ApiKeyTerms | None = None  # an APIM API key, not an OAuth2 token
    certificate: ClientCertificate | None = None  # a client certificate uploaded to the API, not a token
    user_roles: frozenset[str] | None = None  # a user name and password APIM's user store accepted: the user's roles


def application_token(principal: Principal) -> bool:
    """Whether the token is an application's (client credentials), not a user's: its `aut` claim, a JWT's or
    introspection's, is APPLICATION in any case (DefaultJWTTransformer.getTransformedIsAppTokenType,
    AMDefaultKeyManagerImpl.getTokenMetaData: equalsIgnoreCase)."""
    aut = principal.claims.get("aut")
    return isinstance(aut, str) and aut.casefold() == "application"


@dataclass(frozen=True)
class Rejection:
    """Why a token is not acceptable, as a plain value: what the caches keep (never an exception, whose traceback
    would hold the token and the validator's frames alive)."""

    error: ErrorCode
    reason: str
    # Refused by the key manager's validation (an opaque token): OAuthAuthenticator words it for the API called
    # ("Access failure for API: ...", errors.access_failure).
    access_failure: bool = False


class TokenRejected(Exception):
    """The token is not acceptable; `error` is the WSO2 error to answer with.

    `cacheable` marks a rejection that cost real work (a signature checked, a key manager asked): worth
    remembering for a few seconds. Cheap ones (malformed, unknown issuer) are not cached, so that garbage
    tokens cannot crowd the negative cache.
    """

    def __init__(self, error: ErrorCode, reason: str, cacheable: bool = False, access_failure: bool = False):
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.cacheable = cacheable
        self.access_failure = access_failure

    @property
    def rejection(self) -> Rejection:
        """The rejection as the negative cache keeps it: one shared value per (error, reason), so that a flood of
        forged tokens fills the cache with references, not with objects for the garbage collector to walk."""
        return SHARED_REJECTIONS(Rejection(self.error, self.reason, self.access_failure))


SHARED_REJECTIONS: Shared[Rejection] = Shared(256)  # reasons are the validators' fixed texts: a few dozen
SHARED_SCOPE_SETS: Shared[frozenset[str]] = Shared(4096)  # key managers grant a few sets


def fingerprint(token: str) -> str:
    """The only form in which a token may be logged or used as a cache key."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def scopes_of(value: Any) -> frozenset[str]:
    """A validated token's scopes, as a set shared with every other token granted the same ones: each principal
    the caches keep then holds a reference, not a set of its own for the garbage collector to walk."""
    if isinstance(value, str):
        scopes = frozenset(value.split())
    elif isinstance(value, list):
        scopes = frozenset(v for v in value if isinstance(v, str))
    else:
        scopes = frozenset()
    return SHARED_SCOPE_SETS(scopes)
