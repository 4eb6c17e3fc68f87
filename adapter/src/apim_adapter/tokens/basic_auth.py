"""HTTP Basic credentials, checked as APIM 4.5's gateway checks them (carbon-apimgt gateway `BasicAuthAuthenticator`,
`BasicAuthCredentialValidator`): the `Basic` segment of the Authorization header, its user name made
tenant-qualified, the pair asked of APIM's user store (`APIKeyMgtRemoteUserStoreMgtService.getUserAuthenticationInfo`,
`controlplane/user_store.py`), the answer — the user's domain-qualified name and roles — remembered for a while.

APIM's gateway caches each user by name with a SHA-256 of the password. Here an entry is found by an HMAC of the whole
credential under a key made at start and never stored: a memory dump or a log gives nobody a hash to try passwords
against offline. Accepted pairs are kept `cacheSeconds` (APIM's gateway token cache, 15 minutes by default), refused
ones 10 seconds (a password just changed is not refused for long); both caches are bounded in entries and bytes, so
that a flood of made-up pairs can neither grow memory nor push out real users. Concurrent checks of one pair share
one call to APIM.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from .. import errors, java_strings, metrics
from ..cache import TtlCache
from ..singleflight import SingleFlight
from . import Principal, Rejection

SCHEME = "Basic"  # BasicAuthAuthenticator.basicAuthKeyHeaderSegment: compared case-sensitively
CHALLENGE = 'Basic realm="WSO2 API Manager"'  # BasicAuthAuthenticator.getChallengeString
SUPER_TENANT = "carbon.super"
REFUSED_SECONDS = 10.0
ISSUER = "APIM user store"  # the key manager a basic-authentication caller's "key mapping" names

MALFORMED = Rejection(errors.INVALID, "not a user name and password")  # extractBasicAuthCredentials: no colon
REFUSED = Rejection(errors.INVALID, "user name or password refused")
OTHER_TENANT = Rejection(errors.RESOURCE_FORBIDDEN, "user of another tenant")  # authenticate: tenant domain mismatch

_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


class UserStoreUnavailable(Exception):
    """APIM's user store could not answer (the check is an error, never a refusal)."""


class User(Protocol):
    @property
    def username(self) -> str: ...  # domain-qualified, as APIM answers it

    @property
    def roles(self) -> tuple[str, ...]: ...


class UserStore(Protocol):
    async def authenticate(self, username: str, password: str) -> User | None: ...

    async def close(self) -> None: ...


def credential_of(authorization: str | None) -> str | None:
    """The encoded credential of an Authorization header's `Basic` segment; None without one. APIM splits the header
    at commas and takes the segment whose first word is `Basic` (`extractBasicAuthHeader`)."""
    if not authorization or SCHEME not in authorization:
        return None
    for segment in authorization.split(","):
        segment = segment.strip()
        if segment.split(" ", 1)[0] == SCHEME:
            return segment[len(SCHEME) + 1 :].strip()
    return None


def decoded(credential: str) -> tuple[str, str] | None:
    """The user name and password of a credential; None where it holds no colon. Base64 is read as commons-codec's
    `decodeBase64` reads it, skipping what is not of its alphabet; the text as Java's `new String(bytes, UTF_8)`."""
    data = _NOT_BASE64.sub("", credential.partition("=")[0])
    try:
        text = java_strings.utf8(base64.b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return None
    user, colon, password = text.partition(":")
    return (user, password) if colon else None


def tenant_qualified(username: str, email_user_names: bool = False) -> tuple[str, str]:
    """The user name as the gateway asks APIM about it, `name@tenant`, and its tenant (BasicAuthAuthenticator
    .getEndUserName, from carbon-kernel's MultitenantUtils.getTenantAwareUsername and getTenantDomain): the tenant is
    the text after the last `@`, in lower case, or the super tenant where there is none (or nothing after it). With
    APIM's `EnableEmailUserName`, a name with one `@` is an e-mail address of the super tenant (`@carbon.super` itself
    is still read as the tenant), and only a second `@` names one."""
    before, at, after = username.rpartition("@")
    if email_user_names and "@" not in before:  # one `@` at most: the super tenant's user
        name = before if at and after.lower() == SUPER_TENANT else username
        return f"{name}@{SUPER_TENANT}", SUPER_TENANT
    if not at:
        return f"{username}@{SUPER_TENANT}", SUPER_TENANT
    tenant = after.lower() if after.strip() else SUPER_TENANT
    return f"{before}@{tenant}", tenant


def _refused_unasked(credential: str, tenant: str, email_user_names: bool) -> Rejection | None:
    """The refusal of a credential that APIM's gateway answers without asking its user store: no colon in it, or a
    user of another tenant than the API's."""
    pair = decoded(credential)
    if pair is None:
        return MALFORMED
    return OTHER_TENANT if tenant_qualified(pair[0], email_user_names)[1] != tenant else None


def _without_domain(username: str) -> str:
    """A user's name without its user store's domain: APIM's answer names a secondary store's user `DOMAIN/name`
    (APIKeyMgtRemoteUserStoreMgtService: UserCoreUtil.addDomainToName), its user store's listeners name it
    without (KeyManagerUserOperationListener)."""
    return username.rpartition("/")[2]


class BasicAuthenticator:
    def __init__(
        self,
        user_store: UserStore,
        cache_seconds: float = 900.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
        email_user_names: bool = False,
    ):
        self.user_store, self.cache_seconds, self.clock = user_store, cache_seconds, clock
        self.email_user_names = email_user_names  # APIM's EnableEmailUserName
        self._key = secrets.token_bytes(32)  # this process's: a digest means nothing outside it
        self.accepted: TtlCache[str, Principal] = TtlCache(max_entries, 16 << 20)
        self.refused: TtlCache[str, Rejection] = TtlCache(max_entries, 2 << 20)
        self._calls: SingleFlight[str, Principal | Rejection] = SingleFlight()

    def digest(self, credential: str) -> str:
        """What a credential is known by here: an HMAC under this process's key."""
        return hmac.new(self._key, credential.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def lookup(self, credential: str, digest: str, tenant: str, now: float) -> Principal | Rejection | None:
        """The answer for a credential on an API of `tenant` without I/O: kept, or a refusal APIM need not be asked
        for (no colon, another tenant); None when APIM must be asked."""
        found = self.accepted.get(digest, now) or self.refused.get(digest, now)
        metrics.count((metrics.TOKEN_CACHE, "miss" if found is None else "hit"))
        return found if found is not None else _refused_unasked(credential, tenant, self.email_user_names)

    async def verify(self, credential: str, digest: str, tenant: str) -> Principal | Rejection:
        """Ask APIM's user store about a credential of an API of `tenant`, and remember the answer.
        Raises errors.Unavailable when APIM cannot answer."""
        refused = _refused_unasked(credential, tenant, self.email_user_names)
        if refused is not None:
            return refused
        pair = decoded(credential)
        assert pair is not None  # else refused
        username = tenant_qualified(pair[0], self.email_user_names)[0]
        now = self.clock()
        found = self.accepted.get(digest, now) or self.refused.get(digest, now)  # answered since the check looked
        if found is not None:
            return found
        return await self._calls.do(digest, lambda: self._ask(username, pair[1], digest))

    async def _ask(self, username: str, password: str, digest: str) -> Principal | Rejection:
        try:
            user = await self.user_store.authenticate(username, password)
        except UserStoreUnavailable as exc:
            raise errors.Unavailable(f"APIM's user store: {exc}") from None
        now = self.clock()
        if user is None:
            self.refused.put(digest, REFUSED, now + REFUSED_SECONDS, 128)
            return REFUSED
        until = now + self.cache_seconds
        principal = Principal(ISSUER, "", frozenset(), user.username, until, user_roles=frozenset(user.roles))
        self.accepted.put(digest, principal, until, 256 + sum(len(r) + 64 for r in user.roles))
        return principal

    def forget_users(self, usernames: Iterable[str]) -> int:
        """Users whose password, roles or existence changed in APIM (its `gatewayUsernameCache` invalidation:
        `user@tenant` names): what was kept for them goes, so that their next call asks APIM again, as APIM's
        gateway drops them from its username cache (CacheInvalidationServiceImpl.invalidateCachedUsernames). The
        refusals go too: one may have been of the password just set. Returns how many admissions went."""
        names = {_without_domain(tenant_qualified(name, self.email_user_names)[0]) for name in usernames}
        self.refused.clear()
        return self.accepted.drop_where(lambda principal: _without_domain(principal.subject) in names)

    async def close(self) -> None:
        await self.user_store.close()
